"""Operator settings: one frozen model, read from `PACKGATE_*` environment variables.

Owns: the names, defaults and meaning of every setting.  Must not: read the environment at
import time; `Settings()` is built once by the command that runs (the operator, `migrate`,
`results`) and passed inward.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of the operator.  Environment variable: `PACKGATE_` + the upper-cased name."""

    model_config = SettingsConfigDict(env_prefix="PACKGATE_", frozen=True, extra="ignore")

    database_url: SecretStr | None = Field(
        default=None,
        description="PostgreSQL URL (postgresql://user:pass@host:5432/db). Without it, verdicts are "
        "still written to the Pack status and every record stays deferred until a database is set.",
    )
    migrations_dir: Path | None = Field(
        default=None,
        description="Directory of the NNNN_name.sql migrations; default: the ones shipped with Packgate.",
    )
    namespaces: list[str] = Field(
        default_factory=list,
        description="Namespaces to watch, comma-separated or JSON list; empty means cluster-wide.",
    )
    max_concurrent_jobs: int = Field(
        default=10, ge=1, description="Test Jobs running at once across the cluster; more are Queued."
    )
    max_concurrent_jobs_per_namespace: int = Field(
        default=4, ge=1, description="Test Jobs running at once in one namespace; more are Queued."
    )
    log_limit_bytes: int = Field(
        default=16 * 1024 * 1024, ge=1024, description="Most bytes of a runner pod's log that are read."
    )
    job_ttl_seconds: int = Field(
        default=3600, ge=0, description="ttlSecondsAfterFinished of test Jobs (kept this long for kubectl logs)."
    )
    retention_days: int = Field(default=90, ge=1, description="Executions older than this are deleted from PostgreSQL.")
    retention_interval_seconds: int = Field(
        default=6 * 3600, ge=60, description="How often the retention clean-up runs."
    )
    image_shell: str = Field(default="docker.io/library/busybox:1.37", description="Default image of script runners.")
    image_python: str = Field(
        default="docker.io/library/python:3.13-slim", description="Default image of unittest/pytest runners."
    )
    image_node: str = Field(default="docker.io/library/node:22-slim", description="Default image of node runners.")
    image_git: str = Field(
        default="docker.io/alpine/git:2.49.1", description="Image of the init container that clones git sources."
    )
    unschedulable_grace_seconds: int = Field(
        default=20, ge=0, description="How long a runner pod may stay Unschedulable before it is a runner error."
    )
    watch_timeout_seconds: int = Field(
        default=300, ge=10, description="Server-side timeout of kopf's watch requests, so a silent stream is noticed."
    )
    health_port: int = Field(default=8080, description="Port of /healthz (liveness) and /readyz (readiness).")
    metrics_port: int = Field(default=9090, description="Port of the Prometheus /metrics endpoint.")
    peering_priority: int | None = Field(
        default=None,
        description="kopf peering priority of this replica; the highest one works, the others stand by. "
        "Unset: a random priority, so replicas never tie (tied replicas pause each other).",
    )
    peering: str | None = Field(
        default="packgate", description="kopf peering name for a standby replica; empty disables peering."
    )
