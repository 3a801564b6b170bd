"""Standing chaos drills on the real node: the operator, PostgreSQL and the API server fail mid-run,
and every execution still reaches exactly one verdict, one Job per runner and one row.

Each drill prints its figures (`-s` shows them; `make test-drills` passes it) and asserts on them.
"""

from __future__ import annotations

import random
import time
from typing import Any

import pytest

from e2e.helpers import audit, executions, pack_yaml, settled_names, status
from e2e.test_large_results import junit_pack
from plugins.operator import wait_for

pytestmark = pytest.mark.drills

SCRIPT = 'sleep {delay}\necho "Total Tests: 2"\necho "Passed: 2"\necho "Failed: 0"\n'
RUNNERS = [{"name": "shell", "type": "script", "entryPoint": "tests/run.sh", "timeout": "120s"}]


def apply_packs(kube: Any, namespace: str, count: int, rng: random.Random, prefix: str = "p") -> list[str]:
    names = [f"{prefix}{i:02d}" for i in range(count)]
    documents = [
        pack_yaml(namespace, name, "1.0.0", {"tests/run.sh": SCRIPT.format(delay=rng.randint(1, 4))}, RUNNERS)
        for name in names
    ]
    kube.apply("\n---\n".join(documents))
    return names


def report(drill: str, figures: dict[str, Any]) -> None:
    """Print the drill's figures, then assert none was lost, doubled or turned into a runner error
    (every drill's runners pass: an error verdict is the failure's doing)."""
    print(f"\n{drill}: " + ", ".join(f"{key}={value}" for key, value in figures.items()))
    counts = ("lost", "duplicate_jobs", "missing_rows", "duplicate_rows", "runner_errors")
    assert tuple(figures[key] for key in counts) == (0, 0, 0, 0, 0), figures


def runner_errors(kube: Any, namespace: str) -> int:
    """Packs whose verdict is a runner error (phase Error: a Job taken for removed, a runner that
    found no pack files, ...)."""
    return sum(1 for p in kube.json("get", "packs", "-n", namespace)["items"] if status(p).get("phase") == "Error")


def wait_rows(operator: Any, namespace: str, names: list[str], timeout: float = 180) -> None:
    wait_for(
        "every execution row",
        lambda: all(executions(operator.dsn, namespace, name) for name in names),
        timeout=timeout,
        interval=2,
    )


def test_r1_operator_killed_at_random_points_across_50_executions(operator, kube, namespace):
    """R1: 50 executions; the operator's pods are SIGKILLed at four random moments while they run."""
    rng = random.Random(20261129)
    names = apply_packs(kube, namespace, 50, rng)
    kills = 0
    started = time.monotonic()
    while kills < 4 and len(settled_names(kube, namespace)) < len(names):
        target = len(settled_names(kube, namespace)) + rng.randint(3, 10)
        wait_for(
            f"{target} verdicts",
            lambda t=target: len(settled_names(kube, namespace)) >= min(t, 50),
            timeout=300,
            interval=0.5,
        )
        if len(settled_names(kube, namespace)) < len(names):
            operator.kill()
            kills += 1
    wait_for("every verdict", lambda: settled_names(kube, namespace) >= set(names), timeout=600, interval=2)
    wait_rows(operator, namespace, names)
    figures = {
        **audit(kube, operator.dsn, namespace, names),
        "runner_errors": runner_errors(kube, namespace),
        "kills": kills,
        "seconds": round(time.monotonic() - started),
    }
    report("R1", figures)
    operator.start()


def test_r2_postgres_down_for_60_seconds_across_20_verdicts(operator, postgres, kube, namespace):
    """R2: PostgreSQL stops for 60 s while 20 executions (two with 50 MB reports) reach their verdicts."""
    rng = random.Random(2)
    postgres.stop()
    stopped = time.monotonic()
    try:
        names = apply_packs(kube, namespace, 18, rng)
        kube.apply(junit_pack(namespace, "big0") + "\n---\n" + junit_pack(namespace, "big1"))
        names += ["big0", "big1"]
        wait_for(
            "20 verdicts with PostgreSQL down",
            lambda: settled_names(kube, namespace) >= set(names),
            timeout=300,
            interval=1,
        )
        verdicts_seconds = time.monotonic() - stopped
        deferred = sum(len(status(kube.pack(namespace, n)).get("pendingRecords") or []) for n in names)
        outage_left = 60 - (time.monotonic() - stopped)
        if outage_left > 0:
            time.sleep(outage_left)  # the drill's outage lasts 60 s: its length, not a synchronisation
    finally:
        postgres.start()
    wait_for(
        "every deferred record",
        lambda: not any(status(kube.pack(namespace, n)).get("pendingRecords") for n in names),
        timeout=180,
        interval=2,
    )
    figures = {
        **audit(kube, operator.dsn, namespace, names),
        "runner_errors": runner_errors(kube, namespace),
        "deferred": deferred,
        "verdicts_within_s": round(verdicts_seconds),
    }
    report("R2", figures)
    assert verdicts_seconds < 60 + 30


def test_r3_api_server_restarts_mid_run(operator, cluster, kube, namespace):
    """R3: the API server is stopped and started again while 10 executions run."""
    rng = random.Random(3)
    names = apply_packs(kube, namespace, 10, rng)
    wait_for("the first Jobs", lambda: kube.json("get", "jobs", "-n", namespace)["items"], timeout=60)
    started = time.monotonic()
    cluster.restart_component("kube-apiserver")
    restart_seconds = time.monotonic() - started
    wait_for("every verdict", lambda: settled_names(kube, namespace) >= set(names), timeout=300, interval=2)
    wait_rows(operator, namespace, names)
    figures = {
        **audit(kube, operator.dsn, namespace, names),
        "runner_errors": runner_errors(kube, namespace),
        "apiserver_down_s": round(restart_seconds, 1),
    }
    report("R3", figures)


def test_r7_the_working_replica_dies_and_the_standby_takes_over(operator, kube, namespace):
    """R7: two replicas; the working one is SIGKILLed mid-run; the standby finishes the work."""
    operator.start()
    rng = random.Random(7)
    names = apply_packs(kube, namespace, 6, rng)
    wait_for("the first Jobs", lambda: kube.json("get", "jobs", "-n", namespace)["items"], timeout=60)
    working = operator.working_pod()
    killed = time.monotonic()
    operator.kill(working)
    late = apply_packs(kube, namespace, 1, rng, prefix="late")
    wait_for(
        "the standby to take the new Pack",
        lambda: kube.json("get", "jobs", "-n", namespace, "-l", f"packgate.dev/pack={late[0]}")["items"],
        timeout=120,
        interval=0.5,
    )
    takeover_seconds = time.monotonic() - killed
    names += late
    wait_for("every verdict", lambda: settled_names(kube, namespace) >= set(names), timeout=300, interval=2)
    wait_rows(operator, namespace, names)
    figures = {
        **audit(kube, operator.dsn, namespace, names),
        "runner_errors": runner_errors(kube, namespace),
        "takeover_s": round(takeover_seconds, 1),
    }
    report("R7", figures)
    assert takeover_seconds < 20 + 15  # PACKGATE_PEERING_LIFETIME_SECONDS, plus a pod's start and a Job
    operator.start()
