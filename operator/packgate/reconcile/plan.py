"""The planner: from what was observed about one Pack to its new status and the actions to take.

Owns every decision of the reconcile loop: which execution is wanted and why (trigger), when a
run is superseded, which Jobs to create or delete, when a runner has failed promptly (image pull,
unschedulable, config error, a Job removed before its result was read), which ended runners' logs
to read (each as soon as its Job ends: `reads`), whether a queued execution is admitted under
the concurrency limits, and — once every runner has an outcome — the verdict, the active version,
the conditions, the Events and the record; and whether an install or update reuses the verdict
of an execution with the same content digest (spec.testing.cacheFor: `reads` asks for it, the
executor looks it up in PostgreSQL, `plan` serves it without Jobs).  Pure: typed values in
(with `now`), typed values out; nothing here does I/O.

One direction: the executor observes (the watch-fed cache, then the logs `reads` names and the
comparison base from PostgreSQL), calls `plan` once with all of it, and applies the Plan.  What it
meets while acting (a Job of the same name that is not this execution's) is input to the next
pass (`Observed.conflicts`).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from packgate.api.spec import PackSpec, Runner, pack_ref
from packgate.api.status import (
    FAILING_TESTS_BYTES,
    FAILING_TESTS_SHOWN,
    TEXT_BYTES,
    CollectedSuite,
    Comparison,
    Condition,
    CurrentExecution,
    ExecutionSummary,
    PackStatus,
    Phase,
    RunnerError,
    SuiteSummary,
    Trigger,
    bound_execution,
    cap_names,
    clip,
    merge_conditions,
    timestamp,
)
from packgate.reconcile.depends import DependencyCheck, Hold, PackNode, activation_hold, check_dependencies
from packgate.reconcile.digest import CachedExecution
from packgate.reconcile.queue import Waiting, admit
from packgate.reconcile.render import PackIdentity, execution_id, job_name, spec_hash
from packgate.results import (
    PackTestResult,
    RunStatus,
    TestCaseResult,
    TestStatus,
    TestSuiteResult,
    combine,
    error_suite,
)
from packgate.verdict import ActiveReason, Policy, Verdict, decide
from packgate.wrapper import choose_nonce, runner_error

# Waiting reasons that mean a container will not start without a change from the user.
FATAL_WAITING = {
    "ErrImagePull": "ImagePullFailed",
    "ImagePullBackOff": "ImagePullFailed",
    "InvalidImageName": "ImagePullFailed",
    "ErrImageNeverPull": "ImagePullFailed",
    "CreateContainerConfigError": "ConfigError",
    "CreateContainerError": "ConfigError",
    "RunContainerError": "ConfigError",
}

SOURCE_RECHECK_SECONDS = 10.0
RUNNING_RECHECK_SECONDS = 5.0
QUEUED_RECHECK_SECONDS = 30.0
"""A queued Pack is woken when a slot frees; this is the fallback, and how often its queuePosition
is rewritten as the queue moves (at most)."""
RETEST_TOKEN_CHARS = 128


@dataclass(frozen=True)
class Event:
    type: str  # Normal | Warning
    reason: str
    message: str


@dataclass(frozen=True)
class JobState:
    name: str
    runner: str
    execution: str
    finished: bool = False
    failed: bool = False
    reason: str | None = None
    message: str | None = None


ENDED_PHASES = ("Succeeded", "Failed")
"""The phases of a pod whose containers have all ended (restartPolicy Never)."""


@dataclass(frozen=True)
class PodState:
    name: str
    job: str
    phase: str
    waiting_reason: str | None = None
    waiting_message: str | None = None
    unschedulable_since: datetime | None = None
    unschedulable_message: str | None = None
    exit_code: int | None = None  # the runner container's, once terminated
    init_failure: str | None = None  # the fetch container ended in error
    deadline_exceeded: bool = False  # killed at its activeDeadlineSeconds (the runner's timeout)

    @property
    def ended(self) -> bool:
        """The pod Succeeded or Failed: the kubelet has stopped it and the scheduler no longer
        counts its requests, so its Job holds no concurrency slot any more, though the Job
        controller marks it finished only later.  (The runner's exit code shows earlier, while the
        kubelet still tears the pod down; a slot freed then let pods be created that the node had
        no room for yet, and they waited unschedulable.)"""
        return self.phase in ENDED_PHASES


@dataclass(frozen=True)
class Slots:
    """The concurrency situation as the cache shows it: Jobs holding a slot per namespace (those
    just admitted included), the other executions waiting, and the limits."""

    active_by_namespace: dict[str, int]
    waiting: list[Waiting]
    global_limit: int
    namespace_limit: int


NO_LIMITS = Slots({}, [], global_limit=1 << 30, namespace_limit=1 << 30)


@dataclass(frozen=True)
class Observed:
    pack: PackIdentity
    generation: int
    spec: PackSpec | None
    spec_error: str | None
    status: PackStatus
    retest: str | None
    jobs: list[JobState]
    pods: list[PodState]
    source_found: bool | None
    now: datetime
    unschedulable_grace: float = 20.0
    slots: Slots = NO_LIMITS
    # Read for this pass, as `reads` asked: each ended runner's judged log, and the comparison base.
    collected: dict[str, TestSuiteResult] = field(default_factory=dict)
    comparison: Comparison | None = None
    # Met by an earlier pass on creating Jobs: runners whose Job name is taken by another Job.
    conflicts: dict[str, RunnerError] = field(default_factory=dict)
    nonce_secret: str = field(default="", repr=False)
    resource_version: str = ""  # of the Pack as observed: status writes are conditional on it
    # The Packs of the namespace as the cache sees them (spec.dependsOn resolves against these).
    packs: Mapping[str, PackNode] = field(default_factory=dict)
    # The execution digest of the spec as observed (reconcile.digest.execution_digest; None: the
    # source names no fixed content), and, when `reads` asked for it, the execution found for it.
    digest: str | None = None
    cached: CachedExecution | None = None


@dataclass(frozen=True)
class Collect:
    """Read one finished runner's log and judge it.

    `timeout`: the pod was killed at its deadline, the runner's timeout in seconds; the log is read
    only for its last lines (a runner error, Timeout).  `detail`: the runner's result was collected
    when its Job ended and is in status.currentExecution.collected; its log is read again only for
    the full test cases of the record, and if that read fails the collected summary stands."""

    runner: str
    runner_type: str
    job: str
    pod: str | None
    exit_code: int | None
    timeout: int | None = None
    detail: bool = False


@dataclass(frozen=True)
class CacheLookup:
    """Look up the newest execution of this Pack with `digest` that ran its Jobs and finished at or
    after `since` (now minus spec.testing.cacheFor): its verdict may be reused (`Observed.cached`)."""

    digest: str
    since: datetime


@dataclass(frozen=True)
class Reads:
    """What a pass must read before planning: the logs of runners that ended (`collect`), and,
    when every runner has ended (`concluding`), the comparison base from PostgreSQL; or, when an
    install or update is about to start and spec.testing.cacheFor is set, the cached execution
    (`digest_lookup`)."""

    collect: list[Collect] = field(default_factory=list)
    concluding: bool = False
    digest_lookup: CacheLookup | None = None


@dataclass(frozen=True)
class Record:
    """The execution to record in PostgreSQL, once every runner has an outcome."""

    result: PackTestResult
    allowed: bool


@dataclass
class Plan:
    status: PackStatus
    events: list[Event] = field(default_factory=list)
    create_jobs: list[str] = field(default_factory=list)  # runner names of the current execution
    delete_jobs: list[str] = field(default_factory=list)  # Job names
    admitted: int = 0  # an execution was admitted now: the slots its Jobs take (until the cache shows them)
    record: Record | None = None  # the execution ended: record it, then write `status`
    requeue_after: float | None = None


@dataclass(frozen=True)
class Wanted:
    id: str
    trigger: Trigger
    token: str
    spec_hash: str


def policy_of(spec: PackSpec) -> Policy:
    testing = spec.testing
    return Policy(
        min_pass_rate=testing.min_pass_rate if testing else 1.0,
        on_failure=str(testing.on_failure) if testing else "block",
        force=spec.force,
        skip_tests=spec.skip_tests,
    )


def wanted_execution(obs: Observed, spec: PackSpec) -> Wanted | None:
    """The execution this Pack needs now, or None when the last one still stands."""
    status = obs.status
    digest = spec_hash(spec)
    last = status.last_execution
    uid = obs.pack.uid
    # Tokens of update and manual executions name the execution they follow, so a spec that
    # comes back (A -> B -> A -> B) or a retest value used again gets a fresh execution id
    # (fresh Job names, a fresh idempotency key) instead of an older execution's.
    if last is None:
        return Wanted(execution_id(uid, digest, Trigger.INSTALL, digest), Trigger.INSTALL, digest, digest)
    if last.spec_hash != digest:
        token = f"{digest}:after:{last.id}"
        return Wanted(execution_id(uid, digest, Trigger.UPDATE, token), Trigger.UPDATE, token, digest)
    retest = retest_token(obs.retest)
    if retest and retest != status.retest_token:
        token = f"retest:{retest}:after:{last.id}"
        return Wanted(execution_id(uid, digest, Trigger.MANUAL, token), Trigger.MANUAL, token, digest)
    interval = spec.testing.revalidate_seconds if spec.testing else None
    if interval and last.finished_at:
        due = _parse_time(last.finished_at) + timedelta(seconds=interval)
        if obs.now >= due:
            token = f"validation:{last.finished_at}"
            return Wanted(execution_id(uid, digest, Trigger.VALIDATION, token), Trigger.VALIDATION, token, digest)
    return None


def retest_token(value: str | None) -> str | None:
    """The retest annotation's value as status keeps it (retestToken, the execution's token):
    itself, or its digest when longer than RETEST_TOKEN_CHARS, so an annotation of any size
    keeps the status small."""
    if value is None or len(value) <= RETEST_TOKEN_CHARS:
        return value
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()


def validation_due_in(obs: Observed, spec: PackSpec) -> float | None:
    interval = spec.testing.revalidate_seconds if spec.testing else None
    last = obs.status.last_execution
    if not interval or last is None or not last.finished_at:
        return None
    due = _parse_time(last.finished_at) + timedelta(seconds=interval)
    return max(1.0, (due - obs.now).total_seconds())


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


# ---------------------------------------------------------------------------------------------
# conditions


def conditions(
    *,
    generation: int,
    phase: Phase,
    tested: tuple[str, str, str],
    active: tuple[str, str, str],
    stalled_reason: str | None = None,
    waiting: bool = False,
) -> list[Condition]:
    """Tested and Active as given; Ready, Reconciling and Stalled derived (kstatus).  `waiting`:
    nothing runs, but the Pack waits for something that resolves itself (its dependencies), so
    it is Reconciling with Active's reason and message."""
    reconciling = waiting or phase in (Phase.PENDING, Phase.QUEUED, Phase.TESTING)
    active_true = active[0] == "True"

    def cond(type_: str, status: str, reason: str, message: str) -> Condition:
        return Condition(type=type_, status=status, reason=reason, message=message, observed_generation=generation)

    out = [cond("Tested", *tested), cond("Active", *active)]
    out.append(cond("Ready", "True" if active_true and not reconciling else "False", active[1], active[2]))
    if waiting:
        out.append(cond("Reconciling", "True", active[1], active[2]))
    elif reconciling:
        out.append(cond("Reconciling", "True", str(phase), active[2] if phase is Phase.QUEUED else tested[2]))
    else:
        out.append(cond("Reconciling", "False", "Reconciled", "no execution is queued or running"))
    if not active_true and not reconciling:
        out.append(cond("Stalled", "True", stalled_reason or active[1], active[2]))
    else:
        out.append(cond("Stalled", "False", "NotStalled", ""))
    return out


def _finish(obs: Observed, status: PackStatus, conds: list[Condition], **updates: Any) -> PackStatus:
    new = status.model_copy(
        update={
            "observed_generation": obs.generation,
            "conditions": merge_conditions(obs.status.conditions, conds, obs.now),
            **updates,
        }
    )
    return new.model_copy(update={"summary": summary_columns(new)})


# ---------------------------------------------------------------------------------------------
# the plan


def plan(obs: Observed) -> Plan:
    """Everything to do for one Pack now."""
    result = _plan(obs)
    check = dependencies(obs)
    summary = check.summary if check is not None else None
    if result.status.depends_on != summary:
        result.status = result.status.model_copy(update={"depends_on": summary})
    return result


def dependencies(obs: Observed) -> DependencyCheck | None:
    """The state of spec.dependsOn against the namespace's Packs; None without dependencies."""
    if obs.spec is None or not obs.spec.depends_on:
        return None
    return check_dependencies(obs.pack.name, obs.spec.depends_on, obs.packs)


def _hold(obs: Observed, spec: PackSpec) -> Hold | None:
    """Whether the dependencies hold back activating spec.version (its tests allowed it)."""
    check = dependencies(obs)
    if check is None:
        return None
    return activation_hold(check, version=spec.version, active_version=obs.status.active_version)


def _plan(obs: Observed) -> Plan:
    status = obs.status
    spec = obs.spec
    current = status.current_execution
    keep = {e.id for e in (current, status.last_execution) if e is not None}
    current_jobs = [j.name for j in obs.jobs if current is not None and j.execution == current.id]
    # Jobs of superseded executions go; the last finished execution's stay for `kubectl logs`.
    stray_jobs = [j.name for j in obs.jobs if j.execution not in keep]

    if spec is None:
        message = f"invalid spec: {obs.spec_error}"
        new = _finish(
            obs,
            status,
            conditions(
                generation=obs.generation,
                phase=Phase.ERROR,
                tested=("False", "Error", message),
                active=("False", ActiveReason.VALIDATION_FAILED, message),
            ),
            phase=Phase.ERROR,
            message=message,
            current_execution=None,
            queue_position=None,
        )
        return Plan(new, delete_jobs=current_jobs + stray_jobs)

    if spec.skip_tests:
        return _plan_skipped(obs, spec, current_jobs + stray_jobs)

    testing = spec.testing
    if testing is None or not testing.enabled or not testing.runners:
        return _plan_no_tests(obs, spec, current_jobs + stray_jobs)

    wanted = wanted_execution(obs, spec)
    events: list[Event] = []
    delete = list(stray_jobs)
    # A spec change supersedes a queued or running execution: cancel it.
    if current is not None and current.spec_hash != spec_hash(spec):
        events.append(Event("Normal", "Superseded", f"execution {current.id} cancelled: the spec changed"))
        delete.extend(current_jobs)
        current = None
    if current is None and wanted is not None:
        if _reusable(obs, spec, wanted):
            assert obs.cached is not None
            return _plan_cached(obs, spec, wanted, obs.cached, delete, events)
        return _plan_new_execution(obs, spec, wanted, delete, events)
    if current is None:
        return _plan_idle(obs, spec, delete, events)
    return _plan_running(obs, spec, current, delete, events)


def _plan_skipped(obs: Observed, spec: PackSpec, delete: list[str]) -> Plan:
    message = "tests skipped (spec.skipTests); version activated without testing"
    events = []
    hold = _hold(obs, spec)
    active: tuple[str, str, str] = ("True", ActiveReason.TESTS_SKIPPED, message)
    active_version = spec.version
    if hold is not None:
        active, active_version = _held(obs, hold), obs.status.active_version
    elif obs.status.active_version != spec.version:
        events.append(Event("Normal", "Activated", f"version {spec.version} activated without testing (skipTests)"))
    new = _finish(
        obs,
        obs.status,
        conditions(
            generation=obs.generation,
            phase=Phase.SKIPPED,
            tested=("False", "Skipped", message),
            active=active,
            stalled_reason=hold.reason if hold is not None else None,
            waiting=hold is not None and not hold.stalled,
        ),
        phase=Phase.SKIPPED,
        message=active[2] if hold is not None else message,
        active_version=active_version,
        current_execution=None,
        queue_position=None,
    )
    return Plan(new, events=events, delete_jobs=delete)


def _held(obs: Observed, hold: Hold) -> tuple[str, str, str]:
    """The Active condition of a version its tests allow but its dependencies hold back."""
    active = obs.status.active_version
    keep = f"; version {active} stays active" if active else ""
    return ("False", str(hold.reason), f"{hold.message}{keep}")


def _plan_no_tests(obs: Observed, spec: PackSpec, delete: list[str]) -> Plan:
    testing = spec.testing
    if testing is not None and not testing.enabled:
        reason = "TestingDisabled"
        message = "testing is disabled: set spec.testing.enabled: true, or spec.skipTests: true to activate untested"
    else:
        reason = "NoTestConfiguration"
        message = "the pack has no tests: add spec.testing.runners, or set spec.skipTests: true to activate untested"
    active_version = "" if obs.status.active_version == spec.version else obs.status.active_version
    events = []
    if obs.status.phase is not Phase.ERROR or obs.status.message != message:
        events.append(Event("Warning", "ActivationBlocked", message))
    new = _finish(
        obs,
        obs.status,
        conditions(
            generation=obs.generation,
            phase=Phase.ERROR,
            tested=("False", reason, message),
            active=("False", ActiveReason.NO_TEST_CONFIGURATION, message),
        ),
        phase=Phase.ERROR,
        message=message,
        active_version=active_version,
        current_execution=None,
        queue_position=None,
    )
    return Plan(new, events=events, delete_jobs=delete)


def _source_missing(obs: Observed, spec: PackSpec, delete: list[str], events: list[Event]) -> Plan:
    assert spec.source.config_map is not None
    message = f"ConfigMap {spec.source.config_map.name} not found in namespace {obs.pack.namespace}"
    if obs.status.message != message:
        events.append(Event("Warning", "SourceNotFound", message))
    new = _finish(
        obs,
        obs.status,
        conditions(
            generation=obs.generation,
            phase=Phase.ERROR,
            tested=("False", "SourceNotFound", message),
            active=("False", ActiveReason.AWAITING_TESTS, message),
            stalled_reason="SourceNotFound",
        ),
        phase=Phase.ERROR,
        message=message,
        current_execution=None,
        queue_position=None,
    )
    return Plan(new, events=events, delete_jobs=delete, requeue_after=SOURCE_RECHECK_SECONDS)


def _plan_new_execution(obs: Observed, spec: PackSpec, wanted: Wanted, delete: list[str], events: list[Event]) -> Plan:
    if obs.source_found is False:
        return _source_missing(obs, spec, delete, events)
    assert spec.testing is not None
    current = CurrentExecution(
        id=wanted.id,
        trigger=wanted.trigger,
        version=spec.version,
        spec_hash=wanted.spec_hash,
        token=wanted.token,
        nonce="",  # chosen when the execution is admitted
        queued_at=timestamp(obs.now),
        runners=[r.name for r in spec.testing.runners],
        digest=obs.digest,
    )
    return _admission(obs, spec, current, delete, events)


def _admission(
    obs: Observed, spec: PackSpec, current: CurrentExecution, delete: list[str], events: list[Event]
) -> Plan:
    """A queued execution, admitted now if the concurrency limits let it (Testing, its Jobs to be
    created), else kept Queued with its position."""
    slots = obs.slots
    mine = Waiting(current.queued_at, obs.pack.uid, obs.pack.namespace, len(current.runners))
    decision = admit(
        obs.pack.uid,
        [w for w in slots.waiting if w.uid != obs.pack.uid] + [mine],
        slots.active_by_namespace,
        global_limit=slots.global_limit,
        namespace_limit=slots.namespace_limit,
    )
    if not decision.admitted:
        return Plan(
            _queued_status(obs, spec, current, decision.position),
            events=events,
            delete_jobs=delete,
            requeue_after=QUEUED_RECHECK_SECONDS,
        )
    # Derived from the execution, not drawn at random: a replica admitting the same execution at
    # the same moment (a peering handover) writes the nonce the other's Jobs carry.
    nonce = choose_nonce(current.nonce, obs.nonce_secret, obs.pack.uid, current.id)
    status, more = started(obs, spec, current.model_copy(update={"nonce": nonce}))
    return Plan(
        status,
        events=events + more,
        create_jobs=list(current.runners),
        delete_jobs=delete,
        admitted=len(current.runners),
        requeue_after=RUNNING_RECHECK_SECONDS,
    )


def _in_progress(
    obs: Observed,
    spec: PackSpec,
    current: CurrentExecution,
    phase: Phase,
    reason: str,
    message: str,
    position: int | None = None,
) -> PackStatus:
    """The status of a queued or running execution (Tested False, the previous version active)."""
    return _finish(
        obs,
        obs.status,
        conditions(
            generation=obs.generation,
            phase=phase,
            tested=("False", reason, message),
            active=_awaiting(obs, spec, message),
        ),
        phase=phase,
        message=message,
        current_execution=current,
        queue_position=position,
        retest_token=retest_token(obs.retest) if current.trigger is Trigger.MANUAL else obs.status.retest_token,
    )


def _queued_status(obs: Observed, spec: PackSpec, current: CurrentExecution, position: int | None) -> PackStatus:
    where = f" (position {position} in the queue)" if position else ""
    message = f"version {spec.version} queued for testing ({current.trigger}){where}"
    return _in_progress(obs, spec, current, Phase.QUEUED, "Pending", message, position)


def started(obs: Observed, spec: PackSpec, current: CurrentExecution) -> tuple[PackStatus, list[Event]]:
    """The status once an execution is admitted: Testing, with its runners' Jobs about to exist."""
    message = f"testing version {spec.version} ({current.trigger}): {len(current.runners)} runner(s)"
    running = current.model_copy(update={"started_at": timestamp(obs.now)})
    new = _in_progress(obs, spec, running, Phase.TESTING, "Running", message)
    events = [
        Event(
            "Normal",
            "TestsStarted",
            f"Testing version {spec.version} ({current.trigger}) with runners {', '.join(current.runners)}",
        )
    ]
    return new, events


def _awaiting(obs: Observed, spec: PackSpec, message: str) -> tuple[str, str, str]:
    """Active while a version is being tested: the previous activeVersion stays active."""
    active = obs.status.active_version
    if active and active == spec.version:
        last = obs.status.condition("Active")
        if last is not None and last.status == "True":
            return ("True", last.reason, last.message)
    keep = f"; {active} stays active" if active else ""
    return ("False", ActiveReason.AWAITING_TESTS, f"{message}{keep}")


@dataclass
class _Survey:
    """Where each runner of a started execution stands, from the observation alone."""

    errors: dict[str, RunnerError]
    seen: list[str]
    create: list[str]
    collect: list[Collect]  # ended, not yet collected: read now
    detail: list[Collect]  # collected earlier, still readable: read again for the record's detail
    pending: list[str]  # still running
    events: list[Event]
    delete: list[str]


def _survey(obs: Observed, spec: PackSpec, current: CurrentExecution) -> _Survey:
    assert spec.testing is not None
    runners = {r.name: r for r in spec.testing.runners if r.name in current.runners}
    jobs = {j.runner: j for j in obs.jobs if j.execution == current.id}
    pods_by_job: dict[str, list[PodState]] = {}
    for each in obs.pods:
        pods_by_job.setdefault(each.job, []).append(each)

    errors = dict(current.runner_errors)
    events: list[Event] = []
    delete: list[str] = []
    for name, conflict in obs.conflicts.items():
        if name in runners and name not in errors:
            errors[name] = conflict
            events.append(Event("Warning", "RunnerError", f"runner {name}: {conflict.reason}: {conflict.message}"))
    collected = {s.name for s in current.collected}
    seen = list(current.jobs_seen)
    create: list[str] = []
    collect: list[Collect] = []
    detail: list[Collect] = []
    for name, runner in runners.items():
        if name in errors:
            continue
        job = jobs.get(name)
        pods = pods_by_job.get(job.name, []) if job is not None else []
        pod: PodState | None = pods[0] if pods else None
        if name in collected:
            # Its result was read when its Job ended: never run again, even if the Job is gone.
            # At the end, its log is read again (while it exists) for the record's full detail.
            if job is not None and pod is not None:
                detail.append(_collect(name, runner, job, pod, detail=True))
            continue
        if job is None:
            if name in seen:
                removed = job_name(obs.pack.name, name, current.id)
                error = RunnerError(
                    reason="JobRemoved", message=f"the Job {removed} was removed before its result was read"
                )
                errors[name] = error
                events.append(Event("Warning", "RunnerError", f"runner {name}: {error.reason}: {error.message}"))
            else:
                create.append(name)
            continue
        if name not in seen:
            seen.append(name)
        prompt = _prompt_failure(obs, runner, job, pod)
        if prompt is not None:
            errors[name] = prompt
            delete.append(job.name)
            events.append(Event("Warning", "RunnerError", f"runner {name}: {prompt.reason}: {prompt.message}"))
            continue
        if job.finished or _runner_ended(pod):
            collect.append(_collect(name, runner, job, pod))
    seen = [n for n in seen if n not in errors and n not in collected]
    reading = {c.runner for c in collect}
    pending = [n for n in runners if n not in errors and n not in collected and n not in reading]
    return _Survey(errors, seen, create, collect, detail, pending, events, delete)


def _started_current(obs: Observed) -> tuple[PackSpec, CurrentExecution] | None:
    """The spec and the running execution it still wants (same spec hash, started), if any."""
    spec, current = obs.spec, obs.status.current_execution
    if spec is None or spec.skip_tests or spec.testing is None or not spec.testing.enabled:
        return None
    if current is None or current.started_at is None or current.spec_hash != spec_hash(spec):
        return None
    return spec, current


def reads(obs: Observed) -> Reads:
    """The logs to read before planning: those of runners whose Jobs ended (each as soon as it
    ends: its Job may be removed, ttlSecondsAfterFinished, before the last runner ends), and, when
    every runner has ended, those collected earlier again, for the record's full detail.  Or the
    execution whose verdict an install or update about to start may reuse (`cache_lookup`)."""
    running = _started_current(obs)
    if running is None:
        return Reads(digest_lookup=cache_lookup(obs))
    survey = _survey(obs, *running)
    if survey.pending:
        return Reads(collect=survey.collect)
    return Reads(collect=survey.collect + survey.detail, concluding=True)


def _new_execution_wanted(obs: Observed) -> tuple[PackSpec, Wanted] | None:
    """The spec and the execution `plan` would start now (none queued or running for this spec),
    if any: the same questions `_plan` asks, in the same order."""
    spec = obs.spec
    if spec is None or spec.skip_tests or spec.testing is None or not spec.testing.enabled:
        return None
    if not spec.testing.runners or obs.source_found is False:
        return None
    current = obs.status.current_execution
    if current is not None and current.spec_hash == spec_hash(spec):
        return None
    wanted = wanted_execution(obs, spec)
    return None if wanted is None else (spec, wanted)


CACHEABLE = (Trigger.INSTALL, Trigger.UPDATE)
"""Triggers whose execution may reuse a cached verdict; a manual retest and a validation always run."""


def cache_lookup(obs: Observed) -> CacheLookup | None:
    """What to look up in PostgreSQL before planning: when an install or update is about to start,
    spec.testing.cacheFor is set and the spec has an execution digest, the newest execution with
    that digest finished within cacheFor."""
    new = _new_execution_wanted(obs)
    if new is None or obs.digest is None:
        return None
    spec, wanted = new
    window = spec.testing.cache_seconds if spec.testing else None
    if not window or wanted.trigger not in CACHEABLE:
        return None
    return CacheLookup(digest=obs.digest, since=obs.now - timedelta(seconds=window))


def _reusable(obs: Observed, spec: PackSpec, wanted: Wanted) -> bool:
    """Whether `wanted` is served from `obs.cached`: an install or update, cacheFor set, and the
    execution found has this spec's digest and finished within cacheFor (checked again here, so
    a stale or foreign observation is never reused)."""
    cached = obs.cached
    window = spec.testing.cache_seconds if spec.testing else None
    if cached is None or not window or wanted.trigger not in CACHEABLE or obs.digest is None:
        return False
    return cached.digest == obs.digest and obs.now - timedelta(seconds=window) <= cached.finished_at <= obs.now


def _plan_cached(
    obs: Observed, spec: PackSpec, wanted: Wanted, cached: CachedExecution, delete: list[str], events: list[Event]
) -> Plan:
    """An install or update with the digest of a recent execution: its verdict, without Jobs.  The
    new execution (its own id, trigger and version) takes the origin's counts and suites, decided
    by today's policy, names the origin in cachedFrom, and is recorded with cached_from."""
    result = cached.result.model_copy(
        update={
            "pack_ref": pack_ref(obs.pack.name, spec),
            "pack_version": spec.version,
            "execution_time": obs.now,
            "duration_ms": 0,
        }
    )
    verdict = decide(policy_of(spec), result)
    now = timestamp(obs.now)
    execution = _execution_summary(
        result,
        result.test_suites,
        job=lambda _: None,
        reason=suite_reason,
        id=wanted.id,
        trigger=wanted.trigger,
        version=spec.version,
        spec_hash=wanted.spec_hash,
        started_at=now,
        finished_at=now,
        duration_ms=0,
        digest=obs.digest,
        cached_from=cached.execution_id,
    )
    execution = bound_execution(execution)
    status = obs.status.model_copy(update={"last_execution": execution, "current_execution": None})
    new, more = verdict_status(with_status(obs, status), spec, execution, verdict)
    reused = Event(
        "Normal",
        "CachedVerdict",
        f"version {spec.version} ({wanted.trigger}): verdict of execution {cached.execution_id} reused, "
        f"same content digest, finished {timestamp(cached.finished_at)}; no Jobs run",
    )
    return Plan(
        new,
        events=[*events, reused, *_verdict_events(spec, result, verdict), *more],
        delete_jobs=delete,
        record=Record(result, verdict.allowed),
        requeue_after=validation_due_in(with_status(obs, new), spec),
    )


def _plan_running(
    obs: Observed, spec: PackSpec, current: CurrentExecution, delete: list[str], events: list[Event]
) -> Plan:
    if current.started_at is None:
        # Still queued: ask for admission again.
        return _admission(obs, spec, current, delete, events)
    survey = _survey(obs, spec, current)
    events = events + survey.events
    delete = delete + survey.delete
    updated = current.model_copy(update={"runner_errors": survey.errors, "jobs_seen": survey.seen})
    status = obs.status.model_copy(update={"current_execution": updated})
    if updated != current:
        obs = with_status(obs, status)
    if survey.pending:
        # Runners that ended were read for this pass (`reads`), without waiting for the others.
        still, _ = started(obs, spec, updated)
        still = with_collected(obs, still.model_copy(update={"current_execution": updated}), obs.collected)
        return Plan(
            still,
            events=events,
            create_jobs=survey.create,
            delete_jobs=delete,
            requeue_after=RUNNING_RECHECK_SECONDS,
        )
    # Every runner has an outcome: the verdict, from what was read for this pass.
    final, more, result, verdict = conclude(obs, spec, obs.collected, obs.comparison)
    return Plan(final, events=events + more, delete_jobs=delete, record=Record(result, verdict.allowed))


def _runner_ended(pod: PodState | None) -> bool:
    """The runner's pod has ended and its container's exit code is known: its log is complete,
    so it is read at once, without waiting for the Job controller to mark the Job finished."""
    return pod is not None and pod.ended and pod.exit_code is not None


def _collect(name: str, runner: Runner, job: JobState, pod: PodState | None, *, detail: bool = False) -> Collect:
    return Collect(
        runner=name,
        runner_type=str(runner.type),
        job=job.name,
        pod=pod.name if pod else None,
        exit_code=pod.exit_code if pod else None,
        timeout=runner.timeout_seconds if pod is not None and pod.deadline_exceeded else None,
        detail=detail,
    )


def timeout_suite(item: Collect, last_lines: Sequence[str]) -> TestSuiteResult:
    """The outcome of a runner whose pod was killed at its deadline (`Collect.timeout`): an error
    saying so, then the last lines it printed (`runner_error`), e.g.
    `timed out after 60s; last lines: "test_slow_thing ..."`.  Its reason is Timeout."""
    why = f"timed out after {item.timeout}s"
    return error_suite(
        item.runner, item.runner_type, runner_error(why, last_lines), exit_code=item.exit_code, job_name=item.job
    )


def with_status(obs: Observed, status: PackStatus) -> Observed:
    """The same observation with another status (as after a status the plan computed)."""
    return dataclasses.replace(obs, status=status)


def _prompt_failure(obs: Observed, runner: Runner, job: JobState, pod: PodState | None) -> RunnerError | None:
    """A runner that will not produce results, detected before its deadline."""
    timeout = runner.timeout_seconds
    if job.failed and job.reason == "DeadlineExceeded":
        # The Job's deadline is a little later than the pod's own: the pod did not end in time
        # (it never started, or took too long to stop), and the Job controller removed it.
        detail = job.message or "the Job exceeded its deadline"
        why = f"timed out after {timeout}s; its pod did not end in time for its log to be read"
        return RunnerError(reason="Timeout", message=f"{why} ({detail})")
    if pod is None:
        if job.failed:
            return RunnerError(reason="JobFailed", message=job.message or f"Job {job.name} failed without a pod")
        return None
    if pod.deadline_exceeded and pod.exit_code is None:
        # Killed at its deadline before the runner's container ran: there is no output to read.
        before = f" ({pod.init_failure})" if pod.init_failure else ""
        return RunnerError(reason="Timeout", message=f"timed out after {timeout}s before the runner started{before}")
    if pod.init_failure:
        return RunnerError(reason="SourceFetchFailed", message=pod.init_failure)
    if pod.waiting_reason in FATAL_WAITING:
        detail = f"{pod.waiting_reason}: {pod.waiting_message}" if pod.waiting_message else pod.waiting_reason
        return RunnerError(reason=FATAL_WAITING[pod.waiting_reason], message=detail)
    if pod.unschedulable_since is not None:
        waited = (obs.now - pod.unschedulable_since).total_seconds()
        if waited >= obs.unschedulable_grace:
            return RunnerError(
                reason="Unschedulable",
                message=f"pod {pod.name} unschedulable for {int(waited)}s: {pod.unschedulable_message or ''}".strip(),
            )
    return None


# ---------------------------------------------------------------------------------------------
# what was read for a pass (runners' logs), kept in the status for the passes after it


def _runner_pods(obs: Observed, current: CurrentExecution) -> dict[str, PodState]:
    """The pod of each runner's Job in the current execution, as observed."""
    runner_of = {j.name: j.runner for j in obs.jobs if j.execution == current.id}
    pods: dict[str, PodState] = {}
    for each in obs.pods:
        if each.job in runner_of:
            pods.setdefault(runner_of[each.job], each)
    return pods


def suite_reason(suite: TestSuiteResult, *, timed_out: bool = False) -> str | None:
    """The reason shown for a runner whose log was read: Timeout (its pod was killed at its
    deadline), the one the runner's result carries (DependencyInstallFailed: the wrapper could
    not install the pack's dependencies), NoResults (nothing recognisable), ExitCode (a crash),
    or None (it has results)."""
    if timed_out:
        return "Timeout"
    if suite.reason:
        return suite.reason
    if suite.status is RunStatus.ERROR:
        return "NoResults" if suite.total == 0 else "ExitCode"
    return None


def collected_suite(suite: TestSuiteResult, reason: str | None) -> CollectedSuite:
    """What status.currentExecution.collected keeps of a runner read before the others ended: its
    counts, status, error and the names of its first failing tests (how many more are left out)."""
    failing = [c.name for c in suite.test_cases if c.status in (TestStatus.FAILED, TestStatus.ERROR)]
    names, _ = cap_names(failing, FAILING_TESTS_SHOWN, FAILING_TESTS_BYTES)
    # `failed` also counts the failing cases the parser did not keep.
    omitted = max(suite.failed, len(failing)) - len(names)
    return CollectedSuite(
        name=suite.name,
        type=suite.runner_type,
        status=str(suite.status),
        total=suite.total,
        passed=suite.passed,
        failed=suite.failed,
        skipped=suite.skipped,
        duration_ms=suite.duration_ms,
        reason=reason,
        error=None if suite.error is None else clip(suite.error, TEXT_BYTES),
        exit_code=suite.exit_code,
        failing_tests=names,
        failing_tests_omitted=omitted or None,
    )


def suite_of_summary(summary: SuiteSummary, failing_tests: Sequence[str] = ()) -> TestSuiteResult:
    """A runner's suite rebuilt from its summary in the status: its counts, status and error, and
    its failing tests by name only (status failed)."""
    return TestSuiteResult(
        name=summary.name,
        runner_type=summary.type,
        total=summary.total,
        passed=summary.passed,
        failed=summary.failed,
        skipped=summary.skipped,
        duration_ms=summary.duration_ms,
        status=RunStatus(summary.status),
        test_cases=[TestCaseResult(name=name, status=TestStatus.FAILED) for name in failing_tests],
        error=summary.error,
        exit_code=summary.exit_code,
    )


def suite_of_collected(summary: CollectedSuite) -> TestSuiteResult:
    """A collected runner's suite when its log can no longer be read."""
    return suite_of_summary(summary, summary.failing_tests)


def with_collected(obs: Observed, status: PackStatus, results: dict[str, TestSuiteResult]) -> PackStatus:
    """The status with the results read for this pass (`reads`) of runners that ended while
    others still run: each kept compactly in currentExecution.collected, in the execution's
    runner order, so a later pass concludes from it if their Jobs are gone by then."""
    current = status.current_execution
    if current is None or not results:
        return status
    timed_out = {n for n, pod in _runner_pods(obs, current).items() if pod.deadline_exceeded}
    have = {s.name: s for s in current.collected}
    for name, suite in results.items():
        if name in current.runners and name not in have and name not in current.runner_errors:
            have[name] = collected_suite(suite, suite_reason(suite, timed_out=name in timed_out))
    updated = current.model_copy(
        update={
            "collected": [have[n] for n in current.runners if n in have],
            "jobs_seen": [n for n in current.jobs_seen if n not in have],
        }
    )
    return status.model_copy(update={"current_execution": updated})


def _plan_idle(obs: Observed, spec: PackSpec, delete: list[str], events: list[Event]) -> Plan:
    """No execution needed: the status follows from the last execution and today's policy."""
    last = obs.status.last_execution
    assert last is not None
    verdict = decide(policy_of(spec), summary_as_result(last, pack_ref(obs.pack.name, spec)))
    new, more = verdict_status(obs, spec, last, verdict)
    return Plan(new, events=events + more, delete_jobs=delete, requeue_after=validation_due_in(obs, spec))


def summary_as_result(last: ExecutionSummary, ref: str) -> PackTestResult:
    """Enough of a PackTestResult to re-decide a verdict from status alone."""
    suites = [suite_of_summary(s) for s in last.suites]
    return PackTestResult(
        pack_ref=ref,
        pack_version=last.version,
        execution_time=_parse_time(last.started_at or last.finished_at or "1970-01-01T00:00:00Z"),
        total_tests=last.total,
        passed=last.passed,
        failed=last.failed,
        skipped=last.skipped,
        pass_rate=last.pass_rate,
        duration_ms=last.duration_ms,
        status=RunStatus(last.status),
        test_suites=suites,
    )


def phase_of(last: ExecutionSummary, min_pass_rate: float) -> Phase:
    """Passed: every executed test passed.  Partial: some failed, but the pass rate meets
    minPassRate.  Failed: below it.  Error: a runner errored or nothing was executed.  (force,
    warn and ignore change whether the version is allowed, not what the tests said.)"""
    status = RunStatus(last.status)
    if status is RunStatus.ERROR or last.passed + last.failed == 0:
        return Phase.ERROR
    if last.failed == 0:
        return Phase.PASSED
    return Phase.PARTIAL if last.pass_rate >= min_pass_rate else Phase.FAILED


def verdict_status(
    obs: Observed, spec: PackSpec, last: ExecutionSummary, verdict: Verdict
) -> tuple[PackStatus, list[Event]]:
    """The status that follows from a finished execution's verdict."""
    phase = phase_of(last, policy_of(spec).min_pass_rate)
    previous_active = obs.status.active_version
    events: list[Event] = []
    hold = _hold(obs, spec) if verdict.allowed else None
    if hold is not None:
        active_version = previous_active
    elif verdict.allowed:
        active_version = spec.version
        if previous_active != spec.version:
            events.append(Event("Normal", "Activated", f"version {spec.version} activated: {verdict.message}"))
    elif last.trigger is Trigger.VALIDATION or previous_active == spec.version:
        active_version = ""
    else:
        active_version = previous_active
    if phase is Phase.ERROR:
        tested = ("False", "Error", verdict.message)
    else:
        tested = ("True", str(phase), f"{last.passed}/{last.passed + last.failed} passed ({last.trigger})")
    reason = verdict.reason
    if not verdict.allowed and last.trigger is Trigger.VALIDATION:
        reason = ActiveReason.VALIDATION_FAILED
    message = verdict.message
    if not verdict.allowed and active_version and active_version != spec.version:
        message = f"{message}; version {active_version} stays active"
    stalled = next((s.reason for s in last.suites if s.reason), None)
    active: tuple[str, str, str] = ("True" if verdict.allowed else "False", str(reason), message)
    if hold is not None:
        active, stalled = _held(obs, hold), str(hold.reason)
        message = active[2]
    new = _finish(
        obs,
        obs.status,
        conditions(
            generation=obs.generation,
            phase=phase,
            tested=tested,
            active=active,
            stalled_reason=stalled,
            waiting=hold is not None and not hold.stalled,
        ),
        phase=phase,
        message=message,
        active_version=active_version,
        current_execution=None,
        queue_position=None,
    )
    return new, events


def conclude(
    obs: Observed,
    spec: PackSpec,
    collected: dict[str, TestSuiteResult],
    comparison: Comparison | None = None,
) -> tuple[PackStatus, list[Event], PackTestResult, Verdict]:
    """Every runner has an outcome: combine, decide, and write the execution into status."""
    current = obs.status.current_execution
    assert current is not None and spec.testing is not None
    suites: list[TestSuiteResult] = []
    reasons: dict[str, str] = {}
    summaries = {s.name: s for s in current.collected}
    timed_out = {n for n, pod in _runner_pods(obs, current).items() if pod.deadline_exceeded}
    failing_omitted = 0
    for runner in spec.testing.runners:
        if runner.name not in current.runners:
            continue
        error = current.runner_errors.get(runner.name)
        summary = summaries.get(runner.name)
        if error is not None:
            suites.append(error_suite(runner.name, str(runner.type), f"{error.reason}: {error.message}"))
            reasons[runner.name] = error.reason
        elif runner.name in collected:
            suite = collected[runner.name]
            suites.append(suite)
            reason = suite_reason(suite, timed_out=runner.name in timed_out)
            if reason is not None:
                reasons[runner.name] = reason
        elif summary is not None:
            # Read when its Job ended; the log is gone now: conclude from what status kept.
            suites.append(suite_of_collected(summary))
            failing_omitted += summary.failing_tests_omitted or 0
            if summary.reason:
                reasons[runner.name] = summary.reason
        else:
            suites.append(error_suite(runner.name, str(runner.type), "the runner's Job disappeared before it ended"))
            reasons[runner.name] = "JobLost"
    started_at = _parse_time(current.started_at or current.queued_at)
    duration = max(0, int((obs.now - started_at).total_seconds() * 1000))
    result = combine(pack_ref(obs.pack.name, spec), spec.version, started_at, suites, duration_ms=duration)
    verdict = decide(policy_of(spec), result)
    # Bounded here, where every failing test is known, so failingTestsOmitted counts them all.
    execution = _execution_summary(
        result,
        suites,
        job=lambda runner: job_name(obs.pack.name, runner, current.id),
        reason=lambda suite: reasons.get(suite.name),
        id=current.id,
        trigger=current.trigger,
        version=current.version,
        spec_hash=current.spec_hash,
        started_at=current.started_at,
        finished_at=timestamp(obs.now),
        duration_ms=duration,
        failing_tests_omitted=failing_omitted or None,
        comparison=comparison,
        digest=current.digest,
    )
    execution = bound_execution(execution)
    status = obs.status.model_copy(update={"last_execution": execution})
    new, events = verdict_status(with_status(obs, status), spec, execution, verdict)
    events = _verdict_events(spec, result, verdict) + events
    return new, events, result, verdict


def _execution_summary(
    result: PackTestResult,
    suites: Sequence[TestSuiteResult],
    *,
    job: Callable[[str], str | None],
    reason: Callable[[TestSuiteResult], str | None],
    **fields: Any,
) -> ExecutionSummary:
    """status.lastExecution for `result` made of `suites`: its counts, one SuiteSummary per suite
    (with `job(runner name)` and `reason(suite)`), every failing test's name, and `fields` (which
    execution, its times, digest...) as given."""
    failing = [
        f"{s.name}: {c.name}" for s in suites for c in s.test_cases if c.status in (TestStatus.FAILED, TestStatus.ERROR)
    ]
    return ExecutionSummary(
        total=result.total_tests,
        passed=result.passed,
        failed=result.failed,
        skipped=result.skipped,
        pass_rate=round(result.pass_rate, 4),
        status=str(result.status),
        suites=[
            SuiteSummary(
                name=s.name,
                type=s.runner_type,
                job=job(s.name),
                status=str(s.status),
                total=s.total,
                passed=s.passed,
                failed=s.failed,
                skipped=s.skipped,
                duration_ms=s.duration_ms,
                reason=reason(s),
                error=s.error,
                exit_code=s.exit_code,
            )
            for s in suites
        ],
        failing_tests=failing,
        **fields,
    )


def _verdict_events(spec: PackSpec, result: PackTestResult, verdict: Verdict) -> list[Event]:
    counts = f"{result.passed}/{result.passed + result.failed} passed, {result.skipped} skipped"
    events = []
    if result.status in (RunStatus.PASSED, RunStatus.PARTIAL) and verdict.passed:
        events.append(Event("Normal", "TestsPassed", f"version {spec.version}: {counts}"))
    else:
        events.append(Event("Warning", "TestsFailed", f"version {spec.version}: {counts}: {verdict.message}"))
    if verdict.reason is ActiveReason.FORCED:
        events.append(Event("Warning", "Forced", f"version {spec.version} activated by spec.force: {verdict.message}"))
    elif verdict.warning:
        events.append(Event("Warning", str(verdict.reason), verdict.message))
    if not verdict.allowed:
        events.append(Event("Warning", "ActivationBlocked", f"version {spec.version} blocked: {verdict.message}"))
    return events


def summary_columns(status: PackStatus) -> dict[str, str]:
    """status.summary: the TESTS and RATE printer columns."""
    last = status.last_execution
    if last is None:
        return {"tests": "", "rate": ""}
    executed = last.passed + last.failed
    return {"tests": f"{last.passed}/{executed}", "rate": f"{last.pass_rate:.0%}" if executed else ""}
