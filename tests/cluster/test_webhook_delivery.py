"""The PackWebhook delivery worker (packgate.delivery) with every component real: PackWebhooks and
Secrets in the local cluster's API server (read through packgate.k8s.webhooks under the admin
kubeconfig), the outbox in the session's PostgreSQL, and receivers served by aiohttp on loopback
in this process.  Pins: who gets which event, the signature and the body, retries with the same
id and bytes, Events on failure, cancellation when a PackWebhook goes, exactly-once per receiver."""

from __future__ import annotations

import asyncio
import base64
import inspect
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp import web

from packgate.db import Database, ExecutionRecord
from packgate.delivery import DeliveryOptions, DeliveryWorker
from packgate.k8s.client import Kube, load_api_client
from packgate.k8s.webhooks import KubeWebhookDirectory
from packgate.results import TestCaseResult, TestStatus, combine, error_suite, suite_from_cases
from packgate.webhooks import CONTENT_TYPE, SIGNATURE_HEADER, EventType, event_id, verify_signature
from plugins.cluster import LocalCluster, wait_until

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[2]
KEY = b"k1-\x00\xffbinary-key"
FAST = DeliveryOptions(poll_seconds=0.2, batch=20, timeout_seconds=5.0, retry_base_seconds=0.2, retry_max_seconds=1.0)


@dataclass
class Received:
    """What one receiver path got: (headers, body) per request, in order."""

    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    def ids(self) -> list[str]:
        return [json.loads(body)["id"] for _, body in self.requests]


@pytest.fixture(scope="module")
def webhook_crd(cluster: LocalCluster) -> None:
    """The repository's CRDs, applied for real and Established."""
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-k", str(REPO / "crds"))
    cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/packwebhooks.packgate.dev")


def apply(cluster: LocalCluster, obj: dict[str, Any]) -> None:
    cluster.kubectl("apply", "-f", "-", input=json.dumps(obj))


def hook(
    namespace: str,
    name: str,
    url: str,
    events: list[str],
    selector: dict[str, Any] | None = None,
    secret: str = "hook-key",
) -> dict[str, Any]:
    spec: dict[str, Any] = {"url": url, "secretRef": {"name": secret}, "events": events}
    if selector is not None:
        spec["packSelector"] = selector
    return {
        "apiVersion": "packgate.dev/v1alpha1",
        "kind": "PackWebhook",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def secret(namespace: str, name: str, key: bytes) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace},
        "data": {"secret": base64.b64encode(key).decode()},
    }


def record(
    namespace: str, key: str, *, allowed: bool, labels: dict[str, str] | None, runner_error: bool = False
) -> ExecutionRecord:
    suites = [
        suite_from_cases(
            "shell", "script", [TestCaseResult(name="a", status=TestStatus.PASSED if allowed else TestStatus.FAILED)]
        )
    ]
    if runner_error:
        suites.append(error_suite("py", "pytest", "Timeout: timed out after 90s"))
    result = combine("core", "1.0.0", datetime.now(UTC), suites, duration_ms=100)
    return ExecutionRecord.model_validate(
        {
            "pack_uid": f"uid-{namespace}",
            "namespace": namespace,
            "name": "core",
            "ref": "core",
            "version": "1.0.0",
            "active_version": "1.0.0" if allowed else None,
            "execution_id": key,
            "idempotency_key": f"uid-{namespace}/{key}",
            "trigger": "install",
            "allowed": allowed,
            "result": result,
            "labels": labels,
        }
    )


async def serve(paths: dict[str, Callable[[int], int]]) -> tuple[web.AppRunner, int, dict[str, Received]]:
    """A real HTTP server on 127.0.0.1: each path answers the status its function gives for the
    request's number (1-based) and keeps what it got."""
    got = {path: Received() for path in paths}

    def handler(path: str) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handle(request: web.Request) -> web.Response:
            body = await request.read()
            got[path].requests.append((dict(request.headers), body))
            status = paths[path](len(got[path].requests))
            return web.Response(status=status, text="ok" if status < 300 else "receiver says no")

        return handle

    app = web.Application()
    for path in paths:
        app.router.add_post(path, handler(path))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, port, got


async def run_until(worker: DeliveryWorker, done: Callable[[], bool | Awaitable[bool]], timeout: float = 30.0) -> None:
    """Run the worker until `done()` holds (a plain or an async check), then stop it."""
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    deadline = time.monotonic() + timeout
    try:
        while not await _holds(done):
            assert time.monotonic() < deadline, "the worker did not finish in time"
            assert not task.done(), f"the worker stopped: {task.exception()!r}"
            # Polls the condition: this only hands the loop to the worker and the receiver between checks.
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=15)


async def _holds(done: Callable[[], bool | Awaitable[bool]]) -> bool:
    result = done()
    return await result if inspect.isawaitable(result) else bool(result)


def test_events_reach_the_matching_webhooks_signed_once_each(
    cluster: LocalCluster, webhook_crd: None, namespace: str, database: str
) -> None:
    """A blocked execution with a runner error, labels team=a: the select-all webhook for Verdict and
    Blocked gets both, once each; the team=b webhook gets nothing; the RunnerError-only webhook
    gets RunnerError after two 500s -- three attempts with the same id and the same bytes, each
    signed -- and a WebhookDeliveryFailed Event on it per failure; a webhook whose Secret is
    missing is retried with an Event saying so; a deleted webhook's delivery is cancelled."""

    async def main() -> dict[str, Any]:
        runner, port, got = await serve(
            {
                "/all": lambda n: 204,
                "/b": lambda n: 200,
                "/flaky": lambda n: 500 if n <= 2 else 202,
                "/nokey": lambda n: 200,
            }
        )
        base = f"http://127.0.0.1:{port}"
        apply(cluster, secret(namespace, "hook-key", KEY))
        apply(cluster, hook(namespace, "all", f"{base}/all", ["Verdict", "Blocked"]))
        apply(
            cluster,
            hook(
                namespace, "team-b", f"{base}/b", ["Verdict", "Blocked", "RunnerError"], {"matchLabels": {"team": "b"}}
            ),
        )
        apply(
            cluster,
            hook(
                namespace,
                "flaky",
                f"{base}/flaky",
                ["RunnerError"],
                {"matchExpressions": [{"key": "team", "operator": "In", "values": ["a", "c"]}]},
            ),
        )
        apply(cluster, hook(namespace, "nokey", f"{base}/nokey", ["Verdict"], secret="missing"))
        db = await Database.connect(database)
        kube = Kube(await asyncio.to_thread(load_api_client, str(cluster.kubeconfig)), timeout=30)
        try:
            assert await db.record_execution(
                record(namespace, "e1", allowed=False, labels={"team": "a"}, runner_error=True)
            )

            async def current() -> Database:
                return db

            worker = DeliveryWorker(current, KubeWebhookDirectory(kube), FAST)
            await run_until(worker, lambda: len(got["/all"].requests) >= 2 and len(got["/flaky"].requests) >= 3)
            # The nokey delivery failed at least once by now; delete its webhook: it is cancelled.
            cluster.kubectl("delete", "packwebhook", "nokey", "-n", namespace)
            outbox = db.webhook_outbox()

            async def settled() -> bool:
                return await outbox.pending() == 0

            await run_until(worker, settled)
            raw = await asyncpg.connect(database)
            rows = await raw.fetch(
                "SELECT d.webhook_name, e.event_type, d.state, d.attempts, d.last_status, d.last_error "
                "FROM packgate.webhook_delivery d JOIN packgate.webhook_event e ON e.id = d.event_id "
                "ORDER BY d.webhook_name, e.event_type"
            )
            await raw.close()
        finally:
            await db.close()
            kube.api_client.close()
            await runner.cleanup()
        return {"got": got, "rows": [tuple(r) for r in rows]}

    out = asyncio.run(main())
    got: dict[str, Received] = out["got"]
    ids = {t: event_id(f"uid-{namespace}/e1", t) for t in EventType}
    assert sorted(got["/all"].ids()) == sorted([ids[EventType.VERDICT], ids[EventType.BLOCKED]])
    assert got["/b"].requests == []
    assert got["/nokey"].requests == []
    assert got["/flaky"].ids() == [ids[EventType.RUNNER_ERROR]] * 3
    assert len({body for _, body in got["/flaky"].requests}) == 1  # the same bytes on every attempt
    now = int(time.time())
    for path in ("/all", "/flaky"):
        for headers, body in got[path].requests:
            assert headers["Content-Type"] == CONTENT_TYPE
            assert verify_signature(KEY, headers[SIGNATURE_HEADER], body, now=now)
            event = json.loads(body)
            assert (event["specversion"], event["source"], event["data"]["pack"]["namespace"]) == (
                "1.0",
                f"/apis/packgate.dev/v1alpha1/namespaces/{namespace}/packs/core",
                namespace,
            )
    by_hook = {(r[0], r[1]): r[2:] for r in out["rows"]}
    assert by_hook[("all", "Verdict")][:2] == ("delivered", 1)
    assert by_hook[("all", "Blocked")][:2] == ("delivered", 1)
    assert by_hook[("flaky", "RunnerError")][:3] == ("delivered", 3, 202)
    state, attempts, _, error = by_hook[("nokey", "Verdict")]
    assert (state, error) == ("cancelled", f"PackWebhook {namespace}/nokey is gone")
    assert attempts >= 1
    assert {k[0] for k in by_hook} == {"all", "flaky", "nokey"}  # team-b matched nothing

    events = json.loads(cluster.kubectl("get", "events", "-n", namespace, "-o", "json").stdout)["items"]
    failures = [(e["involvedObject"]["name"], e["message"]) for e in events if e["reason"] == "WebhookDeliveryFailed"]
    flaky = [m for name, m in failures if name == "flaky"]
    assert len(flaky) == 2
    assert all("HTTP 500: receiver says no" in m and ids[EventType.RUNNER_ERROR] in m for m in flaky)
    nokey = [m for name, m in failures if name == "nokey"]
    assert nokey and all(f"Secret {namespace}/missing not found" in m for m in nokey)


def test_the_crd_refuses_bad_webhooks(cluster: LocalCluster, webhook_crd: None, namespace: str) -> None:
    """The API server refuses a non-http URL, an unknown event and an In without values, with the CRD's
    messages, and accepts a good PackWebhook."""
    good = hook(
        namespace,
        "good",
        "https://hooks.example.com/x",
        ["Verdict"],
        {"matchExpressions": [{"key": "team", "operator": "Exists"}]},
    )
    apply(cluster, good)
    cases = [
        ({"url": "ftp://example.com/x"}, "url must start with http:// or https://"),
        ({"url": "http:// spaced"}, "url must name a host and contain no spaces"),
        ({"events": ["Deleted"]}, 'Unsupported value: "Deleted"'),
        (
            {"packSelector": {"matchExpressions": [{"key": "a", "operator": "In"}]}},
            "In and NotIn need values; Exists and DoesNotExist take none",
        ),
    ]
    for change, message in cases:
        bad = hook(namespace, "bad", "https://hooks.example.com/x", ["Verdict"])
        bad["spec"].update(change)
        proc = cluster.kubectl("apply", "-f", "-", input=json.dumps(bad), check=False)
        assert proc.returncode != 0 and message in proc.stderr, (change, proc.stderr)
    wait_until(
        "the good PackWebhook",
        lambda: cluster.kubectl("get", "packwebhook", "good", "-n", namespace, check=False).returncode == 0,
    )
