"""Pack-to-pack dependencies (spec.dependsOn): may this Pack be activated, as far as the other
Packs of its namespace go?

Owns: resolving a Pack's dependencies against the other Packs' `status.activeVersion` (semver
ranges, `packgate.reconcile.semver`), finding a dependency cycle through the Pack in the
namespace's graph, and rendering the result: the Active condition's reason and one-line message
(`DependencyNotReady`, `DependencyCycle`) and the short text of `status.dependsOn` (the
DEPENDS-ON printer column), and whether that holds back activating spec.version
(`activation_hold`).  Also what the operator's cache keeps of each Pack (`PackNode`,
read from a raw Pack by `pack_node`, which never raises) and who depends on a Pack
(`dependents`), so a change of its active version re-validates them.

Pure: typed values in, typed values out.  Must not: do I/O, list Packs (the caller passes what
its watch cache holds) or decide anything beyond dependencies: tests, verdicts and activeVersion
belong to the planner.  A Pack is tested whatever the state of its dependencies; only its
activation waits.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple

from packgate.api.spec import PackDependency
from packgate.api.status import TEXT_BYTES, clip
from packgate.reconcile.semver import parse_range, satisfies, version_or_none
from packgate.verdict import ActiveReason

SUMMARY_BYTES = 128
"""Longest status.dependsOn (a printer column: short, the message has the detail)."""
ARROW = " → "


class PackNode(NamedTuple):
    """What dependency resolution needs of one Pack of the namespace: its active version ("" when
    none) and the names of the Packs it depends on."""

    active_version: str
    depends_on: tuple[str, ...] = ()


def pack_node(body: Mapping[str, Any]) -> PackNode:
    """The PackNode of a raw Pack object (as a watch delivers it).  Never raises: a Pack whose
    spec or status does not read counts as one with no active version and no dependencies."""
    spec = body.get("spec") if isinstance(body, Mapping) else None
    status = body.get("status") if isinstance(body, Mapping) else None
    active = status.get("activeVersion") if isinstance(status, Mapping) else None
    entries = spec.get("dependsOn") if isinstance(spec, Mapping) else None
    names = tuple(
        entry["name"]
        for entry in (entries if isinstance(entries, list) else [])
        if isinstance(entry, Mapping) and isinstance(entry.get("name"), str)
    )
    return PackNode(active if isinstance(active, str) else "", names)


class Why(StrEnum):
    """Why a dependency is not ready."""

    NO_SUCH_PACK = "no such Pack"
    NOT_ACTIVE = "no active version"
    OUT_OF_RANGE = "out of range"
    NOT_SEMVER = "not a semantic version"


@dataclass(frozen=True)
class Missing:
    """A dependency that is not ready: the Pack's name, the range asked for, its active version
    (None when there is no such Pack or it has none) and why."""

    name: str
    range: str
    active: str | None
    why: Why

    def __str__(self) -> str:
        """`core >=1.2.0 <2.0.0 (active: 1.0.0)`, `net-tools ^2 (no such Pack)`."""
        if self.why is Why.OUT_OF_RANGE:
            detail = f"active: {self.active}"
        elif self.why is Why.NOT_SEMVER:
            detail = f"active: {self.active}, {self.why}"
        else:
            detail = str(self.why)
        return f"{self.name} {self.range.strip()} ({detail})"


@dataclass(frozen=True)
class DependencyCheck:
    """The state of a Pack's dependencies.  Ready when no dependency is missing and the Pack is
    on no cycle; `cycle` is the cycle through it (`a, b, a`), empty when there is none."""

    total: int
    missing: tuple[Missing, ...] = ()
    cycle: tuple[str, ...] = ()

    @property
    def ready(self) -> bool:
        return not self.missing and not self.cycle

    @property
    def reason(self) -> ActiveReason | None:
        """The Active condition's reason while activation waits; None when ready."""
        if self.cycle:
            return ActiveReason.DEPENDENCY_CYCLE
        if self.missing:
            return ActiveReason.DEPENDENCY_NOT_READY
        return None

    @property
    def message(self) -> str:
        """One line for the Active condition: `dependency cycle: a → b → a`, or `waiting for core
        >=1.2.0 <2.0.0 (active: 1.0.0), net-tools ^2 (no such Pack)`, within TEXT_BYTES (the
        dependencies that do not fit are counted); "" when ready."""
        if self.cycle:
            return clip(f"dependency cycle: {ARROW.join(self.cycle)}", TEXT_BYTES)
        if not self.missing:
            return ""
        return _listed("waiting for ", [str(m) for m in self.missing], TEXT_BYTES)

    @property
    def summary(self) -> str | None:
        """status.dependsOn: `2/2 ready`, `waiting: core, net-tools` or `cycle: a → b → a`,
        within SUMMARY_BYTES; None when the Pack has no dependencies."""
        if self.total == 0:
            return None
        if self.cycle:
            return clip(f"cycle: {ARROW.join(self.cycle)}", SUMMARY_BYTES)
        if self.missing:
            return _listed("waiting: ", [m.name for m in self.missing], SUMMARY_BYTES)
        return f"{self.total}/{self.total} ready"


@dataclass(frozen=True)
class Hold:
    """Activation of spec.version held back by its dependencies: the Active condition is False
    with `reason` and `message`; `stalled` (a cycle: only a change of some spec resolves it)
    says whether kstatus' Stalled is True, else Reconciling is (it resolves itself when a
    dependency becomes active)."""

    reason: ActiveReason
    message: str
    stalled: bool


def activation_hold(check: DependencyCheck, *, version: str, active_version: str) -> Hold | None:
    """Whether the dependencies hold back activating `version` (spec.version), whose tests have
    allowed it.  None when they are ready, and when `version` is already the active version: a
    version once active is not deactivated because another Pack changed (status.dependsOn still
    shows the drift)."""
    if check.ready or (active_version and version == active_version):
        return None
    if check.cycle:
        return Hold(ActiveReason.DEPENDENCY_CYCLE, check.message, stalled=True)
    return Hold(ActiveReason.DEPENDENCY_NOT_READY, check.message, stalled=False)


def _listed(head: str, items: Sequence[str], limit: int) -> str:
    """`head` and the items joined by ", ", as many as fit `limit` bytes with room for the count
    of the rest (` and 3 more`); the first item is clipped if even it does not fit."""
    out = head
    for index, item in enumerate(items):
        rest = len(items) - index - 1
        tail = f" and {rest} more" if rest else ""
        piece = (", " if index else "") + item
        if len((out + piece + tail).encode()) <= limit:
            out += piece
            continue
        if index == 0:
            more = f" and {rest} more" if rest else ""
            return clip(head + item, limit - len(more.encode())) + more
        return f"{out} and {len(items) - index} more"
    return out


def check_dependencies(
    name: str, depends_on: Sequence[PackDependency], packs: Mapping[str, PackNode]
) -> DependencyCheck:
    """The state of the dependencies of the Pack `name` (its spec.dependsOn, already validated
    by the spec model), given every Pack of its namespace (`packs`, which may include `name`
    itself: its own entry is ignored in favour of `depends_on`).

    A dependency is ready when its Pack exists and has an active version in the range.  The
    cycle is the shortest one from `name` back to itself, following dependsOn in the order
    written, so each Pack on a cycle names it starting from itself."""
    missing = []
    for dependency in depends_on:
        node = packs.get(dependency.name)
        if node is None:
            missing.append(Missing(dependency.name, dependency.version, None, Why.NO_SUCH_PACK))
        elif not node.active_version:
            missing.append(Missing(dependency.name, dependency.version, None, Why.NOT_ACTIVE))
        elif version_or_none(node.active_version) is None:
            missing.append(Missing(dependency.name, dependency.version, node.active_version, Why.NOT_SEMVER))
        elif not satisfies(node.active_version, parse_range(dependency.version)):
            missing.append(Missing(dependency.name, dependency.version, node.active_version, Why.OUT_OF_RANGE))
    return DependencyCheck(
        total=len(depends_on),
        missing=tuple(missing),
        cycle=find_cycle(name, tuple(d.name for d in depends_on), packs),
    )


def find_cycle(name: str, depends_on: Sequence[str], packs: Mapping[str, PackNode]) -> tuple[str, ...]:
    """The shortest dependency cycle through `name` (`name, ..., name`), or () when there is
    none.  Breadth-first from its dependencies; only Packs reachable from it are visited."""
    parent: dict[str, str] = {}
    queue: deque[str] = deque()
    for first in depends_on:
        if first == name:
            return (name, name)
        if first not in parent:
            parent[first] = name
            queue.append(first)
    while queue:
        current = queue.popleft()
        node = packs.get(current)
        for following in node.depends_on if node is not None else ():
            if following == name:
                path = [current]
                while path[-1] != name:
                    path.append(parent[path[-1]])
                return (name, *reversed(path[:-1]), name)
            if following not in parent:
                parent[following] = current
                queue.append(following)
    return ()


def dependents(name: str, packs: Mapping[str, PackNode]) -> list[str]:
    """The Packs of the namespace whose dependsOn names `name` (sorted): the ones to re-validate
    when its active version or its own dependsOn changes."""
    return sorted(other for other, node in packs.items() if other != name and name in node.depends_on)
