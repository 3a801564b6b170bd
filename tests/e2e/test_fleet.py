"""Fleet scale: many Packs applied at once (as Argo CD syncs a repository of packs) all reach a
verdict, under the concurrency limits, with exactly one Job per runner and one row per execution."""

from __future__ import annotations

import time
from typing import Any

import pytest

from e2e.helpers import audit, fleet_yaml, settled_names
from plugins.operator import wait_for

pytestmark = pytest.mark.e2e


def test_fifty_packs_applied_at_once_reach_verdicts_without_duplicates(operator: Any, kube: Any, namespace: str):
    """50 Packs with two runners each, applied in one `kubectl apply`: every one gets its verdict
    (Passed), no runner has a second Job, and PostgreSQL has exactly one row per Pack."""
    names = [f"f{i:02d}" for i in range(50)]
    started = time.monotonic()
    kube.apply(fleet_yaml(namespace, names))
    wait_for("50 verdicts", lambda: settled_names(kube, namespace) >= set(names), timeout=600, interval=2)
    seconds = time.monotonic() - started
    wait_for(
        "50 execution rows",
        lambda: audit(kube, operator.dsn, namespace, names)["missing_rows"] == 0,
        timeout=120,
        interval=2,
    )
    figures = audit(kube, operator.dsn, namespace, names)
    print(f"\nfleet: {figures}, seconds={seconds:.0f}")
    assert figures == {
        "packs": 50,
        "verdicts": 50,
        "lost": 0,
        "duplicate_jobs": 0,
        "missing_rows": 0,
        "duplicate_rows": 0,
    }
    phases = {p["status"]["phase"] for p in kube.json("get", "packs", "-n", namespace)["items"]}
    assert phases == {"Passed"}
