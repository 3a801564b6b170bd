"""Fuzzing every parser (simple, TAP, JUnit, unittest, pytest, auto-detection) through the public
entry points `make_parser` and `parse_lines`: whatever text or bytes they are fed, they return a
sound TestSuiteResult or raise Packgate's own one-line ParseError (never another exception), and
they finish within the hypothesis deadline (never a hang, never a regular expression gone
exponential on one line)."""

from __future__ import annotations

import re
from functools import cache
from xml.sax.saxutils import escape, quoteattr

import pytest
from fuzzlib import (
    FUZZ,
    any_text,
    check_suite,
    decimal,
    feed_ops,
    fixture_files,
    format_line,
    format_lines,
    hard_limit,
    number,
    result_or_parse_error,
    stuffed_line,
)
from hypothesis import event, given
from hypothesis import strategies as st

from packgate.errors import ParseError
from packgate.parsing import LINE_LIMIT, LineSplitter, ResultFormat, make_parser, parse_lines
from packgate.parsing import pytest as pytest_parser
from packgate.parsing import simple as simple_parser
from packgate.parsing._common import strip_ansi

pytestmark = pytest.mark.unit

FORMATS = [fmt.value for fmt in ResultFormat]
max_cases = st.one_of(st.just(10_000), st.integers(0, 3))


def run_every_format(ops: list[tuple[bool, str]], cases: int = 10_000) -> None:
    """Feed `ops` to a fresh parser of every format, then ask each for its result."""
    with hard_limit():
        for fmt in FORMATS:
            parser = make_parser(fmt, name="fuzz", runner_type="fuzz", max_cases=cases)
            for complete, text in ops:
                if complete:
                    parser.feed(text)
                else:
                    parser.feed_partial(text)
            result_or_parse_error(parser, max_cases=cases)


def pieces_of(text: str, limit: int) -> list[tuple[bool, str]]:
    """`text` as the log reader hands it over: lines, and pieces of lines longer than `limit`."""
    splitter = LineSplitter(limit)
    return [(piece.endswith("\n"), piece) for piece in [*splitter.split(text), *splitter.close()]]


@FUZZ
@given(ops=feed_ops, cases=max_cases)
def test_any_text_fed_in_lines_and_pieces(ops: list[tuple[bool, str]], cases: int) -> None:
    """Random unicode (control characters, escapes, line separators) and format-like lines, fed as
    whole lines or pieces of lines: a result or a ParseError, from every format."""
    run_every_format(ops, cases)


@FUZZ
@given(
    chunks=st.lists(
        st.one_of(st.binary(max_size=64), format_line.map(lambda line: line.encode() + b"\n")), max_size=30
    ),
    limit=st.one_of(st.just(LINE_LIMIT), st.integers(1, 64)),
)
def test_any_bytes_decoded_like_a_log(chunks: list[bytes], limit: int) -> None:
    """Random bytes (invalid UTF-8 included) mixed with format-like lines, decoded with errors
    replaced and split as the log reader splits them (`LineSplitter`)."""
    text = b"".join(chunks).decode("utf-8", errors="replace")
    run_every_format(pieces_of(text, limit))


@FUZZ
@given(lines=format_lines)
def test_format_like_lines_through_parse_lines(lines: list[str]) -> None:
    """Lines built from every format's syntax, huge and malformed numbers included, through
    `parse_lines`: a result or a ParseError."""
    with hard_limit():
        for fmt in FORMATS:
            try:
                suite = parse_lines(lines, fmt, name="fuzz", runner_type="fuzz")
            except ParseError as exc:
                assert "\n" not in str(exc)
            else:
                check_suite(suite)


@cache
def fixture_bytes() -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in fixture_files()}


@FUZZ
@given(data=st.data())
def test_truncated_and_mutated_real_fixtures(data: st.DataObject) -> None:
    """A real tool's output (tests/fixtures/parsing), cut at any byte and with bytes changed,
    inserted or removed: a result or a ParseError, from every format."""
    files = fixture_bytes()
    raw = files[data.draw(st.sampled_from(sorted(files)), label="fixture")]
    raw = raw[: int(len(raw) * data.draw(st.one_of(st.just(1.0), st.floats(0, 1)), label="keep (fraction)"))]
    edits = data.draw(
        st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 8), st.binary(max_size=6)), max_size=4),
        label="edits (at, delete, insert)",
    )
    for at, delete, insert in edits:
        at = at % (len(raw) + 1)
        raw = raw[:at] + insert + raw[at + delete :]
    limit = data.draw(st.one_of(st.just(LINE_LIMIT), st.integers(1, 80)), label="piece limit")
    run_every_format(pieces_of(raw.decode("utf-8", errors="replace"), limit))


# -- JUnit XML -----------------------------------------------------------------------------------

TAGS = (
    "testsuites",
    "testsuite",
    "testcase",
    "failure",
    "error",
    "skipped",
    "system-out",
    "system-err",
    "properties",
    "property",
    "flakyFailure",
    "rerunFailure",
    "x",
)
ATTRIBUTES = ("name", "classname", "time", "tests", "failures", "errors", "skipped", "disabled", "message", "type")
RAW_XML = (
    "&amp;",
    "&lt;",
    "&#65;",
    "&#x1F600;",
    "&#0;",
    "&#xD800;",
    "&undefined;",
    "<![CDATA[x < y]]>",
    "<!-- c -->",
    "<?pi x?>",
    "<",
    "&",
    "]]>",
    "\x00",
    "\x1b[31m",
)

attribute_value = st.one_of(number, decimal, any_text)
attributes = st.dictionaries(st.sampled_from(ATTRIBUTES), attribute_value, max_size=4)
xml_text = st.one_of(any_text.map(escape), st.sampled_from(RAW_XML))


def element(tag: str, attrs: dict[str, str], children: list[str]) -> str:
    # quoteattr would keep control characters that XML refuses: exactly what a fuzzer wants
    opening = tag + "".join(f" {key}={quoteattr(value)}" for key, value in attrs.items())
    return f"<{opening}>{''.join(children)}</{tag}>" if children else f"<{opening}/>"


xml_tree = st.recursive(
    xml_text,
    lambda children: st.builds(element, st.sampled_from(TAGS), attributes, st.lists(children, max_size=4)),
    max_leaves=25,
)
junit_root = st.builds(
    element,
    st.sampled_from(["testsuites", "testsuite", "testsuites", "testsuite", "testcase", "x"]),
    attributes,
    st.lists(xml_tree, max_size=5),
)


def nested(depth: int, inner: str) -> str:
    """`inner` inside `depth` testsuites under one testsuites root."""
    return "<testsuites>" + "<testsuite>" * depth + inner + "</testsuite>" * depth + "</testsuites>"


xml_document = st.builds(
    lambda prolog, doctype, root: prolog + doctype + root,
    st.sampled_from(["", '<?xml version="1.0" encoding="utf-8"?>\n', '<?xml version="1.0" encoding="latin-1"?>']),
    st.sampled_from(["", "", "", "<!DOCTYPE testsuite>", '<!DOCTYPE t [<!ENTITY a "aaaa">]>']),
    st.one_of(junit_root, st.builds(nested, st.integers(0, 300), xml_tree)),
)


@FUZZ
@given(
    before=st.lists(format_line, max_size=3),
    documents=st.lists(xml_document, min_size=1, max_size=3),
    after=st.lists(format_line, max_size=3),
    newlines=st.booleans(),
    cut=st.none() | st.floats(0, 1),
    limit=st.one_of(st.just(LINE_LIMIT), st.integers(1, 80)),
)
def test_generated_junit_xml(
    before: list[str], documents: list[str], after: list[str], newlines: bool, cut: float | None, limit: int
) -> None:
    """JUnit-like XML (any nesting of the report's elements, odd attributes, entities, CDATA,
    DOCTYPEs, nesting past the 256 limit, several documents, noise around it, cut anywhere), on
    one line or one element per line: a result or a ParseError, from every format."""
    xml = "".join(documents)
    if newlines:
        xml = xml.replace("><", ">\n<")
    if cut is not None:
        xml = xml[: int(len(xml) * cut)]
    text = "\n".join([*before, xml, *after]) + "\n"
    run_every_format(pieces_of(text, limit))


# -- long lines ----------------------------------------------------------------------------------


@FUZZ
@given(line=stuffed_line(), line_end=st.sampled_from(["\n", "\r\n", ""]))
def test_long_stuffed_lines_stay_fast(line: str, line_end: str) -> None:
    """A line of any format with one field stuffed with up to 64 KiB of spaces, separators,
    brackets, digits or status words (what makes a regular expression backtrack), fed to
    auto-detection, which feeds every format: done within the deadline."""
    event(f"line of {'over 16' if len(line) > 16384 else 'up to 16'} KiB")
    with hard_limit():
        parser = make_parser("auto", name="fuzz", runner_type="fuzz")
        for complete, piece in pieces_of(line + line_end, LINE_LIMIT):
            if complete:
                parser.feed(piece)
            else:
                parser.feed_partial(piece)
        result_or_parse_error(parser)


def test_fixtures_are_found() -> None:
    """The fixture strategy has the real outputs to draw from (an empty glob would fuzz nothing)."""
    assert len(fixture_bytes()) >= 20


# -- the linear patterns read what the backtracking ones read --------------------------------------

# The patterns before fuzzing found them slow on long lines (see test_fuzz_regressions.py), kept
# here as the specification of what the faster ones must still read.
OLD_VERBOSE = re.compile(r"^(\S.*?::\S.*?) (PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)(?: \((.*)\))?\s+\[\s*\d+%\]$")
OLD_XDIST = re.compile(r"^\[gw\d+\] \[\s*\d+%\] (PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS) (\S.*?::\S.*?)\s*$")
OLD_FIELD = re.compile(r"^[^\w]*(total tests|passed|failed|skipped)\s*:\s*(\d{1,12})\s*[^\w]*$", re.IGNORECASE)

PYTEST_PIECES = (
    "a",
    "b",
    ":",
    "::",
    " ",
    "  ",
    "\t",
    "(",
    ")",
    "[",
    "]",
    "%",
    "5",
    "50",
    " PASSED",
    " SKIPPED",
    " XFAIL",
)
SIMPLE_PIECES = ("Passed", "Total Tests", "failed", ":", " ", "\t", "1", "12", "x", "!", "-", "*", "\x1b[0m")


def groups(match: re.Match[str] | None) -> tuple[str | None, ...] | None:
    return None if match is None else tuple(group or None for group in match.groups())


@FUZZ
@given(
    pytest_line=st.lists(st.sampled_from(PYTEST_PIECES), max_size=14).map("".join),
    progress=st.sampled_from(["", " [ 50%]", " [100%]", "  [5%]", "[5%]", " [ 5%] x"]),
    xdist=st.sampled_from(["", "[gw0] [ 50%] PASSED ", "[gw12] [100%] FAILED "]),
    simple_line=st.lists(st.sampled_from(SIMPLE_PIECES), max_size=10).map("".join),
)
def test_linear_patterns_read_what_the_backtracking_ones_read(
    pytest_line: str, progress: str, xdist: str, simple_line: str
) -> None:
    """On short lines (where the old patterns were quick) the pytest verbose and xdist lines and
    the simple summary's fields give the same groups as before the fixes."""
    verbose = (pytest_line + progress).rstrip()  # as PytestParser._line passes it on
    assert groups(pytest_parser._verbose_match(verbose)) == groups(OLD_VERBOSE.match(verbose))
    worker = (xdist + pytest_line).rstrip()
    assert groups(pytest_parser._XDIST.match(worker)) == groups(OLD_XDIST.match(worker))
    field = strip_ansi(simple_line).strip()  # as SimpleParser._line passes it on
    assert groups(simple_parser._FIELD.match(field)) == groups(OLD_FIELD.match(field))
