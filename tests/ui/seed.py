"""Test data for the history UI: executions written through the real Database (record_execution),
test names and messages that are hostile HTML, and a login role in packgate_reader."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from packgate.db import Database, ExecutionRecord
from packgate.results import PackTestResult, TestCaseResult, TestStatus, combine, suite_from_cases

HOSTILE_CASE = '<script>window.__pwned=1;alert("case")</script>'
HOSTILE_IMG = '"><img src=x onerror="window.__pwned=2;alert(2)">'
HOSTILE_MESSAGE = "boom </pre><script>window.__pwned=3;alert(3)</script>\x07\x1b[31mred\x00"
HOSTILE_SUITE = "suite<svg onload=alert(4)>"
HOSTILE_VERSION = '1.0"><script>alert(5)</script>'
HOSTILE_STRINGS = (HOSTILE_CASE, HOSTILE_IMG, HOSTILE_SUITE, HOSTILE_VERSION)

T = TestStatus


@dataclass
class Run:
    """One execution to record: {"suite::case": status}, its version and trigger."""

    cases: dict[str, TestStatus]
    version: str = "1.0.0"
    trigger: str = "update"
    active_version: str | None = None
    messages: dict[str, str] = field(default_factory=dict)
    job: str | None = None
    duration_ms: int | None = None


def result_of(run: Run, when: datetime, ref: str) -> PackTestResult:
    by_suite: dict[str, list[TestCaseResult]] = {}
    for key, status in run.cases.items():
        suite, case = key.split("::", 1)
        message = run.messages.get(key)
        if message is None and status in (T.FAILED, T.ERROR):
            message = f"{case} went wrong"
        by_suite.setdefault(suite, []).append(
            TestCaseResult(name=case, status=status, duration_ms=10, error_message=message)
        )
    suites = []
    for name, cases in by_suite.items():
        suite = suite_from_cases(name, "script", cases)
        if run.job is not None:
            suite = suite.model_copy(update={"job_name": run.job})
        suites.append(suite)
    return combine(ref, run.version, when, suites, duration_ms=run.duration_ms)


def record_history(dsn: str, namespace: str, name: str, runs: Sequence[Run], *, start: datetime | None = None) -> None:
    """Record `runs` for Pack namespace/name, one minute apart, oldest first."""
    start = start or datetime.now(UTC) - timedelta(minutes=len(runs) + 1)

    async def write() -> None:
        db = await Database.connect(dsn)
        try:
            for i, run in enumerate(runs):
                result = result_of(run, start + timedelta(minutes=i), name)
                key = f"{namespace}/{name}/{i:04d}"
                record = ExecutionRecord.model_validate(
                    {
                        "pack_uid": f"uid-{namespace}-{name}",
                        "namespace": namespace,
                        "name": name,
                        "ref": name,
                        "version": run.version,
                        "active_version": run.active_version,
                        "execution_id": f"x{i:04d}",
                        "idempotency_key": key,
                        "trigger": run.trigger,
                        "allowed": result.failed == 0,
                        "result": result,
                    }
                )
                assert await db.record_execution(record)
        finally:
            await db.close()

    asyncio.run(write())
