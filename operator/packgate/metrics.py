"""Prometheus metrics (prometheus-client): defined here, served on PACKGATE_METRICS_PORT.

Owns: every metric object (on this module's REGISTRY, documented in README "Metrics"), the pure
helpers that turn what the operator knows into their values (`pass_outcome`,
`queue_wait_seconds`, `Fleet`), and starting the /metrics server.  Must not: start anything at
import (metric objects are inert until `serve` is called), do I/O, or choose an error's `kind`
label itself (the Kubernetes and database modules classify their own errors).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from packgate.errors import PackgateError, retry_delay

REGISTRY = CollectorRegistry(auto_describe=True)

EXECUTION_BUCKETS = (5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0)
"""Seconds: from a quick script runner to a two-hour suite."""
QUEUE_WAIT_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
"""Seconds: admitted at once (well under a second) to waiting an hour for a slot."""
RECONCILE_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
"""Seconds: a pass is a few API calls, a concluding one reads logs and writes to PostgreSQL."""

# -- executions -------------------------------------------------------------------------------

EXECUTIONS_STARTED = Counter(
    "packgate_executions_started", "Test executions started, by trigger.", ["trigger"], registry=REGISTRY
)
EXECUTIONS_FINISHED = Counter(
    "packgate_executions_finished",
    "Test executions finished, by result status and verdict.",
    ["status", "allowed"],
    registry=REGISTRY,
)
EXECUTION_DURATION = Histogram(
    "packgate_execution_duration_seconds",
    "Seconds from an execution's Jobs being created to its verdict, by trigger and result status.",
    ["trigger", "status"],
    buckets=EXECUTION_BUCKETS,
    registry=REGISTRY,
)
QUEUE_WAIT = Histogram(
    "packgate_execution_queue_wait_seconds",
    "Seconds from an execution being planned (queuedAt) to its Jobs being created (startedAt), "
    "observed when it finishes, by trigger and result status.",
    ["trigger", "status"],
    buckets=QUEUE_WAIT_BUCKETS,
    registry=REGISTRY,
)
RUNNER_ERRORS = Counter(
    "packgate_runner_errors", "Runners that ended without results, by reason.", ["reason"], registry=REGISTRY
)

# -- the fleet, as each Pack's last pass saw it ---------------------------------------------------

PACKS_WATCHED = Gauge("packgate_packs", "Packs this operator is reconciling.", registry=REGISTRY)
JOBS_RUNNING = Gauge(
    "packgate_jobs_running",
    "Test Jobs whose pod has not ended (the slots taken), summed over the Packs this operator reconciles, "
    "as each Pack's last pass saw them.",
    registry=REGISTRY,
)
PACKS_QUEUED = Gauge(
    "packgate_packs_queued",
    "Packs whose execution waits for a slot (phase Queued), as each Pack's last pass left it.",
    registry=REGISTRY,
)

# -- records ------------------------------------------------------------------------------------

RECORDS_WRITTEN = Counter(
    "packgate_records_written",
    "Execution records written to PostgreSQL (at once or after a deferral).",
    registry=REGISTRY,
)
RECORDS_DEFERRED = Counter(
    "packgate_records_deferred",
    "Execution records deferred into the Pack's status because PostgreSQL could not take them.",
    registry=REGISTRY,
)
RECORDS_REFUSED = Counter(
    "packgate_records_refused",
    "Execution records PostgreSQL refused (constraint violation, bad data); they are not retried.",
    registry=REGISTRY,
)
RECORDS_DROPPED = Counter(
    "packgate_records_dropped",
    "Deferred execution records dropped, oldest first, because more were waiting than the status holds.",
    registry=REGISTRY,
)
RECORDS_PENDING = Gauge(
    "packgate_records_pending",
    "Execution records waiting in Packs' status.pendingRecords for PostgreSQL, as each Pack's last pass left them.",
    registry=REGISTRY,
)

# -- PackWebhook deliveries ------------------------------------------------------------------------

WEBHOOK_DELIVERIES = Counter(
    "packgate_webhook_deliveries",
    "PackWebhook delivery attempts, by outcome: delivered (2xx), failed (retried later), cancelled "
    "(the PackWebhook is gone).",
    ["outcome"],
    registry=REGISTRY,
)
WEBHOOK_DELIVERIES_PENDING = Gauge(
    "packgate_webhook_deliveries_pending",
    "PackWebhook events not fanned out yet plus deliveries not done yet, in PostgreSQL's outbox, as this "
    "replica's delivery worker last counted them.",
    registry=REGISTRY,
)

# -- errors and passes ---------------------------------------------------------------------------

KUBERNETES_ERRORS = Counter(
    "packgate_kubernetes_errors",
    "Kubernetes API calls (and log streams) that failed, by kind: timeout, conflict, not_found, forbidden, "
    "server, other.",
    ["kind"],
    registry=REGISTRY,
)
DATABASE_ERRORS = Counter(
    "packgate_database_errors",
    "PostgreSQL calls that failed, by kind: outage, refused, other.",
    ["kind"],
    registry=REGISTRY,
)
RECONCILE_ERRORS = Counter(
    "packgate_reconcile_errors", "Reconcile passes that failed and were retried.", ["kind"], registry=REGISTRY
)
RECONCILE_PASSES = Counter(
    "packgate_reconcile_passes",
    "Reconcile passes, by outcome: ok, temporary (retried), permanent (waits for a change), unexpected.",
    ["outcome"],
    registry=REGISTRY,
)
RECONCILE_DURATION = Histogram(
    "packgate_reconcile_duration_seconds",
    "Seconds one reconcile pass of one Pack took, by outcome.",
    ["outcome"],
    buckets=RECONCILE_BUCKETS,
    registry=REGISTRY,
)


def pass_outcome(exc: BaseException | None) -> str:
    """The `outcome` label of a reconcile pass that raised `exc` (None: it did not)."""
    if exc is None:
        return "ok"
    if not isinstance(exc, PackgateError):
        return "unexpected"
    return "permanent" if retry_delay(exc) is None else "temporary"


def observe_pass(outcome: str, seconds: float) -> None:
    """Count one reconcile pass and its duration."""
    RECONCILE_PASSES.labels(outcome=outcome).inc()
    RECONCILE_DURATION.labels(outcome=outcome).observe(seconds)


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def queue_wait_seconds(queued_at: str, started_at: str | None) -> float | None:
    """Seconds between an execution's queuedAt and startedAt; None when it never started."""
    if not started_at:
        return None
    return max(0.0, (_parse_time(started_at) - _parse_time(queued_at)).total_seconds())


def observe_execution(*, trigger: str, status: str, queued_at: str, started_at: str | None, duration_ms: int) -> None:
    """Observe a finished execution's queue wait and duration (an execution that never started
    its Jobs has neither)."""
    wait = queue_wait_seconds(queued_at, started_at)
    if wait is None:
        return
    QUEUE_WAIT.labels(trigger=trigger, status=status).observe(wait)
    EXECUTION_DURATION.labels(trigger=trigger, status=status).observe(duration_ms / 1000)


@dataclass(frozen=True)
class PackTally:
    """What one Pack's last pass saw of it."""

    jobs_running: int = 0
    queued: bool = False
    records_pending: int = 0


@dataclass
class Fleet:
    """Each Pack's last tally, by uid; every change sets the fleet gauges to their sums.  Kept by
    the executor (built at startup), so no pass has to LIST the cluster for them."""

    packs: dict[str, PackTally] = field(default_factory=dict)

    def note(self, uid: str, tally: PackTally) -> None:
        self.packs[uid] = tally
        self._publish()

    def forget(self, uid: str) -> None:
        if self.packs.pop(uid, None) is not None:
            self._publish()

    def jobs_running(self) -> int:
        return sum(t.jobs_running for t in self.packs.values())

    def packs_queued(self) -> int:
        return sum(1 for t in self.packs.values() if t.queued)

    def records_pending(self) -> int:
        return sum(t.records_pending for t in self.packs.values())

    def _publish(self) -> None:
        JOBS_RUNNING.set(self.jobs_running())
        PACKS_QUEUED.set(self.packs_queued())
        RECORDS_PENDING.set(self.records_pending())


def serve(port: int) -> None:
    """Serve /metrics on `port` from a background thread."""
    start_http_server(port, addr="0.0.0.0", registry=REGISTRY)
