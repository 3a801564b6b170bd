"""Benchmark: the history UI's pages and API answers at fleet scale, rendered server-side.

Starts a throwaway PostgreSQL (hack/localpg) or uses `--dsn`, applies every migration and loads
`--packs` packs, `--executions` executions and `--cases` test cases with bench/dataset.py's
generate_series loader (10 versions per pack, every 7th run partial).  One execution of the pack
under test gets a whole stored result (the loader's are placeholders), so its page renders.

Then it calls the real `packgate.ui` application in-process through ASGI (no socket, no client
library: the time is the server's), median of `--runs` after a warm-up, for every page and API
answer, and prints each with its ratio to `GET /healthz` (the framework's floor) and the goal
(< 300 ms).

Kubernetes is not in the measured path: TokenReview and SubjectAccessReview answers are cached
30 s by the UI, the Pack list 5 s, so a steady request makes no API call.  The bench stands in
for those cached answers with a local authorizer (any token is a cluster-wide reader, `--packs`
Pack objects in the list); the real calls are tested in tests/ui.  A benchmark prints; it asserts
nothing.

    .venv/bin/python bench/ui_pages.py [--packs 500] [--executions 1000000] [--cases 10000000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "hack"))
sys.path.insert(0, str(REPO / "bench"))

import asyncpg  # noqa: E402

import dataset  # noqa: E402
from packgate.db.history_queries import HistoryReader  # noqa: E402
from packgate.k8s.auth import Identity  # noqa: E402
from packgate.results import TestCaseResult, TestStatus, combine, suite_from_cases  # noqa: E402
from packgate.ui.app import Services, create_app  # noqa: E402

GOAL_MS = 300.0
NAMESPACE = "bench"


class CachedAnswers:
    """What the UI's Authorizer answers from its caches in steady state: this token is a reader of
    every namespace, and the cluster holds these Pack objects."""

    def __init__(self, packs: int) -> None:
        self.identity = Identity(username="bench-reader")
        self.objects = [
            {
                "metadata": {"namespace": NAMESPACE, "name": f"pack-{i}"},
                "spec": {"version": "v10"},
                "status": {"phase": "Passed", "activeVersion": "v9", "message": ""},
            }
            for i in range(1, packs + 1)
        ]

    async def identify(self, token: str) -> Identity | None:
        return self.identity

    async def may_get_packs(self, identity: Identity, namespace: str) -> bool:
        return True

    async def allowed_namespaces(self, identity: Identity, candidates: list[str]) -> set[str] | None:
        return None

    async def list_packs(self) -> list[dict[str, Any]]:
        return self.objects


async def call(app: Any, path: str) -> tuple[int, int]:
    """GET `path` through the ASGI app; (status, body bytes)."""
    path_only, _, query = path.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path_only,
        "raw_path": path_only.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"bench"), (b"authorization", b"Bearer bench-token")],
        "client": ("127.0.0.1", 1),
        "server": ("bench", 80),
        "state": {},
    }
    status = 0
    size = 0
    sent = False

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.sleep(3600)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, size
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            size += len(message.get("body", b""))

    await app(scope, receive, send)
    return status, size


async def timed(runs: int, app: Any, path: str) -> tuple[float, int, int]:
    status, size = await call(app, path)
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        await call(app, path)
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples), status, size


async def whole_result(connection: Any, execution: int) -> None:
    """Store a real PackTestResult for `execution`, built from its test-case rows."""
    row = await connection.fetchrow(
        "SELECT pack_version, execution_time FROM packgate.pack_test_execution WHERE id = $1", execution
    )
    cases: dict[str, list[TestCaseResult]] = {}
    for case in await connection.fetch(
        "SELECT suite_name, case_name, status, duration_ms FROM packgate.pack_test_case WHERE execution_id = $1",
        execution,
    ):
        message = None if case["status"] == "passed" else "assert 1 == 2\n  at test_case"
        cases.setdefault(case["suite_name"], []).append(
            TestCaseResult(
                name=case["case_name"],
                status=TestStatus(case["status"]),
                duration_ms=case["duration_ms"],
                error_message=message,
            )
        )
    suites = [suite_from_cases(name, "pytest", found) for name, found in cases.items()]
    result = combine("bench", row["pack_version"], row["execution_time"], suites)
    await connection.execute(
        "UPDATE packgate.pack_test_execution SET result = $2::jsonb WHERE id = $1",
        execution,
        json.dumps(result.model_dump(mode="json")),
    )


async def bench(dsn: str, args: argparse.Namespace) -> None:
    reader = await HistoryReader.open(dsn)
    try:
        await reader.migrate()
        connection = await asyncpg.connect(dsn)
        try:
            await dataset.load_if_empty(connection, args)
            counts = await connection.fetchrow(
                "SELECT (SELECT count(*) FROM packgate.pack) AS p, "
                "(SELECT count(*) FROM packgate.pack_test_execution) AS e, "
                "(SELECT count(*) FROM packgate.pack_test_case) AS c"
            )
            name = f"pack-{args.packs // 2}"
            pack_id = await connection.fetchval("SELECT id FROM packgate.pack WHERE name = $1", name)
            ids = [
                r["id"]
                for r in await connection.fetch(
                    "SELECT id FROM packgate.pack_test_execution WHERE pack_id = $1 "
                    "ORDER BY execution_time DESC, id DESC",
                    pack_id,
                )
            ]
            await whole_result(connection, ids[0])
        finally:
            await connection.close()
        print(
            f"database: {counts['p']} packs, {counts['e']} executions, {counts['c']} test cases; "
            f"{name}: {len(ids)} executions"
        )
        app = create_app(Services(reader=reader, authorizer=CachedAnswers(args.packs)))  # type: ignore[arg-type]
        pack = f"/namespaces/{NAMESPACE}/packs/{name}"
        middle = ids[len(ids) // 2]
        paths = [
            ("GET /healthz (floor)", "/healthz"),
            ("page /", "/"),
            (f"page {pack}", pack),
            ("page /executions/{id}", f"/executions/{ids[0]}"),
            ("api packs", "/api/v1/packs"),
            ("api pack", f"/api/v1{pack}"),
            ("api executions (first page)", f"/api/v1{pack}/executions?limit=50"),
            ("api executions (cursor, mid-history)", f"/api/v1{pack}/executions?limit=50&before={middle}"),
            ("api executions (status=partial)", f"/api/v1{pack}/executions?limit=50&status=partial"),
            ("api execution", f"/api/v1/executions/{ids[0]}"),
            ("api tests?last=30", f"/api/v1{pack}/tests?last=30"),
            ("api compare (default)", f"/api/v1{pack}/compare"),
            ("api flaky", f"/api/v1{pack}/flaky"),
        ]
        results = []
        for label, path in paths:
            ms, status, size = await timed(args.runs, app, path)
            results.append((label, ms, status, size))
    finally:
        await reader.close()
    floor = results[0][1]
    print(f"median of {args.runs} calls after a warm-up, server-side (ASGI in-process); ratio against /healthz")
    for label, ms, status, size in results:
        goal = (
            ""
            if label.startswith("GET /healthz")
            else f"  goal < {GOAL_MS:g} ms: {'met' if ms < GOAL_MS else 'MISSED'}"
        )
        print(f"{label:40} {status} {size:>9} B {ms:8.2f} ms {ms / floor:8.1f}x{goal}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packs", type=int, default=500)
    parser.add_argument("--executions", type=int, default=1_000_000)
    parser.add_argument("--cases", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--dsn", help="use this database (loaded first if it has no packs) instead of a throwaway one")
    args = parser.parse_args()
    return dataset.run(bench, args, "packgate-bench-ui-")


if __name__ == "__main__":
    sys.exit(main())
