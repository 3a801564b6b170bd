"""The Pack's `status`: phases, conditions (kstatus conventions) and the execution records kept
in it.

Owns: the status models and the pure condition arithmetic (lastTransitionTime only moves when a
condition's status changes).  Must not: talk to the API server.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Phase(StrEnum):
    PENDING = "Pending"
    QUEUED = "Queued"
    TESTING = "Testing"
    PASSED = "Passed"
    PARTIAL = "Partial"
    FAILED = "Failed"
    ERROR = "Error"
    SKIPPED = "Skipped"


class Trigger(StrEnum):
    INSTALL = "install"
    UPDATE = "update"
    MANUAL = "manual"
    VALIDATION = "validation"


class _Status(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


class Condition(_Status):
    type: str
    status: str  # "True" | "False" | "Unknown"
    reason: str
    message: str = ""
    observed_generation: int = Field(default=0, alias="observedGeneration")
    last_transition_time: str = Field(default="", alias="lastTransitionTime")


class SuiteSummary(_Status):
    """One runner's outcome as shown in status.lastExecution.suites."""

    name: str
    type: str
    job: str | None = None
    status: str
    total: int = 0
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    duration_ms: int = Field(default=0, alias="durationMs")
    reason: str | None = None
    error: str | None = None
    exit_code: int | None = Field(default=None, alias="exitCode")


class Comparison(_Status):
    """Against the last execution of the active version."""

    base_version: str | None = Field(default=None, alias="baseVersion")
    regressions: list[str] = Field(default_factory=list)
    fixes: list[str] = Field(default_factory=list)
    added: int = 0
    removed: int = 0


class ExecutionSummary(_Status):
    """status.lastExecution: a finished execution and its verdict."""

    id: str
    trigger: Trigger
    version: str
    spec_hash: str = Field(alias="specHash")
    started_at: str | None = Field(default=None, alias="startedAt")
    finished_at: str | None = Field(default=None, alias="finishedAt")
    duration_ms: int = Field(default=0, alias="durationMs")
    total: int = 0
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    pass_rate: float = Field(default=0.0, alias="passRate")
    status: str
    suites: list[SuiteSummary] = Field(default_factory=list)
    failing_tests: list[str] = Field(default_factory=list, alias="failingTests")
    comparison: Comparison | None = None
    recorded: bool = False


class RunnerError(_Status):
    reason: str
    message: str


class CurrentExecution(_Status):
    """status.currentExecution: a queued or running execution.  Written before its Jobs are
    created, so a restarted operator adopts the same Jobs."""

    id: str
    trigger: Trigger
    version: str
    spec_hash: str = Field(alias="specHash")
    token: str
    nonce: str
    queued_at: str = Field(alias="queuedAt")
    started_at: str | None = Field(default=None, alias="startedAt")
    runners: list[str] = Field(default_factory=list)
    runner_errors: dict[str, RunnerError] = Field(default_factory=dict, alias="runnerErrors")


class PackStatus(_Status):
    observed_generation: int = Field(default=0, alias="observedGeneration")
    phase: Phase = Phase.PENDING
    active_version: str = Field(default="", alias="activeVersion")
    message: str = ""
    queue_position: int | None = Field(default=None, alias="queuePosition")
    summary: dict[str, str] = Field(default_factory=dict)
    last_execution: ExecutionSummary | None = Field(default=None, alias="lastExecution")
    current_execution: CurrentExecution | None = Field(default=None, alias="currentExecution")
    retest_token: str | None = Field(default=None, alias="retestToken")
    pending_records: list[dict[str, Any]] = Field(default_factory=list, alias="pendingRecords")
    conditions: list[Condition] = Field(default_factory=list)

    def condition(self, type_: str) -> Condition | None:
        return next((c for c in self.conditions if c.type == type_), None)


def load_status(raw: dict[str, Any] | None) -> PackStatus:
    """The typed status; an unreadable status (hand-edited) starts over rather than crash."""
    try:
        return PackStatus.model_validate(raw or {})
    except ValueError:
        return PackStatus()


def timestamp(now: datetime) -> str:
    """RFC 3339 with seconds, as Kubernetes writes it."""
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def merge_conditions(existing: list[Condition], wanted: list[Condition], now: datetime) -> list[Condition]:
    """The wanted conditions, keeping each one's lastTransitionTime when its status did not change."""
    previous = {c.type: c for c in existing}
    merged = []
    for cond in wanted:
        old = previous.get(cond.type)
        since = old.last_transition_time if old is not None and old.status == cond.status else timestamp(now)
        merged.append(cond.model_copy(update={"last_transition_time": since}))
    return merged


def dump(model: BaseModel) -> dict[str, Any]:
    """A status model as the API server stores it (camelCase, no nulls)."""
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)
