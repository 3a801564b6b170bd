"""Golden tests: real outputs of real tools (tests/fixtures/parsing, see its README) against the
counts those tools printed themselves."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from parsinglib import FIXTURES, case_mismatches, expected_summary, golden_cases, read_lines, summary

from packgate.parsing import make_parser, parse_lines
from packgate.parsing.detect import AutoParser

pytestmark = pytest.mark.unit

CASES = golden_cases()
IDS = [str(path.relative_to(FIXTURES)) for path, _ in CASES]


@pytest.mark.parametrize(("path", "expected"), CASES, ids=IDS)
def test_counts_match_what_the_tool_printed(path: Path, expected: dict[str, Any]) -> None:
    """Parsing a fixture in its own format gives the counts and status the tool reported."""
    suite = parse_lines(read_lines(path), expected["format"], name="golden", runner_type="test")
    assert summary(suite) == expected_summary(expected)
    assert suite.passed + suite.failed + suite.skipped == suite.total


@pytest.mark.parametrize(("path", "expected"), CASES, ids=IDS)
def test_cases_match_the_tool_output(path: Path, expected: dict[str, Any]) -> None:
    """The kept test cases have the names, statuses and messages the tool wrote."""
    suite = parse_lines(read_lines(path), expected["format"])
    assert case_mismatches(suite, expected) == []
    if "error_contains" in expected:
        assert expected["error_contains"] in (suite.error or "")
    else:
        assert suite.error is None


@pytest.mark.parametrize(("path", "expected"), CASES, ids=IDS)
def test_auto_detection_finds_the_same_result(path: Path, expected: dict[str, Any]) -> None:
    """Auto-detection picks the fixture's format and returns the same counts."""
    parser = make_parser("auto", name="golden", runner_type="test")
    for line in read_lines(path):
        parser.feed(line)
    assert isinstance(parser, AutoParser)
    assert parser.detected() == expected["detected_as"]
    assert summary(parser.result()) == expected_summary(expected)


@pytest.mark.parametrize(("path", "expected"), CASES, ids=IDS)
def test_lines_without_newlines_give_the_same_result(path: Path, expected: dict[str, Any]) -> None:
    """Feeding lines with their newline stripped (as a log splitter may) changes nothing."""
    stripped = [line.rstrip("\r\n") for line in read_lines(path)]
    suite = parse_lines(stripped, expected["format"])
    assert summary(suite) == expected_summary(expected)
    assert case_mismatches(suite, expected) == []


@pytest.mark.parametrize(("path", "expected"), CASES, ids=IDS)
def test_printed_json_is_the_models_json(path: Path, expected: dict[str, Any]) -> None:
    """The JSON `packgate parse` prints, written from the parser's summary without pydantic, is
    the TestSuiteResult's `model_dump_json(indent=2)`, byte for byte, for every fixture in its own
    format and auto-detected."""
    printed, models = [], []
    for fmt in (expected["format"], "auto"):
        parser = make_parser(fmt, name="golden", runner_type="test")
        for line in read_lines(path):
            parser.feed(line)
        parsed = parser.summary()
        printed.append(parsed.to_json())
        models.append(parsed.model().model_dump_json(indent=2))
    assert printed == models
