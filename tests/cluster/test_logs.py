"""Container logs come from the kubelet through the API server's proxy, and rotate at the kubelet's size."""

from __future__ import annotations

import time

import pytest
from kubernetes import client

from cluster.helpers import container, pod, pod_phase, pod_spec
from plugins.cluster import LocalCluster

pytestmark = pytest.mark.cluster


def test_tail_lines_and_limit_bytes(namespace: str, core: client.CoreV1Api) -> None:
    """tailLines keeps the last lines, limitBytes the first bytes."""
    script = "for i in 1 2 3 4 5 6 7 8 9 10; do echo $i; done"
    core.create_namespaced_pod(namespace, pod("counter", pod_spec(container("main", script))))
    pod_phase(core, namespace, "counter", {"Succeeded"})
    assert core.read_namespaced_pod_log("counter", namespace, tail_lines=3) == "8\n9\n10\n"
    assert core.read_namespaced_pod_log("counter", namespace, limit_bytes=5) == "1\n2\n3"
    assert core.read_namespaced_pod_log("counter", namespace, tail_lines=2, limit_bytes=3) == "9\n1"


def test_stderr_is_in_the_same_log(namespace: str, core: client.CoreV1Api) -> None:
    """What a container writes to stderr is in its log too.  (Stdout and stderr reach the log through
    separate pipes, so their relative order is not kept: the runner wrapper merges them itself.)"""
    core.create_namespaced_pod(namespace, pod("errors", pod_spec(container("main", "echo oops >&2"))))
    pod_phase(core, namespace, "errors", {"Succeeded"})
    assert core.read_namespaced_pod_log("errors", namespace) == "oops\n"


def test_follow_streams_until_the_container_ends(namespace: str, core: client.CoreV1Api) -> None:
    """follow=true streams lines as they are written and ends when the container exits."""
    talker = container("main", "echo first; sleep 2; echo second")
    core.create_namespaced_pod(namespace, pod("talker", pod_spec(talker)))
    pod_phase(core, namespace, "talker", {"Running"})
    started = time.monotonic()
    response = core.read_namespaced_pod_log("talker", namespace, follow=True, _preload_content=False)
    try:
        arrivals = []
        for chunk in response.stream(1024):
            arrivals.append((time.monotonic() - started, chunk.decode()))
    finally:
        response.release_conn()
    assert "".join(text for _, text in arrivals) == "first\nsecond\n"
    assert arrivals[0][0] < 1.5, arrivals  # the first line came before the container ended
    assert core.read_namespaced_pod_status("talker", namespace).status.phase in ("Running", "Succeeded")


def test_kubectl_logs_of_unknown_container_and_previous_are_rejected(
    cluster: LocalCluster, namespace: str, core: client.CoreV1Api
) -> None:
    """Asking for a container the pod lacks, or for a previous instance that never existed, is an error."""
    core.create_namespaced_pod(namespace, pod("quiet", pod_spec(container("main", "true"))))
    pod_phase(core, namespace, "quiet", {"Succeeded"})
    previous = cluster.kubectl("-n", namespace, "logs", "quiet", "--previous", check=False)
    assert previous.returncode != 0
    assert 'previous terminated container "main" in pod "quiet" not found' in previous.stderr
    missing = cluster.kubectl("-n", namespace, "logs", "quiet", "-c", "other", check=False)
    assert missing.returncode != 0
    assert "other" in missing.stderr
