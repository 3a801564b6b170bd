"""Observed state: raw Job and Pod dicts from the API server become typed, minimal states.

Owns: reading Job conditions, pod phases, container states, deadlines and scheduling failures, and
telling whether an existing Job is the one a runner of an execution would create.  Pure.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from packgate.reconcile.plan import JobState, PodState
from packgate.reconcile.render import (
    FETCH_CONTAINER,
    LABEL_EXECUTION,
    LABEL_RUNNER,
    RUNNER_CONTAINER,
)


def job_state(job: dict[str, Any]) -> JobState:
    meta = job.get("metadata", {})
    labels = meta.get("labels") or {}
    status = job.get("status") or {}
    finished = failed = False
    reason = message = None
    for cond in status.get("conditions") or []:
        if cond.get("status") != "True":
            continue
        if cond.get("type") == "Complete":
            finished = True
        elif cond.get("type") == "Failed":
            finished = failed = True
            reason, message = cond.get("reason"), cond.get("message")
    return JobState(
        name=meta.get("name", ""),
        runner=labels.get(LABEL_RUNNER, ""),
        execution=labels.get(LABEL_EXECUTION, ""),
        finished=finished,
        failed=failed,
        reason=reason,
        message=message,
    )


def _time(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def pod_state(pod: dict[str, Any]) -> PodState:
    meta = pod.get("metadata", {})
    labels = meta.get("labels") or {}
    status = pod.get("status") or {}
    job = labels.get("batch.kubernetes.io/job-name") or labels.get("job-name") or ""
    waiting_reason = waiting_message = None
    exit_code = None
    init_failure = None
    for cs in status.get("initContainerStatuses") or []:
        state = cs.get("state") or {}
        if state.get("waiting") and state["waiting"].get("reason") not in (None, "PodInitializing"):
            waiting_reason, waiting_message = state["waiting"].get("reason"), state["waiting"].get("message")
        term = state.get("terminated")
        if cs.get("name") == FETCH_CONTAINER and term and term.get("exitCode", 0) != 0:
            init_failure = (
                f"fetching the pack failed (exit code {term.get('exitCode')}"
                f"{', ' + term['message'].strip() if term.get('message') else ''})"
            )
    for cs in status.get("containerStatuses") or []:
        state = cs.get("state") or {}
        if state.get("waiting") and state["waiting"].get("reason") not in (
            None,
            "ContainerCreating",
            "PodInitializing",
        ):
            waiting_reason, waiting_message = state["waiting"].get("reason"), state["waiting"].get("message")
        if cs.get("name") == RUNNER_CONTAINER and state.get("terminated"):
            exit_code = state["terminated"].get("exitCode")
    unschedulable_since = unschedulable_message = None
    for cond in status.get("conditions") or []:
        if (
            cond.get("type") == "PodScheduled"
            and cond.get("status") == "False"
            and cond.get("reason") == "Unschedulable"
        ):
            unschedulable_since = _time(cond.get("lastTransitionTime"))
            unschedulable_message = cond.get("message")
    return PodState(
        name=meta.get("name", ""),
        job=job,
        phase=status.get("phase", "Pending"),
        waiting_reason=waiting_reason,
        waiting_message=waiting_message,
        unschedulable_since=unschedulable_since,
        unschedulable_message=unschedulable_message,
        exit_code=exit_code,
        init_failure=init_failure,
        # The kubelet's reason for a pod killed at its activeDeadlineSeconds (the runner's timeout).
        deadline_exceeded=status.get("reason") == "DeadlineExceeded",
    )


def is_active(job: dict[str, Any]) -> bool:
    """A Job that still holds a concurrency slot: neither complete nor failed."""
    return not job_state(job).finished


def job_mismatch(job: dict[str, Any] | None, *, name: str, pack_uid: str, execution: str, runner: str) -> str | None:
    """Why the existing Job called `name` (found when creating it failed with a conflict) is not the
    Job of `runner` in `execution` of the Pack `pack_uid`; None when it is (labelled with that
    execution and runner, and owned by that Pack), so it can be adopted.  `job` is None when the
    Job could not be read back (deleted right after the conflict)."""
    head = f"a Job named {name} already exists and is not this execution's"
    if job is None:
        return f"{head}: it was gone when read back"
    meta = job.get("metadata") or {}
    labels = meta.get("labels") or {}
    problems = []
    if labels.get(LABEL_EXECUTION) != execution:
        problems.append(f"its {LABEL_EXECUTION} label is {labels.get(LABEL_EXECUTION)!r}, not {execution!r}")
    if labels.get(LABEL_RUNNER) != runner:
        problems.append(f"its {LABEL_RUNNER} label is {labels.get(LABEL_RUNNER)!r}, not {runner!r}")
    owners = [ref.get("uid") for ref in meta.get("ownerReferences") or []]
    if pack_uid not in owners:
        problems.append(f"it is not owned by this Pack (uid {pack_uid})")
    return f"{head}: {'; '.join(problems)}" if problems else None
