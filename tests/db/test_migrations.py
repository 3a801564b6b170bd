"""Migrations against the real server: apply, re-apply, refuse rewritten history, take turns."""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from packgate.db import Database, default_migrations_dir, load_migrations
from packgate.errors import DatabaseError

pytestmark = pytest.mark.db

REPO = Path(__file__).resolve().parents[2]


def migrate(dsn: str, directory: Path | None = None) -> list[str]:
    async def main() -> list[str]:
        db = await Database.connect(dsn)
        try:
            return [m.filename for m in await db.migrate(directory)]
        finally:
            await db.close()

    return asyncio.run(main())


@pytest.fixture
def applied(raw: Callable[..., list[Any]]) -> Callable[[str], list[tuple[int, str, str]]]:
    def read(dsn: str) -> list[tuple[int, str, str]]:
        rows = raw(dsn, "SELECT version, name, checksum FROM packgate.schema_migrations ORDER BY 1")
        return [(r["version"], r["name"], r["checksum"]) for r in rows]

    return read


@pytest.fixture
def migrations_copy(tmp_path: Path) -> Path:
    target = tmp_path / "migrations"
    shutil.copytree(REPO / "migrations", target)
    return target


def test_default_directory_is_the_checkout() -> None:
    """In a checkout (an editable install included) the migrations are <repo>/migrations, never an
    installed copy of them."""
    assert default_migrations_dir().resolve() == (REPO / "migrations").resolve()


def test_apply_to_empty_database_then_noop(
    empty_database: str, applied: Callable[[str], list[tuple[int, str, str]]]
) -> None:
    """All files apply to an empty database in order; applying again applies nothing."""
    files = sorted(p.name for p in (REPO / "migrations").glob("*.sql"))
    assert migrate(empty_database) == files
    first = applied(empty_database)
    assert [(v, n) for v, n, _ in first] == [(m.version, m.name) for m in load_migrations()]
    assert [c for _, _, c in first] == [m.checksum for m in load_migrations()]
    assert migrate(empty_database) == []
    assert applied(empty_database) == first


def test_changed_checksum_is_refused(
    empty_database: str, migrations_copy: Path, applied: Callable[[str], list[tuple[int, str, str]]]
) -> None:
    """Editing an applied file is refused with one line naming the file; nothing else is applied."""
    migrate(empty_database, migrations_copy)
    first = migrations_copy / "0001_pack_test_results.sql"
    first.write_text(first.read_text() + "\n-- edited after the fact\n")
    (migrations_copy / "0099_later.sql").write_text("CREATE TABLE packgate.later (id int);\n")
    with pytest.raises(DatabaseError) as caught:
        migrate(empty_database, migrations_copy)
    message = str(caught.value)
    assert "0001_pack_test_results.sql changed after it was applied" in message
    assert "\n" not in message
    assert [v for v, _, _ in applied(empty_database)] == [m.version for m in load_migrations()]


def test_unknown_applied_version_is_refused(
    empty_database: str, migrations_copy: Path, applied: Callable[[str], list[tuple[int, str, str]]]
) -> None:
    """A database migrated by a newer Packgate is refused by an older one."""
    (migrations_copy / "0900_newer.sql").write_text("CREATE TABLE packgate.newer (id int);\n")
    assert migrate(empty_database, migrations_copy)[-1] == "0900_newer.sql"
    with pytest.raises(DatabaseError, match="has migration 0900_newer which this Packgate does not know"):
        migrate(empty_database)


def test_failing_migration_is_rolled_back(
    empty_database: str,
    migrations_copy: Path,
    applied: Callable[[str], list[tuple[int, str, str]]],
    raw: Callable[..., list[Any]],
) -> None:
    """A file that fails leaves no trace of itself: its statements and its row are rolled back."""
    migrate(empty_database)
    (migrations_copy / "0900_broken.sql").write_text(
        "CREATE TABLE packgate.half_done (id int);\nSELECT no_such_function();\n"
    )
    with pytest.raises(DatabaseError, match=r"migration 0900_broken.sql failed: function no_such_function\(\)"):
        migrate(empty_database, migrations_copy)
    assert [v for v, _, _ in applied(empty_database)] == [m.version for m in load_migrations()]
    tables = raw(empty_database, "SELECT to_regclass('packgate.half_done') AS t")
    assert tables[0]["t"] is None


def test_concurrent_migrations_take_turns(
    empty_database: str, applied: Callable[[str], list[tuple[int, str, str]]]
) -> None:
    """Two migrators at once: the advisory lock makes one apply everything and the other nothing."""

    async def main() -> list[list[str]]:
        dbs = [await Database.connect(empty_database) for _ in range(3)]
        try:
            results = await asyncio.gather(*(db.migrate() for db in dbs))
            return [[m.filename for m in r] for r in results]
        finally:
            for db in dbs:
                await db.close()

    results = sorted(main_result for main_result in asyncio.run(main()))
    files = sorted(p.name for p in (REPO / "migrations").glob("*.sql"))
    assert results == [[], [], files]
    assert len(applied(empty_database)) == len(files)


def test_badly_named_file_is_refused(migrations_copy: Path) -> None:
    """A .sql file that is not NNNN_name.sql is an error, not silently skipped."""
    (migrations_copy / "3_oops.sql").write_text("SELECT 1;\n")
    with pytest.raises(DatabaseError, match=re.escape("3_oops.sql is not named NNNN_lowercase_name.sql")):
        load_migrations(migrations_copy)


def test_duplicate_version_is_refused(migrations_copy: Path) -> None:
    """Two files with one version number are an error."""
    (migrations_copy / "0002_other.sql").write_text("SELECT 1;\n")
    with pytest.raises(DatabaseError, match="share version 2"):
        load_migrations(migrations_copy)
