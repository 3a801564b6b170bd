"""Unit tests of packgate.wrapper: the POSIX-sh wrapper, run for real with /bin/sh in a temp workspace,
and `collect`/`judge` reading its output back (framing, nonce, exit-code cross-check)."""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

import pytest

from packgate.results import RunStatus, TestSuiteResult
from packgate.wrapper import (
    TAIL_CHARS,
    OutputTail,
    collect,
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
    workspace: Path, script: str, *, result_path: str | None = None, nonce: str = NONCE
) -> tuple[list[str], int]:
    """Write tests/run.sh into the workspace, run it under the wrapper as a Job would, return (lines, exit code)."""
    tests = workspace / "tests"
    tests.mkdir(exist_ok=True)
    (tests / "run.sh").write_text(textwrap.dedent(script))
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **wrapper_env(nonce, str(workspace), result_path)}
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
    assert f"packgate:result-begin {NONCE} results/junit.xml\n" in lines
    assert f"packgate:result-end {NONCE}\n" in lines
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
