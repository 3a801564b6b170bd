"""Shared helpers of the delivery tests (a plain module, imported by name: conftest.py files in
directories without __init__.py share one module name): where things are, and rendering a
kustomization with the repository's own kubectl (`.local/bin/kubectl`, built by hack/build-k8s.sh).

A missing kubectl FAILS the test that needs it (with the command that builds it), never skips.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
KUBECTL = ROOT / ".local" / "bin" / "kubectl"
MANIFESTS = ROOT / "manifests"

KUSTOMIZATIONS = (
    "crds",
    "manifests/base",
    "manifests/overlays/quickstart",
    "manifests/overlays/kind",
    "manifests/overlays/external-db",
    "manifests/samples",
)


def kubectl_binary() -> Path:
    """The repository's kubectl, or a test failure that says how to get it."""
    if not KUBECTL.exists():
        pytest.fail(f"{KUBECTL} is missing: run hack/build-k8s.sh", pytrace=False)
    return KUBECTL


def render(kustomization: str) -> list[dict[str, Any]]:
    """The objects `kubectl kustomize` renders for a directory relative to the repository root."""
    proc = subprocess.run(
        [str(kubectl_binary()), "kustomize", str(ROOT / kustomization)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(f"kubectl kustomize {kustomization} failed:\n{proc.stderr}", pytrace=False)
    return [doc for doc in yaml.safe_load_all(proc.stdout) if doc]


def find(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    """The one rendered object of that kind and name."""
    matches = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind}/{name}, found {len(matches)}"
    return matches[0]
