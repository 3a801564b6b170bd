"""End to end on the real node: results of any size reach a verdict, with or without PostgreSQL.

The kubelet here rotates container logs at 10 Mi (3 files), as production kubelets do, so these runs
also prove the results survive rotation: whatever the runner printed first is gone by the time the
operator reads the log.
"""

from __future__ import annotations

import json

import pytest

from e2e.helpers import cond, executions, pack_yaml, status, wait_settled
from plugins.operator import wait_for

pytestmark = pytest.mark.e2e

NOISE_THEN_SUMMARY = """\
yes 'DEBUG 2026-11-29T12:00:00Z worker[42]: polling the queue, nothing to do yet, sleeping a little' \\
  | head -c 100000000
echo "Total Tests: 3"
echo "Passed: 3"
echo "Failed: 0"
"""

# 3000 failing cases with 16 KB messages: a ~50 MB report.
JUNIT_GENERATOR = """\
import os
os.makedirs("results", exist_ok=True)
message = "assertion failed: " + "x" * 16000
with open("results/junit.xml", "w") as out:
    out.write('<?xml version="1.0"?>\\n<testsuite name="big" tests="3100" failures="3000">\\n')
    for i in range(3000):
        case = f'<testcase classname="big.Case" name="test_{i}">'
        out.write(f'{case}<failure message="m">{message}</failure></testcase>\\n')
    for i in range(100):
        out.write(f'<testcase classname="big.Case" name="test_ok_{i}"/>\\n')
    out.write("</testsuite>\\n")
"""


def junit_pack(namespace: str, name: str) -> str:
    runners = [
        {
            "name": "report",
            "type": "command",
            "image": "docker.io/library/python:3.13-slim",
            "command": ["python3", "tests/generate.py"],
            "resultPath": "results/junit.xml",
            "resultFormat": "junit",
            "timeout": "180s",
        }
    ]
    return pack_yaml(namespace, name, "1.0.0", {"tests/generate.py": JUNIT_GENERATOR}, runners)


def test_a_summary_after_100_mb_of_output_is_found(operator, kube, namespace):
    """100 MB of debug lines, then a `Total Tests` summary: Passed 3/3, not an error."""
    runners = [{"name": "shell", "type": "script", "entryPoint": "tests/run.sh", "timeout": "180s"}]
    kube.apply(pack_yaml(namespace, "chatty", "1.0.0", {"tests/run.sh": NOISE_THEN_SUMMARY}, runners))
    pack = wait_settled(kube, namespace, "chatty", timeout=240)
    last = status(pack)["lastExecution"]
    assert (status(pack)["phase"], last["passed"], last["failed"]) == ("Passed", 3, 0), json.dumps(last)[:2000]


def test_a_50_mb_junit_report_is_parsed_whole_and_the_status_stays_small(operator, kube, namespace):
    """A 50 MB report of 3100 cases gives the exact counts; the Pack's status stays under 64 KiB."""
    kube.apply(junit_pack(namespace, "bigreport"))
    pack = wait_settled(kube, namespace, "bigreport", timeout=240)
    last = status(pack)["lastExecution"]
    assert (status(pack)["phase"], last["passed"], last["failed"]) == ("Failed", 100, 3000), json.dumps(last)[:2000]
    assert len(json.dumps(pack["status"])) < 64 * 1024
    rows = wait_for("the execution row", lambda: executions(operator.dsn, namespace, "bigreport"))
    assert [(r.passed, r.failed) for r in rows] == [(100, 3000)]


def test_a_large_report_with_the_database_down_still_gets_its_verdict(operator, postgres, kube, namespace):
    """PostgreSQL down during a 50 MB report: the verdict is written at once, a compact record is
    deferred, and once PostgreSQL is back the row appears exactly once."""
    postgres.stop()
    try:
        kube.apply(junit_pack(namespace, "bigoutage"))
        pack = wait_settled(kube, namespace, "bigoutage", timeout=240)
        assert (status(pack)["phase"], cond(pack, "Active")[0]) == ("Failed", "False")
        assert len(status(pack)["pendingRecords"]) == 1
        assert len(json.dumps(pack["status"])) < 64 * 1024
    finally:
        postgres.start()
    wait_for(
        "the deferred record", lambda: not status(kube.pack(namespace, "bigoutage")).get("pendingRecords"), timeout=120
    )
    rows = executions(operator.dsn, namespace, "bigoutage")
    assert [(r.passed, r.failed) for r in rows] == [(100, 3000)]
