"""Authorization and admission are the real ones: RBAC for ServiceAccount tokens, Pod Security."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from cluster.helpers import container, job, job_condition, job_pods, pod, pod_spec
from plugins.cluster import LocalCluster, wait_until

pytestmark = pytest.mark.cluster


def test_rbac_allows_what_a_role_grants_and_denies_the_rest(
    cluster: LocalCluster, namespace: str, core: client.CoreV1Api, tmp_path: Path
) -> None:
    """A ServiceAccount token kubeconfig can list pods its Role grants, but not read secrets or write."""
    core.create_namespaced_service_account(
        namespace, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="reader"))
    )
    with cluster.api_client() as api:
        rbac = client.RbacAuthorizationV1Api(api)
        rbac.create_namespaced_role(
            namespace,
            client.V1Role(
                metadata=client.V1ObjectMeta(name="pod-reader"),
                rules=[client.V1PolicyRule(api_groups=[""], resources=["pods"], verbs=["get", "list"])],
            ),
        )
        rbac.create_namespaced_role_binding(
            namespace,
            client.V1RoleBinding(
                metadata=client.V1ObjectMeta(name="reader"),
                role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="Role", name="pod-reader"),
                subjects=[client.RbacV1Subject(kind="ServiceAccount", name="reader", namespace=namespace)],
            ),
        )
    kubeconfig = cluster.kubeconfig_for_service_account(namespace, "reader", tmp_path / "reader.kubeconfig")
    as_reader = ("--kubeconfig", str(kubeconfig), "-n", namespace)

    allowed = cluster.kubectl(*as_reader, "get", "pods")
    denied_read = cluster.kubectl(*as_reader, "get", "secrets", check=False)
    denied_write = cluster.kubectl(*as_reader, "create", "configmap", "x", check=False)

    assert allowed.returncode == 0
    user = f"system:serviceaccount:{namespace}:reader"
    assert f'User "{user}" cannot list resource "secrets"' in denied_read.stderr
    assert f'User "{user}" cannot create resource "configmaps"' in denied_write.stderr


def test_restricted_namespace_rejects_a_privileged_pod(namespace: str, core: client.CoreV1Api) -> None:
    """Pod Security admission refuses a privileged pod in a namespace enforcing restricted."""
    privileged = pod(
        "root",
        {
            "containers": [
                {
                    "name": "main",
                    "image": "busybox",
                    "command": ["true"],
                    "securityContext": {"privileged": True},
                }
            ]
        },
    )
    with pytest.raises(ApiException) as refused:
        core.create_namespaced_pod(namespace, privileged)
    assert refused.value.status == 403
    message = json.loads(refused.value.body)["message"]
    assert 'violates PodSecurity "restricted:latest": privileged' in message


def test_restricted_namespace_admits_a_compliant_job_which_completes(
    namespace: str, core: client.CoreV1Api, batch: client.BatchV1Api
) -> None:
    """A restricted-compliant Job is admitted and completes, its container running as uid 65532."""
    batch.create_namespaced_job(namespace, job("compliant", pod_spec(container("main", "id -u; id -G"))))
    job_condition(batch, namespace, "compliant", "Complete")
    [done] = job_pods(core, namespace, "compliant")
    assert core.read_namespaced_pod_log(done.metadata.name, namespace) == "65532\n65532\n"


def test_run_as_non_root_without_a_user_is_refused_by_the_node(namespace: str, core: client.CoreV1Api) -> None:
    """runAsNonRoot with no runAsUser would run as root here; the node refuses, like the kubelet."""
    spec = pod_spec(container("main", "true"))
    spec["securityContext"] = {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}}
    core.create_namespaced_pod(namespace, pod("nonroot", spec))

    def waiting() -> str | None:
        statuses = core.read_namespaced_pod_status("nonroot", namespace).status.container_statuses or []
        state = statuses[0].state.waiting if statuses else None
        return state.message if state is not None and state.reason == "CreateContainerConfigError" else None

    assert "runAsNonRoot and image will run as root" in wait_until("CreateContainerConfigError", waiting)
