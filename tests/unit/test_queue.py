"""Unit tests of packgate.reconcile.queue: admission under the global and per-namespace limits."""

from __future__ import annotations

import pytest

from packgate.reconcile.queue import Admission, Waiting, admissible, admit

pytestmark = pytest.mark.unit


def waiting(uid: str, queued_at: str, namespace: str = "team-a", jobs: int = 2) -> Waiting:
    return Waiting(queued_at=f"2025-06-01T12:00:{queued_at}Z", uid=uid, namespace=namespace, jobs=jobs)


OLD = waiting("old", "01")
MID = waiting("mid", "02")
NEW = waiting("new", "03")


def test_admits_the_oldest_first() -> None:
    """With room for one execution, the oldest is admitted and the others wait in queued order."""
    queue = [NEW, OLD, MID]  # the order the executor lists them in does not matter
    decisions = {w.uid: admit(w.uid, queue, {}, global_limit=2, namespace_limit=10) for w in queue}
    assert decisions == {"old": Admission(True, 0), "mid": Admission(False, 1), "new": Admission(False, 2)}


def test_equal_times_break_ties_by_uid() -> None:
    """Executions queued in the same second are ordered by uid, so every operator computes the same queue."""
    a, b = waiting("a", "01"), waiting("b", "01")
    assert admit("a", [b, a], {}, global_limit=2, namespace_limit=10) == Admission(True, 0)
    assert admit("b", [b, a], {}, global_limit=2, namespace_limit=10) == Admission(False, 1)


@pytest.mark.parametrize(
    ("active", "limit", "expected"),
    [
        ({}, 4, Admission(True, 0)),
        ({"team-b": 2}, 4, Admission(True, 0)),
        ({"team-b": 3}, 4, Admission(False, 1)),
        ({"team-b": 2, "team-c": 2}, 4, Admission(False, 1)),
    ],
)
def test_global_limit(active: dict[str, int], limit: int, expected: Admission) -> None:
    """Active Jobs in every namespace count against the global limit."""
    assert admit("old", [OLD], active, global_limit=limit, namespace_limit=10) == expected


@pytest.mark.parametrize(
    ("active", "expected"),
    [
        ({"team-a": 1}, Admission(True, 0)),
        ({"team-a": 2}, Admission(False, 1)),
        ({"team-b": 3}, Admission(True, 0)),
    ],
)
def test_namespace_limit(active: dict[str, int], expected: Admission) -> None:
    """Only the execution's own namespace counts against the per-namespace limit."""
    assert admit("old", [OLD], active, global_limit=100, namespace_limit=3) == expected


def test_admitted_executions_use_up_slots_for_younger_ones() -> None:
    """Slots handed to older executions in this walk are no longer free for younger ones."""
    queue = [OLD, MID, NEW]  # two Jobs each
    results = [admit(w.uid, queue, {}, global_limit=4, namespace_limit=10) for w in queue]
    assert results == [Admission(True, 0), Admission(True, 0), Admission(False, 1)]


def test_other_namespaces_are_not_held_back_by_a_full_namespace() -> None:
    """A younger execution in another namespace starts while the older one waits for its own namespace."""
    full = waiting("full", "01", namespace="team-a")
    other = waiting("other", "02", namespace="team-b")
    active = {"team-a": 2}
    assert admit("full", [full, other], active, global_limit=10, namespace_limit=2) == Admission(False, 1)
    assert admit("other", [full, other], active, global_limit=10, namespace_limit=2) == Admission(True, 0)


@pytest.mark.parametrize(("global_limit", "namespace_limit"), [(2, 10), (10, 2), (1, 1)])
def test_execution_bigger_than_a_limit_starts_when_nothing_runs(global_limit: int, namespace_limit: int) -> None:
    """An execution needing more Jobs than a limit still starts when nothing else runs (else it waits forever)."""
    big = waiting("big", "01", jobs=5)
    assert admit("big", [big], {}, global_limit=global_limit, namespace_limit=namespace_limit) == Admission(True, 0)
    assert admit("big", [big], {"team-a": 1}, global_limit=global_limit, namespace_limit=namespace_limit) == Admission(
        False, 1
    )


def test_unknown_uid_is_at_the_end_of_the_queue() -> None:
    """An execution missing from the waiting list is placed after everyone who has to wait."""
    assert admit("ghost", [OLD, MID], {"team-a": 4}, global_limit=4, namespace_limit=10) == Admission(False, 3)


def test_admissible_lists_whom_to_wake_when_a_slot_frees() -> None:
    """Whom a freed slot should wake: the waiting executions that fit now, oldest first, skipping
    one held back by its full namespace but not the younger ones of other namespaces."""
    queue = [waiting("a", "01", "full", 1), waiting("b", "02", "free", 2), waiting("c", "03", "free", 1)]
    queue.append(waiting("d", "04", "other", 1))
    active = {"full": 4, "free": 1}
    assert admissible(queue, active, global_limit=9, namespace_limit=4) == ["b", "c", "d"]
    assert admissible(queue, active, global_limit=7, namespace_limit=4) == ["b"]
    assert admissible([], active, global_limit=9, namespace_limit=4) == []
