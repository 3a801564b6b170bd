"""The schema's own guarantees, checked with raw SQL: constraints, cascade and the local server."""

from __future__ import annotations

import asyncio
import shutil
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from localpg import LocalPostgresError, PostgresServer

pytestmark = pytest.mark.db

INSERT = """
INSERT INTO packgate.pack_test_execution (
    pack_id, execution_id, idempotency_key, pack_version, trigger_reason, status, execution_time,
    total_tests, passed, failed, skipped, pass_rate, duration_ms, allowed, result)
VALUES ($1, 'e1', $2, '1.0.0', $3, $4, now(), $5, $6, $7, $8, $9, $10, true, '{}'::jsonb)
"""

GOOD: dict[str, Any] = {
    "key": "k",
    "trigger": "install",
    "status": "passed",
    "total": 3,
    "passed": 2,
    "failed": 1,
    "skipped": 0,
    "rate": 2 / 3,
    "duration": 10,
}


def insert_execution(dsn: str, **changes: Any) -> None:
    """Insert a pack and one execution built from GOOD with `changes` applied."""
    values = {**GOOD, **changes}

    async def main() -> None:
        connection = await asyncpg.connect(dsn)
        try:
            pack_id = await connection.fetchval(
                "INSERT INTO packgate.pack (uid, namespace, name, ref, version) VALUES ('u', 'ns', 'p', 'p', '1') "
                "ON CONFLICT (uid) DO UPDATE SET ref = 'p' RETURNING id"
            )
            await connection.execute(INSERT, pack_id, *values.values())
        finally:
            await connection.close()

    asyncio.run(main())


def test_good_row_is_accepted(database: str, sql: Callable[..., list[Any]]) -> None:
    """The reference row the constraint tests vary is itself valid."""
    insert_execution(database)
    assert sql("SELECT count(*) AS n FROM packgate.pack_test_execution")[0]["n"] == 1


@pytest.mark.parametrize(
    ("changes", "constraint"),
    [
        pytest.param({"passed": -1, "total": 0}, "valid_test_counts", id="negative-passed"),
        pytest.param({"total": -1, "passed": 0, "failed": 0}, "valid_test_counts", id="negative-total"),
        pytest.param({"skipped": -2, "total": 1}, "valid_test_counts", id="negative-skipped"),
        pytest.param({"total": 5}, "valid_test_counts", id="counts-do-not-add-up"),
        pytest.param({"rate": 1.5}, "valid_pass_rate", id="pass-rate-1.5"),
        pytest.param({"rate": -0.1}, "valid_pass_rate", id="pass-rate-negative"),
        pytest.param({"trigger": "cron"}, "valid_trigger_reason", id="unknown-trigger"),
        pytest.param({"status": "green"}, "valid_status", id="unknown-status"),
        pytest.param({"duration": -5}, "valid_duration", id="negative-duration"),
        pytest.param({"key": ""}, "valid_keys", id="empty-idempotency-key"),
    ],
)
def test_constraints_reject_bad_rows(database: str, changes: dict[str, Any], constraint: str) -> None:
    """Each bad value is rejected by the named CHECK constraint."""
    with pytest.raises(asyncpg.CheckViolationError) as caught:
        insert_execution(database, **changes)
    assert caught.value.constraint_name == constraint


def test_duplicate_idempotency_key_is_rejected(database: str) -> None:
    """Two executions cannot share an idempotency key."""
    insert_execution(database)
    with pytest.raises(asyncpg.UniqueViolationError) as caught:
        insert_execution(database, trigger="manual")
    assert caught.value.constraint_name == "pack_test_execution_idempotency_key_unique"


def test_test_case_status_is_checked(database: str, sql: Callable[..., list[Any]]) -> None:
    """A test case row with an unknown status is rejected."""
    insert_execution(database)
    execution = sql("SELECT id FROM packgate.pack_test_execution")[0]["id"]
    with pytest.raises(asyncpg.CheckViolationError) as caught:
        sql(
            "INSERT INTO packgate.pack_test_case (execution_id, suite_name, runner_type, case_name, status) "
            "VALUES ($1, 's', 'script', 'c', 'flaky')",
            execution,
        )
    assert caught.value.constraint_name == "valid_case_status"


def test_one_live_pack_per_name(database: str, sql: Callable[..., list[Any]]) -> None:
    """Two live rows cannot share namespace/name; a deleted one may."""
    sql(
        "INSERT INTO packgate.pack (uid, namespace, name, ref, version, deleted_at) VALUES ('a','ns','p','p','1',now())"
    )
    sql("INSERT INTO packgate.pack (uid, namespace, name, ref, version) VALUES ('b', 'ns', 'p', 'p', '1')")
    with pytest.raises(asyncpg.UniqueViolationError):
        sql("INSERT INTO packgate.pack (uid, namespace, name, ref, version) VALUES ('c', 'ns', 'p', 'p', '1')")
    assert sql("SELECT count(*) AS n FROM packgate.pack")[0]["n"] == 2


def test_server_start_failure_shows_the_log(postgres: PostgresServer) -> None:
    """A server that can't start (its port is taken) fails with a message carrying the server log."""
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        root = Path(tempfile.mkdtemp(prefix="packgate-pg-busy-"))
        root.chmod(0o711)
        server = PostgresServer(root / "server", blocker.getsockname()[1], start_timeout=20)
        try:
            with pytest.raises(LocalPostgresError) as caught:
                server.start()
        finally:
            server.stop()
            shutil.rmtree(root, ignore_errors=True)
    message = str(caught.value)
    assert "pg_ctl start failed" in message
    assert f"--- last lines of {root / 'server' / 'server.log'} ---" in message
    assert "could not bind" in message or "Address already in use" in message
