"""The UI's reads (packgate.db.history_queries) against the real PostgreSQL, as the read-only
role of migration 0004."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from localpg import PostgresServer
from packgate.db.history_queries import HistoryReader
from packgate.results import RunStatus
from packgate.results import TestStatus as T
from ui.seed import Run, record_history

pytestmark = pytest.mark.db

R = TypeVar("R")


@pytest.fixture
def reader_dsn(postgres: PostgresServer, database: str) -> Iterator[str]:
    """DSN of a login role that is only a member of packgate_reader, on the test's database."""
    role = f"ui_{uuid.uuid4().hex[:10]}"
    postgres.psql(f"CREATE ROLE {role} LOGIN PASSWORD 'reader-pw' IN ROLE packgate_reader")
    parts = urlsplit(database)
    yield urlunsplit(parts._replace(netloc=f"{role}:reader-pw@{parts.hostname}:{parts.port}"))
    postgres.psql(f"DROP OWNED BY {role}; DROP ROLE {role}", database=parts.path.lstrip("/"))


def read(dsn: str, body: Callable[[HistoryReader], Awaitable[R]]) -> R:
    async def main() -> R:
        reader = await HistoryReader.open(dsn)
        try:
            return await body(reader)
        finally:
            await reader.close()

    return asyncio.run(main())


def test_reader_role_reads_but_cannot_write(database: str, reader_dsn: str) -> None:
    """A member of packgate_reader reads every table and view the UI uses, and PostgreSQL refuses
    its INSERT, UPDATE and DELETE."""
    record_history(database, "ns", "core", [Run({"s::a": T.PASSED})])

    async def body(reader: HistoryReader) -> list[str]:
        packs = await reader.list_packs(None)
        assert [p.pack.name for p in packs] == ["core"]
        assert (await reader.stats("ns", "core")) is not None
        refused = []
        for statement in (
            "INSERT INTO packgate.pack (uid, namespace, name, ref, version) VALUES ('u', 'n', 'm', 'r', 'v')",
            "UPDATE packgate.pack SET version = 'x'",
            "DELETE FROM packgate.pack_test_execution",
        ):
            with pytest.raises(asyncpg.PostgresError) as caught:
                await reader._pool.execute(statement)
            refused.append(type(caught.value).__name__)
        return refused

    assert read(reader_dsn, body) == ["InsufficientPrivilegeError"] * 3


def test_executions_page_newest_first_with_cursor_and_filters(database: str, reader_dsn: str) -> None:
    """Pages of 2 cover all 5 executions newest first without repeats; the cursor is the last row
    id; filters by status, trigger and version apply before paging."""
    runs = [
        Run({"s::a": T.PASSED}, version="1.0.0", trigger="install"),
        Run({"s::a": T.FAILED}, version="1.0.0"),
        Run({"s::a": T.PASSED}, version="1.1.0"),
        Run({"s::a": T.FAILED}, version="1.1.0", trigger="manual"),
        Run({"s::a": T.PASSED}, version="1.1.0", trigger="validation"),
    ]
    record_history(database, "ns", "core", runs)

    async def body(reader: HistoryReader) -> tuple[list[str], list[str], list[str], list[str]]:
        pack = await reader.find_pack("ns", "core")
        assert pack is not None
        seen: list[str] = []
        before = None
        while True:
            page = await reader.executions(pack.id, limit=2, before=before)
            seen.extend(e.execution_id for e in page.items)
            if page.next_before is None:
                break
            assert page.next_before == page.items[-1].id
            before = page.next_before
        failed = await reader.executions(pack.id, status=RunStatus.FAILED.value)
        manual = await reader.executions(pack.id, trigger="manual")
        old = await reader.executions(pack.id, version="1.0.0")
        return (
            seen,
            [e.execution_id for e in failed.items],
            [e.execution_id for e in manual.items],
            [e.execution_id for e in old.items],
        )

    assert read(reader_dsn, body) == (
        ["x0004", "x0003", "x0002", "x0001", "x0000"],
        ["x0003", "x0001"],
        ["x0003"],
        ["x0001", "x0000"],
    )


def test_list_packs_scoped_with_recent_pass_rates(database: str, reader_dsn: str) -> None:
    """list_packs shows live Packs of the given namespaces only, filtered by last status, each
    with its latest pass rates oldest first; the namespaces query lists every namespace."""
    record_history(database, "a", "one", [Run({"s::x": T.PASSED, "s::y": T.FAILED}), Run({"s::x": T.PASSED})])
    record_history(database, "b", "two", [Run({"s::x": T.FAILED})])

    async def body(reader: HistoryReader) -> tuple[object, ...]:
        only_a = await reader.list_packs(["a"])
        failed = await reader.list_packs(None, RunStatus.FAILED)
        none = await reader.list_packs([])
        return (
            [(p.pack.namespace, p.pack.name, p.recent_pass_rates) for p in only_a],
            [p.pack.name for p in failed],
            none,
            await reader.namespaces(),
        )

    assert read(reader_dsn, body) == ([("a", "one", [0.5, 1.0])], ["two"], [], ["a", "b"])


def test_execution_detail_cases_and_comparison_base(database: str, reader_dsn: str) -> None:
    """An execution by row id carries its whole result (Job name, messages); its owner is its
    Pack; case_runs lists its cases; the comparison base is the latest other execution of a
    version that has cases."""
    runs = [
        Run({"s::a": T.PASSED, "s::b": T.PASSED}, version="1.0.0", active_version="1.0.0"),
        Run({"s::a": T.FAILED, "s::b": T.PASSED}, version="2.0.0", messages={"s::a": "expected 1"}, job="core-s-1"),
    ]
    record_history(database, "ns", "core", runs)

    async def body(reader: HistoryReader) -> tuple[object, ...]:
        pack = await reader.find_pack("ns", "core")
        assert pack is not None
        page = await reader.executions(pack.id)
        head, base = page.items
        detail = await reader.execution(head.id)
        assert detail is not None
        suite = detail.result.test_suites[0]
        return (
            await reader.execution_owner(head.id),
            suite.job_name,
            [(c.name, c.error_message) for c in suite.test_cases],
            await reader.case_statuses_of(head.id),
            await reader.base_execution(pack.id, "1.0.0", head.id) == base.id,
            await reader.execution(10**9),
        )

    assert read(reader_dsn, body) == (
        ("ns", "core", "2.0.0"),
        "core-s-1",
        [("a", "expected 1"), ("b", None)],
        {"s::a": T.FAILED, "s::b": T.PASSED},
        True,
        None,
    )
