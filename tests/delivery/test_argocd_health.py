"""The Argo CD health check (manifests/argocd/pack-health.lua), run for real in Lua 5.1 — the
language of gopher-lua, which Argo CD embeds — on Pack objects shaped as Argo CD passes them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import lupa.lua51
import pytest
import yaml
from deliverylib import ROOT

pytestmark = pytest.mark.unit

SCRIPT = (ROOT / "manifests" / "argocd" / "pack-health.lua").read_text()
FIXTURES = sorted((Path(__file__).parent / "fixtures" / "argocd").glob("*.yaml"))


def run_health_check(obj: dict[str, Any]) -> dict[str, Any]:
    """Run the script as Argo CD does: the live object as the global `obj`, no io/os/require."""
    lua = lupa.lua51.LuaRuntime(unpack_returned_tuples=False)
    assert lua.lua_version == (5, 1)
    for name in ("io", "os", "require", "package", "dofile", "loadfile", "debug"):
        lua.execute(f"{name} = nil")
    # Argo CD hands the script the object decoded from the API server's JSON: objects and arrays
    # become tables (arrays 1-based), numbers become Lua numbers, absent fields are nil.
    lua.globals().obj = lua.table_from(json.loads(json.dumps(obj)), recursive=True)
    result = lua.execute(SCRIPT)
    return {str(k): v for k, v in result.items()}


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda p: p.stem)
def test_health_of_fixture(fixture: Path) -> None:
    """Each fixture's Pack gets the status and message its file expects."""
    case = yaml.safe_load(fixture.read_text())
    assert run_health_check(case["object"]) == case["expected"]


def test_fixtures_cover_every_health_status() -> None:
    """The fixtures exercise Healthy, Progressing and Degraded, and their names say which."""
    statuses = {}
    for fixture in FIXTURES:
        status = yaml.safe_load(fixture.read_text())["expected"]["status"]
        statuses.setdefault(status, []).append(fixture.stem)
        assert fixture.stem.startswith(status.lower() + "-")
    assert sorted(statuses) == ["Degraded", "Healthy", "Progressing"]


def test_generation_lag_wins_over_an_old_healthy_verdict() -> None:
    """A Pack that was Healthy turns Progressing as soon as its generation moves past observedGeneration."""
    case = yaml.safe_load((Path(__file__).parent / "fixtures" / "argocd" / "healthy-tests-passed.yaml").read_text())
    obj = case["object"]
    assert run_health_check(obj)["status"] == "Healthy"
    obj["metadata"]["generation"] = obj["status"]["observedGeneration"] + 1
    assert run_health_check(obj) == {
        "status": "Progressing",
        "message": "Waiting for Packgate to observe generation 3 (status is for generation 2)",
    }


def test_stalled_without_active_condition_is_degraded() -> None:
    """Stalled=True alone (kstatus) is enough for Degraded, with the condition's reason and message."""
    obj = {
        "metadata": {"generation": 1},
        "spec": {"version": "1.0.0"},
        "status": {
            "observedGeneration": 1,
            "phase": "Failed",
            "conditions": [{"type": "Stalled", "status": "True", "reason": "ValidationFailed", "message": "x"}],
        },
    }
    assert run_health_check(obj) == {"status": "Degraded", "message": "Activation blocked: ValidationFailed: x"}
