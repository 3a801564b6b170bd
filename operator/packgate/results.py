"""The result model: one shape for every runner's outcome (the seed's PackTestResult family).

Owns: TestStatus, TestCaseResult, TestSuiteResult, PackTestResult, and the pure arithmetic that
turns test cases into counts, pass rates and statuses.  Must not: do I/O, or know about Kubernetes,
kopf or PostgreSQL.  Parsers produce TestSuiteResult; the executor combines suites into a
PackTestResult; the database stores PackTestResult as JSON.

Text limits: a test case keeps at most `NAME_LIMIT` bytes (UTF-8) of its name, `MESSAGE_LIMIT` of
its error message and `OUTPUT_LIMIT` of each of its stdout and stderr.  A longer text is cut at a
character boundary and ends with `... [truncated N bytes]` (N counts every byte not kept), the
whole within the limit; `TestCaseResult` applies them, so every way of building a case obeys
them and validating a case again changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

NAME_LIMIT = 1024
"""Bytes (UTF-8) kept of a test case's name."""

MESSAGE_LIMIT = 4096
"""Bytes (UTF-8) kept of a test case's error message."""

OUTPUT_LIMIT = 16384
"""Bytes (UTF-8) kept of a test case's stdout, and of its stderr."""


def utf8_len(text: str) -> int:
    """The length of `text` in UTF-8 bytes, without encoding it when it can be avoided."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def truncation_mark(dropped: int, separator: str = "\n") -> str:
    """What ends a cut text: `\\n... [truncated 12345 bytes]`."""
    return f"{separator}... [truncated {dropped} bytes]"


def truncate_text(text: str, limit: int, *, dropped: int = 0, separator: str = "\n") -> str:
    """`text` within `limit` UTF-8 bytes.  Unchanged when it fits and nothing was `dropped` before
    it reached here; else its first bytes, cut at a character boundary, then `truncation_mark`
    counting every byte not kept (`dropped` included), the whole at most `limit` bytes."""
    if not dropped and (len(text) * 4 <= limit or utf8_len(text) <= limit):
        return text
    encoded = text.encode("utf-8", "surrogatepass")
    # The mark's own length depends on the count; reserve room for the longest count possible.
    room = max(0, limit - len(truncation_mark(len(encoded) + dropped, separator)))
    kept = encoded[:room].decode("utf-8", "ignore")
    cut = len(encoded) - utf8_len(kept) + dropped
    return kept + truncation_mark(cut, separator)


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
