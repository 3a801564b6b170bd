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


def admit(
    uid: str,
    waiting: list[Waiting],
    active_by_namespace: dict[str, int],
    *,
    global_limit: int,
    namespace_limit: int,
) -> Admission:
    """Walk the queue oldest first, handing out free slots; is `uid` among those that fit?

    An execution needing more Jobs than a limit allows still starts when nothing else runs
    (otherwise it would wait forever).
    """
    running = Counter(active_by_namespace)
    total = sum(running.values())
    order = sorted(waiting, key=lambda w: (w.queued_at, w.uid))
    position = 0
    for entry in order:
        fits_global = total + entry.jobs <= global_limit or total == 0
        in_ns = running[entry.namespace]
        fits_ns = in_ns + entry.jobs <= namespace_limit or in_ns == 0
        if fits_global and fits_ns:
            if entry.uid == uid:
                return Admission(True, 0)
            total += entry.jobs
            running[entry.namespace] += entry.jobs
            continue
        position += 1
        if entry.uid == uid:
            return Admission(False, position)
    return Admission(False, position + 1)
