"""The result model: one shape for every runner's outcome (the seed's PackTestResult family).

Owns: TestCaseResult, TestSuiteResult, PackTestResult, and the arithmetic that turns test cases
into counts.  The statuses, text limits, `truncate_text`, `pass_rate` and `run_status` live in the
pydantic-free `packgate.outcomes` (the parsers run on them without loading pydantic) and are
re-exported here.  Must not: do I/O, or know about Kubernetes, kopf or PostgreSQL.  Parsers
produce TestSuiteResult; the executor combines suites into a PackTestResult; the database stores
PackTestResult as JSON.

Text limits: a test case keeps at most `NAME_LIMIT` bytes (UTF-8) of its name, `MESSAGE_LIMIT` of
its error message and `OUTPUT_LIMIT` of each of its stdout and stderr.  A longer text is cut at a
character boundary and ends with `... [truncated N bytes]` (N counts every byte not kept), the
whole within the limit; `TestCaseResult` applies them, so every way of building a case obeys
them and validating a case again changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from packgate.outcomes import (
    MESSAGE_LIMIT,
    NAME_LIMIT,
    OUTPUT_LIMIT,
    RunStatus,
    TestStatus,
    pass_rate,
    run_status,
    truncate_text,
    truncation_mark,
    utf8_len,
)

__all__ = [
    "MESSAGE_LIMIT",
    "NAME_LIMIT",
    "OUTPUT_LIMIT",
    "PackTestResult",
    "RunStatus",
    "TestCaseResult",
    "TestStatus",
    "TestSuiteResult",
    "combine",
    "error_suite",
    "pass_rate",
    "run_status",
    "suite_from_cases",
    "suite_from_counts",
    "truncate_text",
    "truncation_mark",
    "utf8_len",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TestCaseResult(_Model):
    """One test case as the runner reported it."""

    __test__ = False

    name: str
    status: TestStatus
    duration_ms: int = Field(default=0, ge=0)
    error_message: str | None = None
    stdout: str | None = None
    stderr: str | None = None

    @field_validator("name")
    @classmethod
    def _bounded_name(cls, value: str) -> str:
        return truncate_text(value, NAME_LIMIT, separator=" ")

    @field_validator("error_message")
    @classmethod
    def _bounded_message(cls, value: str | None) -> str | None:
        return None if value is None else truncate_text(value, MESSAGE_LIMIT)

    @field_validator("stdout", "stderr")
    @classmethod
    def _bounded_output(cls, value: str | None) -> str | None:
        return None if value is None else truncate_text(value, OUTPUT_LIMIT)


class TestSuiteResult(_Model):
    """One runner's results: counts always add up (passed + failed + skipped == total).

    `failed` counts failed and errored cases.  `error` holds a runner-level error (timeout, image
    pull failure, unparseable output); a suite with an error has status `error`.
    """

    __test__ = False

    name: str
    runner_type: str
    total: int = Field(ge=0)
    passed: int = Field(ge=0)
    failed: int = Field(ge=0)
    skipped: int = Field(ge=0)
    duration_ms: int = Field(default=0, ge=0)
    status: RunStatus
    test_cases: list[TestCaseResult] = Field(default_factory=list)
    error: str | None = None
    reason: str | None = None
    """Why a runner errored, when the runner's own output says so (DependencyInstallFailed: its
    dependencies could not be installed); None leaves the reason to the planner."""
    job_name: str | None = None
    exit_code: int | None = None


class PackTestResult(_Model):
    """One execution of a pack's tests, across all its runners."""

    __test__ = False

    pack_ref: str
    pack_version: str
    execution_time: datetime
    total_tests: int = Field(ge=0)
    passed: int = Field(ge=0)
    failed: int = Field(ge=0)
    skipped: int = Field(ge=0)
    pass_rate: float = Field(ge=0.0, le=1.0)
    duration_ms: int = Field(ge=0)
    status: RunStatus
    test_suites: list[TestSuiteResult] = Field(default_factory=list)


def suite_from_counts(
    name: str,
    runner_type: str,
    *,
    passed: int,
    failed: int,
    skipped: int,
    duration_ms: int,
    cases: list[TestCaseResult],
    error: str | None = None,
) -> TestSuiteResult:
    """A suite from its counts: total is their sum, status follows `run_status`."""
    return TestSuiteResult(
        name=name,
        runner_type=runner_type,
        total=passed + failed + skipped,
        passed=passed,
        failed=failed,
        skipped=skipped,
        duration_ms=duration_ms,
        status=run_status(passed, failed, errored=error is not None),
        test_cases=cases,
        error=error,
    )


def suite_from_cases(
    name: str,
    runner_type: str,
    cases: Iterable[TestCaseResult],
    *,
    duration_ms: int | None = None,
    keep_cases: int | None = None,
) -> TestSuiteResult:
    """Count test cases into a suite.  `keep_cases` bounds how many cases are kept in memory;
    counts always cover every case.  Duration defaults to the sum of the cases' durations."""
    kept: list[TestCaseResult] = []
    passed = failed = skipped = 0
    total_ms = 0
    for case in cases:
        if case.status is TestStatus.PASSED:
            passed += 1
        elif case.status is TestStatus.SKIPPED:
            skipped += 1
        else:
            failed += 1
        total_ms += case.duration_ms
        if keep_cases is None or len(kept) < keep_cases:
            kept.append(case)
    return suite_from_counts(
        name,
        runner_type,
        passed=passed,
        failed=failed,
        skipped=skipped,
        duration_ms=total_ms if duration_ms is None else duration_ms,
        cases=kept,
    )


def error_suite(name: str, runner_type: str, error: str, **extra: object) -> TestSuiteResult:
    """A suite for a runner that errored before producing results."""
    return TestSuiteResult.model_validate(
        {
            "name": name,
            "runner_type": runner_type,
            "total": 0,
            "passed": 0,
            "failed": 0,
            "skipped": 0,
            "status": RunStatus.ERROR,
            "error": error,
            **extra,
        }
    )


def combine(
    pack_ref: str,
    pack_version: str,
    execution_time: datetime,
    suites: list[TestSuiteResult],
    *,
    duration_ms: int | None = None,
) -> PackTestResult:
    """Add the suites of one execution into a PackTestResult."""
    passed = sum(s.passed for s in suites)
    failed = sum(s.failed for s in suites)
    skipped = sum(s.skipped for s in suites)
    errored = any(s.status is RunStatus.ERROR for s in suites) or not suites
    return PackTestResult(
        pack_ref=pack_ref,
        pack_version=pack_version,
        execution_time=execution_time,
        total_tests=passed + failed + skipped,
        passed=passed,
        failed=failed,
        skipped=skipped,
        pass_rate=pass_rate(passed, failed),
        duration_ms=sum(s.duration_ms for s in suites) if duration_ms is None else duration_ms,
        status=run_status(passed, failed, errored=errored),
        test_suites=suites,
    )
