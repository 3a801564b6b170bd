"""End to end: spec.testing.cacheFor (issue #12, part 3) on the local cluster, with the operator
deployed from its image and PostgreSQL.

A version bump whose content digest (the ConfigMap's content and the runner's effective
configuration) equals the execution just run is served from cache: no Job is created, the status
says `cachedFrom`, and so does the PostgreSQL row.  A manual retest always runs its Job, and a
bump with changed content runs too.
"""

from __future__ import annotations

from typing import Any

import pytest

from e2e.helpers import cond, executions, simple_pack, status, wait_settled
from packgate.reconcile.render import LABEL_EXECUTION, job_name
from plugins.operator import wait_for

pytestmark = pytest.mark.e2e

CACHE = {"cacheFor": "1h"}


def jobs_of(kube: Any, namespace: str, execution: str) -> list[dict[str, Any]]:
    return list(kube.json("get", "jobs", "-n", namespace, "-l", f"{LABEL_EXECUTION}={execution}")["items"])


def events_about(kube: Any, namespace: str, name: str, reason: str) -> list[str]:
    return [e.get("message", "") for e in kube.events(namespace, name) if e.get("reason") == reason]


def test_a_version_bump_with_identical_content_is_served_from_cache_and_a_retest_runs(operator, kube, namespace):
    """1.0.0 runs its Job and records a digest; 1.0.1 with the same files and runner reuses that
    verdict (cachedFrom, no Job, no TestsStarted, a CachedVerdict event, a row with cached_from) and
    is activated; a retest then runs a Job (manual, no cachedFrom); 1.0.2 with another script runs."""
    kube.apply(simple_pack(namespace, "cached", "1.0.0", passed=3, failed=0, testing=CACHE))
    first = status(wait_settled(kube, namespace, "cached", timeout=180))["lastExecution"]
    assert (first["trigger"], first["passed"], first.get("cachedFrom")) == ("install", 3, None)
    assert first["digest"].startswith("sha256:")

    kube.apply(simple_pack(namespace, "cached", "1.0.1", passed=3, failed=0, testing=CACHE))
    pack = wait_settled(kube, namespace, "cached", timeout=120)
    bumped = status(pack)["lastExecution"]
    assert (bumped["trigger"], bumped["version"], bumped["cachedFrom"], bumped["digest"]) == (
        "update",
        "1.0.1",
        first["id"],
        first["digest"],
    )
    assert (bumped["passed"], bumped["failed"], status(pack)["activeVersion"]) == (3, 0, "1.0.1")
    assert cond(pack, "Active") == ("True", "TestsPassed")
    # No Job for the cached execution: none with its label, none created by either replica, and
    # no TestsStarted event for 1.0.1.
    assert jobs_of(kube, namespace, bumped["id"]) == []
    assert f"Created Job {job_name('cached', 'shell', bumped['id'])}" not in operator.log_text()
    assert not [m for m in events_about(kube, namespace, "cached", "TestsStarted") if "1.0.1" in m]
    cached_events = wait_for("CachedVerdict", lambda: events_about(kube, namespace, "cached", "CachedVerdict"))
    assert first["id"] in cached_events[0]
    rows = wait_for(
        "the cached row", lambda: (r := executions(operator.dsn, namespace, "cached")) and len(r) == 2 and r
    )
    assert [(r.execution_id, r.trigger, r.cached_from, r.digest) for r in rows] == [
        (bumped["id"], "update", first["id"], first["digest"]),
        (first["id"], "install", None, first["digest"]),
    ]

    kube.run("annotate", "pack", "cached", "-n", namespace, "packgate.dev/retest=again", "--overwrite")
    retested = wait_for(
        "the manual execution",
        lambda: (
            (p := kube.pack(namespace, "cached"))
            and (status(p).get("lastExecution") or {}).get("trigger") == "manual"
            and status(p)["phase"] == "Passed"
            and status(p)["lastExecution"]
        ),
        timeout=180,
    )
    assert (retested.get("cachedFrom"), retested["digest"]) == (None, first["digest"])
    assert f"Created Job {job_name('cached', 'shell', retested['id'])}" in operator.log_text()

    kube.apply(simple_pack(namespace, "cached", "1.0.2", passed=4, failed=0, testing=CACHE))
    changed = status(wait_settled(kube, namespace, "cached", timeout=180))["lastExecution"]
    assert (changed["trigger"], changed["version"], changed["passed"], changed.get("cachedFrom")) == (
        "update",
        "1.0.2",
        4,
        None,
    )
    assert changed["digest"] != first["digest"]
