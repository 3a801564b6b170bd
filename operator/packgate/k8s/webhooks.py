"""The Kubernetes side of PackWebhook delivery: reading PackWebhooks, their Secrets and a Pack's
labels, and posting the Events that report failed deliveries.

Owns: these calls, made through `Kube`'s wrapped calls (same request timeout, same one-line
KubernetesError, same packgate_kubernetes_errors counting) -- `KubeWebhookDirectory`, the
directory the delivery worker (packgate.delivery) reads.  A namespace's PackWebhooks are listed
once per worker round (not per event); the CRD missing (404) means no webhooks.
Must not: decide whom to send what (packgate.webhooks does), send HTTP to receivers, or keep state
between rounds.
"""

from __future__ import annotations

import base64
import binascii
import logging
import socket
from datetime import UTC, datetime
from typing import Any

from packgate.api.spec import GROUP, VERSION
from packgate.errors import KubernetesError
from packgate.k8s.client import Kube
from packgate.webhooks import SECRET_KEY, WEBHOOK_KIND, WEBHOOK_PLURAL, InvalidWebhook, PackWebhook, load_webhook

log = logging.getLogger("packgate")


class SecretUnusable(KubernetesError):
    """The PackWebhook's Secret is missing, or has no usable `secret` key (one line)."""


class KubeWebhookDirectory:
    """PackWebhooks, their HMAC keys and Packs' labels, read from the API server; Events written to it."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        self.instance = socket.gethostname()

    async def webhooks(self, namespace: str) -> list[PackWebhook]:
        """The namespace's valid PackWebhooks; an invalid one is logged and left out."""
        result: Any = await self.kube._call_unless_absent(
            f"list PackWebhooks in {namespace}",
            self.kube.custom.list_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            WEBHOOK_PLURAL,
        )
        hooks = []
        for raw in (result or {}).get("items", []):
            try:
                hooks.append(load_webhook(raw))
            except InvalidWebhook as exc:
                log.warning("Skipped %s", exc)
        return hooks

    async def secret_key(self, namespace: str, name: str) -> bytes:
        """The bytes of the Secret's `secret` key; SecretUnusable when the Secret or the key is missing."""
        obj = await self.kube._call_unless_absent(
            f"get Secret {namespace}/{name}", self.kube.core.read_namespaced_secret, name, namespace
        )
        if obj is None:
            raise SecretUnusable(f"Secret {namespace}/{name} not found")
        data = obj.data or {}
        encoded = data.get(SECRET_KEY)
        if not encoded:
            raise SecretUnusable(f"Secret {namespace}/{name} has no key {SECRET_KEY!r}")
        try:
            return base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise SecretUnusable(f"Secret {namespace}/{name}: key {SECRET_KEY!r} is not base64") from exc

    async def pack_labels(self, namespace: str, name: str) -> dict[str, str] | None:
        """The Pack's labels now; None when the Pack is gone."""
        pack = await self.kube.get_pack(namespace, name)
        if pack is None:
            return None
        return {str(k): str(v) for k, v in ((pack.get("metadata") or {}).get("labels") or {}).items()}

    async def report(self, webhook: PackWebhook, type_: str, reason: str, message: str) -> None:
        """A Kubernetes Event on the PackWebhook (core/v1, like kopf's); a failure to post it is
        logged, never raised: reporting must not stop delivery."""
        now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        body: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{webhook.name}.", "namespace": webhook.namespace},
            "involvedObject": {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": WEBHOOK_KIND,
                "name": webhook.name,
                "namespace": webhook.namespace,
                "uid": webhook.uid,
            },
            "type": type_,
            "reason": reason,
            "message": message[:1024],
            "source": {"component": "packgate"},
            "reportingComponent": "packgate",
            "reportingInstance": self.instance,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        try:
            await self.kube._call(
                f"create Event for PackWebhook {webhook.namespace}/{webhook.name}",
                self.kube.core.create_namespaced_event,
                webhook.namespace,
                body,
            )
        except KubernetesError as exc:
            log.warning("Event %s on PackWebhook %s/%s not posted: %s", reason, webhook.namespace, webhook.name, exc)
