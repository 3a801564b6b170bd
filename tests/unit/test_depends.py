"""Unit tests of packgate.reconcile.depends: a Pack's dependsOn resolved against the active
versions of the other Packs of its namespace, cycles through it, the Active condition's reason
and message, the status.dependsOn summary, and what the watch cache keeps of each Pack.
A graph property test lives in tests/unit/fuzz/test_fuzz_depends.py."""

from __future__ import annotations

from typing import Any

import pytest

from packgate.api.spec import PackDependency
from packgate.api.status import TEXT_BYTES
from packgate.reconcile.depends import (
    SUMMARY_BYTES,
    DependencyCheck,
    Hold,
    Missing,
    PackNode,
    Why,
    activation_hold,
    check_dependencies,
    dependents,
    find_cycle,
    pack_node,
)
from packgate.verdict import ActiveReason

pytestmark = pytest.mark.unit


def deps(*pairs: tuple[str, str]) -> list[PackDependency]:
    return [PackDependency(name=name, version=version) for name, version in pairs]


def test_no_dependencies_is_ready_and_shows_nothing() -> None:
    """A Pack without dependsOn is ready, with no reason, no message and no printer column text."""
    check = check_dependencies("core", [], {"core": PackNode("1.0.0")})
    assert (check.ready, check.reason, check.message, check.summary, check.total) == (True, None, "", None, 0)


def test_dependencies_active_in_range_are_ready() -> None:
    """Every dependency active in its range: ready, summary `2/2 ready`."""
    packs = {"core": PackNode("1.4.2"), "net-tools": PackNode("2.0.0", ("core",)), "app": PackNode("")}
    check = check_dependencies("app", deps(("core", "^1.2.0"), ("net-tools", ">=2.0.0 <3.0.0")), packs)
    assert check == DependencyCheck(total=2)
    assert (check.ready, check.reason, check.message, check.summary) == (True, None, "", "2/2 ready")


def test_missing_dependencies_name_what_is_missing_and_why() -> None:
    """One dependency out of range and one that does not exist: DependencyNotReady, and the
    message names each with its range and what was found."""
    packs = {"core": PackNode("1.0.0"), "app": PackNode("")}
    check = check_dependencies("app", deps(("core", ">=1.2.0 <2.0.0"), ("net-tools", "^2")), packs)
    assert check.missing == (
        Missing("core", ">=1.2.0 <2.0.0", "1.0.0", Why.OUT_OF_RANGE),
        Missing("net-tools", "^2", None, Why.NO_SUCH_PACK),
    )
    assert (check.ready, check.reason) == (False, ActiveReason.DEPENDENCY_NOT_READY)
    assert check.message == "waiting for core >=1.2.0 <2.0.0 (active: 1.0.0), net-tools ^2 (no such Pack)"
    assert check.summary == "waiting: core, net-tools"


@pytest.mark.parametrize(
    ("active", "why", "text"),
    [
        ("", Why.NOT_ACTIVE, "core ^1.2.0 (no active version)"),
        ("2024-06", Why.NOT_SEMVER, "core ^1.2.0 (active: 2024-06, not a semantic version)"),
        ("1.3.0-beta.1", Why.OUT_OF_RANGE, "core ^1.2.0 (active: 1.3.0-beta.1)"),
        ("2.0.0", Why.OUT_OF_RANGE, "core ^1.2.0 (active: 2.0.0)"),
    ],
    ids=["not active", "not semver", "prerelease", "next major"],
)
def test_each_way_a_dependency_is_not_ready(active: str, why: Why, text: str) -> None:
    """No active version, one that is not semver, a prerelease the range does not name, one
    past the range: each is missing with its own words."""
    check = check_dependencies("app", deps(("core", "^1.2.0")), {"core": PackNode(active)})
    assert [(m.why, str(m)) for m in check.missing] == [(why, text)]
    assert check.message == f"waiting for {text}"


def test_ready_dependencies_are_not_listed_among_the_missing() -> None:
    """Of three dependencies, only the one not ready is named; the summary names it alone."""
    packs = {"a": PackNode("1.0.0"), "b": PackNode("0.9.0"), "c": PackNode("3.1.0")}
    check = check_dependencies("app", deps(("a", "1.x"), ("b", "~1.0"), ("c", "*")), packs)
    assert (check.message, check.summary) == ("waiting for b ~1.0 (active: 0.9.0)", "waiting: b")


def test_a_self_dependency_is_a_cycle() -> None:
    """A Pack naming itself is on the cycle a → a (the CRD refuses this; the check does too)."""
    check = check_dependencies("a", deps(("a", "*")), {"a": PackNode("1.0.0")})
    assert (check.cycle, check.reason) == (("a", "a"), ActiveReason.DEPENDENCY_CYCLE)
    assert (check.message, check.summary) == ("dependency cycle: a → a", "cycle: a → a")


def test_each_pack_on_a_cycle_names_it_from_itself() -> None:
    """a → b → a: both are refused with DependencyCycle, each message starting from the Pack,
    even though both dependencies are active in range."""
    packs = {"a": PackNode("1.0.0", ("b",)), "b": PackNode("1.0.0", ("a",))}
    for name, other, message in (("a", "b", "dependency cycle: a → b → a"), ("b", "a", "dependency cycle: b → a → b")):
        check = check_dependencies(name, deps((other, "^1")), packs)
        assert (check.missing, check.reason, check.message) == ((), ActiveReason.DEPENDENCY_CYCLE, message)


def test_the_shortest_cycle_is_named() -> None:
    """a → b → c → a and a → c → a: the message shows the shorter one."""
    packs = {"b": PackNode("1.0.0", ("c",)), "c": PackNode("1.0.0", ("a",))}
    assert find_cycle("a", ("b", "c"), packs) == ("a", "c", "a")
    assert find_cycle("a", ("b",), packs) == ("a", "b", "c", "a")


def test_depending_on_a_cycle_is_waiting_not_a_cycle() -> None:
    """x depends on a, which is on a → b → a: x is not on a cycle; it waits for a."""
    packs = {"a": PackNode("", ("b",)), "b": PackNode("", ("a",))}
    check = check_dependencies("x", deps(("a", "^1")), packs)
    assert (check.cycle, check.reason, check.summary) == ((), ActiveReason.DEPENDENCY_NOT_READY, "waiting: a")


def test_the_packs_own_cached_entry_is_ignored() -> None:
    """The cache may hold this Pack's previous dependsOn; the spec being reconciled counts."""
    packs = {"a": PackNode("1.0.0", ("b",)), "b": PackNode("1.0.0", ("a",))}
    assert check_dependencies("a", [], packs).ready is True
    assert find_cycle("a", (), packs) == ()


def test_long_lists_stay_within_their_limits_and_count_the_rest() -> None:
    """32 missing dependencies with long names and ranges: the message fits TEXT_BYTES, the
    summary SUMMARY_BYTES, and each says how many it left out."""
    names = [f"dependency-with-a-rather-long-name-number-{i:02d}" for i in range(32)]
    check = check_dependencies("app", deps(*((n, ">=1.2.3-alpha.1 <2.0.0 || >=3.0.0 <4.0.0") for n in names)), {})
    assert len(check.missing) == 32
    assert len(check.message.encode()) <= TEXT_BYTES
    assert check.message.startswith(f"waiting for {names[0]} >=1.2.3-alpha.1 <2.0.0 || >=3.0.0 <4.0.0 (no such Pack), ")
    shown = check.message.count("(no such Pack)")
    assert check.message.endswith(f" and {32 - shown} more")
    summary = check.summary or ""
    assert len(summary.encode()) <= SUMMARY_BYTES
    assert summary == f"waiting: {names[0]}, {names[1]} and 30 more"


def test_a_single_huge_entry_is_clipped_not_dropped() -> None:
    """One dependency whose text alone exceeds the limit is clipped, keeping its start."""
    name = "n" * 253
    check = check_dependencies("app", deps((name, "^1.0.0 " + ">=1.0.0 " * 30)), {})
    assert len(check.message.encode()) <= TEXT_BYTES and check.message.startswith(f"waiting for {name}")
    assert len((check.summary or "").encode()) <= SUMMARY_BYTES and (check.summary or "").startswith("waiting: nnn")


def test_dependents_are_the_packs_naming_it() -> None:
    """dependents() lists, sorted, the other Packs whose dependsOn names the Pack."""
    packs = {
        "core": PackNode("1.0.0"),
        "web": PackNode("1.0.0", ("net", "core")),
        "app": PackNode("", ("core",)),
        "net": PackNode("1.0.0"),
    }
    assert (dependents("core", packs), dependents("net", packs), dependents("app", packs)) == (
        ["app", "web"],
        ["web"],
        [],
    )


@pytest.mark.parametrize(
    ("body", "node"),
    [
        (
            {
                "metadata": {"name": "web"},
                "spec": {"version": "1.1.0", "dependsOn": [{"name": "core", "version": "^1"}, {"name": "net"}]},
                "status": {"activeVersion": "1.0.0"},
            },
            PackNode("1.0.0", ("core", "net")),
        ),
        ({"spec": {"version": "1.0.0"}}, PackNode("", ())),
        ({}, PackNode("", ())),
        ({"spec": "junk", "status": ["junk"]}, PackNode("", ())),
        ({"spec": {"dependsOn": "core"}, "status": {"activeVersion": 7}}, PackNode("", ())),
        ({"spec": {"dependsOn": [None, "core", {"name": 3}, {"name": "ok"}]}}, PackNode("", ("ok",))),
    ],
    ids=["pack", "no dependsOn", "empty", "junk", "wrong types", "junk entries"],
)
def test_pack_node_reads_what_it_can_and_never_raises(body: dict[str, Any], node: PackNode) -> None:
    """pack_node takes a raw Pack as a watch delivers it: the active version and the dependency
    names, skipping whatever does not read."""
    assert pack_node(body) == node


def test_activation_waits_for_dependencies_and_a_cycle_stalls() -> None:
    """A version not yet active is held back while a dependency is missing (Reconciling: it
    resolves itself) or the Pack is on a cycle (Stalled: a spec must change); ready
    dependencies hold nothing back."""
    waiting = check_dependencies("app", deps(("core", "^2")), {"core": PackNode("1.0.0")})
    cycle = check_dependencies("a", deps(("b", "*")), {"b": PackNode("1.0.0", ("a",))})
    ready = check_dependencies("app", deps(("core", "^1")), {"core": PackNode("1.0.0")})
    assert activation_hold(waiting, version="1.1.0", active_version="1.0.0") == Hold(
        ActiveReason.DEPENDENCY_NOT_READY, "waiting for core ^2 (active: 1.0.0)", stalled=False
    )
    assert activation_hold(cycle, version="1.0.0", active_version="") == Hold(
        ActiveReason.DEPENDENCY_CYCLE, "dependency cycle: a → b → a", stalled=True
    )
    assert activation_hold(ready, version="1.1.0", active_version="1.0.0") is None


def test_an_active_version_is_not_deactivated_by_a_dependency() -> None:
    """When spec.version is already the active version, a dependency leaving its range holds
    nothing back (the summary still says what no longer matches)."""
    check = check_dependencies("app", deps(("core", "^1")), {"core": PackNode("2.0.0")})
    assert activation_hold(check, version="1.0.0", active_version="1.0.0") is None
    assert check.summary == "waiting: core"
