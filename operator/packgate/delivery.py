"""The PackWebhook delivery worker: an asyncio loop that drains the PostgreSQL outbox.

Owns: the order of one round -- claim due events and fan them out to the namespace's matching
PackWebhooks (their `events` and `packSelector`), then claim due deliveries and POST each one's
CloudEvent (structured mode, signed) with aiohttp -- and recording each outcome: delivered (2xx),
retried later on anything else (`packgate.webhooks.retry_delay`, exponential, capped) with a
Warning Event `WebhookDeliveryFailed` on the PackWebhook and the metric, or cancelled when the
PackWebhook is gone.  Every replica runs it (no leadership needed): the outbox's SKIP LOCKED
claims and leases keep two replicas from sending one attempt twice.  Nothing here can block a
verdict: the worker only reads what `record_execution` committed.
Must not: decide what events exist or how to sign (packgate.webhooks), hold SQL
(packgate.db.outbox) or call the Kubernetes client itself (packgate.k8s.webhooks); it never
raises out of `run` -- outages are logged and retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import aiohttp

from packgate import metrics
from packgate.db.outbox import WebhookTarget
from packgate.errors import DatabaseUnavailable, KubernetesError, PackgateError
from packgate.webhooks import (
    CONTENT_TYPE,
    SIGNATURE_HEADER,
    PackWebhook,
    cloudevent_body,
    delivered,
    failure_message,
    one_line,
    retry_delay,
    signature_header,
    webhooks_for,
)

if TYPE_CHECKING:
    from packgate.db.outbox import ClaimedDelivery, ClaimedEvent, WebhookOutbox
    from packgate.db.store import Database

log = logging.getLogger("packgate")

USER_AGENT = "packgate-webhooks/1"
ANSWER_BYTES = 1024
"""How much of a receiver's answer is read (for the error message of a failed attempt)."""


class WebhookDirectory(Protocol):
    """Where PackWebhooks, their keys and Packs' labels come from, and where failures are reported
    (packgate.k8s.webhooks.KubeWebhookDirectory)."""

    async def webhooks(self, namespace: str) -> list[PackWebhook]: ...

    async def secret_key(self, namespace: str, name: str) -> bytes: ...

    async def pack_labels(self, namespace: str, name: str) -> dict[str, str] | None: ...

    async def report(self, webhook: PackWebhook, type_: str, reason: str, message: str) -> None: ...


@dataclass(frozen=True)
class DeliveryOptions:
    """How the worker paces itself."""

    poll_seconds: float = 2.0
    """Longest wait between rounds when nothing is due sooner."""
    batch: int = 20
    """Events and deliveries claimed per round (deliveries of a round are sent concurrently)."""
    timeout_seconds: float = 10.0
    """Each POST's total timeout (connect, send, answer)."""
    retry_base_seconds: float = 5.0
    retry_max_seconds: float = 600.0

    @property
    def lease_seconds(self) -> float:
        """How long a claimed row stays invisible to other replicas: longer than an attempt."""
        return self.timeout_seconds + 30.0


@dataclass(frozen=True)
class Attempt:
    """The outcome of one POST."""

    status: int | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and delivered(self.status)


class _Round:
    """What one round has read from the API server, so each namespace is listed once."""

    def __init__(self, directory: WebhookDirectory) -> None:
        self.directory = directory
        self._hooks: dict[str, list[PackWebhook] | KubernetesError] = {}
        self._keys: dict[tuple[str, str], bytes | KubernetesError] = {}
        self._labels: dict[tuple[str, str], dict[str, str] | None] = {}

    async def webhooks(self, namespace: str) -> list[PackWebhook]:
        if namespace not in self._hooks:
            try:
                self._hooks[namespace] = await self.directory.webhooks(namespace)
            except KubernetesError as exc:
                self._hooks[namespace] = exc
        found = self._hooks[namespace]
        if isinstance(found, KubernetesError):
            raise found
        return found

    async def secret_key(self, namespace: str, name: str) -> bytes:
        key = (namespace, name)
        if key not in self._keys:
            try:
                self._keys[key] = await self.directory.secret_key(namespace, name)
            except KubernetesError as exc:
                self._keys[key] = exc
        found = self._keys[key]
        if isinstance(found, KubernetesError):
            raise found
        return found

    async def pack_labels(self, namespace: str, name: str) -> dict[str, str] | None:
        key = (namespace, name)
        if key not in self._labels:
            self._labels[key] = await self.directory.pack_labels(namespace, name)
        return self._labels[key]


class DeliveryWorker:
    """Drains the outbox until stopped.  `database()` gives the current Database or None while
    PostgreSQL is away (the operator's Recorder); `lost()` tells it the connection broke."""

    def __init__(
        self,
        database: Callable[[], Awaitable[Database | None]],
        directory: WebhookDirectory,
        options: DeliveryOptions | None = None,
        *,
        lost: Callable[[], Awaitable[None]] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.database = database
        self.directory = directory
        self.options = options or DeliveryOptions()
        self.lost = lost
        self.clock = clock

    async def run(self, stop: asyncio.Event) -> None:
        """Rounds until `stop` is set; waits between them only when nothing is due."""
        timeout = aiohttp.ClientTimeout(total=self.options.timeout_seconds)
        async with aiohttp.ClientSession(timeout=timeout, headers={"User-Agent": USER_AGENT}) as session:
            while not stop.is_set():
                wait = await self._round_safely(session)
                if wait > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=wait)

    async def _round_safely(self, session: aiohttp.ClientSession) -> float:
        """One round; the seconds to wait before the next (0: go on at once)."""
        try:
            return await self.round(session)
        except DatabaseUnavailable as exc:
            log.warning("Webhook deliveries wait for PostgreSQL: %s", exc)
            if self.lost is not None:
                await self.lost()
        except PackgateError as exc:
            log.warning("Webhook delivery round failed: %s", exc)
        except Exception:
            log.exception("Webhook delivery round failed: unexpected error")
        return self.options.poll_seconds

    async def round(self, session: aiohttp.ClientSession) -> float:
        """Fan out due events, send due deliveries; the seconds until the next row is due (capped
        by the poll interval), 0 when a full batch suggests more is waiting."""
        db = await self.database()
        if db is None:
            return self.options.poll_seconds
        outbox = db.webhook_outbox()
        seen = _Round(self.directory)
        events = await outbox.claim_events(self.options.batch, self.options.lease_seconds)
        for event in events:
            await self._fan_out(outbox, seen, event)
        deliveries = await outbox.claim_deliveries(self.options.batch, self.options.lease_seconds)
        if deliveries:
            await asyncio.gather(*(self._deliver(outbox, seen, session, d) for d in deliveries))
        metrics.WEBHOOK_DELIVERIES_PENDING.set(await outbox.pending())
        if len(events) >= self.options.batch or len(deliveries) >= self.options.batch or events:
            return 0.0  # more may be due; fanned-out events have deliveries due now
        due = await outbox.seconds_until_due()
        if due is None:
            return self.options.poll_seconds
        return max(0.0, min(due, self.options.poll_seconds))

    async def _fan_out(self, outbox: WebhookOutbox, seen: _Round, event: ClaimedEvent) -> None:
        try:
            hooks = await seen.webhooks(event.namespace)
            labels = event.pack_labels
            if labels is None:
                labels = await seen.pack_labels(event.namespace, event.pack_name) or {}
        except KubernetesError as exc:
            retry_in = self._retry_in(event.attempts)
            log.warning(
                "Webhook event %s of Pack %s/%s: %s; retrying in %gs",
                event.event_id,
                event.namespace,
                event.pack_name,
                exc,
                retry_in,
            )
            await outbox.fan_out_failed(event.id, retry_in, one_line(str(exc)))
            return
        targets = [
            WebhookTarget(namespace=h.namespace, name=h.name, uid=h.uid)
            for h in webhooks_for(hooks, event.type, labels)
        ]
        await outbox.fan_out(event.id, targets)

    async def _deliver(
        self, outbox: WebhookOutbox, seen: _Round, session: aiohttp.ClientSession, delivery: ClaimedDelivery
    ) -> None:
        where = f"PackWebhook {delivery.webhook_namespace}/{delivery.webhook_name}"
        try:
            hook = _by_uid(await seen.webhooks(delivery.webhook_namespace), delivery.webhook_uid)
        except KubernetesError as exc:
            await self._failed(outbox, delivery, None, Attempt(None, f"cannot read {where}: {exc}"))
            return
        if hook is None:
            metrics.WEBHOOK_DELIVERIES.labels(outcome="cancelled").inc()
            await outbox.cancel(delivery.id, f"{where} is gone")
            log.info("Cancelled delivery of %s event %s: %s is gone", delivery.type, delivery.event_id, where)
            return
        try:
            key = await seen.secret_key(hook.namespace, hook.spec.secret_ref.name)
        except KubernetesError as exc:
            await self._failed(outbox, delivery, hook, Attempt(None, str(exc)))
            return
        attempt = await self.post(session, hook.spec.url, key, cloudevent_body(delivery.cloudevent))
        if attempt.ok:
            assert attempt.status is not None
            metrics.WEBHOOK_DELIVERIES.labels(outcome="delivered").inc()
            await outbox.delivered(delivery.id, attempt.status)
            log.info(
                "Delivered %s event %s of Pack %s/%s to %s (attempt %d)",
                delivery.type,
                delivery.event_id,
                delivery.pack_namespace,
                delivery.pack_name,
                where,
                delivery.attempts,
            )
        else:
            await self._failed(outbox, delivery, hook, attempt)

    async def post(self, session: aiohttp.ClientSession, url: str, key: bytes, body: bytes) -> Attempt:
        """One signed POST; never raises for a network failure (the Attempt says what happened)."""
        headers = {
            "Content-Type": CONTENT_TYPE,
            SIGNATURE_HEADER: signature_header(key, int(self.clock()), body),
        }
        try:
            async with session.post(url, data=body, headers=headers, allow_redirects=False) as answer:
                if delivered(answer.status):
                    return Attempt(answer.status)
                text = (await answer.content.read(ANSWER_BYTES)).decode("utf-8", "replace")
                return Attempt(answer.status, failure_message(answer.status, None, text))
        except TimeoutError:
            return Attempt(None, f"no answer within {self.options.timeout_seconds:g}s")
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            return Attempt(None, failure_message(None, f"{type(exc).__name__}: {exc}"))

    async def _failed(
        self, outbox: WebhookOutbox, delivery: ClaimedDelivery, hook: PackWebhook | None, attempt: Attempt
    ) -> None:
        retry_in = self._retry_in(delivery.attempts)
        error = attempt.error or failure_message(attempt.status, None)
        metrics.WEBHOOK_DELIVERIES.labels(outcome="failed").inc()
        await outbox.attempt_failed(delivery.id, retry_in, attempt.status, one_line(error))
        message = (
            f"{delivery.type} event {delivery.event_id} of Pack {delivery.pack_namespace}/{delivery.pack_name} "
            f"not delivered (attempt {delivery.attempts}): {one_line(error)}; next attempt in {retry_in:g}s"
        )
        log.warning("PackWebhook %s/%s: %s", delivery.webhook_namespace, delivery.webhook_name, message)
        if hook is not None:
            await self.directory.report(hook, "Warning", "WebhookDeliveryFailed", message)

    def _retry_in(self, attempts: int) -> float:
        return retry_delay(attempts, self.options.retry_base_seconds, self.options.retry_max_seconds)


def _by_uid(hooks: Iterable[PackWebhook], uid: str) -> PackWebhook | None:
    return next((h for h in hooks if h.uid == uid), None)
