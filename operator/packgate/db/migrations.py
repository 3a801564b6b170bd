"""Schema migrations: numbered SQL files applied in order, each once, tracked with checksums.

Owns: finding the migrations directory, loading `NNNN_name.sql` files (pure), deciding what is
pending (pure), and applying it under a PostgreSQL advisory lock -- each file in its own
transaction together with its row in `packgate.schema_migrations`.
Must not: edit history.  An applied file whose checksum changed, or an applied version this
Packgate does not know, is refused with one clear line; nothing is applied then.

Where the files are found (`default_migrations_dir`): `<repo>/migrations` of a checkout (an
editable install included: the files being edited), else the copy a wheel installed as data files
under `<prefix>/share/packgate/migrations` (pyproject's `tool.setuptools.data-files`), found
through the RECORD of the distribution that installed this very module, so any install scheme
works.  `<repo>/migrations` is the only source of the files.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg

from packgate.db._errors import is_unavailable, one_line
from packgate.errors import DatabaseError

MIGRATION_FILE = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)\.sql$")

ADVISORY_LOCK_KEY = int.from_bytes(b"packgate", "big") >> 1
"""pg_advisory_lock key held while migrating, so replicas and `packgate migrate` take turns."""

_BOOTSTRAP = """
CREATE SCHEMA IF NOT EXISTS packgate;
CREATE TABLE IF NOT EXISTS packgate.schema_migrations (
    version     integer PRIMARY KEY,
    name        text NOT NULL,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);
"""


@dataclass(frozen=True)
class Migration:
    """One migration file."""

    version: int
    name: str
    filename: str
    sql: str
    checksum: str  # sha256 of the file's bytes, hex


@dataclass(frozen=True)
class AppliedMigration:
    """One row of packgate.schema_migrations."""

    version: int
    name: str
    checksum: str
    applied_at: datetime | None = None


INSTALLED_DIR = ("share", "packgate", "migrations")
"""Where a wheel installs the migrations, relative to the install prefix (pyproject's data-files)."""


def default_migrations_dir() -> Path:
    """The checkout's `<repo>/migrations`, else the installed `<prefix>/share/packgate/migrations`."""
    repo = Path(__file__).resolve().parents[3]  # <repo>/operator/packgate/db/migrations.py
    checkout = repo / "migrations"
    if (repo / "pyproject.toml").is_file() and checkout.is_dir():
        return checkout
    installed = installed_migrations_dir()
    if installed is not None:
        return installed
    raise DatabaseError(
        f"migrations not found: not in a checkout ({checkout}) and not installed with the packgate "
        f"distribution ({'/'.join(INSTALLED_DIR)}); set PACKGATE_MIGRATIONS_DIR"
    )


def installed_migrations_dir() -> Path | None:
    """The directory of the `.sql` files installed by the distribution this module belongs to
    (another installed copy of packgate, elsewhere on the path, is not asked), or None."""
    here = Path(__file__).resolve()
    for distribution in importlib.metadata.distributions(name="packgate"):
        files = distribution.files or []
        if not any(Path(str(f.locate())).resolve() == here for f in files if f.name == here.name):
            continue
        for file in files:
            if file.parts[-4:-1] == INSTALLED_DIR and file.suffix == ".sql":
                return Path(str(file.locate())).resolve().parent
        return None
    return None


def load_migrations(directory: Path | None = None) -> list[Migration]:
    """Every `NNNN_name.sql` in `directory` (default: `default_migrations_dir()`), by version."""
    directory = default_migrations_dir() if directory is None else directory
    try:
        paths = sorted(p for p in directory.iterdir() if p.suffix == ".sql")
    except OSError as exc:
        raise DatabaseError(f"cannot read migrations directory {directory}: {exc.strerror}") from exc
    migrations: dict[int, Migration] = {}
    for path in paths:
        match = MIGRATION_FILE.match(path.name)
        if not match:
            raise DatabaseError(f"migration file {path.name} is not named NNNN_lowercase_name.sql")
        try:
            data = path.read_bytes()
            sql = data.decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise DatabaseError(f"cannot read migration {path}: {exc}") from exc
        version = int(match["version"])
        if version in migrations:
            raise DatabaseError(f"migrations {migrations[version].filename} and {path.name} share version {version}")
        migrations[version] = Migration(
            version=version,
            name=match["name"],
            filename=path.name,
            sql=sql,
            checksum=hashlib.sha256(data).hexdigest(),
        )
    if not migrations:
        raise DatabaseError(f"no migrations in {directory}")
    return [migrations[v] for v in sorted(migrations)]


def pending_migrations(available: Sequence[Migration], applied: Iterable[AppliedMigration]) -> list[Migration]:
    """The migrations still to apply, after checking that history was not rewritten."""
    known = {m.version: m for m in available}
    done: set[int] = set()
    for row in applied:
        migration = known.get(row.version)
        if migration is None:
            raise DatabaseError(
                f"the database has migration {row.version:04d}_{row.name} which this Packgate does not "
                "know; run a Packgate at least as new as the one that applied it"
            )
        if migration.checksum != row.checksum:
            raise DatabaseError(
                f"migration {migration.filename} changed after it was applied (checksum "
                f"{row.checksum[:12]} in the database, {migration.checksum[:12]} on disk); restore the file "
                "and put the change in a new migration"
            )
        done.add(row.version)
    return [m for m in available if m.version not in done]


async def applied_migrations(connection: Any) -> list[AppliedMigration]:
    """The rows of packgate.schema_migrations (none when the table does not exist yet)."""
    exists = await connection.fetchval("SELECT to_regclass('packgate.schema_migrations') IS NOT NULL")
    if not exists:
        return []
    rows = await connection.fetch(
        "SELECT version, name, checksum, applied_at FROM packgate.schema_migrations ORDER BY version"
    )
    return [AppliedMigration(r["version"], r["name"], r["checksum"], r["applied_at"]) for r in rows]


async def apply_migrations(connection: Any, migrations: Sequence[Migration]) -> list[Migration]:
    """Apply what is pending on an asyncpg connection; return what was applied (empty: up to date).

    Holds a session advisory lock meanwhile, so concurrent callers wait and then find nothing to do.
    Each file runs in its own transaction with its schema_migrations row: a failing file leaves
    the database at the previous version.  Connection errors propagate for the caller to translate.
    """
    await connection.execute("SELECT pg_advisory_lock($1)", ADVISORY_LOCK_KEY)
    try:
        await connection.execute(_BOOTSTRAP)
        pending = pending_migrations(migrations, await applied_migrations(connection))
        for migration in pending:
            try:
                async with connection.transaction():
                    await connection.execute(migration.sql)
                    await connection.execute(
                        "INSERT INTO packgate.schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                        migration.version,
                        migration.name,
                        migration.checksum,
                    )
            except asyncpg.PostgresError as exc:
                if is_unavailable(exc):
                    raise
                raise DatabaseError(f"migration {migration.filename} failed: {one_line(exc)}") from exc
    except BaseException:
        # The lock dies with the session; a broken connection must not hide the original error.
        with contextlib.suppress(Exception):
            if not connection.is_closed():
                await connection.execute("SELECT pg_advisory_unlock($1)", ADVISORY_LOCK_KEY)
        raise
    await connection.execute("SELECT pg_advisory_unlock($1)", ADVISORY_LOCK_KEY)
    return pending
