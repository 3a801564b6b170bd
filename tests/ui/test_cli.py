"""`packgate ui`'s command line: bad arguments and a missing database are one line on stderr and
exit 2, never a traceback, before anything is served."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

PACKGATE = Path(sys.executable).with_name("packgate")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PACKGATE_")}
    return subprocess.run([str(PACKGATE), "ui", *args], capture_output=True, text=True, env=env, timeout=60)


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["--port", "70000"], "packgate ui: --port must be 1-65535, not 70000"),
        (["--port", "x"], "packgate ui: argument --port: invalid int value: 'x' (see 'packgate ui --help')"),
        ([], "packgate ui: no database: set PACKGATE_DATABASE_URL or pass --database-url"),
    ],
    ids=["port out of range", "port not a number", "no database"],
)
def test_bad_arguments_are_one_line_and_exit_2(args: list[str], line: str) -> None:
    """Each mistake is exactly one line on stderr, exit code 2, nothing on stdout."""
    proc = _run(*args)

    assert (proc.returncode, proc.stdout, proc.stderr) == (2, "", line + "\n")
