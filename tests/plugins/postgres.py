"""pytest plugin: one real PostgreSQL per session (hack/localpg), one fresh database per test.

Fixtures:
    postgres        (session)  the running localpg.PostgresServer: its own temporary data directory
                               and free port; `.dsn`, `.dsn_for(db)`, `.stop()`, `.start()`, `.psql()`
    database        (function) DSN of a new database with every migration applied (a copy of a
                               template migrated once per session); dropped after the test
    empty_database  (function) DSN of a new, empty database (nothing migrated); dropped after

If the server can't start, every test that needs it FAILS with the server log tail -- never skips.
A test may stop the server (to simulate an outage); the fixtures start it again before cleaning up.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from localpg import LocalPostgresError, PostgresServer, free_port

TEMPLATE = "packgate_template"


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """The session's PostgreSQL server (fails the test, with the log tail, when it can't start)."""
    # Under /tmp and world-traversable: the server runs as an unprivileged user when we are root.
    root = Path(tempfile.mkdtemp(prefix="packgate-pg-"))
    root.chmod(0o711)
    server = PostgresServer(root / "server", free_port())
    try:
        server.start()
    except LocalPostgresError as exc:
        _cleanup(server, root)
        pytest.fail(f"PostgreSQL for the tests did not start: {exc}", pytrace=False)
    try:
        yield server
    finally:
        _cleanup(server, root)


def _cleanup(server: PostgresServer, root: Path) -> None:
    try:
        server.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _ensure_running(server: PostgresServer) -> None:
    if not server.is_accepting():
        server.start()


@pytest.fixture(scope="session")
def _migrated_template(postgres: PostgresServer) -> str:
    """A database with every migration applied, copied by `database` (CREATE DATABASE ... TEMPLATE)."""
    from packgate.db import Database

    postgres.drop_database(TEMPLATE)
    dsn = postgres.create_database(TEMPLATE)

    async def migrate() -> None:
        db = await Database.connect(dsn)
        try:
            await db.migrate()
        finally:
            await db.close()

    asyncio.run(migrate())
    return TEMPLATE


def _new_database(server: PostgresServer, template: str | None) -> Iterator[str]:
    name = f"test_{uuid.uuid4().hex[:16]}"
    dsn = server.create_database(name, template=template)
    try:
        yield dsn
    finally:
        _ensure_running(server)
        server.drop_database(name)


@pytest.fixture
def database(postgres: PostgresServer, _migrated_template: str) -> Iterator[str]:
    """DSN of a fresh database of this test's own, fully migrated."""
    yield from _new_database(postgres, _migrated_template)


@pytest.fixture
def empty_database(postgres: PostgresServer) -> Iterator[str]:
    """DSN of a fresh, empty database of this test's own."""
    yield from _new_database(postgres, None)
