"""Fuzzing the result frame (packgate.wrapper): a Collector fed any mix of marker lines (with the
execution's nonce and with others), base64, gzip data whole, cut or corrupted, and plain output
never raises, and `judge` always answers with a sound TestSuiteResult; a frame encoded as the
wrapper script encodes it (gzip, then base64 in 76-character lines) decodes to exactly the
result file; a frame cut, rotated or changed is a runner error unless what arrived is the file."""

from __future__ import annotations

import base64
import gzip
import hashlib

import pytest
from fuzzlib import FUZZ, any_text, check_suite, format_line, hard_limit, number
from hypothesis import event, given
from hypothesis import strategies as st

from packgate.parsing import LINE_LIMIT, LineSplitter, ResultFormat, make_parser
from packgate.results import RunStatus, TestSuiteResult, suite_from_counts
from packgate.wrapper import WRAPPER_SCRIPT, Collector, judge, new_collector

pytestmark = pytest.mark.unit

NONCE = "5c2d9e0a7f314b68"
PATH = "results/junit.xml"


def test_markers_here_are_the_wrapper_scripts() -> None:
    """The frames built below use the markers and commands the real wrapper script prints."""
    for piece in (
        'echo "packgate:result-begin $PACKGATE_NONCE $pg_file gzip+base64"',
        'gzip -c < "$pg_file" | base64',
        'echo "packgate:result-end $PACKGATE_NONCE ${pg_sum:--} ${pg_size:--}"',
        'echo "packgate:exit $PACKGATE_NONCE $rc"',
        'echo "packgate:result-missing $PACKGATE_NONCE $pg_file"',
    ):
        assert piece in WRAPPER_SCRIPT


def encode(data: bytes, *, level: int = 6, mtime: int = 0) -> list[str]:
    """`gzip -c | base64`: the file compressed, then base64 in lines of 76 characters."""
    return base64.encodebytes(gzip.compress(data, compresslevel=level, mtime=mtime)).decode().splitlines(True)


def frame(data: bytes, *, nonce: str = NONCE, path: str = PATH, digest: bool = True, size: bool = True) -> list[str]:
    """What the wrapper prints after the runner's own output: the frame, then the exit line."""
    return [
        f"packgate:result-begin {nonce} {path} gzip+base64\n",
        *encode(data),
        f"packgate:result-end {nonce} {hashlib.sha256(data).hexdigest() if digest else '-'} "
        f"{len(data) if size else '-'}\n",
        f"packgate:exit {nonce} 0\n",
    ]


# -- strategies ----------------------------------------------------------------------------------

nonce = st.sampled_from([NONCE, NONCE, NONCE, "0" * 16, NONCE.upper(), NONCE[:-1], NONCE + "0", "", " " + NONCE])
path = st.one_of(st.just(PATH), st.text(st.characters(exclude_characters="\n\r"), max_size=30))
encoding = st.sampled_from(["gzip+base64", "plain", "", "gzip", "GZIP+BASE64", "gzip+base64 x", "base64"])
digest = st.one_of(st.just("-"), st.text("0123456789abcdefABCDEF", min_size=64, max_size=64), any_text)

marker = st.one_of(
    st.builds(lambda n, p, e: f"packgate:result-begin {n} {p} {e}", nonce, path, encoding),
    st.builds(
        lambda n, fields: " ".join([f"packgate:result-end {n}", *fields]),
        nonce,
        st.lists(st.one_of(digest, number), max_size=3),
    ),
    st.builds(lambda n, p: f"packgate:result-missing {n} {p}", nonce, path),
    st.builds(lambda n, code: f"packgate:exit {n} {code}", nonce, number),
)
base64_line = st.one_of(
    st.binary(max_size=57).map(lambda raw: base64.b64encode(raw).decode()),
    st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=", max_size=80),
)
gzip_lines = st.builds(
    lambda raw, flips: [
        line
        for line in base64.encodebytes(bytes(b ^ flips.get(i, 0) for i, b in enumerate(gzip.compress(raw, mtime=0))))
        .decode()
        .splitlines()
    ],
    st.one_of(st.binary(max_size=300), format_line.map(str.encode)),
    st.dictionaries(st.integers(0, 40), st.integers(1, 255), max_size=3),
)
"""Base64 lines of gzip data, whole or with bytes flipped."""

output_line = st.one_of(marker, marker, base64_line, any_text, format_line)


@st.composite
def wrapper_output(draw: st.DrawFn) -> list[str]:
    """Lines a runner's log could hold: random ones, and frames (whole, corrupt, of random or
    format-like files) with random lines inserted, dropped or repeated."""
    lines: list[str] = []
    for _ in range(draw(st.integers(0, 4), label="blocks")):
        kind = draw(st.sampled_from(["lines", "frame", "gzip"]), label="block")
        if kind == "lines":
            lines += draw(st.lists(output_line, max_size=8))
        elif kind == "gzip":
            lines += draw(gzip_lines)
        else:
            data = draw(st.one_of(st.binary(max_size=400), format_line.map(str.encode)), label="file")
            framed = [
                line.rstrip("\n")
                for line in frame(
                    data, nonce=draw(nonce), path=draw(path), digest=draw(st.booleans()), size=draw(st.booleans())
                )
            ]
            if draw(st.booleans(), label="odd size and exit code"):
                framed[-2] = framed[-2].rpartition(" ")[0] + " " + draw(number)
                framed[-1] = framed[-1].rpartition(" ")[0] + " " + draw(number)
            lines += framed
    for _ in range(draw(st.integers(0, 3), label="edits")):
        at = draw(st.integers(0, len(lines)), label="at")
        edit = draw(st.sampled_from(["insert", "drop", "repeat", "cut"]), label="edit")
        if edit == "insert":
            lines.insert(at, draw(output_line))
        elif lines and at < len(lines):
            if edit == "drop":
                del lines[at]
            elif edit == "repeat":
                lines.insert(at, lines[at])
            else:
                lines[at] = lines[at][: draw(st.integers(0, len(lines[at])))]
    return lines


class Recorder:
    """A LineParser that keeps exactly what it was fed (the decoded result file)."""

    def __init__(self) -> None:
        self.pieces: list[str] = []

    def feed(self, line: str) -> None:
        self.pieces.append(line)

    def feed_partial(self, piece: str) -> None:
        self.pieces.append(piece)

    def result(self) -> TestSuiteResult:
        return suite_from_counts("r", "fuzz", passed=1, failed=0, skipped=0, duration_ms=0, cases=[])

    def text(self) -> str:
        return "".join(self.pieces)


def as_received(data: bytes) -> str:
    """What a result file reaches its parser as: decoded (errors replaced), a last newline added."""
    text = data.decode("utf-8", errors="replace")
    return text + "\n" if text and not text.endswith("\n") else text


# -- any output ----------------------------------------------------------------------------------


@FUZZ
@given(
    lines=wrapper_output(),
    fmt=st.sampled_from([f.value for f in ResultFormat]),
    result_path=st.one_of(st.none(), st.just(PATH)),
    log_limit=st.one_of(st.none(), st.integers(0, 4096)),
    limit=st.one_of(st.just(LINE_LIMIT), st.integers(1, 100)),
    exit_code=st.one_of(st.none(), st.integers(-(2**63), 2**63)),
)
def test_any_output_is_judged_without_raising(
    lines: list[str], fmt: str, result_path: str | None, log_limit: int | None, limit: int, exit_code: int | None
) -> None:
    """Whatever the log holds, fed line by line or in pieces as the log reader splits it: the
    collector takes it and `judge` returns a sound suite; without a begin marker carrying the
    execution's nonce, a declared result file is never found (a test cannot forge one)."""
    with hard_limit():
        collector = new_collector(
            NONCE, name="fuzz", runner_type="fuzz", result_format=fmt, result_path=result_path, log_limit=log_limit
        )
        splitter = LineSplitter(limit)
        for piece in [*splitter.split("\n".join(lines)), *splitter.close()]:
            collector.feed_piece(piece)
        suite = judge(collector, exit_code=exit_code)
    check_suite(suite)
    event(f"status {suite.status}")
    if result_path is not None and not any(line.startswith(f"packgate:result-begin {NONCE} ") for line in lines):
        assert suite.status is RunStatus.ERROR


@FUZZ
@given(lines=st.lists(st.tuples(st.sampled_from(["feed", "partial", "piece"]), output_line), max_size=30))
def test_any_calls_in_any_order(lines: list[tuple[str, str]]) -> None:
    """`feed`, `feed_partial` and `feed_piece` in any order with any text (marker lines too), then
    `judge` twice: never an exception, the same answer both times."""
    with hard_limit():
        collector = new_collector(NONCE, name="fuzz", runner_type="fuzz", result_format="junit", result_path=PATH)
        for call, text in lines:
            getattr(collector, {"feed": "feed", "partial": "feed_partial", "piece": "feed_piece"}[call])(text)
        first = judge(collector)
        assert judge(collector) == first
    check_suite(first)


# -- frames of real files ------------------------------------------------------------------------

result_file = st.one_of(
    st.binary(max_size=2000),
    st.lists(format_line, max_size=30).map(lambda lines: "\n".join(lines).encode()),
    st.builds(
        lambda unit, times: unit * times,
        st.binary(min_size=1, max_size=40),
        st.one_of(st.sampled_from([2000, 6000]), st.integers(1, 6000)),
    ),
)
"""A result file: random bytes (invalid UTF-8 too), format-like text, or a long repetitive file
(a line longer than 64 KiB reaches the parser in pieces)."""


@FUZZ
@given(
    data=result_file,
    level=st.integers(0, 9),
    mtime=st.integers(0, 2**32 - 1),
    send_digest=st.booleans(),
    file_path=path,
    limit=st.one_of(st.just(LINE_LIMIT), st.integers(1, 100)),
)
def test_frame_round_trips_exactly(
    data: bytes, level: int, mtime: int, send_digest: bool, file_path: str, limit: int
) -> None:
    """A result file framed by the real encoder (any compression level and timestamp, the base64
    lines whole or in pieces) reaches the result parser exactly as the file's text."""
    recorder = Recorder()
    collector = Collector(
        nonce=NONCE,
        name="fuzz",
        runner_type="fuzz",
        plain=make_parser("auto", name="fuzz", runner_type="fuzz"),
        framed=recorder,
        declared_path=file_path,
    )
    with hard_limit():
        collector.feed("collected 3 items\n")
        collector.feed(f"packgate:result-begin {NONCE} {file_path} gzip+base64\n")
        splitter = LineSplitter(limit)
        encoded = "".join(encode(data, level=level, mtime=mtime))
        for piece in [*splitter.split(encoded), *splitter.close()]:
            collector.feed_piece(piece)
        sent = hashlib.sha256(data).hexdigest() if send_digest else "-"
        collector.feed(f"packgate:result-end {NONCE} {sent} {len(data)}\n")
        collector.feed(f"packgate:exit {NONCE} 0\n")
        suite = judge(collector)
    event("file over 64 KiB" if len(data) > LINE_LIMIT else "file within 64 KiB")
    assert (collector.damage(), collector.result_path, recorder.text()) == (None, file_path, as_received(data))
    assert (suite.status, suite.exit_code) == (RunStatus.PASSED, 0)


@FUZZ
@given(lines=st.lists(format_line, min_size=1, max_size=30))
def test_framed_file_is_judged_like_the_file_itself(lines: list[str]) -> None:
    """A format-like result file in a frame gets the verdict its own text gets from the same
    parser (the frame adds nothing and loses nothing).  Without carriage returns: plain output
    lines lose theirs at the collector, a file's lines keep them."""
    data = "\n".join(lines).replace("\r", "").encode()
    with hard_limit():
        collector = new_collector(NONCE, name="fuzz", runner_type="fuzz", result_format="auto", result_path=PATH)
        splitter = LineSplitter()
        for piece in [*splitter.split("".join(["output\n", *frame(data)])), *splitter.close()]:
            collector.feed_piece(piece)
        framed = judge(collector)
        direct = new_collector(NONCE, name="fuzz", runner_type="fuzz", result_format="auto", result_path=None)
        whole = LineSplitter()
        for piece in [*whole.split(as_received(data) + f"packgate:exit {NONCE} 0\n"), *whole.close()]:
            direct.feed_piece(piece)
        plain = judge(direct)
    check_suite(framed)
    if plain.status is RunStatus.ERROR:  # nothing recognisable: both say so, with their own tails
        assert (framed.status, framed.total) == (RunStatus.ERROR, plain.total)
    else:
        assert framed == plain


@FUZZ
@given(
    data=result_file,
    keep=st.floats(0, 1),
    side=st.sampled_from(["end", "start"]),
    send_digest=st.booleans(),
)
def test_cut_or_rotated_frame_is_a_runner_error(data: bytes, keep: float, side: str, send_digest: bool) -> None:
    """The log cut inside the frame (its end never arrives) or rotated inside it (its start is
    gone): a runner error, never a verdict on part of the file."""
    text = "".join(["collected 3 items\n", *frame(data, digest=send_digest)])
    begin = text.index("\n", text.index("packgate:result-begin")) + 1  # the frame opened
    end = text.index("packgate:result-end")
    at = begin + int((end - begin) * keep)
    kept = text[:at] if side == "end" else text[at:]
    with hard_limit():
        collector = new_collector(NONCE, name="fuzz", runner_type="fuzz", result_format="junit", result_path=PATH)
        splitter = LineSplitter()
        for piece in [*splitter.split(kept), *splitter.close()]:
            collector.feed_piece(piece)
        suite = judge(collector)
    check_suite(suite)
    assert (suite.status, "arrived damaged" in (suite.error or "")) == (RunStatus.ERROR, True)


@FUZZ
@given(
    data=result_file,
    edits=st.lists(
        st.tuples(st.sampled_from(["flip", "drop", "repeat", "swap", "insert"]), st.integers(0, 1 << 16), base64_line),
        min_size=1,
        max_size=3,
    ),
    send_digest=st.booleans(),
    send_size=st.booleans(),
)
def test_changed_frame_is_an_error_unless_the_file_arrived_whole(
    data: bytes, edits: list[tuple[str, int, str]], send_digest: bool, send_size: bool
) -> None:
    """Base64 lines of the frame changed, dropped, repeated, swapped or added: either the runner
    is an error naming the damage, or what reached the parser is exactly the file (a change gzip
    does not check, in its header's timestamp, say)."""
    lines = frame(data, digest=send_digest, size=send_size)
    body = lines[1:-2]
    for edit, at, other in edits:
        at %= len(body)
        if edit == "flip":
            line = body[at]
            pos = at % max(1, len(line) - 1)
            body[at] = line[:pos] + ("A" if line[pos] != "A" else "B") + line[pos + 1 :]
        elif edit == "drop" and len(body) > 1:
            del body[at]
        elif edit == "repeat":
            body.insert(at, body[at])
        elif edit == "swap":
            body[at], body[-1] = body[-1], body[at]
        elif edit == "insert":
            body.insert(at, other + "\n")
    recorder = Recorder()
    collector = Collector(
        nonce=NONCE,
        name="fuzz",
        runner_type="fuzz",
        plain=make_parser("auto", name="fuzz", runner_type="fuzz"),
        framed=recorder,
        declared_path=PATH,
    )
    with hard_limit():
        for line in [lines[0], *body, *lines[-2:]]:
            collector.feed(line)
        suite = judge(collector)
    check_suite(suite)
    event("arrived whole" if collector.damage() is None else "damaged")
    if collector.damage() is None:
        assert (suite.status, recorder.text()) == (RunStatus.PASSED, as_received(data))
    else:
        assert (suite.status, "arrived damaged" in (suite.error or "")) == (RunStatus.ERROR, True)
