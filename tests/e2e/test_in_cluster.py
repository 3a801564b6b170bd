"""End to end on the real node: the operator as its image runs it, and runner types with their default images."""

from __future__ import annotations

import pytest

from e2e.helpers import cond, manifest, pack_yaml, simple_pack, status, wait_settled
from plugins.operator import wait_for

pytestmark = pytest.mark.e2e


def test_two_replicas_are_ready_and_exactly_one_works(operator, kube, namespace):
    """The Deployment is Ready 2/2; both replicas are kopf peers and only the highest-priority one acts."""
    operator.start()
    deployment = kube.json("get", "deployment", operator.name, "-n", operator.namespace)
    assert (deployment["status"].get("readyReplicas"), deployment["spec"]["replicas"]) == (2, 2)
    pods = {p["metadata"]["name"] for p in operator.pods() if not p["metadata"].get("deletionTimestamp")}
    kube.apply(simple_pack(namespace, "peers", "1.0.0", passed=1, failed=0))
    wait_settled(kube, namespace, "peers")
    peers = kube.json("get", "clusterkopfpeering", "packgate")["status"]
    alive = {
        identity.split("/")[0]: record["priority"]
        for identity, record in peers.items()
        if identity.split("/")[0] in pods
    }
    assert set(alive) == pods and len(set(alive.values())) == 2
    acted = {
        pod
        for pod in pods
        if f"Pack {namespace}/peers version 1.0.0" in kube.run("logs", "-n", operator.namespace, pod).stdout
    }
    assert acted == {max(alive, key=alive.__getitem__)}


def test_pytest_pack_passes_with_the_default_images(operator, kube, namespace):
    """packs/text-tools, a `pytest` runner with no image set, passes on the default pytest runner image."""
    kube.apply(manifest("packs/text-tools", namespace))
    pack = wait_settled(kube, namespace, "text-tools")
    assert (status(pack)["phase"], cond(pack, "Active")) == ("Passed", ("True", "TestsPassed"))
    [suite] = status(pack)["lastExecution"]["suites"]
    assert suite["passed"] > 0 and suite["failed"] == 0


def test_a_missing_tool_is_a_runner_error_quoting_its_output(operator, kube, namespace):
    """pytest in an image without it: a runner error whose message ends with the tool's own words."""
    runners = [
        {
            "name": "python",
            "type": "pytest",
            "entryPoint": "tests/",
            "timeout": "60s",
            "image": "docker.io/library/python:3.13-slim",
        }
    ]
    files = {"tests/test_one.py": "def test_one():\n    assert True\n"}
    kube.apply(pack_yaml(namespace, "notool", "1.0.0", files, runners))
    pack = wait_settled(kube, namespace, "notool")
    assert (status(pack)["phase"], cond(pack, "Active")) == ("Error", ("False", "TestError"))
    [suite] = status(pack)["lastExecution"]["suites"]
    assert "No module named pytest" in suite["error"]
    assert "No module named pytest" in status(pack)["message"]


def test_a_finished_job_removed_mid_run_is_not_run_again(operator, kube, namespace):
    """One runner ends fast, its Job is deleted (as ttlSecondsAfterFinished would) while the other still
    runs: the execution concludes with both results and the fast runner's Job is never created again."""
    fast = 'echo "Total Tests: 1"\necho "Passed: 1"\necho "Failed: 0"\n'
    slow = 'sleep 12\necho "Total Tests: 2"\necho "Passed: 2"\necho "Failed: 0"\n'
    runners = [
        {"name": "fast", "type": "script", "entryPoint": "tests/fast.sh", "timeout": "60s"},
        {"name": "slow", "type": "script", "entryPoint": "tests/slow.sh", "timeout": "60s"},
    ]
    kube.apply(pack_yaml(namespace, "ttl", "1.0.0", {"tests/fast.sh": fast, "tests/slow.sh": slow}, runners))
    selector = "packgate.dev/runner=fast"

    def fast_job_complete():
        jobs = kube.json("get", "jobs", "-n", namespace, "-l", selector)["items"]
        done = [
            j
            for j in jobs
            if any(
                c["type"] == "Complete" and c["status"] == "True"
                for c in (j.get("status") or {}).get("conditions") or []
            )
        ]
        return done and done[0]["metadata"]["name"]

    job = wait_for("the fast runner's Job to complete", fast_job_complete, timeout=60, interval=0.3)
    wait_for(
        "the fast result to be kept with the execution",
        lambda: any(
            c.get("name") == "fast"
            for c in (status(kube.pack(namespace, "ttl")).get("currentExecution") or {}).get("collected") or []
        ),
        timeout=30,
        interval=0.3,
    )
    kube.run("delete", "job", job, "-n", namespace, "--cascade=background")
    pack = wait_settled(kube, namespace, "ttl")
    last = status(pack)["lastExecution"]
    assert (status(pack)["phase"], last["passed"], last["failed"]) == ("Passed", 3, 0)
    assert kube.json("get", "jobs", "-n", namespace, "-l", selector)["items"] == []
