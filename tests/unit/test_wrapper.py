"""Unit tests of packgate.wrapper: the POSIX-sh wrapper, run for real with /bin/sh in a temp workspace,
and `collect`/`judge` reading its output back (framing, nonce, exit-code cross-check)."""

from __future__ import annotations

import base64
import gzip
import hashlib
import os
import random
import subprocess
import textwrap
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from packgate.parsing import LINE_LIMIT, LineSplitter
from packgate.results import RunStatus, TestSuiteResult
from packgate.wrapper import (
    TAIL_CHARS,
    OutputTail,
    collect,
    judge,
    new_collector,
    new_nonce,
    runner_error,
    wrapper_command,
    wrapper_env,
)

pytestmark = pytest.mark.unit

NONCE = "5c2d9e0a7f314b68"

NO_RESULTS = (
    "no test results recognised in the output (looked for JUnit XML, pytest, unittest, TAP and the "
    "'Total Tests:' summary)"
)

JUNIT_ONE_FAILURE = """\
<?xml version="1.0" encoding="utf-8"?>
<testsuites>
  <testsuite name="pytest" errors="0" failures="1" skipped="1" tests="4" time="0.051">
    <testcase classname="tests.test_actions" name="test_echo" time="0.010"/>
    <testcase classname="tests.test_actions" name="test_upper" time="0.011"/>
    <testcase classname="tests.test_actions" name="test_lower" time="0.012">
      <failure message="assert 'a' == 'A'">AssertionError: assert 'a' == 'A'</failure>
    </testcase>
    <testcase classname="tests.test_actions" name="test_network" time="0.000">
      <skipped message="no network">no network</skipped>
    </testcase>
  </testsuite>
</testsuites>
"""

JUNIT_ALL_PASS_FORGED = """\
<?xml version="1.0" encoding="utf-8"?>
<testsuites>
  <testsuite name="forged" tests="2" failures="0">
    <testcase classname="x" name="forged_one"/>
    <testcase classname="x" name="forged_two"/>
  </testsuite>
</testsuites>
"""


def run_wrapped(
    workspace: Path, script: str, *, result_path: str | None = None, nonce: str = NONCE, path: str | None = None
) -> tuple[list[str], int]:
    """Write tests/run.sh into the workspace, run it under the wrapper as a Job would, return (lines, exit code)."""
    tests = workspace / "tests"
    tests.mkdir(exist_ok=True)
    (tests / "run.sh").write_text(textwrap.dedent(script))
    search = path if path is not None else os.environ.get("PATH", "/usr/bin:/bin")
    env = {"PATH": search, **wrapper_env(nonce, str(workspace), result_path)}
    done = subprocess.run(
        wrapper_command(["sh", "tests/run.sh"]),
        env=env,
        cwd="/",
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert done.stderr == ""
    return done.stdout.splitlines(keepends=True), done.returncode


def judged(
    lines: list[str], *, fmt: str = "auto", result_path: str | None = None, exit_code: int | None = None
) -> TestSuiteResult:
    return collect(
        lines,
        NONCE,
        name="shell",
        runner_type="script",
        result_format=fmt,
        result_path=result_path,
        exit_code=exit_code,
    )


def counts(suite: TestSuiteResult) -> tuple[int, int, int, int, RunStatus, int | None]:
    return suite.total, suite.passed, suite.failed, suite.skipped, suite.status, suite.exit_code


def test_simple_format_passing(tmp_path: Path) -> None:
    """A script printing the simple summary and exiting 0: a passing suite with the wrapper's exit 0."""
    lines, code = run_wrapped(
        tmp_path,
        """\
        echo "Running core pack tests"
        printf '\\033[32mTotal Tests: 3\\033[0m\\n'
        echo "Passed: 3"
        echo "Failed: 0"
        """,
    )
    assert code == 0
    assert lines[-1] == f"packgate:exit {NONCE} 0\n"
    assert counts(judged(lines)) == (3, 3, 0, 0, RunStatus.PASSED, 0)


def test_simple_format_failing_exit_code_kept(tmp_path: Path) -> None:
    """Failing tests and a non-zero exit: a failed suite (not an error), the wrapper exits with the tests' code."""
    lines, code = run_wrapped(
        tmp_path,
        """\
        echo "Total Tests: 4"
        echo "Passed: 3"
        echo "Failed: 1" >&2
        exit 1
        """,
    )
    assert code == 1
    suite = judged(lines)
    assert counts(suite) == (4, 3, 1, 0, RunStatus.PARTIAL, 1)
    assert suite.error is None


def test_result_file_is_framed_and_parsed(tmp_path: Path) -> None:
    """A JUnit file written to resultPath is framed with the nonce, and parsed instead of the plain output."""
    script = f"""\
    echo "Total Tests: 99"
    echo "Passed: 99"
    echo "Failed: 0"
    mkdir -p results
    cat > results/junit.xml <<'EOF'
{JUNIT_ONE_FAILURE}EOF
    exit 1
    """
    lines, code = run_wrapped(tmp_path, script, result_path="results/junit.xml")
    assert code == 1
    data = JUNIT_ONE_FAILURE.encode()
    begin = lines.index(f"packgate:result-begin {NONCE} results/junit.xml gzip+base64\n")
    assert lines[-2:] == [
        f"packgate:result-end {NONCE} {hashlib.sha256(data).hexdigest()} {len(data)}\n",
        f"packgate:exit {NONCE} 1\n",
    ]
    assert gzip.decompress(base64.b64decode("".join(lines[begin + 1 : -2]))) == data
    suite = judged(lines, fmt="junit", result_path="results/junit.xml")
    assert counts(suite) == (4, 2, 1, 1, RunStatus.PARTIAL, 1)
    assert [c.name for c in suite.test_cases if c.status == "failed"] == ["tests.test_actions.test_lower"]


def test_declared_result_path_never_written(tmp_path: Path) -> None:
    """A declared resultPath the runner never wrote: result-missing marker, an error suite naming the path."""
    lines, code = run_wrapped(
        tmp_path, 'echo "Total Tests: 1"\necho "Passed: 1"\necho "Failed: 0"\n', result_path="out/junit.xml"
    )
    assert code == 0
    assert f"packgate:result-missing {NONCE} out/junit.xml\n" in lines
    suite = judged(lines, fmt="junit", result_path="out/junit.xml")
    assert (suite.status, suite.error, suite.exit_code) == (
        RunStatus.ERROR,
        "the runner did not write out/junit.xml (exit code 0); "
        'last lines: "Total Tests: 1" | "Passed: 1" | "Failed: 0"',
        0,
    )


def test_crash_with_no_failing_test_is_an_error(tmp_path: Path) -> None:
    """Exit 3 with results that show no failing test: an error, never a pass."""
    lines, code = run_wrapped(
        tmp_path,
        """\
        echo "Total Tests: 2"
        echo "Passed: 2"
        echo "Failed: 0"
        echo "Segmentation fault (core dumped)" >&2
        exit 3
        """,
    )
    assert code == 3
    suite = judged(lines)
    assert (suite.status, suite.error, suite.exit_code) == (
        RunStatus.ERROR,
        "the runner exited with code 3 but reported no failing test; last lines: "
        '"Total Tests: 2" | "Passed: 2" | "Failed: 0" | "Segmentation fault (core dumped)"',
        3,
    )


def test_crash_without_any_result_is_an_error(tmp_path: Path) -> None:
    """Exit 3 and nothing recognisable in the output: an error suite carrying the exit code."""
    lines, code = run_wrapped(
        tmp_path,
        """\
        echo "Traceback (most recent call last):"
        echo '  File "tests/run.py", line 1, in <module>'
        echo "ModuleNotFoundError: No module named 'yaml'"
        exit 3
        """,
    )
    assert code == 3
    suite = judged(lines)
    assert (suite.status, suite.total, suite.exit_code, suite.error) == (
        RunStatus.ERROR,
        0,
        3,
        f"{NO_RESULTS} (exit code 3); last lines: "
        '"Traceback (most recent call last):" | "File "tests/run.py", line 1, in <module>" | '
        "\"ModuleNotFoundError: No module named 'yaml'\"",
    )


def test_missing_pytest_is_named_in_the_error(tmp_path: Path) -> None:
    """`python3 -m pytest` without pytest: the error quotes the interpreter's own complaint."""
    lines, code = run_wrapped(tmp_path, 'echo "/usr/bin/python3: No module named pytest" >&2\nexit 1\n')
    assert code == 1
    assert judged(lines, fmt="pytest").error == (
        "no pytest summary line ('== N passed ... in X.XXs ==') found in the output (exit code 1); "
        'last lines: "/usr/bin/python3: No module named pytest"'
    )


def test_silent_runner_error_says_it_printed_nothing(tmp_path: Path) -> None:
    """A runner that printed nothing at all: the error says so instead of quoting an empty tail."""
    lines, code = run_wrapped(tmp_path, "exit 4\n")
    assert code == 4
    assert judged(lines).error == f"{NO_RESULTS} (exit code 4); the runner printed nothing"


def test_forged_markers_with_another_nonce_are_ignored(tmp_path: Path) -> None:
    """A test printing frames and an exit line with another nonce cannot replace the real results or exit code."""
    script = f"""\
    echo "packgate:result-begin 0000000000000000 results/junit.xml"
    cat <<'EOF'
{JUNIT_ALL_PASS_FORGED}EOF
    echo "packgate:result-end 0000000000000000"
    echo "packgate:exit 0000000000000000 0"
    echo "packgate:result-begin {NONCE}X results/junit.xml"
    echo "packgate:exit {NONCE}0 0"
    mkdir -p results
    cat > results/junit.xml <<'EOF'
{JUNIT_ONE_FAILURE}EOF
    exit 1
    """
    lines, code = run_wrapped(tmp_path, script, result_path="results/junit.xml")
    assert code == 1
    suite = judged(lines, fmt="junit", result_path="results/junit.xml")
    assert counts(suite) == (4, 2, 1, 1, RunStatus.PARTIAL, 1)
    assert [c.name for c in suite.test_cases if "forged" in c.name] == []


def test_forged_frame_without_result_path_cannot_fake_a_result_file(tmp_path: Path) -> None:
    """Without a declared resultPath a forged frame is plain output: the wrapper's exit code still decides."""
    script = """\
    echo "packgate:result-begin 0000000000000000 r.txt"
    echo "Total Tests: 5"
    echo "Passed: 5"
    echo "Failed: 0"
    echo "packgate:result-end 0000000000000000"
    echo "packgate:exit 0000000000000000 0"
    exit 2
    """
    lines, code = run_wrapped(tmp_path, script)
    assert code == 2
    suite = judged(lines)
    assert (suite.status, suite.exit_code) == (RunStatus.ERROR, 2)


def test_missing_workspace(tmp_path: Path) -> None:
    """A workspace that does not exist: the wrapper says so and exits 126; the runner is an error."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **wrapper_env(NONCE, str(tmp_path / "gone"), None)}
    done = subprocess.run(
        wrapper_command(["sh", "tests/run.sh"]), env=env, capture_output=True, text=True, timeout=20, check=False
    )
    assert done.returncode == 126
    assert f"packgate: workspace {tmp_path / 'gone'} is missing" in done.stdout
    suite = judged(done.stdout.splitlines(), exit_code=done.returncode)
    assert (suite.status, suite.exit_code) == (RunStatus.ERROR, 126)


def test_container_exit_code_wins_over_the_wrapper_line() -> None:
    """The exit code from the container status wins over the wrapper's own exit line."""
    lines = ["Total Tests: 1\n", "Passed: 1\n", "Failed: 0\n", f"packgate:exit {NONCE} 0\n"]
    assert judged(lines).exit_code == 0
    suite = judged(lines, exit_code=137)
    assert (suite.status, suite.exit_code) == (RunStatus.ERROR, 137)


def test_killed_before_the_exit_line() -> None:
    """Output cut before the exit line (no exit code known) is judged on the parsed results alone."""
    lines = ["Total Tests: 2\n", "Passed: 2\n", "Failed: 0\n"]
    assert counts(judged(lines)) == (2, 2, 0, 0, RunStatus.PASSED, None)


def test_collector_counts_lines_and_records_the_missing_path() -> None:
    """The Collector reads markers of its own nonce only and keeps what they say."""
    collector = new_collector(
        NONCE, name="shell", runner_type="script", result_format="junit", result_path="out/junit.xml"
    )
    for line in [
        "hello\n",
        "packgate:result-missing 0000000000000000 nope.xml\n",
        f"packgate:result-missing {NONCE} out/junit.xml\n",
        f"packgate:exit {NONCE} 7\r\n",
    ]:
        collector.feed(line)
    assert (collector.lines, collector.result_missing, collector.exit_code, collector.saw_result) == (
        4,
        "out/junit.xml",
        7,
        False,
    )


def test_tail_keeps_plain_lines_only() -> None:
    """The tail holds the runner's own lines: not the framed result file, not this nonce's markers."""
    lines = [
        "collected 2 items\n",
        f"packgate:result-begin {NONCE} out/junit.xml\n",
        "<testsuites><testsuite tests='1'/></testsuites>\n",
        f"packgate:result-end {NONCE}\n",
        "\n",
        "packgate:exit 0000000000000000 0\n",
        f"packgate:exit {NONCE} 2\n",
    ]
    collector = new_collector(
        NONCE, name="python", runner_type="pytest", result_format="junit", result_path="out/junit.xml"
    )
    for line in lines:
        collector.feed(line)
    assert collector.tail.lines() == ["collected 2 items", "packgate:exit 0000000000000000 0"]


def test_tail_memory_is_constant() -> None:
    """However many and however long the lines, the tail keeps five of them, each cut to a bound."""
    tail = OutputTail()
    for number in range(100_000):
        tail.add(f"line {number} " + "x" * (number % 5000))
    kept = tail.lines()
    assert [line.split()[1] for line in kept] == ["99995", "99996", "99997", "99998", "99999"]
    assert max(map(len, kept)) == 2 * TAIL_CHARS


@pytest.mark.parametrize(
    ("last_lines", "expected"),
    [
        pytest.param(
            ["/usr/bin/python3: No module named pytest"],
            'why; last lines: "/usr/bin/python3: No module named pytest"',
            id="one line",
        ),
        pytest.param(["a", "b", "c"], 'why; last lines: "a" | "b" | "c"', id="oldest first"),
        pytest.param([], "why; the runner printed nothing", id="no output"),
        pytest.param(["  ", "\x1b[0m"], "why; the runner printed nothing", id="only blanks and escapes"),
        pytest.param(
            ["\x1b[31mFAILED\x1b[0m\tboom\x07", "  indented  "],
            'why; last lines: "FAILED boom" | "indented"',
            id="colours, control characters and tabs",
        ),
        pytest.param(
            ["downloading 10%\rdownloading 100%"], 'why; last lines: "downloading 100%"', id="carriage return"
        ),
        pytest.param(
            ["x" * 300, "y" * 300],
            'why; last lines: "' + "y" * 300 + '"',
            id="older lines dropped beyond the budget",
        ),
        pytest.param(
            ["z" * 2000],
            'why; last lines: "' + "z" * (TAIL_CHARS - 3) + '…"',
            id="one long line cut",
        ),
    ],
)
def test_runner_error_message(last_lines: list[str], expected: str) -> None:
    """A runner error is one line: why, then the last lines quoted, cleaned and bounded."""
    assert runner_error("why", last_lines) == expected


def test_runner_error_keeps_the_newest_lines_that_fit() -> None:
    """Five 100-character lines: the four newest fit in TAIL_CHARS with their quotes and separators."""
    lines = [str(n) * 100 for n in range(5)]
    message = runner_error("why", lines)
    tail = message.removeprefix("why; last lines: ")
    assert (tail, len(tail) <= TAIL_CHARS) == (" | ".join(f'"{line}"' for line in lines[1:]), True)


def test_new_nonce_is_fresh() -> None:
    """Every execution gets its own 16-hex-digit nonce."""
    nonces = {new_nonce() for _ in range(50)}
    assert len(nonces) == 50
    assert all(len(n) == 16 and int(n, 16) >= 0 for n in nonces)


# --- the compressed result frame ------------------------------------------------------------------


class Recording:
    """A LineParser that keeps every line and piece it is fed, to check what a frame delivers."""

    def __init__(self) -> None:
        self.pieces: list[str] = []

    def feed(self, line: str) -> None:
        self.pieces.append(line)

    def feed_partial(self, piece: str) -> None:
        self.pieces.append(piece)

    def result(self) -> TestSuiteResult:
        raise AssertionError("not a parser")


def frame_of(lines: list[str]) -> tuple[int, int]:
    """Indexes of this nonce's begin and end markers in the wrapper's output."""
    begin = next(i for i, line in enumerate(lines) if line.startswith(f"packgate:result-begin {NONCE} "))
    end = next(i for i, line in enumerate(lines) if line.startswith(f"packgate:result-end {NONCE}"))
    return begin, end


def several_mb_of_awkward_bytes() -> bytes:
    """About 4 MB: UTF-8 text with non-ASCII characters, CRLF lines, a 300 KB line, a few invalid
    UTF-8 bytes, and no final newline."""
    rng = random.Random(7)
    parts = [f"line {n} ünïcødé → {rng.random()}\r\n".encode() for n in range(60_000)]
    parts.insert(30_000, b"x" * 300_000 + b"\n")
    parts.insert(100, b"bad bytes \xff\xfe here\n")
    parts.append(bytes(rng.getrandbits(8) for _ in range(200_000)) + b"no final newline")
    return b"".join(parts)


def test_large_result_file_round_trips_byte_exact(tmp_path: Path) -> None:
    """A result file of several MB: the wrapper (real /bin/sh, gzip, base64, sha256sum) frames it in
    76-character base64 lines with its digest and size last but for the exit line; decoding the
    frame gives the same bytes, and the collector's decoder hands the parser the same text,
    line by line, a long line in pieces."""
    data = several_mb_of_awkward_bytes()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "result.txt").write_bytes(data)
    lines, code = run_wrapped(tmp_path, "echo running\n", result_path="out/result.txt")
    begin, end = frame_of(lines)
    assert (code, lines[begin], lines[end:]) == (
        0,
        f"packgate:result-begin {NONCE} out/result.txt gzip+base64\n",
        [
            f"packgate:result-end {NONCE} {hashlib.sha256(data).hexdigest()} {len(data)}\n",
            f"packgate:exit {NONCE} 0\n",
        ],
    )
    body = lines[begin + 1 : end]
    assert max(len(line) for line in body) == 77  # 76 characters and the newline
    assert gzip.decompress(base64.b64decode("".join(body))) == data

    recording = Recording()
    collector = new_collector(NONCE, name="r", runner_type="script", result_format="simple", result_path="x")
    collector.framed = recording
    for line in lines:
        collector.feed_piece(line)
    assert (collector.damage(), collector.saw_result, collector.tail.lines()) == (None, True, ["running"])
    assert "".join(recording.pieces) == data.decode("utf-8", "replace") + "\n"
    assert max(len(piece) for piece in recording.pieces) == LINE_LIMIT


def write_junit(path: Path, size: int) -> int:
    """A JUnit report of about `size` bytes, written as it is generated; one case in 1000 fails.
    Returns the number of cases."""
    cases = 0
    with path.open("w") as out:
        out.write('<?xml version="1.0" encoding="utf-8"?>\n<testsuites>\n<testsuite name="big">\n')
        written = 0
        while written < size:
            cases += 1
            if cases % 1000 == 0:
                line = (
                    f'<testcase classname="pkg.mod{cases % 7}" name="test_{cases}" time="0.002">'
                    f'<failure message="boom {cases}">AssertionError: {cases}</failure></testcase>\n'
                )
            else:
                line = f'<testcase classname="pkg.mod{cases % 7}" name="test_{cases}" time="0.001"/>\n'
            written += len(line)
            out.write(line)
        out.write("</testsuite>\n</testsuites>\n")
    return cases


def test_50_mb_junit_report_round_trips(tmp_path: Path) -> None:
    """A 50 MB JUnit report (the bug report had 18 MB cut in transit) goes through the wrapper and
    the collector whole: every case is counted, and failures are kept first."""
    (tmp_path / "results").mkdir()
    cases = write_junit(tmp_path / "results" / "junit.xml", 50 * 1024 * 1024)
    lines, code = run_wrapped(tmp_path, 'echo "collected many items"\nexit 1\n', result_path="results/junit.xml")
    assert code == 1 and sum(map(len, lines)) < 10 * 1024 * 1024  # compressed well below a log file's size
    collector = new_collector(
        NONCE, name="big", runner_type="pytest", result_format="junit", result_path="results/junit.xml"
    )
    for line in lines:
        collector.feed_piece(line)
    suite = judge(collector)
    failing = [c.name for c in suite.test_cases if c.status == "failed"]
    assert (suite.total, suite.failed, suite.status, suite.error, len(suite.test_cases)) == (
        cases,
        cases // 1000,
        RunStatus.PARTIAL,
        None,
        10_000,
    )
    assert failing[:2] == ["pkg.mod6.test_1000", "pkg.mod5.test_2000"]


def test_plain_frame_when_gzip_is_missing(tmp_path: Path) -> None:
    """In an image without gzip the wrapper falls back to the verbatim frame, marked plain, and
    the result file is still parsed."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("sh", "cat", "mkdir", "wc", "base64", "sha256sum"):
        found = subprocess.run(["sh", "-c", f"command -v {tool}"], capture_output=True, text=True, check=True)
        (bin_dir / tool).symlink_to(found.stdout.strip())
    workspace = tmp_path / "ws"
    workspace.mkdir()
    script = f"""\
    mkdir -p results
    cat > results/junit.xml <<'EOF'
{JUNIT_ONE_FAILURE}EOF
    exit 1
    """
    lines, code = run_wrapped(workspace, script, result_path="results/junit.xml", path=str(bin_dir))
    begin, end = frame_of(lines)
    assert (code, lines[begin], lines[end]) == (
        1,
        f"packgate:result-begin {NONCE} results/junit.xml plain\n",
        f"packgate:result-end {NONCE}\n",
    )
    suite = judged(lines, fmt="junit", result_path="results/junit.xml")
    assert counts(suite) == (4, 2, 1, 1, RunStatus.PARTIAL, 1)


def test_frame_of_an_older_wrapper_still_parses() -> None:
    """A begin marker without an encoding word (an older wrapper) is a verbatim frame."""
    lines = [
        f"packgate:result-begin {NONCE} results/junit.xml\n",
        *JUNIT_ONE_FAILURE.splitlines(keepends=True),
        f"packgate:result-end {NONCE}\n",
        f"packgate:exit {NONCE} 1\n",
    ]
    suite = judged(lines, fmt="junit", result_path="results/junit.xml")
    assert counts(suite) == (4, 2, 1, 1, RunStatus.PARTIAL, 1)


def test_one_line_junit_in_a_plain_frame_arrives_in_pieces() -> None:
    """pytest writes its XML on one line: in a verbatim frame a 1 MB line reaches the parser in
    64 KiB pieces, whole."""
    cases = "".join(f'<testcase classname="t" name="c{n}" time="0.001"/>' for n in range(20_000))
    xml = f'<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="p">{cases}</testsuite></testsuites>'
    splitter = LineSplitter()
    collector = new_collector(NONCE, name="p", runner_type="pytest", result_format="junit", result_path="r.xml")
    text = f"packgate:result-begin {NONCE} r.xml plain\n{xml}\npackgate:result-end {NONCE}\npackgate:exit {NONCE} 0\n"
    for piece in [*splitter.split(text), *splitter.close()]:
        collector.feed_piece(piece)
    assert (len(xml) > 1_000_000, counts(judge(collector))) == (True, (20_000, 20_000, 0, 0, RunStatus.PASSED, 0))


def framed_lines(data: bytes, *, digest: str | None = None, size: str | None = None, junk: bytes = b"") -> list[str]:
    """What the wrapper prints for a result file `data` (with `junk` after its gzip stream): some
    output, the frame, the exit line."""
    encoded = base64.encodebytes(gzip.compress(data) + junk).decode()
    return [
        "collected 4 items\n",
        f"packgate:result-begin {NONCE} results/junit.xml gzip+base64\n",
        *encoded.splitlines(keepends=True),
        f"packgate:result-end {NONCE} {digest or hashlib.sha256(data).hexdigest()} {size or len(data)}\n",
        f"packgate:exit {NONCE} 0\n",
    ]


def corrupt_middle(lines: list[str]) -> list[str]:
    """The frame with one base64 line in its middle changed to other valid base64."""
    middle = len(lines) // 2
    return [*lines[:middle], lines[middle].swapcase(), *lines[middle + 1 :]]


def drop_middle(lines: list[str]) -> list[str]:
    """The frame with a base64 line missing."""
    middle = len(lines) // 2
    return [*lines[:middle], *lines[middle + 1 :]]


BIG_JUNIT = JUNIT_ONE_FAILURE.replace(
    "  </testsuite>",
    "".join(f'    <testcase classname="tests.more" name="t{n}" time="0.{n:03d}"/>\n' for n in range(3000))
    + "  </testsuite>",
).encode()
DAMAGED = "the result file results/junit.xml arrived damaged"
BECAUSE = "the log was cut or rotated while it was printed (exit code 0)"
LAST = 'last lines: "collected 4 items"'


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        pytest.param(
            framed_lines(BIG_JUNIT, digest="0" * 64),
            f"{DAMAGED} (checksum mismatch): {BECAUSE}; {LAST}",
            id="checksum",
        ),
        pytest.param(
            framed_lines(BIG_JUNIT, size="12"),
            f"{DAMAGED} (size mismatch: 12 bytes sent, {len(BIG_JUNIT)} arrived): {BECAUSE}; {LAST}",
            id="size",
        ),
        pytest.param(
            framed_lines(BIG_JUNIT)[:-4] + framed_lines(BIG_JUNIT)[-2:],
            f"{DAMAGED} (its compressed data is cut short): {BECAUSE}; {LAST}",
            id="end cut off",
        ),
        pytest.param(
            framed_lines(BIG_JUNIT)[:-2],
            f"{DAMAGED} (its end marker never arrived): the log was cut or rotated while it was printed; {LAST}",
            id="log ends inside the frame",
        ),
        pytest.param(
            ["ZW4gbGluZQ==\n", "cGFzdCB0aGUgc3RhcnQ=\n", *framed_lines(BIG_JUNIT)[-2:]],
            f"{DAMAGED} (its start is missing): {BECAUSE}",
            id="start rotated away",
        ),
        pytest.param(
            [*framed_lines(BIG_JUNIT)[:5], "a background job printed this\n", *framed_lines(BIG_JUNIT)[5:]],
            f"{DAMAGED} (not base64 at line 4 of the frame): {BECAUSE}; {LAST}",
            id="other output mixed in",
        ),
        pytest.param(
            framed_lines(BIG_JUNIT, junk=b"more"),
            f"{DAMAGED} (data after the end of its compressed stream): {BECAUSE}; {LAST}",
            id="trailing data",
        ),
    ],
)
def test_damaged_frame_is_a_runner_error(lines: list[str], expected: str) -> None:
    """A frame cut, corrupted, rotated or mismatching its size or digest is a runner error with a
    one-line reason: never a traceback, never a verdict on part of the file."""
    suite = judged(lines, fmt="junit", result_path="results/junit.xml")
    assert (suite.status, suite.total, suite.error) == (RunStatus.ERROR, 0, expected)


@pytest.mark.parametrize("damage", [corrupt_middle, drop_middle], ids=["changed line", "missing line"])
def test_corrupted_compressed_data_is_caught(damage: Callable[[list[str]], list[str]]) -> None:
    """Changed or missing base64 lines inside the compressed data: gzip's own check or the size
    and digest catch it; the runner is an error naming the damage."""
    lines = framed_lines(BIG_JUNIT)
    frame = damage(lines[2:-2])
    suite = judged([*lines[:2], *frame, *lines[-2:]], fmt="junit", result_path="results/junit.xml")
    assert (suite.status, (suite.error or "").startswith(DAMAGED), BECAUSE in (suite.error or "")) == (
        RunStatus.ERROR,
        True,
        True,
    )


def test_intact_frame_without_sha256sum_is_checked_by_size() -> None:
    """`-` in place of the digest (no sha256sum in the image): the size and gzip's CRC still check it."""
    suite = judged(framed_lines(JUNIT_ONE_FAILURE.encode(), digest="-"), fmt="junit", result_path="results/junit.xml")
    assert counts(suite) == (4, 2, 1, 1, RunStatus.PARTIAL, 0)


def test_decompression_bomb_stays_bounded() -> None:
    """A small frame that inflates past the limit is a runner error, decoded in bounded steps."""
    squeeze = zlib.compressobj(9, zlib.DEFLATED, 31)
    bomb = b"".join(squeeze.compress(b"\0" * (1 << 20)) for _ in range(64)) + squeeze.flush()
    encoded = base64.encodebytes(bomb).decode()
    collector = new_collector(
        NONCE, name="b", runner_type="script", result_format="junit", result_path="r.xml", log_limit=8 << 20
    )
    lines = [f"packgate:result-begin {NONCE} r.xml gzip+base64\n", *encoded.splitlines(keepends=True)]
    tracemalloc.start()
    try:
        for line in [*lines, f"packgate:result-end {NONCE} - {64 << 20}\n"]:
            collector.feed_piece(line)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (len(bomb) < 100_000, peak < 4 << 20, judge(collector).error) == (
        True,
        True,
        "the result file r.xml is larger than the 8388608-byte limit once decompressed "
        "(PACKGATE_LOG_LIMIT_BYTES); the runner printed nothing",
    )


# --- reading a log of any length --------------------------------------------------------------------


def noise_then_summary(size: int) -> Iterator[str]:
    """About `size` bytes of debug output, generated line by line, then a passing simple summary."""
    written = number = 0
    while written < size:
        number += 1
        line = f"DEBUG worker[{number % 16}]: cache miss for key {number:012d}; retrying {'.' * (800 + number % 97)}\n"
        written += len(line)
        yield line
    yield from ["Total Tests: 3\n", "Passed: 3\n", "Failed: 0\n", f"packgate:exit {NONCE} 0\n"]


def test_summary_after_100_mb_of_noise_passes_in_bounded_memory() -> None:
    """The bug report: 40 MB of debug lines, then a correct summary.  After 100 MB of noise the
    summary is still found, and the collector holds no more than a few KB while reading."""
    collector = new_collector(
        NONCE, name="shell", runner_type="script", result_format="auto", result_path=None, log_limit=1 << 30
    )
    tracemalloc.start()
    try:
        for piece in noise_then_summary(100 * 1024 * 1024):
            collector.feed_piece(piece)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    suite = judge(collector)
    assert (counts(suite), collector.chars > 100 * 1024 * 1024, peak < 256 * 1024) == (
        (3, 3, 0, 0, RunStatus.PASSED, 0),
        True,
        True,
    )
    assert len(collector.tail.lines()) == 5


def test_log_over_the_limit_is_a_runner_error() -> None:
    """Past the log limit the collector takes nothing more and the runner is an error saying why,
    with the last lines it read."""
    collector = new_collector(
        NONCE, name="shell", runner_type="script", result_format="auto", result_path=None, log_limit=1 << 20
    )
    read = 0
    for piece in noise_then_summary(2 << 20):
        collector.feed_piece(piece)
        read += 1
        if collector.over_limit:
            break
    suite = judge(collector)
    assert (suite.status, read < 2000, suite.error.split(";")[0] if suite.error else None) == (
        RunStatus.ERROR,
        True,
        "the log is longer than the 1048576-byte limit (PACKGATE_LOG_LIMIT_BYTES), so its end was not read",
    )
    assert (suite.error or "").count('"DEBUG worker[') >= 1


def test_line_splitter_is_linear_and_bounded() -> None:
    """8 MB without a newline, in 1 KiB chunks, then a line end: pieces of exactly LINE_LIMIT
    characters, the rest as the line's end, in well under a second (the old splitter re-split
    everything pending on each chunk: quadratic)."""
    splitter = LineSplitter()
    chunk = "y" * 1024
    clock = time.perf_counter()
    pieces = [piece for _ in range(8 * 1024) for piece in splitter.split(chunk)]
    pieces += splitter.split("end\nnext")
    pieces += splitter.close()
    elapsed = time.perf_counter() - clock
    assert ([len(p) for p in pieces[:-2]], pieces[-2:], elapsed < 2.0) == (
        [LINE_LIMIT] * (8 * 1024 * 1024 // LINE_LIMIT),
        ["end\n", "next\n"],
        True,
    )


@pytest.mark.parametrize("size", [1, 7, 64, 4096, 65_536, 100_000])
def test_line_splitter_keeps_every_character(size: int) -> None:
    """Whatever the chunk size, the pieces joined give back the text (a final newline added)."""
    text = "".join(f"line {n} {'z' * (n * 37 % 3000)}\n" for n in range(200)) + "x" * 150_000
    splitter = LineSplitter()
    pieces = [p for start in range(0, len(text), size) for p in splitter.split(text[start : start + size])]
    pieces += splitter.close()
    assert ("".join(pieces), max(map(len, pieces)) <= LINE_LIMIT) == (text + "\n", True)


def test_output_without_newlines_reaches_the_parser_in_pieces() -> None:
    """Several MB printed without a newline, then a summary: the collector takes the pieces,
    its tail keeps a bounded start of that line, and the summary decides."""
    splitter = LineSplitter()
    collector = new_collector(NONCE, name="s", runner_type="script", result_format="auto", result_path=None)
    for _ in range(4 * 1024):
        for piece in splitter.split("progress " * 113 + "."):
            collector.feed_piece(piece)
    for piece in splitter.split(f"\nTotal Tests: 2\nPassed: 2\nFailed: 0\npackgate:exit {NONCE} 0\n"):
        collector.feed_piece(piece)
    assert (counts(judge(collector)), max(map(len, collector.tail.lines()))) == (
        (2, 2, 0, 0, RunStatus.PASSED, 0),
        2 * TAIL_CHARS,
    )


def test_the_wrapper_copies_a_config_map_source_into_the_workspace(tmp_path: Path) -> None:
    """With PACKGATE_SOURCE (a ConfigMap volume, read-only), the wrapper first copies the pack
    into the workspace, keeping its tree and modes, then runs the tests there; a source it cannot
    copy ends the runner with one line and exit code 126 before anything runs."""
    source, workspace = tmp_path / "source", tmp_path / "workspace"
    (source / "tests").mkdir(parents=True)
    (source / "tests" / "run.sh").write_text('echo "Total Tests: 1"\necho "Passed: 1"\necho "Failed: 0"\n')
    (source / "tests" / "run.sh").chmod(0o755)
    workspace.mkdir()
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    env.update(wrapper_env(NONCE, str(workspace), None, source=str(source)))
    done = subprocess.run(
        wrapper_command(["./tests/run.sh"]), env=env, cwd="/", capture_output=True, text=True, timeout=20, check=False
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert judged(done.stdout.splitlines(keepends=True)).passed == 1
    assert (workspace / "tests" / "run.sh").stat().st_mode & 0o777 == 0o755
    env["PACKGATE_SOURCE"] = str(tmp_path / "missing")
    failed = subprocess.run(
        wrapper_command(["true"]), env=env, cwd="/", capture_output=True, text=True, timeout=20, check=False
    )
    assert failed.returncode == 126
    assert failed.stdout.splitlines()[-1] == f"packgate: could not copy the pack from {tmp_path / 'missing'}"
