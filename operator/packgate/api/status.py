"""The Pack's `status`: phases, conditions (kstatus conventions), the execution records kept
in it, and the bound on its size.

Owns: the status models, the pure condition arithmetic (lastTransitionTime only moves when a
condition's status changes), reading a damaged status back without losing `activeVersion`, the
merge patch between two statuses, and the size budget: whatever the results, the status stays
under STATUS_MAX_BYTES (`bound_status` caps lastExecution and the free texts, `defer` keeps
pendingRecords compact and capped).  Must not: talk to the API server.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError


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
    regressions_omitted: int | None = Field(default=None, alias="regressionsOmitted")
    fixes: list[str] = Field(default_factory=list)
    fixes_omitted: int | None = Field(default=None, alias="fixesOmitted")
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
    suites_omitted: int | None = Field(default=None, alias="suitesOmitted")
    failing_tests: list[str] = Field(default_factory=list, alias="failingTests")
    failing_tests_omitted: int | None = Field(default=None, alias="failingTestsOmitted")
    comparison: Comparison | None = None
    recorded: bool = False
    record_error: str | None = Field(default=None, alias="recordError")
    """Why PostgreSQL refused this execution's record (it is not retried)."""
    digest: str | None = None
    """What the execution ran: `sha256:` and 64 hex digits over the pack's content and each
    runner's effective configuration (packgate.reconcile.digest); None when the source names no
    fixed content."""
    cached_from: str | None = Field(default=None, alias="cachedFrom")
    """The execution whose verdict this one reused (spec.testing.cacheFor): no Jobs ran."""


class RunnerError(_Status):
    reason: str
    message: str


class CollectedSuite(SuiteSummary):
    """A runner of the current execution whose result was read as soon as its Job ended
    (status.currentExecution.collected): its outcome as lastExecution will show it, and the names
    of its first failing tests.  The runner is never run again; if its Job (or pod) is gone by the
    time the execution concludes (ttlSecondsAfterFinished, deleted by hand), the execution
    concludes from this summary instead of the log."""

    failing_tests: list[str] = Field(default_factory=list, alias="failingTests")
    failing_tests_omitted: int | None = Field(default=None, alias="failingTestsOmitted")


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
    jobs_seen: list[str] = Field(default_factory=list, alias="jobsSeen")
    """Runners whose Job has been observed and whose result is not read yet: if such a Job is gone,
    it was removed (a runner error), it is not one still to create."""
    collected: list[CollectedSuite] = Field(default_factory=list)
    """Runners whose result was read as soon as their Job ended (`CollectedSuite`)."""
    digest: str | None = None
    """The execution digest when it was queued (ExecutionSummary.digest)."""


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
    depends_on: str | None = Field(default=None, alias="dependsOn")
    """The state of spec.dependsOn in a few words (`2/2 ready`, `waiting: core`), the DEPENDS-ON
    printer column; None without dependencies.  packgate.reconcile.depends renders it."""
    pending_records: list[dict[str, Any]] = Field(default_factory=list, alias="pendingRecords")
    conditions: list[Condition] = Field(default_factory=list)

    def condition(self, type_: str) -> Condition | None:
        return next((c for c in self.conditions if c.type == type_), None)


_LIST_FIELDS = ("conditions", "pendingRecords")


def load_status(raw: Any) -> PackStatus:
    """The typed status.  A status that does not read as a whole (hand-edited, or written by another
    version) keeps every field that still reads on its own -- `activeVersion` above all, so a bad
    edit never deactivates a version -- and the readable items of `conditions` and
    `pendingRecords`; the rest starts over.  Never raises."""
    if not isinstance(raw, dict):
        return PackStatus()
    try:
        return PackStatus.model_validate(raw)
    except ValidationError:
        pass
    kept: dict[str, Any] = {}
    for name, info in PackStatus.model_fields.items():
        key = info.alias or name
        if key not in raw:
            continue
        value = raw[key]
        if not _reads({key: value}):
            if key not in _LIST_FIELDS or not isinstance(value, list):
                continue
            value = [item for item in value if _reads({key: [item]})]
        kept[key] = value
    return PackStatus.model_validate(kept)


def _reads(raw: dict[str, Any]) -> bool:
    try:
        PackStatus.model_validate(raw)
    except ValidationError:
        return False
    return True


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


def only_queue_position_moved(old: PackStatus, new: PackStatus) -> bool:
    """Whether `new` differs from `old` only in the queue position (and the messages that quote
    it): the same queued execution, one place further on."""
    if old.queue_position is None or new.queue_position is None or old.queue_position == new.queue_position:
        return False

    def without_position(status: PackStatus) -> PackStatus:
        conditions = [c.model_copy(update={"message": ""}) for c in status.conditions]
        return status.model_copy(update={"queue_position": None, "message": "", "conditions": conditions})

    return without_position(old) == without_position(new)


def only_jobs_seen_grew(old: PackStatus, new: PackStatus) -> bool:
    """Whether `new` differs from `old` only in runners added to the current execution's jobsSeen
    (the Jobs a pass found): the same execution, nothing else changed."""
    before, after = old.current_execution, new.current_execution
    if before is None or after is None or before.id != after.id:
        return False
    if set(after.jobs_seen) <= set(before.jobs_seen):
        return False
    seen = after.model_copy(update={"jobs_seen": before.jobs_seen})
    return old == new.model_copy(update={"current_execution": seen})


def status_patch(old: PackStatus, new: PackStatus) -> dict[str, Any]:
    """The JSON merge patch (RFC 7386) from `old` to `new`: changed keys, with null for every key
    that went away, also inside nested objects (a merge patch would otherwise keep them).
    Empty when nothing changed."""
    return _diff(dump(old), dump(new))


def _diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    patch: dict[str, Any] = {key: None for key in old if key not in new}
    for key, value in new.items():
        before = old.get(key)
        if before == value:
            continue
        if isinstance(before, dict) and isinstance(value, dict):
            patch[key] = _diff(before, value)
        else:
            patch[key] = value
    return patch


# ---------------------------------------------------------------------------------------------
# The size budget.  The API server refuses objects over etcd's limit (about 1.5 MiB), and a
# status patch that is refused leaves the Pack without its verdict; far below that, a big status
# slows every watcher.  So the status is bounded, whatever the results: full detail lives in
# PostgreSQL.  Worst case (16 runners, every text and list at its limit, 10 deferred records):
# pendingRecords 32 KiB + lastExecution ~13 KiB + conditions and message ~8 KiB +
# currentExecution ~6 KiB (~11 KiB when every runner's result is collected: a runner has either
# an error or a collected suite, and their texts share one budget), under STATUS_MAX_BYTES.

STATUS_MAX_BYTES = 64 * 1024
"""The most bytes the Pack's status takes as compact JSON, whatever the results."""
TEXT_BYTES = 1024
"""status.message, each condition's message, each runner's error."""
NAME_BYTES = 256
"""One test name in failingTests, regressions or fixes."""
FAILING_TESTS_SHOWN = 10
FAILING_TESTS_BYTES = 2048
COMPARISON_NAMES_SHOWN = 10
COMPARISON_NAMES_BYTES = 1024
"""Each of comparison.regressions and comparison.fixes."""
SUITES_SHOWN = 16
"""As many as a Pack has runners."""
SUITES_BYTES = 8192
"""lastExecution.suites together: errors are shortened to share it."""
RUNNER_ERRORS_BYTES = 4096
"""currentExecution.runnerErrors' messages and currentExecution.collected's errors together."""
COLLECTED_FAILING_BYTES = 1024
"""currentExecution.collected's failing test names together (FAILING_TESTS_SHOWN per runner at most)."""
PENDING_RECORDS_MAX = 10
PENDING_RECORD_BYTES = 8192
PENDING_BYTES = 32 * 1024
"""status.pendingRecords together: past PENDING_RECORDS_MAX records or this, the oldest go."""
CASE_MESSAGE_BYTES = 512
"""A failing test's error message in a deferred record."""

_ELLIPSIS = " … "


def json_size(value: Any) -> int:
    """Bytes of `value` as compact UTF-8 JSON (how the API server stores it)."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def clip(text: str, limit: int) -> str:
    """`text` within `limit` UTF-8 bytes: its head and its tail joined by " … " (a runner error's
    last lines and a test name's start are both worth keeping).  Unchanged when it fits, so
    clipping again changes nothing."""
    data = text.encode()
    if len(data) <= limit:
        return text
    marker = _ELLIPSIS.encode()
    room = limit - len(marker)
    if room < 2:
        return data[: max(0, limit)].decode(errors="ignore")
    head = room - room // 2
    tail = room - head
    return data[:head].decode(errors="ignore") + _ELLIPSIS + data[len(data) - tail :].decode(errors="ignore")


def cap_names(
    names: Sequence[str], count: int, budget: int, omitted: int | None = None
) -> tuple[list[str], int | None]:
    """The first names that fit `count` items and `budget` bytes (each clipped to NAME_BYTES), and
    how many were left out (added to an earlier `omitted`; None when none)."""
    kept: list[str] = []
    size = 2  # []
    for name in names:
        item = clip(name, NAME_BYTES)
        cost = json_size(item) + (1 if kept else 0)
        if len(kept) >= count or size + cost > budget:
            break
        kept.append(item)
        size += cost
    left_out = (omitted or 0) + len(names) - len(kept)
    return kept, left_out or None


def capped_comparison(
    base_version: str | None, regressions: Sequence[str], fixes: Sequence[str], added: int, removed: int
) -> Comparison:
    """A comparison within its budget: the first regressions and fixes (sorted), and how many more."""
    shown_regressions, more_regressions = cap_names(sorted(regressions), COMPARISON_NAMES_SHOWN, COMPARISON_NAMES_BYTES)
    shown_fixes, more_fixes = cap_names(sorted(fixes), COMPARISON_NAMES_SHOWN, COMPARISON_NAMES_BYTES)
    return Comparison(
        base_version=base_version,
        regressions=shown_regressions,
        regressions_omitted=more_regressions,
        fixes=shown_fixes,
        fixes_omitted=more_fixes,
        added=added,
        removed=removed,
    )


def _share(budget: int, fixed: int, parts: int, most: int) -> int:
    """Bytes per part when `parts` texts share what `fixed` leaves of `budget` (at most `most`)."""
    if parts == 0:
        return most
    return max(32, min(most, (budget - fixed) // parts))


def bound_execution(summary: ExecutionSummary) -> ExecutionSummary:
    """lastExecution within its budget: failing tests, suites and comparison names capped by count
    and bytes (the number left out in failingTestsOmitted, suitesOmitted, regressionsOmitted and
    fixesOmitted), suite errors shortened to share SUITES_BYTES.  Bounding twice changes nothing."""
    failing, failing_omitted = cap_names(
        summary.failing_tests, FAILING_TESTS_SHOWN, FAILING_TESTS_BYTES, summary.failing_tests_omitted
    )
    suites = summary.suites[:SUITES_SHOWN]
    suites_omitted = (summary.suites_omitted or 0) + len(summary.suites) - len(suites)
    bare = [s.model_copy(update={"error": None}) for s in suites]
    with_error = sum(1 for s in suites if s.error)
    limit = _share(SUITES_BYTES, json_size([dump(s) for s in bare]), with_error, TEXT_BYTES)
    suites = [s if s.error is None else s.model_copy(update={"error": clip(s.error, limit)}) for s in suites]
    comparison = summary.comparison
    if comparison is not None:
        regressions, regressions_omitted = cap_names(
            comparison.regressions, COMPARISON_NAMES_SHOWN, COMPARISON_NAMES_BYTES, comparison.regressions_omitted
        )
        fixes, fixes_omitted = cap_names(
            comparison.fixes, COMPARISON_NAMES_SHOWN, COMPARISON_NAMES_BYTES, comparison.fixes_omitted
        )
        comparison = comparison.model_copy(
            update={
                "regressions": regressions,
                "regressions_omitted": regressions_omitted,
                "fixes": fixes,
                "fixes_omitted": fixes_omitted,
            }
        )
    record_error = None if summary.record_error is None else clip(summary.record_error, TEXT_BYTES)
    return summary.model_copy(
        update={
            "failing_tests": failing,
            "failing_tests_omitted": failing_omitted,
            "suites": suites,
            "suites_omitted": suites_omitted or None,
            "comparison": comparison,
            "record_error": record_error,
        }
    )


def bound_current(current: CurrentExecution) -> CurrentExecution:
    """currentExecution within its budget: the runner errors' messages and the collected suites'
    errors share RUNNER_ERRORS_BYTES (each at most TEXT_BYTES); the collected suites' failing test
    names share COLLECTED_FAILING_BYTES (at most FAILING_TESTS_SHOWN each, the number left out in
    failingTestsOmitted).  A runner has an error or a collected suite, not both, and jobsSeen
    lists only runners with neither (the planner keeps it so; a status edited otherwise is put
    back in that shape).  Bounding twice changes nothing."""
    if not current.runner_errors and not current.collected and not current.jobs_seen:
        return current
    runners = set(current.runners)
    done = set(current.runner_errors)
    collected: list[CollectedSuite] = []
    for suite in current.collected:
        if suite.name in runners and suite.name not in done:
            collected.append(suite)
            done.add(suite.name)
    seen: list[str] = []
    for name in current.jobs_seen:
        if name in runners and name not in done:
            seen.append(name)
            done.add(name)
    texts = len(current.runner_errors) + sum(1 for s in collected if s.error)
    limit = _share(RUNNER_ERRORS_BYTES, 0, texts, TEXT_BYTES)
    errors = {
        name: error.model_copy(update={"message": clip(error.message, limit)})
        for name, error in current.runner_errors.items()
    }
    named = sum(1 for s in collected if s.failing_tests)
    names_limit = _share(COLLECTED_FAILING_BYTES, 0, named, COLLECTED_FAILING_BYTES)
    bounded = []
    for suite in collected:
        update: dict[str, Any] = {}
        if suite.error is not None:
            update["error"] = clip(suite.error, limit)
        if suite.failing_tests:
            # Each name shortened to fit its share, so a long first name does not hide them all.
            names = [clip(name, min(NAME_BYTES, names_limit - 4)) for name in suite.failing_tests]
            update["failing_tests"], update["failing_tests_omitted"] = cap_names(
                names, FAILING_TESTS_SHOWN, names_limit, suite.failing_tests_omitted
            )
        bounded.append(suite.model_copy(update=update))
    return current.model_copy(update={"runner_errors": errors, "collected": bounded, "jobs_seen": seen})


def bound_status(status: PackStatus) -> PackStatus:
    """The status within STATUS_MAX_BYTES: messages clipped to TEXT_BYTES, `dependsOn` to
    NAME_BYTES, lastExecution bounded (`bound_execution`), currentExecution's runner errors and
    collected suites (`bound_current`).  pendingRecords are bounded when they are added
    (`defer`).  Bounding twice changes nothing, so an unchanged status is never patched again."""
    conditions = [c.model_copy(update={"message": clip(c.message, TEXT_BYTES)}) for c in status.conditions]
    last = None if status.last_execution is None else bound_execution(status.last_execution)
    current = None if status.current_execution is None else bound_current(status.current_execution)
    return status.model_copy(
        update={
            "message": clip(status.message, TEXT_BYTES),
            "depends_on": None if status.depends_on is None else clip(status.depends_on, NAME_BYTES),
            "conditions": conditions,
            "last_execution": last,
            "current_execution": current,
        }
    )


# ---------------------------------------------------------------------------------------------
# Records deferred into status.pendingRecords while PostgreSQL is away.  A record is an
# ExecutionRecord as a dict (see packgate.db.models); compacting keeps its counts and verdict
# whole and as many test cases as fit PENDING_RECORD_BYTES, failing ones first, and says so in
# its `compacted` field, which the database keeps with the stored result.

_FAILING = ("failed", "error")


def _compact_case(case: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"name": clip(str(case.get("name", "")), NAME_BYTES), "status": case.get("status")}
    if case.get("duration_ms"):
        out["duration_ms"] = case["duration_ms"]
    message = case.get("error_message")
    if case.get("status") in _FAILING and isinstance(message, str):
        out["error_message"] = clip(message, CASE_MESSAGE_BYTES)
    return out


def compact_record(record: dict[str, Any], budget: int = PENDING_RECORD_BYTES) -> dict[str, Any]:
    """A record small enough to defer into the Pack's status: the header, the counts and every
    suite's summary, then test cases -- failing first, without their output, messages clipped --
    while they fit `budget` bytes.  `compacted` says how many cases and suites were left out.
    Compacting a compacted record again changes nothing."""
    result = dict(record.get("result") or {})
    suites_in: list[dict[str, Any]] = [dict(s) for s in result.get("test_suites") or [] if isinstance(s, dict)]
    before = record.get("compacted") or {}
    cases_omitted = int(before.get("cases_omitted", 0))
    suites_omitted = int(before.get("suites_omitted", 0))

    def build(suites: list[dict[str, Any]], kept: int, omitted: int) -> dict[str, Any]:
        return {
            **record,
            "result": {**result, "test_suites": suites},
            "compacted": {"cases_kept": kept, "cases_omitted": omitted, "suites_omitted": suites_omitted},
        }

    def estimate(suites: list[dict[str, Any]]) -> int:
        # With the widest counts, so the estimate does not depend on them (compacting again
        # must make the same choices).
        return json_size(build(suites, _WIDEST, _WIDEST))

    # Every suite's summary; shorter errors, then fewer suites, if even they don't fit.
    skeletons = [{**s, "test_cases": []} for s in suites_in]
    error_limit = TEXT_BYTES
    while True:
        shaped = [
            {**s, "error": clip(s["error"], error_limit)} if isinstance(s.get("error"), str) else s for s in skeletons
        ]
        if estimate(shaped) <= budget or error_limit <= 64:
            break
        error_limit //= 2
    while shaped and estimate(shaped) > budget:
        shaped.pop()
        suites_omitted += 1
    kept_suites = suites_in[: len(shaped)]
    cases_omitted += sum(len(s.get("test_cases") or []) for s in suites_in[len(shaped) :])

    # Then test cases, failing ones first, while they fit.
    order = [
        (index, case)
        for failing in (True, False)
        for index, suite in enumerate(kept_suites)
        for case in suite.get("test_cases") or []
        if isinstance(case, dict) and (case.get("status") in _FAILING) is failing
    ]
    size = estimate(shaped)
    kept = 0
    for index, case in order:
        small = _compact_case(case)
        cost = json_size(small) + 1
        if size + cost > budget:
            break
        size += cost
        kept += 1
        shaped[index] = {**shaped[index], "test_cases": [*shaped[index]["test_cases"], small]}
    cases_omitted += sum(len(s.get("test_cases") or []) for s in kept_suites) - kept
    return build(shaped, kept, cases_omitted)


_WIDEST = 10**12


@dataclass(frozen=True)
class Deferral:
    """pendingRecords after deferring a record, and the records dropped to stay within the cap."""

    pending: list[dict[str, Any]]
    dropped: list[dict[str, Any]]


def defer(pending: Sequence[dict[str, Any]], record: dict[str, Any]) -> Deferral:
    """Add `record` (compacted) to the deferred records.  Past PENDING_RECORDS_MAX records or
    PENDING_BYTES, the oldest are dropped: the newest verdicts are the ones the status shows and
    later executions compare with.  A record already deferred (same idempotency key) is replaced."""
    new = compact_record(record)
    key = new.get("idempotency_key")
    kept = [compact_record(r) for r in pending if r.get("idempotency_key") != key or key is None]
    kept.append(new)
    dropped: list[dict[str, Any]] = []
    while len(kept) > 1 and (len(kept) > PENDING_RECORDS_MAX or json_size(kept) > PENDING_BYTES):
        dropped.append(kept.pop(0))
    return Deferral(kept, dropped)
