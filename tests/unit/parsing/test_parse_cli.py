"""`packgate parse` as a user runs it: a subprocess, JSON on stdout, exit codes, one-line stderr,
and no kopf or Kubernetes client loaded."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from parsinglib import FIXTURES, PYTHON, REPO

from packgate.parsing import make_parser

pytestmark = pytest.mark.unit

KEYS = {"name", "runner_type", "total", "passed", "failed", "skipped", "duration_ms", "status", "test_cases"}


def parse(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [PYTHON, "-m", "packgate.cli", "parse", *args],
        input=stdin,
        capture_output=True,
        timeout=120,
        check=False,
        cwd=REPO,
    )


def test_prints_one_suite_as_json_and_exits_zero() -> None:
    """A pytest output file gives exit 0 and one JSON object with the suite's keys and counts."""
    done = parse(str(FIXTURES / "pytest" / "verbose.txt"), "--name", "py", "--runner-type", "pytest")
    assert (done.returncode, done.stderr) == (0, b"")
    suite = json.loads(done.stdout)
    assert KEYS - suite.keys() == set()
    assert (suite["name"], suite["runner_type"], suite["total"], suite["failed"]) == ("py", "pytest", 14, 3)


def test_reads_stdin_with_an_explicit_format() -> None:
    """`-` reads stdin; --format junit parses it as JUnit."""
    data = (FIXTURES / "junit" / "go_junit_report.xml").read_bytes()
    done = parse("--format", "junit", "-", stdin=data)
    assert done.returncode == 0
    suite = json.loads(done.stdout)
    assert (suite["name"], suite["total"], suite["passed"], suite["status"]) == ("stdin", 7, 3, "partial")


def test_a_single_line_junit_file_larger_than_a_read_chunk(tmp_path: Path) -> None:
    """pytest writes its XML on one line; a line longer than the 64 KiB read chunk still parses."""
    cases = "".join(f'<testcase classname="m" name="test_{i}" time="0.001"/>' for i in range(5000))
    path = tmp_path / "one-line.xml"
    path.write_text(f'<?xml version="1.0"?><testsuites><testsuite name="s">{cases}</testsuite></testsuites>')
    done = parse(str(path))
    assert done.returncode == 0
    assert json.loads(done.stdout)["total"] == 5000


@pytest.mark.parametrize(
    "target",
    ["garbage", "empty", "directory", "missing", "billion_laughs"],
)
def test_unrecognisable_input_exits_one_with_one_line(tmp_path: Path, target: str) -> None:
    """Garbage, empty files, directories, missing files and refused XML: exit 1, one stderr line."""
    import random

    path = tmp_path / target
    if target == "garbage":
        path.write_bytes(bytes(random.Random(7).randrange(256) for _ in range(100_000)))
    elif target == "empty":
        path.write_bytes(b"")
    elif target == "directory":
        path.mkdir()
    elif target == "billion_laughs":
        path.write_text('<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY a "aaaa">]>\n<testsuite>&a;</testsuite>\n')
    done = parse(str(path))
    lines = done.stderr.decode().splitlines()
    assert (done.returncode, done.stdout, len(lines)) == (1, b"", 1)
    assert lines[0].startswith("packgate parse: ")
    assert "Traceback" not in lines[0]


def test_parse_does_not_import_kopf_or_kubernetes() -> None:
    """Running the parse command through the CLI (auto-detected TAP, then JUnit) loads none of
    kopf, kubernetes, asyncpg, aiohttp, prometheus_client, pydantic-settings, nor pydantic itself
    (the JSON comes from the parser's pydantic-free summary), nor another command's module (the CLI
    imports only the module of the command that runs: whole-process time, bench/parse_junit.py)."""
    script = (
        "import sys\n"
        "from packgate.cli import main\n"
        f"rc = main(['parse', {str(FIXTURES / 'tap' / 'node_nested.tap')!r}])\n"
        f"rc += main(['parse', '--format', 'junit', {str(FIXTURES / 'junit' / 'go_junit_report.xml')!r}])\n"
        "heavy = sorted(m for m in ('kopf', 'kubernetes', 'asyncpg', 'aiohttp', 'prometheus_client',\n"
        "    'pydantic_settings', 'pydantic', 'pydantic_core', 'packgate.results', 'packgate.db',\n"
        "    'packgate.commands.results', 'packgate.commands.run')\n"
        "    if m in sys.modules)\n"
        "print('RESULT', rc, heavy, file=sys.stderr)\n"
    )
    done = subprocess.run([PYTHON, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert done.stderr.strip().splitlines()[-1] == "RESULT 0 []"


def test_printed_json_is_the_models_json() -> None:
    """What `packgate parse` prints (written without pydantic) is the TestSuiteResult's
    `model_dump_json(indent=2)` plus a newline, byte for byte: JUnit with failures, skips, output
    and non-ASCII text, read from stdin."""
    data = (FIXTURES / "junit" / "pytest_logging_all.xml").read_bytes()
    parser = make_parser("junit", name="stdin", runner_type="unknown")
    for line in data.decode("utf-8", errors="replace").splitlines(keepends=True):
        parser.feed(line)
    done = parse("--format", "junit", "-", stdin=data)
    assert (done.returncode, done.stdout.decode()) == (0, parser.result().model_dump_json(indent=2) + "\n")
