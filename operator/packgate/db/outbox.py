"""The PackWebhook outbox in PostgreSQL (migration 0005): enqueuing, claiming, and delivery state.

Owns: every SQL statement on packgate.webhook_event and packgate.webhook_delivery.  Events are
enqueued by `Database.record_execution` in the execution's own transaction (`enqueue`); the
delivery worker (packgate.delivery) uses `WebhookOutbox` to claim due rows -- FOR UPDATE SKIP
LOCKED, then a lease: `next_attempt_at` moves `lease` seconds ahead and `attempts` grows by one
while the attempt runs, so another replica skips the row, and a replica that dies mid-attempt
leaves it to be claimed again when the lease ends (at least once) -- and to record each outcome.
Errors leave as DatabaseUnavailable / RecordRefused / DatabaseError (`translated`).
Must not: decide what to send or when to retry (packgate.webhooks does), talk to Kubernetes or
HTTP, or hand asyncpg records to callers (they get the models below).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from packgate.db._errors import translated
from packgate.webhooks import EventType, OutboxEvent

# ----------------------------------------------------------------------------------------- SQL

_LOCK_PACK_NAME = "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))"

_PACK_ACTIVE = "SELECT active_version, last_tested_at FROM packgate.pack WHERE uid = $1"

_ENQUEUE = """
INSERT INTO packgate.webhook_event
    (event_id, execution_id, namespace, pack_name, pack_uid, pack_labels, event_type, cloudevent)
VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8::jsonb)
ON CONFLICT (event_id) DO NOTHING
"""

# Claim: lock due rows nobody else holds, then lease them (attempts counts this one).
_CLAIM_EVENTS = """
WITH due AS (
    SELECT id FROM packgate.webhook_event
     WHERE fanned_out_at IS NULL AND next_attempt_at <= now()
     ORDER BY next_attempt_at, id
     LIMIT $1
       FOR UPDATE SKIP LOCKED
)
UPDATE packgate.webhook_event AS e
   SET attempts = e.attempts + 1, next_attempt_at = now() + make_interval(secs => $2)
  FROM due
 WHERE e.id = due.id
RETURNING e.id, e.event_id, e.event_type, e.namespace, e.pack_name, e.pack_uid, e.pack_labels, e.attempts
"""

_INSERT_DELIVERY = """
INSERT INTO packgate.webhook_delivery (event_id, webhook_namespace, webhook_name, webhook_uid)
VALUES ($1, $2, $3, $4)
ON CONFLICT (event_id, webhook_uid) DO NOTHING
"""

_FANNED_OUT = """
UPDATE packgate.webhook_event
   SET fanned_out_at = now(), webhooks = $2, last_error = NULL
 WHERE id = $1 AND fanned_out_at IS NULL
RETURNING id
"""

_FAN_OUT_FAILED = """
UPDATE packgate.webhook_event
   SET next_attempt_at = now() + make_interval(secs => $2), last_error = $3
 WHERE id = $1 AND fanned_out_at IS NULL
"""

_CLAIM_DELIVERIES = """
WITH due AS (
    SELECT id FROM packgate.webhook_delivery
     WHERE state = 'pending' AND next_attempt_at <= now()
     ORDER BY next_attempt_at, id
     LIMIT $1
       FOR UPDATE SKIP LOCKED
)
UPDATE packgate.webhook_delivery AS d
   SET attempts = d.attempts + 1, last_attempt_at = now(),
       next_attempt_at = now() + make_interval(secs => $2)
  FROM due, packgate.webhook_event AS e
 WHERE d.id = due.id AND e.id = d.event_id
RETURNING d.id, d.webhook_namespace, d.webhook_name, d.webhook_uid, d.attempts,
          e.event_id, e.event_type, e.namespace, e.pack_name, e.cloudevent
"""

_DELIVERED = """
UPDATE packgate.webhook_delivery
   SET state = 'delivered', delivered_at = now(), last_status = $2, last_error = NULL
 WHERE id = $1 AND state = 'pending'
"""

_ATTEMPT_FAILED = """
UPDATE packgate.webhook_delivery
   SET next_attempt_at = now() + make_interval(secs => $2), last_status = $3, last_error = $4
 WHERE id = $1 AND state = 'pending'
"""

_CANCELLED = """
UPDATE packgate.webhook_delivery
   SET state = 'cancelled', last_error = $2
 WHERE id = $1 AND state = 'pending'
"""

_PENDING = """
SELECT (SELECT count(*) FROM packgate.webhook_delivery WHERE state = 'pending')
     + (SELECT count(*) FROM packgate.webhook_event WHERE fanned_out_at IS NULL)
"""

_NEXT_DUE = """
SELECT least(
    (SELECT min(next_attempt_at) FROM packgate.webhook_delivery WHERE state = 'pending'),
    (SELECT min(next_attempt_at) FROM packgate.webhook_event WHERE fanned_out_at IS NULL)
) - now()
"""


# ----------------------------------------------------------------------------------------- models


class _Row(BaseModel):
    model_config = ConfigDict(frozen=True)


class ClaimedEvent(_Row):
    """An outbox event leased for fan-out: match it against its namespace's PackWebhooks."""

    id: int
    event_id: str
    type: EventType
    namespace: str
    pack_name: str
    pack_uid: str
    pack_labels: dict[str, str] | None
    attempts: int


class ClaimedDelivery(_Row):
    """A delivery leased for one attempt: POST `cloudevent` to the PackWebhook."""

    id: int
    webhook_namespace: str
    webhook_name: str
    webhook_uid: str
    attempts: int
    event_id: str
    type: EventType
    pack_namespace: str
    pack_name: str
    cloudevent: dict[str, Any]


class WebhookTarget(_Row):
    """A PackWebhook an event is fanned out to."""

    namespace: str
    name: str
    uid: str


# ----------------------------------------------------------------------------------------- writes in
#                                                                   record_execution's transaction


async def previous_active_version(
    connection: Any, namespace: str, name: str, pack_uid: str, execution_time: datetime
) -> str | None:
    """The Pack's active version as PostgreSQL last recorded it, before this execution is written
    (under the pack name's advisory lock, which the pack upsert takes too).  None when the pack
    is new, had none, or its row is newer than this execution (a late record: unknown)."""
    await connection.execute(_LOCK_PACK_NAME, f"pack:{namespace}/{name}")
    row = await connection.fetchrow(_PACK_ACTIVE, pack_uid)
    if row is None or (row["last_tested_at"] is not None and row["last_tested_at"] > execution_time):
        return None
    value = row["active_version"]
    return None if value is None else str(value)


async def enqueue(connection: Any, execution: int, events: Sequence[OutboxEvent]) -> None:
    """Insert the execution's events (inside the caller's transaction)."""
    if not events:
        return
    await connection.executemany(
        _ENQUEUE,
        [
            (
                e.event_id,
                execution,
                e.namespace,
                e.pack_name,
                e.pack_uid,
                None if e.pack_labels is None else json.dumps(e.pack_labels),
                e.type.value,
                json.dumps(e.cloudevent, ensure_ascii=False),
            )
            for e in events
        ],
    )


# ----------------------------------------------------------------------------------------- the worker's side


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


class WebhookOutbox:
    """The delivery worker's view of the outbox, on the Database's pool (`Database.webhook_outbox()`)."""

    def __init__(self, pool: Any, target: str) -> None:
        self._pool = pool
        self.target = target

    async def claim_events(self, limit: int, lease_seconds: float) -> list[ClaimedEvent]:
        """Lease up to `limit` events due for fan-out."""
        with translated(self.target):
            rows = await self._pool.fetch(_CLAIM_EVENTS, limit, float(lease_seconds))
        return [
            ClaimedEvent(
                id=r["id"],
                event_id=r["event_id"],
                type=EventType(r["event_type"]),
                namespace=r["namespace"],
                pack_name=r["pack_name"],
                pack_uid=r["pack_uid"],
                pack_labels=_json(r["pack_labels"]),
                attempts=r["attempts"],
            )
            for r in rows
        ]

    async def fan_out(self, event: int, webhooks: Sequence[WebhookTarget]) -> bool:
        """Create one pending delivery per webhook and mark the event fanned out, in one
        transaction; False (nothing written) when it was fanned out already."""
        with translated(self.target):
            async with self._pool.acquire() as connection, connection.transaction():
                if await connection.fetchval(_FANNED_OUT, event, len(webhooks)) is None:
                    return False
                if webhooks:
                    await connection.executemany(
                        _INSERT_DELIVERY, [(event, w.namespace, w.name, w.uid) for w in webhooks]
                    )
                return True

    async def fan_out_failed(self, event: int, retry_in: float, error: str) -> None:
        """The event's webhooks could not be resolved now: try again in `retry_in` seconds."""
        with translated(self.target):
            await self._pool.execute(_FAN_OUT_FAILED, event, float(retry_in), error)

    async def claim_deliveries(self, limit: int, lease_seconds: float) -> list[ClaimedDelivery]:
        """Lease up to `limit` due deliveries, each with its CloudEvent."""
        with translated(self.target):
            rows = await self._pool.fetch(_CLAIM_DELIVERIES, limit, float(lease_seconds))
        return [
            ClaimedDelivery(
                id=r["id"],
                webhook_namespace=r["webhook_namespace"],
                webhook_name=r["webhook_name"],
                webhook_uid=r["webhook_uid"],
                attempts=r["attempts"],
                event_id=r["event_id"],
                type=EventType(r["event_type"]),
                pack_namespace=r["namespace"],
                pack_name=r["pack_name"],
                cloudevent=_json(r["cloudevent"]),
            )
            for r in rows
        ]

    async def delivered(self, delivery: int, status: int) -> None:
        with translated(self.target):
            await self._pool.execute(_DELIVERED, delivery, status)

    async def attempt_failed(self, delivery: int, retry_in: float, status: int | None, error: str) -> None:
        """The attempt failed: keep it pending, next attempt in `retry_in` seconds."""
        with translated(self.target):
            await self._pool.execute(_ATTEMPT_FAILED, delivery, float(retry_in), status, error)

    async def cancel(self, delivery: int, reason: str) -> None:
        """The PackWebhook is gone (deleted, or re-created with another uid): stop retrying."""
        with translated(self.target):
            await self._pool.execute(_CANCELLED, delivery, reason)

    async def pending(self) -> int:
        """Events not fanned out yet plus deliveries not done yet."""
        with translated(self.target):
            return int(await self._pool.fetchval(_PENDING))

    async def seconds_until_due(self) -> float | None:
        """Seconds until the next row is due (<= 0: due now); None when nothing is pending."""
        with translated(self.target):
            value = await self._pool.fetchval(_NEXT_DUE)
        return None if value is None else float(value.total_seconds())
