"""Content digests in PostgreSQL (migration 0006) against the real server: records keep their
digest and cachedFrom, the cache lookup of spec.testing.cacheFor, and flaky tests by digest."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from packgate.db import ExecutionRecord
from packgate.errors import RecordRefused
from packgate.results import RunStatus, combine, error_suite
from packgate.results import TestStatus as T

pytestmark = pytest.mark.db

Run = Callable[..., Any]
NOW = datetime.now(UTC).replace(microsecond=0)
D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64


def with_digest(record: ExecutionRecord, digest: str | None, cached_from: str | None = None) -> ExecutionRecord:
    """The record with a digest (and the execution it reused), validated as the executor's are."""
    return ExecutionRecord.model_validate({**record.model_dump(), "digest": digest, "cached_from": cached_from})


def test_record_keeps_digest_and_cached_from(run_db: Run, make_result: Run, make_record: Run, sql: Run) -> None:
    """A record's digest and cached_from land in their columns and come back in the history and the
    latest execution; a record without them stores NULLs."""
    origin = with_digest(make_record(make_result({"s::a": T.PASSED}, when=NOW - timedelta(minutes=2)), "u/e1"), D1)
    cached = with_digest(make_record(make_result({"s::a": T.PASSED}, version="1.0.1", when=NOW), "u/e2"), D1, "e1")
    plain = make_record(make_result({"s::a": T.PASSED}, when=NOW - timedelta(minutes=5)), "u/e0")

    async def body(db: Any) -> Any:
        for record in (plain, origin, cached):
            assert await db.record_execution(record)
        return await db.history("default", "core"), await db.latest_execution("default", "core")

    history, latest = run_db(body)
    rows = sql("SELECT execution_id, digest, cached_from FROM packgate.pack_test_execution ORDER BY execution_time")
    assert [tuple(r) for r in rows] == [("e0", None, None), ("e1", D1, None), ("e2", D1, "e1")]
    assert [(e.execution_id, e.digest, e.cached_from) for e in history] == [
        ("e2", D1, "e1"),
        ("e1", D1, None),
        ("e0", None, None),
    ]
    assert (latest.execution_id, latest.digest, latest.cached_from) == ("e2", D1, "e1")


def test_a_malformed_digest_is_refused_by_the_model() -> None:
    """ExecutionRecord accepts only `sha256:` and 64 hex digits as a digest."""
    with pytest.raises(ValueError, match="digest"):
        ExecutionRecord.model_validate(
            {
                "pack_uid": "u",
                "namespace": "default",
                "name": "core",
                "ref": "core",
                "version": "1",
                "execution_id": "e",
                "idempotency_key": "u/e",
                "trigger": "install",
                "allowed": True,
                "result": {
                    "pack_ref": "core",
                    "pack_version": "1",
                    "execution_time": NOW.isoformat(),
                    "total_tests": 0,
                    "passed": 0,
                    "failed": 0,
                    "skipped": 0,
                    "pass_rate": 0.0,
                    "duration_ms": 0,
                    "status": "skipped",
                },
                "digest": "md5:abc",
            }
        )


def test_the_schema_refuses_a_cached_row_without_digest(run_db: Run, make_result: Run, make_record: Run) -> None:
    """PostgreSQL itself refuses an execution that says it was cached but has no digest
    (constraint cached_has_digest): the record is refused, not retried."""
    record = with_digest(make_record(make_result({"s::a": T.PASSED}), "u/e1"), None, "e0")
    with pytest.raises(RecordRefused, match="cached_has_digest"):
        run_db(lambda db: db.record_execution(record))


def test_cached_origin_is_the_newest_run_within_the_window(run_db: Run, make_result: Run, make_record: Run) -> None:
    """The lookup returns the newest execution of the Pack with the digest that ran (never a cached
    one, never one that errored) and finished at or after `since`; other digests and other Packs
    never match."""

    def rec(key: str, minutes_ago: float, digest: str | None, *, cached: str | None = None, **kw: Any) -> Any:
        cases = kw.pop("cases", {"s::a": T.PASSED, "s::b": T.FAILED})
        result = make_result(cases, when=NOW - timedelta(minutes=minutes_ago), duration_ms=60_000)
        return with_digest(make_record(result, key, **kw), digest, cached)

    records = [
        rec("u/old", 120, D1),  # finished 119 minutes ago
        rec("u/mid", 30, D1),  # finished 29 minutes ago: the origin
        rec("u/copy", 10, D1, cached="mid"),  # a cached execution: never an origin
        rec("u/other", 5, D2),  # another digest
        rec("u/none", 4, None),  # no digest
        rec("other/x", 1, D1, uid="uid-other", name="other"),  # another Pack
    ]

    async def body(db: Any) -> Any:
        for record in records:
            await db.record_execution(record)
        return (
            await db.cached_origin("uid-core", D1, NOW - timedelta(hours=1)),
            await db.cached_origin("uid-core", D1, NOW - timedelta(minutes=29, seconds=30)),
            await db.cached_origin("uid-core", D1, NOW - timedelta(minutes=28)),
            await db.cached_origin("uid-core", D2, NOW - timedelta(hours=1)),
            await db.cached_origin("uid-core", "sha256:" + "3" * 64, NOW - timedelta(days=1)),
            await db.cached_origin("uid-unknown", D1, NOW - timedelta(days=1)),
        )

    hour, edge, too_late, other, unknown_digest, unknown_pack = run_db(body)
    assert hour is not None and edge is not None
    assert (hour.execution_id, hour.digest, hour.cached_from) == ("mid", D1, None)
    assert edge.execution_id == "mid"
    assert [c.name for s in hour.result.test_suites for c in s.test_cases] == ["a", "b"]
    assert (too_late, unknown_digest, unknown_pack) == (None, None, None)
    assert other is not None and other.execution_id == "other"


def test_an_errored_execution_is_not_reused(run_db: Run, make_result: Run, make_record: Run) -> None:
    """An execution whose status is error (a runner error, no results) is never a cache origin;
    an older one that did not error still is."""
    good = with_digest(make_record(make_result({"s::a": T.PASSED}, when=NOW - timedelta(minutes=20)), "u/good"), D1)
    errored = combine("core", "1.0.0", NOW - timedelta(minutes=10), [error_suite("s", "script", "image pull")])
    assert errored.status is RunStatus.ERROR
    bad = with_digest(make_record(errored, "u/bad"), D1)

    async def body(db: Any) -> Any:
        await db.record_execution(good)
        await db.record_execution(bad)
        return await db.cached_origin("uid-core", D1, NOW - timedelta(hours=1))

    found = run_db(body)
    assert found is not None and found.execution_id == "good"


def test_flaky_by_digest(run_db: Run, make_result: Run, make_record: Run) -> None:
    """A test that passed and failed on one digest is flaky by digest (even across versions with
    that digest); one that passed on one digest and failed on another is not; cached executions
    and executions without a digest do not count."""
    runs = [
        # digest D1, versions 1.0.0 and 1.0.1 (identical content): s::a passes, then fails.
        ("u/1", 50, "1.0.0", D1, None, {"s::a": T.PASSED, "s::b": T.PASSED}),
        ("u/2", 40, "1.0.1", D1, None, {"s::a": T.FAILED, "s::b": T.PASSED}),
        # a cached copy of u/1 does not add a run.
        ("u/3", 35, "1.0.2", D1, "1", {"s::a": T.PASSED, "s::b": T.PASSED}),
        # digest D2: s::b fails where it passed on D1 -- changed content, not flaky by digest.
        ("u/4", 30, "1.1.0", D2, None, {"s::a": T.PASSED, "s::b": T.FAILED}),
        # no digest (a branch): never counted by digest.
        ("u/5", 20, "1.1.0", None, None, {"s::a": T.PASSED, "s::b": T.PASSED}),
    ]
    records = [
        with_digest(make_record(make_result(cases, version=v, when=NOW - timedelta(minutes=m)), key), d, c)
        for key, m, v, d, c, cases in runs
    ]

    async def body(db: Any) -> Any:
        for record in records:
            await db.record_execution(record)
        return await db.flaky_by_digest("default", "core"), await db.flaky_tests("default", "core")

    by_digest, by_version = run_db(body)
    assert [(f.digest, f.key, f.version, f.runs, f.passes, f.failures, f.flips, f.last_status) for f in by_digest] == [
        (D1, "s::a", "1.0.1", 2, 1, 1, 1, T.FAILED)
    ]
    # By version, 1.1.0's s::b failed (D2) and passed (no digest): flaky within the version; the
    # cached 1.0.2 adds nothing.
    assert [(f.version, f.key, f.runs) for f in by_version] == [("1.1.0", "s::b", 2)]


def test_flaky_ignores_cached_rows_within_a_version(run_db: Run, make_result: Run, make_record: Run) -> None:
    """A cached execution repeats its origin's cases: in the per-version flaky list it is not a
    run, so a pass, a failure and a cached copy of the pass count two runs and one flip."""
    runs = [
        ("u/1", 30, None, {"s::a": T.PASSED}),
        ("u/2", 20, None, {"s::a": T.FAILED}),
        ("u/3", 10, "1", {"s::a": T.PASSED}),
    ]
    records = [
        with_digest(make_record(make_result(cases, when=NOW - timedelta(minutes=m)), key), D1, c)
        for key, m, c, cases in runs
    ]

    async def body(db: Any) -> Any:
        for record in records:
            await db.record_execution(record)
        return await db.flaky_tests("default", "core")

    [flaky] = run_db(body)
    assert (flaky.key, flaky.runs, flaky.flips, flaky.last_status, flaky.digest) == ("s::a", 2, 1, T.FAILED, None)


def test_packgate_results_shows_cached_from_and_flaky_by_digest(
    run_db: Run, make_result: Run, make_record: Run, database: str
) -> None:
    """`packgate results` says that the latest execution reused a verdict, lists cachedFrom in the
    history, and lists the tests flaky on one content digest (the --json document too)."""
    from db.test_commands import packgate

    runs = [
        ("uid-core/e1", 30, "1.0.0", None, {"s::a": T.PASSED, "s::b": T.PASSED}),
        ("uid-core/e2", 20, "1.0.0", None, {"s::a": T.FAILED, "s::b": T.PASSED}),
        ("uid-core/e3", 10, "1.0.1", "e2", {"s::a": T.FAILED, "s::b": T.PASSED}),
    ]
    records = [
        with_digest(make_record(make_result(cases, version=v, when=NOW - timedelta(minutes=m)), key), D1, c)
        for key, m, v, c, cases in runs
    ]

    async def body(db: Any) -> None:
        for record in records:
            await db.record_execution(record)

    run_db(body)
    result = packgate("results", "core", "--namespace", "default", database_url=database)
    assert (result.returncode, result.stderr) == (0, "")
    out = result.stdout
    assert "  cached: the verdict of execution e2 reused (same content digest), no Jobs ran\n" in out
    history = [line.split() for line in out.splitlines() if line.startswith("  20")]
    assert [(row[2], row[-1]) for row in history] == [("e3", "e2"), ("e2", "-"), ("e1", "-")]
    assert "Flaky on the same content digest: 1\n" in out
    [flaky] = [line.split() for line in out.splitlines() if line.startswith("  sha256:")]
    assert flaky == ["sha256:111111111111", "1.0.0", "s::a", "2", "1", "1", "1", "failed"]

    document = json.loads(packgate("results", "core", "--json", database_url=database).stdout)
    assert [(f["digest"], f["suite"], f["case"]) for f in document["flaky_by_digest"]] == [(D1, "s", "a")]
    assert [e["cached_from"] for e in document["history"]] == ["e2", None, None]
