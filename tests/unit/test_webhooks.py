"""packgate.webhooks: the PackWebhook spec, selectors, the events a record produces, the CloudEvent
and its bytes, the signature and the retry schedule -- all on plain values."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from packgate.db.models import ExecutionRecord
from packgate.results import TestCaseResult, TestStatus, combine, error_suite, suite_from_cases
from packgate.webhooks import (
    CLOUDEVENT_TYPES,
    EventType,
    InvalidWebhook,
    LabelSelector,
    cloudevent_body,
    delivered,
    event_id,
    event_types,
    failure_message,
    load_webhook,
    outbox_events,
    retry_delay,
    retry_schedule,
    selector_matches,
    signature_header,
    verify_signature,
    webhooks_for,
)

pytestmark = pytest.mark.unit

STARTED = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)
KEY = b"s3cret-key"


def record(
    *,
    allowed: bool = True,
    version: str = "2.0.0",
    active: str | None = "2.0.0",
    runner_error: bool = False,
    labels: dict[str, str] | None = None,
    **extra: Any,
) -> ExecutionRecord:
    """An ExecutionRecord of Pack automation/core (uid u-1), execution e-7, 1.5 s long."""
    suites = [
        suite_from_cases(
            "shell",
            "script",
            [
                TestCaseResult(name="a", status=TestStatus.PASSED, duration_ms=5),
                TestCaseResult(name="b", status=TestStatus.FAILED if not allowed else TestStatus.PASSED),
            ],
        )
    ]
    if runner_error:
        suites.append(error_suite("py", "pytest", "Timeout: timed out after 90s", job_name="core-py-e-7"))
    result = combine("core", version, STARTED, suites, duration_ms=1500)
    return ExecutionRecord.model_validate(
        {
            "pack_uid": "u-1",
            "namespace": "automation",
            "name": "core",
            "ref": "core",
            "version": version,
            "active_version": active,
            "execution_id": "e-7",
            "idempotency_key": "u-1/e-7",
            "trigger": "update",
            "allowed": allowed,
            "result": result,
            "labels": labels,
            **extra,
        }
    )


def webhook(spec: dict[str, Any], name: str = "hook") -> dict[str, Any]:
    return {"metadata": {"namespace": "automation", "name": name, "uid": f"w-{name}"}, "spec": spec}


BASE_SPEC = {"url": "https://hooks.example.com/packgate", "secretRef": {"name": "hook-key"}, "events": ["Verdict"]}


# -- spec -------------------------------------------------------------------------------------------


def test_load_webhook_reads_the_spec_with_an_empty_selector_by_default() -> None:
    """A minimal PackWebhook loads with its identity, events and an empty (select-all) packSelector."""
    hook = load_webhook(webhook(BASE_SPEC))
    assert (hook.namespace, hook.name, hook.uid) == ("automation", "hook", "w-hook")
    assert hook.spec.events == (EventType.VERDICT,)
    assert hook.spec.secret_ref.name == "hook-key"
    assert hook.spec.pack_selector == LabelSelector()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"url": "ftp://example.com/x"}, "PackWebhook automation/hook: spec.url: must be an http:// or https:// URL"),
        (
            {"events": []},
            "PackWebhook automation/hook: spec.events: Tuple should have at least 1 item after validation, not 0",
        ),
        (
            {"events": ["Deleted"]},
            "PackWebhook automation/hook: spec.events.0: "
            "Input should be 'Verdict', 'Blocked', 'Activated' or 'RunnerError'",
        ),
        (
            {"packSelector": {"matchExpressions": [{"key": "a", "operator": "In"}]}},
            "PackWebhook automation/hook: spec.packSelector.matchExpressions.0: operator In needs values",
        ),
    ],
)
def test_load_webhook_refuses_a_bad_spec_in_one_line(change: dict[str, Any], message: str) -> None:
    """A spec the CRD would refuse gives InvalidWebhook naming the object and the field, one line."""
    with pytest.raises(InvalidWebhook) as caught:
        load_webhook(webhook({**BASE_SPEC, **change}))
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ({}, {}, True),
        ({}, {"team": "a"}, True),
        ({"matchLabels": {"team": "a"}}, {"team": "a", "tier": "x"}, True),
        ({"matchLabels": {"team": "a"}}, {"team": "b"}, False),
        ({"matchLabels": {"team": "a"}}, {}, False),
        (
            {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["prod", "stage"]}]},
            {"tier": "prod"},
            True,
        ),
        ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["prod"]}]}, {}, False),
        ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["dev"]}]}, {}, True),
        ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["dev"]}]}, {"tier": "dev"}, False),
        ({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, {"tier": ""}, True),
        ({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, {}, False),
        ({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}, {}, True),
        ({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}, {"tier": "x"}, False),
        (
            {"matchLabels": {"team": "a"}, "matchExpressions": [{"key": "tier", "operator": "Exists"}]},
            {"team": "a"},
            False,
        ),
    ],
)
def test_selector_matches_like_kubernetes(selector: dict[str, Any], labels: dict[str, str], expected: bool) -> None:
    """matchLabels and every matchExpressions operator, ANDed; NotIn/DoesNotExist match a missing label."""
    assert selector_matches(LabelSelector.model_validate(selector), labels) is expected


def test_webhooks_for_filters_by_event_and_selector_in_name_order() -> None:
    """Only webhooks subscribed to the event whose selector matches the Pack's labels, sorted by name."""
    hooks = [
        load_webhook(webhook({**BASE_SPEC, "events": ["Verdict", "Blocked"]}, "zeta")),
        load_webhook(
            webhook({**BASE_SPEC, "events": ["Blocked"], "packSelector": {"matchLabels": {"team": "a"}}}, "alpha")
        ),
        load_webhook(
            webhook({**BASE_SPEC, "events": ["Blocked"], "packSelector": {"matchLabels": {"team": "b"}}}, "beta")
        ),
        load_webhook(webhook({**BASE_SPEC, "events": ["Activated"]}, "gamma")),
    ]
    assert [w.name for w in webhooks_for(hooks, EventType.BLOCKED, {"team": "a"})] == ["alpha", "zeta"]
    assert [w.name for w in webhooks_for(hooks, EventType.VERDICT, {"team": "a"})] == ["zeta"]


# -- events from a record -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "previous", "expected"),
    [
        ({"allowed": True, "active": "2.0.0"}, "1.0.0", ["Verdict", "Activated"]),
        ({"allowed": True, "active": "2.0.0"}, None, ["Verdict", "Activated"]),
        ({"allowed": True, "active": "2.0.0"}, "", ["Verdict", "Activated"]),
        ({"allowed": True, "active": "2.0.0"}, "2.0.0", ["Verdict"]),  # a retest of the active version
        ({"allowed": False, "active": "1.0.0"}, "1.0.0", ["Verdict", "Blocked"]),  # a failed upgrade
        ({"allowed": False, "active": None}, "2.0.0", ["Verdict", "Blocked"]),  # a failed validation deactivates
        ({"allowed": True, "active": "1.0.0"}, "1.0.0", ["Verdict"]),  # allowed, waiting on dependencies
        ({"allowed": False, "active": None, "runner_error": True}, None, ["Verdict", "Blocked", "RunnerError"]),
    ],
)
def test_event_types_derive_from_the_record(kwargs: dict[str, Any], previous: str | None, expected: list[str]) -> None:
    """Verdict always; Blocked when not allowed; Activated when activeVersion became this version;
    RunnerError when a suite has a runner error."""
    assert [t.value for t in event_types(record(**kwargs), previous)] == expected


def test_event_id_is_stable_and_distinct_per_type_and_execution() -> None:
    """The CloudEvent id depends only on the idempotency key and the type: the same on every call."""
    assert event_id("u-1/e-7", EventType.VERDICT) == event_id("u-1/e-7", EventType.VERDICT)
    ids = {event_id(k, t) for k in ("u-1/e-7", "u-1/e-8", "u-2/e-7") for t in EventType}
    assert len(ids) == 3 * len(EventType)


def test_outbox_events_carry_a_whole_cloudevent() -> None:
    """Each outbox row holds a CloudEvents 1.0 envelope (id, source, type, subject, time) and the
    execution's summary as data; the labels travel with it for the packSelector."""
    [verdict, blocked, failed_runner] = outbox_events(
        record(allowed=False, active="1.0.0", runner_error=True, labels={"team": "a"}), "1.0.0"
    )
    assert [e.type for e in (verdict, blocked, failed_runner)] == [
        EventType.VERDICT,
        EventType.BLOCKED,
        EventType.RUNNER_ERROR,
    ]
    assert verdict.pack_labels == {"team": "a"}
    assert (verdict.namespace, verdict.pack_name, verdict.pack_uid) == ("automation", "core", "u-1")
    ce = blocked.cloudevent
    assert {k: v for k, v in ce.items() if k != "data"} == {
        "specversion": "1.0",
        "id": event_id("u-1/e-7", EventType.BLOCKED),
        "source": "/apis/packgate.dev/v1alpha1/namespaces/automation/packs/core",
        "type": "dev.packgate.pack.blocked.v1",
        "subject": "2.0.0",
        "time": "2026-11-30T12:00:01.500Z",
        "datacontenttype": "application/json",
        "packgateevent": "Blocked",
    }
    assert ce["data"] == {
        "pack": {"namespace": "automation", "name": "core", "uid": "u-1", "ref": "core"},
        "version": "2.0.0",
        "activeVersion": "1.0.0",
        "previousActiveVersion": "1.0.0",
        "execution": {
            "id": "e-7",
            "trigger": "update",
            "startedAt": "2026-11-30T12:00:00.000Z",
            "finishedAt": "2026-11-30T12:00:01.500Z",
            "durationMs": 1500,
        },
        "status": "error",
        "allowed": False,
        "forced": False,
        "total": 2,
        "passed": 1,
        "failed": 1,
        "skipped": 0,
        "passRate": 0.5,
        "runnerErrors": [
            {"runner": "py", "type": "pytest", "job": "core-py-e-7", "error": "Timeout: timed out after 90s"}
        ],
    }
    assert set(CLOUDEVENT_TYPES.values()) >= {e.cloudevent["type"] for e in (verdict, blocked, failed_runner)}


def test_cloudevent_body_is_the_same_bytes_for_the_same_event() -> None:
    """Key order does not change the body (sorted, compact JSON), so every retry sends the same bytes."""
    [event] = outbox_events(record(active="2.0.0"), "2.0.0")
    shuffled = json.loads(json.dumps(dict(reversed(list(event.cloudevent.items())))))
    assert cloudevent_body(shuffled) == cloudevent_body(event.cloudevent)
    assert json.loads(cloudevent_body(event.cloudevent)) == event.cloudevent


# -- signature --------------------------------------------------------------------------------------


def test_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    """The header is t=<ts>,v1=<hex HMAC-SHA256(key, b"<ts>." + body)>, as docs/webhooks.md says."""
    body = b'{"id":"x"}'
    expected = hmac.new(KEY, b"1764504000." + body, hashlib.sha256).hexdigest()
    assert signature_header(KEY, 1764504000, body) == f"t=1764504000,v1={expected}"


def test_verify_signature_accepts_the_real_header_and_nothing_else() -> None:
    """A receiver accepts the header Packgate sends; a changed body, another key, an old timestamp or
    a mangled header are refused."""
    body = b'{"id":"x"}'
    header = signature_header(KEY, 1000, body)
    assert verify_signature(KEY, header, body, now=1100) is True
    assert verify_signature(KEY, header, body + b" ", now=1100) is False
    assert verify_signature(b"other", header, body, now=1100) is False
    assert verify_signature(KEY, header, body, now=1000 + 301) is False
    assert verify_signature(KEY, "v1=abc", body, now=1000) is False
    assert verify_signature(KEY, "t=notanumber,v1=abc", body, now=1000) is False


# -- retries ----------------------------------------------------------------------------------------


def test_retry_delay_doubles_from_the_base_up_to_the_cap() -> None:
    """5 s, 10 s, 20 s ... capped at 600 s, and still capped after a huge number of attempts."""
    assert retry_schedule(9) == [5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 320.0, 600.0, 600.0]
    assert retry_delay(10_000) == 600.0
    assert retry_delay(0) == 0.0
    assert retry_delay(3, base=1.0, cap=3.0) == 3.0


@pytest.mark.parametrize(
    ("status", "ok"), [(200, True), (202, True), (204, True), (301, False), (400, False), (410, False), (500, False)]
)
def test_only_2xx_is_delivered(status: int, ok: bool) -> None:
    """2xx is a delivery; redirects, 4xx and 5xx are retried."""
    assert delivered(status) is ok


def test_failure_message_is_one_line() -> None:
    """An HTTP failure names the status and the start of the answer on one line; a connection error its text."""
    assert failure_message(503, None, "busy\n  try later") == "HTTP 503: busy try later"
    assert failure_message(500, None, "") == "HTTP 500"
    assert failure_message(None, "Cannot connect to host\n127.0.0.1:9") == "Cannot connect to host 127.0.0.1:9"
