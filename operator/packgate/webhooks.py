"""PackWebhook notifications, the pure part: what is sent, to whom, signed how, retried when.

Owns: the PackWebhook spec model (`load_webhook`), label-selector matching (`selector_matches`),
which event types an execution record produces (`event_types`), the outbox rows built from a
record (`outbox_events`: each one a whole CloudEvents 1.0 envelope with a stable `id`), the
bytes sent (`cloudevent_body`), the HMAC-SHA256 signature header (`signature_header`,
`verify_signature`) and the retry schedule (`retry_delay`).  Every function takes plain values,
`now` included, and returns plain values.
Must not: do I/O (the outbox SQL is in packgate.db.outbox, the API calls in packgate.k8s.webhooks,
the HTTP POST in packgate.delivery), read the clock, or import kopf, kubernetes, asyncpg or aiohttp.

The signature (README "Webhooks", docs/webhooks.md): header `Packgate-Signature: t=<unix
seconds>,v1=<hex>` where `<hex>` = HMAC-SHA256(key, b"<t>." + body), key = the bytes of the
Secret's `secret` key, body = the exact bytes of the HTTP request body.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from packgate.api.spec import GROUP, VERSION
from packgate.db.models import ExecutionRecord
from packgate.errors import PackgateError
from packgate.results import RunStatus

WEBHOOK_PLURAL = "packwebhooks"
WEBHOOK_KIND = "PackWebhook"
SECRET_KEY = "secret"
"""The key of the referenced Secret that holds the HMAC key."""
SIGNATURE_HEADER = "Packgate-Signature"
CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"
SPECVERSION = "1.0"
SIGNATURE_TOLERANCE_SECONDS = 300
"""What `verify_signature` accepts between the signature's `t` and the receiver's clock."""

_ID_NAMESPACE = uuid.UUID("0d6c0b8e-5a47-4f39-9d3e-7a3f1f2c9b10")
"""uuid5 namespace of CloudEvent ids (any fixed value: ids only need to be stable)."""


class EventType(StrEnum):
    """What a PackWebhook can subscribe to (`spec.events`)."""

    VERDICT = "Verdict"  # every execution that concluded
    BLOCKED = "Blocked"  # the verdict did not allow the version
    ACTIVATED = "Activated"  # activeVersion changed to this execution's version
    RUNNER_ERROR = "RunnerError"  # a runner ended without results (timeout, image pull, crash...)


CLOUDEVENT_TYPES: dict[EventType, str] = {
    EventType.VERDICT: "dev.packgate.pack.verdict.v1",
    EventType.BLOCKED: "dev.packgate.pack.blocked.v1",
    EventType.ACTIVATED: "dev.packgate.pack.activated.v1",
    EventType.RUNNER_ERROR: "dev.packgate.pack.runnererror.v1",
}


class InvalidWebhook(PackgateError):
    """A PackWebhook object that does not match the schema (one line); it is skipped."""


# -- the PackWebhook spec ------------------------------------------------------------------------


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class SelectorRequirement(_Spec):
    key: str = Field(min_length=1)
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _values_fit_operator(self) -> SelectorRequirement:
        if self.operator in ("In", "NotIn") and not self.values:
            raise ValueError(f"operator {self.operator} needs values")
        if self.operator in ("Exists", "DoesNotExist") and self.values:
            raise ValueError(f"operator {self.operator} takes no values")
        return self


class LabelSelector(_Spec):
    """A metav1.LabelSelector.  Empty (no labels, no expressions) selects everything."""

    match_labels: dict[str, str] = Field(default_factory=dict, alias="matchLabels")
    match_expressions: tuple[SelectorRequirement, ...] = Field(default=(), alias="matchExpressions")


class SecretRef(_Spec):
    name: str = Field(min_length=1)


_URL = re.compile(r"^https?://[^\s/?#]+[^\s]*$")


class WebhookSpec(_Spec):
    url: str
    secret_ref: SecretRef = Field(alias="secretRef")
    events: tuple[EventType, ...] = Field(min_length=1)
    pack_selector: LabelSelector = Field(default_factory=LabelSelector, alias="packSelector")

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not _URL.match(value):
            raise ValueError("must be an http:// or https:// URL")
        return value


class PackWebhook(_Spec):
    """One PackWebhook object: its identity and validated spec."""

    namespace: str
    name: str
    uid: str
    spec: WebhookSpec


def load_webhook(raw: Mapping[str, Any]) -> PackWebhook:
    """A PackWebhook object as the API returns it; InvalidWebhook (one line) when its spec is wrong
    (the CRD rejects such objects; this guards against an older CRD)."""
    meta = raw.get("metadata") or {}
    where = f"PackWebhook {meta.get('namespace', '?')}/{meta.get('name', '?')}"
    try:
        spec = WebhookSpec.model_validate(raw.get("spec") or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "spec"
        raise InvalidWebhook(f"{where}: spec.{field}: {first['msg'].removeprefix('Value error, ')}") from exc
    return PackWebhook(
        namespace=str(meta.get("namespace", "")),
        name=str(meta.get("name", "")),
        uid=str(meta.get("uid", "")),
        spec=spec,
    )


def selector_matches(selector: LabelSelector, labels: Mapping[str, str]) -> bool:
    """Whether `labels` satisfy every term of `selector` (Kubernetes' semantics: NotIn and
    DoesNotExist match a missing label; an empty selector matches everything)."""
    for key, value in selector.match_labels.items():
        if labels.get(key) != value:
            return False
    for req in selector.match_expressions:
        present = req.key in labels
        if req.operator == "In" and not (present and labels[req.key] in req.values):
            return False
        if req.operator == "NotIn" and present and labels[req.key] in req.values:
            return False
        if req.operator == "Exists" and not present:
            return False
        if req.operator == "DoesNotExist" and present:
            return False
    return True


def subscribed(webhook: PackWebhook, event: EventType, pack_labels: Mapping[str, str]) -> bool:
    """Whether `webhook` wants `event` of a Pack with these labels."""
    return event in webhook.spec.events and selector_matches(webhook.spec.pack_selector, pack_labels)


# -- events from an execution record ---------------------------------------------------------------


def event_types(record: ExecutionRecord, previous_active_version: str | None) -> list[EventType]:
    """The events one execution produces: Verdict always; Blocked when not allowed; Activated when
    the version became the active one (`previous_active_version` is the active version before this
    verdict, None or "" when there was none); RunnerError when a runner ended without results
    (a suite with an error)."""
    types = [EventType.VERDICT]
    if not record.allowed:
        types.append(EventType.BLOCKED)
    became_active = record.active_version == record.version != (previous_active_version or None)
    if record.allowed and became_active:
        types.append(EventType.ACTIVATED)
    if any(s.error is not None or s.status is RunStatus.ERROR for s in record.result.test_suites):
        types.append(EventType.RUNNER_ERROR)
    return types


def event_id(idempotency_key: str, event: EventType) -> str:
    """The CloudEvent `id`: derived from the execution's idempotency key and the event type only,
    so it is the same on every retry, every replica and after a restart."""
    return str(uuid.uuid5(_ID_NAMESPACE, f"{idempotency_key}\n{event.value}"))


def pack_source(namespace: str, name: str) -> str:
    """The CloudEvent `source`: the Pack's API path."""
    return f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/packs/{name}"


def _rfc3339(value: datetime) -> str:
    value = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class OutboxEvent(BaseModel):
    """One row of the webhook outbox: a whole CloudEvent, and what selects its webhooks."""

    model_config = ConfigDict(frozen=True)

    event_id: str
    type: EventType
    namespace: str
    pack_name: str
    pack_uid: str
    pack_labels: dict[str, str] | None
    cloudevent: dict[str, Any]


def outbox_events(record: ExecutionRecord, previous_active_version: str | None) -> list[OutboxEvent]:
    """The outbox rows of one execution record, one per event type it produces."""
    result = record.result
    finished = result.execution_time + timedelta(milliseconds=result.duration_ms)
    runner_errors = [
        {"runner": s.name, "type": s.runner_type, "job": s.job_name, "error": s.error}
        for s in result.test_suites
        if s.error is not None or s.status is RunStatus.ERROR
    ]
    data: dict[str, Any] = {
        "pack": {"namespace": record.namespace, "name": record.name, "uid": record.pack_uid, "ref": record.ref},
        "version": record.version,
        "activeVersion": record.active_version,
        "previousActiveVersion": previous_active_version or None,
        "execution": {
            "id": record.execution_id,
            "trigger": record.trigger,
            "startedAt": _rfc3339(result.execution_time),
            "finishedAt": _rfc3339(finished),
            "durationMs": result.duration_ms,
        },
        "status": result.status.value,
        "allowed": record.allowed,
        "forced": record.forced,
        "total": result.total_tests,
        "passed": result.passed,
        "failed": result.failed,
        "skipped": result.skipped,
        "passRate": result.pass_rate,
        "runnerErrors": runner_errors,
    }
    events = []
    for kind in event_types(record, previous_active_version):
        identity = event_id(record.idempotency_key, kind)
        envelope = {
            "specversion": SPECVERSION,
            "id": identity,
            "source": pack_source(record.namespace, record.name),
            "type": CLOUDEVENT_TYPES[kind],
            "subject": record.version,
            "time": _rfc3339(finished),
            "datacontenttype": "application/json",
            "packgateevent": kind.value,
            "data": data,
        }
        events.append(
            OutboxEvent(
                event_id=identity,
                type=kind,
                namespace=record.namespace,
                pack_name=record.name,
                pack_uid=record.pack_uid,
                pack_labels=None if record.labels is None else dict(record.labels),
                cloudevent=envelope,
            )
        )
    return events


def cloudevent_body(cloudevent: Mapping[str, Any]) -> bytes:
    """The HTTP body: the CloudEvent as compact JSON with sorted keys, so the same event gives the
    same bytes on every attempt (structured mode, `application/cloudevents+json`)."""
    return json.dumps(cloudevent, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


# -- signing ---------------------------------------------------------------------------------------


def signature(key: bytes, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of b"<timestamp>." + body."""
    return hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def signature_header(key: bytes, timestamp: int, body: bytes) -> str:
    """The value of the Packgate-Signature header: `t=<timestamp>,v1=<hex>`."""
    return f"t={timestamp},v1={signature(key, timestamp, body)}"


def verify_signature(
    key: bytes, header: str, body: bytes, now: int, tolerance: int = SIGNATURE_TOLERANCE_SECONDS
) -> bool:
    """What a receiver does: the header parses, its `t` is within `tolerance` seconds of `now`, and
    one of its `v1` values equals the HMAC (compared in constant time)."""
    fields: dict[str, list[str]] = {}
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if sep:
            fields.setdefault(name, []).append(value)
    try:
        timestamp = int(fields["t"][0])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance:
        return False
    expected = signature(key, timestamp, body)
    return any(hmac.compare_digest(expected, v) for v in fields.get("v1", []))


# -- retries ---------------------------------------------------------------------------------------

RETRY_BASE_SECONDS = 5.0
RETRY_MAX_SECONDS = 600.0


def retry_delay(attempts: int, base: float = RETRY_BASE_SECONDS, cap: float = RETRY_MAX_SECONDS) -> float:
    """Seconds before the next attempt after `attempts` failed ones: base, 2*base, 4*base, ...,
    never more than `cap`."""
    if attempts < 1:
        return 0.0
    exponent = min(attempts - 1, 62)  # 2**62 * base is past any cap; keeps the float finite
    return float(min(cap, base * 2.0**exponent))


def retry_schedule(attempts: int, base: float = RETRY_BASE_SECONDS, cap: float = RETRY_MAX_SECONDS) -> list[float]:
    """The delays after each of the first `attempts` failures (for the docs and tests)."""
    return [retry_delay(n, base, cap) for n in range(1, attempts + 1)]


# -- delivery results --------------------------------------------------------------------------------


def delivered(status: int) -> bool:
    """A 2xx answer is a delivery; anything else (3xx included: redirects are not followed) is retried."""
    return 200 <= status < 300


def webhooks_for(
    webhooks: Iterable[PackWebhook], event: EventType, pack_labels: Mapping[str, str]
) -> list[PackWebhook]:
    """The webhooks that want this event of this Pack, by name (a stable order)."""
    return sorted((w for w in webhooks if subscribed(w, event, pack_labels)), key=lambda w: w.name)


def one_line(text: str, limit: int = 500) -> str:
    """`text` on one line, at most `limit` characters (for last_error and Event messages)."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def failure_message(status: int | None, error: str | None, body: str = "") -> str:
    """One line saying why an attempt failed: the HTTP status and the start of the answer, or the
    connection error."""
    if status is not None:
        tail = f": {one_line(body, 200)}" if body.strip() else ""
        return f"HTTP {status}{tail}"
    return one_line(error or "failed")
