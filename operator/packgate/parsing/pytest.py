"""pytest's terminal output, streamed.

Owns: the final summary line (`==== 3 failed, 10 passed, 2 skipped, 1 xfailed in 0.12s ====`, or
the same without the `=` rule under -q), verbose result lines (`path::test PASSED [ 50%]`, also
pytest-xdist's `[gw0] [ 50%] PASSED path::test`), and the short test summary lines
(`FAILED path::test - message`, and with -rA `PASSED`/`XFAIL`/`XPASS` too).
Must not: do I/O, or import anything of packgate but `outcomes`, `errors` and `parsing` (pydantic
only through `result()`: `_common.ParsedSuite.model`).

Decisions:
- Counts come from the final summary line: passed = passed + xpassed (a non-strict xpass is a
  pass, as pytest's exit code says); failed = failed + error(s) (a collection or fixture error
  is a failure); skipped = skipped + xfailed; deselected, warnings and reruns are not tests.
  Several sessions in one log are added up; the summary's `in X.XXs` is the duration.
- Cases come from the verbose lines; without them, from the short test summary (failures and
  errors only, unless -rA).  A short-summary message becomes the error_message of the case with
  the same node id.
- Output cut off before the final line counts the verbose cases seen, if any; otherwise nothing
  is recognised.
"""

from __future__ import annotations

import re

from packgate.errors import ParseError
from packgate.outcomes import TestStatus
from packgate.parsing._common import (
    LineOriented,
    ParsedSuite,
    build_suite,
    case,
    seconds_to_ms,
    strip_ansi,
    with_message,
)

_WORDS = "failed|passed|skipped|deselected|xfailed|xpassed|errors?|warnings?|rerun|subtests? [a-z]+"
_SUMMARY = re.compile(
    rf"^(?:=+ )?((?:\d{{1,12}} (?:{_WORDS})(?:, )?)+|no tests ran) in ([\d.]+)s(?: \([\d:.]+\))?(?: =+)?$"
)
_PART = re.compile(rf"(\d+) ({_WORDS})")
# A verbose line is matched in two steps, in linear time: its `[ 50%]` first (`_PROGRESS`, after the
# last "["), then what comes before it; with a reason only when that part ends with ")", so a long
# line is never tried for a reason at each of its status words.
_PROGRESS = re.compile(r"\s*\d+%\]")
_VERBOSE = re.compile(r"^(\S(?>.*?::\S).*?) (PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS) \((.*)\)$")
_VERBOSE_BARE = re.compile(r"^(\S(?>.*?::\S).*?) (PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)()$")
_XDIST = re.compile(r"^\[gw\d+\] \[\s*\d+%\] (PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS) (\S.*?::\S.*)$")
_SHORT = re.compile(r"^(PASSED|FAILED|ERROR|XFAIL|XPASS) (\S+(?:::\S.*?)?)(?: - (.*))?$")
_STATUS = {
    "PASSED": TestStatus.PASSED,
    "XPASS": TestStatus.PASSED,
    "FAILED": TestStatus.FAILED,
    "ERROR": TestStatus.ERROR,
    "SKIPPED": TestStatus.SKIPPED,
    "XFAIL": TestStatus.SKIPPED,
}
_MAX_MESSAGES = 10_000


def _verbose_match(line: str) -> re.Match[str] | None:
    """`path::test STATUS [ 50%]` or `path::test STATUS (reason) [ 50%]` (the line stripped):
    groups node id, status word, reason ("" when none)."""
    head, _, progress = line.rpartition("[")
    if not _PROGRESS.fullmatch(progress) or not head[-1:].isspace():
        return None
    head = head.rstrip()
    return (_VERBOSE if head.endswith(")") else _VERBOSE_BARE).match(head)


class PytestParser(LineOriented):
    """Streaming parser for pytest's terminal output."""

    def __init__(self, *, name: str, runner_type: str, max_cases: int = 10_000) -> None:
        super().__init__(name=name, runner_type=runner_type, max_cases=max_cases)
        self._sessions = 0
        self._passed = self._failed = self._skipped = 0
        self._duration_ms = 0
        self._verbose_seen = False
        self._in_short_summary = False
        self._messages: dict[str, str] = {}
        self._short_cases: list[tuple[str, TestStatus]] = []

    def _line(self, line: str) -> None:
        if "\x1b" in line:
            line = strip_ansi(line)
        line = line.rstrip()
        if not line:
            return
        tail = line[-1]
        if tail == "]" and "::" in line:
            match = _verbose_match(line)
            if match is not None:
                self._verbose(match.group(1), match.group(2), match.group(3) or None)
                return
        if line.startswith("[gw"):
            match = _XDIST.match(line)
            if match is not None:
                self._verbose(match.group(2), match.group(1), None)
                return
        if line[0] == "=" or ((tail.isdigit() or tail in "s=)") and " in " in line):
            match = _SUMMARY.match(line)
            if match is not None:
                self._summary(match.group(1), match.group(2))
                return
            if line[0] == "=":
                self._in_short_summary = "short test summary info" in line
                return
        if self._in_short_summary and line[0] in "PFEX":
            match = _SHORT.match(line)
            if match is not None:
                self._short(match.group(1), match.group(2), match.group(3))

    def _verbose(self, nodeid: str, word: str, reason: str | None) -> None:
        self._verbose_seen = True
        status = _STATUS[word]
        message = None
        if reason and status is TestStatus.SKIPPED:
            message = f"{'XFAIL' if word == 'XFAIL' else 'SKIP'}: {reason}"
        self.keeper.add(case(nodeid, status, error_message=message))

    def _short(self, word: str, nodeid: str, message: str | None) -> None:
        status = _STATUS[word]
        if message and status is not TestStatus.PASSED and len(self._messages) < _MAX_MESSAGES:
            self._messages.setdefault(nodeid, message)
        if len(self._short_cases) < _MAX_MESSAGES:
            self._short_cases.append((nodeid, status))

    def _summary(self, text: str, seconds: str) -> None:
        counts: dict[str, int] = {}
        for number, word in _PART.findall(text):
            key = word.rstrip("s") if word in ("errors", "warnings") else word
            counts[key] = counts.get(key, 0) + int(number)
        self._passed += counts.get("passed", 0) + counts.get("xpassed", 0)
        self._failed += counts.get("failed", 0) + counts.get("error", 0)
        self._skipped += counts.get("skipped", 0) + counts.get("xfailed", 0)
        self._duration_ms += seconds_to_ms(seconds)
        self._sessions += 1
        self._in_short_summary = False

    def confidence(self) -> int:
        if self._sessions:
            return 90
        return 50 if self._verbose_seen else 0

    def summary(self) -> ParsedSuite:
        if not self._sessions and not self._verbose_seen:
            raise ParseError("no pytest summary line ('== N passed ... in X.XXs ==') found in the output")
        keeper = self.keeper
        if self._verbose_seen:
            cases = [
                with_message(item, self._messages[item.name])
                if item.name in self._messages and item.status in (TestStatus.FAILED, TestStatus.ERROR)
                else item
                for item in keeper.cases()
            ]
        else:
            bad = (TestStatus.FAILED, TestStatus.ERROR)
            indexed = list(enumerate(self._short_cases))
            ranked = [p for p in indexed if p[1][1] in bad] + [p for p in indexed if p[1][1] not in bad]
            chosen = sorted(ranked[: keeper.max_cases])
            cases = [case(n, s, error_message=self._messages.get(n)) for _, (n, s) in chosen]
        if self._sessions:
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
