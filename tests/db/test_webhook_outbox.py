"""The PackWebhook outbox (migration 0005, packgate.db.outbox) against the real PostgreSQL: events are
written with their execution, once; claims skip rows another session holds and lease what they take;
delivery states and retention."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from packgate.db import Database
from packgate.db.outbox import WebhookTarget
from packgate.results import TestStatus as T
from packgate.webhooks import EventType, event_id

pytestmark = pytest.mark.db

Run = Callable[..., Any]
HOOK = WebhookTarget(namespace="default", name="hook", uid="w-1")


def _events(sql: Run) -> list[tuple[str, str]]:
    rows = sql("SELECT event_type, event_id FROM packgate.webhook_event ORDER BY id")
    return [(r["event_type"], r["event_id"]) for r in rows]


def test_events_are_written_with_the_execution(run_db: Run, make_result: Run, make_record: Run, sql: Run) -> None:
    """A blocked first execution enqueues Verdict and Blocked, whole CloudEvents with their stable ids and
    the Pack's labels; recording the same execution again enqueues nothing more."""
    result = make_result({"s::a": T.FAILED})
    record = make_record(result, "uid-core/e1", allowed=False).model_copy(update={"labels": {"team": "a"}})

    async def body(db: Database) -> list[bool]:
        return [await db.record_execution(record), await db.record_execution(record)]

    assert run_db(body) == [True, False]
    assert _events(sql) == [
        ("Verdict", event_id("uid-core/e1", EventType.VERDICT)),
        ("Blocked", event_id("uid-core/e1", EventType.BLOCKED)),
    ]
    [row] = sql("SELECT * FROM packgate.webhook_event WHERE event_type = 'Blocked'")
    cloudevent = json.loads(row["cloudevent"])
    assert (cloudevent["id"], cloudevent["type"], cloudevent["data"]["allowed"]) == (
        event_id("uid-core/e1", EventType.BLOCKED),
        "dev.packgate.pack.blocked.v1",
        False,
    )
    assert json.loads(row["pack_labels"]) == {"team": "a"}
    assert (row["namespace"], row["pack_name"], row["pack_uid"], row["fanned_out_at"]) == (
        "default",
        "core",
        "uid-core",
        None,
    )


def test_activated_comes_from_the_pack_row_when_the_record_does_not_say(
    run_db: Run, make_result: Run, make_record: Run, sql: Run
) -> None:
    """Without previous_active_version in the record, the pack row's active version decides Activated:
    1.0.0 activated, a retest of 1.0.0 not, 2.0.0 activated."""
    now = datetime.now(UTC)
    first = make_record(
        make_result({"s::a": T.PASSED}, when=now - timedelta(minutes=3)), "uid-core/e1", active_version="1.0.0"
    )
    retest = make_record(
        make_result({"s::a": T.PASSED}, when=now - timedelta(minutes=2)),
        "uid-core/e2",
        active_version="1.0.0",
        trigger="manual",
    )
    upgrade = make_record(
        make_result({"s::a": T.PASSED}, version="2.0.0", when=now - timedelta(minutes=1)),
        "uid-core/e3",
        active_version="2.0.0",
        trigger="update",
    )

    async def body(db: Database) -> None:
        for record in (first, retest, upgrade):
            assert await db.record_execution(record)

    run_db(body)
    rows = sql(
        "SELECT e.execution_id, w.event_type FROM packgate.webhook_event w "
        "JOIN packgate.pack_test_execution e ON e.id = w.execution_id ORDER BY w.id"
    )
    assert [(r["execution_id"], r["event_type"]) for r in rows] == [
        ("e1", "Verdict"),
        ("e1", "Activated"),
        ("e2", "Verdict"),
        ("e3", "Verdict"),
        ("e3", "Activated"),
    ]


def test_previous_active_version_in_the_record_wins(run_db: Run, make_result: Run, make_record: Run, sql: Run) -> None:
    """A record that carries previous_active_version (the status before the verdict) is judged by it."""
    plain = make_record(make_result({"s::a": T.PASSED}), "uid-core/e1", active_version="1.0.0")
    record = type(plain).model_validate({**plain.model_dump(), "previous_active_version": "1.0.0"})
    run_db(lambda db: db.record_execution(record))
    assert [t for t, _ in _events(sql)] == ["Verdict"]


def test_claims_lease_rows_and_skip_rows_another_session_holds(
    run_db: Run, make_result: Run, make_record: Run, database: str
) -> None:
    """A claim leases what it takes (due again only after the lease); rows locked by another
    transaction (another replica claiming) are skipped, not waited for."""
    record = make_record(make_result({"s::a": T.FAILED}), "uid-core/e1", allowed=False)

    async def body(db: Database) -> tuple[int, list[int], list[int], list[int]]:
        await db.record_execution(record)
        outbox = db.webhook_outbox()
        other = await asyncpg.connect(database)
        try:
            async with other.transaction():
                [held] = await other.fetch("SELECT id FROM packgate.webhook_event ORDER BY id LIMIT 1 FOR UPDATE")
                claimed = await asyncio.wait_for(outbox.claim_events(10, lease_seconds=60), timeout=5)
            again = await outbox.claim_events(10, lease_seconds=60)
            after_lease = await outbox.claim_events(10, lease_seconds=60)
        finally:
            await other.close()
        ids = ([c.id for c in claimed], [c.id for c in again])
        return held["id"], *ids, [c.attempts for c in claimed + again + after_lease]

    held, claimed, again, attempts = run_db(body)
    assert held not in claimed and len(claimed) == 1  # the free row, without waiting for the lock
    assert again == [held]  # the held one once its lock is gone
    assert attempts == [1, 1]  # leased: neither comes back before 60 s


def test_fan_out_then_deliver_or_retry_or_cancel(run_db: Run, make_result: Run, make_record: Run, sql: Run) -> None:
    """Fan-out creates one pending delivery per webhook, once; a failed attempt stays pending with its
    error and status until its retry is due; delivered and cancelled rows are never claimed again."""
    record = make_record(make_result({"s::a": T.PASSED}), "uid-core/e1", active_version="1.0.0")

    async def body(db: Database) -> dict[str, Any]:
        await db.record_execution(record)
        outbox = db.webhook_outbox()
        events = await outbox.claim_events(10, lease_seconds=30)
        assert [e.type for e in events] == [EventType.VERDICT, EventType.ACTIVATED]
        verdict, activated = events
        assert await outbox.fan_out(verdict.id, [HOOK, WebhookTarget(namespace="default", name="h2", uid="w-2")])
        assert not await outbox.fan_out(verdict.id, [HOOK])  # already fanned out
        assert await outbox.fan_out(activated.id, [])  # nobody wanted it
        first = await outbox.claim_deliveries(10, lease_seconds=30)
        by_hook = {d.webhook_name: d for d in first}
        await outbox.delivered(by_hook["hook"].id, 204)
        await outbox.attempt_failed(by_hook["h2"].id, 0.0, 503, "HTTP 503: busy")
        retried = await outbox.claim_deliveries(10, lease_seconds=30)
        await outbox.cancel(retried[0].id, "PackWebhook default/h2 is gone")
        return {
            "first": sorted((d.webhook_name, d.attempts, d.event_id) for d in first),
            "retried": [(d.webhook_name, d.attempts) for d in retried],
            "pending": await outbox.pending(),
            "left": await outbox.claim_deliveries(10, lease_seconds=30),
            "due": await outbox.seconds_until_due(),
        }

    out = run_db(body)
    verdict_id = event_id("uid-core/e1", EventType.VERDICT)
    assert out["first"] == [("h2", 1, verdict_id), ("hook", 1, verdict_id)]
    assert out["retried"] == [("h2", 2)]
    assert (out["pending"], out["left"], out["due"]) == (0, [], None)
    rows = sql(
        "SELECT webhook_name, state, attempts, last_status, last_error, delivered_at IS NOT NULL AS done "
        "FROM packgate.webhook_delivery ORDER BY webhook_name"
    )
    assert [tuple(r) for r in rows] == [
        ("h2", "cancelled", 2, 503, "PackWebhook default/h2 is gone", False),
        ("hook", "delivered", 1, 204, None, True),
    ]
    assert [tuple(r) for r in sql("SELECT event_type, webhooks FROM packgate.webhook_event ORDER BY id")] == [
        ("Verdict", 2),
        ("Activated", 0),
    ]


def test_fan_out_failure_waits_for_its_retry(run_db: Run, make_result: Run, make_record: Run, sql: Run) -> None:
    """An event whose webhooks could not be resolved keeps its error and is not due before its retry."""
    record = make_record(make_result({"s::a": T.PASSED}), "uid-core/e1", active_version="1.0.0")

    async def body(db: Database) -> tuple[int, float | None]:
        await db.record_execution(record)
        outbox = db.webhook_outbox()
        for event in await outbox.claim_events(10, lease_seconds=30):
            await outbox.fan_out_failed(event.id, 120.0, "list PackWebhooks in default: 503")
        return len(await outbox.claim_events(10, lease_seconds=30)), await outbox.seconds_until_due()

    claimed, due = run_db(body)
    assert claimed == 0
    assert due is not None and 100 < due <= 120
    assert {r["last_error"] for r in sql("SELECT last_error FROM packgate.webhook_event")} == {
        "list PackWebhooks in default: 503"
    }


def test_retention_removes_events_and_deliveries_with_their_execution(
    run_db: Run, make_result: Run, make_record: Run, sql: Run
) -> None:
    """delete_old_executions() takes an old execution's outbox rows with it (ON DELETE CASCADE)."""
    old = make_record(
        make_result({"s::a": T.FAILED}, when=datetime.now(UTC) - timedelta(days=40)), "uid-core/e1", allowed=False
    )

    async def body(db: Database) -> int:
        await db.record_execution(old)
        outbox = db.webhook_outbox()
        for event in await outbox.claim_events(10, lease_seconds=30):
            await outbox.fan_out(event.id, [HOOK])
        return await db.delete_old_executions(30)

    assert run_db(body) == 1
    assert (
        sql(
            "SELECT (SELECT count(*) FROM packgate.webhook_event) + "
            "(SELECT count(*) FROM packgate.webhook_delivery) AS n"
        )[0]["n"]
        == 0
    )
