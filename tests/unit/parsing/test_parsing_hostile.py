"""Hostile and broken inputs: the parsers stay safe (no entity expansion, no file reads), bounded,
and answer garbage with a one-line ParseError."""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

import pytest
from parsinglib import PYTHON, REPO

from packgate.errors import ParseError
from packgate.parsing import make_parser, parse_lines
from packgate.results import RunStatus, TestStatus

pytestmark = pytest.mark.unit

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<testsuite name="x" tests="1"><testcase name="t"><failure message="&lol9;"/></testcase></testsuite>
"""

EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE testsuite [ <!ENTITY secret SYSTEM "file:///etc/passwd"> ]>
<testsuite name="x" tests="1"><testcase name="t"><failure>&secret;</failure></testcase></testsuite>
"""

UNDEFINED_ENTITY = """<testsuite name="x"><testcase name="t"><failure>&secret;</failure></testcase></testsuite>"""

TWO_CASES = """<?xml version="1.0" encoding="UTF-8"?>
<testsuites>
  <testsuite name="s" tests="3">
    <testcase classname="m" name="one" time="0.5"/>
    <testcase classname="m" name="two"><failure message="boom">trace</failure></testcase>
    <testcase classname="m" name="thr"""


def test_billion_laughs_is_refused_without_expansion() -> None:
    """A DOCTYPE declaring nested entities is refused outright, never expanded."""
    with pytest.raises(ParseError) as caught:
        parse_lines(BILLION_LAUGHS.splitlines(True), "junit")
    assert "DOCTYPE" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_billion_laughs_under_auto_detection_is_refused() -> None:
    """Auto-detection does not fall back to expanding the entities either."""
    with pytest.raises(ParseError):
        parse_lines(BILLION_LAUGHS.splitlines(True))


def test_external_entity_is_never_resolved() -> None:
    """A SYSTEM entity pointing at /etc/passwd is refused and its content never appears."""
    with pytest.raises(ParseError) as caught:
        parse_lines(EXTERNAL_ENTITY.splitlines(True), "junit")
    assert "root:" not in str(caught.value)


def test_external_entity_file_is_not_opened(tmp_path: Path) -> None:
    """Parsing an XML with an external entity never opens the file it names (strace-free: the
    entity points at a FIFO, which would block any reader forever)."""
    fifo = tmp_path / "trap"
    os.mkfifo(fifo)
    xml = EXTERNAL_ENTITY.replace("file:///etc/passwd", f"file://{fifo}")
    script = textwrap.dedent(
        f"""
        from packgate.parsing import parse_lines
        from packgate.errors import ParseError
        try:
            parse_lines({xml!r}.splitlines(True), "junit")
        except ParseError:
            print("refused")
        """
    )
    done = subprocess.run([PYTHON, "-c", script], capture_output=True, text=True, timeout=30, check=False)
    assert (done.returncode, done.stdout.strip()) == (0, "refused")


def test_undefined_entity_is_an_error_not_a_lookup() -> None:
    """An entity reference without a DTD is malformed XML, reported as a ParseError."""
    with pytest.raises(ParseError):
        parse_lines([UNDEFINED_ENTITY], "junit")


def test_truncated_xml_keeps_complete_cases_as_an_error() -> None:
    """Cut-off JUnit XML keeps the complete cases' counts but the suite is an error."""
    suite = parse_lines(TWO_CASES.splitlines(True), "junit")
    assert (suite.total, suite.passed, suite.failed, suite.status) == (2, 1, 1, RunStatus.ERROR)
    assert suite.error is not None and "truncated" in suite.error


def test_truncated_xml_without_a_complete_case_is_a_parse_error() -> None:
    """Cut-off JUnit XML with no complete case is nothing recognisable."""
    with pytest.raises(ParseError):
        parse_lines(['<?xml version="1.0"?>\n', '<testsuite name="s"><testcase name="a"'], "junit")


def test_non_junit_xml_is_not_recognised() -> None:
    """XML whose root is not testsuite(s) is a ParseError."""
    with pytest.raises(ParseError):
        parse_lines(['<?xml version="1.0"?><html><body>hi</body></html>'], "junit")


def test_deep_nesting_is_refused() -> None:
    """Elements nested deeper than the bound are refused instead of growing a stack."""
    with pytest.raises(ParseError):
        parse_lines(["<testsuites>" + "<testsuite>" * 10_000], "junit")


@pytest.mark.parametrize("fmt", ["auto", "simple", "tap", "junit", "unittest", "pytest"])
def test_binary_garbage_is_a_one_line_parse_error(fmt: str) -> None:
    """Random bytes decoded with replacement raise ParseError with a one-line message."""
    import random

    rng = random.Random(42)
    data = bytes(rng.randrange(256) for _ in range(200_000)).decode("utf-8", errors="replace")
    with pytest.raises(ParseError) as caught:
        parse_lines(data.splitlines(True), fmt)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("fmt", ["auto", "simple", "tap", "junit", "unittest", "pytest"])
def test_empty_input_is_a_parse_error(fmt: str) -> None:
    """No lines at all is nothing recognisable, in every format."""
    with pytest.raises(ParseError):
        parse_lines([], fmt)


def test_tap_bail_out_makes_the_suite_an_error() -> None:
    """Bail out! ends the run: points before it count, later lines are ignored, status error."""
    lines = ["TAP version 14", "1..4", "ok 1 - a", "not ok 2 - b", "Bail out! no database", "ok 3 - c"]
    suite = parse_lines(lines, "tap")
    assert (suite.total, suite.passed, suite.failed, suite.status) == (2, 1, 1, RunStatus.ERROR)
    assert suite.error == "Bail out! no database"


def test_tap_missing_planned_tests_count_as_a_failure() -> None:
    """A plan promising more points than arrived adds one failed 'TAP plan' case."""
    suite = parse_lines(["1..3", "ok 1 - a"], "tap")
    assert (suite.total, suite.passed, suite.failed) == (2, 1, 1)
    assert suite.test_cases[-1].name == "TAP plan"


def test_tap_failing_parent_without_failing_leaves_is_one_failure() -> None:
    """A parent that fails while its leaves pass (a hook failed) is not lost."""
    lines = ["# Subtest: suite", "    ok 1 - a", "    1..1", "not ok 1 - suite", "1..1"]
    suite = parse_lines(lines, "tap")
    assert (suite.total, suite.passed, suite.failed) == (2, 1, 1)


def test_max_cases_keeps_failures_first_and_counts_everything() -> None:
    """Over max_cases, failing cases replace passing ones; counts still cover every case."""
    lines = [f"ok {i} - pass {i}" for i in range(1, 101)] + ["not ok 101 - broken", "1..101"]
    suite = parse_lines(lines, "tap", max_cases=10)
    assert (suite.total, suite.passed, suite.failed, len(suite.test_cases)) == (101, 100, 1, 10)
    assert [c.name for c in suite.test_cases if c.status is TestStatus.FAILED] == ["broken"]


def test_long_texts_are_truncated() -> None:
    """A huge failure message is cut to 4 KiB, mark included, and the mark counts every byte cut."""
    body = "x" * 1_000_000
    suite = parse_lines([f'<testsuite><testcase name="t"><failure>{body}</failure></testcase></testsuite>'], "junit")
    message = suite.test_cases[0].error_message or ""
    kept, _, mark = message.partition("\n... [truncated ")
    assert (len(message) <= 4096, len(kept) > 4000, set(kept), int(mark.removesuffix(" bytes]")) + len(kept)) == (
        True,
        True,
        {"x"},
        1_000_000,
    )


def test_a_huge_line_fed_in_pieces_stays_bounded() -> None:
    """A line fed with feed_partial is kept to at most 64 KiB by the text parsers."""
    parser = make_parser("tap", name="t", runner_type="t")
    for _ in range(1000):
        parser.feed_partial("ok " + "y" * 10_000)  # type: ignore[attr-defined]
    parser.feed("\n")
    suite = parser.result()
    assert suite.total == 1 and len(suite.test_cases[0].name) < 2000


RSS_SCRIPT = """
import resource, sys
from packgate.parsing import make_parser

def lines(fmt):
    # about 100 MB of output, generated line by line
    size, i = 0, 0
    if fmt == "tap":
        yield "TAP version 14\\n"
    while size < 100 * 1024 * 1024:
        i += 1
        if fmt == "tap":
            line = f"{'not ok' if i % 97 == 0 else 'ok'} {i} - case number {i} with a longish description\\n"
            if i % 97 == 0:
                yield line
                yield "  ---\\n"
                line = "  message: " + "z" * 300 + "\\n"
                size += len(line)
                yield line
                line = "  ...\\n"
        else:
            line = f'<testcase classname="pkg.mod" name="test_{i}" time="0.001"/>\\n'
            if i == 1:
                line = '<?xml version="1.0"?><testsuites><testsuite name="big">' + line
        size += len(line)
        yield line
    if fmt == "tap":
        yield f"1..{i}\\n"
    else:
        yield "</testsuite></testsuites>\\n"

fmt, mode = sys.argv[1], sys.argv[2]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
parser = make_parser(mode, name="big", runner_type="t")
for line in lines(fmt):
    parser.feed(line)
suite = parser.result()
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(suite.total, suite.failed, len(suite.test_cases), (after - before) // 1024)
"""


@pytest.mark.parametrize(("fmt", "mode"), [("tap", "auto"), ("junit", "junit")])
def test_100_mb_log_is_parsed_with_bounded_memory(fmt: str, mode: str) -> None:
    """A generated 100 MB log is parsed in a subprocess whose peak RSS grows by under 150 MB."""
    done = subprocess.run(
        [PYTHON, "-c", RSS_SCRIPT, fmt, mode], capture_output=True, text=True, timeout=600, check=True, cwd=REPO
    )
    total, failed, kept, growth_mb = (int(v) for v in done.stdout.split())
    assert total > 1_000_000
    assert kept == 10_000
    assert growth_mb < 150, f"peak RSS grew by {growth_mb} MB"
    if fmt == "tap":
        assert failed == total // 97
