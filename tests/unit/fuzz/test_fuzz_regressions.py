"""Regression tests for what fuzzing the parsers and the result frame found: numbers int() refuses
(past 4300 digits, superscripts, "--5") raised ValueError, a duration past a float's range raised
OverflowError, and four regular expressions backtracked: one exponentially on a 500-character
line, three quadratically on a 64 KiB one (seconds to minutes per line)."""

from __future__ import annotations

import base64
import contextlib
import gzip
import time

import pytest
from fuzzlib import hard_limit

from packgate.errors import ParseError
from packgate.parsing import parse_lines
from packgate.results import RunStatus
from packgate.wrapper import collect

pytestmark = pytest.mark.unit

NONCE = "5c2d9e0a7f314b68"
DIGITS = "9" * 5000  # past Python's 4300-digit limit of int()
FAST = 0.5
"""Seconds a crafted 64 KiB line may take (before the fixes: 1.4 s to hours)."""


def counts(lines: list[str], fmt: str) -> tuple[int, int, int, int, str]:
    suite = parse_lines(lines, fmt)
    return suite.total, suite.passed, suite.failed, suite.skipped, str(suite.status)


def test_tap_plan_of_5000_digits_is_not_a_plan() -> None:
    """`1..<5000 digits>` raised ValueError from int(); now it is not a plan line, and the test
    point after it counts."""
    assert counts([f"1..{DIGITS}\n", "ok 1 - a\n"], "tap") == (1, 1, 0, 0, "passed")


def test_tap_duration_past_a_float_is_zero() -> None:
    """`duration_ms: <400 digits>` is infinity as a float, and round() raised OverflowError; now
    the case's duration is 0, as for any unreadable duration."""
    lines = ["TAP version 13\n", "ok 1 - a\n", "  ---\n", f"  duration_ms: {'9' * 400}\n", "  ...\n", "1..1\n"]
    suite = parse_lines(lines, "tap")
    assert (suite.total, suite.passed, suite.duration_ms, suite.test_cases[0].duration_ms) == (1, 1, 0, 0)


def test_unittest_ran_5000_digits_is_not_a_summary() -> None:
    """`Ran <5000 digits> tests` raised ValueError; now it is not unittest's summary line."""
    with pytest.raises(ParseError):
        parse_lines([f"Ran {DIGITS} tests in 0.1s\n", "OK\n"], "unittest")


@pytest.mark.parametrize("value", ["²", "①", DIGITS], ids=["superscript", "circled", "5000 digits"])
def test_unittest_outcome_count_int_refuses_is_ignored(value: str) -> None:
    """`FAILED (failures=²)`: str.isdigit() accepted what int() refuses (superscripts, circled
    digits, 5000 digits); now such a count is ignored like any unreadable one."""
    assert counts(["Ran 3 tests in 0.1s\n", f"FAILED (failures={value}, errors=1)\n"], "unittest") == (
        3,
        2,
        1,
        0,
        "partial",
    )


def test_pytest_summary_count_of_5000_digits_is_not_a_summary() -> None:
    """`== <5000 digits> passed in 0.1s ==` raised ValueError; now it is not a summary line."""
    with pytest.raises(ParseError):
        parse_lines([f"== {DIGITS} passed in 0.1s ==\n"], "pytest")


def test_pytest_subtests_summary_still_counts() -> None:
    """pytest-subtests' words in a summary are still read after `subtests? \\w+` became
    `subtests? [a-z]+` (subtests are not tests: their counts are not added)."""
    assert counts(["===== 1 failed, 2 passed, 3 subtests passed, 1 subtests failed in 0.05s =====\n"], "pytest") == (
        3,
        2,
        1,
        0,
        "partial",
    )


def timed(lines: list[str], fmt: str) -> float:
    clock = time.perf_counter()
    with hard_limit(10), contextlib.suppress(ParseError):
        parse_lines(lines, fmt)
    return time.perf_counter() - clock


@pytest.mark.parametrize(
    ("line", "fmt"),
    [
        # exponential: `\w+` and the next count's `\d+` could split "a12" two ways, at every repeat
        pytest.param("1 subtest a" + "12 subtest a" * 40 + " in xs", "pytest", id="pytest summary, subtests"),
        # quadratic: `\s*` then `[^\w]*` could share the spaces
        pytest.param("Passed: 1" + " " * 65_000 + "x", "simple", id="simple field, spaces"),
        # quadratic: `.*?` then `\s*$` scanned every run of spaces again from each position
        pytest.param("[gw0] [ 5%] PASSED a::b" + " " * 65_000 + "x", "pytest", id="pytest xdist, spaces"),
        # quadratic: every "::" times every status word
        pytest.param("x" + "::x PASSED" * 6_500 + "]", "pytest", id="pytest verbose, status words"),
        # quadratic: a reason tried to the line's end at every status word
        pytest.param("a::b" + " PASSED (" * 7_000 + "]", "pytest", id="pytest verbose, reasons"),
    ],
)
def test_crafted_long_line_parses_in_linear_time(line: str, fmt: str) -> None:
    """Lines that made a regular expression backtrack (seconds to hours before the fixes) are
    read in milliseconds, by their format's parser and by auto-detection."""
    assert (timed([line + "\n"], fmt) < FAST, timed([line + "\n"], "auto") < FAST) == (True, True)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("tests/test_a.py::test_x PASSED [ 50%]", ("tests/test_a.py::test_x", "passed", None)),
        ("tests/a.py::t SKIPPED (no network) [ 75%]", ("tests/a.py::t", "skipped", "SKIP: no network")),
        ("a::t[x (y)] XFAIL (reason (nested)) [100%]", ("a::t[x (y)]", "skipped", "XFAIL: reason (nested)")),
        ("a::b PASSED (x PASSED (y)) [  5%]", ("a::b", "passed", None)),
        ("a:: b::c FAILED [ 5%]", ("a:: b::c", "failed", None)),
        ("a::b SKIPPED () [ 5%]", ("a::b", "skipped", None)),
    ],
)
def test_pytest_verbose_lines_read_as_before(line: str, expected: tuple[str, str, str | None]) -> None:
    """The verbose line, now matched in two linear steps, gives the node id, status and reason
    the single regular expression gave (reasons with parentheses, "::" after a space)."""
    (item,) = parse_lines([line + "\n"], "pytest").test_cases
    assert (item.name, str(item.status), item.error_message) == expected


SUMMARY = ["Total Tests: 1\n", "Passed: 1\n", "Failed: 0\n"]


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("--5", (RunStatus.PASSED, None)),
        ("²", (RunStatus.PASSED, None)),
        (DIGITS, (RunStatus.PASSED, None)),
        ("-3", (RunStatus.ERROR, -3)),
        ("0", (RunStatus.PASSED, 0)),
    ],
    ids=["double minus", "superscript", "5000 digits", "negative", "zero"],
)
def test_exit_line_with_an_unreadable_code(code: str, expected: tuple[RunStatus, int | None]) -> None:
    """`packgate:exit <nonce> --5` (or ², or 5000 digits) raised ValueError inside the collector;
    now the code is unknown, as when the exit line is missing.  Real codes still count."""
    suite = collect(
        [*SUMMARY, f"packgate:exit {NONCE} {code}\n"],
        NONCE,
        name="s",
        runner_type="script",
        result_format="auto",
        result_path=None,
    )
    assert (suite.status, suite.exit_code) == expected


@pytest.mark.parametrize("size", ["²", DIGITS, "-1", "1e3"], ids=["superscript", "5000 digits", "negative", "float"])
def test_end_marker_with_an_unreadable_size(size: str) -> None:
    """`packgate:result-end <nonce> - ²` raised ValueError from int() (str.isdigit() accepted it);
    now the frame is damaged: an unreadable end marker, a runner error."""
    encoded = base64.encodebytes(gzip.compress(b"Total Tests: 1\nPassed: 1\nFailed: 0\n")).decode()
    lines = [
        f"packgate:result-begin {NONCE} r.txt gzip+base64\n",
        *encoded.splitlines(True),
        f"packgate:result-end {NONCE} - {size}\n",
        f"packgate:exit {NONCE} 0\n",
    ]
    suite = collect(lines, NONCE, name="s", runner_type="script", result_format="simple", result_path="r.txt")
    assert (suite.status, (suite.error or "").split(":")[0]) == (
        RunStatus.ERROR,
        "the result file r.txt arrived damaged (unreadable end marker",
    )
