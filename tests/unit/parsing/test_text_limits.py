"""The documented text limits of a kept test case: 4 KiB of error message, 16 KiB of each stdout
and stderr, 1 KiB of name (UTF-8 bytes, mark included), cut at a character boundary and marked
`... [truncated N bytes]`, whichever parser built the case."""

from __future__ import annotations

import pytest

from packgate.parsing import make_parser, parse_lines
from packgate.results import MESSAGE_LIMIT, NAME_LIMIT, OUTPUT_LIMIT, TestCaseResult, TestStatus, truncate_text

pytestmark = pytest.mark.unit


def cut(text: str) -> tuple[str, int]:
    """(the kept text, the bytes the mark says were cut); no mark: (text, 0)."""
    kept, mark, count = text.rpartition("... [truncated ")
    if not mark:
        return text, 0
    return kept.removesuffix("\n").removesuffix(" "), int(count.removesuffix(" bytes]"))


@pytest.mark.parametrize(
    ("field", "limit"),
    [("error_message", MESSAGE_LIMIT), ("stdout", OUTPUT_LIMIT), ("stderr", OUTPUT_LIMIT), ("name", NAME_LIMIT)],
)
def test_long_text_is_cut_to_its_limit(field: str, limit: int) -> None:
    """A field ten times its limit: at most `limit` bytes with the mark, and kept + cut bytes add
    up to the original size."""
    original = "é" + "abc→" * (limit * 10 // 6)
    item = TestCaseResult.model_validate({"name": "t", "status": "failed", field: original})
    text = getattr(item, field)
    kept, dropped = cut(text)
    assert (len(text.encode()) <= limit, original.startswith(kept), len(kept.encode()) + dropped) == (
        True,
        True,
        len(original.encode()),
    )


def test_short_text_is_kept_whole_and_limits_are_idempotent() -> None:
    """Texts within their limits are unchanged; validating a cut case again changes nothing."""
    small = TestCaseResult(name="t", status=TestStatus.FAILED, error_message="x" * MESSAGE_LIMIT, stdout="out")
    big = TestCaseResult(name="t", status=TestStatus.FAILED, error_message="é" * MESSAGE_LIMIT, stdout="o" * 10**6)
    assert (small.error_message, small.stdout) == ("x" * MESSAGE_LIMIT, "out")
    assert TestCaseResult.model_validate(big.model_dump()) == big


def test_truncate_text_counts_bytes_dropped_earlier() -> None:
    """Bytes a buffer dropped before the text reached the cut are counted in the mark."""
    assert truncate_text("abc", 100, dropped=7) == "abc\n... [truncated 7 bytes]"


def test_junit_output_and_message_limits() -> None:
    """JUnit keeps 16 KiB of system-out and system-err and 4 KiB of the failure, each marked with
    what was cut."""
    big = "y" * 100_000
    xml = (
        f'<testsuite><testcase name="t"><failure>{big}</failure>'
        f"<system-out>{big}</system-out><system-err>{big}</system-err></testcase></testsuite>"
    )
    item = parse_lines([xml], "junit").test_cases[0]
    texts = [item.error_message or "", item.stdout or "", item.stderr or ""]
    limits = [MESSAGE_LIMIT, OUTPUT_LIMIT, OUTPUT_LIMIT]
    assert [
        (limit - 100 < len(text) <= limit, len(cut(text)[0]) + cut(text)[1])
        for text, limit in zip(texts, limits, strict=True)
    ] == [(True, 100_000)] * 3


def test_pytest_short_summary_message_is_cut() -> None:
    """A short-summary message longer than 4 KiB (pytest prints it on one line) is cut too."""
    lines = [
        "tests/test_a.py::test_x FAILED                                           [100%]",
        "=========================== short test summary info ============================",
        "FAILED tests/test_a.py::test_x - AssertionError: " + "z" * 20_000,
        "============================== 1 failed in 0.01s ===============================",
    ]
    message = parse_lines(lines, "pytest").test_cases[0].error_message or ""
    assert (len(message.encode()) <= MESSAGE_LIMIT, message.endswith("bytes]"), cut(message)[1] > 15_000) == (
        True,
        True,
        True,
    )


@pytest.mark.parametrize(
    ("fmt", "lines"),
    [
        (
            "junit",
            [
                f'<testsuite><testcase classname="c" name="{"n→" * 1000}"><failure message="m">{"é" * 9000}',
                "</failure><system-out>" + "o" * 40_000 + "</system-out><system-err>" + "😀" * 9000,
                "</system-err></testcase><testcase name='s'><skipped message='" + "s" * 5000 + "'/></testcase>",
                "</testsuite>",
            ],
        ),
        (
            "pytest",
            [
                "=== short test summary info ===",
                "FAILED t.py::" + "x" * 3000 + " - E: " + "z" * 20_000,
                "=== 1 failed in 0.01s ===",
            ],
        ),
        ("tap", ["TAP version 13", "1..1", "not ok 1 - " + "t" * 3000, "  ---", "  message: " + "m" * 9000, "  ..."]),
    ],
)
def test_parsers_cut_texts_as_the_model_does(fmt: str, lines: list[str]) -> None:
    """A parser cuts a case's texts itself (its summary never goes through pydantic on the way to
    `packgate parse`'s output) exactly as TestCaseResult cuts them: the summary's cases and the
    validated model's cases hold the same texts, and they were cut."""
    parser = make_parser(fmt, name="t", runner_type="t")
    for line in lines:
        parser.feed(line)
    parsed = parser.summary()
    model = parsed.model()
    assert [item._asdict() for item in parsed.cases] == [item.model_dump() for item in model.test_cases]
    assert any("... [truncated " in item.name for item in parsed.cases)
