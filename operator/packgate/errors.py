"""Packgate's one exception tree.  Library errors are wrapped with `raise ... from`; only the
handlers module turns these into kopf's temporary or permanent errors, as `retry_delay` says.

    PackgateError                  base of every error Packgate raises on purpose
    ├── InvalidPack                the Pack or pack.yaml is wrong; retrying won't help      permanent
    ├── InvalidSetting             a PACKGATE_* setting is malformed                         permanent
    ├── ParseError                 test output has no recognisable results                   permanent
    ├── SourceNotFound             the pack's ConfigMap (or other source) does not exist yet temporary
    ├── KubernetesError            the API server refused or failed a call                   temporary
    │   └── Conflict               optimistic-concurrency conflict; retry with fresh state   temporary (soon)
    └── DatabaseError              PostgreSQL failed a call (neither an outage nor the data) temporary
        ├── DatabaseUnavailable    PostgreSQL cannot be reached; records are deferred        temporary
        └── RecordRefused          PostgreSQL refused the data (constraint, bad value)       permanent

Permanent: the same call with the same input fails the same way; wait for a change (a new spec,
a new setting) instead of retrying.  Temporary: retry after `retry_delay` seconds.  A refused
record never reaches the handlers: the executor reports it (Event RecordRefused,
status.lastExecution.recordError) and drops it.

Every message is one line a user can act on.
"""

from __future__ import annotations

RETRY_SECONDS = 10.0
"""Delay before a temporary error is retried."""
CONFLICT_RETRY_SECONDS = 1.0
"""Delay before a conflict is retried (with fresh state)."""


class PackgateError(Exception):
    """Base of every error Packgate raises on purpose."""


class InvalidPack(PackgateError):
    """The Pack or the pack.yaml is wrong; retrying won't help."""


class InvalidSetting(PackgateError):
    """A PACKGATE_* setting is malformed."""


class ParseError(PackgateError):
    """Test output has no recognisable results."""


class SourceNotFound(PackgateError):
    """The pack's source (its ConfigMap) does not exist yet."""


class KubernetesError(PackgateError):
    """The API server refused or failed a call."""


class Conflict(KubernetesError):
    """An optimistic-concurrency conflict; retry with fresh state."""


class DatabaseError(PackgateError):
    """PostgreSQL failed a call."""


class DatabaseUnavailable(DatabaseError):
    """PostgreSQL cannot be reached; records are deferred until it is back."""


class RecordRefused(DatabaseError):
    """PostgreSQL refused the data of the call (a constraint violation, a bad value, a row too
    big); the same call will fail again, so it is not retried."""


_PERMANENT: tuple[type[PackgateError], ...] = (InvalidPack, InvalidSetting, ParseError, RecordRefused)


def retry_delay(exc: BaseException) -> float | None:
    """Seconds before retrying after `exc` (temporary), or None when retrying the same thing won't
    help (permanent).  Errors Packgate did not raise on purpose are temporary."""
    if isinstance(exc, _PERMANENT):
        return None
    if isinstance(exc, Conflict):
        return CONFLICT_RETRY_SECONDS
    return RETRY_SECONDS
