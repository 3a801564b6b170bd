"""The result model: one shape for every runner's outcome (the seed's PackTestResult family).

Owns: TestStatus, TestCaseResult, TestSuiteResult, PackTestResult, and the pure arithmetic that
turns test cases into counts, pass rates and statuses.  Must not: do I/O, or know about Kubernetes,
kopf or PostgreSQL.  Parsers produce TestSuiteResult; the executor combines suites into a
PackTestResult; the database stores PackTestResult as JSON.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field


class TestStatus(StrEnum):
    """The outcome of one test case."""

    __test__ = False  # not a pytest class

    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"
    ERROR = "error"


class RunStatus(StrEnum):
    """The outcome of a suite or of a whole execution."""

    PASSED = "passed"  # no failures, something passed
    PARTIAL = "partial"  # some passed, some failed
    FAILED = "failed"  # failures and nothing passed
    SKIPPED = "skipped"  # nothing executed
    ERROR = "error"  # a runner errored or produced no recognisable results


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


def pass_rate(passed: int, failed: int) -> float:
    """passed / (passed + failed); 0.0 when nothing passed or failed."""
    executed = passed + failed
    return passed / executed if executed else 0.0


def run_status(passed: int, failed: int, *, errored: bool = False) -> RunStatus:
    """The status of a set of counts: passed, partial, failed, skipped, or error."""
    if errored:
        return RunStatus.ERROR
    if failed and passed:
        return RunStatus.PARTIAL
    if failed:
        return RunStatus.FAILED
    if passed:
        return RunStatus.PASSED
    return RunStatus.SKIPPED


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
