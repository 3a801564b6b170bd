"""Jobs run to the end through the real Job controller, scheduler, kubelet and containerd."""

from __future__ import annotations

import pytest
from kubernetes import client

from cluster.helpers import container, job, job_condition, job_pods, pod, pod_phase, pod_spec
from plugins.cluster import LocalCluster, wait_until

pytestmark = pytest.mark.cluster


def test_failing_job_fails_with_exit_code_and_log(
    namespace: str, core: client.CoreV1Api, batch: client.BatchV1Api
) -> None:
    """A Job whose container exits 3 (backoffLimit 0) fails; the exit code and log reach the API."""
    batch.create_namespaced_job(namespace, job("fails", pod_spec(container("main", "echo hello; exit 3"))))
    condition = job_condition(batch, namespace, "fails", "Failed")
    assert condition.reason == "BackoffLimitExceeded"
    [failed] = job_pods(core, namespace, "fails")
    assert failed.status.phase == "Failed"
    terminated = failed.status.container_statuses[0].state.terminated
    assert (terminated.exit_code, terminated.reason) == (3, "Error")
    assert core.read_namespaced_pod_log(failed.metadata.name, namespace) == "hello\n"


def test_active_deadline_fails_job_with_deadline_exceeded(
    namespace: str, core: client.CoreV1Api, batch: client.BatchV1Api
) -> None:
    """A Job past its activeDeadlineSeconds fails with DeadlineExceeded and its sleeping pod is stopped."""
    batch.create_namespaced_job(
        namespace, job("sleeper", pod_spec(container("main", "sleep 300")), activeDeadlineSeconds=2)
    )
    condition = job_condition(batch, namespace, "sleeper", "Failed", timeout=60)
    assert condition.reason == "DeadlineExceeded"
    wait_until("the sleeping pod to be gone", lambda: not job_pods(core, namespace, "sleeper"), timeout=30)


def test_pod_active_deadline_kills_the_pod(namespace: str, core: client.CoreV1Api) -> None:
    """A pod past its own activeDeadlineSeconds is killed by the kubelet: Failed, reason DeadlineExceeded.

    `sleep` as PID 1 ignores SIGTERM, so the kill lands after the grace period, as on any node."""
    spec = pod_spec(container("main", "sleep 300"), activeDeadlineSeconds=1, terminationGracePeriodSeconds=1)
    core.create_namespaced_pod(namespace, pod("sleeper", spec))
    failed = pod_phase(core, namespace, "sleeper", {"Failed"}, timeout=30)
    assert failed.status.reason == "DeadlineExceeded"
    assert failed.status.container_statuses[0].state.terminated.exit_code in (137, 143)


def test_deleting_job_garbage_collects_its_pods(
    cluster: LocalCluster, namespace: str, core: client.CoreV1Api, batch: client.BatchV1Api
) -> None:
    """Deleting a Job (Background) garbage-collects its running pod; the kubelet removes the pod's directory."""
    batch.create_namespaced_job(namespace, job("doomed", pod_spec(container("main", "sleep 300"))))
    [running] = wait_until("the Job's pod", lambda: job_pods(core, namespace, "doomed"))
    pod_phase(core, namespace, running.metadata.name, {"Running"})
    pod_dir = cluster.state_dir / "kubelet" / "pods" / running.metadata.uid
    assert pod_dir.is_dir()
    batch.delete_namespaced_job("doomed", namespace, propagation_policy="Background")
    wait_until("the Job's pods to be deleted", lambda: not job_pods(core, namespace, "doomed"), timeout=60)
    wait_until(f"{pod_dir} to be removed", lambda: not pod_dir.exists(), timeout=60)


@pytest.mark.pod_security(None)
def test_kubectl_create_job_wait_and_logs(cluster: LocalCluster, namespace: str) -> None:
    """The acceptance test: kubectl create job, wait for complete, and kubectl logs prints hello."""
    cluster.kubectl("-n", namespace, "create", "job", "hello", "--image=busybox", "--", "sh", "-c", "echo hello")
    cluster.kubectl("-n", namespace, "wait", "--for=condition=complete", "job/hello", "--timeout=60s")
    assert cluster.kubectl("-n", namespace, "logs", "job/hello").stdout == "hello\n"
