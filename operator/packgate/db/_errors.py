"""Turns asyncpg and socket errors into Packgate's DatabaseError / DatabaseUnavailable.

Owns: the decision which failures mean "PostgreSQL can't be reached right now" (records are
deferred and retried) and which mean "PostgreSQL refused this call" (a bug or a bad row).
Must not: leak a password into a message; messages are one line.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import asyncpg
import asyncpg.exceptions

from packgate.errors import DatabaseError, DatabaseUnavailable, PackgateError

_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, unreachable, DNS
    TimeoutError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,  # class 08: connection exceptions, connection does not exist
    asyncpg.exceptions.AdminShutdownError,  # 57P01: the server is shutting down
    asyncpg.exceptions.CrashShutdownError,  # 57P02
    asyncpg.exceptions.CannotConnectNowError,  # 57P03: the server is starting up
    asyncpg.exceptions.TooManyConnectionsError,  # 53300
)


def describe_target(dsn: str) -> str:
    """host:port/database of a DSN, without user or password; a neutral phrase when unparseable."""
    try:
        parts = urlsplit(dsn)
        host = parts.hostname or "localhost"
        port = parts.port or 5432
    except ValueError:
        return "the configured database"
    database = parts.path.lstrip("/") or (parts.username or "")
    return f"{host}:{port}/{database}" if database else f"{host}:{port}"


def one_line(exc: BaseException) -> str:
    """The first line of an exception's message, or its class name when it has none."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        return "timed out"
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def is_unavailable(exc: BaseException) -> bool:
    return isinstance(exc, _UNAVAILABLE)


@contextmanager
def translated(target: str, *, connecting: bool = False) -> Iterator[None]:
    """Re-raise asyncpg/OS errors as DatabaseUnavailable or DatabaseError (`raise ... from`).

    While `connecting`, every failure means the database can't be used yet (refused, timed out,
    starting up, wrong password, missing database): DatabaseUnavailable.
    """
    try:
        yield
    except PackgateError:
        raise
    except Exception as exc:
        if connecting or is_unavailable(exc):
            raise DatabaseUnavailable(f"cannot reach PostgreSQL at {target}: {one_line(exc)}") from exc
        if isinstance(exc, asyncpg.PostgresError | asyncpg.InterfaceError):
            raise DatabaseError(f"PostgreSQL at {target} failed a call: {one_line(exc)}") from exc
        raise
