"""Shared pieces of the fuzz tests: the hypothesis profile (bounded, reproducible), a hard time
limit per example, the checks every parsed suite must pass, and the input strategies.

The profile runs `PACKGATE_FUZZ_EXAMPLES` examples per test (200 unless set), derandomized (the
same examples on every run, so CI is reproducible) and without hypothesis' example database.
Set the variable higher to fuzz longer, e.g. `PACKGATE_FUZZ_EXAMPLES=20000 make test-unit`.
"""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from types import FrameType

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st

from packgate.errors import ParseError
from packgate.parsing import LineParser, SuiteParser
from packgate.results import (
    MESSAGE_LIMIT,
    NAME_LIMIT,
    OUTPUT_LIMIT,
    RunStatus,
    TestSuiteResult,
    utf8_len,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "parsing"


def _examples() -> int:
    raw = os.environ.get("PACKGATE_FUZZ_EXAMPLES", "200")
    if not raw.isdecimal() or int(raw) < 1:
        raise ValueError(f"PACKGATE_FUZZ_EXAMPLES must be a positive whole number, not {raw!r}")
    return int(raw)


settings.register_profile(
    "packgate-fuzz",
    max_examples=_examples(),
    deadline=timedelta(milliseconds=2000),
    derandomize=True,
    database=None,
    print_blob=False,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
FUZZ = settings.get_profile("packgate-fuzz")
"""The decorator every fuzz test wears: `@FUZZ` above `@given(...)`."""

HARD_LIMIT_SECONDS = 20.0
"""An example still running after this long is a hang: interrupted, reported and shrunk (the
hypothesis deadline only measures an example after it finished)."""


class Hang(Exception):
    """An example ran past HARD_LIMIT_SECONDS."""


@contextmanager
def hard_limit(seconds: float = HARD_LIMIT_SECONDS) -> Iterator[None]:
    """Interrupt the block with `Hang` after `seconds` (SIGALRM: the main thread only)."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise Hang(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def check_suite(suite: TestSuiteResult, *, max_cases: int | None = None) -> None:
    """What every TestSuiteResult a parser or `judge` returns must satisfy."""
    assert isinstance(suite, TestSuiteResult)
    assert suite.status in set(RunStatus)
    assert suite.passed + suite.failed + suite.skipped == suite.total
    assert min(suite.total, suite.passed, suite.failed, suite.skipped, suite.duration_ms) >= 0
    if max_cases is not None:
        assert len(suite.test_cases) <= max_cases
    for item in suite.test_cases:
        assert utf8_len(item.name) <= NAME_LIMIT
        assert utf8_len(item.error_message or "") <= MESSAGE_LIMIT
        assert utf8_len(item.stdout or "") <= OUTPUT_LIMIT
        assert utf8_len(item.stderr or "") <= OUTPUT_LIMIT


def result_or_parse_error(parser: LineParser, *, max_cases: int | None = None) -> TestSuiteResult | None:
    """The parser's result (checked), or None when it raised Packgate's own one-line ParseError.
    Any other exception propagates and fails the test.  For a parser of packgate.parsing (a
    SuiteParser), the result is its `summary().model()`, and the summary's pydantic-free JSON
    (what `packgate parse` prints) must be that model's `model_dump_json(indent=2)`, byte for byte."""
    try:
        if isinstance(parser, SuiteParser):
            parsed = parser.summary()
            suite = parsed.model()
            assert parsed.to_json() == suite.model_dump_json(indent=2)
        else:
            suite = parser.result()
    except ParseError as exc:
        message = str(exc)
        assert message, "a ParseError without a message"
        assert "\n" not in message, f"a ParseError message of several lines: {message!r}"
        event("ParseError")
        return None
    check_suite(suite, max_cases=max_cases)
    event(f"suite {suite.status}")
    return suite


# -- strategies ----------------------------------------------------------------------------------

CONTROL = "\x00\x01\x07\x08\t\n\x0b\x0c\r\x1b\x7f\x85\u2028\u2029\ufeff\u200b\ufffd"

any_char = st.characters(codec="utf-8") | st.sampled_from(CONTROL)
"""Any character a decoded log can hold (no lone surrogates: every reader decodes with
errors="replace"), control characters weighted in."""

any_text = st.text(any_char, max_size=120)

HUGE = ("9" * 40, "9" * 400, "9" * 5000, "1" + "0" * 4400)
"""Numbers past int64, past a float, past Python's 4300-digit int() limit."""

number = st.one_of(
    st.integers(0, 20).map(str),
    st.integers(10, 10**6).map(str),
    st.integers(0, 2**70).map(str),
    st.sampled_from(HUGE),
    st.sampled_from(
        ["-1", "--5", "+3", "0x1f", "1_000", "²", "٣", "①", "1e999", "nan", "inf", "1.2.3", ".", "", " 7 "]
    ),
)
"""Counts, durations and codes as a runner (or a fuzzer) might print them."""

decimal = st.one_of(
    st.integers(0, 99).map(str),
    st.sampled_from(["0.001", "1.5", "123.456", "9" * 400 + ".5", "0." + "0" * 400 + "1", "1.", ".5", "1.2.3"]),
)

# Fragments of every format's lines, so random lines reach the parsers' deeper states.
TAP_WORDS = (
    "TAP version 13",
    "TAP version 14",
    "1..",
    "ok",
    "not ok",
    " - ",
    "# SKIP",
    "# skip",
    "# TODO",
    "# todo",
    "# Subtest: ",
    "---",
    "...",
    "duration_ms: ",
    "Bail out!",
    "\\#",
    "#",
    "message: ",
    "severity: fail",
)
PYTEST_WORDS = (
    "=",
    "====",
    "passed",
    "failed",
    "skipped",
    "xfailed",
    "xpassed",
    "error",
    "errors",
    "warnings",
    "deselected",
    "rerun",
    "subtest",
    "subtests passed",
    "subtests ",
    ", ",
    " in ",
    "s",
    " (0:00:01)",
    "::",
    "PASSED",
    "FAILED",
    "ERROR",
    "SKIPPED",
    "XFAIL",
    "XPASS",
    "[",
    "]",
    "%]",
    "[gw0] ",
    "[ 50%]",
    "short test summary info",
    " - ",
    "no tests ran",
    "(",
    ")",
    "tests/test_x.py::test_y",
)
UNITTEST_WORDS = (
    "Ran ",
    " tests",
    " test",
    " in ",
    "s",
    "OK",
    "FAILED",
    "NO TESTS RAN",
    " (",
    ")",
    "failures=",
    "errors=",
    "skipped=",
    "expected failures=",
    "unexpected successes=",
    ", ",
    "=" * 70,
    "-" * 70,
    "FAIL: ",
    "ERROR: ",
    "UNEXPECTED SUCCESS: ",
    "test_x",
    "mod.Class",
    " (mod.Class.test_x)",
    " ... ",
    " ...",
    "ok",
    "FAIL",
    "ERROR",
    "skipped 'why'",
    "expected failure",
    "unexpected success",
    "Traceback (most recent call last):",
)
SIMPLE_WORDS = ("Total Tests:", "Passed:", "Failed:", "Skipped:", "\x1b[32m", "\x1b[0m", "\x1b[1;31m", ": ", "  ")
XML_WORDS = (
    '<?xml version="1.0"?>',
    "<testsuites>",
    "</testsuites>",
    "<testsuite>",
    '<testsuite name="s" tests="',
    "</testsuite>",
    '<testcase name="t" time="',
    '<testcase classname="c" name="t">',
    "</testcase>",
    '<failure message="m">',
    "</failure>",
    "<error/>",
    "<skipped/>",
    "<system-out>",
    "</system-out>",
    "<!DOCTYPE x>",
    "&amp;",
    "&x;",
    "&#0;",
    "<![CDATA[",
    "]]>",
    "<!--",
    "-->",
    '"',
    "/>",
    ">",
    "<",
)
WORDS = TAP_WORDS + PYTEST_WORDS + UNITTEST_WORDS + SIMPLE_WORDS + XML_WORDS

# Lines of each format with holes: {n} a count, {d} a duration, {w} a name, {t} any text.
TEMPLATES = (
    # TAP
    "TAP version {n}",
    "1..{n}",
    "1..{n} # {t}",
    "ok {n} - {t}",
    "not ok {n} - {w}",
    "ok {n} {t} # SKIP {t}",
    "not ok {n} # TODO {t}",
    "ok",
    "  ---",
    "  duration_ms: {d}",
    "  message: {t}",
    "  ...",
    "# Subtest: {w}",
    "    ok {n} - {w}",
    "    not ok {n} - {w}",
    "    1..{n}",
    "# {t}",
    "Bail out! {t}",
    # pytest
    "{=} {n} passed, {n} failed in {d}s {=}",
    "{n} {w} in {d}s",
    "{=} {n} failed, {n} error in {d}s ({t}) {=}",
    "{n} subtests passed{n} subtests {w}, {n} passed in {d}s",
    "{=} no tests ran in {d}s {=}",
    "{w}::{w} PASSED [{n}%]",
    "{w}::{t} FAILED [ {n}%]",
    "{w}::{w} SKIPPED ({t}) [{n}%]",
    "[gw{n}] [{n}%] PASSED {w}::{w}",
    "{=} short test summary info {=}",
    "FAILED {w}::{w} - {t}",
    "ERROR {w}",
    # unittest
    "Ran {n} tests in {d}s",
    "Ran {n} test in {d}s",
    "OK",
    "OK ({w}={n})",
    "FAILED ({w}={n}, {w}={n})",
    "FAILED (failures={n}, errors={n}, skipped={n})",
    "NO TESTS RAN",
    "{=}",
    "{-}",
    "FAIL: {w} ({w}.{w})",
    "ERROR: {w} ({w}.{w}) ({t})",
    "UNEXPECTED SUCCESS: {w} ({w})",
    "{w} ({w}.{w}) ... ok",
    "{w} ({w}) ... {t}",
    "{w} ({w}.{w}) ... skipped '{t}'",
    "{w} ({w}.{w})",
    "{t} ... FAIL",
    "Traceback (most recent call last):",
    # simple
    "Total Tests: {n}",
    "Passed: {n}",
    "Failed: {n}",
    "Skipped: {n}",
    "\x1b[32mPassed:  {n}\x1b[0m",
    "{t}: {n}",
)
identifier = st.one_of(
    st.sampled_from(["test_x", "tests/test_a.py", "mod.Class", "a", "T", "test_y[1-2]", "failures", "skipped"]),
    st.text(st.sampled_from("abcxyz_019.:[]-/ "), min_size=1, max_size=12),
)
_HOLES = {
    "n": number,
    "d": decimal,
    "w": identifier,
    "t": st.text(any_char, max_size=30),
    "=": st.integers(1, 30).map(lambda width: "=" * width),
    "-": st.integers(1, 80).map(lambda width: "-" * width),
}
_HOLE = re.compile(r"(\{[ndwt=-]\})")


@st.composite
def template_line(draw: st.DrawFn) -> str:
    """One of TEMPLATES with its holes filled."""
    parts = _HOLE.split(draw(st.sampled_from(TEMPLATES)))
    return "".join(draw(_HOLES[part[1]]) if _HOLE.fullmatch(part) else part for part in parts)


fragment = st.one_of(st.sampled_from(WORDS), number, decimal, st.sampled_from(" \t"), st.text(any_char, max_size=8))
indent = st.sampled_from(["", "", "", " ", "  ", "    ", "\t", "        "])
format_line = st.one_of(
    template_line(),
    st.builds(lambda pad, parts: pad + "".join(parts), indent, st.lists(fragment, min_size=1, max_size=8)),
)
"""A line of one of the formats with odd values, or made of pieces of every format's syntax."""

format_lines = st.lists(format_line, max_size=40)

feed_ops = st.lists(st.tuples(st.booleans(), st.one_of(any_text, format_line)), max_size=40)
"""(complete?, text): `feed` when True, `feed_partial` when False."""

STUFFING = (" ", "\t", "::", "(", ")", "[", "1", "12", "a", "#", ", ", " PASSED", " subtest a", "\x1b[")
"""Pieces whose long repetitions make a backtracking regular expression slow: whitespace,
separators, brackets, digits, status words."""


@st.composite
def stuffed_line(draw: st.DrawFn) -> str:
    """A line of TEMPLATES, filled, with up to about 64 KiB (the longest line a parser reads) of
    one or two STUFFING pieces repeated at its end, at its start or in one of its holes, then a
    character that may make the line fail to match at its very end."""
    parts = _HOLE.split(draw(st.sampled_from(TEMPLATES)))
    filled = [draw(_HOLES[part[1]]) if _HOLE.fullmatch(part) else part for part in parts]
    unit = "".join(draw(st.lists(st.sampled_from(STUFFING), min_size=1, max_size=2), label="unit"))
    size = draw(st.one_of(st.sampled_from([16_384, 64_000]), st.integers(1, 64_000)), label="size")
    stuffing = unit * max(1, size // len(unit)) + draw(st.sampled_from(["", "x", "!", ")", "]", "s", "1"]))
    holes = [i for i, part in enumerate(parts) if _HOLE.fullmatch(part)]
    where = draw(st.sampled_from(["end", "start", "hole"] if holes else ["end", "start"]), label="where")
    if where == "end":
        return "".join(filled) + stuffing
    if where == "start":
        return stuffing + "".join(filled)
    at = draw(st.sampled_from(holes), label="hole")
    filled[at] += stuffing
    return "".join(filled)


def fixture_files() -> list[Path]:
    """The real tools' outputs in tests/fixtures/parsing (not the sources, not expected.json)."""
    return sorted(
        path
        for path in FIXTURES.glob("*/*")
        if path.is_file() and path.parent.name != "sources" and not path.name.endswith(".json")
    )
