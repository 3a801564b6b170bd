"""Operator settings: one frozen model, read from `PACKGATE_*` environment variables.

Owns: the names, defaults and meaning of every setting, and how a bad one is reported
(`load_settings` raises InvalidSetting, one line).  Must not: read the environment at import
time; `load_settings()` is called once by the command that runs (the operator, `migrate`,
`results`) and the Settings are passed inward.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

from packgate.api.spec import source_url
from packgate.errors import InvalidSetting

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


def namespace_name(value: str) -> str:
    """`value` if it is a valid namespace name (a DNS label), else ValueError saying why."""
    if not _DNS_LABEL.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a namespace name (lower-case letters, digits and '-', at most 63 characters)"
        )
    return value


def namespace_list(value: object) -> list[str]:
    """Namespaces from a comma-separated string (`a,b`), a JSON list (`["a","b"]`) or a list;
    blanks around names are ignored and an empty string means none.  ValueError when malformed."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"not a JSON list of namespaces: {exc.msg}") from None
        else:
            value = [part for part in (p.strip() for p in text.split(",")) if part]
    if not isinstance(value, list | tuple) or not all(isinstance(item, str) for item in value):
        raise ValueError("expected namespace names, comma-separated or as a JSON list of strings")
    return [namespace_name(item.strip()) for item in value]


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
    namespaces: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description='Namespaces to watch, comma-separated (`a,b`) or a JSON list (`["a","b"]`); '
        "empty means cluster-wide.",
    )
    max_concurrent_jobs: int = Field(
        default=10, ge=1, description="Test Jobs running at once across the cluster; more are Queued."
    )
    max_concurrent_jobs_per_namespace: int = Field(
        default=4, ge=1, description="Test Jobs running at once in one namespace; more are Queued."
    )
    log_limit_bytes: int = Field(
        default=1024 * 1024 * 1024,
        ge=1024 * 1024,
        description="Safety cap on a runner's log: the whole log is streamed (in bounded memory) up to this many "
        "bytes (counted as decoded characters); a longer log is a runner error saying so, with its last lines. "
        "Also the most a result file may weigh once decompressed.",
    )
    job_ttl_seconds: int = Field(
        default=3600, ge=0, description="ttlSecondsAfterFinished of test Jobs (kept this long for kubectl logs)."
    )
    retention_days: int = Field(default=90, ge=1, description="Executions older than this are deleted from PostgreSQL.")
    retention_interval_seconds: int = Field(
        default=6 * 3600, ge=60, description="How often the retention clean-up runs."
    )
    image_shell: str = Field(
        default="docker.io/library/busybox:1.37", description="Default image of script, tap and command runners."
    )
    image_python: str = Field(
        default="docker.io/library/python:3.13-slim", description="Default image of unittest runners."
    )
    image_pytest: str = Field(
        default="ghcr.io/packgate/runner-pytest:0.1.0",
        description="Default image of pytest runners: python with pytest installed (images/runner-pytest).",
    )
    image_node: str = Field(default="docker.io/library/node:22-slim", description="Default image of node runners.")
    image_git: str = Field(
        default="docker.io/alpine/git:2.49.1", description="Image of the init container that clones git sources."
    )
    pip_index_url: str | None = Field(
        default=None,
        description="Package index that python runners (unittest, pytest) install a pack's requirements.txt "
        "from (PIP_INDEX_URL in the runner pod; a plain-http index is also its PIP_TRUSTED_HOST).  An "
        "air-gapped cluster names its mirror here.  Unset: pip's own default (PyPI).  A Pack's "
        "spec.testing.dependencies.pipIndexUrl wins.",
    )
    npm_registry: str | None = Field(
        default=None,
        description="npm registry that node runners install a pack's package.json dependencies from "
        "(npm_config_registry in the runner pod).  Unset: npm's own default (registry.npmjs.org).  A Pack's "
        "spec.testing.dependencies.npmRegistry wins.",
    )
    unschedulable_grace_seconds: int = Field(
        default=20, ge=0, description="How long a runner pod may stay Unschedulable before it is a runner error."
    )
    watch_timeout_seconds: int = Field(
        default=300, ge=10, description="Server-side timeout of kopf's watch requests, so a silent stream is noticed."
    )
    health_port: int = Field(default=8080, description="Port of /healthz (liveness) and /readyz (readiness).")
    metrics_port: int = Field(default=9090, description="Port of the Prometheus /metrics endpoint.")
    api_timeout_seconds: float = Field(
        default=60,
        gt=0,
        description="Timeout of each Kubernetes API call Packgate makes itself (kopf's watches have their own): "
        "to connect (at most 10 s) and to read the answer, or the next chunk of a pod log.  A call that times "
        "out is a temporary error, retried.",
    )
    api_workers: int = Field(
        default=16,
        ge=2,
        description="Threads for the blocking Kubernetes client calls (API calls and log streams); the event "
        "loop never blocks on them.  The client keeps one pooled connection per thread.",
    )
    nonce_secret: SecretStr | None = Field(
        default=None,
        description="Key from which each execution's result-frame nonce is derived (HMAC of the Pack uid and "
        "the execution id), the same on every replica.  Unset: derived without a key (still per execution "
        "and the same on every replica).",
    )
    peering_priority: int | None = Field(
        default=None,
        description="kopf peering priority of this replica; the highest one works, the others stand by. "
        "Unset: a random priority, so replicas never tie (tied replicas pause each other).",
    )
    peering_lifetime_seconds: int = Field(
        default=20,
        ge=5,
        description="How long a replica's peering record counts as alive without a renewal: a standby takes "
        "over at most this long after the working replica dies uncleanly (at once after a clean stop).",
    )
    peering: str | None = Field(
        default="packgate", description="kopf peering name for a standby replica; empty disables peering."
    )
    webhook_timeout_seconds: float = Field(
        default=10.0, gt=0, le=300, description="Each PackWebhook POST's total timeout (connect, send, answer)."
    )
    webhook_retry_base_seconds: float = Field(
        default=5.0,
        gt=0,
        description="Delay after a PackWebhook delivery's first failed attempt; it doubles with each further one.",
    )
    webhook_retry_max_seconds: float = Field(
        default=600.0, gt=0, description="The longest delay between two attempts of one PackWebhook delivery."
    )
    webhook_poll_seconds: float = Field(
        default=2.0,
        gt=0,
        le=60,
        description="How often an idle delivery worker looks for PackWebhook events due (at most the delay between "
        "a verdict and its first delivery attempt).",
    )

    @field_validator("namespaces", mode="before")
    @classmethod
    def _namespaces(cls, value: object) -> list[str]:
        return namespace_list(value)

    @field_validator("pip_index_url", "npm_registry")
    @classmethod
    def _source_url(cls, value: str | None) -> str | None:
        return source_url(value) if value else None


def load_settings(**overrides: Any) -> Settings:
    """The settings from the environment (`overrides` win over it); InvalidSetting, one line naming
    every bad variable, when any is malformed."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            variable = f"PACKGATE_{str(error['loc'][0]).upper()}" if error["loc"] else "PACKGATE_*"
            problems.append(f"{variable}: {error['msg'].removeprefix('Value error, ')}")
        noun = "setting" if len(problems) == 1 else "settings"
        raise InvalidSetting(f"invalid {noun} {'; '.join(problems)}") from exc
    except SettingsError as exc:
        raise InvalidSetting(f"invalid setting: {exc}") from exc
