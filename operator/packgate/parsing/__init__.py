"""Test-output parsing: a runner's output, streamed line by line, into a TestSuiteResult.

Owns the public API the operator and the local runner use: `ResultFormat`, `LineParser`,
`SuiteParser` (a LineParser that also gives a pydantic-free `ParsedSuite`), `make_parser`,
`parse_lines` and `LineSplitter`.  One pure module per format (`simple`, `tap`, `junit`,
`unittest`, `pytest`) and `detect` for auto-detection, each imported when `make_parser` first
needs it.
Must not: do I/O, or import kopf, the Kubernetes client, asyncpg or anything of packgate but
`outcomes`, `results` and `errors` (so `packgate parse` stays light and the parsers stay pure);
import pydantic (`results`) before a `result()` is asked for: `packgate parse` prints
`summary().to_json()` and never loads it.

Every parser is incremental and bounded: it never needs the whole input, keeps at most
`max_cases` test cases (failing ones first; the counts always cover every case), keeps at most
4 KiB of each error message and 16 KiB of each stdout and stderr (`outcomes.MESSAGE_LIMIT`,
`OUTPUT_LIMIT`; a cut text ends with `... [truncated N bytes]`), and 64 KiB of one line.
`LineSplitter` turns text arriving in chunks into the lines and pieces the parsers take.  `result()` raises
ParseError (a one-line message) when nothing recognisable was fed.  Counts always add up:
passed + failed + skipped == total, `failed` includes errored cases, status from `run_status`.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from packgate.parsing._common import LINE_LIMIT, LineSplitter, ParsedSuite

if TYPE_CHECKING:
    from packgate.results import TestSuiteResult

__all__ = [
    "LINE_LIMIT",
    "LineParser",
    "LineSplitter",
    "ParsedSuite",
    "ResultFormat",
    "SuiteParser",
    "make_parser",
    "parse_lines",
]


class ResultFormat(StrEnum):
    """The formats a runner's results can be read in (the Pack's `resultFormat`)."""

    AUTO = "auto"
    SIMPLE = "simple"
    TAP = "tap"
    JUNIT = "junit"
    UNITTEST = "unittest"
    PYTEST = "pytest"


@runtime_checkable
class LineParser(Protocol):
    """An incremental parser: feed it lines, then ask for the result."""

    def feed(self, line: str) -> None:
        """One line of text, with or without its trailing newline."""

    def feed_partial(self, piece: str) -> None:
        """A piece of a line whose end is still to come (a long line read in pieces; the next
        `feed` completes it)."""

    def result(self) -> TestSuiteResult:
        """The suite read so far; raises ParseError if nothing recognisable was fed."""


@runtime_checkable
class SuiteParser(LineParser, Protocol):
    """A parser of this package: a LineParser that also gives what it read without pydantic."""

    def summary(self) -> ParsedSuite:
        """The suite read so far as a ParsedSuite (`result()` is its `model()`); raises
        ParseError if nothing recognisable was fed."""


class _ParserClass(Protocol):
    def __call__(self, *, name: str, runner_type: str, max_cases: int) -> SuiteParser: ...


def _parser_class(fmt: ResultFormat) -> _ParserClass:
    """The parser class of `fmt`, its module imported now: `packgate parse --format junit` loads
    the JUnit parser alone (whole-process time, bench/parse_junit.py); "auto" loads them all."""
    if fmt is ResultFormat.JUNIT:
        from packgate.parsing.junit import JUnitParser

        return JUnitParser
    if fmt is ResultFormat.PYTEST:
        from packgate.parsing.pytest import PytestParser

        return PytestParser
    if fmt is ResultFormat.UNITTEST:
        from packgate.parsing.unittest import UnittestParser

        return UnittestParser
    if fmt is ResultFormat.TAP:
        from packgate.parsing.tap import TapParser

        return TapParser
    if fmt is ResultFormat.SIMPLE:
        from packgate.parsing.simple import SimpleParser

        return SimpleParser
    from packgate.parsing.detect import AutoParser

    return AutoParser


def make_parser(fmt: ResultFormat | str, *, name: str, runner_type: str, max_cases: int = 10_000) -> SuiteParser:
    """A fresh parser for `fmt` ("auto" detects the format).  ValueError for an unknown format."""
    try:
        chosen = ResultFormat(fmt)
    except ValueError:
        known = ", ".join(f.value for f in ResultFormat)
        raise ValueError(f"unknown result format {fmt!r} (known: {known})") from None
    return _parser_class(chosen)(name=name, runner_type=runner_type, max_cases=max_cases)


def parse_lines(
    lines: Iterable[str],
    fmt: ResultFormat | str = "auto",
    *,
    name: str = "tests",
    runner_type: str = "unknown",
    max_cases: int = 10_000,
) -> TestSuiteResult:
    """Parse `lines` (an iterable, consumed once, never held) in format `fmt`."""
    parser = make_parser(fmt, name=name, runner_type=runner_type, max_cases=max_cases)
    for line in lines:
        parser.feed(line)
    return parser.result()
