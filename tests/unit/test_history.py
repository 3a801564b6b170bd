"""The pure comparison of two executions' test cases (packgate.history)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from packgate.history import Comparison, case_key, case_statuses, compare
from packgate.results import TestCaseResult, combine, suite_from_cases
from packgate.results import TestStatus as T

pytestmark = pytest.mark.unit


def test_case_key() -> None:
    """A test is identified by suite and case name."""
    assert case_key("python", "test_x.TestA.test_b") == "python::test_x.TestA.test_b"


def test_case_statuses_of_a_result() -> None:
    """Every case of every suite appears under its key with its status."""
    result = combine(
        "core",
        "1.0.0",
        datetime(2026, 1, 1, tzinfo=UTC),
        [
            suite_from_cases("shell", "script", [TestCaseResult(name="a", status=T.PASSED)]),
            suite_from_cases(
                "py",
                "pytest",
                [TestCaseResult(name="a", status=T.FAILED), TestCaseResult(name="b", status=T.SKIPPED)],
            ),
        ],
    )
    assert case_statuses(result) == {"shell::a": T.PASSED, "py::a": T.FAILED, "py::b": T.SKIPPED}


@pytest.mark.parametrize(
    ("before", "now", "expected"),
    [
        pytest.param({"s::a": T.PASSED}, {"s::a": T.FAILED}, Comparison(regressions=("s::a",)), id="pass-to-fail"),
        pytest.param({"s::a": T.PASSED}, {"s::a": T.ERROR}, Comparison(regressions=("s::a",)), id="pass-to-error"),
        pytest.param({"s::a": T.FAILED}, {"s::a": T.PASSED}, Comparison(fixes=("s::a",)), id="fail-to-pass"),
        pytest.param({"s::a": T.ERROR}, {"s::a": T.PASSED}, Comparison(fixes=("s::a",)), id="error-to-pass"),
        pytest.param({"s::a": T.FAILED}, {"s::a": T.ERROR}, Comparison(), id="fail-to-error-is-no-change"),
        pytest.param({"s::a": T.PASSED}, {"s::a": T.SKIPPED}, Comparison(), id="pass-to-skip-is-no-regression"),
        pytest.param({"s::a": T.SKIPPED}, {"s::a": T.FAILED}, Comparison(), id="skip-to-fail-is-no-regression"),
        pytest.param({"s::a": T.SKIPPED}, {"s::a": T.PASSED}, Comparison(), id="skip-to-pass-is-no-fix"),
        pytest.param({}, {"s::a": T.FAILED}, Comparison(added=("s::a",)), id="new-failing-test-is-added"),
        pytest.param({"s::a": T.PASSED}, {}, Comparison(removed=("s::a",)), id="removed"),
        pytest.param({}, {}, Comparison(), id="nothing"),
    ],
)
def test_compare_one_test(before: dict[str, T], now: dict[str, T], expected: Comparison) -> None:
    """Each kind of change of a single test lands in exactly the right list (or none)."""
    assert compare(before, now) == expected


def test_compare_many_tests_sorted() -> None:
    """A mixed comparison reports every list sorted by key, and `changed` says something changed."""
    before = {"s::z": T.PASSED, "s::b": T.PASSED, "s::fixed": T.FAILED, "s::gone": T.PASSED, "s::same": T.PASSED}
    now = {"s::z": T.FAILED, "s::b": T.ERROR, "s::fixed": T.PASSED, "s::new": T.PASSED, "s::same": T.PASSED}
    result = compare(before, now)
    assert result == Comparison(
        regressions=("s::b", "s::z"), fixes=("s::fixed",), added=("s::new",), removed=("s::gone",)
    )
    assert result.changed is True
    assert compare(now, now).changed is False


def test_compare_accepts_plain_strings() -> None:
    """Statuses given as plain strings (e.g. straight from JSON) compare like TestStatus values."""
    assert compare({"s::a": "passed"}, {"s::a": "failed"}) == Comparison(regressions=("s::a",))  # type: ignore[dict-item]
