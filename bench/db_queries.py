"""Benchmark: the reads behind `packgate results` at fleet scale, against a trivial round trip.

Starts a throwaway PostgreSQL (hack/localpg, its own temporary data directory and free port) or
uses `--dsn`, applies every migration, then fills it with SQL `generate_series` INSERTs:
`--packs` packs, `--executions` executions spread evenly over them (10 versions each) and
`--cases` test-case rows spread evenly over the executions (some failing now and then: flaky).
Then it times, median of `--runs` after a warm-up, on one asyncpg connection:

- baseline: `SELECT 1` and a primary-key lookup of one execution;
- `packgate.get_pack_test_stats($1)` (the store's `_STATS`; goal < 5 ms);
- the flaky-test query (the store's `_FLAKY`, every version of one pack; goal < 50 ms);
- the regression query (the store's `_LAST_CASE_STATUSES`: the latest execution of the active
  version, its case statuses; goal < 50 ms);

and the same through `Database.stats/flaky_tests/last_case_statuses` (which add a pack lookup and
the models).  Prints each plan's index names (EXPLAIN) and each time with its ratio to `SELECT 1`.
A benchmark prints; it asserts nothing.

    .venv/bin/python bench/db_queries.py [--executions 1000000] [--cases 20000000] [--packs 1000]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "hack"))
sys.path.insert(0, str(REPO / "bench"))

import asyncpg  # noqa: E402

import dataset  # noqa: E402
from packgate.db import Database  # noqa: E402
from packgate.db.store import _FLAKY, _LAST_CASE_STATUSES, _STATS  # noqa: E402

_PK_LOOKUP = "SELECT status FROM packgate.pack_test_execution WHERE id = $1"


async def timed(runs: int, call: Callable[[], Awaitable[Any]]) -> float:
    """Median milliseconds of `runs` calls, after one warm-up call."""
    await call()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        await call()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


async def indexes_used(connection: Any, sql: str, *args: Any) -> str:
    plan = await connection.fetch(f"EXPLAIN {sql}", *args)
    text = "\n".join(r[0] for r in plan)
    names = sorted(set(re.findall(r"(?:Index|Index Only) Scan(?: Backward)? using (\w+)", text)))
    seq = sorted(set(re.findall(r"Seq Scan on (\w+)", text)))
    return ", ".join(names + [f"SEQ SCAN {s}" for s in seq]) or "(no scan shown: inlined function?)"


async def bench(dsn: str, args: argparse.Namespace) -> None:
    db = await Database.connect(dsn)
    try:
        await db.migrate()
        connection = await asyncpg.connect(dsn)
        try:
            await dataset.load_if_empty(connection, args)
            counts = await connection.fetchrow(
                "SELECT (SELECT count(*) FROM packgate.pack_test_execution) AS e, "
                "(SELECT count(*) FROM packgate.pack_test_case) AS c"
            )
            pack_number = args.packs // 2
            pack_id = await connection.fetchval("SELECT id FROM packgate.pack WHERE name = $1", f"pack-{pack_number}")
            uid, active = await connection.fetchrow(
                "SELECT uid, active_version FROM packgate.pack WHERE id = $1", pack_id
            )
            some_id = await connection.fetchval("SELECT max(id) / 2 FROM packgate.pack_test_execution")
            print(f"database: {counts['e']} executions, {counts['c']} test cases; pack-{pack_number} (id {pack_id})")
            plans = {
                "stats": await indexes_used(connection, _STATS, pack_id),
                "flaky": await indexes_used(connection, _FLAKY, pack_id, None),
                "regression": await indexes_used(connection, _LAST_CASE_STATUSES, uid, active, None),
            }
            # get_pack_test_stats() is a SQL function: EXPLAIN shows its body only when inlined;
            # explain the body itself too.
            body = await connection.fetchval("SELECT prosrc FROM pg_proc WHERE proname = 'get_pack_test_stats'")
            plans["stats (function body)"] = await indexes_used(
                connection, body.replace("p_pack_id", "$1::bigint"), pack_id
            )
            for name, used in plans.items():
                print(f"EXPLAIN {name}: {used}")
            runs = args.runs
            one = await timed(runs, lambda: connection.fetchval("SELECT 1"))
            pk = await timed(runs, lambda: connection.fetchval(_PK_LOOKUP, some_id))
            rows = {
                "stats": len(await connection.fetch(_STATS, pack_id)),
                "flaky": len(await connection.fetch(_FLAKY, pack_id, None)),
                "regression": len(await connection.fetch(_LAST_CASE_STATUSES, uid, active, None)),
            }
            results = [
                ("SELECT 1 (baseline)", one, None, None),
                ("primary-key lookup", pk, None, None),
                (
                    "get_pack_test_stats()",
                    await timed(runs, lambda: connection.fetch(_STATS, pack_id)),
                    5.0,
                    await timed(runs, lambda: db.stats("bench", f"pack-{pack_number}")),
                ),
                (
                    f"flaky tests ({rows['flaky']} rows)",
                    await timed(runs, lambda: connection.fetch(_FLAKY, pack_id, None)),
                    50.0,
                    await timed(runs, lambda: db.flaky_tests("bench", f"pack-{pack_number}")),
                ),
                (
                    f"regression base ({rows['regression']} cases)",
                    await timed(runs, lambda: connection.fetch(_LAST_CASE_STATUSES, uid, active, None)),
                    50.0,
                    await timed(runs, lambda: db.last_case_statuses(uid, active)),
                ),
            ]
        finally:
            await connection.close()
    finally:
        await db.close()
    print(f"median of {args.runs} runs after a warm-up; ratio against SELECT 1")
    for name, ms, goal, store in results:
        line = f"{name:34} {ms:8.2f} ms  {ms / one:7.1f}x"
        if goal is not None:
            line += f"  goal < {goal:g} ms: {'met' if ms < goal else 'MISSED'}"
        if store is not None:
            line += f"  (through Database: {store:.2f} ms)"
        print(line)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executions", type=int, default=1_000_000)
    parser.add_argument("--cases", type=int, default=20_000_000)
    parser.add_argument("--packs", type=int, default=1_000)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument(
        "--dsn", help="use this database (loaded first if it has no packs) instead of a throwaway server"
    )
    args = parser.parse_args()
    return dataset.run(bench, args, "packgate-bench-pg-")


if __name__ == "__main__":
    sys.exit(main())
