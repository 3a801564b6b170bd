"""The output of `python -m unittest` (plain `..F.s` progress or `-v` verbose), streamed.

Owns: the `Ran N tests in X.XXXs` line and the `OK` / `FAILED (failures=1, errors=1, skipped=2,
expected failures=1, unexpected successes=1)` line after it (the counts), verbose lines
`test_x (mod.Class.test_x) ... ok` (the cases), and the `FAIL:` / `ERROR:` blocks with their
tracebacks (the error messages).  Must not: do I/O, or import anything of packgate but
`outcomes`, `errors` and `parsing` (pydantic only through `result()`: `_common.ParsedSuite.model`).

Decisions:
- Counts come from unittest's own summary: failed = failures + errors; skipped = skipped +
  expected failures (an expected failure did not pass; pytest calls it xfail and Packgate counts
  both as skipped); passed = the rest of "Ran N", which includes unexpected successes (pytest's
  xpass, counted as passed).  unittest counts every failing subTest separately; failed is capped at
  N.  Several `Ran` blocks in one log are added up.
- Cases: verbose lines give every test (subtests by their own name, e.g.
  `mod.Class.test_x (i=2)`); plain output gives only the FAIL/ERROR blocks.  A traceback becomes
  the error_message of the case with the same name.
- Output cut off before `Ran N tests` counts the verbose cases seen, if any; otherwise nothing is
  recognised.
"""

from __future__ import annotations

import re

from packgate.errors import ParseError
from packgate.outcomes import TestStatus
from packgate.parsing._common import (
    LineOriented,
    ParsedSuite,
    TextBuffer,
    build_suite,
    case,
    seconds_to_ms,
    with_message,
)

_RAN = re.compile(r"^Ran (\d{1,12}) tests? in ([\d.]+)s\s*$")
_OUTCOME = re.compile(r"^(OK|FAILED|NO TESTS RAN)(?: \((.*)\))?\s*$")
# 3.11+: "test_x (mod.Class.test_x) ... ok"; older: "test_x (mod.Class) ... ok"; subtests add " (i=2)"
_VERBOSE = re.compile(r"^\s*(\w+) \(([\w.]+)\)((?: \(.*?\))?) \.\.\. ?(.*)$")
_DESCRIBED = re.compile(r"^(\w+) \(([\w.]+)\)$")  # verbose with a docstring: the docstring line follows
_DESCRIPTION = re.compile(r"^(.*?) \.\.\. ?(.*)$")
_HEADER = re.compile(r"^(FAIL|ERROR|UNEXPECTED SUCCESS): (\w+) \(([\w.]+)\)((?: \(.*\))?)\s*$")
_STATUS = {
    "ok": TestStatus.PASSED,
    "FAIL": TestStatus.FAILED,
    "ERROR": TestStatus.ERROR,
    "expected failure": TestStatus.SKIPPED,
    "unexpected success": TestStatus.PASSED,
}
_MAX_MESSAGES = 10_000


def _status(word: str) -> tuple[TestStatus, str | None] | None:
    word = word.strip()
    if word in _STATUS:
        return _STATUS[word], None
    if word.startswith("skipped"):
        reason = word[len("skipped") :].strip().strip("'\"")
        return TestStatus.SKIPPED, f"SKIP: {reason}" if reason else "SKIP"
    return None


def _case_name(method: str, dotted: str, extra: str) -> str:
    name = dotted if dotted.endswith("." + method) else f"{dotted}.{method}"
    return f"{name}{extra}"


class UnittestParser(LineOriented):
    """Streaming parser for python -m unittest output."""

    def __init__(self, *, name: str, runner_type: str, max_cases: int = 10_000) -> None:
        super().__init__(name=name, runner_type=runner_type, max_cases=max_cases)
        self._summaries = 0
        self._ran: int | None = None
        self._ran_ms = 0
        self._passed = self._failed = self._skipped = 0
        self._duration_ms = 0
        self._pending: str | None = None  # a verbose test whose status is on a later line
        self._described: str | None = None  # a verbose test whose docstring line comes next
        self._verbose_seen = False
        self._in_block: str | None = None  # "header" after =====, "body" after -----
        self._block_name: str | None = None
        self._block_kind: str | None = None
        self._block_text: TextBuffer | None = None
        self._messages: dict[str, str] = {}
        self._block_cases: list[tuple[str, TestStatus]] = []

    def _line(self, line: str) -> None:
        if self._in_block is not None and self._block_line(line):
            return
        if line.startswith("Ran "):
            match = _RAN.match(line)
            if match is not None:
                self._pending = None
                self._ran = int(match.group(1))
                self._ran_ms = seconds_to_ms(match.group(2))
                return
        if self._ran is not None:
            stripped = line.strip()
            if not stripped:
                return
            match = _OUTCOME.match(stripped)
            if match is not None:
                self._summary(match.group(2) or "")
                return
            self._ran = None
        if line.startswith("=" * 20) and not line.strip("="):
            self._pending = None
            self._in_block = "header"
            return
        described, self._described = self._described, None
        if " ... " in line or line.endswith(" ..."):
            named = self._verbose_name(line, described)
            if named is not None:
                name, status_text = named
                found = _status(status_text)
                if found is None:
                    self._pending = name  # status follows after the test's own output
                else:
                    self._verbose_case(name, *found)
                return
        if line.endswith(")"):
            bare = _DESCRIBED.match(line)
            if bare is not None:
                self._described = _case_name(bare.group(1), bare.group(2), "")
                return
        if self._pending is not None:
            # the status after a test's own output ("printed to stdout" then "ok")
            found = _status(line) if len(line) < 200 else None
            if found is not None:
                self._verbose_case(self._pending, *found)

    @staticmethod
    def _verbose_name(line: str, described: str | None) -> tuple[str, str] | None:
        """(test name, status text) of a verbose line, or None."""
        match = _VERBOSE.match(line)
        if match is not None:
            return _case_name(match.group(1), match.group(2), match.group(3)), match.group(4)
        if described is not None:
            doc = _DESCRIPTION.match(line)
            if doc is not None:
                return described, doc.group(2)
        return None

    def _verbose_case(self, name: str, status: TestStatus, reason: str | None) -> None:
        self._pending = None
        self._verbose_seen = True
        self.keeper.add(case(name, status, error_message=reason))

    def _block_line(self, line: str) -> bool:
        """A line of a FAIL/ERROR block; False when the line is not part of a block."""
        if self._in_block == "header":
            match = _HEADER.match(line)
            if match is None:
                self._in_block = None
                return False
            self._block_kind = match.group(1)
            self._block_name = _case_name(match.group(2), match.group(3), match.group(4))
            self._block_text = TextBuffer()
            # an unexpected success has no traceback: no "-----" line, no body
            self._in_block = "dashes" if self._block_kind != "UNEXPECTED SUCCESS" else None
            return True
        if self._in_block == "dashes":
            self._in_block = "body" if line.startswith("-" * 20) else None
            return self._in_block is not None
        # body: ends at the next ===== (another block) or ----- (before "Ran N tests")
        if (line.startswith("=" * 20) and not line.strip("=")) or (line.startswith("-" * 20) and not line.strip("-")):
            self._end_block()
            self._in_block = "header" if line.startswith("=") else None
            return True
        if self._block_text is not None:
            self._block_text.add(line + "\n")
        return True

    def _end_block(self) -> None:
        name, kind, text = self._block_name, self._block_kind, self._block_text
        self._block_name = self._block_kind = self._block_text = None
        if name is None or kind is None or kind == "UNEXPECTED SUCCESS":
            return
        if len(self._messages) < _MAX_MESSAGES:
            self._messages[name] = text.text().strip() if text else ""
        if len(self._block_cases) < _MAX_MESSAGES:
            self._block_cases.append((name, TestStatus.FAILED if kind == "FAIL" else TestStatus.ERROR))

    def _summary(self, details: str) -> None:
        ran = self._ran or 0
        self._ran = None
        counts: dict[str, int] = {}
        for part in details.split(","):
            key, _, value = part.partition("=")
            value = value.strip()
            if value.isdecimal() and len(value) <= 12:
                counts[key.strip()] = int(value)
        failed = min(ran, counts.get("failures", 0) + counts.get("errors", 0))
        skipped = min(ran - failed, counts.get("skipped", 0) + counts.get("expected failures", 0))
        self._failed += failed
        self._skipped += skipped
        self._passed += ran - failed - skipped
        self._duration_ms += self._ran_ms
        self._summaries += 1

    def confidence(self) -> int:
        if self._summaries:
            return 90
        return 50 if self._verbose_seen else 0

    def summary(self) -> ParsedSuite:
        if self._in_block == "body":
            self._end_block()
            self._in_block = None
        if not self._summaries and not self._verbose_seen:
            raise ParseError("no unittest summary ('Ran N tests' then OK/FAILED) found in the output")
        keeper = self.keeper
        if self._verbose_seen:
            cases = [
                with_message(item, self._messages[item.name])
                if item.name in self._messages and item.status in (TestStatus.FAILED, TestStatus.ERROR)
                else item
                for item in keeper.cases()
            ]
        else:
            cases = [
                case(name, status, error_message=self._messages.get(name))
                for name, status in self._block_cases[: keeper.max_cases]
            ]
        if self._summaries:
            passed, failed, skipped = self._passed, self._failed, self._skipped
            duration = self._duration_ms
        else:
            passed, failed, skipped = keeper.passed, keeper.failed, keeper.skipped
            duration = keeper.duration_ms
        return build_suite(
            self.name,
            self.runner_type,
            passed=passed,
            failed=failed,
            skipped=skipped,
            duration_ms=duration,
            cases=cases,
        )
