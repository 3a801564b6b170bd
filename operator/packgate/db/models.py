"""Typed values going into and coming out of the database layer.

Owns: ExecutionRecord (what the operator asks to record), Compaction, RetentionRound, and the read
models (PackInfo, ExecutionSummary, ExecutionDetail, PackStats, FlakyTest).  Must not: import asyncpg or hold SQL;
rows become these models inside `packgate.db.store` and never travel further as records.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from packgate.results import PackTestResult, RunStatus, TestStatus

TriggerReason = Literal["install", "update", "manual", "validation"]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Compaction(_Frozen):
    """How a record deferred into the Pack's status (PostgreSQL was away) was cut down to fit it:
    counts, verdict and suites are whole, test cases are kept failing-first within a byte budget,
    without their output and with clipped messages.  Stored inside the result JSON as `compacted`."""

    cases_kept: int = Field(ge=0)
    cases_omitted: int = Field(ge=0, description="test cases of the result left out (no pack_test_case row)")
    suites_omitted: int = Field(default=0, ge=0, description="suites left out (their counts are in the totals)")


class ExecutionRecord(_Frozen):
    """One execution to record, with everything needed to write it later (when the database was
    down at the time): the Pack's identity, the verdict and the result (compacted when it was
    deferred)."""

    pack_uid: str = Field(min_length=1, description="metadata.uid of the Pack")
    namespace: str = Field(min_length=1)
    name: str = Field(min_length=1)
    ref: str = Field(min_length=1, description="spec.ref (the pack's ref)")
    version: str = Field(min_length=1, description="spec.version when the execution ran")
    active_version: str | None = Field(default=None, description="status.activeVersion after the verdict")
    execution_id: str = Field(min_length=1, description="the operator's short execution id")
    idempotency_key: str = Field(min_length=1, description="unique per execution; recorded at most once")
    trigger: TriggerReason
    forced: bool = False
    allowed: bool = Field(description="whether the verdict allowed the version to be active")
    result: PackTestResult
    compacted: Compaction | None = Field(default=None, description="set when written from a compact deferred record")
    labels: dict[str, str] | None = Field(
        default=None,
        description="the Pack's metadata.labels when the execution concluded, for PackWebhook packSelectors; "
        "None when the record does not say (the delivery worker then reads the Pack)",
    )
    previous_active_version: str | None = Field(
        default=None,
        description='status.activeVersion before this verdict ("" or None: none), for the Activated event; '
        "when the record does not carry the key at all, the pack row's active_version is used",
    )
    digest: str | None = Field(
        default=None,
        pattern=r"^sha256:[0-9a-f]{64}$",
        description="what the execution ran: the pack's content and each runner's effective configuration "
        "(packgate.reconcile.digest); None when the source names no fixed content",
    )
    cached_from: str | None = Field(
        default=None,
        min_length=1,
        description="the execution_id whose verdict this execution reused without running Jobs (cacheFor)",
    )


class PackInfo(_Frozen):
    """A row of packgate.pack."""

    id: int
    uid: str
    namespace: str
    name: str
    ref: str
    version: str
    active_version: str | None
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None
    last_tested_at: datetime | None
    last_tested_version: str | None
    last_test_status: RunStatus | None
    last_pass_rate: float | None
    test_count: int


class ExecutionSummary(_Frozen):
    """One execution as listed in a history (a row of the pack_test_summary view)."""

    execution_id: str
    idempotency_key: str
    pack_version: str
    trigger: TriggerReason
    status: RunStatus
    execution_time: datetime
    total_tests: int
    passed: int
    failed: int
    skipped: int
    pass_rate: float
    duration_ms: int
    forced: bool
    allowed: bool
    digest: str | None = None
    cached_from: str | None = Field(default=None, description="the execution whose verdict this one reused")


class ExecutionDetail(ExecutionSummary):
    """One execution with its full result (a row of the pack_latest_test view)."""

    result: PackTestResult
    compacted: Compaction | None = None


class PackStats(_Frozen):
    """What get_pack_test_stats() returns for one pack."""

    total_executions: int
    passed_executions: int
    failed_executions: int
    avg_pass_rate: float | None
    avg_duration_ms: float | None
    last_test_time: datetime | None
    last_test_status: RunStatus | None


class FlakyTest(_Frozen):
    """A test that both passed and failed within one version, or (`digest` set) on the same content
    digest: the same pack content and runner configuration, the strongest sign of flakiness."""

    version: str = Field(description="the version; by digest, the newest version that ran that digest")
    suite: str
    case: str
    runs: int
    passes: int
    failures: int
    flips: int = Field(description="status changes between passing and failing, in time order")
    last_status: TestStatus
    digest: str | None = Field(default=None, description="set when found by content digest")

    @property
    def key(self) -> str:
        return f"{self.suite}::{self.case}"


def aware(value: datetime) -> datetime:
    """A naive datetime is taken as UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


class RetentionRound(_Frozen):
    """One round of retention on one replica: skipped when another replica was running it (it holds
    the retention lock), else how many executions were deleted."""

    skipped: bool
    deleted: int = Field(default=0, ge=0)
