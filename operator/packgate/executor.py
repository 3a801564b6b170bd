"""The executor: observes one Pack, asks the planner what to do, and does it.

One direction: observe (the watch-fed `Cache` and the spec's execution digest, then the logs, the
comparison base or the cached verdict the planner's `reads` names), plan once, act.  The only
cluster reads are log streams (and the read-back of a Job whose name is taken); everything else
is a write: status (merge patches guarded by the resourceVersion observed), Jobs, Events.

Owns: the order of side effects (record, then status, then Jobs; database before clearing a
pending record), the slots of executions it admitted until the cache shows their Jobs
(`reservations`), log collection, writing the status within its size
budget (`bound_status`), and recording executions: written, deferred into the status while
PostgreSQL is away (compact, capped: `defer`), or refused by PostgreSQL and reported (never
retried).  Without a database configured nothing is recorded or deferred.  Must not: decide
(the planner does), import kopf (the handlers do), or talk to the API server or the database
except through `packgate.k8s` and `packgate.db`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from packgate import metrics
from packgate.api.spec import FINALIZER, PackSpec, load_spec, pack_ref, runner_format
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
    only_jobs_seen_grew,
    only_queue_position_moved,
    status_patch,
)
from packgate.errors import DatabaseError, DatabaseUnavailable, InvalidPack, KubernetesError, RecordRefused
from packgate.history import case_key, compare
from packgate.k8s.client import Kube
from packgate.reconcile import plan as planner
from packgate.reconcile.cache import Cache
from packgate.reconcile.digest import CachedExecution, execution_digest
from packgate.reconcile.observe import job_mismatch
from packgate.reconcile.plan import CacheLookup, Collect, Event, Observed, Plan, Slots
from packgate.reconcile.queue import admissible
from packgate.reconcile.render import (
    RUNNER_CONTAINER,
    PackIdentity,
    RenderOptions,
    idempotency_key,
    job_name,
    render_job,
)
from packgate.results import PackTestResult, TestStatus, TestSuiteResult, error_suite
from packgate.settings import Settings
from packgate.wrapper import judge, new_collector, runner_error

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


@dataclass(frozen=True)
class Reservation:
    """Slots taken by an execution admitted in this process, counted until the cache shows its Jobs
    (the watch lags the create calls a little; without this, two passes in that moment could both
    take the last slot)."""

    namespace: str
    execution: str
    jobs: int
    at: float  # time.monotonic() of the admission


@dataclass
class Written:
    """What this process knows of one Pack's current execution beyond the cache, so that a pass
    does not redo work because a watch lags its own writes:

    - `stale`: the resourceVersion its last status write was guarded by.  While the cache still
      shows the Pack at that version it is behind that write (which succeeded, so the Pack has moved
      on): a pass would only meet a Conflict; the write's own watch event wakes the next one.
    - `jobs`: the Jobs it created (or adopted), with when, until the cache shows them: not created
      again, so no create call meets AlreadyExists.
    - `suites`: the runners it collected, with their whole results: when the execution concludes,
      the record's detail comes from here instead of reading each log a second time (another
      replica, or this one restarted, reads the logs).
    - `conflicts`: runners whose Job name it found taken by another Job when creating it: input
      to the next pass, which reports them (JobConflict).

    Notes on an earlier execution are dropped as soon as a status write names another one.
    """

    execution: str
    stale: str = ""
    position_at: float = 0.0  # time.monotonic() of its last queue-position write
    jobs: dict[str, float] = field(default_factory=dict)
    suites: dict[str, TestSuiteResult] = field(default_factory=dict)
    conflicts: dict[str, RunnerError] = field(default_factory=dict)


RESERVATION_SECONDS = 60.0
"""A reservation whose Jobs never show up (deleted at once, a failed create) is dropped after this."""


@dataclass
class Executor:
    kube: Kube
    settings: Settings
    recorder: Recorder
    cache: Cache
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    fleet: metrics.Fleet = field(default_factory=metrics.Fleet)
    reservations: dict[str, Reservation] = field(default_factory=dict)  # by Pack uid
    # What this process wrote, read or met and the watches have not shown yet (see `Written`).
    written: dict[str, Written] = field(default_factory=dict)  # by Pack uid

    @property
    def render_options(self) -> RenderOptions:
        s = self.settings
        return RenderOptions(
            images={"shell": s.image_shell, "python": s.image_python, "pytest": s.image_pytest, "node": s.image_node},
            git_image=s.image_git,
            ttl_seconds=s.job_ttl_seconds,
            pip_index_url=s.pip_index_url,
            npm_registry=s.npm_registry,
        )

    @property
    def nonce_secret(self) -> str:
        """PACKGATE_NONCE_SECRET, the key of every execution's nonce ("" when unset)."""
        secret = self.settings.nonce_secret
        return "" if secret is None else secret.get_secret_value()

    # -- one pass ----------------------------------------------------------------------------

    async def reconcile(self, uid: str, emit: Emit) -> float | None:
        """Observe (the cache, then the logs and the comparison base the planner asks for), plan
        once, act.  Returns seconds until the next pass is needed (None: on change only).  A pass
        that ends notes the Pack's tally in `fleet` (the fleet gauges)."""
        raw = self.cache.pack(uid)
        if raw is None or raw["metadata"].get("deletionTimestamp"):
            self.reservations.pop(uid, None)
            return None
        if FINALIZER not in (raw["metadata"].get("finalizers") or ()):
            # A new Pack: kopf is adding its finalizer, a write this pass's status write would race
            # (one of the two meets a Conflict).  The finalizer's watch event wakes the next pass.
            return None
        known = self.written.get(uid)
        if known is not None and known.stale and known.stale == raw["metadata"].get("resourceVersion"):
            return None  # the cache is behind this process's own write; its watch event wakes the next pass
        obs, spec, paths = self._observe(raw)
        needed = planner.reads(obs)
        if needed.digest_lookup is not None:
            obs = dataclasses.replace(obs, cached=await self._cached(obs, needed.digest_lookup))
        if needed.collect or needed.concluding:
            assert spec is not None
            collected = await self._read_logs(obs, spec, needed.collect)
            comparison = await self._comparison(obs, collected) if needed.concluding else None
            obs = dataclasses.replace(obs, collected=collected, comparison=comparison)
        # From here to the reservation nothing awaits: the slots seen are the slots taken.
        obs = dataclasses.replace(obs, slots=self._slots(uid))
        result = planner.plan(obs)
        if result.admitted:
            current = result.status.current_execution
            assert current is not None
            self.reservations[uid] = Reservation(obs.pack.namespace, current.id, result.admitted, time.monotonic())
        try:
            written, deferred = await self._act(obs, spec, result, paths, emit)
        except BaseException:
            if result.admitted:
                self.reservations.pop(uid, None)
            raise
        current = written.status.current_execution
        queued = current is not None and current.started_at is None
        still = len(written.status.pending_records)
        # Records deferred earlier are written as soon as PostgreSQL is back (not the one just
        # deferred: it waits for the next pass).  Without a database configured they wait for one.
        if still and not deferred and self.recorder.configured:
            still = await self._flush_pending(written, emit)
        ended = {pod.job for pod in obs.pods if pod.ended}
        running = sum(
            1 for job in obs.jobs if not (job.finished or job.name in ended or job.name in result.delete_jobs)
        )
        self.fleet.note(uid, metrics.PackTally(jobs_running=running, queued=queued, records_pending=still))
        if still and self.recorder.configured:
            # Records still deferred: try again soon, whatever else the plan said.
            return min(result.requeue_after or PENDING_RETRY_SECONDS, PENDING_RETRY_SECONDS)
        return result.requeue_after

    def _observe(self, raw: dict[str, Any]) -> tuple[Observed, PackSpec | None, str | None]:
        meta = raw["metadata"]
        namespace, name, uid = meta["namespace"], meta["name"], meta["uid"]
        spec: PackSpec | None
        try:
            spec, error = load_spec(raw.get("spec") or {}), None
        except InvalidPack as exc:
            spec, error = None, str(exc)
        source_found: bool | None = None
        paths: str | None = None
        config_map_digest: str | None = None
        if spec is not None and spec.source.config_map is not None:
            config_map = self.cache.config_map(namespace, spec.source.config_map.name)
            source_found = config_map is not None
            if config_map is not None:
                paths = config_map.paths
                config_map_digest = config_map.digest
        digest = None if spec is None else execution_digest(spec, self.render_options, config_map_digest)
        status = load_status(raw.get("status"))
        current = status.current_execution
        known = self.written.get(uid)
        conflicts: dict[str, RunnerError] = {}
        if known is not None and current is not None and known.execution == current.id:
            conflicts = known.conflicts
        obs = Observed(
            pack=PackIdentity(namespace, name, uid),
            generation=int(meta.get("generation") or 0),
            spec=spec,
            spec_error=error,
            status=status,
            retest=(meta.get("annotations") or {}).get("packgate.dev/retest"),
            jobs=self.cache.pack_jobs(uid),
            pods=self.cache.pack_pods(uid),
            source_found=source_found,
            now=self.clock(),
            unschedulable_grace=float(self.settings.unschedulable_grace_seconds),
            conflicts=dict(conflicts),
            packs=self.cache.namespace_packs(namespace) if spec is not None and spec.depends_on else {},
            digest=digest,
            nonce_secret=self.nonce_secret,
            resource_version=str(meta.get("resourceVersion") or ""),
        )
        return obs, spec, paths

    def _slots(self, uid: str) -> Slots:
        """The concurrency situation from the cache, with the executions admitted here whose Jobs
        the cache does not show yet (`reservations`) counted as running and not as waiting."""
        active = self.cache.active_by_namespace()
        now = time.monotonic()
        for owner, held in list(self.reservations.items()):
            shown = sum(1 for job in self.cache.pack_jobs(owner) if job.execution == held.execution)
            if shown >= held.jobs or now - held.at > RESERVATION_SECONDS:
                del self.reservations[owner]
                continue
            active[held.namespace] = active.get(held.namespace, 0) + held.jobs - shown
        waiting = [w for w in self.cache.waiting() if w.uid not in self.reservations or w.uid == uid]
        return Slots(
            active,
            waiting,
            global_limit=self.settings.max_concurrent_jobs,
            namespace_limit=self.settings.max_concurrent_jobs_per_namespace,
        )

    def forget(self, uid: str) -> None:
        """Drop what this process keeps of a Pack that is gone (or no longer ours)."""
        self.fleet.forget(uid)
        self.reservations.pop(uid, None)
        self.written.pop(uid, None)

    def next_in_queue(self) -> list[str]:
        """The uids of the queued executions the free slots let start now, oldest first (whom to
        wake when a Job ends)."""
        slots = self._slots("")
        return admissible(
            slots.waiting,
            slots.active_by_namespace,
            global_limit=slots.global_limit,
            namespace_limit=slots.namespace_limit,
        )

    # -- acting --------------------------------------------------------------------------------

    async def _act(
        self, obs: Observed, spec: PackSpec | None, result: Plan, paths: str | None, emit: Emit
    ) -> tuple[Observed, bool]:
        """Apply one plan: the record (when the execution ended), the status (guarded by the
        resourceVersion observed: a stale cache gives a Conflict and the pass is retried with the
        fresh Pack), then Jobs and Events.  Returns the observation as written (its status and
        resourceVersion), and whether the record had to be deferred."""
        status = result.status
        recording: Recording | None = None
        if result.record is not None:
            assert spec is not None
            record = self._record(obs, spec, status, result.record.result, result.record.allowed)
            recording = await self._record_now(record)
            status, recorded = _after_recording(status, record, recording)
            result.events.extend(recorded)
        # The guarded write comes first: Jobs are deleted or created only from a fresh observation.
        quiet = not (result.events or result.delete_jobs or result.create_jobs or recording)
        if quiet and self._position_fresh(obs, status):
            return obs, False  # a queued Pack one place further on: its position is refreshed later
        if self._own_jobs_coming(obs, result):
            return obs, False  # jobsSeen is written once the cache shows every Job just created
        written = await self._patch_status(obs, status, force=bool(result.delete_jobs))
        for job in result.delete_jobs:
            await self.kube.delete_job(obs.pack.namespace, job)
            log.info("Deleted Job %s for Pack %s/%s", job, obs.pack.namespace, obs.pack.name)
        if result.admitted:
            current = status.current_execution
            assert current is not None
            metrics.EXECUTIONS_STARTED.labels(trigger=str(current.trigger)).inc()
        await self._create_jobs(obs, spec, status, result.create_jobs, paths)
        await self._emit_all(emit, result.events)
        if recording is not None:
            assert spec is not None
            self._finished(obs, spec, status, result.record.allowed if result.record else False)
        return written, recording is not None and recording.outcome is Outcome.DEFERRED

    def _finished(self, obs: Observed, spec: PackSpec, status: PackStatus, allowed: bool) -> None:
        """Metrics and the log line of an execution that ended (or reused a verdict: cachedFrom)."""
        current = obs.status.current_execution
        last = status.last_execution
        assert last is not None
        metrics.EXECUTIONS_FINISHED.labels(status=last.status, allowed=str(allowed).lower()).inc()
        line = "Pack %s/%s version %s: %s (%s/%s passed), %s"
        outcome = (
            obs.pack.namespace,
            obs.pack.name,
            spec.version,
            last.status,
            last.passed,
            last.passed + last.failed,
            "allowed" if allowed else "blocked",
        )
        if last.cached_from is not None:
            log.info(line + ", verdict of execution %s reused (same content digest)", *outcome, last.cached_from)
            return
        assert current is not None
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
        log.info(line, *outcome)

    # -- status --------------------------------------------------------------------------------

    async def _patch_status(self, obs: Observed, new: PackStatus, *, force: bool = False) -> Observed:
        """Merge-patch the status from what was observed to `new`, bounded to its size budget, on
        condition that the Pack is still at the resourceVersion observed (a Conflict otherwise).
        `force`: send the condition even when the status does not change.  Returns the observation
        with the status and resourceVersion as written."""
        bounded = bound_status(new)
        patch = status_patch(obs.status, bounded)
        if not patch and not force:
            return obs
        version = await self.kube.patch_pack_status(
            obs.pack.namespace, obs.pack.name, patch, resource_version=obs.resource_version
        )
        if obs.resource_version:
            self._written(obs.pack.uid, bounded).stale = obs.resource_version
        return dataclasses.replace(obs, status=bounded, resource_version=version)

    def _position_fresh(self, obs: Observed, status: PackStatus) -> bool:
        """Whether to leave out a write that only moves a queued Pack's position: this process wrote
        its position less than QUEUED_RECHECK_SECONDS ago (the plan's recheck of a queued Pack).  In
        a long queue every admission moves every position; writing each move would cost a status
        write per queued Pack per admission.  Notes the time of a position write that goes ahead."""
        if status.queue_position is None:
            return False
        known = self._written(obs.pack.uid, status)
        now = time.monotonic()
        if only_queue_position_moved(obs.status, status) and now - known.position_at < planner.QUEUED_RECHECK_SECONDS:
            return True
        known.position_at = now
        return False

    def _own_jobs_coming(self, obs: Observed, result: Plan) -> bool:
        """Whether to leave out a write that only adds runners to jobsSeen while Jobs this process
        created for the execution a moment ago are not in the cache yet (the plan asks to create
        them again; they are not): their watch events follow, and the pass they wake names them
        all in one write (one write per Pack, not one per runner)."""
        status = result.status
        current = status.current_execution
        known = self.written.get(obs.pack.uid)
        if current is None or known is None or known.execution != current.id:
            return False
        if result.events or result.delete_jobs or result.record is not None:
            return False
        if not only_jobs_seen_grew(obs.status, status):
            return False
        shown = {job.name for job in obs.jobs}
        now = time.monotonic()
        coming = {job for job, at in known.jobs.items() if job not in shown and now - at <= RESERVATION_SECONDS}
        wanted = {job_name(obs.pack.name, runner, current.id) for runner in result.create_jobs}
        return bool(coming) and wanted <= coming

    def _written(self, uid: str, status: PackStatus) -> Written:
        """This process' notes on the Pack's current execution (fresh ones for a new execution)."""
        current = status.current_execution
        execution = current.id if current is not None else ""
        known = self.written.get(uid)
        if known is None or known.execution != execution:
            known = self.written[uid] = Written(execution)
        return known

    async def _emit_all(self, emit: Emit, events: list[Event]) -> None:
        for event in events:
            await emit(event)

    # -- Jobs ----------------------------------------------------------------------------------

    async def _create_jobs(
        self, obs: Observed, spec: PackSpec | None, status: PackStatus, runners: list[str], paths: str | None
    ) -> None:
        """Create the runners' Jobs (`status` is already written).  A Job of the same name that exists
        is adopted when it is this execution's (a replica that created it a moment earlier);
        otherwise that runner is in conflict (JobConflict), for the next pass to report."""
        current = status.current_execution
        if not runners or spec is None or spec.testing is None or current is None:
            return
        wanted = {r.name: r for r in spec.testing.runners}
        known = self._written(obs.pack.uid, status)
        shown = {job.name for job in obs.jobs}
        now = time.monotonic()
        for job, at in list(known.jobs.items()):
            if job in shown or now - at > RESERVATION_SECONDS:
                del known.jobs[job]  # the cache has it now (or it never showed up: create it again)
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
            if job in known.jobs:
                continue  # created by this process a moment ago; the watch has not shown it yet
            if await self.kube.create_job(manifest):
                known.jobs[job] = time.monotonic()
                log.info("Created Job %s for Pack %s/%s", job, obs.pack.namespace, obs.pack.name)
                continue
            existing = await self.kube.get_job(obs.pack.namespace, job)
            problem = job_mismatch(existing, name=job, pack_uid=obs.pack.uid, execution=current.id, runner=name)
            if problem is None:
                known.jobs[job] = time.monotonic()
                log.info("Adopted Job %s for Pack %s/%s", job, obs.pack.namespace, obs.pack.name)
                continue
            log.warning("Pack %s/%s, runner %s: %s", obs.pack.namespace, obs.pack.name, name, problem)
            known.conflicts[name] = RunnerError(reason="JobConflict", message=problem)

    # -- reading -------------------------------------------------------------------------------

    async def _read_logs(self, obs: Observed, spec: PackSpec, items: list[Collect]) -> dict[str, TestSuiteResult]:
        """Read and judge the logs of the runners `items` names (each streamed in a thread)."""
        current = obs.status.current_execution
        assert current is not None and spec.testing is not None
        runners = {r.name: r for r in spec.testing.runners}
        read: dict[str, TestSuiteResult] = {}
        known = self._written(obs.pack.uid, obs.status)
        for item in items:
            if item.runner not in runners:
                continue
            kept = known.suites.get(item.runner)
            if item.detail and kept is not None and kept.job_name == item.job:
                read[item.runner] = kept  # collected whole by this process when its Job ended
                continue
            suite = await asyncio.to_thread(
                self._collect_one, obs.pack.namespace, item, current.nonce, runners[item.runner]
            )
            if suite is not None:
                read[item.runner] = known.suites[item.runner] = suite
                log.info(
                    "Collected runner %s (Job %s) of Pack %s/%s: %s",
                    item.runner,
                    item.job,
                    obs.pack.namespace,
                    obs.pack.name,
                    suite.status,
                )
        return read

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

    async def _cached(self, obs: Observed, lookup: CacheLookup) -> CachedExecution | None:
        """The execution whose verdict an install or update may reuse (spec.testing.cacheFor), read
        from PostgreSQL; None when there is none, or PostgreSQL is not there (then the Jobs run:
        the database never blocks a verdict)."""
        db = await self.recorder.database()
        if db is None:
            return None
        try:
            found = await db.cached_origin(obs.pack.uid, lookup.digest, lookup.since)
        except DatabaseUnavailable:
            await self.recorder.lost()
            return None
        except DatabaseError as exc:
            log.warning("No cached verdict for Pack %s/%s: %s", obs.pack.namespace, obs.pack.name, exc)
            return None
        if found is None or found.digest is None:
            return None
        finished = found.execution_time + timedelta(milliseconds=found.duration_ms)
        return CachedExecution(
            execution_id=found.execution_id, digest=found.digest, finished_at=finished, result=found.result
        )

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
        """The record of the execution that just ended: the planned status' lastExecution (the
        current execution concluded, or a new one that reused a cached verdict)."""
        current = status.last_execution
        assert current is not None
        raw = self.cache.pack(obs.pack.uid) or {}
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
            # For PackWebhooks: their packSelector, and whether this verdict activated the version.
            "labels": dict((raw.get("metadata") or {}).get("labels") or {}),
            "previous_active_version": obs.status.active_version,
            "digest": current.digest,
            "cached_from": current.cached_from,
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

    async def _flush_pending(self, obs: Observed, emit: Emit) -> int:
        """Write records deferred during an outage (`obs` is the Pack as just written), then drop
        them from the status (as well as records PostgreSQL refused, once reported).  Returns how
        many are still deferred."""
        status = obs.status
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
        await self._patch_status(obs, new.model_copy(update={"pending_records": remaining}))
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
