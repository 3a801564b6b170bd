"""`packgate results NAME`: a Pack's test history and statistics from PostgreSQL.

Shows the latest execution (with its suites and first failing tests), the history, the
statistics of get_pack_test_stats(), the tests that regressed against the active version, and
flaky tests (passing and failing within one version, and -- the strongest sign -- on the same
content digest: nothing that decides what ran changed).  An execution that reused a cached
verdict says so (cachedFrom).  `--json` prints the same as one JSON
document.  Owns: gathering and rendering that report.  Must not: hold SQL or import asyncpg at
import time; the queries live in `packgate.db`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from packgate.commands import COMMANDS
from packgate.commands.migrate import add_database_url_argument, database_url
from packgate.db.models import ExecutionDetail, ExecutionSummary, FlakyTest, PackInfo, PackStats
from packgate.display import format_duration, format_rate, format_time
from packgate.history import Comparison, case_statuses, compare

if TYPE_CHECKING:
    from packgate.db.store import Database

HELP = COMMANDS["results"]

FAILING_SHOWN = 5
"""Failing test names listed per suite of the latest execution."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="the Pack's name")
    parser.add_argument("--namespace", "-n", default="default", help="the Pack's namespace (default: default)")
    parser.add_argument(
        "--history", type=int, default=10, metavar="N", help="how many executions to list (default: 10)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of tables")
    add_database_url_argument(parser)


class Regressions(BaseModel):
    """The latest execution compared with the last earlier execution of the active version."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base_version: str
    base_execution_found: bool
    comparison: Comparison | None


class Report(BaseModel):
    """Everything `packgate results` shows (the --json document)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pack: PackInfo
    latest: ExecutionDetail | None
    history: list[ExecutionSummary]
    stats: PackStats
    regressions: Regressions | None
    flaky: list[FlakyTest]
    flaky_by_digest: list[FlakyTest]


async def gather_report(db: Database, namespace: str, name: str, history: int) -> Report | None:
    """The report of the Pack namespace/name, None when PostgreSQL has never seen it."""
    pack = await db.find_pack(namespace, name)
    if pack is None:
        return None
    latest = await db.latest_execution(namespace, name)
    regressions = None
    if pack.active_version and latest is not None:
        previous = await db.last_case_statuses(
            pack.uid, pack.active_version, exclude_idempotency_key=latest.idempotency_key
        )
        regressions = Regressions(
            base_version=pack.active_version,
            base_execution_found=bool(previous),
            comparison=compare(previous, case_statuses(latest.result)) if previous else None,
        )
    stats = await db.stats(namespace, name)
    assert stats is not None  # the pack exists
    return Report(
        pack=pack,
        latest=latest,
        history=await db.history(namespace, name, history),
        stats=stats,
        regressions=regressions,
        flaky=await db.flaky_tests(namespace, name),
        flaky_by_digest=await db.flaky_by_digest(namespace, name),
    )


def run(args: argparse.Namespace) -> int:
    import asyncio

    from packgate.db.store import Database

    if args.history < 1:
        print("packgate results: --history must be at least 1", file=sys.stderr)
        return 2
    dsn = database_url(args)

    async def load() -> tuple[str, Report | None]:
        db = await Database.connect(dsn)
        try:
            return db.target, await gather_report(db, args.namespace, args.name, args.history)
        finally:
            await db.close()

    target, report = asyncio.run(load())
    if report is None:
        print(f"packgate results: no test executions of Pack {args.namespace}/{args.name} in {target}", file=sys.stderr)
        return 1
    if args.json:
        print(report.model_dump_json(indent=2))
    else:
        print(render(report, args.history))
    return 0


# --------------------------------------------------------------------------------------- rendering


def _yes(value: bool) -> str:
    return "yes" if value else "no"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "  ") -> list[str]:
    """Left-aligned columns, two spaces apart, like kubectl."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = []
    for row in [list(headers), *rows]:
        lines.append(indent + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
    return lines


def render(report: Report, history: int) -> str:
    """The human-readable report."""
    pack = report.pack
    lines = [f"Pack {pack.namespace}/{pack.name}  (ref {pack.ref}, uid {pack.uid})"]
    state = f"  version {pack.version}   active {pack.active_version or '-'}   executions stored {pack.test_count}"
    if pack.deleted_at is not None:
        state += f"   deleted {format_time(pack.deleted_at)}"
    lines.append(state)

    latest = report.latest
    lines.append("")
    if latest is None:
        lines.append("No executions recorded.")
    else:
        lines.append(
            f"Latest execution {latest.execution_id}  ({latest.trigger}, {format_time(latest.execution_time)})"
        )
        lines.append(
            f"  version {latest.pack_version}   status {latest.status}   "
            f"{latest.passed}/{latest.total_tests} passed, {latest.failed} failed, {latest.skipped} skipped   "
            f"rate {format_rate(latest.pass_rate)}   duration {format_duration(latest.duration_ms)}   "
            f"allowed {_yes(latest.allowed)}{'   forced' if latest.forced else ''}"
        )
        if latest.cached_from is not None:
            lines.append(
                f"  cached: the verdict of execution {latest.cached_from} reused (same content digest), no Jobs ran"
            )
        if latest.compacted is not None and latest.compacted.cases_omitted:
            lines.append(
                f"  compacted: recorded after PostgreSQL was away, {latest.compacted.cases_omitted} "
                "test cases left out (the counts are whole)"
            )
        rows = []
        for suite in latest.result.test_suites:
            failing = [c.name for c in suite.test_cases if c.status in ("failed", "error")]
            note = suite.error or ""
            if failing:
                shown = ", ".join(failing[:FAILING_SHOWN])
                more = f" (+{len(failing) - FAILING_SHOWN} more)" if len(failing) > FAILING_SHOWN else ""
                note = f"failing: {shown}{more}"
            rows.append([suite.name, suite.runner_type, str(suite.status), f"{suite.passed}/{suite.total}", note])
        if rows:
            lines.extend(table(["SUITE", "RUNNER", "STATUS", "PASSED", "NOTES"], rows, indent="    "))

    lines.append("")
    lines.append(f"History ({len(report.history)} newest, up to {history})")
    lines.extend(
        table(
            [
                "TIME",
                "EXECUTION",
                "TRIGGER",
                "VERSION",
                "STATUS",
                "TOTAL",
                "PASSED",
                "FAILED",
                "SKIPPED",
                "RATE",
                "ALLOWED",
                "CACHED-FROM",
            ],
            [
                [
                    format_time(e.execution_time),
                    e.execution_id,
                    e.trigger,
                    e.pack_version,
                    str(e.status),
                    str(e.total_tests),
                    str(e.passed),
                    str(e.failed),
                    str(e.skipped),
                    format_rate(e.pass_rate),
                    _yes(e.allowed) + (" (forced)" if e.forced else ""),
                    e.cached_from or "-",
                ]
                for e in report.history
            ],
        )
    )

    stats = report.stats
    lines.append("")
    lines.append("Statistics")
    lines.append(
        f"  executions {stats.total_executions} (passed {stats.passed_executions}, failed "
        f"{stats.failed_executions})   average pass rate {format_rate(stats.avg_pass_rate)}   "
        f"average duration {format_duration(stats.avg_duration_ms)}"
    )
    lines.append(f"  last tested {format_time(stats.last_test_time)} ({stats.last_test_status or '-'})")

    lines.append("")
    regressions = report.regressions
    if regressions is None:
        lines.append("Regressions: no active version to compare with")
    elif regressions.comparison is None:
        lines.append(f"Regressions: no earlier execution of active version {regressions.base_version} to compare with")
    else:
        diff = regressions.comparison
        lines.append(
            f"Regressions against active version {regressions.base_version}: {len(diff.regressions)}"
            f"   (fixes {len(diff.fixes)}, added {len(diff.added)}, removed {len(diff.removed)})"
        )
        lines.extend(f"  {key}" for key in diff.regressions)

    lines.append("")
    if not report.flaky:
        lines.append("Flaky tests: none")
    else:
        lines.append(f"Flaky tests: {len(report.flaky)}")
        lines.extend(_flaky_table(report.flaky))

    lines.append("")
    if not report.flaky_by_digest:
        lines.append("Flaky on the same content digest: none")
    else:
        lines.append(f"Flaky on the same content digest: {len(report.flaky_by_digest)}")
        lines.extend(_flaky_table(report.flaky_by_digest, by_digest=True))
    return "\n".join(lines)


def _flaky_table(flaky: Sequence[FlakyTest], *, by_digest: bool = False) -> list[str]:
    """The flaky tests' table; `by_digest`: with the shortened content digest first."""
    headers = ["VERSION", "TEST", "RUNS", "PASSES", "FAILURES", "FLIPS", "LAST"]
    rows = [
        [f.version, f.key, str(f.runs), str(f.passes), str(f.failures), str(f.flips), str(f.last_status)] for f in flaky
    ]
    if by_digest:
        headers = ["DIGEST", *headers]
        rows = [[short_digest(f.digest), *row] for f, row in zip(flaky, rows, strict=True)]
    return table(headers, rows)


def short_digest(digest: str | None) -> str:
    """`sha256:` and the first 12 hex digits, as `docker images` shortens image ids."""
    return "-" if digest is None else digest[: len("sha256:") + 12]
