"""Unit tests of packgate.verdict: the activation verdict from a policy and a result (SPEC §5)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from packgate.results import PackTestResult, TestSuiteResult, combine, error_suite, suite_from_cases
from packgate.results import TestCaseResult as Case
from packgate.results import TestStatus as S
from packgate.verdict import ActiveReason, Policy, Verdict, decide

pytestmark = pytest.mark.unit

WHEN = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def suite(name: str, passed: int, failed: int, skipped: int = 0) -> TestSuiteResult:
    cases = (
        [Case(name=f"ok{i}", status=S.PASSED) for i in range(passed)]
        + [Case(name=f"bad{i}", status=S.FAILED) for i in range(failed)]
        + [Case(name=f"skip{i}", status=S.SKIPPED) for i in range(skipped)]
    )
    return suite_from_cases(name, "script", cases)


def result(*suites: TestSuiteResult) -> PackTestResult:
    return combine("core", "1.0.0", WHEN, list(suites))


ALL_PASS = result(suite("shell", 10, 0))
NINE_OF_TEN = result(suite("shell", 9, 1))
ALL_FAIL = result(suite("shell", 0, 4))
# 9/10 passed across suites, but a runner errored (e.g. its image could not be pulled).
RUNNER_ERROR = result(suite("shell", 9, 1), error_suite("python", "pytest", "ImagePullFailed: ErrImagePull"))
NOTHING_RAN = result(suite("shell", 0, 0, skipped=3))


@pytest.mark.parametrize(
    ("policy", "outcome", "allowed", "reason", "warning"),
    [
        (Policy(), ALL_PASS, True, ActiveReason.TESTS_PASSED, False),
        (Policy(min_pass_rate=0.9), NINE_OF_TEN, True, ActiveReason.TESTS_PASSED, False),
        (Policy(min_pass_rate=0.91), NINE_OF_TEN, False, ActiveReason.TESTS_FAILED, False),
        (Policy(), NINE_OF_TEN, False, ActiveReason.TESTS_FAILED, False),
        (Policy(min_pass_rate=0.5), ALL_FAIL, False, ActiveReason.TESTS_FAILED, False),
        (Policy(min_pass_rate=0.0), ALL_FAIL, True, ActiveReason.TESTS_PASSED, False),
        (Policy(min_pass_rate=0.5), RUNNER_ERROR, False, ActiveReason.TEST_ERROR, False),
        (Policy(on_failure="warn"), NINE_OF_TEN, True, ActiveReason.FAILURE_WARNED, True),
        (Policy(on_failure="warn"), RUNNER_ERROR, True, ActiveReason.FAILURE_WARNED, True),
        (Policy(on_failure="ignore"), ALL_FAIL, True, ActiveReason.FAILURE_IGNORED, False),
        (Policy(force=True), ALL_FAIL, True, ActiveReason.FORCED, True),
        (Policy(force=True, on_failure="ignore"), ALL_FAIL, True, ActiveReason.FORCED, True),
        (Policy(force=True), ALL_PASS, True, ActiveReason.TESTS_PASSED, False),
        (Policy(skip_tests=True), ALL_FAIL, True, ActiveReason.TESTS_SKIPPED, False),
        (Policy(), None, True, ActiveReason.TESTS_SKIPPED, False),
        (Policy(), NOTHING_RAN, False, ActiveReason.TEST_ERROR, False),
        (Policy(min_pass_rate=0.0), NOTHING_RAN, False, ActiveReason.TEST_ERROR, False),
        (Policy(), result(), False, ActiveReason.TEST_ERROR, False),
    ],
    ids=[
        "all-pass",
        "at-min-pass-rate",
        "below-min-pass-rate",
        "below-default-1.0",
        "nothing-passed",
        "min-0-accepts-any-executed",
        "runner-error-despite-rate",
        "warn",
        "warn-on-runner-error",
        "ignore",
        "force",
        "force-wins-over-ignore",
        "force-but-passed",
        "skip-tests",
        "skip-tests-result-none",
        "nothing-executed",
        "nothing-executed-min-0",
        "no-suites",
    ],
)
def test_decide(
    policy: Policy, outcome: PackTestResult | None, allowed: bool, reason: ActiveReason, warning: bool
) -> None:
    """The verdict's allowed/reason/warning for each policy and outcome of SPEC §5."""
    verdict = decide(policy, outcome)
    assert (verdict.allowed, verdict.reason, verdict.warning) == (allowed, reason, warning)


def test_messages_are_one_line_and_say_why() -> None:
    """Each verdict's message is one line naming the numbers or the runner error."""
    cases = [
        (Policy(), ALL_PASS, "10/10 tests passed (100%)"),
        (Policy(), NINE_OF_TEN, "9/10 tests passed (90%, minimum 100%)"),
        (Policy(), RUNNER_ERROR, "runner error: python: ImagePullFailed: ErrImagePull"),
        (Policy(), NOTHING_RAN, "no test was executed"),
        (Policy(force=True), NINE_OF_TEN, "forced despite: 9/10 tests passed (90%, minimum 100%)"),
        (Policy(on_failure="warn"), ALL_FAIL, "allowed with warning: 0/4 tests passed (0%, minimum 100%)"),
        (Policy(on_failure="ignore"), ALL_FAIL, "failure ignored: 0/4 tests passed (0%, minimum 100%)"),
        (Policy(skip_tests=True), None, "tests skipped (spec.skipTests)"),
    ]
    actual = [decide(policy, outcome).message for policy, outcome, _ in cases]
    assert actual == [expected for _, _, expected in cases]


@pytest.mark.parametrize(
    ("verdict", "passed"),
    [
        (decide(Policy(), ALL_PASS), True),
        (decide(Policy(skip_tests=True), None), True),
        (decide(Policy(force=True), ALL_FAIL), False),
        (decide(Policy(on_failure="warn"), ALL_FAIL), False),
        (decide(Policy(), ALL_FAIL), False),
    ],
)
def test_passed_means_no_override_was_needed(verdict: Verdict, passed: bool) -> None:
    """Verdict.passed is True only when the tests met the bar by themselves (or were skipped)."""
    assert verdict.passed is passed
