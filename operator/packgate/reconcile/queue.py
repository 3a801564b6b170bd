"""Admission under the concurrency limits: which queued executions may start now.

Owns: the pure queue arithmetic.  The executor feeds it the active test Jobs and the waiting
executions it read from the cluster (never from memory), so a restarted operator computes the
same queue.  Must not: do I/O.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass


@dataclass(frozen=True)
class Waiting:
    """An execution that wants to start."""

    queued_at: str
    uid: str
    namespace: str
    jobs: int  # how many Jobs (runners) it needs


@dataclass(frozen=True)
class Admission:
    admitted: bool
    position: int  # 1-based position in the queue (0 when admitted)


def _walk(
    waiting: list[Waiting], active_by_namespace: dict[str, int], global_limit: int, namespace_limit: int
) -> list[tuple[Waiting, bool]]:
    """The queue oldest first, each entry with whether the free slots let it start, handing out
    slots as it goes.  An execution needing more Jobs than a limit allows still starts when nothing
    else runs (otherwise it would wait forever)."""
    running = Counter(active_by_namespace)
    total = sum(running.values())
    walked = []
    for entry in sorted(waiting, key=lambda w: (w.queued_at, w.uid)):
        fits_global = total + entry.jobs <= global_limit or total == 0
        in_ns = running[entry.namespace]
        fits_ns = in_ns + entry.jobs <= namespace_limit or in_ns == 0
        fits = fits_global and fits_ns
        if fits:
            total += entry.jobs
            running[entry.namespace] += entry.jobs
        walked.append((entry, fits))
    return walked


def admit(
    uid: str,
    waiting: list[Waiting],
    active_by_namespace: dict[str, int],
    *,
    global_limit: int,
    namespace_limit: int,
) -> Admission:
    """Walk the queue oldest first, handing out free slots; is `uid` among those that fit?"""
    position = 0
    for entry, fits in _walk(waiting, active_by_namespace, global_limit, namespace_limit):
        if entry.uid == uid:
            return Admission(True, 0) if fits else Admission(False, position + 1)
        if not fits:
            position += 1
    return Admission(False, position + 1)


def admissible(
    waiting: list[Waiting], active_by_namespace: dict[str, int], *, global_limit: int, namespace_limit: int
) -> list[str]:
    """The uids of the waiting executions the free slots let start now, oldest first."""
    return [entry.uid for entry, fits in _walk(waiting, active_by_namespace, global_limit, namespace_limit) if fits]
