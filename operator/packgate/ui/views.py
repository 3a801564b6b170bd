"""The history UI's answers as values: the JSON API's models and the pure functions that build them.

Owns: the shapes of every /api/v1 answer (the OpenAPI schema is generated from them), merging the
database's Packs with the cluster's Pack objects into overview rows, the per-test history grid
(flaky and regressed flags), SVG chart geometry (sparklines and trends, as numbers: the templates
draw them), and ordering an execution's suites and cases failing first.  Must not: do I/O, import
the web framework, or decide who may see what (the caller passes rows already scoped).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from packgate.api.status import load_status
from packgate.db.history_queries import CaseRun, PackRow, StoredExecution, StoredExecutionDetail
from packgate.db.models import FlakyTest, PackInfo
from packgate.history import Comparison
from packgate.results import TestCaseResult, TestStatus, TestSuiteResult

_FAILING = frozenset({TestStatus.FAILED, TestStatus.ERROR})


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LiveStatus(_Model):
    """What the cluster says of a Pack now (its status), when the Pack object exists."""

    phase: str
    active_version: str | None
    message: str
    running_execution: str | None = Field(description="id of the execution in progress, if any")
    running_since: str | None
    queue_position: int | None


class PackOverview(_Model):
    """One Pack of the overview (GET /api/v1/packs)."""

    namespace: str
    name: str
    version: str | None
    active_version: str | None
    phase: str | None = Field(description="status.phase of the Pack object; None when only the database knows it")
    last_tested_at: datetime | None
    last_test_status: str | None
    last_pass_rate: float | None
    executions: int = Field(description="executions stored in the database")
    total: int = Field(description="tests of the latest execution")
    passed: int
    failed: int
    skipped: int
    recent_pass_rates: list[float] = Field(description="pass rates of the latest executions, oldest first")


class PackList(_Model):
    items: list[PackOverview]


class PackDetail(_Model):
    """GET /api/v1/namespaces/{ns}/packs/{name}: the Pack now and its latest execution."""

    pack: PackOverview
    live: LiveStatus | None
    latest: StoredExecution | None


class ExecutionList(_Model):
    """A page of executions, newest first; pass `next_before` as `before` for the next page."""

    items: list[StoredExecution]
    next_before: int | None


class CaseHistory(_Model):
    """One test across the latest executions (a row of the per-test grid)."""

    key: str
    statuses: list[str | None] = Field(description="status in each execution of `executions`, None when absent")
    flaky: bool = Field(description="passed and failed within the window")
    regressed: bool = Field(description="failing now, passed in its run before")


class CaseGrid(_Model):
    """GET .../tests: per-test history over the latest executions (oldest first)."""

    executions: list[StoredExecution]
    tests: list[CaseHistory]


class CompareAnswer(_Model):
    """GET .../compare: what changed from execution `base` to execution `head`."""

    base: int | None
    head: int | None
    base_version: str | None
    comparison: Comparison | None


class Flaky(_Model):
    items: list[FlakyTest]


class RetestAnswer(_Model):
    namespace: str
    name: str
    annotation: str
    value: str


class Problem(_Model):
    """Every error answer: one line."""

    detail: str


# ------------------------------------------------------------------------------------ overview


def live_status(obj: Mapping[str, Any] | None) -> LiveStatus | None:
    """The LiveStatus of a Pack object (None when there is no object)."""
    if obj is None:
        return None
    status = load_status(obj.get("status"))
    current = status.current_execution
    return LiveStatus(
        phase=str(status.phase),
        active_version=status.active_version or None,
        message=status.message,
        running_execution=current.id if current is not None else None,
        running_since=(current.started_at or current.queued_at) if current is not None else None,
        queue_position=status.queue_position,
    )


def _overview_from_db(row: PackRow, obj: Mapping[str, Any] | None, counts: tuple[int, int, int, int]) -> PackOverview:
    pack = row.pack
    live = live_status(obj)
    return PackOverview(
        namespace=pack.namespace,
        name=pack.name,
        version=pack.version,
        active_version=live.active_version if live is not None else pack.active_version,
        phase=live.phase if live is not None else None,
        last_tested_at=pack.last_tested_at,
        last_test_status=pack.last_test_status,
        last_pass_rate=pack.last_pass_rate,
        executions=pack.test_count,
        total=counts[0],
        passed=counts[1],
        failed=counts[2],
        skipped=counts[3],
        recent_pass_rates=row.recent_pass_rates,
    )


def _counts_of(obj: Mapping[str, Any] | None) -> tuple[int, int, int, int]:
    if obj is None:
        return (0, 0, 0, 0)
    last = load_status(obj.get("status")).last_execution
    if last is None:
        return (0, 0, 0, 0)
    return (last.total, last.passed, last.failed, last.skipped)


def overview_rows(
    rows: Iterable[PackRow],
    objects: Iterable[Mapping[str, Any]],
    *,
    namespace: str | None = None,
    status: str | None = None,
) -> list[PackOverview]:
    """The overview: every Pack the database knows (live) or the cluster has, sorted by namespace
    and name, the cluster's status and last counts on top of the database's row.  Both inputs are
    already limited to what the caller may see; `namespace` and `status` filter further (status
    is the last test status, e.g. failed)."""
    by_name: dict[tuple[str, str], Mapping[str, Any]] = {}
    for item in objects:
        meta = item.get("metadata") or {}
        by_name[(str(meta.get("namespace", "")), str(meta.get("name", "")))] = item
    out: dict[tuple[str, str], PackOverview] = {}
    for row in rows:
        key = (row.pack.namespace, row.pack.name)
        found = by_name.get(key)
        out[key] = _overview_from_db(row, found, _counts_of(found))
    for key, obj in by_name.items():
        if key in out:
            continue
        live = live_status(obj)
        spec = obj.get("spec") or {}
        last = load_status(obj.get("status")).last_execution
        counts = _counts_of(obj)
        out[key] = PackOverview(
            namespace=key[0],
            name=key[1],
            version=str(spec.get("version")) if spec.get("version") is not None else None,
            active_version=live.active_version if live is not None else None,
            phase=live.phase if live is not None else None,
            last_tested_at=None,
            last_test_status=last.status if last is not None else None,
            last_pass_rate=last.pass_rate if last is not None else None,
            executions=0,
            total=counts[0],
            passed=counts[1],
            failed=counts[2],
            skipped=counts[3],
            recent_pass_rates=[],
        )
    items = [out[k] for k in sorted(out)]
    if namespace:
        items = [i for i in items if i.namespace == namespace]
    if status:
        items = [i for i in items if i.last_test_status == status]
    return items


def pack_overview(info: PackInfo | None, obj: Mapping[str, Any] | None, recent: Sequence[float]) -> PackOverview:
    """The overview row of one Pack from its database row, its cluster object, or both (one of
    them must be there)."""
    rows = [] if info is None else [PackRow(pack=info, recent_pass_rates=list(recent))]
    items = overview_rows(rows, [] if obj is None else [obj])
    if not items:
        raise ValueError("pack_overview needs a database row or a Pack object")
    return items[0]


# ---------------------------------------------------------------------------------- test grid


def case_grid(executions_newest_first: Sequence[StoredExecution], runs: Iterable[CaseRun]) -> CaseGrid:
    """Per-test history over these executions (columns oldest first): a test is flaky when it
    both passed and failed (or errored) in the window, regressed when its latest run fails and
    its run before that (skipped runs aside) passed.  Rows: regressed first, then flaky, then
    failing now, then by key."""
    columns = list(reversed(executions_newest_first))
    index = {e.id: i for i, e in enumerate(columns)}
    cells: dict[str, list[str | None]] = {}
    for run in runs:
        column = index.get(run.execution)
        if column is None:
            continue
        row = cells.setdefault(run.key, [None] * len(columns))
        row[column] = run.status.value
    tests = []
    for key, statuses in cells.items():
        seen = [TestStatus(s) for s in statuses if s is not None and s != TestStatus.SKIPPED.value]
        flaky = TestStatus.PASSED in seen and any(s in _FAILING for s in seen)
        regressed = len(seen) >= 2 and seen[-1] in _FAILING and seen[-2] == TestStatus.PASSED
        tests.append(CaseHistory(key=key, statuses=statuses, flaky=flaky, regressed=regressed))
    last = len(columns) - 1

    def order(t: CaseHistory) -> tuple[bool, bool, bool, str]:
        failing_now = last >= 0 and t.statuses[last] in ("failed", "error")
        return (not t.regressed, not t.flaky, not failing_now, t.key)

    return CaseGrid(executions=columns, tests=sorted(tests, key=order))


# ------------------------------------------------------------------------------------- charts


class Chart(_Model):
    """An SVG polyline: `points` in a `width` x `height` box (y grows downwards)."""

    width: int
    height: int
    points: str
    maximum: float


def polyline(values: Sequence[float], width: int, height: int, maximum: float | None = None) -> Chart:
    """`values` (oldest first) spread over the width, scaled to the height (0 at the bottom,
    `maximum` -- default the largest value, at least 1e-9 -- at the top), 1 px padding."""
    top = max([*values, 1e-9]) if maximum is None else maximum
    if not values:
        return Chart(width=width, height=height, points="", maximum=top)
    step = (width - 2) / (len(values) - 1) if len(values) > 1 else 0.0
    pts = []
    for i, value in enumerate(values):
        x = 1 + i * step if len(values) > 1 else width / 2
        y = 1 + (height - 2) * (1 - min(max(value, 0.0), top) / top)
        pts.append(f"{x:.1f},{y:.1f}")
    return Chart(width=width, height=height, points=" ".join(pts), maximum=top)


# ------------------------------------------------------------------------------ execution page


def _failing_first(case: TestCaseResult) -> tuple[int, str]:
    rank = {TestStatus.ERROR: 0, TestStatus.FAILED: 1, TestStatus.SKIPPED: 3}.get(case.status, 2)
    return (rank, case.name)


def suites_failing_first(detail: StoredExecutionDetail) -> list[tuple[TestSuiteResult, list[TestCaseResult]]]:
    """The execution's suites, failing suites first, each with its cases failing first."""
    suites = sorted(detail.result.test_suites, key=lambda s: (s.failed == 0 and not s.error, s.name))
    return [(s, sorted(s.test_cases, key=_failing_first)) for s in suites]


def one_line(text: str | None, limit: int = 300) -> str:
    """A message for a table cell: control characters and newlines as spaces, at most `limit` chars."""
    if not text:
        return ""
    cleaned = "".join(ch if ch.isprintable() else " " for ch in text)
    cleaned = " ".join(cleaned.split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"
