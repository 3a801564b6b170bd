"""Prometheus metrics (prometheus-client): defined here, served on PACKGATE_METRICS_PORT.

Owns: the metric objects and starting the /metrics server.  Must not: start anything at import
(metric objects are inert until `serve` is called).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

REGISTRY = CollectorRegistry(auto_describe=True)

EXECUTIONS_STARTED = Counter(
    "packgate_executions_started", "Test executions started, by trigger.", ["trigger"], registry=REGISTRY
)
EXECUTIONS_FINISHED = Counter(
    "packgate_executions_finished",
    "Test executions finished, by result status and verdict.",
    ["status", "allowed"],
    registry=REGISTRY,
)
RUNNER_ERRORS = Counter(
    "packgate_runner_errors", "Runners that ended without results, by reason.", ["reason"], registry=REGISTRY
)
RECONCILE_ERRORS = Counter(
    "packgate_reconcile_errors", "Reconcile passes that failed and were retried.", ["kind"], registry=REGISTRY
)
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
PACKS_WATCHED = Gauge("packgate_packs", "Packs this operator is reconciling.", registry=REGISTRY)


def serve(port: int) -> None:
    """Serve /metrics on `port` from a background thread."""
    start_http_server(port, addr="0.0.0.0", registry=REGISTRY)
