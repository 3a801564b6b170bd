"""Builders for the cluster tests: restricted-compliant pods and Jobs as plain dicts, plus waits."""

from __future__ import annotations

from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from plugins.cluster import wait_until

RESTRICTED_POD_SECURITY: dict[str, Any] = {
    "runAsNonRoot": True,
    "runAsUser": 65532,
    "runAsGroup": 65532,
    "fsGroup": 65532,
    "seccompProfile": {"type": "RuntimeDefault"},
}
RESTRICTED_CONTAINER_SECURITY: dict[str, Any] = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
}


def container(name: str, script: str, **extra: Any) -> dict[str, Any]:
    """A `sh -c script` container that passes the restricted Pod Security Standard."""
    return {
        "name": name,
        "image": "busybox:1.37",
        "command": ["sh", "-c", script],
        "securityContext": RESTRICTED_CONTAINER_SECURITY,
        **extra,
    }


def pod_spec(*containers: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A restricted-compliant pod spec that never restarts its containers."""
    return {
        "restartPolicy": "Never",
        "securityContext": RESTRICTED_POD_SECURITY,
        "containers": list(containers),
        **extra,
    }


def pod(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


def job(name: str, spec: dict[str, Any], **job_spec: Any) -> dict[str, Any]:
    """A Job with no retries (backoffLimit 0) unless job_spec says otherwise."""
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {"backoffLimit": 0, **job_spec, "template": {"spec": spec}},
    }


def job_condition(batch: client.BatchV1Api, namespace: str, name: str, kind: str, timeout: float = 60) -> Any:
    """Wait for the Job's condition `kind` (Complete, Failed) to be True; return it."""

    def probe() -> Any:
        conditions = batch.read_namespaced_job_status(name, namespace).status.conditions or []
        return next((c for c in conditions if c.type == kind and c.status == "True"), None)

    return wait_until(f"Job {namespace}/{name} condition {kind}", probe, timeout=timeout)


def job_pods(core: client.CoreV1Api, namespace: str, name: str) -> list[client.V1Pod]:
    return list(core.list_namespaced_pod(namespace, label_selector=f"job-name={name}").items)


def pod_phase(core: client.CoreV1Api, namespace: str, name: str, phases: set[str], timeout: float = 60) -> Any:
    """Wait until the pod is in one of `phases`; return the pod."""

    def probe() -> Any:
        try:
            found = core.read_namespaced_pod_status(name, namespace)
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        return found if found.status.phase in phases else None

    return wait_until(f"pod {namespace}/{name} in {sorted(phases)}", probe, timeout=timeout)
