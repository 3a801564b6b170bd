"""The activation verdict: is this version allowed to become active?  (SPEC §5)

Owns: the pure decision from a spec's testing policy and an execution's result to allowed or
blocked, with the Active condition's reason and a one-line message.  Shared by the operator and
`packgate run`.  Must not: do I/O or know about Kubernetes objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from packgate.results import PackTestResult, RunStatus


class ActiveReason(StrEnum):
    TESTS_PASSED = "TestsPassed"
    FORCED = "Forced"
    FAILURE_WARNED = "FailureWarned"
    FAILURE_IGNORED = "FailureIgnored"
    TESTS_SKIPPED = "TestsSkipped"
    TESTS_FAILED = "TestsFailed"
    TEST_ERROR = "TestError"
    NO_TEST_CONFIGURATION = "NoTestConfiguration"
    VALIDATION_FAILED = "ValidationFailed"
    AWAITING_TESTS = "AwaitingTests"
    DEPENDENCY_NOT_READY = "DependencyNotReady"  # spec.dependsOn: a dependency is not active in range
    DEPENDENCY_CYCLE = "DependencyCycle"  # spec.dependsOn: the Pack is on a dependency cycle


@dataclass(frozen=True)
class Policy:
    """The parts of a Pack's spec that decide activation."""

    min_pass_rate: float = 1.0
    on_failure: str = "block"  # block | warn | ignore
    force: bool = False
    skip_tests: bool = False


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: ActiveReason
    message: str
    warning: bool = False  # allowed despite failures: emit a Warning event

    @property
    def passed(self) -> bool:
        """The tests themselves met the bar (no override was needed)."""
        return self.reason in (ActiveReason.TESTS_PASSED, ActiveReason.TESTS_SKIPPED)


def tests_met_bar(result: PackTestResult, min_pass_rate: float) -> bool:
    """No runner error, something ran, and pass_rate >= minPassRate."""
    if result.status is RunStatus.ERROR:
        return False
    if result.passed + result.failed == 0:
        return False
    return result.pass_rate >= min_pass_rate


def failure_summary(result: PackTestResult, min_pass_rate: float) -> tuple[ActiveReason, str]:
    """Why a result does not meet the bar, as a reason and one line."""
    if result.status is RunStatus.ERROR:
        errors = [f"{s.name}: {s.error}" for s in result.test_suites if s.error]
        detail = "; ".join(errors) if errors else "no runner produced results"
        return ActiveReason.TEST_ERROR, f"runner error: {detail}"
    if result.passed + result.failed == 0:
        return ActiveReason.TEST_ERROR, "no test was executed"
    return (
        ActiveReason.TESTS_FAILED,
        f"{result.passed}/{result.passed + result.failed} tests passed "
        f"({result.pass_rate:.0%}, minimum {min_pass_rate:.0%})",
    )


def decide(policy: Policy, result: PackTestResult | None) -> Verdict:
    """The verdict for one execution (result None means tests were skipped by skipTests)."""
    if policy.skip_tests or result is None:
        return Verdict(True, ActiveReason.TESTS_SKIPPED, "tests skipped (spec.skipTests)")
    if tests_met_bar(result, policy.min_pass_rate):
        return Verdict(
            True,
            ActiveReason.TESTS_PASSED,
            f"{result.passed}/{result.passed + result.failed} tests passed ({result.pass_rate:.0%})",
        )
    reason, message = failure_summary(result, policy.min_pass_rate)
    if policy.force:
        return Verdict(True, ActiveReason.FORCED, f"forced despite: {message}", warning=True)
    if policy.on_failure == "warn":
        return Verdict(True, ActiveReason.FAILURE_WARNED, f"allowed with warning: {message}", warning=True)
    if policy.on_failure == "ignore":
        return Verdict(True, ActiveReason.FAILURE_IGNORED, f"failure ignored: {message}")
    return Verdict(False, reason, message)
