"""Shared pieces of the test-output parsers: what a parser read (`ParsedCase`, `ParsedSuite`),
bounded case keeping, text truncation, ANSI stripping, line splitting.

Owns: `ParsedCase` and `ParsedSuite` (a parser's result before it becomes the pydantic
`TestSuiteResult`: `model()` makes it, `to_json()` writes that model's JSON without pydantic),
`CaseKeeper` (counts every case, keeps at most `max_cases` of them, preferring failing ones),
`clip` and `TextBuffer` (bounded text, cut the way `truncate_text` cuts it), `strip_ansi`,
`LineAssembler` (joins pieces of one over-long line, bounded) and `LineSplitter` (text arriving in
chunks into lines and bounded pieces, in linear time).
Must not: do I/O or import anything of packgate but `outcomes`, `results` and `errors`; import
`results` (pydantic) at module level: only `ParsedSuite.model()` does, when called, so
`packgate parse`, which prints `to_json()`, never loads pydantic.
"""

from __future__ import annotations

import re
from json.encoder import encode_basestring
from typing import TYPE_CHECKING, NamedTuple

from packgate.outcomes import (
    MESSAGE_LIMIT,
    NAME_LIMIT,
    OUTPUT_LIMIT,
    RunStatus,
    TestStatus,
    run_status,
    truncate_text,
    utf8_len,
)

if TYPE_CHECKING:
    from packgate.results import TestSuiteResult

TEXT_LIMIT = MESSAGE_LIMIT
"""Bytes kept of one error message (stdout and stderr: `OUTPUT_LIMIT`)."""

LINE_LIMIT = 65536
"""Characters kept of one line by the line-oriented parsers; the rest of the line is dropped.  Also
the size of the pieces `LineSplitter` cuts a longer line into."""

_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")


def strip_ansi(text: str) -> str:
    """The text without terminal colour and cursor escape sequences."""
    return _ANSI.sub("", text) if "\x1b" in text else text


def clip(text: str | None, limit: int = TEXT_LIMIT) -> str | None:
    """`text` within `limit` UTF-8 bytes, ending with `... [truncated N bytes]` when cut; None stays None."""
    return None if text is None else truncate_text(text, limit)


def chomp(line: str) -> str:
    """The line without its trailing newline (\\n, \\r\\n or \\r)."""
    return line.rstrip("\r\n")


class TextBuffer:
    """Collects text up to `limit` UTF-8 bytes (a message: `MESSAGE_LIMIT`, an output:
    `OUTPUT_LIMIT`), counting the bytes beyond it; `text()` ends with `... [truncated N bytes]`
    when anything was dropped, the whole within `limit`."""

    __slots__ = ("_dropped", "_limit", "_parts", "_size")

    def __init__(self, limit: int = TEXT_LIMIT) -> None:
        self._limit = limit
        self._parts: list[str] = []
        self._size = 0  # characters kept: at most `limit`, so at least as many bytes
        self._dropped = 0  # bytes dropped

    def add(self, text: str) -> None:
        room = self._limit - self._size
        if room <= 0:
            self._dropped += utf8_len(text)
            return
        if len(text) > room:
            self._dropped += utf8_len(text[room:])
            text = text[:room]
        self._parts.append(text)
        self._size += len(text)

    def __bool__(self) -> bool:
        return self._size > 0 or self._dropped > 0

    def text(self) -> str:
        return truncate_text("".join(self._parts), self._limit, dropped=self._dropped)


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


class LineSplitter:
    """Text arriving in chunks of any size, as lines: each complete line ends with "\\n", and a line
    longer than `limit` characters comes in pieces of exactly `limit` characters without "\\n"
    (its last piece has it), for `feed_partial`.  Only the new chunk is searched, and at most one
    incomplete piece (under `limit` characters) is held: linear time, bounded memory."""

    __slots__ = ("_limit", "_parts", "_size")

    def __init__(self, limit: int = LINE_LIMIT) -> None:
        self._limit = limit
        self._parts: list[str] = []
        self._size = 0

    def split(self, chunk: str) -> list[str]:
        """The lines and pieces `chunk` completes, in order."""
        out: list[str] = []
        parts, limit = self._parts, self._limit
        start, end = 0, len(chunk)
        while start < end:
            room = limit - self._size
            newline = chunk.find("\n", start, start + room)
            if newline >= 0:
                stop = newline + 1
            elif end - start >= room:
                stop = start + room
            else:
                parts.append(chunk[start:])
                self._size += end - start
                break
            piece = chunk[start:stop]
            if parts:
                parts.append(piece)
                piece = "".join(parts)
                parts.clear()
                self._size = 0
            out.append(piece)
            start = stop
        return out

    def close(self) -> list[str]:
        """The last line, if the text did not end with a newline (given one)."""
        if not self._parts:
            return []
        last = "".join(self._parts) + "\n"
        self._parts.clear()
        self._size = 0
        return [last]


class ParsedCase(NamedTuple):
    """One test case as a parser read it, its texts already within the limits `TestCaseResult`
    applies (so making the model from it changes nothing); build it with `case`."""

    name: str
    status: TestStatus
    duration_ms: int
    error_message: str | None
    stdout: str | None
    stderr: str | None


def case(
    name: str,
    status: TestStatus,
    *,
    duration_ms: int = 0,
    error_message: str | None = None,
    stdout: str | None = None,
    stderr: str | None = None,
) -> ParsedCase:
    """A ParsedCase, every text bounded as `TestCaseResult` bounds it (`truncate_text`: the name
    to `NAME_LIMIT` with a space before the mark, the message to `MESSAGE_LIMIT`, stdout and
    stderr to `OUTPUT_LIMIT`)."""
    return ParsedCase(
        truncate_text(name, NAME_LIMIT, separator=" "),
        status,
        max(0, duration_ms),
        None if error_message is None else truncate_text(error_message, MESSAGE_LIMIT),
        None if stdout is None else truncate_text(stdout, OUTPUT_LIMIT),
        None if stderr is None else truncate_text(stderr, OUTPUT_LIMIT),
    )


def with_message(item: ParsedCase, message: str | None) -> ParsedCase:
    """`item` with another error message, bounded like every case's."""
    return case(
        item.name,
        item.status,
        duration_ms=item.duration_ms,
        error_message=message,
        stdout=item.stdout,
        stderr=item.stderr,
    )


def _json_text(text: str | None) -> str:
    return "null" if text is None else encode_basestring(text)


class ParsedSuite(NamedTuple):
    """One runner's results as a parser read them: counts that add up, the status `run_status`
    gives them, the kept cases.  `model()` is the TestSuiteResult; `to_json()` is that model's
    `model_dump_json(indent=2)`, byte for byte (a test holds the two together), written without
    pydantic."""

    name: str
    runner_type: str
    total: int
    passed: int
    failed: int
    skipped: int
    duration_ms: int
    status: RunStatus
    cases: list[ParsedCase]
    error: str | None

    def model(self) -> TestSuiteResult:
        """The validated TestSuiteResult (imports pydantic, on first use)."""
        from packgate.results import TestCaseResult, suite_from_counts

        return suite_from_counts(
            self.name,
            self.runner_type,
            passed=self.passed,
            failed=self.failed,
            skipped=self.skipped,
            duration_ms=self.duration_ms,
            cases=[
                TestCaseResult(
                    name=item.name,
                    status=item.status,
                    duration_ms=item.duration_ms,
                    error_message=item.error_message,
                    stdout=item.stdout,
                    stderr=item.stderr,
                )
                for item in self.cases
            ],
            error=self.error,
        )

    def to_json(self) -> str:
        """`self.model().model_dump_json(indent=2)`, without building the model: the suite's fields
        in the model's order, its unset optional fields (reason, job_name, exit_code) null."""
        cases = "[]"
        if self.cases:
            cases = (
                "[\n"
                + ",\n".join(
                    "    {\n"
                    f'      "name": {encode_basestring(item.name)},\n'
                    f'      "status": "{item.status.value}",\n'
                    f'      "duration_ms": {item.duration_ms},\n'
                    f'      "error_message": {_json_text(item.error_message)},\n'
                    f'      "stdout": {_json_text(item.stdout)},\n'
                    f'      "stderr": {_json_text(item.stderr)}\n'
                    "    }"
                    for item in self.cases
                )
                + "\n  ]"
            )
        return (
            "{\n"
            f'  "name": {encode_basestring(self.name)},\n'
            f'  "runner_type": {encode_basestring(self.runner_type)},\n'
            f'  "total": {self.total},\n'
            f'  "passed": {self.passed},\n'
            f'  "failed": {self.failed},\n'
            f'  "skipped": {self.skipped},\n'
            f'  "duration_ms": {self.duration_ms},\n'
            f'  "status": "{self.status.value}",\n'
            f'  "test_cases": {cases},\n'
            f'  "error": {_json_text(self.error)},\n'
            '  "reason": null,\n'
            '  "job_name": null,\n'
            '  "exit_code": null\n'
            "}"
        )


def _is_failing(status: TestStatus) -> bool:
    return status is TestStatus.FAILED or status is TestStatus.ERROR


class CaseKeeper:
    """Counts every case and keeps at most `max_cases` of them.

    When the bound is reached a failing case replaces the most recently kept passing or skipped
    one, so failures are the last to be dropped; the kept cases come back in input order.
    (A plain class, not a dataclass: `dataclasses` costs `packgate parse` its import.)
    """

    __slots__ = ("_failing", "_others", "_seq", "duration_ms", "failed", "max_cases", "passed", "skipped")

    def __init__(self, max_cases: int) -> None:
        self.max_cases = max_cases
        self.passed = 0
        self.failed = 0
        self.skipped = 0
        self.duration_ms = 0
        self._seq = 0
        self._failing: list[tuple[int, ParsedCase]] = []
        self._others: list[tuple[int, ParsedCase]] = []

    @property
    def total(self) -> int:
        return self.passed + self.failed + self.skipped

    def add(self, item: ParsedCase) -> None:
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

    def tally(self, status: TestStatus, duration_ms: int) -> bool:
        """`count`, then `wants`: count a case and say whether `keep` would keep it (one call per
        case on the hot path of the XML parser)."""
        if status is TestStatus.PASSED:
            self.passed += 1
        elif status is TestStatus.SKIPPED:
            self.skipped += 1
        else:
            self.failed += 1
        self.duration_ms += duration_ms
        if len(self._failing) + len(self._others) < self.max_cases:
            return True
        return (status is TestStatus.FAILED or status is TestStatus.ERROR) and bool(self._others)

    def wants(self, status: TestStatus) -> bool:
        """Whether `keep` would keep a case with this status."""
        if len(self._failing) + len(self._others) < self.max_cases:
            return True
        return _is_failing(status) and bool(self._others)

    def keep(self, item: ParsedCase) -> None:
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

    def cases(self) -> list[ParsedCase]:
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
    cases: list[ParsedCase],
    error: str | None = None,
) -> ParsedSuite:
    """A ParsedSuite whose counts add up and whose status follows `run_status`."""
    passed, failed, skipped = max(0, passed), max(0, failed), max(0, skipped)
    error = clip(error, 1024)
    return ParsedSuite(
        name,
        runner_type,
        passed + failed + skipped,
        passed,
        failed,
        skipped,
        max(0, duration_ms),
        run_status(passed, failed, errored=error is not None),
        cases,
        error,
    )


def seconds_to_ms(text: str | None) -> int:
    """'0.123' (seconds, as JUnit and most runners write it) as whole milliseconds; 0 if unreadable."""
    if not text:
        return 0
    try:
        value = float(text)  # the usual case; float() ignores the whitespace strip() would remove
    except ValueError:
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

    def summary(self) -> ParsedSuite:
        """What was read so far; raises ParseError if nothing recognisable was fed."""
        raise NotImplementedError

    def result(self) -> TestSuiteResult:
        """`summary()` as the validated TestSuiteResult."""
        return self.summary().model()
