"""The executor: observes one Pack, asks the planner what to do, and does it.

Owns: the order of side effects (status before Jobs, database before clearing a pending record),
admission under the concurrency limits, log collection, writing the status within its size
budget (`bound_status`), and recording executions: written, deferred into the status while
PostgreSQL is away (compact, capped: `defer`), or refused by PostgreSQL and reported (never
retried).  Without a database configured nothing is recorded or deferred.  Must not: decide
(the planner does), import kopf (the handlers do), or talk to the API server or the database
except through `packgate.k8s` and `packgate.db`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from packgate import metrics
from packgate.api.spec import PackSpec, load_spec, pack_ref, runner_format
from packgate.api.status import (
    PENDING_BYTES,
    PENDING_RECORDS_MAX,
    TEXT_BYTES,
    Comparison,
    PackStatus,
    RunnerError,
    bound_status,
    capped_comparison,
    clip,
    defer,
    load_status,
    status_patch,
)
from packgate.errors import DatabaseError, DatabaseUnavailable, InvalidPack, KubernetesError, RecordRefused
from packgate.history import case_key, compare
from packgate.k8s.client import Kube
from packgate.reconcile import plan as planner
from packgate.reconcile.observe import is_active, job_mismatch, job_state, pod_state
from packgate.reconcile.plan import Collect, Event, Observed, Plan
from packgate.reconcile.queue import Waiting, admit
from packgate.reconcile.render import (
    PATHS_ANNOTATION,
    RUNNER_CONTAINER,
    PackIdentity,
    RenderOptions,
    idempotency_key,
    render_job,
)
from packgate.results import PackTestResult, TestStatus, TestSuiteResult, error_suite
from packgate.settings import Settings
from packgate.wrapper import choose_nonce, judge, new_collector, runner_error

log = logging.getLogger("packgate")

Emit = Callable[[Event], Awaitable[None]]
PENDING_RETRY_SECONDS = 10.0


class Recorder:
    """PostgreSQL, connected lazily and again after an outage; never blocks a verdict.  With
    `migrate`, every (re)connection first applies pending migrations, so an operator that started
    while PostgreSQL was down still gets its schema."""

    def __init__(
        self,
        dsn: str | None,
        retry_seconds: float = 10.0,
        *,
        migrate: bool = False,
        migrations_dir: Path | None = None,
    ) -> None:
        self.dsn = dsn
        self.retry_seconds = retry_seconds
        self.migrate = migrate
        self.migrations_dir = migrations_dir
        self._db: Any = None
        self._next_try = 0.0
        self._lock = asyncio.Lock()

    @property
    def configured(self) -> bool:
        """Whether a database is configured at all (PACKGATE_DATABASE_URL); without one, nothing
        is recorded and nothing is deferred."""
        return self.dsn is not None

    async def database(self) -> Any:
        """The connected database, or None while it is unreachable (or not configured)."""
        if self.dsn is None:
            return None
        async with self._lock:
            if self._db is not None:
                return self._db
            if time.monotonic() < self._next_try:
                return None
            from packgate.db import Database

            try:
                db = await Database.connect(self.dsn)
            except DatabaseError as exc:
                log.warning("PostgreSQL unavailable, records are deferred: %s", exc)
                self._next_try = time.monotonic() + self.retry_seconds
                return None
            if self.migrate and not await self._migrate(db):
                self._next_try = time.monotonic() + self.retry_seconds
                return None
            self._db = db
            return self._db

    async def _migrate(self, db: Any) -> bool:
        """Apply pending migrations; False when the connection was lost meanwhile.  Any other
        failure (e.g. no privilege to migrate: `packgate migrate` is run by someone else) is
        logged and the connection used as it is."""
        try:
            for migration in await db.migrate(self.migrations_dir):
                log.info("Applied migration %s", migration.name)
        except DatabaseUnavailable as exc:
            log.warning("PostgreSQL unavailable, records are deferred: %s", exc)
            with contextlib.suppress(DatabaseError):
                await db.close()
            return False
        except DatabaseError as exc:
            log.warning("Migrations not applied: %s", exc)
        return True

    async def lost(self) -> None:
        """Forget a connection that failed; the next call reconnects."""
        async with self._lock:
            db, self._db = self._db, None
            self._next_try = time.monotonic() + self.retry_seconds
        if db is not None:
            with contextlib.suppress(DatabaseError):
                await db.close()

    async def close(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None


class Outcome(StrEnum):
    WRITTEN = "written"  # in PostgreSQL (now, or earlier: writing is idempotent)
    DEFERRED = "deferred"  # PostgreSQL unavailable (or failing for a reason outside the record): retry
    REFUSED = "refused"  # PostgreSQL refused the record's data: report it, never retry
    NOT_CONFIGURED = "not-configured"  # no database: nothing is recorded


@dataclass(frozen=True)
class Recording:
    outcome: Outcome
    reason: str = ""


@dataclass
class Executor:
    kube: Kube
    settings: Settings
    recorder: Recorder
    admission_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    fleet: metrics.Fleet = field(default_factory=metrics.Fleet)

    @property
    def render_options(self) -> RenderOptions:
        s = self.settings
        return RenderOptions(
            images={"shell": s.image_shell, "python": s.image_python, "pytest": s.image_pytest, "node": s.image_node},
            git_image=s.image_git,
            ttl_seconds=s.job_ttl_seconds,
        )

    @property
    def nonce_secret(self) -> str:
        """PACKGATE_NONCE_SECRET, the key of every execution's nonce ("" when unset)."""
        secret = self.settings.nonce_secret
        return "" if secret is None else secret.get_secret_value()

    # -- one pass ----------------------------------------------------------------------------

    async def reconcile(self, namespace: str, name: str, emit: Emit) -> float | None:
        """Observe, plan, act.  Returns seconds until the next pass is needed (None: on change only).
        A pass that ends notes the Pack's tally in `fleet` (the fleet gauges)."""
        raw = await self.kube.get_pack(namespace, name)
        if raw is None or raw.get("metadata", {}).get("deletionTimestamp"):
            return None
        obs, spec, paths = await self._observe(raw)
        result = planner.plan(obs)
        deferred = False
        queued = False
        for job in result.delete_jobs:
            await self.kube.delete_job(namespace, job)
            log.info("Deleted Job %s for Pack %s/%s", job, namespace, name)
        if result.start is not None:
            assert spec is not None
            queued = not await self._admit(obs, spec, result, emit, paths)
        elif result.conclude:
            assert spec is not None
            deferred = await self._conclude(obs, spec, result, emit)
        else:
            await self._write_status(obs, result.status)
            current = result.status.current_execution
            queued = current is not None and current.started_at is None
            written = await self._create_jobs(obs, spec, result.status, result.create_jobs, paths, emit)
            await self._emit_all(emit, result.events)
            if result.collect:
                assert spec is not None
                await self._collect_ended(obs, spec, written, result.collect)
        # Only a Pack with deferred records needs the extra read of its status.  Without a database
        # configured, records deferred earlier wait for one.
        pending = obs.status.pending_records or deferred
        still = len(obs.status.pending_records)
        if pending and self.recorder.configured:
            still = await self._flush_pending(namespace, name, emit)
        running = sum(1 for job in obs.jobs if not job.finished and job.name not in result.delete_jobs)
        self.fleet.note(obs.pack.uid, metrics.PackTally(jobs_running=running, queued=queued, records_pending=still))
        if still and self.recorder.configured:
            # Records still deferred: try again soon, whatever else the plan said.
            return min(result.requeue_after or PENDING_RETRY_SECONDS, PENDING_RETRY_SECONDS)
        return result.requeue_after

    async def _observe(self, raw: dict[str, Any]) -> tuple[Observed, PackSpec | None, str | None]:
        meta = raw["metadata"]
        namespace, name, uid = meta["namespace"], meta["name"], meta["uid"]
        spec: PackSpec | None
        try:
            spec, error = load_spec(raw.get("spec") or {}), None
        except InvalidPack as exc:
            spec, error = None, str(exc)
        jobs = await self.kube.list_pack_jobs(namespace, uid)
        pods = await self.kube.list_pack_pods(namespace, uid)
        source_found: bool | None = None
        paths: str | None = None
        if spec is not None and spec.source.config_map is not None:
            config_map = await self.kube.get_config_map(namespace, spec.source.config_map.name)
            source_found = config_map is not None
            if config_map is not None:
                paths = (config_map.get("metadata", {}).get("annotations") or {}).get(PATHS_ANNOTATION)
        obs = Observed(
            pack=PackIdentity(namespace, name, uid),
            generation=int(meta.get("generation") or 0),
            spec=spec,
            spec_error=error,
            status=load_status(raw.get("status")),
            retest=(meta.get("annotations") or {}).get("packgate.dev/retest"),
            jobs=[job_state(j) for j in jobs],
            pods=[pod_state(p) for p in pods],
            source_found=source_found,
            now=self.clock(),
            unschedulable_grace=float(self.settings.unschedulable_grace_seconds),
        )
        return obs, spec, paths

    # -- status --------------------------------------------------------------------------------

    async def _write_status(self, obs: Observed, status: PackStatus) -> None:
        await self._patch_status(obs.pack.namespace, obs.pack.name, obs.status, status)

    async def _patch_status(self, namespace: str, name: str, old: PackStatus, new: PackStatus) -> None:
        """Merge-patch the status from `old` (as read) to `new`, bounded to its size budget."""
        patch = status_patch(old, bound_status(new))
        if patch:
            await self.kube.patch_pack_status(namespace, name, patch)

    async def _emit_all(self, emit: Emit, events: list[Event]) -> None:
        for event in events:
            await emit(event)

    # -- starting ------------------------------------------------------------------------------

    async def _admit(self, obs: Observed, spec: PackSpec, result: Plan, emit: Emit, paths: str | None) -> bool:
        """Start the execution if the concurrency limits let it, else keep it queued; True when it
        started (its Jobs are created)."""
        current = result.start
        assert current is not None
        async with self.admission_lock:
            namespaces = self.settings.namespaces
            active: dict[str, int] = {}
            for job in await self.kube.list_managed_jobs(namespaces):
                if is_active(job):
                    ns = job["metadata"]["namespace"]
                    active[ns] = active.get(ns, 0) + 1
            waiting = [Waiting(current.queued_at, obs.pack.uid, obs.pack.namespace, len(current.runners))]
            for pack in await self.kube.list_packs(namespaces):
                meta = pack.get("metadata", {})
                if meta.get("uid") == obs.pack.uid:
                    continue
                other = load_status(pack.get("status")).current_execution
                if other is not None and other.started_at is None:
                    waiting.append(Waiting(other.queued_at, meta["uid"], meta["namespace"], len(other.runners)))
            decision = admit(
                obs.pack.uid,
                waiting,
                active,
                global_limit=self.settings.max_concurrent_jobs,
                namespace_limit=self.settings.max_concurrent_jobs_per_namespace,
            )
            if not decision.admitted:
                await self._write_status(obs, planner.queued(obs, spec, current, decision.position))
                await self._emit_all(emit, result.events)
                return False
            # Derived from the execution, not drawn at random: a replica admitting the same execution
            # at the same moment (a peering handover) writes the nonce the other's Jobs carry.
            nonce = choose_nonce(current.nonce, self.nonce_secret, obs.pack.uid, current.id)
            current = current.model_copy(update={"nonce": nonce})
            status, events = planner.started(obs, spec, current)
            await self._write_status(obs, status)
            await self._create_jobs(
                obs, spec, status, [r.name for r in spec.testing.runners] if spec.testing else [], paths, emit
            )
        metrics.EXECUTIONS_STARTED.labels(trigger=str(current.trigger)).inc()
        await self._emit_all(emit, result.events + events)
        return True

    async def _create_jobs(
        self,
        obs: Observed,
        spec: PackSpec | None,
        status: PackStatus,
        runners: list[str],
        paths: str | None,
        emit: Emit,
    ) -> PackStatus:
        """Create the runners' Jobs (`status` is already written).  A Job of the same name that exists
        is adopted when it is this execution's (a replica that created it a moment earlier);
        otherwise that runner is an error, JobConflict, kept in the status.  Returns the status as
        written."""
        current = status.current_execution
        if not runners or spec is None or spec.testing is None or current is None:
            return status
        wanted = {r.name: r for r in spec.testing.runners}
        conflicts: dict[str, RunnerError] = {}
        for name in runners:
            if name not in wanted or name not in current.runners:
                continue
            manifest = render_job(
                obs.pack,
                spec,
                wanted[name],
                execution=current.id,
                nonce=current.nonce,
                options=self.render_options,
                config_map_paths=paths,
            )
            job = manifest["metadata"]["name"]
            if await self.kube.create_job(manifest):
                log.info("Created Job %s for Pack %s/%s", job, obs.pack.namespace, obs.pack.name)
                continue
            existing = await self.kube.get_job(obs.pack.namespace, job)
            problem = job_mismatch(existing, name=job, pack_uid=obs.pack.uid, execution=current.id, runner=name)
            if problem is None:
                log.info("Adopted Job %s for Pack %s/%s", job, obs.pack.namespace, obs.pack.name)
                continue
            log.warning("Pack %s/%s, runner %s: %s", obs.pack.namespace, obs.pack.name, name, problem)
            conflicts[name] = RunnerError(reason="JobConflict", message=problem)
        if not conflicts:
            return status
        new = planner.with_runner_errors(status, conflicts)
        await self._patch_status(obs.pack.namespace, obs.pack.name, bound_status(status), new)
        await self._emit_all(
            emit,
            [Event("Warning", "RunnerError", f"runner {n}: {e.reason}: {e.message}") for n, e in conflicts.items()],
        )
        return new

    # -- collecting ----------------------------------------------------------------------------

    async def _collect_ended(self, obs: Observed, spec: PackSpec, status: PackStatus, items: list[Collect]) -> None:
        """Read the logs of runners that ended while others still run, and keep their results in the
        status (`status` is what was written), compactly: their Jobs may be removed
        (ttlSecondsAfterFinished) before the last runner ends, and the next plan reads them there."""
        current = status.current_execution
        assert current is not None and spec.testing is not None
        runners = {r.name: r for r in spec.testing.runners}
        results: dict[str, TestSuiteResult] = {}
        for item in items:
            if item.runner in runners:
                suite = await asyncio.to_thread(
                    self._collect_one, obs.pack.namespace, item, current.nonce, runners[item.runner]
                )
                if suite is not None:
                    results[item.runner] = suite
                    log.info(
                        "Collected runner %s (Job %s) of Pack %s/%s: %s",
                        item.runner,
                        item.job,
                        obs.pack.namespace,
                        obs.pack.name,
                        suite.status,
                    )
        await self._patch_status(
            obs.pack.namespace, obs.pack.name, bound_status(status), planner.with_collected(obs, status, results)
        )

    # -- concluding ----------------------------------------------------------------------------

    async def _conclude(self, obs: Observed, spec: PackSpec, result: Plan, emit: Emit) -> bool:
        """Collect, decide and write the verdict; True when the record had to be deferred."""
        current = obs.status.current_execution
        assert current is not None and spec.testing is not None
        runners = {r.name: r for r in spec.testing.runners}
        collected: dict[str, TestSuiteResult] = {}
        for item in result.collect:
            if item.runner in runners:
                read = await asyncio.to_thread(
                    self._collect_one, obs.pack.namespace, item, current.nonce, runners[item.runner]
                )
                if read is not None:
                    collected[item.runner] = read
        comparison = await self._comparison(obs, collected)
        status, events, outcome, verdict = planner.conclude(
            planner.with_status(obs, result.status), spec, collected, comparison
        )
        record = self._record(obs, spec, status, outcome, verdict.allowed)
        recording = await self._record_now(record)
        status, recorded_events = _after_recording(status, record, recording)
        events.extend(recorded_events)
        last = status.last_execution
        assert last is not None
        await self._write_status(obs, status)
        metrics.EXECUTIONS_FINISHED.labels(status=last.status, allowed=str(verdict.allowed).lower()).inc()
        metrics.observe_execution(
            trigger=str(current.trigger),
            status=last.status,
            queued_at=current.queued_at,
            started_at=current.started_at,
            duration_ms=last.duration_ms,
        )
        for suite in last.suites:
            if suite.reason:
                metrics.RUNNER_ERRORS.labels(reason=suite.reason).inc()
        log.info(
            "Pack %s/%s version %s: %s (%s/%s passed), %s",
            obs.pack.namespace,
            obs.pack.name,
            spec.version,
            last.status,
            last.passed,
            last.passed + last.failed,
            "allowed" if verdict.allowed else "blocked",
        )
        await self._emit_all(emit, result.events + events)
        return recording.outcome is Outcome.DEFERRED

    def _collect_one(self, namespace: str, item: Collect, nonce: str, runner: Any) -> TestSuiteResult | None:
        """Read one runner's whole log, streamed through the collector in bounded memory, and judge
        it; past PACKGATE_LOG_LIMIT_BYTES the reading stops (the collector makes that an error).  A
        runner killed at its deadline (`item.timeout`) is a Timeout quoting its last lines.  None
        when a `detail` read (the result is already in the status) fails: the status' summary
        stands.  Blocking: runs in a thread."""
        if item.pod is None:
            return error_suite(
                item.runner, item.runner_type, "the runner's pod is gone; no log to read", job_name=item.job
            )
        collector = new_collector(
            nonce,
            name=item.runner,
            runner_type=item.runner_type,
            result_format=str(runner_format(runner)),
            result_path=runner.result_path,
            log_limit=self.settings.log_limit_bytes,
        )
        try:
            with contextlib.closing(self.kube.stream_log_lines(namespace, item.pod, RUNNER_CONTAINER)) as pieces:
                for piece in pieces:
                    collector.feed_piece(piece)
                    if collector.over_limit:
                        break
        except KubernetesError as exc:
            if item.detail:
                log.warning(
                    "Runner %s: its log could not be read again; its collected result stands: %s", item.runner, exc
                )
                return None
            message = runner_error(f"could not read the log: {exc}", collector.tail.lines())
            return error_suite(item.runner, item.runner_type, message, job_name=item.job)
        if item.timeout is not None:
            return planner.timeout_suite(item, collector.tail.lines())
        return judge(collector, exit_code=item.exit_code).model_copy(update={"job_name": item.job})

    async def _comparison(self, obs: Observed, collected: dict[str, TestSuiteResult]) -> Comparison | None:
        base = obs.status.active_version
        if not base:
            return None
        db = await self.recorder.database()
        if db is None:
            return None
        try:
            previous = await db.last_case_statuses(obs.pack.uid, base)
        except DatabaseUnavailable:
            await self.recorder.lost()
            return None
        except DatabaseError as exc:
            log.warning("No comparison with version %s of Pack %s: %s", base, obs.pack.name, exc)
            return None
        if not previous:
            return None
        now: dict[str, TestStatus] = {
            case_key(suite.name, case.name): case.status for suite in collected.values() for case in suite.test_cases
        }
        diff = compare(previous, now)
        return capped_comparison(base, diff.regressions, diff.fixes, len(diff.added), len(diff.removed))

    def _record(
        self, obs: Observed, spec: PackSpec, status: PackStatus, outcome: PackTestResult, allowed: bool
    ) -> dict[str, Any]:
        current = obs.status.current_execution
        assert current is not None
        return {
            "pack_uid": obs.pack.uid,
            "namespace": obs.pack.namespace,
            "name": obs.pack.name,
            "ref": pack_ref(obs.pack.name, spec),
            "version": current.version,
            "active_version": status.active_version or None,
            "execution_id": current.id,
            "idempotency_key": idempotency_key(obs.pack.uid, current.id),
            "trigger": str(current.trigger),
            "forced": spec.force,
            "allowed": allowed,
            "result": outcome.model_dump(mode="json"),
        }

    async def _record_now(self, record: dict[str, Any]) -> Recording:
        """Write one record.  Never raises: whatever happens, the verdict is written after it."""
        if not self.recorder.configured:
            return Recording(Outcome.NOT_CONFIGURED)
        db = await self.recorder.database()
        if db is None:
            return Recording(Outcome.DEFERRED)
        from packgate.db import ExecutionRecord

        execution = record.get("execution_id", "?")
        try:
            parsed = ExecutionRecord.model_validate(record)
        except ValidationError as exc:
            return Recording(Outcome.REFUSED, f"the record is unreadable ({exc.error_count()} errors)")
        try:
            await db.record_execution(parsed)
        except RecordRefused as exc:
            return Recording(Outcome.REFUSED, str(exc))
        except DatabaseUnavailable as exc:
            log.warning("Deferred record %s: %s", execution, exc)
            await self.recorder.lost()
            return Recording(Outcome.DEFERRED, str(exc))
        except DatabaseError as exc:
            log.warning("Deferred record %s: %s", execution, exc)
            return Recording(Outcome.DEFERRED, str(exc))
        except Exception:
            log.exception("Deferred record %s: unexpected error", execution)
            return Recording(Outcome.DEFERRED, "unexpected error (see the operator's log)")
        return Recording(Outcome.WRITTEN)

    async def _flush_pending(self, namespace: str, name: str, emit: Emit) -> int:
        """Write records deferred during an outage, then drop them from the status (as well as
        records PostgreSQL refused, once reported).  Returns how many are still deferred."""
        raw = await self.kube.get_pack(namespace, name)
        if raw is None:
            return 0
        status = load_status(raw.get("status"))
        if not status.pending_records:
            return 0
        remaining: list[dict[str, Any]] = []
        events: list[Event] = []
        new = status
        for record in status.pending_records:
            recording = await self._record_now(record)
            if recording.outcome in (Outcome.DEFERRED, Outcome.NOT_CONFIGURED):
                remaining.append(record)
                continue
            new, more = _after_recording(new, record, recording, deferred=True)
            events.extend(more)
        if len(remaining) == len(status.pending_records):
            return len(remaining)
        await self._patch_status(namespace, name, status, new.model_copy(update={"pending_records": remaining}))
        await self._emit_all(emit, events)
        return len(remaining)


def _after_recording(
    status: PackStatus, record: dict[str, Any], recording: Recording, *, deferred: bool = False
) -> tuple[PackStatus, list[Event]]:
    """The status and Events after trying to write `record` (`deferred`: from pendingRecords)."""
    execution = str(record.get("execution_id", "?"))
    last = status.last_execution
    mine = last is not None and last.id == execution
    events: list[Event] = []
    if recording.outcome is Outcome.WRITTEN:
        metrics.RECORDS_WRITTEN.inc()
        compacted = record.get("compacted") or {}
        note = ""
        if compacted.get("cases_omitted"):
            note = f" (compacted: {compacted['cases_omitted']} test cases left out while it was deferred)"
        what = "deferred execution" if deferred else "execution"
        events.append(Event("Normal", "RecordWritten", f"{what} {execution} recorded in PostgreSQL{note}"))
        if mine and last is not None:
            last = last.model_copy(update={"recorded": True, "record_error": None})
    elif recording.outcome is Outcome.REFUSED:
        metrics.RECORDS_REFUSED.inc()
        reason = clip(recording.reason, TEXT_BYTES)
        events.append(
            Event("Warning", "RecordRefused", f"execution {execution} is not recorded, and not retried: {reason}")
        )
        if mine and last is not None:
            last = last.model_copy(update={"record_error": reason})
    elif recording.outcome is Outcome.DEFERRED:
        metrics.RECORDS_DEFERRED.inc()
        deferral = defer(status.pending_records, record)
        status = status.model_copy(update={"pending_records": deferral.pending})
        because = f" ({recording.reason})" if recording.reason else ""
        events.append(
            Event(
                "Warning",
                "RecordDeferred",
                f"PostgreSQL unavailable: execution {execution} will be recorded when it is back{because}",
            )
        )
        for dropped in deferral.dropped:
            metrics.RECORDS_DROPPED.inc()
            events.append(
                Event(
                    "Warning",
                    "RecordDropped",
                    f"deferred record of execution {dropped.get('execution_id', '?')} dropped: at most "
                    f"{PENDING_RECORDS_MAX} records ({PENDING_BYTES // 1024} KiB) wait in the status for PostgreSQL",
                )
            )
    return status.model_copy(update={"last_execution": last}), events
