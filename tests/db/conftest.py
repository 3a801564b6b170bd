"""Builders for the database tests: results with chosen test cases, records around them, and a
runner that gives an async test body a connected Database for the test's own database."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest

from packgate.db import Database, ExecutionRecord
from packgate.results import PackTestResult, TestCaseResult, TestStatus, combine, suite_from_cases

T = TypeVar("T")


def _make_result(
    cases: dict[str, TestStatus],
    *,
    version: str = "1.0.0",
    when: datetime | None = None,
    duration_ms: int | None = None,
    ref: str = "core",
) -> PackTestResult:
    """A PackTestResult whose cases are given as {"suite::case": status}; each case takes 10 ms."""
    by_suite: dict[str, list[TestCaseResult]] = {}
    for key, status in cases.items():
        suite, case = key.split("::", 1)
        message = None if status in (TestStatus.PASSED, TestStatus.SKIPPED) else f"{case} went wrong"
        by_suite.setdefault(suite, []).append(
            TestCaseResult(name=case, status=status, duration_ms=10, error_message=message)
        )
    suites = [suite_from_cases(name, "script", cases_) for name, cases_ in by_suite.items()]
    return combine(ref, version, when or datetime.now(UTC), suites, duration_ms=duration_ms)


def _make_record(
    result: PackTestResult,
    key: str,
    *,
    uid: str = "uid-core",
    namespace: str = "default",
    name: str = "core",
    trigger: str = "install",
    allowed: bool = True,
    forced: bool = False,
    active_version: str | None = None,
) -> ExecutionRecord:
    """An ExecutionRecord of `result` for the Pack default/core unless told otherwise."""
    return ExecutionRecord.model_validate(
        {
            "pack_uid": uid,
            "namespace": namespace,
            "name": name,
            "ref": result.pack_ref,
            "version": result.pack_version,
            "active_version": active_version,
            "execution_id": key.rsplit("/", 1)[-1],
            "idempotency_key": key,
            "trigger": trigger,
            "forced": forced,
            "allowed": allowed,
            "result": result,
        }
    )


@pytest.fixture
def run_db(database: str) -> Callable[[Callable[[Database], Awaitable[T]]], T]:
    """Runs `body(db)` in a fresh event loop with a Database connected to the test's database."""

    def run(body: Callable[[Database], Awaitable[T]]) -> T:
        async def main() -> T:
            db = await Database.connect(database)
            try:
                return await body(db)
            finally:
                await db.close()

        return asyncio.run(main())

    return run


async def fetch(dsn: str, query: str, *args: Any) -> list[Any]:
    """Raw SQL on a database (asyncpg records)."""
    import asyncpg

    connection = await asyncpg.connect(dsn)
    try:
        return list(await connection.fetch(query, *args))
    finally:
        await connection.close()


@pytest.fixture
def make_result() -> Callable[..., PackTestResult]:
    """make_result({"suite::case": status, ...}, version=..., when=..., duration_ms=...)"""
    return _make_result


@pytest.fixture
def make_record() -> Callable[..., ExecutionRecord]:
    """make_record(result, idempotency_key, uid=..., trigger=..., allowed=..., active_version=...)"""
    return _make_record


@pytest.fixture
def raw() -> Callable[..., list[Any]]:
    """raw(dsn, query, *args): raw SQL on any database, outside any event loop."""

    def run(dsn: str, query: str, *args: Any) -> list[Any]:
        return asyncio.run(fetch(dsn, query, *args))

    return run


@pytest.fixture
def sql(database: str) -> Callable[..., list[Any]]:
    """sql(query, *args): raw SQL on the test's database, outside any event loop."""

    def run(query: str, *args: Any) -> list[Any]:
        return asyncio.run(fetch(database, query, *args))

    return run
