"""The seed's simple summary format, as printed by its bash test runners:

    Total Tests:  36
    Passed:       35
    Failed:       1
    Skipped:      0        (optional)

Owns: recognising these lines (ANSI colours stripped, keys case-insensitive, any order after the
`Total Tests:` line) anywhere in a log.  Must not: do I/O, or import anything of packgate but
`outcomes`, `errors` and `parsing` (pydantic only through `result()`: `_common.ParsedSuite.model`).

Decisions:
- The format lists no test names, so the suite has no test cases, only counts.
- `Skipped:` absent: skipped = Total - Passed - Failed.  `Total Tests:` absent: the sum of the
  others.  A Total larger than Passed + Failed + Skipped: the unaccounted tests count as skipped
  (not run, not passed).  A Total smaller than the sum: the sum wins.
- Several summary blocks in one log (a runner that runs several scripts) are added up.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from packgate.errors import ParseError
from packgate.parsing._common import LineOriented, ParsedSuite, build_suite, strip_ansi

_FIELD = re.compile(r"^[^\w]*(total tests|passed|failed|skipped)\s*:\s*(\d{1,12})[^\w]*$", re.IGNORECASE)


@dataclass
class _Block:
    total: int | None = None
    passed: int | None = None
    failed: int | None = None
    skipped: int | None = None

    def valid(self) -> bool:
        known = (self.passed is not None) + (self.failed is not None)
        return (self.total is not None and known >= 1) or known == 2

    def counts(self) -> tuple[int, int, int]:
        passed = self.passed or 0
        failed = self.failed or 0
        if self.skipped is None:
            skipped = max(0, (self.total or 0) - passed - failed)
        else:
            skipped = self.skipped + max(0, (self.total or 0) - passed - failed - self.skipped)
        return passed, failed, skipped


class SimpleParser(LineOriented):
    """Streaming parser for the `Total Tests:` / `Passed:` / `Failed:` summary."""

    def __init__(self, *, name: str, runner_type: str, max_cases: int = 10_000) -> None:
        super().__init__(name=name, runner_type=runner_type, max_cases=max_cases)
        self._passed = self._failed = self._skipped = 0
        self._blocks = 0
        self._current = _Block()

    def _line(self, line: str) -> None:
        if ":" not in line:
            return
        match = _FIELD.match(strip_ansi(line).strip())
        if match is None:
            return
        key = match.group(1).lower().split()[0]
        value = int(match.group(2))
        current = self._current
        if getattr(current, key) is not None:
            self._close()
            current = self._current
        setattr(current, key, value)

    def _close(self) -> None:
        if self._current.valid():
            passed, failed, skipped = self._current.counts()
            self._passed += passed
            self._failed += failed
            self._skipped += skipped
            self._blocks += 1
        self._current = _Block()

    def _pending(self) -> tuple[int, int, int, int]:
        blocks, passed, failed, skipped = self._blocks, self._passed, self._failed, self._skipped
        if self._current.valid():
            p, f, s = self._current.counts()
            blocks, passed, failed, skipped = blocks + 1, passed + p, failed + f, skipped + s
        return blocks, passed, failed, skipped

    def confidence(self) -> int:
        blocks = self._pending()[0]
        return 85 if blocks else 0

    def summary(self) -> ParsedSuite:
        blocks, passed, failed, skipped = self._pending()
        if not blocks:
            raise ParseError("no 'Total Tests:' / 'Passed:' / 'Failed:' summary found in the output")
        return build_suite(
            self.name,
            self.runner_type,
            passed=passed,
            failed=failed,
            skipped=skipped,
            duration_ms=0,
            cases=[],
        )
