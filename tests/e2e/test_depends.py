"""spec.dependsOn on the real cluster: a Pack is tested at once, waits for its dependency to be
active in range before it activates, then activates without being tested again."""

from __future__ import annotations

from typing import Any

import pytest

from e2e.helpers import cond, simple_pack, status, wait_settled
from plugins.operator import wait_for

pytestmark = pytest.mark.e2e


def test_a_dependent_pack_waits_for_its_dependency_then_activates(operator: Any, kube: Any, namespace: str):
    """tools depends on base ^1.2.0: tested and passing, it waits (Active False
    DependencyNotReady, DEPENDS-ON `waiting: base`) while base does not exist; once base 1.3.0
    passes and is active, tools activates (Activated) with `1/1 ready`, with its one execution."""
    kube.apply(
        simple_pack(namespace, "tools", "2.0.0", passed=2, failed=0, dependsOn=[{"name": "base", "version": "^1.2.0"}])
    )

    def waiting() -> dict[str, Any] | None:
        pack = kube.pack(namespace, "tools")
        held = cond(pack, "Active") == ("False", "DependencyNotReady") and status(pack).get("lastExecution")
        return pack if held else None

    held = wait_for("tools tested and held back", waiting, timeout=150)
    assert (status(held)["phase"], status(held).get("activeVersion", ""), status(held)["dependsOn"]) == (
        "Passed",
        "",
        "waiting: base",
    )
    assert cond(held, "Reconciling") == ("True", "DependencyNotReady")
    execution = status(held)["lastExecution"]["id"]

    kube.apply(simple_pack(namespace, "base", "1.3.0", passed=1, failed=0))
    assert status(wait_settled(kube, namespace, "base"))["activeVersion"] == "1.3.0"
    active = wait_settled(kube, namespace, "tools")
    assert (status(active)["activeVersion"], status(active)["dependsOn"]) == ("2.0.0", "1/1 ready")
    assert cond(active, "Active") == ("True", "TestsPassed")
    assert status(active)["lastExecution"]["id"] == execution  # activated without testing again
    reasons = [e["reason"] for e in kube.events(namespace, "tools")]
    assert "Activated" in reasons
