"""Database: the one door to PostgreSQL (an asyncpg pool) and every query Packgate runs.

Owns: connecting (short timeouts), applying migrations, recording executions exactly once
(idempotency key) together with their PackWebhook events (packgate.db.outbox, in the same
transaction), the reads behind regressions and `packgate results`, and retention (one replica
at a time, under an advisory lock).  Every
asyncpg/OS error leaves as DatabaseUnavailable (can't reach PostgreSQL: defer and retry),
RecordRefused (PostgreSQL refused the data: don't retry it) or DatabaseError (anything else),
raised `from` the original (see `_errors.classify`).  A record written from a compact deferred
record keeps its `compacted` note inside the stored result JSON (no column needed).
Must not: decide verdicts, talk to Kubernetes, or hand asyncpg records to callers (they get the
models of `packgate.db.models`).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
from pydantic import ValidationError

from packgate.db import outbox
from packgate.db._errors import describe_target, translated
from packgate.db.migrations import Migration, apply_migrations, load_migrations
from packgate.db.models import (
    Compaction,
    ExecutionDetail,
    ExecutionRecord,
    ExecutionSummary,
    FlakyTest,
    PackInfo,
    PackStats,
    RetentionRound,
    aware,
)
from packgate.db.outbox import WebhookOutbox
from packgate.errors import DatabaseError
from packgate.history import case_key
from packgate.results import PackTestResult, RunStatus, TestStatus
from packgate.webhooks import outbox_events

__all__ = ["Database", "ExecutionRecord"]

ERROR_MESSAGE_LIMIT = 4000
"""Characters of a test case's error message kept in its pack_test_case row (the JSON result
keeps the whole message)."""

# ----------------------------------------------------------------------------------------- SQL

_RETIRE_OTHER_LIVE_PACK = """
UPDATE packgate.pack
   SET deleted_at = now(), updated_at = now()
 WHERE namespace = $2 AND name = $3 AND uid <> $1 AND deleted_at IS NULL
   AND NOT EXISTS (SELECT 1 FROM packgate.pack AS d WHERE d.uid = $1 AND d.deleted_at IS NOT NULL)
"""

# $7: the execution time of the record being written, or NULL for an explicit upsert.  A record
# written late (older than the pack's last test) does not roll version/active_version back.
_UPSERT_PACK = """
INSERT INTO packgate.pack AS p (uid, namespace, name, ref, version, active_version)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (uid) DO UPDATE SET
    namespace = EXCLUDED.namespace,
    name = EXCLUDED.name,
    ref = EXCLUDED.ref,
    version = CASE WHEN $7::timestamptz IS NULL OR p.last_tested_at IS NULL OR p.last_tested_at <= $7
                   THEN EXCLUDED.version ELSE p.version END,
    active_version = CASE WHEN $7::timestamptz IS NULL OR p.last_tested_at IS NULL OR p.last_tested_at <= $7
                          THEN EXCLUDED.active_version ELSE p.active_version END,
    updated_at = now()
RETURNING p.id
"""

_EXECUTION_EXISTS = "SELECT 1 FROM packgate.pack_test_execution WHERE idempotency_key = $1"

_INSERT_EXECUTION = """
INSERT INTO packgate.pack_test_execution (
    pack_id, execution_id, idempotency_key, pack_version, trigger_reason, status, execution_time,
    total_tests, passed, failed, skipped, pass_rate, duration_ms, forced, allowed, result, digest, cached_from)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16::jsonb, $17, $18)
ON CONFLICT (idempotency_key) DO NOTHING
RETURNING id
"""

_INSERT_CASES = """
INSERT INTO packgate.pack_test_case
    (execution_id, suite_name, runner_type, case_name, status, duration_ms, error_message)
SELECT $1, c.suite_name, c.runner_type, c.case_name, c.status, c.duration_ms, c.error_message
  FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[])
       AS c (suite_name, runner_type, case_name, status, duration_ms, error_message)
"""

# An execution written from a compacted record with test cases left out is no base to compare
# with: its missing passing cases would look like removed tests.
_LAST_CASE_STATUSES = """
SELECT c.suite_name, c.case_name, c.status
  FROM packgate.pack_test_case AS c
 WHERE c.execution_id = (
        SELECT e.id
          FROM packgate.pack_test_execution AS e
          JOIN packgate.pack AS p ON p.id = e.pack_id
         WHERE p.uid = $1 AND e.pack_version = $2
           AND ($3::text IS NULL OR e.idempotency_key <> $3)
           AND COALESCE((e.result -> 'compacted' ->> 'cases_omitted')::bigint, 0) = 0
           AND EXISTS (SELECT 1 FROM packgate.pack_test_case AS x WHERE x.execution_id = e.id)
         ORDER BY e.execution_time DESC, e.id DESC
         LIMIT 1)
 ORDER BY c.id
"""

_PACK_COLUMNS = """
    id, uid, namespace, name, ref, version, active_version, created_at, updated_at, deleted_at,
    last_tested_at, last_tested_version, last_test_status, last_pass_rate, test_count
"""

# The live Pack of that name, else the one deleted last.
_FIND_PACK = f"""
SELECT {_PACK_COLUMNS}
  FROM packgate.pack
 WHERE namespace = $1 AND name = $2
 ORDER BY (deleted_at IS NULL) DESC, updated_at DESC, id DESC
 LIMIT 1
"""

_FIND_PACK_BY_UID = f"SELECT {_PACK_COLUMNS} FROM packgate.pack WHERE uid = $1"

_SUMMARY_COLUMNS = """
    execution_id, idempotency_key, pack_version, trigger_reason, status, execution_time,
    total_tests, passed, failed, skipped, pass_rate, duration_ms, forced, allowed, digest, cached_from
"""

_HISTORY = f"""
SELECT {_SUMMARY_COLUMNS}
  FROM packgate.pack_test_summary
 WHERE pack_id = $1
 ORDER BY execution_time DESC, id DESC
 LIMIT $2
"""

_LATEST = f"SELECT {_SUMMARY_COLUMNS}, result FROM packgate.pack_latest_test WHERE pack_id = $1"

_STATS = "SELECT * FROM packgate.get_pack_test_stats($1)"

_HAS_PASSING = "SELECT packgate.pack_has_passing_tests($1, $2)"

# Tests that both passed and failed (or errored) within one version; skipped runs are ignored, and
# so are executions that reused another's verdict (cached_from: their cases are the origin's).
_FLAKY = """
WITH runs AS (
    SELECT e.pack_version, c.suite_name, c.case_name, c.status, e.execution_time, e.id AS execution,
           lag(c.status) OVER (PARTITION BY e.pack_version, c.suite_name, c.case_name
                               ORDER BY e.execution_time, e.id, c.id) AS previous
      FROM packgate.pack_test_case AS c
      JOIN packgate.pack_test_execution AS e ON e.id = c.execution_id
     WHERE e.pack_id = $1
       AND ($2::text IS NULL OR e.pack_version = $2)
       AND e.cached_from IS NULL
       AND c.status <> 'skipped'
)
SELECT pack_version, suite_name, case_name,
       count(*) AS runs,
       count(*) FILTER (WHERE status = 'passed') AS passes,
       count(*) FILTER (WHERE status <> 'passed') AS failures,
       count(*) FILTER (WHERE previous IS NOT NULL AND (previous = 'passed') <> (status = 'passed')) AS flips,
       (array_agg(status ORDER BY execution_time DESC, execution DESC))[1] AS last_status
  FROM runs
 GROUP BY pack_version, suite_name, case_name
HAVING count(*) FILTER (WHERE status = 'passed') > 0 AND count(*) FILTER (WHERE status <> 'passed') > 0
 ORDER BY flips DESC, failures DESC, pack_version, suite_name, case_name
"""

# Tests that both passed and failed on the same content digest (Buildkite's same-commit rule):
# nothing that decides what ran changed, so the test itself is flaky.  Cached executions are left
# out (they ran nothing).  `pack_version`: the newest version that ran the digest.
_FLAKY_BY_DIGEST = """
WITH runs AS (
    SELECT e.digest, e.pack_version, c.suite_name, c.case_name, c.status, e.execution_time, e.id AS execution,
           lag(c.status) OVER (PARTITION BY e.digest, c.suite_name, c.case_name
                               ORDER BY e.execution_time, e.id, c.id) AS previous
      FROM packgate.pack_test_case AS c
      JOIN packgate.pack_test_execution AS e ON e.id = c.execution_id
     WHERE e.pack_id = $1
       AND e.digest IS NOT NULL
       AND e.cached_from IS NULL
       AND c.status <> 'skipped'
)
SELECT digest, suite_name, case_name,
       (array_agg(pack_version ORDER BY execution_time DESC, execution DESC))[1] AS pack_version,
       count(*) AS runs,
       count(*) FILTER (WHERE status = 'passed') AS passes,
       count(*) FILTER (WHERE status <> 'passed') AS failures,
       count(*) FILTER (WHERE previous IS NOT NULL AND (previous = 'passed') <> (status = 'passed')) AS flips,
       (array_agg(status ORDER BY execution_time DESC, execution DESC))[1] AS last_status
  FROM runs
 GROUP BY digest, suite_name, case_name
HAVING count(*) FILTER (WHERE status = 'passed') > 0 AND count(*) FILTER (WHERE status <> 'passed') > 0
 ORDER BY flips DESC, failures DESC, suite_name, case_name, digest
"""

# The verdict an install or update may reuse (spec.testing.cacheFor): the newest execution of the
# Pack with this digest that ran its Jobs (never a cached one: the window counts from the origin)
# and finished at or after $3.  An execution that errored is not reused: its cause (an image
# pull, a node, a timeout) is often passing.
_CACHED_ORIGIN = f"""
SELECT {_SUMMARY_COLUMNS}, e.result
  FROM packgate.pack_test_execution AS e
  JOIN packgate.pack AS p ON p.id = e.pack_id
 WHERE p.uid = $1 AND e.digest = $2 AND e.cached_from IS NULL AND e.status <> 'error'
   AND e.execution_time + e.duration_ms * interval '1 millisecond' >= $3
 ORDER BY e.execution_time DESC, e.id DESC
 LIMIT 1
"""

_MARK_DELETED = """
UPDATE packgate.pack SET deleted_at = now(), updated_at = now()
 WHERE uid = $1 AND deleted_at IS NULL
RETURNING id
"""

_DELETE_OLD = "SELECT packgate.delete_old_executions($1)"

RETENTION_LOCK_KEY = int.from_bytes(b"pgretain", "big") >> 1
"""Advisory lock key of a retention round (not the migrations' key), so one replica at a time runs it."""

# Held until the end of the round's transaction; a replica that can't take it skips the round.
_TRY_RETENTION_LOCK = "SELECT pg_try_advisory_xact_lock($1)"


# ----------------------------------------------------------------------------------------- helpers


def _scrub(value: Any) -> Any:
    """PostgreSQL text and jsonb can't hold NUL characters; test output sometimes does."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {_scrub(k): _scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v) for v in value]
    return value


def _result_json(result: PackTestResult, compacted: Compaction | None = None) -> str:
    """The result as stored in pack_test_execution.result; a compacted record says so there."""
    data = result.model_dump(mode="json")
    if compacted is not None:
        data[_COMPACTED] = compacted.model_dump(mode="json")
    return json.dumps(_scrub(data), separators=(",", ":"), ensure_ascii=False)


_COMPACTED = "compacted"
"""Key of the Compaction note inside a stored result (not a PackTestResult field)."""


_CaseColumns = tuple[list[str], list[str], list[str], list[str], list[int], list[str | None]]


def _case_columns(result: PackTestResult) -> _CaseColumns:
    suites: list[str] = []
    runners: list[str] = []
    names: list[str] = []
    statuses: list[str] = []
    durations: list[int] = []
    errors: list[str | None] = []
    for suite in result.test_suites:
        for case in suite.test_cases:
            suites.append(_scrub(suite.name))
            runners.append(_scrub(suite.runner_type))
            names.append(_scrub(case.name))
            statuses.append(case.status.value)
            durations.append(case.duration_ms)
            message = case.error_message
            errors.append(None if message is None else _scrub(message[:ERROR_MESSAGE_LIMIT]))
    return suites, runners, names, statuses, durations, errors


def _summary_fields(row: Any) -> dict[str, Any]:
    return {
        "execution_id": row["execution_id"],
        "idempotency_key": row["idempotency_key"],
        "pack_version": row["pack_version"],
        "trigger": row["trigger_reason"],
        "status": RunStatus(row["status"]),
        "execution_time": row["execution_time"],
        "total_tests": row["total_tests"],
        "passed": row["passed"],
        "failed": row["failed"],
        "skipped": row["skipped"],
        "pass_rate": row["pass_rate"],
        "duration_ms": row["duration_ms"],
        "forced": row["forced"],
        "allowed": row["allowed"],
        "digest": row["digest"],
        "cached_from": row["cached_from"],
    }


def _flaky(row: Any, digest: str | None = None) -> FlakyTest:
    """A row of the flaky-test queries (_FLAKY, _FLAKY_BY_DIGEST)."""
    return FlakyTest(
        version=row["pack_version"],
        suite=row["suite_name"],
        case=row["case_name"],
        runs=row["runs"],
        passes=row["passes"],
        failures=row["failures"],
        flips=row["flips"],
        last_status=TestStatus(row["last_status"]),
        digest=digest,
    )


def _stored_result(row: Any) -> tuple[PackTestResult, Compaction | None]:
    """An execution row's stored result and the compaction note kept inside it; a DatabaseError
    when they do not match this Packgate's models."""
    try:
        stored = json.loads(row["result"])
        note = stored.pop(_COMPACTED, None) if isinstance(stored, dict) else None
        result = PackTestResult.model_validate(stored)
        compacted = None if note is None else Compaction.model_validate(note)
    except (ValueError, ValidationError) as exc:
        errors = f"{exc.error_count()} errors" if isinstance(exc, ValidationError) else "not JSON"
        raise DatabaseError(
            f"stored result of execution {row['execution_id']} does not match this Packgate's result model ({errors})"
        ) from exc
    return result, compacted


def _detail(row: Any) -> ExecutionDetail:
    """An execution row with its stored result (and the compaction note kept inside it)."""
    result, compacted = _stored_result(row)
    return ExecutionDetail.model_validate({**_summary_fields(row), "result": result, "compacted": compacted})


def _pack(row: Any) -> PackInfo:
    return PackInfo.model_validate(dict(row.items()))


class Database:
    """A pool of connections to one PostgreSQL database.  Create with `await Database.connect(dsn)`,
    end with `await db.close()`.  Safe to share between tasks of one event loop."""

    def __init__(self, pool: Any, target: str) -> None:
        self._pool = pool
        self.target = target
        """host:port/database, for messages (never the password)."""

    @classmethod
    async def connect(
        cls,
        dsn: str,
        *,
        min_size: int = 1,
        max_size: int = 5,
        connect_timeout: float = 5.0,
        command_timeout: float | None = 30.0,
    ) -> Database:
        """Open the pool.  With `min_size >= 1` a connection is made now, so an unreachable database
        raises DatabaseUnavailable here (within about `connect_timeout`); with `min_size=0`
        connecting waits for the first query."""
        target = describe_target(dsn)
        with translated(target, connecting=True):
            pool = await asyncpg.create_pool(
                dsn,
                min_size=min_size,
                max_size=max_size,
                timeout=connect_timeout,
                command_timeout=command_timeout,
                server_settings={"application_name": "packgate"},
            )
        return cls(pool, target)

    async def close(self) -> None:
        """Close every connection (waits for queries in flight)."""
        with translated(self.target):
            await self._pool.close()

    async def ping(self) -> None:
        """Raise DatabaseUnavailable unless a trivial query succeeds."""
        with translated(self.target):
            await self._pool.fetchval("SELECT 1")

    # ------------------------------------------------------------------------------- migrations

    async def migrate(self, directory: Path | None = None) -> list[Migration]:
        """Apply pending migrations from `directory` (default: `default_migrations_dir()`).
        Returns the migrations applied now; an empty list means the schema was up to date."""
        migrations = load_migrations(directory)
        with translated(self.target):
            async with self._pool.acquire() as connection:
                return await apply_migrations(connection, migrations)

    # ------------------------------------------------------------------------------- writes

    async def upsert_pack(
        self, uid: str, namespace: str, name: str, ref: str, version: str, active_version: str | None
    ) -> int:
        """Insert or update the row of the Pack with this uid; return its id.  Another live row with
        the same namespace/name (a Pack deleted while nobody watched) is marked deleted."""
        with translated(self.target):
            async with self._pool.acquire() as connection, connection.transaction():
                return await self._upsert_pack(connection, uid, namespace, name, ref, version, active_version, None)

    @staticmethod
    async def _upsert_pack(
        connection: Any,
        uid: str,
        namespace: str,
        name: str,
        ref: str,
        version: str,
        active_version: str | None,
        execution_time: datetime | None,
    ) -> int:
        # Writers of the same pack name take turns: ON CONFLICT (uid) arbitrates only the uid index,
        # so two first inserts racing would otherwise trip the live-name index.
        await connection.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", f"pack:{namespace}/{name}")
        await connection.execute(_RETIRE_OTHER_LIVE_PACK, uid, namespace, name)
        pack_id = await connection.fetchval(
            _UPSERT_PACK, uid, namespace, name, ref, version, active_version, execution_time
        )
        return int(pack_id)

    async def record_execution(self, record: ExecutionRecord) -> bool:
        """Write the execution and its test-case rows in one transaction.  Returns False (and
        writes nothing) when an execution with this idempotency key is already recorded."""
        result = record.result
        execution_time = aware(result.execution_time)
        with translated(self.target):
            async with self._pool.acquire() as connection, connection.transaction():
                if await connection.fetchval(_EXECUTION_EXISTS, record.idempotency_key):
                    return False
                if "previous_active_version" in record.model_fields_set:
                    previous = record.previous_active_version
                else:
                    previous = await outbox.previous_active_version(
                        connection, record.namespace, record.name, record.pack_uid, execution_time
                    )
                pack_id = await self._upsert_pack(
                    connection,
                    record.pack_uid,
                    record.namespace,
                    record.name,
                    record.ref,
                    record.version,
                    record.active_version,
                    execution_time,
                )
                execution = await connection.fetchval(
                    _INSERT_EXECUTION,
                    pack_id,
                    record.execution_id,
                    record.idempotency_key,
                    result.pack_version,
                    record.trigger,
                    result.status.value,
                    execution_time,
                    result.total_tests,
                    result.passed,
                    result.failed,
                    result.skipped,
                    result.pass_rate,
                    result.duration_ms,
                    record.forced,
                    record.allowed,
                    _result_json(result, record.compacted),
                    record.digest,
                    record.cached_from,
                )
                if execution is None:  # recorded concurrently by another writer
                    return False
                columns = _case_columns(result)
                if columns[0]:
                    await connection.execute(_INSERT_CASES, execution, *columns)
                # PackWebhook notifications: in this transaction, so they exist exactly when the
                # execution does (docs/webhooks.md).
                await outbox.enqueue(connection, execution, outbox_events(record, previous))
                return True

    def webhook_outbox(self) -> WebhookOutbox:
        """The PackWebhook outbox on this pool, for the delivery worker."""
        return WebhookOutbox(self._pool, self.target)

    async def mark_pack_deleted(self, uid: str) -> bool:
        """Mark the Pack's row deleted (its history stays until retention); False when unknown
        or already marked."""
        with translated(self.target):
            return await self._pool.fetchval(_MARK_DELETED, uid) is not None

    async def delete_old_executions(self, days: int) -> int:
        """Retention: delete executions older than `days` days (and their test cases); return how many."""
        with translated(self.target):
            return int(await self._pool.fetchval(_DELETE_OLD, days))

    async def retention_round(self, days: int) -> RetentionRound:
        """One replica's retention round: `delete_old_executions(days)` under the advisory lock
        RETENTION_LOCK_KEY (pg_try_advisory_xact_lock, released when the round's transaction ends).
        While another replica (another session) holds it, the round is skipped at once, not queued."""
        with translated(self.target):
            async with self._pool.acquire() as connection, connection.transaction():
                if not await connection.fetchval(_TRY_RETENTION_LOCK, RETENTION_LOCK_KEY):
                    return RetentionRound(skipped=True)
                deleted = int(await connection.fetchval(_DELETE_OLD, days))
        return RetentionRound(skipped=False, deleted=deleted)

    # ------------------------------------------------------------------------------- reads

    async def find_pack(self, namespace: str, name: str) -> PackInfo | None:
        """The live Pack of that name, else the one deleted last; None when never seen."""
        with translated(self.target):
            row = await self._pool.fetchrow(_FIND_PACK, namespace, name)
        return None if row is None else _pack(row)

    async def pack_by_uid(self, uid: str) -> PackInfo | None:
        """The row of the Pack with this metadata.uid."""
        with translated(self.target):
            row = await self._pool.fetchrow(_FIND_PACK_BY_UID, uid)
        return None if row is None else _pack(row)

    async def last_case_statuses(
        self, pack_uid: str, version: str, *, exclude_idempotency_key: str | None = None
    ) -> dict[str, TestStatus]:
        """Status of every test ("suite::case") in the latest execution of `version` that has test
        cases, skipping the execution `exclude_idempotency_key`; empty when there is none."""
        with translated(self.target):
            rows = await self._pool.fetch(_LAST_CASE_STATUSES, pack_uid, version, exclude_idempotency_key)
        return {case_key(r["suite_name"], r["case_name"]): TestStatus(r["status"]) for r in rows}

    async def history(self, namespace: str, name: str, limit: int = 20) -> list[ExecutionSummary]:
        """The latest `limit` executions of the Pack, newest first; empty when unknown."""
        pack = await self.find_pack(namespace, name)
        if pack is None:
            return []
        with translated(self.target):
            rows = await self._pool.fetch(_HISTORY, pack.id, limit)
        return [ExecutionSummary.model_validate(_summary_fields(r)) for r in rows]

    async def latest_execution(self, namespace: str, name: str) -> ExecutionDetail | None:
        """The Pack's latest execution with its full result (from the pack_latest_test view)."""
        pack = await self.find_pack(namespace, name)
        if pack is None:
            return None
        with translated(self.target):
            row = await self._pool.fetchrow(_LATEST, pack.id)
        return None if row is None else _detail(row)

    async def cached_origin(self, pack_uid: str, digest: str, since: datetime) -> ExecutionDetail | None:
        """The newest execution of the Pack with this content digest that ran its Jobs, did not
        error and finished at or after `since` (now minus spec.testing.cacheFor); None when there
        is none.  Its result is the verdict an install or update with the same digest reuses."""
        with translated(self.target):
            row = await self._pool.fetchrow(_CACHED_ORIGIN, pack_uid, digest, aware(since))
        return None if row is None else _detail(row)

    async def flaky_by_digest(self, namespace: str, name: str) -> list[FlakyTest]:
        """Tests that both passed and failed on the same content digest (executions that ran),
        most flips first; each with the digest and the newest version that ran it."""
        pack = await self.find_pack(namespace, name)
        if pack is None:
            return []
        with translated(self.target):
            rows = await self._pool.fetch(_FLAKY_BY_DIGEST, pack.id)
        return [_flaky(r, digest=r["digest"]) for r in rows]

    async def stats(self, namespace: str, name: str) -> PackStats | None:
        """get_pack_test_stats() of the Pack; None when the Pack was never seen."""
        pack = await self.find_pack(namespace, name)
        if pack is None:
            return None
        with translated(self.target):
            row = await self._pool.fetchrow(_STATS, pack.id)
        return PackStats.model_validate(dict(row.items()))

    async def has_passing_tests(self, namespace: str, name: str, hours_ago: int = 24) -> bool:
        """pack_has_passing_tests(): whether the Pack passed within the last `hours_ago` hours."""
        pack = await self.find_pack(namespace, name)
        if pack is None:
            return False
        with translated(self.target):
            return bool(await self._pool.fetchval(_HAS_PASSING, pack.id, hours_ago))

    async def flaky_tests(self, namespace: str, name: str, version: str | None = None) -> list[FlakyTest]:
        """Tests that both passed and failed within one version (`version`, or each version),
        most flips first."""
        pack = await self.find_pack(namespace, name)
        if pack is None:
            return []
        with translated(self.target):
            rows = await self._pool.fetch(_FLAKY, pack.id, version)
        return [_flaky(r) for r in rows]
