"""End to end: PackWebhook notifications from the operator image (two replicas, its own RBAC) to a
real receiver Pod in the cluster -- a tiny Python HTTP server in the python:3.13-slim image that
prints every request it gets as one JSON line.  Pins: one signed CloudEvent per verdict, and an
event whose receiver was down while the operator was killed and restarted still arrives, once."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any

import asyncpg
import pytest

from e2e.helpers import simple_pack, wait_settled
from packgate.webhooks import CONTENT_TYPE, SIGNATURE_HEADER, EventType, event_id, verify_signature
from plugins.operator import wait_for

pytestmark = pytest.mark.e2e

KEY = b"e2e-webhook-key"

RECEIVER = r"""
import base64, json
from http.server import BaseHTTPRequestHandler, HTTPServer

class Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        print(json.dumps({"path": self.path, "headers": dict(self.headers.items()),
                          "body": base64.b64encode(body).decode()}), flush=True)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass

HTTPServer(("", 8080), Receiver).serve_forever()
"""


def receiver_pod(namespace: str, name: str) -> dict[str, Any]:
    """The receiver, admitted under the restricted Pod Security Standard."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": "receiver"}},
        "spec": {
            "automountServiceAccountToken": False,
            "securityContext": {"runAsNonRoot": True, "runAsUser": 65532, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [
                {
                    "name": "receiver",
                    "image": "docker.io/library/python:3.13-slim",
                    "command": ["python3", "-u", "-c", RECEIVER],
                    "ports": [{"containerPort": 8080}],
                    "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1},
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "readOnlyRootFilesystem": True,
                        "capabilities": {"drop": ["ALL"]},
                    },
                    "resources": {
                        "requests": {"cpu": "10m", "memory": "32Mi"},
                        "limits": {"cpu": "200m", "memory": "64Mi"},
                    },
                }
            ],
        },
    }


def setup(kube: Any, namespace: str) -> None:
    """The key's Secret, the receiver's Service and a PackWebhook for every Verdict in the namespace."""
    objects = [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "hook-key", "namespace": namespace},
            "data": {"secret": base64.b64encode(KEY).decode()},
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "receiver", "namespace": namespace},
            "spec": {"selector": {"app": "receiver"}, "ports": [{"port": 80, "targetPort": 8080}]},
        },
        {
            "apiVersion": "packgate.dev/v1alpha1",
            "kind": "PackWebhook",
            "metadata": {"name": "hook", "namespace": namespace},
            "spec": {
                "url": f"http://receiver.{namespace}.svc.cluster.local/events",
                "secretRef": {"name": "hook-key"},
                "events": ["Verdict"],
            },
        },
    ]
    for obj in objects:
        kube.apply(json.dumps(obj))


def start_receiver(kube: Any, namespace: str, name: str) -> None:
    kube.apply(json.dumps(receiver_pod(namespace, name)))
    kube.run("wait", "--for=condition=Ready", f"pod/{name}", "-n", namespace, "--timeout=120s")


def received(kube: Any, namespace: str, pod: str) -> list[dict[str, Any]]:
    """The requests the receiver Pod printed, oldest first."""
    lines = kube.run("logs", pod, "-n", namespace).stdout.splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def verdict_id(pack: dict[str, Any]) -> str:
    """The CloudEvent id of the Verdict of the Pack's last execution."""
    uid, execution = pack["metadata"]["uid"], pack["status"]["lastExecution"]["id"]
    return event_id(f"{uid}/{execution}", EventType.VERDICT)


def deliveries(dsn: str, namespace: str) -> list[tuple[str, str, int]]:
    """(pack, state, attempts) of every delivery of the namespace's events."""

    async def read() -> list[tuple[str, str, int]]:
        connection = await asyncpg.connect(dsn)
        try:
            rows = await connection.fetch(
                "SELECT e.pack_name, d.state, d.attempts FROM packgate.webhook_delivery d "
                "JOIN packgate.webhook_event e ON e.id = d.event_id WHERE e.namespace = $1 ORDER BY e.pack_name",
                namespace,
            )
        finally:
            await connection.close()
        return [(r["pack_name"], r["state"], r["attempts"]) for r in rows]

    return asyncio.run(read())


def check_signed(request: dict[str, Any]) -> dict[str, Any]:
    """The request is a structured CloudEvent with a valid signature; returns the event."""
    body = base64.b64decode(request["body"])
    headers = {k.lower(): v for k, v in request["headers"].items()}
    assert headers["content-type"] == CONTENT_TYPE
    assert verify_signature(KEY, headers[SIGNATURE_HEADER.lower()], body, now=int(time.time()))
    event = dict(json.loads(body))
    assert (event["specversion"], event["type"], event["datacontenttype"]) == (
        "1.0",
        "dev.packgate.pack.verdict.v1",
        "application/json",
    )
    return event


def test_one_signed_cloudevent_per_verdict_across_an_operator_restart(operator, kube, namespace):
    """A passing Pack's verdict reaches the receiver once, signed; then, with the receiver gone, a
    second Pack's verdict fails to deliver (a WebhookDeliveryFailed Event), every operator replica
    is killed and restarted, a new receiver comes up, and that verdict arrives there -- once."""
    setup(kube, namespace)
    start_receiver(kube, namespace, "receiver-1")
    kube.apply(simple_pack(namespace, "alpha", "1.0.0", passed=2, failed=0))
    alpha = wait_settled(kube, namespace, "alpha")
    wait_for("alpha's delivery", lambda: deliveries(operator.dsn, namespace) == [("alpha", "delivered", 1)])
    [first] = received(kube, namespace, "receiver-1")
    event = check_signed(first)
    assert (first["path"], event["id"], event["source"], event["subject"]) == (
        "/events",
        verdict_id(alpha),
        f"/apis/packgate.dev/v1alpha1/namespaces/{namespace}/packs/alpha",
        "1.0.0",
    )
    assert (event["data"]["status"], event["data"]["allowed"], event["data"]["passed"]) == ("passed", True, 2)

    # The receiver goes; beta's verdict can't be delivered.
    kube.run("delete", "pod", "receiver-1", "-n", namespace, "--wait=true")
    kube.apply(simple_pack(namespace, "beta", "1.0.0", passed=1, failed=1))
    beta = wait_settled(kube, namespace, "beta")
    wait_for(
        "a failed delivery",
        lambda: [
            e
            for e in kube.events(namespace, "hook")
            if e["reason"] == "WebhookDeliveryFailed" and "beta" in e["message"]
        ],
    )
    assert ("beta", "pending") in {(p, s) for p, s, _ in deliveries(operator.dsn, namespace)}

    operator.kill()
    operator.start()
    start_receiver(kube, namespace, "receiver-2")
    wait_for(
        "beta's delivery",
        lambda: ("beta", "delivered") in {(p, s) for p, s, _ in deliveries(operator.dsn, namespace)},
        timeout=180,
    )
    got = [check_signed(r) for r in received(kube, namespace, "receiver-2")]
    assert [e["id"] for e in got] == [verdict_id(beta)]
    assert (got[0]["data"]["pack"]["name"], got[0]["data"]["allowed"]) == ("beta", False)
    # Every delivery is done: nothing more will be sent, so the counts above are final.
    states = deliveries(operator.dsn, namespace)
    assert [(p, s) for p, s, _ in states] == [("alpha", "delivered"), ("beta", "delivered")]
    assert dict((p, a) for p, _, a in states)["beta"] >= 2
