"""End to end: the operator under its own RBAC, the local cluster and PostgreSQL, driving Packs.

Every namespace here enforces the `restricted` Pod Security Standard, so every runner pod these
tests see was admitted under it.
"""

from __future__ import annotations

import subprocess
import time

import pytest

from e2e.helpers import (
    PACKGATE,
    cond,
    executions,
    manifest,
    pack_deleted_at,
    pack_yaml,
    settled,
    simple_pack,
    status,
    wait_settled,
)
from plugins.operator import wait_for

pytestmark = pytest.mark.e2e


def test_core_pack_passes_and_activates(operator, kube, namespace):
    """packs/core ends Passed, Active and Ready, with one install row and every printer column filled."""
    kube.apply(manifest("packs/core", namespace))
    pack = wait_settled(kube, namespace, "core")
    st = status(pack)
    assert (st["phase"], cond(pack, "Active"), cond(pack, "Ready"), cond(pack, "Stalled")[0]) == (
        "Passed",
        ("True", "TestsPassed"),
        ("True", "TestsPassed"),
        "False",
    )
    assert st["activeVersion"] == pack["spec"]["version"]
    assert st["lastExecution"]["trigger"] == "install"
    assert st["lastExecution"]["failed"] == 0 and st["lastExecution"]["passed"] > 0
    rows = wait_for("the execution row", lambda: executions(operator.dsn, namespace, "core"))
    assert [(r.trigger, r.status, r.passed) for r in rows] == [("install", "passed", st["lastExecution"]["passed"])]
    wide = kube.run("get", "packs", "-n", namespace, "-o", "wide").stdout.splitlines()
    header = wide[0].split()
    assert header == [
        "NAME",
        "VERSION",
        "ACTIVE",
        "STATUS",
        "TESTS",
        "RATE",
        "AGE",
        "TRIGGER",
        "LAST-TESTED",
        "DEPENDS-ON",
        "MESSAGE",
    ]
    row = wide[1].split()
    tests = f"{st['lastExecution']['passed']}/{st['lastExecution']['passed']}"
    assert row[:6] == ["core", pack["spec"]["version"], pack["spec"]["version"], "Passed", tests, "100%"]
    assert row[7] == "install"
    reasons = {e["reason"] for e in kube.events(namespace, "core")}
    assert {"TestsStarted", "TestsPassed", "Activated", "RecordWritten"} <= reasons


def test_failing_pack_is_blocked_and_recorded(operator, kube, namespace):
    """packs/broken ends Failed with Active=False (TestsFailed) and Stalled=True, and is recorded."""
    kube.apply(manifest("packs/broken", namespace))
    pack = wait_settled(kube, namespace, "broken")
    assert (status(pack)["phase"], cond(pack, "Active"), cond(pack, "Stalled")[0]) == (
        "Failed",
        ("False", "TestsFailed"),
        "True",
    )
    assert status(pack).get("activeVersion", "") == ""
    assert status(pack)["lastExecution"]["failingTests"]
    rows = wait_for("the execution row", lambda: executions(operator.dsn, namespace, "broken"))
    assert [(r.status, r.allowed) for r in rows] == [("failed", False)]
    assert "ActivationBlocked" in {e["reason"] for e in kube.events(namespace, "broken")}


def test_failing_upgrade_keeps_previous_version_active(operator, kube, namespace):
    """Upgrading to a version whose tests fail leaves the old activeVersion in place."""
    kube.apply(simple_pack(namespace, "upgrade", "1.0.0", passed=3, failed=0))
    assert status(wait_settled(kube, namespace, "upgrade"))["activeVersion"] == "1.0.0"
    kube.apply(simple_pack(namespace, "upgrade", "1.1.0", passed=1, failed=2))
    pack = wait_for(
        "the 1.1.0 verdict",
        lambda: (
            (p := kube.pack(namespace, "upgrade"))
            and settled(p)
            and status(p)["lastExecution"]["version"] == "1.1.0"
            and p
        ),
    )
    assert (status(pack)["phase"], status(pack)["activeVersion"], cond(pack, "Active")) == (
        "Failed",
        "1.0.0",
        ("False", "TestsFailed"),
    )
    assert status(pack)["lastExecution"]["trigger"] == "update"
    assert "1.0.0 stays active" in status(pack)["message"]


@pytest.mark.parametrize(
    ("extra", "passed", "failed", "phase", "active"),
    [
        ({"testing": {"onFailure": "warn"}}, 1, 1, "Failed", ("True", "FailureWarned")),
        ({"force": True}, 0, 2, "Failed", ("True", "Forced")),
        ({"testing": {"minPassRate": 0.5}}, 3, 1, "Partial", ("True", "TestsPassed")),
        ({"testing": {"onFailure": "ignore"}}, 0, 1, "Failed", ("True", "FailureIgnored")),
    ],
    ids=["warn", "force", "partial-above-min-pass-rate", "ignore"],
)
def test_policies(operator, kube, namespace, extra, passed, failed, phase, active):
    """warn, force, ignore and minPassRate allow activation as SPEC §5 says, and say why."""
    kube.apply(simple_pack(namespace, "policy", "1.0.0", passed=passed, failed=failed, **extra))
    pack = wait_settled(kube, namespace, "policy")
    assert (status(pack)["phase"], cond(pack, "Active"), status(pack)["activeVersion"]) == (phase, active, "1.0.0")


def test_skip_tests_activates_without_jobs(operator, kube, namespace):
    """skipTests activates the version without running a Job."""
    kube.apply(simple_pack(namespace, "skipper", "2.0.0", passed=1, failed=0, skipTests=True))
    pack = wait_settled(kube, namespace, "skipper")
    assert (status(pack)["phase"], cond(pack, "Active"), cond(pack, "Tested")) == (
        "Skipped",
        ("True", "TestsSkipped"),
        ("False", "Skipped"),
    )
    assert kube.json("get", "jobs", "-n", namespace)["items"] == []


def test_no_testing_section_is_blocked_with_guidance(operator, kube, namespace):
    """A Pack without testing is blocked with a message that says how to proceed."""
    kube.apply(pack_yaml(namespace, "untested", "1.0.0", {"README": "no tests"}, None))
    pack = wait_settled(kube, namespace, "untested")
    assert (cond(pack, "Tested"), cond(pack, "Active"), cond(pack, "Stalled")[0]) == (
        ("False", "NoTestConfiguration"),
        ("False", "NoTestConfiguration"),
        "True",
    )
    assert "skipTests" in status(pack)["message"]


def test_missing_configmap_recovers_when_created(operator, kube, namespace):
    """A Pack whose ConfigMap is missing reports SourceNotFound, then tests once it appears."""
    config_map, pack_doc = simple_pack(namespace, "late", "1.0.0", passed=2, failed=0).split("\n---\n", 1)
    kube.apply(pack_doc)
    wait_for("SourceNotFound", lambda: cond(kube.pack(namespace, "late"), "Tested") == ("False", "SourceNotFound"))
    assert cond(kube.pack(namespace, "late"), "Stalled") == ("True", "SourceNotFound")
    kube.apply(config_map)
    pack = wait_for("the verdict", lambda: (p := kube.pack(namespace, "late")) and cond(p, "Tested")[0] == "True" and p)
    assert (status(pack)["phase"], cond(pack, "Active")) == ("Passed", ("True", "TestsPassed"))


def test_retest_annotation_runs_a_manual_execution(operator, kube, namespace):
    """Setting packgate.dev/retest to a new value produces a `manual` execution."""
    kube.apply(simple_pack(namespace, "again", "1.0.0", passed=2, failed=0))
    first = status(wait_settled(kube, namespace, "again"))["lastExecution"]["id"]
    kube.run("annotate", "pack", "again", "-n", namespace, "packgate.dev/retest=one", "--overwrite")
    pack = wait_for(
        "the manual execution",
        lambda: (p := kube.pack(namespace, "again")) and settled(p) and status(p)["lastExecution"]["id"] != first and p,
    )
    assert status(pack)["lastExecution"]["trigger"] == "manual"
    rows = wait_for("two rows", lambda: (r := executions(operator.dsn, namespace, "again")) and len(r) == 2 and r)
    assert sorted(r.trigger for r in rows) == ["install", "manual"]


def test_runner_timeout_is_an_error_with_reason_timeout(operator, kube, namespace):
    """A runner that outlives its timeout gives phase Error, reason Timeout, quoting its last output."""
    runners = [{"name": "slow", "type": "script", "entryPoint": "tests/slow.sh", "timeout": "3s"}]
    script = "echo 'test_fetch_inventory ... running'\nsleep 60\n"
    kube.apply(pack_yaml(namespace, "slow", "1.0.0", {"tests/slow.sh": script}, runners))
    pack = wait_settled(kube, namespace, "slow", timeout=90)
    assert (status(pack)["phase"], cond(pack, "Active"), cond(pack, "Stalled")) == (
        "Error",
        ("False", "TestError"),
        ("True", "Timeout"),
    )
    suite = status(pack)["lastExecution"]["suites"][0]
    assert suite["reason"] == "Timeout"
    assert "timed out after 3s" in suite["error"] and "test_fetch_inventory ... running" in suite["error"]


def test_unpullable_image_is_an_error_within_30_seconds(operator, kube, namespace):
    """An image that cannot be pulled becomes a runner error promptly, not at the deadline."""
    runners = [
        {
            "name": "shell",
            "type": "script",
            "entryPoint": "tests/run.sh",
            "timeout": "600s",
            "image": "unpullable.invalid/nothing:1",
        }
    ]
    kube.apply(pack_yaml(namespace, "nopull", "1.0.0", {"tests/run.sh": "echo hi\n"}, runners))
    started = time.monotonic()
    pack = wait_settled(kube, namespace, "nopull", timeout=60)
    assert time.monotonic() - started < 30
    assert (status(pack)["phase"], status(pack)["lastExecution"]["suites"][0]["reason"]) == ("Error", "ImagePullFailed")


def test_operator_restart_adopts_running_jobs(operator, kube, namespace):
    """Killing the operator mid-run and restarting it leaves one Job per runner and one execution row."""
    runners = [{"name": "shell", "type": "script", "entryPoint": "tests/run.sh", "timeout": "120s"}]
    script = 'sleep 8\necho "Total Tests: 1"\necho "Passed: 1"\necho "Failed: 0"\n'
    kube.apply(pack_yaml(namespace, "restart", "1.0.0", {"tests/run.sh": script}, runners))
    wait_for("the Job", lambda: kube.json("get", "jobs", "-n", namespace)["items"])
    operator.kill()
    operator.start()
    pack = wait_settled(kube, namespace, "restart")
    assert status(pack)["phase"] == "Passed"
    jobs = kube.json("get", "jobs", "-n", namespace)["items"]
    assert len(jobs) == 1
    rows = wait_for("the row", lambda: executions(operator.dsn, namespace, "restart"))
    time.sleep(2)
    assert len(executions(operator.dsn, namespace, "restart")) == len(rows) == 1


def test_database_outage_defers_the_record_exactly_once(operator, postgres, kube, namespace):
    """With PostgreSQL down the verdict is still written; once it is back the row appears once."""
    postgres.stop()
    try:
        kube.apply(simple_pack(namespace, "outage", "1.0.0", passed=2, failed=0))
        pack = wait_settled(kube, namespace, "outage")
        assert (status(pack)["phase"], cond(pack, "Active")[0]) == ("Passed", "True")
        assert len(status(pack)["pendingRecords"]) == 1
        assert "RecordDeferred" in {e["reason"] for e in kube.events(namespace, "outage")}
    finally:
        postgres.start()
    wait_for(
        "the deferred record", lambda: not status(kube.pack(namespace, "outage")).get("pendingRecords"), timeout=90
    )
    assert len(executions(operator.dsn, namespace, "outage")) == 1
    assert status(kube.pack(namespace, "outage"))["lastExecution"]["recorded"] is True


def test_deleting_a_pack_collects_its_jobs(operator, kube, namespace):
    """Deleting a Pack garbage-collects its Jobs; its history stays in PostgreSQL, where the pack is
    marked deleted."""
    kube.apply(simple_pack(namespace, "gone", "1.0.0", passed=1, failed=0))
    wait_settled(kube, namespace, "gone")
    assert kube.json("get", "jobs", "-n", namespace)["items"]
    assert pack_deleted_at(operator.dsn, namespace, "gone") is None
    kube.run("delete", "pack", "gone", "-n", namespace, "--wait=true", "--timeout=60s")
    wait_for("Jobs to be collected", lambda: not kube.json("get", "jobs", "-n", namespace)["items"], timeout=60)
    assert len(executions(operator.dsn, namespace, "gone")) == 1
    assert pack_deleted_at(operator.dsn, namespace, "gone") is not None


def test_concurrency_limit_queues_extra_executions(operator, kube, namespace):
    """Past the per-namespace limit (4 Jobs) executions wait in phase Queued with a queue position."""
    script = 'sleep 6\necho "Total Tests: 1"\necho "Passed: 1"\necho "Failed: 0"\n'
    runners = [{"name": "shell", "type": "script", "entryPoint": "tests/run.sh", "timeout": "120s"}]
    names = [f"q{i}" for i in range(6)]
    for name in names:
        kube.apply(pack_yaml(namespace, name, "1.0.0", {"tests/run.sh": script}, runners))

    def queued():
        items = kube.json("get", "packs", "-n", namespace)["items"]
        return [
            (p["metadata"]["name"], status(p).get("queuePosition"))
            for p in items
            if status(p).get("phase") == "Queued" and status(p).get("queuePosition")
        ]

    waiting = wait_for("an execution held in the queue", queued, timeout=60, interval=0.3)
    assert all(position >= 1 for _, position in waiting)
    for name in names:
        assert status(wait_settled(kube, namespace, name))["phase"] == "Passed"


def test_packgate_retest_command(operator, kube, namespace, cluster):
    """`packgate retest NAME` starts a manual execution, like the annotation."""
    kube.apply(simple_pack(namespace, "cli", "1.0.0", passed=1, failed=0))
    first = status(wait_settled(kube, namespace, "cli"))["lastExecution"]["id"]
    proc = subprocess.run(
        [str(PACKGATE), "retest", "cli", "--namespace", namespace, "--kubeconfig", str(cluster.kubeconfig)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (proc.returncode, proc.stderr) == (0, "")
    pack = wait_for(
        "the manual execution",
        lambda: (p := kube.pack(namespace, "cli")) and settled(p) and status(p)["lastExecution"]["id"] != first and p,
    )
    assert status(pack)["lastExecution"]["trigger"] == "manual"
    missing = subprocess.run(
        [str(PACKGATE), "retest", "nothing", "--namespace", namespace, "--kubeconfig", str(cluster.kubeconfig)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (missing.returncode, len(missing.stderr.strip().splitlines())) == (2, 1)
