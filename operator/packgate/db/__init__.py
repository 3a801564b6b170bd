"""The database layer: the only package that imports asyncpg and the only place with SQL text.

    store       Database (the asyncpg pool and every query)
    migrations  loading and applying migrations/NNNN_name.sql under an advisory lock
    models      ExecutionRecord and the read models (plain pydantic, no asyncpg)
    _errors     asyncpg/OS errors -> DatabaseUnavailable (outage) / RecordRefused (bad data) / DatabaseError

Must not: decide verdicts or talk to Kubernetes.  Importing this package opens nothing and does
not import asyncpg: `Database` and the migration helpers are loaded on first use, so commands can
use the models (e.g. to render reports) without pulling in the driver.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from packgate.db.models import (
    Compaction,
    ExecutionDetail,
    ExecutionRecord,
    ExecutionSummary,
    FlakyTest,
    PackInfo,
    PackStats,
    RetentionRound,
    TriggerReason,
)

if TYPE_CHECKING:
    from packgate.db.migrations import Migration, default_migrations_dir, load_migrations
    from packgate.db.store import Database

_LAZY = {
    "Database": "packgate.db.store",
    "Migration": "packgate.db.migrations",
    "default_migrations_dir": "packgate.db.migrations",
    "load_migrations": "packgate.db.migrations",
}

__all__ = [
    "Compaction",
    "Database",
    "ExecutionDetail",
    "ExecutionRecord",
    "ExecutionSummary",
    "FlakyTest",
    "Migration",
    "PackInfo",
    "PackStats",
    "RetentionRound",
    "TriggerReason",
    "default_migrations_dir",
    "load_migrations",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'packgate.db' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
