"""Shared pieces of the test-output parsers: bounded case keeping, text truncation, ANSI stripping.

Owns: `CaseKeeper` (counts every case, keeps at most `max_cases` of them, preferring failing ones),
`clip` (bounded text), `strip_ansi`, and `LineAssembler` (joins pieces of one over-long line, bounded).
Must not: do I/O or import anything of packgate but `results` and `errors`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from packgate.results import TestCaseResult, TestStatus, TestSuiteResult, suite_from_counts

TEXT_LIMIT = 4096
"""Characters kept of one error message, stdout or stderr."""

NAME_LIMIT = 1024
"""Characters kept of one test name."""

LINE_LIMIT = 65536
"""Characters kept of one line by the line-oriented parsers; the rest of the line is dropped."""

_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")


def strip_ansi(text: str) -> str:
    """The text without terminal colour and cursor escape sequences."""
    return _ANSI.sub("", text) if "\x1b" in text else text


def clip(text: str | None, limit: int = TEXT_LIMIT) -> str | None:
    """`text` cut to `limit` characters (with a marker saying how much was cut); None stays None."""
    if text is None or len(text) <= limit:
        return text
    return f"{text[:limit]}\n... [{len(text) - limit} more characters truncated]"


def chomp(line: str) -> str:
    """The line without its trailing newline (\\n, \\r\\n or \\r)."""
    return line.rstrip("\r\n")


class TextBuffer:
    """Collects text up to a limit, remembering how much more there was."""

    __slots__ = ("_dropped", "_limit", "_parts", "_size")

    def __init__(self, limit: int = TEXT_LIMIT) -> None:
        self._limit = limit
        self._parts: list[str] = []
        self._size = 0
        self._dropped = 0

    def add(self, text: str) -> None:
        room = self._limit - self._size
        if room <= 0:
            self._dropped += len(text)
            return
        if len(text) > room:
            self._dropped += len(text) - room
            text = text[:room]
        self._parts.append(text)
        self._size += len(text)

    def __bool__(self) -> bool:
        return self._size > 0 or self._dropped > 0

    def text(self) -> str:
        joined = "".join(self._parts)
        if self._dropped:
            joined += f"\n... [{self._dropped} more characters truncated]"
        return joined


class LineAssembler:
    """Joins the pieces of one line fed separately (`feed_partial` then `feed`), keeping at most
    LINE_LIMIT characters of it, so an endless line cannot exhaust memory."""

    __slots__ = ("_parts", "_size")

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._size = 0

    def partial(self, piece: str) -> None:
        room = LINE_LIMIT - self._size
        if room > 0:
            piece = piece[:room]
            self._parts.append(piece)
            self._size += len(piece)

    def complete(self, piece: str) -> str:
        if not self._parts:
            return chomp(piece[:LINE_LIMIT] if len(piece) > LINE_LIMIT else piece)
        self.partial(piece)
        line = "".join(self._parts)
        self._parts.clear()
        self._size = 0
        return chomp(line)


def case(
    name: str,
    status: TestStatus,
    *,
    duration_ms: int = 0,
    error_message: str | None = None,
    stdout: str | None = None,
    stderr: str | None = None,
) -> TestCaseResult:
    """A TestCaseResult with every text field bounded."""
    return TestCaseResult(
        name=clip(name, NAME_LIMIT) or "",
        status=status,
        duration_ms=max(0, duration_ms),
        error_message=clip(error_message),
        stdout=clip(stdout),
        stderr=clip(stderr),
    )


def _is_failing(status: TestStatus) -> bool:
    return status is TestStatus.FAILED or status is TestStatus.ERROR


@dataclass
class CaseKeeper:
    """Counts every case and keeps at most `max_cases` of them.

    When the bound is reached a failing case replaces the most recently kept passing or skipped
    one, so failures are the last to be dropped; the kept cases come back in input order.
    """

    max_cases: int
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    duration_ms: int = 0
    _seq: int = 0
    _failing: list[tuple[int, TestCaseResult]] = field(default_factory=list)
    _others: list[tuple[int, TestCaseResult]] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.passed + self.failed + self.skipped

    def add(self, item: TestCaseResult) -> None:
        """Count `item` and keep it if the bound allows."""
        self.count(item.status, item.duration_ms)
        self.keep(item)

    def count(self, status: TestStatus, duration_ms: int) -> None:
        """Count a case without keeping it (see `wants`, to build only the cases that are kept)."""
        if status is TestStatus.PASSED:
            self.passed += 1
        elif status is TestStatus.SKIPPED:
            self.skipped += 1
        else:
            self.failed += 1
        self.duration_ms += duration_ms

    def wants(self, status: TestStatus) -> bool:
        """Whether `keep` would keep a case with this status."""
        if len(self._failing) + len(self._others) < self.max_cases:
            return True
        return _is_failing(status) and bool(self._others)

    def keep(self, item: TestCaseResult) -> None:
        """Keep `item` (without counting it) if the bound allows."""
        self._seq += 1
        full = len(self._failing) + len(self._others) >= self.max_cases
        if _is_failing(item.status):
            if full:
                if not self._others:
                    return
                self._others.pop()
            self._failing.append((self._seq, item))
        elif not full:
            self._others.append((self._seq, item))

    def cases(self) -> list[TestCaseResult]:
        """The kept cases, in the order they were added."""
        return [c for _, c in sorted(self._failing + self._others, key=lambda pair: pair[0])]

    def __len__(self) -> int:
        return len(self._failing) + len(self._others)


def build_suite(
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
    """A TestSuiteResult whose counts add up and whose status follows `run_status`."""
    return suite_from_counts(
        name,
        runner_type,
        passed=max(0, passed),
        failed=max(0, failed),
        skipped=max(0, skipped),
        duration_ms=max(0, duration_ms),
        cases=cases,
        error=clip(error, 1024),
    )


def seconds_to_ms(text: str | None) -> int:
    """'0.123' (seconds, as JUnit and most runners write it) as whole milliseconds; 0 if unreadable."""
    if not text:
        return 0
    try:
        value = float(text.replace(",", "").strip())
    except ValueError:
        return 0
    if value != value or value < 0 or value > 1e9:  # NaN, negative, absurd
        return 0
    return round(value * 1000)


class LineOriented:
    """Base of the text parsers: turns `feed`/`feed_partial` calls into complete, chomped lines
    of at most LINE_LIMIT characters and hands each to `_line`."""

    def __init__(self, *, name: str, runner_type: str, max_cases: int) -> None:
        self.name = name
        self.runner_type = runner_type
        self.keeper = CaseKeeper(max_cases=max(0, max_cases))
        self._assembler = LineAssembler()

    def feed(self, line: str) -> None:
        """One line of output, with or without its trailing newline."""
        self._line(self._assembler.complete(line))

    def feed_partial(self, piece: str) -> None:
        """A piece of a line whose end is still to come (for very long lines read in chunks)."""
        self._assembler.partial(piece)

    def _line(self, line: str) -> None:
        raise NotImplementedError

    def confidence(self) -> int:
        """How sure this parser is that the output was its format: 0 (not at all) to 100."""
        raise NotImplementedError
