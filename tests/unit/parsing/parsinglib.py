"""Helpers shared by the parsing tests: where the fixtures are, and how to compare a suite with
an expected.json written from what the real tool printed."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from packgate.results import TestSuiteResult

REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO / "tests" / "fixtures" / "parsing"
PYTHON = sys.executable


def golden_cases() -> list[tuple[Path, dict[str, Any]]]:
    """Every fixture with its expected.json, sorted."""
    found = []
    for expected in sorted(FIXTURES.glob("*/*.expected.json")):
        stem = expected.name.removesuffix(".expected.json")
        outputs = [p for p in expected.parent.glob(f"{stem}.*") if not p.name.endswith(".expected.json")]
        assert len(outputs) == 1, f"one output file expected beside {expected}, found {outputs}"
        found.append((outputs[0], json.loads(expected.read_text(encoding="utf-8"))))
    return found


def read_lines(path: Path) -> list[str]:
    """The fixture's lines, newlines kept, decoded the way `packgate parse` decodes."""
    with path.open(encoding="utf-8", errors="replace", newline="") as handle:
        return list(handle)


def summary(suite: TestSuiteResult) -> dict[str, Any]:
    """The counts and status of a suite, in expected.json's keys."""
    return {
        "total": suite.total,
        "passed": suite.passed,
        "failed": suite.failed,
        "skipped": suite.skipped,
        "status": str(suite.status),
    }


def expected_summary(expected: dict[str, Any]) -> dict[str, Any]:
    return {key: expected[key] for key in ("total", "passed", "failed", "skipped", "status")}


def case_mismatches(suite: TestSuiteResult, expected: dict[str, Any]) -> list[str]:
    """What differs between the suite's cases and expected["cases"]; empty when they agree."""
    problems: list[str] = []
    spec = expected.get("cases")
    if spec is None:
        return problems
    if len(suite.test_cases) != spec["count"]:
        problems.append(f"{len(suite.test_cases)} cases kept, expected {spec['count']}")
    by_name = {c.name: c for c in suite.test_cases}
    for want in spec["include"]:
        got = by_name.get(want["name"])
        if got is None:
            problems.append(f"missing case {want['name']!r}")
            continue
        if str(got.status) != want["status"]:
            problems.append(f"{want['name']!r}: status {got.status}, expected {want['status']}")
        for key, field in (
            ("error_contains", "error_message"),
            ("stdout_contains", "stdout"),
            ("stderr_contains", "stderr"),
        ):
            if key in want and want[key] not in (getattr(got, field) or ""):
                problems.append(f"{want['name']!r}: {field} lacks {want[key]!r}")
    return problems
