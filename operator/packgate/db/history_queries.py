"""Read-only queries behind the history UI and its JSON API (`packgate ui`).

Owns: the SQL the UI runs -- Packs of a set of namespaces with their recent pass rates, one Pack's
executions page by page (newest first, a keyset cursor), one execution by its row id with its
full result, the test cases of a few executions (the per-test grid) and the statuses of one
execution (comparisons) -- and the read models they return.  It only SELECTs, so it works with
the `packgate_reader` role of migration 0004.  Must not: write, decide who may see what (the
caller passes the namespaces it may show), or hand asyncpg records to callers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from packgate.db._errors import translated
from packgate.db.models import Compaction, ExecutionSummary, PackInfo
from packgate.db.store import Database, _pack, _stored_result, _summary_fields
from packgate.history import case_key
from packgate.results import PackTestResult, RunStatus, TestStatus

__all__ = ["CaseRun", "ExecutionPage", "HistoryReader", "PackRow", "StoredExecution", "StoredExecutionDetail"]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PackRow(_Frozen):
    """A Pack as the overview lists it: its row and the pass rates of its latest executions,
    oldest first (the sparkline)."""

    pack: PackInfo
    recent_pass_rates: list[float] = Field(default_factory=list)


class StoredExecution(ExecutionSummary):
    """An execution of the history with its row id (the UI's execution id) and its Pack."""

    id: int = Field(description="row id of pack_test_execution: the id of /api/v1/executions/{id}")
    namespace: str
    name: str


class StoredExecutionDetail(StoredExecution):
    """One execution with its whole result."""

    result: PackTestResult
    compacted: Compaction | None = None


class ExecutionPage(_Frozen):
    """One page of a Pack's history, newest first; `next_before` is the cursor of the next page
    (None on the last one)."""

    items: list[StoredExecution]
    next_before: int | None


class CaseRun(_Frozen):
    """One test case of one execution (a cell of the per-test grid)."""

    execution: int
    key: str
    status: TestStatus
    duration_ms: int
    error_message: str | None


# ----------------------------------------------------------------------------------------- SQL

_LIST_PACKS = """
SELECT p.id, p.uid, p.namespace, p.name, p.ref, p.version, p.active_version, p.created_at, p.updated_at,
       p.deleted_at, p.last_tested_at, p.last_tested_version, p.last_test_status, p.last_pass_rate,
       p.test_count,
       COALESCE((SELECT array_agg(r.pass_rate ORDER BY r.execution_time, r.id)
                   FROM (SELECT e.pass_rate, e.execution_time, e.id
                           FROM packgate.pack_test_execution AS e
                          WHERE e.pack_id = p.id
                          ORDER BY e.execution_time DESC, e.id DESC
                          LIMIT $3) AS r), '{}') AS recent
  FROM packgate.pack AS p
 WHERE p.deleted_at IS NULL
   AND ($1::text[] IS NULL OR p.namespace = ANY($1::text[]))
   AND ($2::text IS NULL OR p.last_test_status = $2)
 ORDER BY p.namespace, p.name
"""

_NAMESPACES = "SELECT DISTINCT namespace FROM packgate.pack ORDER BY namespace"

_EXECUTION_COLUMNS = """
    e.id, p.namespace, p.name, e.execution_id, e.idempotency_key, e.pack_version, e.trigger_reason, e.status,
    e.execution_time, e.total_tests, e.passed, e.failed, e.skipped, e.pass_rate, e.duration_ms, e.forced,
    e.allowed, e.digest, e.cached_from
"""

# Keyset pagination on the index (pack_id, execution_time DESC, id DESC): `before` is the row id
# of the last execution of the previous page.
_EXECUTIONS = f"""
SELECT {_EXECUTION_COLUMNS}
  FROM packgate.pack_test_execution AS e
  JOIN packgate.pack AS p ON p.id = e.pack_id
 WHERE e.pack_id = $1
   AND ($2::bigint IS NULL OR (e.execution_time, e.id) < (
            SELECT b.execution_time, b.id FROM packgate.pack_test_execution AS b
             WHERE b.id = $2 AND b.pack_id = $1))
   AND ($3::text IS NULL OR e.trigger_reason = $3)
   AND ($4::text IS NULL OR e.status = $4)
   AND ($5::text IS NULL OR e.pack_version = $5)
 ORDER BY e.execution_time DESC, e.id DESC
 LIMIT $6
"""

_EXECUTION = f"""
SELECT {_EXECUTION_COLUMNS}, e.result
  FROM packgate.pack_test_execution AS e
  JOIN packgate.pack AS p ON p.id = e.pack_id
 WHERE e.id = $1
"""

_EXECUTION_OWNER = """
SELECT p.namespace, p.name, e.pack_version
  FROM packgate.pack_test_execution AS e JOIN packgate.pack AS p ON p.id = e.pack_id
 WHERE e.id = $1
"""

_CASES_OF = """
SELECT c.execution_id, c.suite_name, c.case_name, c.status, c.duration_ms, c.error_message
  FROM packgate.pack_test_case AS c
 WHERE c.execution_id = ANY($1::bigint[])
 ORDER BY c.execution_id, c.id
"""

# The base of a comparison: the latest execution of `version` that has test cases, as in
# Database.last_case_statuses, but by pack row id and returning the execution's row id.
_BASE_EXECUTION = """
SELECT e.id
  FROM packgate.pack_test_execution AS e
 WHERE e.pack_id = $1 AND e.pack_version = $2 AND ($3::bigint IS NULL OR e.id <> $3)
   AND COALESCE((e.result -> 'compacted' ->> 'cases_omitted')::bigint, 0) = 0
   AND EXISTS (SELECT 1 FROM packgate.pack_test_case AS x WHERE x.execution_id = e.id)
 ORDER BY e.execution_time DESC, e.id DESC
 LIMIT 1
"""


def _stored(row: object) -> dict[str, object]:
    fields = _summary_fields(row)
    return {**fields, "id": row["id"], "namespace": row["namespace"], "name": row["name"]}  # type: ignore[index]


class HistoryReader(Database):
    """The Database with the UI's reads.  Open with `await HistoryReader.open(dsn)`."""

    @classmethod
    async def open(cls, dsn: str, **options: Any) -> HistoryReader:
        """`Database.connect(dsn, **options)` as a HistoryReader."""
        db = await Database.connect(dsn, **options)
        return cls(db._pool, db.target)

    async def namespaces(self) -> list[str]:
        """Every namespace that has (or had) a Pack in the database."""
        with translated(self.target):
            rows = await self._pool.fetch(_NAMESPACES)
        return [r["namespace"] for r in rows]

    async def list_packs(
        self, namespaces: Sequence[str] | None, status: RunStatus | None = None, recent: int = 20
    ) -> list[PackRow]:
        """Live Packs of `namespaces` (all when None), with last test status `status` if given,
        each with the pass rates of its `recent` latest executions."""
        with translated(self.target):
            rows = await self._pool.fetch(
                _LIST_PACKS,
                None if namespaces is None else list(namespaces),
                None if status is None else status.value,
                recent,
            )
        return [
            PackRow(pack=_pack({k: v for k, v in r.items() if k != "recent"}), recent_pass_rates=list(r["recent"]))
            for r in rows
        ]

    async def executions(
        self,
        pack_id: int,
        *,
        limit: int = 50,
        before: int | None = None,
        trigger: str | None = None,
        status: str | None = None,
        version: str | None = None,
    ) -> ExecutionPage:
        """One page of the Pack's executions, newest first, after the execution `before` (a row id)."""
        with translated(self.target):
            rows = await self._pool.fetch(_EXECUTIONS, pack_id, before, trigger, status, version, limit + 1)
        items = [StoredExecution.model_validate(_stored(r)) for r in rows[:limit]]
        return ExecutionPage(items=items, next_before=items[-1].id if len(rows) > limit else None)

    async def execution_owner(self, execution: int) -> tuple[str, str, str] | None:
        """(namespace, name, version) of the execution's Pack, None when there is no such
        execution: checked before anything else of it is read."""
        with translated(self.target):
            row = await self._pool.fetchrow(_EXECUTION_OWNER, execution)
        return None if row is None else (row["namespace"], row["name"], row["pack_version"])

    async def execution(self, execution: int) -> StoredExecutionDetail | None:
        """The execution with this row id and its whole result."""
        with translated(self.target):
            row = await self._pool.fetchrow(_EXECUTION, execution)
        if row is None:
            return None
        result, compacted = _stored_result(row)
        return StoredExecutionDetail.model_validate({**_stored(row), "result": result, "compacted": compacted})

    async def case_runs(self, executions: Sequence[int]) -> list[CaseRun]:
        """The test cases of these executions (row ids), in stored order."""
        if not executions:
            return []
        with translated(self.target):
            rows = await self._pool.fetch(_CASES_OF, list(executions))
        return [
            CaseRun(
                execution=r["execution_id"],
                key=case_key(r["suite_name"], r["case_name"]),
                status=TestStatus(r["status"]),
                duration_ms=r["duration_ms"],
                error_message=r["error_message"],
            )
            for r in rows
        ]

    async def case_statuses_of(self, execution: int) -> dict[str, TestStatus]:
        """Status of every test ("suite::case") of one execution (a repeated name keeps its last)."""
        return {run.key: run.status for run in await self.case_runs([execution])}

    async def base_execution(self, pack_id: int, version: str, exclude: int | None) -> int | None:
        """Row id of the latest execution of `version` with test cases, other than `exclude`."""
        with translated(self.target):
            value = await self._pool.fetchval(_BASE_EXECUTION, pack_id, version, exclude)
        return None if value is None else int(value)
