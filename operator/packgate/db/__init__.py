"""The database layer: the only package that imports asyncpg and the only place with SQL text.

    store       Database (the asyncpg pool and every query)
    migrations  loading and applying migrations/NNNN_name.sql under an advisory lock
    models      ExecutionRecord and the read models (no asyncpg)
    _errors     asyncpg/OS errors -> DatabaseError / DatabaseUnavailable

Must not: decide verdicts or talk to Kubernetes.  Importing this package opens nothing.
"""

from packgate.db.migrations import Migration, default_migrations_dir, load_migrations
from packgate.db.models import (
    ExecutionDetail,
    ExecutionRecord,
    ExecutionSummary,
    FlakyTest,
    PackInfo,
    PackStats,
    TriggerReason,
)
from packgate.db.store import Database

__all__ = [
    "Database",
    "ExecutionDetail",
    "ExecutionRecord",
    "ExecutionSummary",
    "FlakyTest",
    "Migration",
    "PackInfo",
    "PackStats",
    "TriggerReason",
    "default_migrations_dir",
    "load_migrations",
]
