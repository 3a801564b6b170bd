"""Unit tests of packgate.reconcile.plan: from an observed Pack to its status, actions and events.

Observed states are built by hand (tests/unit/builders.py) and driven through the real planner.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from builders import (
    NONCE,
    NOW,
    PYTHON,
    SHELL,
    concluded,
    job,
    later,
    observed,
    passing,
    pod,
    running_status,
    spec_of,
    suite,
)

from packgate.api.spec import PackSpec
from packgate.api.status import (
    CollectedSuite,
    Condition,
    CurrentExecution,
    ExecutionSummary,
    PackStatus,
    Phase,
    RunnerError,
    Trigger,
    merge_conditions,
    only_jobs_seen_grew,
    only_queue_position_moved,
    timestamp,
)
from packgate.reconcile.depends import PackNode
from packgate.reconcile.digest import CachedExecution
from packgate.reconcile.plan import (
    CacheLookup,
    Collect,
    Event,
    JobState,
    Observed,
    Plan,
    Slots,
    conclude,
    conditions,
    plan,
    reads,
    started,
    suite_reason,
    summary_columns,
    timeout_suite,
    with_collected,
)
from packgate.reconcile.queue import Waiting
from packgate.reconcile.render import job_name
from packgate.results import RunStatus, TestSuiteResult, combine
from packgate.wrapper import new_collector

pytestmark = pytest.mark.unit

SPEC = spec_of()


def cond(status: PackStatus, type_: str) -> tuple[str, str]:
    found = status.condition(type_)
    assert found is not None, f"no {type_} condition"
    return found.status, found.reason


def reasons(events: list[Event]) -> list[tuple[str, str]]:
    return [(e.type, e.reason) for e in events]


def run_to_end(
    spec: PackSpec, suites: dict[str, TestSuiteResult], status: PackStatus
) -> tuple[PackStatus, list[Event]]:
    """Every runner's Job finished; the planner asks to collect, then conclude decides."""
    obs = observed(spec, status=status, now=NOW + timedelta(seconds=40))
    finished = [job(status, name, finished=True) for name in suites]
    obs = later(obs, 0, jobs=finished)
    need = reads(obs)
    assert need.concluding
    assert {c.runner for c in need.collect} == set(suites)
    result = plan(later(obs, 0, collected=suites))
    assert result.record is not None
    return result.status, result.events


def admitted(result: Plan) -> CurrentExecution | None:
    """The execution this plan admitted (its Jobs to be created), if any."""
    return result.status.current_execution if result.admitted else None


FULL = Slots({"elsewhere": 4}, [], global_limit=4, namespace_limit=4)
"""Every slot taken (by Jobs of another namespace)."""


# -- starting ----------------------------------------------------------------------------------


def test_new_pack_starts_an_install_execution() -> None:
    """A new Pack with free slots gets an install execution, admitted at once: phase Testing, a Job
    to create per runner, its slots reserved (`admitted`), TestsStarted."""
    result = plan(observed(SPEC))
    current = admitted(result)
    assert current is not None
    assert (current.trigger, current.version, current.runners) == (Trigger.INSTALL, "1.0.0", ["shell", "python"])
    assert (current.queued_at, current.started_at) == (timestamp(NOW), timestamp(NOW))
    assert current.nonce != ""
    assert (result.create_jobs, result.admitted) == (["shell", "python"], 2)
    assert result.status.phase is Phase.TESTING
    assert reasons(result.events) == [("Normal", "TestsStarted")]
    assert cond(result.status, "Reconciling") == ("True", "Testing")
    assert cond(result.status, "Active") == ("False", "AwaitingTests")
    assert cond(result.status, "Tested") == ("False", "Running")


def test_new_pack_behind_the_limits_is_queued() -> None:
    """Every slot taken: the install execution is written Queued, with no Job and no reservation."""
    result = plan(dataclasses.replace(observed(SPEC), slots=FULL))
    current = result.status.current_execution
    assert current is not None and current.started_at is None
    assert (result.create_jobs, result.admitted, result.events) == ([], 0, [])
    assert result.status.phase is Phase.QUEUED
    assert cond(result.status, "Reconciling") == ("True", "Queued")
    assert cond(result.status, "Active") == ("False", "AwaitingTests")
    assert cond(result.status, "Ready") == ("False", "AwaitingTests")
    assert cond(result.status, "Stalled") == ("False", "NotStalled")
    assert cond(result.status, "Tested") == ("False", "Pending")


def test_started_execution_is_testing() -> None:
    """Once admitted: phase Testing, TestsStarted event, currentExecution.startedAt = now, nonce kept."""
    obs = dataclasses.replace(observed(SPEC), slots=FULL)
    start = plan(obs).status.current_execution
    assert start is not None
    status, events = started(later(obs, 3), SPEC, start.model_copy(update={"nonce": NONCE}))
    assert status.phase is Phase.TESTING
    assert status.current_execution is not None
    assert status.current_execution.started_at == timestamp(NOW + timedelta(seconds=3))
    assert status.current_execution.nonce == NONCE
    assert cond(status, "Reconciling") == ("True", "Testing")
    assert cond(status, "Tested") == ("False", "Running")
    assert events == [
        Event("Normal", "TestsStarted", "Testing version 1.0.0 (install) with runners shell, python"),
    ]


def test_queued_execution_is_admitted_once_a_slot_frees() -> None:
    """An execution written as queued stays queued, unchanged, while the slots are taken, and is
    admitted (the same execution) once they free."""
    first = plan(dataclasses.replace(observed(SPEC), slots=FULL))
    queued_obs = observed(SPEC, status=first.status, now=NOW + timedelta(seconds=30))
    again = plan(dataclasses.replace(queued_obs, slots=FULL))
    assert again.status.current_execution == first.status.current_execution
    assert (again.create_jobs, again.admitted) == ([], 0)
    freed = plan(queued_obs)
    current, queued = admitted(freed), first.status.current_execution
    assert current is not None and queued is not None
    assert (current.id, current.queued_at) == (queued.id, queued.queued_at)
    assert freed.create_jobs == ["shell", "python"]


def test_queued_behind_the_limits_shows_its_position() -> None:
    """An execution held back by the concurrency limits: Queued with its queue position (behind the
    older waiting executions) in status and message."""
    older = [Waiting(f"2000-01-01T00:00:0{i}Z", f"uid-{i}", "other", 1) for i in range(2)]
    slots = Slots({"other": 4}, older, global_limit=4, namespace_limit=4)
    status = plan(dataclasses.replace(observed(SPEC), slots=slots)).status
    assert (status.phase, status.queue_position) == (Phase.QUEUED, 3)
    assert status.message == "version 1.0.0 queued for testing (install) (position 3 in the queue)"
    assert cond(status, "Reconciling") == ("True", "Queued")


def test_a_queued_pack_one_place_further_on_only_moved_its_position() -> None:
    """The write the executor may hold back (only_queue_position_moved): the same queued execution
    one place further on; not a first queueing, not the same position, not an admission."""
    older = [Waiting(f"2000-01-01T00:00:0{i}Z", f"uid-{i}", "other", 1) for i in range(3)]
    behind = plan(dataclasses.replace(observed(SPEC), slots=Slots({"other": 4}, older, 4, 4))).status
    obs = observed(SPEC, status=behind, now=NOW + timedelta(seconds=5))
    closer = plan(dataclasses.replace(obs, slots=Slots({"other": 4}, older[1:], 4, 4))).status
    assert (behind.queue_position, closer.queue_position) == (4, 3)
    assert only_queue_position_moved(behind, closer)
    assert not only_queue_position_moved(behind, behind)
    assert not only_queue_position_moved(observed(SPEC).status, behind)
    assert not only_queue_position_moved(behind, plan(obs).status)  # admitted: Testing
    assert not only_queue_position_moved(behind, closer.model_copy(update={"observed_generation": 9}))


def test_a_testing_pack_that_only_found_its_jobs_only_grew_jobs_seen() -> None:
    """The write the executor may hold back while its own Jobs are on the way (only_jobs_seen_grew):
    runners added to jobsSeen of the same execution, nothing else."""
    testing = plan(observed(SPEC)).status
    current = testing.current_execution
    assert current is not None and current.started_at is not None

    def seen(*runners: str, **changes: str) -> PackStatus:
        return testing.model_copy(
            update={"current_execution": current.model_copy(update={"jobs_seen": list(runners), **changes})}
        )

    assert only_jobs_seen_grew(testing, seen("shell"))
    assert only_jobs_seen_grew(seen("shell"), seen("shell", "python"))
    assert not only_jobs_seen_grew(seen("shell"), seen("shell"))
    assert not only_jobs_seen_grew(seen("shell", "python"), seen("shell"))
    assert not only_jobs_seen_grew(testing, seen("shell", id="another"))
    assert not only_jobs_seen_grew(testing, seen("shell").model_copy(update={"message": "changed"}))
    assert not only_jobs_seen_grew(observed(SPEC).status, testing)


def test_the_nonce_is_derived_from_the_secret_and_the_execution() -> None:
    """The nonce of an admitted execution is the same for the same secret and execution (two
    replicas agree) and differs with the secret."""
    one = admitted(plan(dataclasses.replace(observed(SPEC), nonce_secret="a")))
    same = admitted(plan(dataclasses.replace(observed(SPEC), nonce_secret="a")))
    other = admitted(plan(dataclasses.replace(observed(SPEC), nonce_secret="b")))
    assert one is not None and same is not None and other is not None
    assert one.nonce == same.nonce != other.nonce


def test_running_execution_without_jobs_creates_them() -> None:
    """A started execution whose Jobs do not exist yet creates a Job per runner and rechecks soon."""
    result = plan(observed(SPEC, status=running_status(SPEC)))
    assert result.create_jobs == ["shell", "python"]
    assert result.admitted == 0 and result.delete_jobs == [] and result.record is None
    assert result.status.phase is Phase.TESTING
    assert result.requeue_after == 5.0


def test_running_jobs_wait() -> None:
    """Jobs that run (pods Running) need nothing: no create, no collect, still Testing; the status
    notes that their Jobs were seen (jobsSeen)."""
    status = running_status(SPEC)
    jobs = [job(status, "shell"), job(status, "python")]
    obs = observed(SPEC, status=status, jobs=jobs, pods=[pod(j) for j in jobs])
    result = plan(obs)
    assert (result.create_jobs, reads(obs).collect, result.delete_jobs) == ([], [], [])
    assert result.status.phase is Phase.TESTING
    assert status.current_execution is not None
    assert result.status.current_execution == status.current_execution.model_copy(
        update={"jobs_seen": ["shell", "python"]}
    )


def test_a_job_that_ends_is_collected_at_once() -> None:
    """A runner whose Job ended is read at once, while the others still run (its Job may be removed
    by ttlSecondsAfterFinished before they end); the execution does not conclude yet, and the status
    keeps its startedAt."""
    status = running_status(SPEC)
    shell, python = job(status, "shell", finished=True), job(status, "python")
    pods = [pod(shell, phase="Succeeded", exit_code=0), pod(python)]
    obs = observed(SPEC, status=status, jobs=[shell, python], pods=pods, now=NOW + timedelta(seconds=60))
    need = reads(obs)
    assert need.collect == [
        Collect(runner="shell", runner_type="script", job=shell.name, pod=pods[0].name, exit_code=0)
    ]
    result = plan(later(obs, 0, collected={"shell": suite("shell", "script", 2)}))
    assert (need.concluding, result.record, result.create_jobs) == (False, None, [])
    assert result.status.phase is Phase.TESTING
    assert result.status.current_execution is not None
    assert result.status.current_execution.started_at == timestamp(NOW)


def ended_early(spec: PackSpec = SPEC, shell: TestSuiteResult | None = None) -> tuple[PackStatus, Observed]:
    """shell's Job ended while python's runs: the planner asked to read shell, and the status is
    what the plan made of it (`with_collected`)."""
    status = running_status(spec)
    jobs = [job(status, "shell", finished=True), job(status, "python")]
    pods = [pod(jobs[0], phase="Succeeded", exit_code=0), pod(jobs[1])]
    obs = observed(spec, status=status, jobs=jobs, pods=pods, now=NOW + timedelta(seconds=20))
    assert [c.runner for c in reads(obs).collect] == ["shell"]
    read = shell if shell is not None else suite("shell", "script", 2, 1)
    result = plan(later(obs, 0, collected={"shell": read}))
    assert result.status == with_collected(obs, result.status, {"shell": read})
    return result.status, obs


def test_a_collected_result_is_kept_compactly_in_status() -> None:
    """What was read of a runner that ended early is kept in currentExecution.collected: its
    counts, status and first failing tests; its Job is no longer awaited (jobsSeen)."""
    status, _ = ended_early()
    current = status.current_execution
    assert current is not None
    assert current.collected == [
        CollectedSuite(
            name="shell",
            type="script",
            status="partial",
            total=3,
            passed=2,
            failed=1,
            duration_ms=10,
            exit_code=1,
            failing_tests=["test_bad_0"],
        )
    ]
    assert current.jobs_seen == ["python"]


def test_a_collected_runner_whose_job_was_removed_is_not_run_again() -> None:
    """The bug: a finished Job removed by ttlSecondsAfterFinished before the execution concluded was
    created and run again.  Once its result is collected, its Job may go: nothing is created, no
    error; the execution concludes with the collected result when the other runner ends."""
    status, obs = ended_early()
    python = job(status, "python")
    gone = later(obs, 30, status=status, jobs=[python], pods=[pod(python)])
    result = plan(gone)
    assert (result.create_jobs, result.events, reads(gone).collect, result.record) == ([], [], [], None)
    assert result.status.current_execution is not None
    assert result.status.current_execution.runner_errors == {}

    done = job(status, "python", finished=True)
    ended = later(gone, 30, status=result.status, jobs=[done], pods=[pod(done, phase="Succeeded", exit_code=0)])
    need = reads(ended)
    assert need.concluding
    assert [c.runner for c in need.collect] == ["python"]
    last_plan = plan(later(ended, 0, collected={"python": suite("python", "pytest", 3)}))
    assert last_plan.record is not None
    new, outcome = last_plan.status, last_plan.record.result
    assert new.last_execution is not None
    assert [(s.name, s.status, s.passed, s.failed, s.reason) for s in new.last_execution.suites] == [
        ("shell", "partial", 2, 1, None),
        ("python", "passed", 3, 0, None),
    ]
    assert new.last_execution.failing_tests == ["shell: test_bad_0"]
    assert (outcome.passed, outcome.failed) == (5, 1)


def test_collected_runners_are_read_again_for_detail_while_their_logs_exist() -> None:
    """When the last runner ends, the runners collected earlier are read again (`detail`) while
    their pods exist, so the record keeps every test case; the summary stands if that fails."""
    status, obs = ended_early()
    shell, python = job(status, "shell", finished=True), job(status, "python", finished=True)
    pods = [pod(shell, phase="Succeeded", exit_code=0), pod(python, phase="Succeeded", exit_code=0)]
    need = reads(later(obs, 30, status=status, jobs=[shell, python], pods=pods))
    assert need.concluding
    assert need.collect == [
        Collect(runner="python", runner_type="pytest", job=python.name, pod=pods[1].name, exit_code=0),
        Collect(runner="shell", runner_type="script", job=shell.name, pod=pods[0].name, exit_code=0, detail=True),
    ]


def test_a_collected_summary_keeps_the_count_of_failing_tests_it_left_out() -> None:
    """A runner concluded from its collected summary still counts every failing test in
    failingTestsOmitted, though the summary names only the first ones."""
    status, obs = ended_early(shell=suite("shell", "script", 1, 25))
    current = status.current_execution
    assert current is not None
    assert (len(current.collected[0].failing_tests), current.collected[0].failing_tests_omitted) == (10, 15)
    new, _, _, _ = conclude(
        later(obs, 60, status=status, jobs=[], pods=[]), SPEC, {"python": suite("python", "pytest", 3)}
    )
    assert new.last_execution is not None
    assert (new.last_execution.failed, len(new.last_execution.failing_tests)) == (25, 10)
    assert new.last_execution.failing_tests_omitted == 15


def test_a_job_removed_before_its_result_was_read_is_a_runner_error() -> None:
    """A runner's Job seen running, then gone before its result was read (deleted, or removed by
    its TTL before the operator read it), is runner error JobRemoved: never created again."""
    status = running_status(SPEC)
    shell, python = job(status, "shell"), job(status, "python")
    seen = plan(observed(SPEC, status=status, jobs=[shell, python], pods=[pod(shell), pod(python)]))
    result = plan(observed(SPEC, status=seen.status, jobs=[python], pods=[pod(python)], now=NOW + timedelta(seconds=9)))
    assert result.create_jobs == []
    current = result.status.current_execution
    assert current is not None
    assert current.runner_errors["shell"].model_dump() == {
        "reason": "JobRemoved",
        "message": f"the Job {shell.name} was removed before its result was read",
    }
    assert reasons(result.events) == [("Warning", "RunnerError")]
    assert current.jobs_seen == ["python"]


def test_all_jobs_finished_collects_every_runner() -> None:
    """When every runner's Job finished: collect each with its Job, pod and runner exit code."""
    status = running_status(SPEC)
    shell, python = job(status, "shell", finished=True), job(status, "python", finished=True, failed=True)
    pods = [pod(shell, phase="Succeeded", exit_code=0), pod(python, phase="Failed", exit_code=1)]
    obs = observed(SPEC, status=status, jobs=[shell, python], pods=pods)
    assert reads(obs).collect == [
        Collect(runner="shell", runner_type="script", job=shell.name, pod=pods[0].name, exit_code=0),
        Collect(runner="python", runner_type="pytest", job=python.name, pod=pods[1].name, exit_code=1),
    ]
    assert plan(obs).delete_jobs == []


# -- prompt runner failures ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("waiting", "reason"),
    [
        ("ErrImagePull", "ImagePullFailed"),
        ("ImagePullBackOff", "ImagePullFailed"),
        ("InvalidImageName", "ImagePullFailed"),
        ("CreateContainerConfigError", "ConfigError"),
    ],
)
def test_fatal_waiting_reason_is_a_runner_error(waiting: str, reason: str) -> None:
    """A pod stuck on ErrImagePull (etc.) is a runner error at once: its Job is deleted, RunnerError event."""
    status = running_status(SPEC)
    shell, python = job(status, "shell"), job(status, "python")
    stuck = pod(shell, phase="Pending", waiting_reason=waiting, waiting_message='image "nope:1" not found')
    obs = observed(SPEC, status=status, jobs=[shell, python], pods=[stuck, pod(python)])
    result = plan(obs)
    current = result.status.current_execution
    assert current is not None
    error = current.runner_errors["shell"]
    assert (error.reason, error.message) == (reason, f'{waiting}: image "nope:1" not found')
    assert result.delete_jobs == [shell.name]
    assert reasons(result.events) == [("Warning", "RunnerError")]
    assert reads(obs).collect == []  # python still runs


def test_image_pull_failure_of_every_runner_ends_the_execution() -> None:
    """When every runner errored there is nothing to collect, but the execution ends (conclude)."""
    status = running_status(SPEC)
    jobs = [job(status, "shell"), job(status, "python")]
    pods = [pod(j, phase="Pending", waiting_reason="ErrImagePull") for j in jobs]
    obs = observed(SPEC, status=status, jobs=jobs, pods=pods)
    assert (reads(obs).concluding, reads(obs).collect) == (True, [])
    result = plan(obs)
    assert result.record is not None
    new, allowed = result.status, result.record.allowed
    assert (new.phase, allowed) == (Phase.ERROR, False)
    assert cond(new, "Active") == ("False", "TestError")
    assert new.last_execution is not None
    assert [s.reason for s in new.last_execution.suites] == ["ImagePullFailed", "ImagePullFailed"]
    assert cond(new, "Stalled") == ("True", "ImagePullFailed")


def test_runner_error_is_kept_once_the_job_is_gone() -> None:
    """After its Job was deleted, an errored runner is not created again; the others still count."""
    status = running_status(SPEC)
    shell, python = job(status, "shell"), job(status, "python")
    stuck = pod(shell, phase="Pending", waiting_reason="ErrImagePull")
    first = plan(observed(SPEC, status=status, jobs=[shell, python], pods=[stuck]))
    second = plan(observed(SPEC, status=first.status, jobs=[python], now=NOW + timedelta(seconds=5)))
    assert second.create_jobs == []
    assert second.events == []
    done = later(observed(SPEC, status=first.status), 60, jobs=[job(status, "python", finished=True)])
    assert [c.runner for c in reads(done).collect] == ["python"]


@pytest.mark.parametrize(("waited", "error"), [(10, None), (25, "Unschedulable")])
def test_unschedulable_beyond_grace(waited: int, error: str | None) -> None:
    """An unschedulable pod is a runner error only after the grace period (20 s by default)."""
    status = running_status(SPEC)
    shell, python = job(status, "shell"), job(status, "python")
    pending = pod(
        shell,
        phase="Pending",
        unschedulable_since=NOW,
        unschedulable_message="0/1 nodes are available: 1 Insufficient memory.",
    )
    result = plan(
        observed(SPEC, status=status, jobs=[shell, python], pods=[pending], now=NOW + timedelta(seconds=waited))
    )
    current = result.status.current_execution
    assert current is not None
    got = current.runner_errors.get("shell")
    assert (got.reason if got else None) == error
    if got is not None:
        assert "unschedulable for 25s: 0/1 nodes are available: 1 Insufficient memory." in got.message
        assert result.delete_jobs == [shell.name]


def test_deadline_exceeded_is_a_timeout() -> None:
    """A Job that failed with DeadlineExceeded (its pod did not end by the Job's later deadline) is
    runner error Timeout naming the runner's timeout and the Job's message."""
    status = running_status(SPEC)
    late = job(
        status,
        "shell",
        finished=True,
        failed=True,
        reason="DeadlineExceeded",
        message="Job was active longer than specified deadline",
    )
    result = plan(observed(SPEC, status=status, jobs=[late, job(status, "python")]))
    current = result.status.current_execution
    assert current is not None
    assert current.runner_errors["shell"].model_dump() == {
        "reason": "Timeout",
        "message": "timed out after 300s; its pod did not end in time for its log to be read "
        "(Job was active longer than specified deadline)",
    }


SLOW = spec_of(runners=[{**SHELL, "timeout": "60s"}])
SLOW_LOG = [
    "collected 3 items\n",
    "tests/test_actions.py::test_fast PASSED\n",
    "tests/test_actions.py::test_slow_thing \n",
]


def test_a_runner_killed_at_its_timeout_is_read_and_quoted() -> None:
    """The pod's own deadline is the runner's timeout: the kubelet kills it (Failed,
    DeadlineExceeded) and it keeps its log.  The planner collects it like any ended runner, the
    error says `timed out after 60s; last lines: ...`, and the reason stays Timeout."""
    status = running_status(SLOW)
    failed = job(status, "shell", finished=True, failed=True, reason="BackoffLimitExceeded")
    killed = pod(failed, phase="Failed", exit_code=137, deadline_exceeded=True)
    obs = observed(SLOW, status=status, jobs=[failed], pods=[killed], now=NOW + timedelta(seconds=75))
    need = reads(obs)
    assert need.concluding
    item = Collect(runner="shell", runner_type="script", job=failed.name, pod=killed.name, exit_code=137, timeout=60)
    assert need.collect == [item]
    collector = new_collector(NONCE, name="shell", runner_type="script", result_format="auto", result_path=None)
    for line in SLOW_LOG:
        collector.feed(line)
    read = timeout_suite(item, collector.tail.lines())
    assert read.error == (
        'timed out after 60s; last lines: "collected 3 items" | "tests/test_actions.py::test_fast PASSED" | '
        '"tests/test_actions.py::test_slow_thing"'
    )
    result = plan(later(obs, 0, collected={"shell": read}))
    new = result.status
    assert new.last_execution is not None and result.record is not None
    [shell] = new.last_execution.suites
    assert (shell.reason, shell.error, shell.exit_code) == ("Timeout", read.error, 137)
    assert (result.record.allowed, cond(new, "Stalled")) == (False, ("True", "Timeout"))


def test_a_runner_that_timed_out_early_keeps_reason_timeout_in_its_collected_summary() -> None:
    """A runner killed at its deadline while another still runs is collected at once; its summary
    says Timeout, and so does the concluded execution if its Job is gone by then."""
    spec = spec_of(runners=[{**SHELL, "timeout": "60s"}, PYTHON])
    status = running_status(spec)
    failed, python = job(status, "shell", finished=True, failed=True), job(status, "python")
    killed = pod(failed, phase="Failed", exit_code=137, deadline_exceeded=True)
    obs = observed(spec, status=status, jobs=[failed, python], pods=[killed, pod(python)])
    [item] = reads(obs).collect
    assert item.timeout == 60
    kept = plan(later(obs, 0, collected={"shell": timeout_suite(item, ["test_slow_thing"])})).status
    assert kept.current_execution is not None
    assert [(s.reason, s.error) for s in kept.current_execution.collected] == [
        ("Timeout", 'timed out after 60s; last lines: "test_slow_thing"')
    ]
    done = job(status, "python", finished=True)
    new, _, _, _ = conclude(
        later(obs, 90, status=kept, jobs=[done], pods=[]), spec, {"python": suite("python", "pytest", 3)}
    )
    assert new.last_execution is not None
    assert [s.reason for s in new.last_execution.suites] == ["Timeout", None]


def test_a_pod_killed_at_its_deadline_before_the_runner_started_is_a_timeout() -> None:
    """Killed at its deadline while fetching the pack or pulling the image: Timeout at once, not
    SourceFetchFailed, and no log to read."""
    status = running_status(SLOW)
    failed = job(status, "shell", finished=True, failed=True, reason="BackoffLimitExceeded")
    killed = pod(
        failed,
        phase="Failed",
        deadline_exceeded=True,
        init_failure="fetching the pack failed (exit code 137)",
    )
    obs = observed(SLOW, status=status, jobs=[failed], pods=[killed])
    assert reads(obs).collect == []
    result = plan(obs)
    assert result.status.last_execution is not None
    [shell] = result.status.last_execution.suites
    assert (shell.reason, shell.error) == (
        "Timeout",
        "Timeout: timed out after 60s before the runner started (fetching the pack failed (exit code 137))",
    )


def test_fetch_failure_is_a_runner_error() -> None:
    """An init container that could not fetch the pack is SourceFetchFailed."""
    status = running_status(SPEC)
    shell = job(status, "shell")
    broken = pod(shell, phase="Failed", init_failure="fetching the pack failed (exit code 128)")
    result = plan(observed(SPEC, status=status, jobs=[shell, job(status, "python")], pods=[broken]))
    current = result.status.current_execution
    assert current is not None
    assert current.runner_errors["shell"].reason == "SourceFetchFailed"


# -- concluding --------------------------------------------------------------------------------


def test_passing_suites_activate_the_version() -> None:
    """All tests pass: Passed, Tested True, Active True TestsPassed, activeVersion set, Ready, not Stalled."""
    new, events = run_to_end(SPEC, passing(SPEC), running_status(SPEC))
    assert (new.phase, new.active_version, new.current_execution) == (Phase.PASSED, "1.0.0", None)
    assert cond(new, "Tested") == ("True", "Passed")
    assert cond(new, "Active") == ("True", "TestsPassed")
    assert cond(new, "Ready") == ("True", "TestsPassed")
    assert cond(new, "Reconciling") == ("False", "Reconciled")
    assert cond(new, "Stalled") == ("False", "NotStalled")
    assert reasons(events) == [("Normal", "TestsPassed"), ("Normal", "Activated")]
    last = new.last_execution
    assert last is not None
    assert (last.trigger, last.version, last.total, last.passed, last.failed, last.pass_rate, last.status) == (
        Trigger.INSTALL,
        "1.0.0",
        6,
        6,
        0,
        1.0,
        "passed",
    )
    assert [(s.name, s.job) for s in last.suites] == [
        ("shell", job_name("core", "shell", last.id)),
        ("python", job_name("core", "python", last.id)),
    ]
    assert (last.started_at, last.finished_at, last.duration_ms) == (
        timestamp(NOW),
        timestamp(NOW + timedelta(seconds=40)),
        40_000,
    )


def active_1_0_0() -> PackStatus:
    spec = spec_of(version="1.0.0")
    return concluded(spec, passing(spec))


UPGRADE = spec_of(version="1.1.0")
FAILING = {"shell": suite("shell", "script", 2, 1), "python": suite("python", "pytest", 3)}


def test_upgrade_is_an_update_and_keeps_the_previous_version_active_while_testing() -> None:
    """A version change is an update execution; activeVersion stays 1.0.0 while 1.1.0 is tested."""
    result = plan(observed(UPGRADE, status=active_1_0_0(), generation=2))
    assert admitted(result) is not None and admitted(result).trigger is Trigger.UPDATE
    assert result.status.active_version == "1.0.0"
    active = result.status.condition("Active")
    assert active is not None
    assert (active.status, active.reason) == ("False", "AwaitingTests")
    assert active.message.endswith("; 1.0.0 stays active")


def test_failing_upgrade_under_block_keeps_the_previous_version() -> None:
    """Failing 1.1.0 under block: Active False TestsFailed, activeVersion stays 1.0.0, Stalled, message says so."""
    new, events = run_to_end(UPGRADE, FAILING, running_status(UPGRADE, status=active_1_0_0()))
    assert (new.phase, new.active_version) == (Phase.FAILED, "1.0.0")
    assert cond(new, "Tested") == ("True", "Failed")
    assert cond(new, "Active") == ("False", "TestsFailed")
    assert cond(new, "Ready") == ("False", "TestsFailed")
    assert cond(new, "Stalled") == ("True", "TestsFailed")
    assert new.message == "5/6 tests passed (83%, minimum 100%); version 1.0.0 stays active"
    assert reasons(events) == [("Warning", "TestsFailed"), ("Warning", "ActivationBlocked")]
    assert new.last_execution is not None
    assert new.last_execution.failing_tests == ["shell: test_bad_0"]


def test_idle_pack_after_a_blocked_upgrade_stays_put() -> None:
    """A later pass over the blocked upgrade changes nothing and emits nothing."""
    blocked, _ = run_to_end(UPGRADE, FAILING, running_status(UPGRADE, status=active_1_0_0()))
    again = plan(observed(UPGRADE, status=blocked, now=NOW + timedelta(minutes=5)))
    assert (admitted(again), again.create_jobs, again.events) == (None, [], [])
    assert again.status == blocked


@pytest.mark.parametrize(
    ("policy", "reason", "warning_events"),
    [
        ({"testing": {"onFailure": "warn"}}, "FailureWarned", [("Warning", "FailureWarned")]),
        ({"testing": {"onFailure": "ignore"}}, "FailureIgnored", []),
        ({"force": True}, "Forced", [("Warning", "Forced")]),
    ],
    ids=["warn", "ignore", "force"],
)
def test_failing_upgrade_allowed_by_policy(
    policy: dict[str, object], reason: str, warning_events: list[object]
) -> None:
    """warn/ignore/force: the failing version becomes active (phase still Failed), with the matching reason."""
    spec = spec_of(version="1.1.0", **policy)  # type: ignore[arg-type]
    new, events = run_to_end(spec, FAILING, running_status(spec, status=active_1_0_0()))
    assert (new.phase, new.active_version) == (Phase.FAILED, "1.1.0")
    assert cond(new, "Active") == ("True", reason)
    assert cond(new, "Ready") == ("True", reason)
    assert cond(new, "Stalled") == ("False", "NotStalled")
    assert reasons(events) == [("Warning", "TestsFailed"), *warning_events, ("Normal", "Activated")]


def test_partial_above_min_pass_rate_is_allowed() -> None:
    """5/6 with minPassRate 0.8: phase Partial, Tested True Partial, Active True TestsPassed."""
    spec = spec_of(testing={"minPassRate": 0.8})
    new, events = run_to_end(spec, FAILING, running_status(spec))
    assert (new.phase, new.active_version) == (Phase.PARTIAL, "1.0.0")
    assert cond(new, "Tested") == ("True", "Partial")
    assert cond(new, "Active") == ("True", "TestsPassed")
    assert reasons(events) == [("Normal", "TestsPassed"), ("Normal", "Activated")]


def test_crashed_runner_blocks_with_test_error() -> None:
    """A runner whose collected suite is an error blocks with TestError and reason ExitCode/NoResults."""
    crashed = suite("python", "pytest", 0).model_copy(update={"status": RunStatus.ERROR, "error": "no results"})
    new, _ = run_to_end(SPEC, {"shell": suite("shell", "script", 3), "python": crashed}, running_status(SPEC))
    assert new.phase is Phase.ERROR
    assert cond(new, "Tested") == ("False", "Error")
    assert cond(new, "Active") == ("False", "TestError")
    assert new.last_execution is not None
    assert [s.reason for s in new.last_execution.suites] == [None, "NoResults"]


def test_a_job_conflict_met_on_creation_is_a_runner_error() -> None:
    """A Job of the same name that is not this execution's (met by the executor on creating it, and
    input to the next pass) becomes runner error JobConflict with a RunnerError event; from then on
    no plan creates it again or waits for it."""
    status = running_status(SPEC)
    conflict = RunnerError(reason="JobConflict", message="a Job named core-shell-x already exists and is not ...")
    python = job(status, "python")
    met = plan(dataclasses.replace(observed(SPEC, status=status, jobs=[python]), conflicts={"shell": conflict}))
    assert reasons(met.events) == [("Warning", "RunnerError")]
    errored = met.status
    assert errored.current_execution is not None
    assert errored.current_execution.runner_errors == {"shell": conflict}
    result = plan(observed(SPEC, status=errored, jobs=[python], pods=[pod(python)]))
    assert (result.create_jobs, result.events) == ([], [])
    done = job(status, "python", finished=True)
    new, _, _, verdict = conclude(
        observed(SPEC, status=errored, jobs=[done]), SPEC, {"python": suite("python", "pytest", 3)}
    )
    assert new.last_execution is not None
    assert [s.reason for s in new.last_execution.suites] == ["JobConflict", None]
    assert verdict.allowed is False


def test_runner_without_job_or_result_is_lost() -> None:
    """A runner with neither an error nor a collected suite is reported as JobLost."""
    status = running_status(SPEC)
    new, _, _, verdict = conclude(observed(SPEC, status=status), SPEC, {"shell": suite("shell", "script", 3)})
    assert new.last_execution is not None
    assert [s.reason for s in new.last_execution.suites] == [None, "JobLost"]
    assert verdict.allowed is False


# -- triggers --------------------------------------------------------------------------------


def test_spec_change_while_running_supersedes() -> None:
    """A spec change during a run: the running Jobs are deleted, Superseded event, a new update execution."""
    base = active_1_0_0()
    running = running_status(UPGRADE, status=base)
    jobs = [job(running, "shell"), job(running, "python")]
    newer = spec_of(version="1.2.0")
    result = plan(observed(newer, status=running, jobs=jobs, generation=3))
    assert sorted(result.delete_jobs) == sorted(j.name for j in jobs)
    assert reasons(result.events) == [("Normal", "Superseded"), ("Normal", "TestsStarted")]
    assert admitted(result) is not None
    assert (admitted(result).trigger, admitted(result).version) == (Trigger.UPDATE, "1.2.0")
    assert admitted(result).id != running.current_execution.id  # type: ignore[union-attr]
    assert result.status.phase is Phase.TESTING
    assert result.status.active_version == "1.0.0"


def test_policy_change_does_not_rerun_tests() -> None:
    """Changing only minPassRate re-decides from the last execution instead of testing again."""
    blocked, _ = run_to_end(SPEC, FAILING, running_status(SPEC))
    assert blocked.active_version == ""
    relaxed = spec_of(testing={"minPassRate": 0.8})
    result = plan(observed(relaxed, status=blocked, generation=2, now=NOW + timedelta(minutes=1)))
    assert admitted(result) is None
    assert (result.status.active_version, cond(result.status, "Active")) == ("1.0.0", ("True", "TestsPassed"))
    assert reasons(result.events) == [("Normal", "Activated")]


def test_reverted_spec_gets_a_fresh_execution() -> None:
    """A → B → A → B: every update is a new execution (new id, so new Jobs and a new record)."""
    a, b = spec_of(version="1.0.0"), spec_of(version="1.1.0")
    status = concluded(a, passing(a))
    ids = [status.last_execution.id]  # type: ignore[union-attr]
    for spec in (b, a, b):
        status = concluded(spec, passing(spec), status=status)
        assert status.last_execution is not None
        ids.append(status.last_execution.id)
    assert len(set(ids)) == 4


def test_retest_annotation_triggers_manual() -> None:
    """A retest annotation different from status.retestToken starts a manual execution and records the token."""
    done = concluded(SPEC, passing(SPEC))
    result = plan(observed(SPEC, status=done, retest="2025-06-01T13:00:00Z", now=NOW + timedelta(hours=1)))
    assert admitted(result) is not None and admitted(result).trigger is Trigger.MANUAL
    assert result.status.retest_token == "2025-06-01T13:00:00Z"
    # the Pack stays active while its own version is retested
    assert result.status.active_version == "1.0.0"
    assert cond(result.status, "Active") == ("True", "TestsPassed")


def test_retest_token_already_seen_does_nothing() -> None:
    """After a manual run, the same annotation value does not start another execution."""
    done = concluded(SPEC, passing(SPEC), status=concluded(SPEC, passing(SPEC)), retest="r1")
    assert done.retest_token == "r1"
    result = plan(observed(SPEC, status=done, retest="r1", now=NOW + timedelta(hours=1)))
    assert admitted(result) is None
    assert result.events == []


def test_retest_value_used_again_is_a_new_execution() -> None:
    """retest r1, then r2, then r1 again: three distinct manual executions."""
    status = concluded(SPEC, passing(SPEC))
    ids = []
    for value in ("r1", "r2", "r1"):
        status = concluded(SPEC, passing(SPEC), status=status, retest=value)
        assert status.last_execution is not None and status.last_execution.trigger is Trigger.MANUAL
        ids.append(status.last_execution.id)
    assert len(set(ids)) == 3


REVALIDATE = spec_of(testing={"revalidateEvery": "1h"})


@pytest.mark.parametrize(
    ("after", "trigger"), [(timedelta(minutes=30), None), (timedelta(hours=1), Trigger.VALIDATION)]
)
def test_revalidate_every(after: timedelta, trigger: Trigger | None) -> None:
    """revalidateEvery: a validation execution once the interval since the last finish has elapsed."""
    done = concluded(REVALIDATE, passing(REVALIDATE))
    assert done.last_execution is not None and done.last_execution.finished_at is not None
    finished = NOW + timedelta(seconds=42)
    result = plan(observed(REVALIDATE, status=done, now=finished + after))
    assert (admitted(result).trigger if admitted(result) else None) == trigger
    if trigger is None:
        assert result.requeue_after == pytest.approx(1800.0)


def test_failing_validation_under_block_deactivates() -> None:
    """A validation that fails under block clears activeVersion; Active False ValidationFailed."""
    done = concluded(REVALIDATE, passing(REVALIDATE))
    validating = running_status(REVALIDATE, status=done, now=NOW + timedelta(hours=2))
    assert validating.current_execution is not None
    assert validating.current_execution.trigger is Trigger.VALIDATION
    obs = observed(REVALIDATE, status=validating, now=NOW + timedelta(hours=2, seconds=30))
    new, events, _, _ = conclude(obs, REVALIDATE, FAILING)
    assert new.active_version == ""
    assert cond(new, "Active") == ("False", "ValidationFailed")
    assert cond(new, "Stalled") == ("True", "ValidationFailed")
    assert ("Warning", "ActivationBlocked") in reasons(events)


# -- no tests, skipped, invalid, missing source ----------------------------------------------------


def test_skip_tests_activates_without_testing() -> None:
    """skipTests: phase Skipped, Active True TestsSkipped, activeVersion = version, no Job, Activated event."""
    spec = spec_of(skipTests=True)
    result = plan(observed(spec))
    assert (result.status.phase, result.status.active_version, admitted(result)) == (Phase.SKIPPED, "1.0.0", None)
    assert cond(result.status, "Active") == ("True", "TestsSkipped")
    assert cond(result.status, "Tested") == ("False", "Skipped")
    assert cond(result.status, "Ready") == ("True", "TestsSkipped")
    assert reasons(result.events) == [("Normal", "Activated")]


def test_no_testing_section_blocks_and_says_how_to_proceed() -> None:
    """No testing section: Error, Active False NoTestConfiguration, a message naming skipTests."""
    result = plan(observed(spec_of(no_testing=True)))
    assert result.status.phase is Phase.ERROR
    assert admitted(result) is None
    assert cond(result.status, "Tested") == ("False", "NoTestConfiguration")
    assert cond(result.status, "Active") == ("False", "NoTestConfiguration")
    assert cond(result.status, "Stalled") == ("True", "NoTestConfiguration")
    assert "skipTests" in result.status.message
    assert reasons(result.events) == [("Warning", "ActivationBlocked")]
    # a second pass does not repeat the event
    again = plan(observed(spec_of(no_testing=True), status=result.status, now=NOW + timedelta(minutes=1)))
    assert again.events == []


def test_testing_disabled() -> None:
    """testing.enabled false without skipTests: Tested False TestingDisabled, blocked."""
    result = plan(observed(spec_of(testing={"enabled": False})))
    assert cond(result.status, "Tested") == ("False", "TestingDisabled")
    assert cond(result.status, "Active") == ("False", "NoTestConfiguration")
    assert "skipTests" in result.status.message


def test_missing_config_map_source() -> None:
    """A ConfigMap source that does not exist: Tested SourceNotFound, Stalled True, requeue to recheck."""
    result = plan(observed(SPEC, source_found=False))
    assert admitted(result) is None
    assert cond(result.status, "Tested") == ("False", "SourceNotFound")
    assert cond(result.status, "Stalled") == ("True", "SourceNotFound")
    assert result.status.message == "ConfigMap core-pack not found in namespace automation"
    assert result.requeue_after == 10.0
    assert reasons(result.events) == [("Warning", "SourceNotFound")]
    # once it appears, the install starts
    assert admitted(plan(observed(SPEC, status=result.status, source_found=True))) is not None


def test_invalid_spec_is_an_error() -> None:
    """A spec that does not validate: phase Error with the one-line message; Jobs of any execution deleted."""
    status = running_status(SPEC)
    running = job(status, "shell")
    result = plan(observed(None, status=status, jobs=[running], spec_error="spec.version: field required"))
    assert result.status.phase is Phase.ERROR
    assert result.status.message == "invalid spec: spec.version: field required"
    assert result.status.current_execution is None
    assert result.delete_jobs == [running.name]


# -- conditions, Jobs kept, summary ------------------------------------------------------------


def test_conditions_carry_observed_generation() -> None:
    """Every condition and status.observedGeneration carry the Pack's generation."""
    result = plan(observed(SPEC, generation=7))
    assert result.status.observed_generation == 7
    assert {c.type for c in result.status.conditions} == {"Tested", "Active", "Ready", "Reconciling", "Stalled"}
    assert {c.observed_generation for c in result.status.conditions} == {7}


def test_last_transition_time_moves_only_on_status_change() -> None:
    """Through the planner: Queued → Testing keeps Reconciling's lastTransitionTime; Passed moves it."""
    first = plan(observed(SPEC)).status
    running = running_status(SPEC)
    obs = observed(SPEC, status=first, now=NOW + timedelta(seconds=30))
    assert first.current_execution is not None
    status, _ = started(obs, SPEC, first.current_execution)
    before, after = first.condition("Reconciling"), status.condition("Reconciling")
    assert before is not None and after is not None
    assert (after.reason, after.last_transition_time) == ("Testing", before.last_transition_time)
    done, _ = run_to_end(SPEC, passing(SPEC), running)
    reconciling = done.condition("Reconciling")
    assert reconciling is not None
    assert reconciling.last_transition_time == timestamp(NOW + timedelta(seconds=40))


def test_merge_conditions() -> None:
    """merge_conditions keeps lastTransitionTime when the status is unchanged (even if reason changes)."""
    old = [
        Condition(type="Ready", status="False", reason="A", lastTransitionTime="2025-01-01T00:00:00Z"),
        Condition(type="Active", status="False", reason="A", lastTransitionTime="2025-01-01T00:00:00Z"),
    ]
    wanted = [
        Condition(type="Ready", status="False", reason="B"),
        Condition(type="Active", status="True", reason="B"),
        Condition(type="Stalled", status="False", reason="B"),
    ]
    merged = merge_conditions(old, wanted, NOW)
    assert [(c.type, c.reason, c.last_transition_time) for c in merged] == [
        ("Ready", "B", "2025-01-01T00:00:00Z"),
        ("Active", "B", "2025-06-01T12:00:00Z"),
        ("Stalled", "B", "2025-06-01T12:00:00Z"),
    ]


def test_jobs_of_the_last_execution_are_kept_others_deleted() -> None:
    """Idle: the last finished execution's Jobs stay (for kubectl logs); Jobs of other executions go."""
    done = concluded(SPEC, passing(SPEC))
    assert done.last_execution is not None
    last_id = done.last_execution.id
    kept = [
        JobState(name=job_name("core", r, last_id), runner=r, execution=last_id, finished=True)
        for r in ("shell", "python")
    ]
    stray = [
        JobState(name=job_name("core", "shell", "0ld0ld0ld0"), runner="shell", execution="0ld0ld0ld0"),
        JobState(name="core-unlabelled", runner="", execution=""),
    ]
    result = plan(observed(SPEC, status=done, jobs=kept + stray, now=NOW + timedelta(minutes=5)))
    assert result.delete_jobs == [s.name for s in stray]


@pytest.mark.parametrize(
    ("passed", "failed", "skipped", "rate", "expected"),
    [
        (34, 2, 1, 0.9444, {"tests": "34/36", "rate": "94%"}),
        (10, 0, 0, 1.0, {"tests": "10/10", "rate": "100%"}),
        (0, 0, 3, 0.0, {"tests": "0/0", "rate": ""}),
    ],
)
def test_summary_columns(passed: int, failed: int, skipped: int, rate: float, expected: dict[str, str]) -> None:
    """status.summary gives the TESTS (passed/executed) and RATE printer columns."""
    last = ExecutionSummary(
        id="e",
        trigger=Trigger.INSTALL,
        version="1.0.0",
        specHash="h",
        passed=passed,
        failed=failed,
        skipped=skipped,
        total=passed + failed + skipped,
        passRate=rate,
        status="partial",
    )
    assert summary_columns(PackStatus(lastExecution=last)) == expected
    assert summary_columns(PackStatus()) == {"tests": "", "rate": ""}


def test_concluded_status_has_the_summary() -> None:
    """After a run, status.summary already reflects the new last execution."""
    new, _ = run_to_end(SPEC, FAILING, running_status(SPEC))
    assert new.summary == {"tests": "5/6", "rate": "83%"}


def test_conditions_derive_kstatus() -> None:
    """conditions(): Ready only when Active and not reconciling; Stalled only when blocked and not reconciling."""
    table = [
        (Phase.TESTING, "False", ("False", "True", "False")),
        (Phase.TESTING, "True", ("False", "True", "False")),
        (Phase.PASSED, "True", ("True", "False", "False")),
        (Phase.FAILED, "False", ("False", "False", "True")),
    ]
    for phase, active, expected in table:
        conds = {
            c.type: c.status
            for c in conditions(
                generation=1, phase=phase, tested=("False", "Running", "m"), active=(active, "TestsPassed", "m")
            )
        }
        assert (conds["Ready"], conds["Reconciling"], conds["Stalled"]) == expected, phase


# -- spec.dependsOn -------------------------------------------------------------------------------

DEPENDENT = spec_of(dependsOn=[{"name": "net-base", "version": "^1.2.0"}])


def passed_with(packs: dict[str, PackNode], spec: PackSpec = DEPENDENT) -> Plan:
    """The plan once every runner of `spec` passed, with the namespace's Packs as given."""
    status = running_status(spec)
    finished = [job(status, name, finished=True) for name in passing(spec)]
    obs = observed(spec, status=status, jobs=finished, now=NOW + timedelta(seconds=40))
    return plan(later(obs, 0, packs=packs, collected=passing(spec)))


def test_a_pack_whose_dependency_is_not_active_is_tested_but_not_activated() -> None:
    """Tests run and pass whatever the dependencies; activation waits: Active False
    DependencyNotReady naming what is missing, Reconciling (it resolves itself), not Stalled,
    status.dependsOn `waiting: net-base`, and no Activated event."""
    result = passed_with({})
    status = result.status
    assert (status.phase, status.active_version, status.depends_on) == (Phase.PASSED, "", "waiting: net-base")
    assert cond(status, "Active") == ("False", "DependencyNotReady")
    active = status.condition("Active")
    assert active is not None and active.message == "waiting for net-base ^1.2.0 (no such Pack)"
    assert cond(status, "Reconciling") == ("True", "DependencyNotReady")
    assert cond(status, "Stalled") == ("False", "NotStalled")
    assert "Activated" not in [reason for _, reason in reasons(result.events)]
    assert result.record is not None and result.record.allowed


def test_a_dependency_out_of_range_names_its_active_version() -> None:
    """A dependency active in a version outside the range: the message says which."""
    status = passed_with({"net-base": PackNode("2.0.0", ())}).status
    active = status.condition("Active")
    assert active is not None and active.message == "waiting for net-base ^1.2.0 (active: 2.0.0)"


def test_the_pack_activates_once_its_dependency_is_active_in_range() -> None:
    """When the dependency becomes active in range, the next pass (its dependents are woken)
    activates the tested version without testing again: Activated, `1/1 ready`."""
    waiting = passed_with({}).status
    obs = observed(DEPENDENT, status=waiting, now=NOW + timedelta(minutes=2))
    result = plan(later(obs, 0, packs={"net-base": PackNode("1.3.0", ())}))
    assert admitted(result) is None and result.create_jobs == []
    assert (result.status.active_version, result.status.depends_on) == ("1.0.0", "1/1 ready")
    assert cond(result.status, "Active") == ("True", "TestsPassed")
    assert cond(result.status, "Reconciling") == ("False", "Reconciled")
    assert reasons(result.events) == [("Normal", "Activated")]


def test_a_dependency_cycle_stalls_the_pack() -> None:
    """core needs net-base, which needs core: Active False DependencyCycle showing the cycle,
    Stalled (only a spec change resolves it)."""
    status = passed_with({"net-base": PackNode("1.3.0", ("core",))}).status
    assert cond(status, "Active") == ("False", "DependencyCycle")
    active = status.condition("Active")
    assert active is not None and active.message == "dependency cycle: core → net-base → core"
    assert cond(status, "Stalled") == ("True", "DependencyCycle")
    assert cond(status, "Reconciling") == ("False", "Reconciled")
    assert status.depends_on == "cycle: core → net-base → core"


def test_an_active_version_is_not_deactivated_when_a_dependency_changes() -> None:
    """A version already active stays active if a dependency later leaves its range (only its
    status.dependsOn shows the drift)."""
    active = passed_with({"net-base": PackNode("1.3.0", ())}).status
    obs = observed(DEPENDENT, status=active, now=NOW + timedelta(minutes=3))
    result = plan(later(obs, 0, packs={"net-base": PackNode("2.0.0", ())}))
    assert (result.status.active_version, result.status.depends_on) == ("1.0.0", "waiting: net-base")
    assert cond(result.status, "Active") == ("True", "TestsPassed")


# -- cacheFor: reusing the verdict of an execution with the same content digest -----------------

CACHED = spec_of(testing={"cacheFor": "1h"})
BUMPED = spec_of(version="1.0.1", testing={"cacheFor": "1h"})
DIGEST = "sha256:" + "d" * 64


def origin(*, digest: str = DIGEST, finished: timedelta = timedelta(minutes=10), failed: int = 0) -> CachedExecution:
    """An execution recorded `finished` ago with `digest`: shell passes 3, python passes 2 and fails `failed`."""
    suites = [suite("shell", "script", 3), suite("python", "pytest", 2, failed=failed)]
    result = combine("core", "1.0.0", NOW - finished - timedelta(seconds=30), suites, duration_ms=30_000)
    return CachedExecution(execution_id="0a1b2c3d4e", digest=digest, finished_at=NOW - finished, result=result)


def test_an_install_with_cache_for_asks_for_the_digest_lookup() -> None:
    """A new Pack with cacheFor and a digest: `reads` asks for the newest execution with that digest
    finished since now minus cacheFor; without cacheFor, or without a digest, it asks nothing."""
    obs = dataclasses.replace(observed(CACHED), digest=DIGEST)
    assert reads(obs).digest_lookup == CacheLookup(digest=DIGEST, since=NOW - timedelta(hours=1))
    assert reads(dataclasses.replace(observed(SPEC), digest=DIGEST)).digest_lookup is None
    assert reads(observed(CACHED)).digest_lookup is None


def test_an_update_with_the_digest_of_a_recent_execution_reuses_its_verdict() -> None:
    """A version bump with identical content, and an execution with its digest found: no Jobs, the
    verdict of that execution (counts, suites) under a new execution id with cachedFrom and the
    digest, a CachedVerdict event, the version activated, and a record to write."""
    done = concluded(CACHED, passing(CACHED))
    obs = dataclasses.replace(observed(BUMPED, status=done, now=NOW), digest=DIGEST)
    lookup = reads(obs).digest_lookup
    assert lookup is not None and lookup.digest == DIGEST
    result = plan(dataclasses.replace(obs, cached=origin()))

    assert (result.create_jobs, result.admitted, result.status.current_execution) == ([], 0, None)
    last = result.status.last_execution
    assert last is not None
    assert (last.trigger, last.version, last.cached_from, last.digest) == (
        Trigger.UPDATE,
        "1.0.1",
        "0a1b2c3d4e",
        DIGEST,
    )
    assert last.id not in (done.last_execution.id if done.last_execution else "", "0a1b2c3d4e")
    assert (last.total, last.passed, last.failed, last.status, last.duration_ms) == (5, 5, 0, "passed", 0)
    assert [(s.name, s.passed, s.job) for s in last.suites] == [("shell", 3, None), ("python", 2, None)]
    assert (result.status.phase, result.status.active_version) == (Phase.PASSED, "1.0.1")
    assert cond(result.status, "Active") == ("True", "TestsPassed")
    assert reasons(result.events) == [("Normal", "CachedVerdict"), ("Normal", "TestsPassed"), ("Normal", "Activated")]
    assert "0a1b2c3d4e" in result.events[0].message
    assert result.record is not None and result.record.allowed
    assert (result.record.result.pack_version, result.record.result.duration_ms) == ("1.0.1", 0)
    assert result.record.result.passed == 5
    # The next pass has nothing to do: the cached execution is the last one of this spec.
    again = plan(observed(BUMPED, status=result.status, now=NOW + timedelta(seconds=5)))
    assert (again.create_jobs, again.record, again.status.current_execution) == ([], None, None)


def test_a_cached_failure_is_decided_by_todays_policy() -> None:
    """A reused verdict with a failing test is blocked under onFailure block (the previous version
    stays active), and allowed under warn: the policy of the Pack now decides, not the origin's."""
    done = concluded(CACHED, passing(CACHED))
    blocked = plan(dataclasses.replace(observed(BUMPED, status=done), digest=DIGEST, cached=origin(failed=1)))
    assert (blocked.status.phase, blocked.status.active_version) == (Phase.FAILED, "1.0.0")
    assert blocked.record is not None and not blocked.record.allowed
    assert blocked.status.last_execution is not None
    assert blocked.status.last_execution.failing_tests == ["python: test_bad_0"]
    warned = spec_of(version="1.0.1", testing={"cacheFor": "1h", "onFailure": "warn"})
    allowed = plan(dataclasses.replace(observed(warned, status=done), digest=DIGEST, cached=origin(failed=1)))
    assert allowed.status.active_version == "1.0.1"


@pytest.mark.parametrize(
    "found",
    [None, origin(digest="sha256:" + "e" * 64), origin(finished=timedelta(hours=2))],
    ids=["miss", "other-digest", "outside-the-window"],
)
def test_without_a_matching_execution_the_update_runs(found: CachedExecution | None) -> None:
    """No execution found, one with another digest, or one finished before the window: the update
    is admitted and runs its Jobs, carrying the digest for its record."""
    done = concluded(CACHED, passing(CACHED))
    result = plan(dataclasses.replace(observed(BUMPED, status=done), digest=DIGEST, cached=found))
    current = admitted(result)
    assert current is not None and current.trigger is Trigger.UPDATE
    assert (current.digest, result.create_jobs, result.record) == (DIGEST, ["shell", "python"], None)


def test_a_manual_retest_and_a_validation_always_run() -> None:
    """With cacheFor set and an execution of the same digest at hand, a retest (annotation) and a
    scheduled validation still run their Jobs; `reads` does not even ask for the lookup."""
    done = concluded(CACHED, passing(CACHED))
    retest = dataclasses.replace(
        observed(CACHED, status=done, retest="r1", now=NOW + timedelta(minutes=1)), digest=DIGEST
    )
    assert reads(retest).digest_lookup is None
    manual = plan(dataclasses.replace(retest, cached=origin()))
    current = admitted(manual)
    assert current is not None and current.trigger is Trigger.MANUAL and manual.create_jobs == ["shell", "python"]

    revalidating = spec_of(testing={"cacheFor": "1h", "revalidateEvery": "30m"})
    done = concluded(revalidating, passing(revalidating))
    due = dataclasses.replace(observed(revalidating, status=done, now=NOW + timedelta(hours=1)), digest=DIGEST)
    assert reads(due).digest_lookup is None
    validation = plan(dataclasses.replace(due, cached=origin(finished=timedelta(minutes=-50))))
    current = admitted(validation)
    assert current is not None and current.trigger is Trigger.VALIDATION


def test_a_concluded_execution_carries_its_digest() -> None:
    """The digest observed when an execution was queued is in its lastExecution once it concludes
    (and so in its record)."""
    obs = dataclasses.replace(observed(CACHED), digest=DIGEST)
    first = plan(obs)
    current = admitted(first)
    assert current is not None and current.digest == DIGEST
    running, _ = started(obs, CACHED, current.model_copy(update={"nonce": NONCE}))
    final, _ = run_to_end(CACHED, passing(CACHED), running)
    assert final.last_execution is not None
    assert (final.last_execution.digest, final.last_execution.cached_from) == (DIGEST, None)


def test_a_reason_the_runner_reported_is_kept() -> None:
    """A runner whose result carries its own reason (the wrapper could not install the pack's
    dependencies) is shown with it, not as NoResults; a timeout still wins."""
    failed = suite("python", "pytest", 0).model_copy(
        update={"status": RunStatus.ERROR, "total": 0, "passed": 0, "reason": "DependencyInstallFailed"}
    )
    assert suite_reason(failed) == "DependencyInstallFailed"
    assert suite_reason(failed, timed_out=True) == "Timeout"
    assert suite_reason(failed.model_copy(update={"reason": None})) == "NoResults"


def test_a_runner_whose_pod_ended_is_read_before_its_job_is_marked_finished() -> None:
    """The pod Succeeded (or Failed) with its runner's exit code: the log is complete, so it is
    read at once, ahead of the Job controller's Complete condition; a pod still running is not."""
    status = running_status(SPEC)
    shell, python = job(status, "shell"), job(status, "python")
    pods = [pod(shell, phase="Succeeded", exit_code=0), pod(python, phase="Running")]
    need = reads(observed(SPEC, status=status, jobs=[shell, python], pods=pods))
    assert need.collect == [
        Collect(runner="shell", runner_type="script", job=shell.name, pod=pods[0].name, exit_code=0)
    ]
    assert not need.concluding
