"""Database (packgate.db.store) against the real server: recording, reads, statistics, retention."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from localpg import PostgresServer, free_port
from packgate.db import Compaction, Database, RetentionRound
from packgate.db.migrations import ADVISORY_LOCK_KEY
from packgate.db.store import RETENTION_LOCK_KEY
from packgate.errors import DatabaseError, DatabaseUnavailable, RecordRefused
from packgate.history import compare
from packgate.results import PackTestResult, RunStatus, TestCaseResult, combine, error_suite, suite_from_cases
from packgate.results import TestStatus as T

pytestmark = pytest.mark.db

Run = Callable[..., Any]
NOW = datetime.now(UTC)


def test_record_execution_writes_execution_and_cases(run_db: Run, make_result: Run, make_record: Run, sql: Run) -> None:
    """One record: one execution row with the whole result as JSON, one row per test case."""
    result = make_result({"shell::a": T.PASSED, "shell::b": T.FAILED, "py::c": T.SKIPPED}, duration_ms=1234)
    record = make_record(result, "key-1", trigger="update", allowed=False, forced=False)

    assert run_db(lambda db: db.record_execution(record)) is True

    [row] = sql("SELECT * FROM packgate.pack_test_execution")
    assert (row["execution_id"], row["idempotency_key"], row["trigger_reason"], row["status"]) == (
        "key-1",
        "key-1",
        "update",
        "partial",
    )
    assert (row["total_tests"], row["passed"], row["failed"], row["skipped"]) == (3, 1, 1, 1)
    assert (row["pass_rate"], row["duration_ms"], row["allowed"], row["forced"]) == (0.5, 1234, False, False)
    assert PackTestResult.model_validate_json(row["result"]) == result
    cases = sql(
        "SELECT suite_name, runner_type, case_name, status, duration_ms, error_message "
        "FROM packgate.pack_test_case ORDER BY id"
    )
    assert [tuple(c) for c in cases] == [
        ("shell", "script", "a", "passed", 10, None),
        ("shell", "script", "b", "failed", 10, "b went wrong"),
        ("py", "script", "c", "skipped", 10, None),
    ]


def test_record_execution_is_idempotent(run_db: Run, make_result: Run, make_record: Run, sql: Run) -> None:
    """The same idempotency key twice: the second call returns False and writes nothing."""
    first = make_record(make_result({"s::a": T.PASSED, "s::b": T.PASSED}), "key-1")
    again = make_record(make_result({"s::a": T.FAILED}), "key-1", trigger="manual")

    async def body(db: Database) -> list[bool]:
        return [await db.record_execution(first), await db.record_execution(first), await db.record_execution(again)]

    assert run_db(body) == [True, False, False]
    assert [
        tuple(r) for r in sql("SELECT count(*), min(trigger_reason), min(status) FROM packgate.pack_test_execution")
    ] == [(1, "install", "passed")]
    assert sql("SELECT count(*) AS n FROM packgate.pack_test_case")[0]["n"] == 2
    assert sql("SELECT test_count FROM packgate.pack")[0]["test_count"] == 1


def test_concurrent_writers_record_once(run_db: Run, make_result: Run, make_record: Run, sql: Run) -> None:
    """Ten concurrent writes of one record (a restarted operator racing itself) store it once."""
    record = make_record(make_result({"s::a": T.PASSED}), "key-race")

    async def body(db: Database) -> list[bool]:
        return list(await asyncio.gather(*(db.record_execution(record) for _ in range(10))))

    assert sorted(run_db(body)) == [False] * 9 + [True]
    assert sql("SELECT count(*) AS n FROM packgate.pack_test_execution")[0]["n"] == 1


def test_nul_characters_are_stored(run_db: Run, make_record: Run, sql: Run) -> None:
    """Test output with NUL bytes (which PostgreSQL text can't hold) is stored with U+FFFD instead."""
    case = TestCaseResult(name="nul\x00case", status=T.FAILED, error_message="bad\x00byte", stdout="a\x00b")
    result = combine("core", "1.0.0", NOW, [suite_from_cases("s", "script", [case])])
    assert run_db(lambda db: db.record_execution(make_record(result, "key-nul"))) is True
    assert sql("SELECT case_name, error_message FROM packgate.pack_test_case")[0]["error_message"] == "bad\ufffdbyte"
    stored = sql("SELECT result->'test_suites'->0->'test_cases'->0->>'stdout' AS out FROM packgate.pack_test_execution")
    assert stored[0]["out"] == "a\ufffdb"


def test_metadata_trigger_updates_pack(run_db: Run, make_result: Run, make_record: Run) -> None:
    """Each insert counts on the pack row; last_* follow the newest execution, also when a late
    (older) record arrives afterwards, and a late record does not roll active_version back."""
    newer = make_record(
        make_result({"s::a": T.PASSED, "s::b": T.FAILED}, version="2.0.0", when=NOW),
        "k-new",
        active_version="1.0.0",
        allowed=False,
    )
    older = make_record(
        make_result({"s::a": T.PASSED}, version="1.0.0", when=NOW - timedelta(hours=1)),
        "k-old",
        active_version=None,
    )

    async def body(db: Database) -> Any:
        await db.record_execution(newer)
        await db.record_execution(older)
        return await db.pack_by_uid("uid-core")

    pack = run_db(body)
    assert pack.test_count == 2
    assert (pack.last_tested_at, pack.last_tested_version, pack.last_test_status, pack.last_pass_rate) == (
        NOW,
        "2.0.0",
        RunStatus.PARTIAL,
        0.5,
    )
    assert (pack.version, pack.active_version) == ("2.0.0", "1.0.0")


def test_stats_views_and_functions(run_db: Run, make_result: Run, make_record: Run, sql: Run) -> None:
    """get_pack_test_stats, pack_test_summary and pack_latest_test give the numbers worked out by hand."""
    passed = make_result(
        {"s::a": T.PASSED, "s::b": T.PASSED, "s::c": T.PASSED, "s::d": T.PASSED},
        when=NOW - timedelta(hours=3),
        duration_ms=100,
    )
    partial = make_result(
        {"s::a": T.PASSED, "s::b": T.PASSED, "s::c": T.PASSED, "s::d": T.FAILED},
        when=NOW - timedelta(hours=2),
        duration_ms=200,
    )
    errored = combine(
        "core", "1.0.0", NOW - timedelta(hours=1), [error_suite("s", "script", "timed out")], duration_ms=600
    )
    records = [make_record(r, f"k{i}") for i, r in enumerate([passed, partial, errored])]

    async def body(db: Database) -> Any:
        for record in records:
            await db.record_execution(record)
        return await db.stats("default", "core"), await db.latest_execution("default", "core")

    stats, latest = run_db(body)
    # 3 executions; passed: 1; failed: partial + error = 2; avg pass rate over the two that ran
    # tests: (1.0 + 0.75) / 2; avg duration (100 + 200 + 600) / 3; last: the error, an hour ago.
    assert (stats.total_executions, stats.passed_executions, stats.failed_executions) == (3, 1, 2)
    assert stats.avg_pass_rate == pytest.approx(0.875)
    assert stats.avg_duration_ms == pytest.approx(300.0)
    assert (stats.last_test_time, stats.last_test_status) == (NOW - timedelta(hours=1), RunStatus.ERROR)
    assert latest.idempotency_key == "k2"
    assert latest.result == errored
    summary = sql(
        "SELECT namespace, pack_name, pack_uid, idempotency_key, pass_rate "
        "FROM packgate.pack_test_summary ORDER BY execution_time"
    )
    assert [tuple(r) for r in summary] == [
        ("default", "core", "uid-core", "k0", 1.0),
        ("default", "core", "uid-core", "k1", 0.75),
        ("default", "core", "uid-core", "k2", 0.0),
    ]
    assert sql("SELECT count(*) AS n FROM packgate.pack_latest_test")[0]["n"] == 1


def test_stats_of_pack_without_executions(run_db: Run) -> None:
    """A pack with no executions has zero counts and no averages; an unknown pack has no stats."""

    async def body(db: Database) -> Any:
        await db.upsert_pack("uid-x", "default", "empty", "empty", "1.0.0", None)
        return await db.stats("default", "empty"), await db.stats("default", "nope")

    stats, unknown = run_db(body)
    assert (stats.total_executions, stats.passed_executions, stats.failed_executions) == (0, 0, 0)
    assert (stats.avg_pass_rate, stats.avg_duration_ms, stats.last_test_time, stats.last_test_status) == (
        None,
        None,
        None,
        None,
    )
    assert unknown is None


def test_pack_has_passing_tests_within_hours(run_db: Run, make_result: Run, make_record: Run, sql: Run) -> None:
    """A pass 30 hours ago counts within 48 hours but not within 24; a recent failure never counts."""
    records = [
        make_record(make_result({"s::a": T.PASSED}, when=NOW - timedelta(hours=30)), "k-pass"),
        make_record(make_result({"s::a": T.FAILED}, when=NOW - timedelta(hours=1)), "k-fail"),
    ]

    async def body(db: Database) -> list[bool]:
        for record in records:
            await db.record_execution(record)
        return [await db.has_passing_tests("default", "core", hours) for hours in (1, 24, 29, 31, 48)]

    assert run_db(body) == [False, False, False, True, True]
    assert sql("SELECT packgate.pack_has_passing_tests(id) AS p FROM packgate.pack")[0]["p"] is False


def test_delete_old_executions(run_db: Run, make_result: Run, make_record: Run, sql: Run) -> None:
    """Retention deletes only executions older than the cut-off, with their test cases, and lowers
    the pack's test_count."""
    ages = {"k-100d": 100, "k-91d": 91, "k-89d": 89, "k-now": 0}
    records = [
        make_record(make_result({"s::a": T.PASSED, "s::b": T.PASSED}, when=NOW - timedelta(days=d)), k)
        for k, d in ages.items()
    ]

    async def body(db: Database) -> list[int]:
        for record in records:
            await db.record_execution(record)
        return [await db.delete_old_executions(90), await db.delete_old_executions(90)]

    assert run_db(body) == [2, 0]
    keys = sql("SELECT idempotency_key FROM packgate.pack_test_execution ORDER BY execution_time")
    assert [r["idempotency_key"] for r in keys] == ["k-89d", "k-now"]
    assert sql("SELECT count(*) AS n FROM packgate.pack_test_case")[0]["n"] == 4
    assert sql("SELECT test_count FROM packgate.pack")[0]["test_count"] == 2


def test_delete_old_executions_refuses_zero_days(run_db: Run) -> None:
    """A retention of less than one day is refused rather than wiping the history."""
    with pytest.raises(DatabaseError, match="retention must be at least 1 day, got 0"):
        run_db(lambda db: db.delete_old_executions(0))


def test_retention_runs_on_one_replica_at_a_time(
    run_db: Run, make_result: Run, make_record: Run, sql: Run, database: str
) -> None:
    """While another replica's session holds the retention lock, a round skips at once and deletes
    nothing; once that session ends, the next round deletes; and a round never keeps the lock after
    its transaction."""
    import asyncpg

    old = make_record(make_result({"s::a": T.PASSED}, when=NOW - timedelta(days=100)), "k-100d")
    recent = make_record(make_result({"s::a": T.PASSED}, when=NOW), "k-now")

    async def body(db: Database) -> list[Any]:
        for record in (old, recent):
            await db.record_execution(record)
        other = await asyncpg.connect(database)  # the other replica, mid-round
        try:
            taken = await other.fetchval("SELECT pg_try_advisory_lock($1)", RETENTION_LOCK_KEY)
            while_held = await db.retention_round(90)
            left = await db.history("default", "core")
        finally:
            await other.close()
        after = await db.retention_round(90)
        again = await db.retention_round(90)
        probe = await asyncpg.connect(database)
        try:
            free = await probe.fetchval("SELECT pg_try_advisory_lock($1)", RETENTION_LOCK_KEY)
        finally:
            await probe.close()
        return [taken, while_held, len(left), after, again, free]

    assert run_db(body) == [
        True,
        RetentionRound(skipped=True),
        2,
        RetentionRound(skipped=False, deleted=1),
        RetentionRound(skipped=False, deleted=0),
        True,
    ]
    assert [r["idempotency_key"] for r in sql("SELECT idempotency_key FROM packgate.pack_test_execution")] == ["k-now"]


def test_retention_lock_is_not_the_migrations_lock() -> None:
    """Retention and migrations take different advisory locks: a migration never makes retention
    skip, nor retention make a migration wait."""
    assert RETENTION_LOCK_KEY != ADVISORY_LOCK_KEY


def test_deleting_a_pack_cascades(run_db: Run, make_result: Run, make_record: Run, sql: Run) -> None:
    """Deleting a pack row deletes its executions and their test cases (ON DELETE CASCADE)."""
    run_db(lambda db: db.record_execution(make_record(make_result({"s::a": T.PASSED, "s::b": T.FAILED}), "k")))
    sql("DELETE FROM packgate.pack")
    counts = sql(
        "SELECT (SELECT count(*) FROM packgate.pack_test_execution) AS e, "
        "(SELECT count(*) FROM packgate.pack_test_case) AS c"
    )
    assert tuple(counts[0]) == (0, 0)


def test_last_case_statuses_and_regressions(run_db: Run, make_result: Run, make_record: Run) -> None:
    """The baseline is the latest execution of that version with test cases (an errored run without
    cases is passed over), and an execution can be left out of it."""
    base = make_result({"s::a": T.PASSED, "s::b": T.PASSED, "s::c": T.FAILED}, when=NOW - timedelta(hours=3))
    other_version = make_result({"s::a": T.FAILED}, version="2.0.0", when=NOW - timedelta(hours=2))
    errored = combine("core", "1.0.0", NOW - timedelta(hours=1), [error_suite("s", "script", "boom")])
    latest = make_result({"s::a": T.PASSED, "s::b": T.FAILED, "s::d": T.PASSED}, when=NOW)

    async def body(db: Database) -> Any:
        for i, result in enumerate([base, other_version, errored, latest]):
            await db.record_execution(make_record(result, f"k{i}"))
        return (
            await db.last_case_statuses("uid-core", "1.0.0"),
            await db.last_case_statuses("uid-core", "1.0.0", exclude_idempotency_key="k3"),
            await db.last_case_statuses("uid-core", "9.9.9"),
        )

    newest, previous, none = run_db(body)
    assert newest == {"s::a": T.PASSED, "s::b": T.FAILED, "s::d": T.PASSED}
    assert previous == {"s::a": T.PASSED, "s::b": T.PASSED, "s::c": T.FAILED}
    assert none == {}
    comparison = compare(previous, newest)
    assert (comparison.regressions, comparison.fixes, comparison.added, comparison.removed) == (
        ("s::b",),
        (),
        ("s::d",),
        ("s::c",),
    )


def test_flaky_tests(run_db: Run, make_result: Run, make_record: Run) -> None:
    """A test that passed and failed within one version is flaky, counted with its flips; a test
    that changed only across versions, or only to skipped, is not."""
    runs = [
        ({"s::flaky": T.PASSED, "s::steady": T.PASSED, "s::upgrade": T.PASSED, "s::skip": T.PASSED}, "1.0.0"),
        ({"s::flaky": T.FAILED, "s::steady": T.PASSED, "s::upgrade": T.PASSED, "s::skip": T.SKIPPED}, "1.0.0"),
        ({"s::flaky": T.PASSED, "s::steady": T.PASSED, "s::upgrade": T.PASSED, "s::skip": T.PASSED}, "1.0.0"),
        ({"s::flaky": T.ERROR, "s::steady": T.PASSED, "s::upgrade": T.PASSED, "s::skip": T.PASSED}, "1.0.0"),
        ({"s::flaky": T.PASSED, "s::steady": T.PASSED, "s::upgrade": T.FAILED, "s::skip": T.PASSED}, "2.0.0"),
    ]

    async def body(db: Database) -> Any:
        for i, (cases, version) in enumerate(runs):
            when = NOW - timedelta(minutes=10 - i)
            await db.record_execution(make_record(make_result(cases, version=version, when=when), f"k{i}"))
        return await db.flaky_tests("default", "core", "1.0.0"), await db.flaky_tests("default", "core")

    in_version, everywhere = run_db(body)
    assert [(f.key, f.version, f.runs, f.passes, f.failures, f.flips, f.last_status) for f in in_version] == [
        ("s::flaky", "1.0.0", 4, 2, 2, 3, T.ERROR)
    ]
    assert [(f.key, f.version) for f in everywhere] == [("s::flaky", "1.0.0")]


def test_history_and_recreated_pack(run_db: Run, make_result: Run, make_record: Run) -> None:
    """History lists newest first with its limit; a Pack deleted and created again under the same
    name (new uid) starts a new history, while the old rows stay marked deleted."""
    old = [make_record(make_result({"s::a": T.PASSED}, when=NOW - timedelta(hours=h)), f"old{h}") for h in (3, 2, 1)]
    new = make_record(
        make_result({"s::a": T.FAILED}, version="3.0.0", when=NOW), "new", uid="uid-core-2", trigger="install"
    )

    async def body(db: Database) -> Any:
        for record in old:
            await db.record_execution(record)
        limited = await db.history("default", "core", limit=2)
        deleted = [await db.mark_pack_deleted("uid-core"), await db.mark_pack_deleted("uid-core")]
        await db.record_execution(new)
        return limited, deleted, await db.history("default", "core"), await db.pack_by_uid("uid-core")

    limited, deleted, after, old_pack = run_db(body)
    assert [e.idempotency_key for e in limited] == ["old1", "old2"]
    assert deleted == [True, False]
    assert [(e.idempotency_key, e.pack_version, e.status) for e in after] == [("new", "3.0.0", RunStatus.FAILED)]
    assert old_pack.deleted_at is not None and old_pack.test_count == 3


def test_missed_delete_retires_the_old_pack(run_db: Run) -> None:
    """Upserting a new uid under a live name marks the older row deleted (its delete was missed)."""

    async def body(db: Database) -> Any:
        first = await db.upsert_pack("uid-1", "ns", "p", "p", "1.0.0", "1.0.0")
        second = await db.upsert_pack("uid-2", "ns", "p", "p", "2.0.0", None)
        again = await db.upsert_pack("uid-2", "ns", "p", "p", "2.0.1", "2.0.1")
        return first, second, again, await db.pack_by_uid("uid-1"), await db.find_pack("ns", "p")

    first, second, again, old, live = run_db(body)
    assert first != second and second == again
    assert old.deleted_at is not None
    assert (live.uid, live.version, live.active_version, live.deleted_at) == ("uid-2", "2.0.1", "2.0.1", None)


def test_record_validation_rejects_bad_trigger(make_result: Run, make_record: Run) -> None:
    """An ExecutionRecord with a trigger outside install|update|manual|validation does not validate."""
    with pytest.raises(ValueError, match="trigger"):
        make_record(make_result({"s::a": T.PASSED}), "k", trigger="cron")


def test_unreachable_database_is_unavailable_quickly() -> None:
    """Connecting to a closed port raises DatabaseUnavailable within the connect timeout, one line,
    no password in it."""
    dsn = f"postgresql://packgate:s3cret@127.0.0.1:{free_port()}/packgate"
    started = time.monotonic()
    with pytest.raises(DatabaseUnavailable) as caught:
        asyncio.run(Database.connect(dsn, connect_timeout=2.0))
    assert time.monotonic() - started < 3.0
    message = str(caught.value)
    assert message.startswith("cannot reach PostgreSQL at 127.0.0.1:")
    assert "s3cret" not in message and "\n" not in message


def test_outage_then_recovery(
    postgres: PostgresServer, database: str, make_result: Run, make_record: Run, sql: Run
) -> None:
    """While the server is down a write raises DatabaseUnavailable; once it is back the same
    Database object writes the record, exactly once."""
    first = make_record(make_result({"s::a": T.PASSED}, when=NOW - timedelta(minutes=1)), "k-before")
    deferred = make_record(make_result({"s::a": T.FAILED}), "k-during")

    async def main() -> list[Any]:
        db = await Database.connect(database, connect_timeout=2.0)
        outcome: list[Any] = []
        try:
            outcome.append(await db.record_execution(first))
            await asyncio.to_thread(postgres.stop)
            try:
                await db.record_execution(deferred)
            except DatabaseUnavailable as exc:
                outcome.append(type(exc).__name__)
            await asyncio.to_thread(postgres.start)
            outcome.append(await db.record_execution(deferred))
            outcome.append(await db.record_execution(deferred))
        finally:
            await db.close()
        return outcome

    assert asyncio.run(main()) == [True, "DatabaseUnavailable", True, False]
    keys = sql("SELECT idempotency_key FROM packgate.pack_test_execution ORDER BY execution_time")
    assert [r["idempotency_key"] for r in keys] == ["k-before", "k-during"]


def test_a_compacted_record_says_so_and_is_no_comparison_base(
    run_db: Run, make_result: Run, make_record: Run, sql: Run
) -> None:
    """A record written from a compact deferred record keeps its `compacted` note in the stored
    result (read back by latest_execution); with cases left out it is not a base to compare with."""
    full = make_record(make_result({"s::a": T.PASSED, "s::b": T.PASSED}, when=NOW - timedelta(hours=1)), "k-full")
    compact = make_result({"s::b": T.FAILED}, when=NOW)
    compact = compact.model_copy(update={"total_tests": 2, "passed": 1, "failed": 1})
    note = Compaction(cases_kept=1, cases_omitted=1)
    compacted = make_record(compact, "k-compact").model_copy(update={"compacted": note})

    async def body(db: Database) -> Any:
        await db.record_execution(full)
        await db.record_execution(compacted)
        return await db.latest_execution("default", "core"), await db.last_case_statuses("uid-core", "1.0.0")

    latest, base = run_db(body)
    assert (latest.execution_id, latest.compacted, latest.result) == ("k-compact", note, compact)
    assert base == {"s::a": T.PASSED, "s::b": T.PASSED}
    stored = sql(
        "SELECT result->'compacted' AS note FROM packgate.pack_test_execution WHERE execution_id = 'k-compact'"
    )
    assert json.loads(stored[0]["note"]) == {"cases_kept": 1, "cases_omitted": 1, "suites_omitted": 0}


def test_a_record_the_database_refuses_raises_record_refused(run_db: Run, make_result: Run, make_record: Run) -> None:
    """Counts that don't add up violate a CHECK constraint: RecordRefused (not retried), with the
    database's one-line reason, and nothing is written."""
    bad = make_result({"s::a": T.PASSED}).model_copy(update={"total_tests": 5})

    async def body(db: Database) -> Any:
        with pytest.raises(RecordRefused) as caught:
            await db.record_execution(make_record(bad, "k-bad"))
        return caught.value, await db.history("default", "core")

    refused, history = run_db(body)
    assert "valid_test_counts" in str(refused) and "\n" not in str(refused)
    assert history == []
