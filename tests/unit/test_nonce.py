"""Unit tests of the execution nonce (packgate.wrapper.execution_nonce / choose_nonce): it belongs to
the execution, not to the process, so any replica -- the one that admitted the execution, a standby
that took it over, a restarted one -- reads the frames the Jobs printed."""

from __future__ import annotations

import os
import re

import pytest
from builders import EMPTY_CACHE

from packgate.executor import Executor, Recorder
from packgate.results import RunStatus
from packgate.settings import load_settings
from packgate.wrapper import NONCE_HEX, choose_nonce, collect, execution_nonce, wrapper_env

pytestmark = pytest.mark.unit


UID = "0b6f7d2e-4c1a-4e55-9a57-1d2c3b4a5f60"
EXECUTION = "6e5176a0c2"
SECRET = "install-secret"
JUNIT = [
    '<?xml version="1.0" encoding="utf-8"?>\n',
    '<testsuite name="s" tests="2" failures="1">\n',
    '  <testcase classname="c" name="ok"/>\n',
    '  <testcase classname="c" name="bad"><failure message="no">no</failure></testcase>\n',
    "</testsuite>\n",
]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No PACKGATE_* variable of the calling shell leaks into a test."""
    for name in [n for n in os.environ if n.startswith("PACKGATE_")]:
        monkeypatch.delenv(name)


def framed(nonce: str) -> list[str]:
    """What a runner's log ends with: a plain result frame and the exit line, under `nonce`."""
    return [
        "collected 2 items\n",
        f"packgate:result-begin {nonce} out/junit.xml plain\n",
        *JUNIT,
        f"packgate:result-end {nonce}\n",
        f"packgate:exit {nonce} 1\n",
    ]


def test_the_nonce_is_a_function_of_the_execution() -> None:
    """Two replicas (two processes, same settings) derive the same nonce for the same execution: 16
    lower-case hex digits, the wrapper's marker format."""
    first = execution_nonce(SECRET, UID, EXECUTION)
    second = execution_nonce(SECRET, UID, EXECUTION)
    assert first == second
    assert re.fullmatch(f"[0-9a-f]{{{NONCE_HEX}}}", first)


@pytest.mark.parametrize(
    ("secret", "uid", "execution"),
    [
        pytest.param(SECRET, UID, "6e5176a0c3", id="another execution"),
        pytest.param(SECRET, "another-uid", EXECUTION, id="another Pack"),
        pytest.param("another-install", UID, EXECUTION, id="another install's secret"),
        pytest.param("", UID, EXECUTION, id="no secret"),
    ],
)
def test_anything_else_gets_another_nonce(secret: str, uid: str, execution: str) -> None:
    """Another execution, Pack or secret gets another nonce, so an earlier execution's log can't
    pass for this one's."""
    assert execution_nonce(secret, uid, execution) != execution_nonce(SECRET, UID, EXECUTION)


def test_the_separator_keeps_uid_and_execution_apart() -> None:
    """uid "a/b" with execution "c" and uid "a" with execution "b/c" are different executions."""
    assert execution_nonce(SECRET, "a", "b/c") == execution_nonce(SECRET, "a", "b/c")
    assert execution_nonce(SECRET, "ab", "c") != execution_nonce(SECRET, "a", "bc")


def test_a_stored_nonce_wins() -> None:
    """A nonce already in status.currentExecution is what the Jobs carry (whichever replica or
    Packgate version chose it, randomly in older versions): it is kept; only an empty one is
    derived."""
    assert choose_nonce("a1b2c3d4e5f60718", SECRET, UID, EXECUTION) == "a1b2c3d4e5f60718"
    assert choose_nonce("", SECRET, UID, EXECUTION) == execution_nonce(SECRET, UID, EXECUTION)


def test_a_replica_that_takes_over_reads_the_other_replicas_frames() -> None:
    """Replica A admits the execution (no stored nonce yet) and its Jobs print under A's nonce;
    replica B, taking over, reads them with the nonce from the status, or derives the same one
    when its status read predates A's write.  Both read the result file and the exit code."""
    a = choose_nonce("", SECRET, UID, EXECUTION)
    env = wrapper_env(a, "/workspace", "out/junit.xml")
    log = framed(env["PACKGATE_NONCE"])
    for b in (choose_nonce(a, SECRET, UID, EXECUTION), choose_nonce("", SECRET, UID, EXECUTION)):
        suite = collect(log, b, name="py", runner_type="pytest", result_format="junit", result_path="out/junit.xml")
        assert (suite.total, suite.passed, suite.failed, suite.status, suite.exit_code) == (
            2,
            1,
            1,
            RunStatus.PARTIAL,
            1,
        )


def test_frames_under_another_installs_nonce_are_not_results() -> None:
    """A replica with another PACKGATE_NONCE_SECRET does not take the frames for its own."""
    log = framed(execution_nonce("another-install", UID, EXECUTION))
    suite = collect(
        log,
        execution_nonce(SECRET, UID, EXECUTION),
        name="py",
        runner_type="pytest",
        result_format="junit",
        result_path="out/junit.xml",
    )
    assert (suite.status, suite.exit_code) == (RunStatus.ERROR, None)
    assert (suite.error or "").startswith("the runner did not write the result file; last lines: ")


def test_the_executor_keys_nonces_with_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """PACKGATE_NONCE_SECRET is the key the executor derives nonces with; unset, the key is empty."""
    monkeypatch.setenv("PACKGATE_NONCE_SECRET", SECRET)
    keyed = Executor(kube=None, settings=load_settings(), recorder=Recorder(None), cache=EMPTY_CACHE)  # type: ignore[arg-type]
    monkeypatch.delenv("PACKGATE_NONCE_SECRET")
    plain = Executor(kube=None, settings=load_settings(), recorder=Recorder(None), cache=EMPTY_CACHE)  # type: ignore[arg-type]
    assert (keyed.nonce_secret, plain.nonce_secret) == (SECRET, "")
