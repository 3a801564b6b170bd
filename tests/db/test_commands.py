"""`packgate migrate` and `packgate results` as subprocesses against the test database."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from localpg import free_port
from packgate.commands import COMMANDS
from packgate.db import Database
from packgate.results import TestStatus as T

pytestmark = pytest.mark.db

REPO = Path(__file__).resolve().parents[2]

# Mirrors packgate.cli.main for one command, for as long as not every command module exists.
_ONE_COMMAND = """
import argparse, importlib, sys
from packgate.errors import PackgateError
name = sys.argv[1]
module = importlib.import_module("packgate.commands." + name)
parser = argparse.ArgumentParser(prog="packgate " + name)
module.add_arguments(parser)
args = parser.parse_args(sys.argv[2:])
try:
    sys.exit(module.run(args))
except PackgateError as exc:
    print(f"packgate {name}: {exc}", file=sys.stderr)
    sys.exit(2)
"""


def packgate(*argv: str, database_url: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run `packgate ARGV...` in a subprocess (through packgate.cli when every command exists)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PACKGATE_")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "operator"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    if database_url is not None:
        env["PACKGATE_DATABASE_URL"] = database_url
    if all(importlib.util.find_spec(f"packgate.commands.{c}") for c in COMMANDS):
        command = [sys.executable, "-m", "packgate.cli", *argv]
    else:
        command = [sys.executable, "-c", _ONE_COMMAND, *argv]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)


def test_migrate_applies_then_is_up_to_date(empty_database: str) -> None:
    """`packgate migrate` lists what it applied; run again it says the database is up to date."""
    first = packgate("migrate", database_url=empty_database)
    assert (first.returncode, first.stderr) == (0, "")
    files = sorted(p.name for p in (REPO / "migrations").glob("*.sql"))
    assert first.stdout.splitlines()[:-1] == [f"Applied migration {f}" for f in files]
    again = packgate("migrate", "--database-url", empty_database)
    assert (again.returncode, again.stderr) == (0, "")
    assert again.stdout.strip().endswith("is up to date")


def test_migrate_unreachable_is_one_line() -> None:
    """An unreachable database: exit 2, one line on stderr naming host and port, no traceback."""
    port = free_port()
    started = time.monotonic()
    result = packgate("migrate", "--database-url", f"postgresql://u:hunter2@127.0.0.1:{port}/db")
    assert time.monotonic() - started < 15
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"packgate migrate: cannot reach PostgreSQL at 127.0.0.1:{port}/db: connection refused\n"


def test_migrate_without_database_url() -> None:
    """Without --database-url or PACKGATE_DATABASE_URL, one line says how to give one."""
    result = packgate("migrate")
    assert (result.returncode, result.stderr) == (
        2,
        "packgate migrate: no database: set PACKGATE_DATABASE_URL or pass --database-url\n",
    )


@pytest.fixture
def seeded(database: str, make_result: Callable[..., Any], make_record: Callable[..., Any]) -> str:
    """default/core: three runs of 1.0.0 (test_a flips), then 1.1.0 where test_b regresses."""
    now = datetime.now(UTC)
    runs = [
        ("1.0.0", 50, {"python::test_a": T.PASSED, "python::test_b": T.PASSED}, "install", True),
        ("1.0.0", 40, {"python::test_a": T.FAILED, "python::test_b": T.PASSED}, "manual", True),
        ("1.0.0", 30, {"python::test_a": T.PASSED, "python::test_b": T.PASSED}, "validation", True),
        (
            "1.1.0",
            1,
            {"python::test_a": T.PASSED, "python::test_b": T.FAILED, "python::test_c": T.PASSED},
            "update",
            False,
        ),
    ]
    records = [
        make_record(
            make_result(cases, version=version, when=now - timedelta(hours=hours), duration_ms=1000 * (i + 1)),
            f"uid-core/run{i}",
            trigger=trigger,
            allowed=allowed,
            active_version="1.0.0",
        )
        for i, (version, hours, cases, trigger, allowed) in enumerate(runs)
    ]

    async def seed() -> None:
        db = await Database.connect(database)
        try:
            for record in records:
                assert await db.record_execution(record)
        finally:
            await db.close()

    import asyncio

    asyncio.run(seed())
    return database


def test_results_table(seeded: str) -> None:
    """The table output shows the latest run, every history row, stats, the regression and the flaky test."""
    result = packgate("results", "core", "--namespace", "default", database_url=seeded)
    assert (result.returncode, result.stderr) == (0, "")
    out = result.stdout
    assert out.startswith(
        "Pack default/core  (ref core, uid uid-core)\n  version 1.1.0   active 1.0.0   executions stored 4"
    )
    assert "Latest execution run3  (update, " in out
    assert "status partial   2/3 passed, 1 failed, 0 skipped   rate 66.7%   duration 4.0s   allowed no" in out
    history = [line for line in out.splitlines() if line.startswith("  20")]
    assert [line.split()[2:6] for line in history] == [
        ["run3", "update", "1.1.0", "partial"],
        ["run2", "validation", "1.0.0", "passed"],
        ["run1", "manual", "1.0.0", "partial"],
        ["run0", "install", "1.0.0", "passed"],
    ]
    # pass rates 1, 1/2, 1, 2/3 -> mean 0.7917; durations 1..4 s -> 2.5 s
    assert "  executions 4 (passed 2, failed 2)   average pass rate 79.2%   average duration 2.5s" in out
    assert "Regressions against active version 1.0.0: 1   (fixes 0, added 1, removed 0)\n  python::test_b\n" in out
    assert "Flaky tests: 1" in out
    flaky = [line.split() for line in out.splitlines() if "python::test_a" in line]
    assert flaky == [["1.0.0", "python::test_a", "3", "2", "1", "2", "passed"]]


def test_results_json(seeded: str) -> None:
    """--json prints one document with the same facts; --history limits the history."""
    result = packgate("results", "core", "--json", "--history", "2", database_url=seeded)
    assert (result.returncode, result.stderr) == (0, "")
    report = json.loads(result.stdout)
    assert [e["execution_id"] for e in report["history"]] == ["run3", "run2"]
    assert report["latest"]["result"]["pack_version"] == "1.1.0"
    assert {k: report["stats"][k] for k in ("total_executions", "passed_executions", "failed_executions")} == {
        "total_executions": 4,
        "passed_executions": 2,
        "failed_executions": 2,
    }
    assert report["stats"]["avg_pass_rate"] == pytest.approx((1 + 0.5 + 1 + 2 / 3) / 4)
    assert report["regressions"] == {
        "base_version": "1.0.0",
        "base_execution_found": True,
        "comparison": {"regressions": ["python::test_b"], "fixes": [], "added": ["python::test_c"], "removed": []},
    }
    assert [(f["suite"], f["case"], f["flips"]) for f in report["flaky"]] == [("python", "test_a", 2)]


def test_results_unknown_pack(database: str) -> None:
    """A Pack PostgreSQL never saw: exit 1 and one line."""
    result = packgate("results", "nope", "-n", "elsewhere", database_url=database)
    assert result.returncode == 1
    assert result.stderr.startswith("packgate results: no test executions of Pack elsewhere/nope in 127.0.0.1:")
    assert result.stderr.count("\n") == 1


def test_results_unreachable() -> None:
    """An unreachable database: exit 2 and one line."""
    port = free_port()
    result = packgate("results", "core", "--database-url", f"postgresql://u:p@127.0.0.1:{port}/db")
    assert (result.returncode, result.stderr) == (
        2,
        f"packgate results: cannot reach PostgreSQL at 127.0.0.1:{port}/db: connection refused\n",
    )
