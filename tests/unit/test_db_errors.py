"""Unit tests of packgate.db._errors and packgate.errors.retry_delay: which database failures are
an outage (defer and retry), which are a refused record (report, never retry), and how each
Packgate error is retried.  asyncpg exceptions are built directly; no database is involved.
"""

from __future__ import annotations

import asyncpg
import asyncpg.exceptions as pg
import asyncpg.exceptions._base as pg_base
import pytest

from packgate.db._errors import Failure, classify, error_kind, translated
from packgate.errors import (
    CONFLICT_RETRY_SECONDS,
    RETRY_SECONDS,
    Conflict,
    DatabaseError,
    DatabaseUnavailable,
    InvalidPack,
    InvalidSetting,
    KubernetesError,
    ParseError,
    RecordRefused,
    SourceNotFound,
    retry_delay,
)

pytestmark = pytest.mark.unit

OUTAGES = [
    ConnectionRefusedError(111, "Connection refused"),
    ConnectionResetError(104, "Connection reset by peer"),
    OSError(113, "No route to host"),
    TimeoutError(),
    pg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
    pg.ConnectionFailureError("connection failure"),
    pg.CannotConnectNowError("the database system is starting up"),
    pg.AdminShutdownError("terminating connection due to administrator command"),
    pg.CrashShutdownError("terminating connection because of crash of another server process"),
    pg.TooManyConnectionsError("sorry, too many clients already"),
    pg.DiskFullError("could not extend file: No space left on device"),
    pg.QueryCanceledError("canceling statement due to statement timeout"),
    pg.SerializationError("could not serialize access due to concurrent update"),
    pg.DeadlockDetectedError("deadlock detected"),
    pg_base.InterfaceError("cannot call Connection.fetchval(): connection is closed"),
]

REFUSALS = [
    pg.CheckViolationError('new row for relation "pack_test_execution" violates check constraint "valid_test_counts"'),
    pg.NotNullViolationError('null value in column "ref" violates not-null constraint'),
    pg.UniqueViolationError('duplicate key value violates unique constraint "idx_pack_live_name"'),
    pg.ForeignKeyViolationError("insert or update violates foreign key constraint"),
    pg.TransactionIntegrityConstraintViolationError("deferred constraint violated"),
    pg.InvalidTextRepresentationError('invalid input syntax for type integer: "x"'),
    pg.NumericValueOutOfRangeError("integer out of range"),
    pg.CharacterNotInRepertoireError("invalid byte sequence for encoding UTF8: 0x00"),
    pg.ProgramLimitExceededError("index row size 9000 exceeds btree version 4 maximum 2704"),
    pg_base.DataError("invalid input for query argument $8: 'x' (an integer is required)"),
]

FAILURES = [
    pg.UndefinedTableError('relation "packgate.pack" does not exist'),
    pg.InsufficientPrivilegeError("permission denied for schema packgate"),
    pg.PostgresSyntaxError('syntax error at or near "SELEC"'),
    pg_base.OutdatedSchemaCacheError("cached statement plan is invalid"),
]


@pytest.mark.parametrize("exc", OUTAGES, ids=lambda e: type(e).__name__)
def test_outages_are_deferred_and_retried(exc: BaseException) -> None:
    """Connection refused/reset/lost, timeouts, resources exhausted, shutdowns, cancelled or
    rolled-back statements: PostgreSQL can't be used right now."""
    assert classify(exc) is Failure.OUTAGE


@pytest.mark.parametrize("exc", REFUSALS, ids=lambda e: type(e).__name__)
def test_integrity_and_data_errors_are_refused_records(exc: BaseException) -> None:
    """Constraint violations, bad values, values the driver can't encode, rows too big: the same
    record would be refused again."""
    assert classify(exc) is Failure.REFUSED


@pytest.mark.parametrize("exc", FAILURES, ids=lambda e: type(e).__name__)
def test_other_postgres_errors_are_failures(exc: BaseException) -> None:
    """A missing table or privilege is neither an outage nor the record's fault."""
    assert classify(exc) is Failure.FAILED


def test_errors_from_outside_the_driver_are_foreign() -> None:
    """A bug in our own code is not classified as a database failure."""
    assert (classify(KeyError("x")), classify(ValueError("x"))) == (Failure.FOREIGN, Failure.FOREIGN)


@pytest.mark.parametrize(
    ("exc", "raised", "message"),
    [
        (
            ConnectionRefusedError(111, "Connection refused"),
            DatabaseUnavailable,
            "cannot reach PostgreSQL at db:5432/p: connection refused",
        ),
        (
            pg.CheckViolationError('new row violates check constraint "valid_pass_rate"\nDETAIL: Failing row contains'),
            RecordRefused,
            'PostgreSQL at db:5432/p refused the data: new row violates check constraint "valid_pass_rate"',
        ),
        (
            pg.UndefinedTableError('relation "packgate.pack" does not exist'),
            DatabaseError,
            'PostgreSQL at db:5432/p failed a call: relation "packgate.pack" does not exist',
        ),
    ],
)
def test_translated_raises_packgate_errors_with_one_line(
    exc: BaseException, raised: type[DatabaseError], message: str
) -> None:
    """translated() re-raises each failure as its Packgate error, one line, from the original."""
    with pytest.raises(DatabaseError) as caught, translated("db:5432/p"):
        raise exc
    assert (type(caught.value), str(caught.value), caught.value.__cause__) == (raised, message, exc)


def test_translated_while_connecting_is_always_unavailable() -> None:
    """While connecting, even a refused login means the database can't be used yet."""
    with pytest.raises(DatabaseUnavailable), translated("db:5432/p", connecting=True):
        raise pg.InvalidPasswordError("password authentication failed")


def test_translated_lets_foreign_errors_through() -> None:
    """Our own bugs are not disguised as database errors."""
    with pytest.raises(KeyError), translated("db:5432/p"):
        raise KeyError("x")


def test_asyncpg_postgres_error_base_is_classified() -> None:
    """A PostgresError of no known class (e.g. a new SQLSTATE) is a failure, not foreign."""
    assert classify(asyncpg.PostgresError("something new")) is Failure.FAILED


@pytest.mark.parametrize(
    ("exc", "delay"),
    [
        (InvalidPack("bad spec"), None),
        (InvalidSetting("bad setting"), None),
        (ParseError("no results"), None),
        (RecordRefused("refused"), None),
        (SourceNotFound("no ConfigMap"), RETRY_SECONDS),
        (KubernetesError("500"), RETRY_SECONDS),
        (Conflict("409"), CONFLICT_RETRY_SECONDS),
        (DatabaseUnavailable("down"), RETRY_SECONDS),
        (DatabaseError("failed"), RETRY_SECONDS),
        (RuntimeError("bug"), RETRY_SECONDS),
    ],
)
def test_retry_delay_says_which_errors_are_permanent(exc: BaseException, delay: float | None) -> None:
    """Permanent errors (None: wait for a change) and temporary ones with their delay, as the
    exception tree in packgate.errors documents them."""
    assert retry_delay(exc) == delay


def test_handlers_turn_packgate_errors_into_kopf_errors() -> None:
    """Where a kopf handler fails, a permanent Packgate error becomes kopf.PermanentError and a
    temporary one kopf.TemporaryError with Packgate's delay."""
    import kopf

    from packgate.handlers import kopf_error

    permanent = kopf_error(InvalidSetting("bad setting"))
    temporary = kopf_error(KubernetesError("cannot load Kubernetes credentials"))
    assert (type(permanent), str(permanent)) == (kopf.PermanentError, "bad setting")
    assert (type(temporary), temporary.delay) == (kopf.TemporaryError, RETRY_SECONDS)


@pytest.mark.parametrize(
    ("exc", "connecting", "kind"),
    [
        pytest.param(ConnectionRefusedError(), False, "outage", id="refused connection"),
        pytest.param(pg.TooManyConnectionsError("too many"), False, "outage", id="too many connections"),
        pytest.param(pg.UniqueViolationError("duplicate"), False, "refused", id="unique violation"),
        pytest.param(pg.UndefinedTableError("no table"), False, "other", id="missing table"),
        pytest.param(pg.UndefinedTableError("no table"), True, "outage", id="anything while connecting"),
        pytest.param(ValueError("not the database"), False, None, id="foreign"),
    ],
)
def test_error_kind_labels_database_failures(exc: BaseException, connecting: bool, kind: str | None) -> None:
    """packgate_database_errors' kind follows what `translated` raises: outage, refused or other;
    a foreign error is not counted."""
    assert error_kind(classify(exc), connecting=connecting) == kind
