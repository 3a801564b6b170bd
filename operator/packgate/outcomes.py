"""The words of a test result, without pydantic: statuses, text limits and the status arithmetic.

Owns: TestStatus and RunStatus, the text limits of a test case (`NAME_LIMIT`, `MESSAGE_LIMIT`,
`OUTPUT_LIMIT`) with `truncate_text`, which cuts a text to them, and `pass_rate` / `run_status`.
`packgate.results` builds its pydantic models on these and re-exports them (import them from
there); the parsers use them from here, so `packgate parse` never imports pydantic (its import
and model building were a third of the command's time: bench/parse_junit.py).
Must not: import pydantic, `packgate.results` or anything else of packgate; do I/O.
"""

from __future__ import annotations

from enum import StrEnum

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
