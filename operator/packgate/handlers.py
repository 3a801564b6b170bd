"""kopf handlers: the only module that imports kopf.

Owns: registering handlers on an explicit registry (nothing registers at import), the operator's
startup and cleanup, the watch-fed caches (kopf indexes of Packs, the admission queue, managed
Jobs and Pods by Pack uid, active Jobs by namespace, ended runner pods, ConfigMaps; kopf starts
the daemons only once every index is filled from its initial listing; after a pause, the daemons
wait until the caches hold what the API server lists: `Runtime.settle`), one reconcile daemon per
Pack woken by the events of its Pack, and of its Jobs and Pods when what a pass reads of them
changed (and, when a runner pod or a Job ends, the queued Packs the freed slots could admit), the
retention timer, the PackWebhook delivery worker
(packgate.delivery, one task per replica from startup to cleanup), and turning Packgate errors
into kopf's retry semantics as `packgate.errors.retry_delay` says (`kopf_error`; in the daemon
loop, permanent errors wait for a change and temporary ones are retried after their delay).
Must not: decide anything (the planner does) or talk to the API server directly (the executor
does, via k8s).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import kopf
from aiohttp import web

from packgate import metrics
from packgate.api.spec import FINALIZER, GROUP, PLURAL, VERSION
from packgate.delivery import DeliveryOptions, DeliveryWorker
from packgate.errors import (
    Conflict,
    DatabaseError,
    DatabaseUnavailable,
    KubernetesError,
    PackgateError,
    retry_delay,
)
from packgate.executor import Executor, Recorder
from packgate.k8s.client import Kube, load_api_client
from packgate.k8s.webhooks import KubeWebhookDirectory
from packgate.reconcile import cache
from packgate.reconcile.observe import job_state, pod_state
from packgate.reconcile.plan import Event
from packgate.reconcile.render import LABEL_MANAGED_BY, LABEL_PACK_UID, MANAGED_BY
from packgate.settings import Settings

log = logging.getLogger("packgate")
ERROR_BACKOFF_SECONDS = 10.0
IDLE_RECHECK_SECONDS = 300.0
MARK_DELETED_SECONDS = 4.0  # the most a deletion event waits for PostgreSQL
SETTLE_SECONDS = 60.0  # the most the daemons wait for the caches to be complete after a resume
SETTLE_RETRY_SECONDS = 2.0
MANAGED_RESOURCES = tuple(
    sorted({(spec.group, spec.version, spec.plural) for spec in cache.INDEXES if spec.managed_only})
)
"""The resources the operator watches only Packgate's own objects of (the Jobs it creates, their
Pods).  The API server filters these watch streams by the managed-by label, so the operator never
receives, decodes or dispatches the events of a cluster's other Jobs and Pods."""
MANAGED_SELECTOR = f"{LABEL_MANAGED_BY}={MANAGED_BY}"
"""The label selector of those watches, and of the listing the caches are checked against after a
resume (`Runtime.settle`): the two must agree, or a settle would wait for Jobs no watch delivers."""


class Runtime:
    """What the handlers share, built at startup and kept in kopf's memo."""

    def __init__(self, settings: Settings, kubeconfig: str | None) -> None:
        self.settings = settings
        self.kubeconfig = kubeconfig
        self.executor: Executor | None = None
        self.wakers: dict[str, asyncio.Event] = {}
        self.ready = False
        self.deliveries: asyncio.Task[None] | None = None
        self.stop_deliveries = asyncio.Event()
        self.last_seen = cache.LastSeen()
        self.settled = asyncio.Event()  # the caches hold what the API server lists (`settle`)
        self.settling: asyncio.Task[None] | None = None
        self.cache_moved = asyncio.Event()  # a Job or ConfigMap event reached the caches

    def unsettle(self) -> None:
        """kopf paused the operator (a peer of higher priority works): it stops watching, and
        lists every resource again when it resumes."""
        self.settled.clear()

    async def settle(self) -> None:
        """Return once the caches hold every managed Job and every ConfigMap the API server lists.
        At startup kopf starts the daemons only after its first listing of every index; but when
        it resumes after a pause (a standby taking over, or both replicas cut off from the API
        server a while) it spawns each Pack's daemon as the Packs are listed again, while the Jobs
        and ConfigMaps are still being listed.  A pass then would take a Job for removed
        (JobRemoved) or render a Job without its ConfigMap's paths.  One listing per resume,
        shared by every daemon."""
        if self.settled.is_set():
            return
        if self.settling is None or self.settling.done():
            self.settling = asyncio.create_task(self._settle())
        await asyncio.shield(self.settling)

    async def _settle(self) -> None:
        executor = self.executor
        assert executor is not None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SETTLE_SECONDS
        listed = None
        while listed is None and loop.time() < deadline:
            try:
                listed = await executor.kube.listed_names(self.settings.namespaces, MANAGED_SELECTOR)
            except KubernetesError as exc:
                log.warning("Could not list Jobs and ConfigMaps to check the caches: %s; retrying", exc)
                await asyncio.sleep(min(SETTLE_RETRY_SECONDS, max(0.0, deadline - loop.time())))  # a backoff
        while listed is not None:
            self.cache_moved.clear()
            if executor.cache.holds(listed.jobs, listed.config_maps):
                break
            left = deadline - loop.time()
            if left <= 0:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.cache_moved.wait(), timeout=left)
        if listed is not None and loop.time() < deadline:
            log.info(
                "The caches hold the %d managed Jobs and %d ConfigMaps listed; reconciling",
                len(listed.jobs),
                len(listed.config_maps),
            )
        else:
            log.warning("The caches were not seen complete within %ss; reconciling anyway", SETTLE_SECONDS)
        self.settled.set()

    def wake(self, uid: str | None) -> None:
        if uid and uid in self.wakers:
            self.wakers[uid].set()

    def wake_queue(self) -> None:
        """Wake the queued Packs that the free slots could admit now, oldest first."""
        if self.executor is not None:
            for uid in self.executor.next_in_queue():
                self.wake(uid)


def build_registry(runtime: Runtime) -> kopf.OperatorRegistry:
    """Every handler of the operator, on a fresh registry."""
    registry = kopf.OperatorRegistry()
    labels = {LABEL_MANAGED_BY: MANAGED_BY}

    # The caches: a pass reads only these (kopf keeps them from the watch streams).
    for spec in cache.INDEXES:
        kopf.index(
            spec.group,
            spec.version,
            spec.plural,
            id=spec.name,
            labels=labels if spec.managed_only else None,
            registry=registry,
        )(_indexer(spec.entries))

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        """The same credentials as Packgate's own client: in-cluster, else the kubeconfig."""
        return kopf.login_via_client(**kwargs)

    @kopf.on.startup(registry=registry)
    async def startup(settings: kopf.OperatorSettings, **indexes: Any) -> None:
        ours = runtime.settings
        settings.watching.server_timeout = ours.watch_timeout_seconds
        settings.watching.client_timeout = ours.watch_timeout_seconds + 60
        settings.watching.connect_timeout = 30
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
        settings.persistence.diffbase_storage = NoDiffBaseStorage()
        settings.persistence.finalizer = FINALIZER
        settings.posting.level = logging.WARNING
        for resource in MANAGED_RESOURCES:
            settings.watching.label_selectors[resource] = MANAGED_SELECTOR
        # A daemon told to stop (its Pack deleted, the operator exiting) ends its loop at once; kopf
        # waits this long for that before it cancels it (logging a warning per Pack).
        settings.background.instant_exit_timeout = 0.5
        # kopf keeps one worker task per object for a while after its last event; when a namespace
        # of Packs goes, that is thousands of Jobs and Pods at once (the operator's peak memory).
        settings.queueing.idle_timeout = 1.0
        if ours.peering:
            settings.peering.name = ours.peering
            settings.peering.mandatory = False
            settings.peering.lifetime = ours.peering_lifetime_seconds
        else:
            settings.peering.standalone = True
        try:
            client = await asyncio.to_thread(load_api_client, runtime.kubeconfig, connections=ours.api_workers)
            kube = Kube(client, timeout=ours.api_timeout_seconds)
        except PackgateError as exc:
            raise kopf_error(exc) from exc
        recorder = Recorder(
            ours.database_url.get_secret_value() if ours.database_url else None,
            migrate=True,
            migrations_dir=ours.migrations_dir,
        )
        if recorder.configured:
            # Connects and applies migrations now; unreachable, it only defers records (and
            # migrates when it is back).
            await recorder.database()
        else:
            log.warning("PACKGATE_DATABASE_URL is not set: verdicts are written, no history is kept")
        views = cache.Cache(**{spec.name: indexes[spec.name] for spec in cache.INDEXES})
        runtime.executor = Executor(kube=kube, settings=ours, recorder=recorder, cache=views)
        if recorder.configured:
            # Every replica drains the webhook outbox (standby ones too: the outbox's claims keep
            # replicas apart); without a database there is no outbox.
            options = DeliveryOptions(
                poll_seconds=ours.webhook_poll_seconds,
                timeout_seconds=ours.webhook_timeout_seconds,
                retry_base_seconds=ours.webhook_retry_base_seconds,
                retry_max_seconds=ours.webhook_retry_max_seconds,
            )
            worker = DeliveryWorker(recorder.database, KubeWebhookDirectory(kube), options, lost=recorder.lost)
            runtime.deliveries = asyncio.create_task(worker.run(runtime.stop_deliveries))
        runtime.ready = True
        log.info("Packgate started (namespaces: %s)", ", ".join(ours.namespaces) or "all")

    @kopf.on.cleanup(registry=registry)
    async def cleanup(**_: Any) -> None:
        runtime.ready = False
        if runtime.deliveries is not None:
            runtime.stop_deliveries.set()
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(runtime.deliveries, timeout=15)
        if runtime.executor is not None:
            await runtime.executor.recorder.close()

    @kopf.daemon(GROUP, VERSION, PLURAL, registry=registry, cancellation_backoff=2.0, cancellation_timeout=5.0)
    async def pack_daemon(
        name: str, namespace: str, uid: str, stopped: kopf.DaemonStopped, body: kopf.Body, **_: Any
    ) -> None:
        """One reconcile loop per Pack, level-triggered: observe, plan, act, wait for a change."""
        waker = runtime.wakers.setdefault(uid, asyncio.Event())
        metrics.PACKS_WATCHED.inc()

        async def emit(event: Event) -> None:
            kopf.event(body, type=event.type, reason=event.reason, message=event.message)

        try:
            await _until(stopped, runtime.settle())
            while not stopped:
                waker.clear()
                delay: float | None
                executor = runtime.executor
                assert executor is not None
                began = time.perf_counter()
                failure: BaseException | None = None
                try:
                    delay = await executor.reconcile(uid, emit)
                except Conflict as exc:
                    # The cache was behind the Pack: its watch event wakes the next pass.
                    log.debug("Pack %s/%s: %s; again with the fresh Pack", namespace, name, exc)
                    delay = retry_delay(exc)
                except PackgateError as exc:
                    failure = exc
                    metrics.RECONCILE_ERRORS.labels(kind=_kind(exc)).inc()
                    delay = retry_delay(exc)
                    if delay is None:
                        log.warning("Pack %s/%s: %s; waiting for a change", namespace, name, exc)
                    else:
                        log.warning("Pack %s/%s: %s; retrying in %ss", namespace, name, exc, delay)
                except Exception as exc:
                    failure = exc
                    metrics.RECONCILE_ERRORS.labels(kind="unexpected").inc()
                    log.exception("Pack %s/%s: unexpected error; retrying", namespace, name)
                    delay = ERROR_BACKOFF_SECONDS * 3
                metrics.observe_pass(metrics.pass_outcome(failure), time.perf_counter() - began)
                await _until(stopped, waker.wait(), delay or IDLE_RECHECK_SECONDS)
        finally:
            if stopped.reason is not None and stopped.reason & kopf.DaemonStoppingReason.OPERATOR_PAUSING:
                runtime.unsettle()
            runtime.wakers.pop(uid, None)
            if runtime.executor is not None:
                runtime.executor.forget(uid)
            metrics.PACKS_WATCHED.dec()

    @kopf.on.event(GROUP, VERSION, PLURAL, registry=registry)
    async def pack_changed(uid: str, name: str, namespace: str, body: kopf.Body, type: str | None, **_: Any) -> None:
        runtime.wake(uid)
        if type == "DELETED" or body.get("metadata", {}).get("deletionTimestamp"):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(_mark_deleted(runtime, uid, name, namespace), timeout=MARK_DELETED_SECONDS)
        if runtime.executor is not None:
            # Its active version (or its own dependsOn) may change what its dependents may activate.
            for dependent in runtime.executor.cache.dependents_of(namespace, name):
                runtime.wake(dependent)

    @kopf.on.event("batch", "v1", "jobs", labels=labels, registry=registry)
    async def job_changed(
        labels: dict[str, str], body: kopf.Body, type: str | None, namespace: str, name: str, **_: Any
    ) -> None:
        runtime.cache_moved.set()
        state = None if type == "DELETED" else job_state(dict(body))
        if not runtime.last_seen.changed(("Job", namespace, name), state):
            return  # nothing a pass reads of it changed
        runtime.wake(labels.get(LABEL_PACK_UID))
        if state is None or state.finished:
            runtime.wake_queue()  # a slot is free for a queued execution

    @kopf.on.event("", "v1", "configmaps", registry=registry)
    async def config_map_changed(**_: Any) -> None:
        runtime.cache_moved.set()

    @kopf.on.event("", "v1", "pods", labels=labels, registry=registry)
    async def pod_changed(
        labels: dict[str, str], body: kopf.Body, type: str | None, namespace: str, name: str, **_: Any
    ) -> None:
        state = None if type == "DELETED" else pod_state(dict(body))
        if not runtime.last_seen.changed(("Pod", namespace, name), state):
            return  # a condition or timestamp the kubelet updated: nothing a pass reads of it
        runtime.wake(labels.get(LABEL_PACK_UID))
        if state is not None and state.ended:
            runtime.wake_queue()  # its Job's slot is free, before the Job controller marks it complete

    return registry


async def _mark_deleted(runtime: Runtime, uid: str, name: str, namespace: str) -> None:
    """Best effort: mark a deleted Pack in PostgreSQL; its history stays until retention.  Done on
    the Pack's deletion event (idempotent: a second event finds it marked) rather than in a kopf
    deletion handler: any such handler makes kopf keep a copy of every Pack's spec in an
    annotation, one more write per Pack."""
    executor = runtime.executor
    if executor is None:
        return
    db = await executor.recorder.database()
    if db is None:
        return
    try:
        await db.mark_pack_deleted(uid)
    except DatabaseError as exc:
        log.warning("Pack %s/%s deleted; could not mark it in PostgreSQL: %s", namespace, name, exc)


async def _until(stopped: kopf.DaemonStopped, awaitable: Awaitable[Any], timeout: float | None = None) -> None:
    """A daemon's wait: until `awaitable` is done or the daemon is told to stop, at most `timeout` s."""
    done = asyncio.ensure_future(awaitable)
    stopping = asyncio.ensure_future(stopped.wait())
    try:
        await asyncio.wait((done, stopping), timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        done.cancel()
        stopping.cancel()


def _indexer(entries: Callable[[Mapping[str, Any]], dict[Any, Any]]) -> Callable[..., Awaitable[dict[Any, Any]]]:
    """A kopf index function giving `entries(body)` (an empty mapping drops the object's old ones).
    Async, though it never awaits: kopf runs a plain function in a worker thread, one hand-off
    per index per event, where this is a few dictionary reads."""

    async def index(body: kopf.Body, **_: Any) -> dict[Any, Any]:
        return entries(body)

    return index


class NoDiffBaseStorage(kopf.DiffBaseStorage):
    """No diff base.  kopf keeps one (an object's "essence", compared with its last handled state)
    for the handlers that react to changes (on.create, on.update, on.field, on.delete); Packgate
    registers none (`build_registry`): each pass plans from the whole Pack in the cache.  kopf still
    built, deep-copied and compared an essence for every Pack, Job and Pod event, about a tenth of
    the operator's CPU.  An empty essence costs nothing to copy; the diff kopf derives from it only
    resets idle timers, which no handler here uses."""

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> Any:
        return {}

    def fetch(self, *, body: kopf.Body) -> Any:
        return None

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: Any) -> None:
        return None


def kopf_error(exc: PackgateError) -> kopf.PermanentError | kopf.TemporaryError:
    """kopf's form of a Packgate error: permanent when retrying the same thing won't help,
    temporary (with Packgate's delay) otherwise."""
    delay = retry_delay(exc)
    if delay is None:
        return kopf.PermanentError(str(exc))
    return kopf.TemporaryError(str(exc), delay=delay)


def _kind(exc: PackgateError) -> str:
    """The `kind` label of packgate_reconcile_errors."""
    if isinstance(exc, DatabaseError):
        return "database"
    if isinstance(exc, KubernetesError):
        return "kubernetes"
    return "packgate"


async def _serve_health(runtime: Runtime, port: int) -> web.AppRunner:
    """/healthz: the event loop answers.  /readyz: startup finished."""

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(_: web.Request) -> web.Response:
        if runtime.ready:
            return web.Response(text="ready\n")
        return web.Response(status=503, text="starting\n")

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "0.0.0.0", port).start()
    return runner


async def retention_loop(runtime: Runtime, stop: asyncio.Event) -> None:
    """Delete executions older than PACKGATE_RETENTION_DAYS, every PACKGATE_RETENTION_INTERVAL_SECONDS.
    Every replica runs this loop, standby ones too (they need no leadership to reach PostgreSQL); the
    database's retention lock makes a round that meets another replica's skip."""
    while not stop.is_set():
        executor = runtime.executor
        if executor is not None:
            db = await executor.recorder.database()
            if db is not None:
                days = runtime.settings.retention_days
                try:
                    done = await db.retention_round(days)
                except DatabaseUnavailable as exc:
                    log.warning("Retention skipped: %s", exc)
                    await executor.recorder.lost()
                except DatabaseError as exc:
                    log.warning("Retention skipped: %s", exc)
                else:
                    if done.skipped:
                        log.info("Retention skipped: another replica is running it")
                    elif done.deleted:
                        log.info("Retention: deleted %d executions older than %d days", done.deleted, days)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=runtime.settings.retention_interval_seconds)


def api_threads(settings: Settings) -> ThreadPoolExecutor:
    """The event loop's default executor, where `asyncio.to_thread` runs the blocking Kubernetes
    client calls and log streams: PACKGATE_API_WORKERS threads (each call bounded by
    PACKGATE_API_TIMEOUT_SECONDS, so a stalled one gives its thread back)."""
    return ThreadPoolExecutor(max_workers=settings.api_workers, thread_name_prefix="packgate-api")


def peering_identity() -> str:
    """This replica's name among its peers: the pod's hostname and the process id.

    kopf's own default asks the password database for the user's name, which fails in images
    whose non-root uid (65532 here) has no /etc/passwd entry.
    """
    return f"{socket.gethostname()}/{os.getpid()}"


def peering_priority(settings: Settings) -> int:
    """This replica's peering priority: the setting, else random (tied replicas pause each other)."""
    if settings.peering_priority is not None:
        return settings.peering_priority
    return secrets.randbelow(1_000_000) + 1


def _unawaited_exception(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """asyncio's report of an exception raised where nothing awaits it (a callback, a forgotten
    task), as one log line instead of a traceback (`--verbose` keeps asyncio's own report).  kopf's
    watch streams raise one whenever the operator pauses or resumes (peering) with a request
    pending: their cancel callback asserts that it runs in a task, and no done-callback does
    (kopf 1.45); that one is logged at debug level."""
    exc = context.get("exception")
    if exc is None:
        log.warning("asyncio: %s", context.get("message", "an error nothing awaited"))
        return
    frame = exc.__traceback__
    while frame is not None and frame.tb_next is not None:
        frame = frame.tb_next
    where = frame.tb_frame.f_code.co_name if frame is not None else "?"
    if isinstance(exc, AssertionError) and where == "request_cancel_callback":
        log.debug("kopf: a watch request's cancel callback ran outside a task (on pause or resume)")
        return
    log.warning("asyncio: %s in %s: %s", type(exc).__name__, where, str(exc).splitlines()[0] if str(exc) else "")


def run(settings: Settings, *, kubeconfig: str | None = None, verbose: bool = False) -> None:
    """Run the operator until it is stopped (SIGINT/SIGTERM)."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("kopf").setLevel(logging.INFO if verbose else logging.WARNING)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    logging.getLogger("asyncpg").setLevel(logging.ERROR)  # outages are reported by packgate itself
    runtime = Runtime(settings, kubeconfig)
    registry = build_registry(runtime)
    stop = asyncio.Event()

    async def main() -> None:
        # Blocking client calls (asyncio.to_thread: API calls, log streams) share this pool.
        asyncio.get_running_loop().set_default_executor(api_threads(settings))
        if not verbose:
            asyncio.get_running_loop().set_exception_handler(_unawaited_exception)
        try:
            health = await _serve_health(runtime, settings.health_port)
            metrics.serve(settings.metrics_port)
        except OSError as exc:
            raise KubernetesError(f"cannot listen on the health or metrics port: {exc.strerror or exc}") from exc
        retention = asyncio.create_task(retention_loop(runtime, stop))
        try:
            await kopf.operator(
                registry=registry,
                clusterwide=not settings.namespaces,
                namespaces=settings.namespaces,
                standalone=not settings.peering,
                peering_name=settings.peering or None,
                priority=peering_priority(settings),
                identity=peering_identity(),
                memo=kopf.Memo(),
            )
        finally:
            stop.set()
            retention.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await retention
            await health.cleanup()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    except kopf.LoginError as exc:
        raise KubernetesError(f"cannot log in to the API server: {exc}") from exc
