"""`packgate migrate`: apply the pending schema migrations to PostgreSQL.

Owns: the command line of `migrate` and where a command finds the database URL
(`--database-url`, else PACKGATE_DATABASE_URL).  Must not: hold SQL or import asyncpg at import
time (`packgate.db` is imported inside `run`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from packgate.commands import COMMANDS
from packgate.errors import DatabaseError

HELP = COMMANDS["migrate"]


def add_database_url_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        metavar="URL",
        help="postgresql://user:password@host:port/database (default: $PACKGATE_DATABASE_URL)",
    )


def database_url(args: argparse.Namespace) -> str:
    """--database-url, else the PACKGATE_DATABASE_URL setting; a one-line error when neither is set."""
    if args.database_url:
        return str(args.database_url)
    from packgate.settings import load_settings

    url = load_settings().database_url
    if url is None or not url.get_secret_value():
        raise DatabaseError("no database: set PACKGATE_DATABASE_URL or pass --database-url")
    return url.get_secret_value()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_database_url_argument(parser)
    parser.add_argument(
        "--migrations-dir",
        type=Path,
        metavar="DIR",
        help="directory of NNNN_name.sql files (default: the ones shipped with Packgate)",
    )


def run(args: argparse.Namespace) -> int:
    import asyncio

    from packgate.db.store import Database
    from packgate.settings import load_settings

    dsn = database_url(args)
    # PACKGATE_MIGRATIONS_DIR as the operator reads it (the image sets it); read before connecting,
    # so a bad setting is one line and exit 2.
    directory = args.migrations_dir or load_settings().migrations_dir

    async def migrate() -> tuple[str, list[str]]:
        db = await Database.connect(dsn)
        try:
            return db.target, [m.filename for m in await db.migrate(directory)]
        finally:
            await db.close()

    target, applied = asyncio.run(migrate())
    for filename in applied:
        print(f"Applied migration {filename}")
    if applied:
        print(f"database {target} migrated ({len(applied)} applied)")
    else:
        print(f"database {target} is up to date")
    return 0
