"""Auto-detection: which format is this output, even when it is buried in other log lines?

Owns: `AutoParser`, which feeds every line to one parser of each format at once (each streaming
and bounded, so detection needs no look-ahead and never holds the input) and, at the end, asks
the most confident one for the result.
Must not: do I/O, or import anything of packgate but `outcomes`, `errors` and `parsing` (pydantic
only through `result()`: `_common.ParsedSuite.model`).

Confidence, highest first: a complete JUnit XML document (100); a pytest or unittest final
summary, a TAP stream with a `TAP version` line or a `Bail out!` (90); the simple summary (85);
TAP with a plan (80); verbose pytest/unittest lines without their summary (50); a TAP plan alone
(40); bare TAP test points (30).  On a tie the earlier format in `ORDER` wins.  Other lines (pip
or npm noise before, shell chatter after) are ignored by every parser.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from packgate.errors import ParseError
from packgate.parsing._common import ParsedSuite
from packgate.parsing.junit import JUnitParser
from packgate.parsing.pytest import PytestParser
from packgate.parsing.simple import SimpleParser
from packgate.parsing.tap import TapParser
from packgate.parsing.unittest import UnittestParser

if TYPE_CHECKING:
    from packgate.results import TestSuiteResult


class _Candidate(Protocol):
    def feed(self, line: str) -> None: ...
    def feed_partial(self, piece: str) -> None: ...
    def confidence(self) -> int: ...
    def summary(self) -> ParsedSuite: ...


ORDER = ("junit", "pytest", "unittest", "tap", "simple")


class AutoParser:
    """Feeds every format's parser and answers with the most confident one."""

    def __init__(self, *, name: str, runner_type: str, max_cases: int = 10_000) -> None:
        self._candidates: list[tuple[str, _Candidate]] = [
            ("junit", JUnitParser(name=name, runner_type=runner_type, max_cases=max_cases)),
            ("pytest", PytestParser(name=name, runner_type=runner_type, max_cases=max_cases)),
            ("unittest", UnittestParser(name=name, runner_type=runner_type, max_cases=max_cases)),
            ("tap", TapParser(name=name, runner_type=runner_type, max_cases=max_cases)),
            ("simple", SimpleParser(name=name, runner_type=runner_type, max_cases=max_cases)),
        ]

    def feed(self, line: str) -> None:
        """One line of output, with or without its trailing newline."""
        for _, parser in self._candidates:
            parser.feed(line)

    def feed_partial(self, piece: str) -> None:
        """A piece of a line whose end is still to come."""
        for _, parser in self._candidates:
            parser.feed_partial(piece)

    def detected(self) -> str | None:
        """The format the output looks like so far, or None."""
        best, best_score = None, 0
        for fmt, parser in self._candidates:
            score = parser.confidence()
            if score > best_score:
                best, best_score = fmt, score
        return best

    def confidence(self) -> int:
        return max(parser.confidence() for _, parser in self._candidates)

    def result(self) -> TestSuiteResult:
        """`summary()` as the validated TestSuiteResult."""
        return self.summary().model()

    def summary(self) -> ParsedSuite:
        """The most confident parser's summary; ParseError when no parser recognised anything."""
        ranked = sorted(
            ((parser.confidence(), -i, parser) for i, (_, parser) in enumerate(self._candidates)),
            key=lambda item: (item[0], item[1]),
            reverse=True,
        )
        for score, _, parser in ranked:
            if score <= 0:
                break
            try:
                return parser.summary()
            except ParseError:
                continue
        raise ParseError(
            "no test results recognised in the output (looked for JUnit XML, pytest, unittest, TAP "
            "and the 'Total Tests:' summary)"
        )
