"""The fleet-scale dataset the database and UI benchmarks share, and the database they run on.

Owns the generate_series loader (`--packs` packs with VERSIONS versions each, `--executions`
executions spread evenly over them, every 7th one partial, `--cases` test-case rows spread evenly
over the executions) and the throwaway PostgreSQL (hack/localpg) a benchmark starts when it is not
given `--dsn`.  It measures nothing and asserts nothing: the benchmarks time and print.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "hack"))

from localpg import PostgresServer, free_port  # noqa: E402

VERSIONS = 10

_PACKS = """
INSERT INTO packgate.pack (uid, namespace, name, ref, version, active_version)
SELECT 'uid-' || p, 'bench', 'pack-' || p, 'https://example.invalid/packs.git', 'v{versions}', 'v{active}'
  FROM generate_series(1, $1::bigint) AS p
"""

# Execution i belongs to pack i % packs + 1, one second after execution i - 1; each pack's runs
# are split into VERSIONS consecutive versions.  Every 7th run is partial: one case failed.
_EXECUTIONS = """
INSERT INTO packgate.pack_test_execution (
    pack_id, execution_id, idempotency_key, pack_version, trigger_reason, status, execution_time,
    total_tests, passed, failed, skipped, pass_rate, duration_ms, allowed, result)
SELECT i % $1::bigint + 1, 'exec-' || i, 'key-' || i,
       'v' || (1 + (i / $1::bigint) * {versions} / greatest($2::bigint / $1::bigint, 1)),
       'update', CASE WHEN i % 7 = 0 THEN 'partial' ELSE 'passed' END,
       timestamptz '2026-01-01 00:00:00+00' + i * interval '1 second',
       $3::int, $3::int - (i % 7 = 0)::int, (i % 7 = 0)::int, 0,
       ($3::int - (i % 7 = 0)::int)::double precision / greatest($3::int, 1), 1000 + i % 500, i % 7 <> 0,
       '{{"bench": true}}'::jsonb
  FROM generate_series(0, $2::bigint - 1) AS i
"""

# The cases of executions [$1, $2): case k of a partial run fails when k = id % cases.
_CASES = """
INSERT INTO packgate.pack_test_case (execution_id, suite_name, runner_type, case_name, status, duration_ms)
SELECT e.id, 'suite-' || (k % 2), 'pytest', 'test_case_' || k,
       CASE WHEN e.status = 'partial' AND k = e.id % $3 THEN 'failed' ELSE 'passed' END, k
  FROM packgate.pack_test_execution AS e, generate_series(0, $3::int - 1) AS k
 WHERE e.id >= $1::bigint AND e.id < $2::bigint
 ORDER BY e.id, k
"""


async def load(connection: Any, packs: int, executions: int, cases: int) -> None:
    per_execution = max(cases // executions, 1)
    await connection.execute("SET session_replication_role = replica")  # no per-row metadata trigger
    await connection.execute("SET maintenance_work_mem = '256MB'")
    start = time.perf_counter()
    await connection.execute(_PACKS.format(versions=VERSIONS, active=VERSIONS - 1), packs)
    await connection.execute(_EXECUTIONS.format(versions=VERSIONS), packs, executions, per_execution)
    print(f"  {executions} executions in {time.perf_counter() - start:.0f} s", flush=True)
    lo, hi = await connection.fetchrow("SELECT min(id), max(id) FROM packgate.pack_test_execution")
    step = 50_000
    for first in range(lo, hi + 1, step):
        await connection.execute(_CASES, first, first + step, per_execution)
        done = min(first + step, hi + 1) - lo
        print(f"\r  {done * per_execution} test cases in {time.perf_counter() - start:.0f} s", end="", flush=True)
    print()
    # What the trigger would have kept: the pack rows' metadata.
    await connection.execute(
        """
        UPDATE packgate.pack AS p
           SET test_count = s.n, last_tested_at = s.t
          FROM (SELECT pack_id, count(*) AS n, max(execution_time) AS t
                  FROM packgate.pack_test_execution GROUP BY pack_id) AS s
         WHERE s.pack_id = p.id
        """
    )
    await connection.execute("SET session_replication_role = origin")
    await connection.execute("VACUUM (ANALYZE) packgate.pack, packgate.pack_test_execution, packgate.pack_test_case")
    print(f"  loaded and vacuumed in {time.perf_counter() - start:.0f} s", flush=True)


async def load_if_empty(connection: Any, args: argparse.Namespace) -> None:
    """Load `--packs`/`--executions`/`--cases` unless the database already holds packs."""
    if not await connection.fetchval("SELECT count(*) FROM packgate.pack"):
        print(f"loading {args.packs} packs, {args.executions} executions, {args.cases} test cases:")
        await load(connection, args.packs, args.executions, args.cases)


def run(bench: Callable[[str, argparse.Namespace], Awaitable[None]], args: argparse.Namespace, prefix: str) -> int:
    """Run `bench` against `--dsn`, or else against a throwaway server in a `prefix` temporary directory."""
    if args.dsn:
        asyncio.run(bench(args.dsn, args))
        return 0
    root = Path(tempfile.mkdtemp(prefix=prefix))
    root.chmod(0o711)  # the server may run as an unprivileged user
    server = PostgresServer(root / "server", free_port())
    try:
        asyncio.run(bench(server.start(), args))
    finally:
        try:
            server.stop()
        finally:
            shutil.rmtree(root, ignore_errors=True)
    return 0
