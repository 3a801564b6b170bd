"""Packgate's one exception tree.  Library errors are wrapped with `raise ... from`; only the
handlers module turns these into kopf's temporary or permanent errors.

    PackgateError                  base of every error Packgate raises on purpose
    ├── InvalidPack                the Pack or pack.yaml is wrong; retrying won't help
    ├── InvalidSetting             a PACKGATE_* setting is malformed
    ├── ParseError                 test output has no recognisable results
    ├── SourceNotFound             the pack's ConfigMap (or other source) does not exist yet
    ├── KubernetesError            the API server refused or failed a call
    │   └── Conflict               optimistic-concurrency conflict; retry with fresh state
    └── DatabaseError              PostgreSQL failed a call
        └── DatabaseUnavailable    PostgreSQL cannot be reached; records are deferred

Every message is one line a user can act on.
"""

from __future__ import annotations


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
