"""Turns asyncpg and socket errors into Packgate's DatabaseUnavailable, RecordRefused or
DatabaseError.

Owns: the decision, by exception type, what a failure means (`classify`):

- an outage -- PostgreSQL can't be used right now (connection refused/reset/lost, timeouts, too
  many connections or other resources exhausted, a server shutting down or starting up, a
  cancelled statement, a serialization failure or deadlock): DatabaseUnavailable, records are
  deferred and retried;
- a refusal -- PostgreSQL (or the driver) refused this data (class 22 data exceptions, class 23
  integrity constraint violations, class 54 program limits, a value the driver can't encode):
  RecordRefused, retrying the same record would fail the same way;
- anything else -- a missing table, a missing privilege, a bug: DatabaseError (records are kept
  deferred and retried: the cause is not in the record).

Each failure is counted in packgate_database_errors by `error_kind` where it is translated.

Must not: leak a password into a message; messages are one line.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from urllib.parse import urlsplit

import asyncpg
import asyncpg.exceptions
import asyncpg.exceptions._base

from packgate import metrics
from packgate.errors import DatabaseError, DatabaseUnavailable, PackgateError, RecordRefused


class Failure(StrEnum):
    """What a database failure means for the call that failed."""

    OUTAGE = "outage"  # PostgreSQL can't be used now: defer and retry
    REFUSED = "refused"  # this data is refused: retrying the same call fails again
    FAILED = "failed"  # neither: a setup problem (schema, privileges) or a bug
    FOREIGN = "foreign"  # not a database error at all


_REFUSED: tuple[type[BaseException], ...] = (
    asyncpg.exceptions.DataError,  # class 22: invalid text, out of range, bad encoding...
    asyncpg.exceptions.IntegrityConstraintViolationError,  # class 23: check, not null, unique, foreign key
    asyncpg.exceptions.TransactionIntegrityConstraintViolationError,  # 40002: a deferred constraint, at commit
    asyncpg.exceptions.ProgramLimitExceededError,  # class 54: a row, an index entry or a statement too big
    asyncpg.exceptions._base.DataError,  # the driver could not encode an argument
)

_OUTAGE: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, unreachable, DNS
    TimeoutError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,  # class 08: connection exceptions, connection does not exist
    asyncpg.exceptions.InsufficientResourcesError,  # class 53: too many connections, disk full, out of memory
    asyncpg.exceptions.OperatorInterventionError,  # class 57: shutting down, starting up, statement cancelled
    asyncpg.exceptions.TransactionRollbackError,  # class 40: serialization failure, deadlock
    asyncpg.InterfaceError,  # the client side of the connection is closed or unusable
)


def classify(exc: BaseException) -> Failure:
    """What `exc`, raised by asyncpg or the socket under it, means.  Pure: by type only."""
    if isinstance(exc, _REFUSED):
        return Failure.REFUSED
    if isinstance(exc, _OUTAGE):
        return Failure.OUTAGE
    if isinstance(exc, asyncpg.PostgresError | asyncpg.exceptions._base.InternalClientError):
        return Failure.FAILED
    return Failure.FOREIGN


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
    return classify(exc) is Failure.OUTAGE


def error_kind(failure: Failure, *, connecting: bool = False) -> str | None:
    """The `kind` label of packgate_database_errors: outage, refused or other, as `translated`
    raises it; None for a foreign error (not the database's: it passes through uncounted)."""
    if connecting or failure is Failure.OUTAGE:
        return "outage"
    if failure is Failure.REFUSED:
        return "refused"
    if failure is Failure.FAILED:
        return "other"
    return None


@contextmanager
def translated(target: str, *, connecting: bool = False) -> Iterator[None]:
    """Re-raise asyncpg/OS errors as DatabaseUnavailable, RecordRefused or DatabaseError
    (`raise ... from`), as `classify` says.

    While `connecting`, every failure means the database can't be used yet (refused, timed out,
    starting up, wrong password, missing database): DatabaseUnavailable.
    """
    try:
        yield
    except PackgateError:
        raise
    except Exception as exc:
        failure = classify(exc)
        kind = error_kind(failure, connecting=connecting)
        if kind is not None:
            metrics.DATABASE_ERRORS.labels(kind=kind).inc()
        if connecting or failure is Failure.OUTAGE:
            raise DatabaseUnavailable(f"cannot reach PostgreSQL at {target}: {one_line(exc)}") from exc
        if failure is Failure.REFUSED:
            raise RecordRefused(f"PostgreSQL at {target} refused the data: {one_line(exc)}") from exc
        if failure is Failure.FAILED:
            raise DatabaseError(f"PostgreSQL at {target} failed a call: {one_line(exc)}") from exc
        raise
