"""Comparing one execution's test cases with an earlier one: regressions, fixes, added, removed.

Owns: the identity of a test across executions ("suite::case") and the pure comparison that the
operator reports for every execution (against the last execution of the active version) and that
`packgate results` shows.  Must not: do I/O or import the database layer; the previous statuses
come in as a plain mapping (see `Database.last_case_statuses`).
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict

from packgate.results import PackTestResult, TestStatus

_FAILING = frozenset({TestStatus.FAILED, TestStatus.ERROR})


def case_key(suite: str, case: str) -> str:
    """How a test case is identified across executions: `<suite name>::<case name>`."""
    return f"{suite}::{case}"


def case_statuses(result: PackTestResult) -> dict[str, TestStatus]:
    """Every test case of an execution by `case_key` (a repeated name keeps its last status)."""
    return {case_key(suite.name, case.name): case.status for suite in result.test_suites for case in suite.test_cases}


class Comparison(BaseModel):
    """What changed between two executions; every list is sorted by test key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    regressions: tuple[str, ...] = ()
    """Passed before, failed or errored now."""
    fixes: tuple[str, ...] = ()
    """Failed or errored before, passed now."""
    added: tuple[str, ...] = ()
    """Not there before."""
    removed: tuple[str, ...] = ()
    """There before, gone now."""

    @property
    def changed(self) -> bool:
        return bool(self.regressions or self.fixes or self.added or self.removed)


def compare(previous: Mapping[str, TestStatus], current: Mapping[str, TestStatus]) -> Comparison:
    """Regressions, fixes, added and removed tests from `previous` to `current`.

    Skipped tests are neither regressions nor fixes: passed -> skipped and skipped -> failed are
    not reported; failed <-> error are both failing and not reported either.
    """
    regressions = [
        key for key, status in current.items() if status in _FAILING and previous.get(key) == TestStatus.PASSED
    ]
    fixes = [key for key, status in current.items() if status == TestStatus.PASSED and previous.get(key) in _FAILING]
    return Comparison(
        regressions=tuple(sorted(regressions)),
        fixes=tuple(sorted(fixes)),
        added=tuple(sorted(current.keys() - previous.keys())),
        removed=tuple(sorted(previous.keys() - current.keys())),
    )
