"""Unit tests of packgate.reconcile.observe: Job and Pod JSON (as the API server returns it) to states."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from packgate.reconcile.observe import is_active, job_mismatch, job_state, pod_state
from packgate.reconcile.plan import JobState, PodState

pytestmark = pytest.mark.unit

JOB_NAME = "core-shell-a1b2c3"
LABELS = {
    "app.kubernetes.io/managed-by": "packgate",
    "packgate.dev/pack": "core",
    "packgate.dev/pack-uid": "6f1c2b9e-3d4a-4c7e-9a51-2f0d8e7b1c33",
    "packgate.dev/runner": "shell",
    "packgate.dev/execution": "a1b2c3d4e5",
}

RUNNING_JOB: dict[str, Any] = {
    "apiVersion": "batch/v1",
    "kind": "Job",
    "metadata": {
        "name": JOB_NAME,
        "namespace": "automation",
        "uid": "0d9c6f1e-7b55-4b8a-8f7e-2a4c1e9d3b70",
        "resourceVersion": "48213",
        "generation": 1,
        "creationTimestamp": "2025-06-01T12:00:00Z",
        "labels": LABELS,
        "ownerReferences": [
            {
                "apiVersion": "packgate.dev/v1alpha1",
                "kind": "Pack",
                "name": "core",
                "uid": "6f1c2b9e-3d4a-4c7e-9a51-2f0d8e7b1c33",
                "controller": True,
            }
        ],
    },
    "spec": {
        "backoffLimit": 0,
        "activeDeadlineSeconds": 300,
        "ttlSecondsAfterFinished": 3600,
        "completionMode": "NonIndexed",
        "completions": 1,
        "parallelism": 1,
        "suspend": False,
        "template": {"metadata": {"labels": LABELS}, "spec": {"restartPolicy": "Never", "containers": []}},
    },
    "status": {
        "active": 1,
        "ready": 1,
        "startTime": "2025-06-01T12:00:01Z",
        "terminating": 0,
        "uncountedTerminatedPods": {},
    },
}


def with_status(job: dict[str, Any], status: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(job)
    out["status"] = status
    return out


COMPLETE_JOB = with_status(
    RUNNING_JOB,
    {
        "conditions": [
            {
                "type": "SuccessCriteriaMet",
                "status": "True",
                "reason": "CompletionsReached",
                "message": "Reached expected number of succeeded pods",
                "lastProbeTime": "2025-06-01T12:00:40Z",
                "lastTransitionTime": "2025-06-01T12:00:40Z",
            },
            {
                "type": "Complete",
                "status": "True",
                "reason": "CompletionsReached",
                "message": "Reached expected number of succeeded pods",
                "lastProbeTime": "2025-06-01T12:00:40Z",
                "lastTransitionTime": "2025-06-01T12:00:40Z",
            },
        ],
        "startTime": "2025-06-01T12:00:01Z",
        "completionTime": "2025-06-01T12:00:40Z",
        "succeeded": 1,
        "ready": 0,
        "terminating": 0,
        "uncountedTerminatedPods": {},
    },
)

DEADLINE_JOB = with_status(
    RUNNING_JOB,
    {
        "conditions": [
            {
                "type": "FailureTarget",
                "status": "True",
                "reason": "DeadlineExceeded",
                "message": "Job was active longer than specified deadline",
                "lastProbeTime": "2025-06-01T12:05:01Z",
                "lastTransitionTime": "2025-06-01T12:05:01Z",
            },
            {
                "type": "Failed",
                "status": "True",
                "reason": "DeadlineExceeded",
                "message": "Job was active longer than specified deadline",
                "lastProbeTime": "2025-06-01T12:05:02Z",
                "lastTransitionTime": "2025-06-01T12:05:02Z",
            },
        ],
        "startTime": "2025-06-01T12:00:01Z",
        "failed": 1,
        "ready": 0,
        "terminating": 0,
        "uncountedTerminatedPods": {},
    },
)

# The tests failed: the runner exited non-zero and backoffLimit 0 fails the Job.
BACKOFF_JOB = with_status(
    RUNNING_JOB,
    {
        "conditions": [
            {
                "type": "Failed",
                "status": "True",
                "reason": "BackoffLimitExceeded",
                "message": "Job has reached the specified backoff limit",
                "lastProbeTime": "2025-06-01T12:00:40Z",
                "lastTransitionTime": "2025-06-01T12:00:40Z",
            }
        ],
        "startTime": "2025-06-01T12:00:01Z",
        "failed": 1,
        "ready": 0,
        "terminating": 0,
        "uncountedTerminatedPods": {},
    },
)

# Kubernetes 1.31+: FailureTarget is set while the pod is still terminating; Failed comes later.
FAILURE_TARGET_ONLY_JOB = with_status(
    RUNNING_JOB,
    {
        "conditions": [DEADLINE_JOB["status"]["conditions"][0]],
        "startTime": "2025-06-01T12:00:01Z",
        "active": 0,
        "terminating": 1,
        "uncountedTerminatedPods": {},
    },
)

JUST_CREATED_JOB = with_status(RUNNING_JOB, {})
del JUST_CREATED_JOB["status"]


@pytest.mark.parametrize(
    ("job", "expected"),
    [
        (RUNNING_JOB, JobState(JOB_NAME, "shell", "a1b2c3d4e5")),
        (JUST_CREATED_JOB, JobState(JOB_NAME, "shell", "a1b2c3d4e5")),
        (COMPLETE_JOB, JobState(JOB_NAME, "shell", "a1b2c3d4e5", finished=True)),
        (
            DEADLINE_JOB,
            JobState(
                JOB_NAME,
                "shell",
                "a1b2c3d4e5",
                finished=True,
                failed=True,
                reason="DeadlineExceeded",
                message="Job was active longer than specified deadline",
            ),
        ),
        (
            BACKOFF_JOB,
            JobState(
                JOB_NAME,
                "shell",
                "a1b2c3d4e5",
                finished=True,
                failed=True,
                reason="BackoffLimitExceeded",
                message="Job has reached the specified backoff limit",
            ),
        ),
        (FAILURE_TARGET_ONLY_JOB, JobState(JOB_NAME, "shell", "a1b2c3d4e5")),
    ],
    ids=["running", "no-status", "complete", "deadline-exceeded", "backoff-limit", "failure-target-only"],
)
def test_job_state(job: dict[str, Any], expected: JobState) -> None:
    """Job conditions become finished/failed with the Failed condition's reason and message."""
    assert job_state(job) == expected


def test_is_active() -> None:
    """Running Jobs hold a concurrency slot; finished ones do not."""
    assert [is_active(j) for j in (RUNNING_JOB, JUST_CREATED_JOB, COMPLETE_JOB, DEADLINE_JOB)] == [
        True,
        True,
        False,
        False,
    ]


# -- pods ------------------------------------------------------------------------------------

POD_NAME = f"{JOB_NAME}-x7k2p"


def pod(
    phase: str,
    *,
    init: dict[str, Any] | None = None,
    runner: dict[str, Any] | None = None,
    conditions: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A pod of the Job as the API server returns it, with the given container states."""
    status: dict[str, Any] = {
        "phase": phase,
        "conditions": conditions
        or [
            {"type": "PodReadyToStartContainers", "status": "True", "lastTransitionTime": "2025-06-01T12:00:03Z"},
            {"type": "Initialized", "status": "True", "lastTransitionTime": "2025-06-01T12:00:04Z"},
            {"type": "Ready", "status": "False", "reason": "ContainersNotReady", "lastTransitionTime": None},
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2025-06-01T12:00:01Z"},
        ],
        "hostIP": "10.0.0.4",
        "podIP": "10.244.0.17",
        "qosClass": "Burstable",
        "startTime": "2025-06-01T12:00:01Z",
    }
    if init is not None:
        status["initContainerStatuses"] = [
            {
                "name": "fetch-pack",
                "image": "registry.example/shell:1",
                "imageID": "",
                "ready": False,
                "restartCount": 0,
                "started": False,
                "lastState": {},
                "state": init,
            }
        ]
    if runner is not None:
        status["containerStatuses"] = [
            {
                "name": "runner",
                "image": "registry.example/shell:1",
                "imageID": "",
                "ready": False,
                "restartCount": 0,
                "started": False,
                "lastState": {},
                "state": runner,
            }
        ]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": POD_NAME,
            "generateName": f"{JOB_NAME}-",
            "namespace": "automation",
            "labels": {
                **LABELS,
                "batch.kubernetes.io/controller-uid": "0d9c6f1e-7b55-4b8a-8f7e-2a4c1e9d3b70",
                "batch.kubernetes.io/job-name": JOB_NAME,
                "controller-uid": "0d9c6f1e-7b55-4b8a-8f7e-2a4c1e9d3b70",
                "job-name": JOB_NAME,
            },
            "ownerReferences": [
                {
                    "apiVersion": "batch/v1",
                    "kind": "Job",
                    "name": JOB_NAME,
                    "uid": "0d9c6f1e-7b55-4b8a-8f7e-2a4c1e9d3b70",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": {"restartPolicy": "Never"},
        "status": status,
    }


FETCHED = {
    "terminated": {
        "exitCode": 0,
        "reason": "Completed",
        "startedAt": "2025-06-01T12:00:02Z",
        "finishedAt": "2025-06-01T12:00:03Z",
        "containerID": "containerd://5e1f",
    }
}
PULL_MESSAGE = (
    'failed to pull and unpack image "registry.example/nope:1": failed to resolve reference '
    '"registry.example/nope:1": registry.example/nope:1: not found'
)
PULL_FAILED = {"waiting": {"reason": "ErrImagePull", "message": PULL_MESSAGE}}
PODINIT = {"waiting": {"reason": "PodInitializing"}}
UNSCHEDULABLE_MESSAGE = (
    "0/1 nodes are available: 1 Insufficient memory. preemption: 0/1 nodes are available: "
    "1 No preemption victims found for incoming pod."
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            pod("Running", init=FETCHED, runner={"running": {"startedAt": "2025-06-01T12:00:04Z"}}),
            PodState(POD_NAME, JOB_NAME, "Running"),
        ),
        (
            pod("Pending", init=FETCHED, runner=PULL_FAILED),
            PodState(POD_NAME, JOB_NAME, "Pending", waiting_reason="ErrImagePull", waiting_message=PULL_MESSAGE),
        ),
        (
            pod("Pending", init=PULL_FAILED, runner=PODINIT),
            PodState(POD_NAME, JOB_NAME, "Pending", waiting_reason="ErrImagePull", waiting_message=PULL_MESSAGE),
        ),
        (
            pod(
                "Pending",
                init={"waiting": {"reason": "ImagePullBackOff", "message": 'Back-off pulling image "nope:1"'}},
                runner=PODINIT,
            ),
            PodState(
                POD_NAME,
                JOB_NAME,
                "Pending",
                waiting_reason="ImagePullBackOff",
                waiting_message='Back-off pulling image "nope:1"',
            ),
        ),
        (
            pod(
                "Pending",
                init=FETCHED,
                runner={
                    "waiting": {
                        "reason": "CreateContainerConfigError",
                        "message": 'secret "api" not found',
                    }
                },
            ),
            PodState(
                POD_NAME,
                JOB_NAME,
                "Pending",
                waiting_reason="CreateContainerConfigError",
                waiting_message='secret "api" not found',
            ),
        ),
        (
            pod("Pending", init=FETCHED, runner={"waiting": {"reason": "ContainerCreating"}}),
            PodState(POD_NAME, JOB_NAME, "Pending"),
        ),
        (
            pod("Pending", init={"running": {"startedAt": "2025-06-01T12:00:02Z"}}, runner=PODINIT),
            PodState(POD_NAME, JOB_NAME, "Pending"),
        ),
    ],
    ids=[
        "running",
        "runner-err-image-pull",
        "init-err-image-pull",
        "init-image-pull-backoff",
        "config-error",
        "container-creating",
        "initializing",
    ],
)
def test_pod_waiting_reasons(raw: dict[str, Any], expected: PodState) -> None:
    """Waiting reasons of the runner or the init container are reported; benign ones are not."""
    assert pod_state(raw) == expected


def test_unschedulable_pod() -> None:
    """PodScheduled False/Unschedulable gives the time it became unschedulable and the scheduler's message."""
    raw = pod(
        "Pending",
        conditions=[
            {
                "type": "PodScheduled",
                "status": "False",
                "reason": "Unschedulable",
                "message": UNSCHEDULABLE_MESSAGE,
                "lastProbeTime": None,
                "lastTransitionTime": "2025-06-01T12:00:05Z",
            }
        ],
    )
    del raw["status"]["hostIP"], raw["status"]["podIP"], raw["status"]["startTime"]
    assert pod_state(raw) == PodState(
        POD_NAME,
        JOB_NAME,
        "Pending",
        unschedulable_since=datetime(2025, 6, 1, 12, 0, 5, tzinfo=UTC),
        unschedulable_message=UNSCHEDULABLE_MESSAGE,
    )


@pytest.mark.parametrize(("code", "phase"), [(0, "Succeeded"), (1, "Failed"), (137, "Failed")])
def test_runner_exit_code(code: int, phase: str) -> None:
    """A terminated runner container's exit code is read from its state."""
    terminated = {
        "terminated": {
            "exitCode": code,
            "reason": "Completed" if code == 0 else "Error",
            "startedAt": "2025-06-01T12:00:04Z",
            "finishedAt": "2025-06-01T12:00:40Z",
            "containerID": "containerd://9a3b",
        }
    }
    state = pod_state(pod(phase, init=FETCHED, runner=terminated))
    assert (state.phase, state.exit_code, state.init_failure) == (phase, code, None)


def test_init_container_failure() -> None:
    """A fetch-pack container that exited non-zero is an init failure naming the exit code and message."""
    failed = {
        "terminated": {
            "exitCode": 128,
            "reason": "Error",
            "message": "fatal: repository 'https://git.example/core.git/' not found\n",
            "startedAt": "2025-06-01T12:00:02Z",
            "finishedAt": "2025-06-01T12:00:03Z",
        }
    }
    state = pod_state(pod("Failed", init=failed, runner=PODINIT))
    assert state == PodState(
        POD_NAME,
        JOB_NAME,
        "Failed",
        init_failure="fetching the pack failed (exit code 128, fatal: repository 'https://git.example/core.git/' "
        "not found)",
    )


def test_init_failure_without_message() -> None:
    """Without a termination message the init failure names the exit code alone."""
    state = pod_state(pod("Failed", init={"terminated": {"exitCode": 1, "reason": "Error"}}, runner=PODINIT))
    assert state.init_failure == "fetching the pack failed (exit code 1)"


def test_pod_of_an_old_cluster_uses_the_job_name_label() -> None:
    """Pods labelled only with the legacy `job-name` label are still matched to their Job."""
    raw = pod("Running")
    del raw["metadata"]["labels"]["batch.kubernetes.io/job-name"]
    assert pod_state(raw).job == JOB_NAME


def test_pod_killed_at_its_deadline() -> None:
    """A pod the kubelet killed at its activeDeadlineSeconds (the runner's timeout) is Failed with
    reason DeadlineExceeded: deadline_exceeded, with the runner's exit code (SIGKILL)."""
    raw = pod(
        "Failed",
        init=FETCHED,
        runner={
            "terminated": {
                "exitCode": 137,
                "reason": "Error",
                "startedAt": "2025-06-01T12:00:04Z",
                "finishedAt": "2025-06-01T12:01:14Z",
                "containerID": "containerd://9a3b",
            }
        },
    )
    raw["status"]["reason"] = "DeadlineExceeded"
    raw["status"]["message"] = "Pod was active on the node longer than the specified deadline"
    assert pod_state(raw) == PodState(POD_NAME, JOB_NAME, "Failed", exit_code=137, deadline_exceeded=True)
    assert pod_state(pod("Failed", init=FETCHED, runner=PODINIT)).deadline_exceeded is False


def foreign(**changes: Any) -> dict[str, Any]:
    """RUNNING_JOB with some labels or owner references changed."""
    out = copy.deepcopy(RUNNING_JOB)
    meta = out["metadata"]
    meta["labels"].update(changes.get("labels", {}))
    if "owners" in changes:
        meta["ownerReferences"] = changes["owners"]
    return out


OTHER_PACK_OWNER = [{**RUNNING_JOB["metadata"]["ownerReferences"][0], "uid": "1e2d3c4b-0000-4000-8000-000000000000"}]


@pytest.mark.parametrize(
    ("job", "expected"),
    [
        (RUNNING_JOB, None),
        (
            foreign(labels={"packgate.dev/execution": "ffffffffff"}),
            "its packgate.dev/execution label is 'ffffffffff', not 'a1b2c3d4e5'",
        ),
        (foreign(labels={"packgate.dev/runner": "python"}), "its packgate.dev/runner label is 'python', not 'shell'"),
        (
            foreign(owners=OTHER_PACK_OWNER),
            f"it is not owned by this Pack (uid {LABELS['packgate.dev/pack-uid']})",
        ),
        (foreign(owners=[]), f"it is not owned by this Pack (uid {LABELS['packgate.dev/pack-uid']})"),
        (
            {"metadata": {"name": JOB_NAME, "labels": {"app": "unrelated"}}},
            "its packgate.dev/execution label is None, not 'a1b2c3d4e5'; its packgate.dev/runner label is None, "
            f"not 'shell'; it is not owned by this Pack (uid {LABELS['packgate.dev/pack-uid']})",
        ),
        (None, "it was gone when read back"),
    ],
    ids=["ours", "other-execution", "other-runner", "other-owner", "no-owner", "not-labelled", "gone"],
)
def test_an_existing_job_is_adopted_only_if_it_is_this_executions(
    job: dict[str, Any] | None, expected: str | None
) -> None:
    """After a conflict on creating a runner's Job, the existing Job is adopted only when it carries
    the execution's and the runner's labels and the Pack owns it; otherwise the reason says why."""
    problem = job_mismatch(
        job, name=JOB_NAME, pack_uid=LABELS["packgate.dev/pack-uid"], execution="a1b2c3d4e5", runner="shell"
    )
    head = f"a Job named {JOB_NAME} already exists and is not this execution's: "
    assert problem == (None if expected is None else head + expected)
