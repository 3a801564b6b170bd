"""The lean diff base builds exactly the essence kopf's own builds, without copying what it drops."""

from __future__ import annotations

import json
from pathlib import Path

import kopf
import pytest

from packgate.api.spec import GROUP
from packgate.handlers import LeanDiffBaseStorage

pytestmark = pytest.mark.unit

KUBE = Path(__file__).resolve().parents[1] / "fixtures" / "kube"


@pytest.mark.parametrize("name", ["pack.json", "job.json", "pod.json"])
def test_the_essence_is_kopfs_own(name: str) -> None:
    """Real objects as the API server returned them (status, managedFields, kubectl's and kopf's
    annotations): the lean build and kopf's give equal essences."""
    body = kopf.Body(json.loads((KUBE / name).read_text()))
    assert body["metadata"]["managedFields"] and body["status"]
    lean = LeanDiffBaseStorage(prefix=GROUP).build(body=body)
    assert lean == kopf.AnnotationsDiffBaseStorage(prefix=GROUP).build(body=body)
    assert "status" not in lean and "managedFields" not in lean.get("metadata", {})


def test_extra_fields_take_kopfs_own_path() -> None:
    """A handler asking for extra fields (a status field) gets them, as from kopf's build."""
    body = kopf.Body(json.loads((KUBE / "pack.json").read_text()))
    fields = [("status", "phase")]
    lean = LeanDiffBaseStorage(prefix=GROUP).build(body=body, extra_fields=fields)
    assert lean == kopf.AnnotationsDiffBaseStorage(prefix=GROUP).build(body=body, extra_fields=fields)
    assert lean["status"] == {"phase": body["status"]["phase"]}
