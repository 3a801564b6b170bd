"""`packgate run DIR`: the example packs' tests run locally with the cluster's wrapper and parsers."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from clilib import PACKS, packgate

from packgate.results import PackTestResult

pytestmark = pytest.mark.unit


def suites_of(output: dict[str, Any]) -> dict[str, tuple[int, int, int, int, str]]:
    """runner → (total, passed, failed, skipped, status) of a `--json` result."""
    return {
        s["name"]: (s["total"], s["passed"], s["failed"], s["skipped"], s["status"])
        for s in output["result"]["test_suites"]
    }


def run_json(*args: str | Path, env: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    done = packgate("run", "--json", *args, env=env)
    assert done.stderr == ""
    return done.returncode, json.loads(done.stdout)


def write_pack(directory: Path, testing: str, files: dict[str, str]) -> Path:
    """A throwaway pack: pack.yaml with the given testing section, plus files."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "pack.yaml").write_text(f"ref: scratch\nversion: '0.1.0'\n{textwrap.dedent(testing)}")
    for relative, text in files.items():
        (directory / relative).parent.mkdir(parents=True, exist_ok=True)
        (directory / relative).write_text(textwrap.dedent(text))
    return directory


def test_core_pack_passes_with_the_counts_its_tests_have() -> None:
    """packs/core exits 0 and reports exactly the checks of run_tests.sh and the tests of test_actions.py."""
    shell_checks = len(re.findall(r'^check "', (PACKS / "core/tests/run_tests.sh").read_text(), re.M))
    python_tests = len(re.findall(r"^    def test_", (PACKS / "core/tests/test_actions.py").read_text(), re.M))
    code, output = run_json(PACKS / "core")
    assert code == 0
    assert suites_of(output) == {
        "shell": (shell_checks, shell_checks, 0, 0, "passed"),
        "python": (python_tests, python_tests, 0, 0, "passed"),
    }
    assert output["verdict"] == {
        "allowed": True,
        "reason": "TestsPassed",
        "message": f"{shell_checks + python_tests}/{shell_checks + python_tests} tests passed (100%)",
        "warning": False,
    }


def test_core_pack_human_output() -> None:
    """Without --json the runners' output is echoed, then a table and an ALLOWED verdict line."""
    done = packgate("run", PACKS / "core")
    lines = done.stdout.splitlines()
    assert (done.returncode, done.stderr) == (0, "")
    assert "  PASS: echo prints its message" in lines
    assert re.search(r"^RUNNER +TYPE +TOTAL +PASSED +FAILED +SKIPPED +STATUS +DURATION$", done.stdout, re.M)
    assert re.search(r"^shell +script +10 +10 +0 +0 +passed +\d+\.\d\ds$", done.stdout, re.M)
    assert lines[-1] == "ALLOWED (TestsPassed): 21/21 tests passed (100%)"


def test_json_output_is_a_pack_test_result() -> None:
    """--json prints only JSON whose `result` validates as a PackTestResult."""
    _, output = run_json(PACKS / "core")
    result = PackTestResult.model_validate(output["result"])
    assert (result.pack_ref, result.pack_version, result.status.value) == ("core", "1.0.0", "passed")
    assert result.total_tests == sum(s.total for s in result.test_suites)


def test_broken_pack_is_blocked() -> None:
    """packs/broken exits 1: every one of its tests catches the off-by-one bug, and each is named."""
    source = (PACKS / "broken/tests/test_paginate.py").read_text()
    tests = sorted(re.findall(r"^    def (test_\w+)", source, re.M))
    code, output = run_json(PACKS / "broken")
    assert code == 1
    assert suites_of(output) == {"python": (len(tests), 0, len(tests), 0, "failed")}
    assert (output["verdict"]["allowed"], output["verdict"]["reason"]) == (False, "TestsFailed")
    cases = output["result"]["test_suites"][0]["test_cases"]
    assert sorted(c["name"].rsplit(".", 1)[-1] for c in cases if c["status"] in ("failed", "error")) == tests


def test_broken_pack_human_output_names_the_failures() -> None:
    """The readable report lists each failing test with its exception and ends with BLOCKED."""
    done = packgate("run", PACKS / "broken")
    lines = done.stdout.splitlines()
    assert done.returncode == 1
    assert (
        "failed in python: tests.test_paginate.PageCountTest.test_partial_last_page_counts: AssertionError: 11 != 10"
    ) in lines
    assert "failed in python: tests.test_paginate.PageTest.test_last_partial_page: IndexError: no page 3" in lines
    assert lines[-1] == "BLOCKED (TestsFailed): 0/5 tests passed (0%, minimum 100%)"


def test_node_pack_counts_nested_tests_and_the_skip() -> None:
    """packs/node-utils: node --test's TAP is counted at the leaves of nested describe/it, one skipped."""
    source = (PACKS / "node-utils/tests/utils.test.js").read_text()
    leaves = len(re.findall(r"^\s+it\(", source, re.M))
    code, output = run_json(PACKS / "node-utils")
    assert code == 0
    assert suites_of(output) == {"node": (leaves, leaves - 1, 0, 1, "passed")}


def test_junit_pack_is_read_from_its_result_file() -> None:
    """packs/junit-report: the JUnit XML the runner writes to resultPath is what is counted."""
    source = (PACKS / "junit-report/tests/test_semver.py").read_text()
    tests = len(re.findall(r"^    def test_", source, re.M))
    code, output = run_json(PACKS / "junit-report")
    assert code == 0
    assert suites_of(output) == {"python": (tests, tests, 0, 0, "passed")}
    names = {c["name"] for c in output["result"]["test_suites"][0]["test_cases"]}
    assert "test_semver_spec_precedence_chain" in " ".join(names)


def test_pytest_pack_reports_every_collected_test(tmp_path: Path) -> None:
    """packs/text-tools: a pytest runner's verbose lines name exactly the tests pytest collects,
    parametrized cases included, and all of them pass.  `python3` is this interpreter, which has
    pytest (the cluster's pytest image has it too)."""
    shutil.copytree(PACKS / "text-tools", tmp_path / "pack")
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "tests/"],
        cwd=tmp_path / "pack",
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        capture_output=True,
        text=True,
        check=True,
    )
    nodeids = [line for line in collected.stdout.splitlines() if "::" in line]
    assert any("[" in nodeid for nodeid in nodeids)  # parametrized cases are there, one by one
    code, output = run_json(PACKS / "text-tools", env={"PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"})
    assert code == 0
    assert suites_of(output) == {"python": (len(nodeids), len(nodeids), 0, 0, "passed")}
    suite = output["result"]["test_suites"][0]
    assert suite["runner_type"] == "pytest"
    assert [c["name"] for c in suite["test_cases"]] == nodeids


def test_runtime_filter_runs_one_runner() -> None:
    """--runtime NAME runs only the runner with that key."""
    code, output = run_json(PACKS / "core", "--runtime", "shell")
    assert code == 0
    assert list(suites_of(output)) == ["shell"]


def test_unknown_runtime_is_one_line() -> None:
    """--runtime with a name pack.yaml does not have is exit 2 and one line naming the runners."""
    done = packgate("run", PACKS / "core", "--runtime", "ruby")
    assert (done.returncode, done.stdout, done.stderr) == (
        2,
        "",
        "packgate run: pack.yaml has no runner 'ruby' (runners: shell, python)\n",
    )


def test_pack_without_testing_is_one_line(tmp_path: Path) -> None:
    """A pack.yaml without a testing section is exit 2 and one line saying how to proceed."""
    (tmp_path / "pack.yaml").write_text("ref: bare\nversion: '1.0.0'\nactions: {}\n")
    done = packgate("run", tmp_path)
    assert (done.returncode, done.stdout, done.stderr) == (
        2,
        "",
        "packgate run: pack.yaml has no testing section; add one or set skipTests\n",
    )


def test_missing_directory_is_one_line(tmp_path: Path) -> None:
    """A directory that does not exist is exit 2 and one line, no traceback."""
    done = packgate("run", tmp_path / "nope")
    assert (done.returncode, done.stderr) == (
        2,
        f"packgate run: pack directory {str(tmp_path / 'nope')!r} does not exist\n",
    )


def test_timeout_becomes_an_error_suite(tmp_path: Path) -> None:
    """A runner that outlives its timeout is killed (with its children) and reported as an error."""
    pack = write_pack(
        tmp_path / "slow",
        """\
        testing:
          runners:
            shell:
              type: script
              entry_point: tests/slow.sh
              timeout: 1
        """,
        {"tests/slow.sh": "echo 'Total Tests: 1'\nsleep 60 &\nsleep 60\n"},
    )
    started = time.monotonic()
    code, output = run_json(pack)
    assert time.monotonic() - started < 30
    assert code == 1
    suite = output["result"]["test_suites"][0]
    assert (suite["status"], suite["error"]) == ("error", 'timed out after 1s; last lines: "Total Tests: 1"')
    assert (output["verdict"]["reason"], output["verdict"]["message"]) == (
        "TestError",
        'runner error: shell: timed out after 1s; last lines: "Total Tests: 1"',
    )


def test_missing_interpreter_is_an_error_suite(tmp_path: Path) -> None:
    """A runner whose program is not installed is an error suite with the reason, not a crash."""
    pack = write_pack(
        tmp_path / "missing",
        """\
        testing:
          runners:
            ruby:
              type: command
              command: [packgate-no-such-interpreter, tests/t.rb]
        """,
        {"tests/t.rb": "puts 1\n"},
    )
    code, output = run_json(pack)
    assert code == 1
    assert output["result"]["test_suites"][0]["error"] == (
        "packgate-no-such-interpreter is not installed here (needed by the command runner ruby)"
    )


def test_crash_without_failing_tests_is_an_error(tmp_path: Path) -> None:
    """A non-zero exit whose output reports no failing test is a runner error, not a pass."""
    pack = write_pack(
        tmp_path / "crash",
        """\
        testing:
          runners:
            shell:
              type: script
              entry_point: tests/run.sh
              result_format: simple
        """,
        {"tests/run.sh": "echo 'Total Tests: 2'\necho 'Passed: 2'\necho 'Failed: 0'\nexit 3\n"},
    )
    code, output = run_json(pack)
    assert code == 1
    suite = output["result"]["test_suites"][0]
    assert (suite["status"], suite["exit_code"], suite["error"]) == (
        "error",
        3,
        "the runner exited with code 3 but reported no failing test; "
        'last lines: "Total Tests: 2" | "Passed: 2" | "Failed: 0"',
    )


def test_on_failure_warn_allows_with_exit_zero(tmp_path: Path) -> None:
    """on_failure: warn turns failing tests into an allowed verdict with a warning."""
    pack = write_pack(
        tmp_path / "warned",
        """\
        testing:
          runners:
            shell:
              type: script
              entry_point: tests/run.sh
              result_format: simple
          on_failure: warn
        """,
        {"tests/run.sh": "echo 'Total Tests: 2'\necho 'Passed: 1'\necho 'Failed: 1'\nexit 1\n"},
    )
    code, output = run_json(pack)
    assert code == 0
    assert (output["verdict"]["reason"], output["verdict"]["warning"]) == ("FailureWarned", True)


def test_tests_run_in_a_copy_of_the_pack(tmp_path: Path) -> None:
    """Runners write into a temporary workspace, never into the pack directory; --keep-workspace keeps it."""
    pack = write_pack(
        tmp_path / "writer",
        """\
        testing:
          runners:
            shell:
              type: script
              entry_point: tests/run.sh
              result_format: simple
        """,
        {"tests/run.sh": "echo hi > written.txt\necho 'Total Tests: 1'\necho 'Passed: 1'\necho 'Failed: 0'\n"},
    )
    done = packgate("run", pack, "--keep-workspace")
    kept = re.search(r"^Kept the workspaces in (.+)$", done.stdout, re.M)
    assert done.returncode == 0
    assert kept is not None
    workspace = Path(kept.group(1)) / "shell"
    written = ((workspace / "written.txt").read_text(), (pack / "written.txt").exists())
    shutil.rmtree(workspace.parent)
    assert written == ("hi\n", False)
