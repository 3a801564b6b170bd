"""What a pod's containers see: volumes, environment, identity; and what the node reports back."""

from __future__ import annotations

import pytest
from kubernetes import client

from cluster.helpers import RESTRICTED_CONTAINER_SECURITY, container, pod, pod_phase, pod_spec
from plugins.cluster import wait_until

pytestmark = pytest.mark.cluster

TOKEN_PROBE = """
import os, ssl, urllib.error, urllib.request
os.chdir("/var/run/secrets/kubernetes.io/serviceaccount")
namespace = open("namespace").read()
print(namespace)
api = "https://%s:%s" % (os.environ["KUBERNETES_SERVICE_HOST"], os.environ["KUBERNETES_SERVICE_PORT"])
request = urllib.request.Request(api + "/api/v1/namespaces/%s/pods" % namespace,
                                 headers={"Authorization": "Bearer " + open("token").read()})
try:
    urllib.request.urlopen(request, context=ssl.create_default_context(cafile="ca.crt"))
except urllib.error.HTTPError as error:
    print(error.code)
"""


def test_init_container_hands_a_file_to_the_container_through_an_empty_dir(
    namespace: str, core: client.CoreV1Api
) -> None:
    """An initContainer writes into an emptyDir; the main container, started after it, reads it."""
    mount = [{"name": "work", "mountPath": "/work"}]
    spec = pod_spec(
        container("main", "cat /work/greeting", volumeMounts=mount),
        initContainers=[container("init", "echo from-init > /work/greeting", volumeMounts=mount)],
        volumes=[{"name": "work", "emptyDir": {}}],
    )
    core.create_namespaced_pod(namespace, pod("handover", spec))
    done = pod_phase(core, namespace, "handover", {"Succeeded", "Failed"})
    assert done.status.phase == "Succeeded"
    assert done.status.init_container_statuses[0].state.terminated.reason == "Completed"
    assert [(c.type, c.status) for c in done.status.conditions if c.type == "Initialized"] == [("Initialized", "True")]
    assert core.read_namespaced_pod_log("handover", namespace) == "from-init\n"


def test_failing_init_container_fails_the_pod(namespace: str, core: client.CoreV1Api) -> None:
    """An initContainer exiting non-zero (restartPolicy Never) fails the pod; the container never runs."""
    spec = pod_spec(container("main", "echo never"), initContainers=[container("init", "exit 7")])
    core.create_namespaced_pod(namespace, pod("init-fails", spec))
    failed = pod_phase(core, namespace, "init-fails", {"Failed"})
    assert failed.status.init_container_statuses[0].state.terminated.exit_code == 7
    assert failed.status.container_statuses[0].state.waiting.reason == "PodInitializing"


def test_config_map_volume_items_appear_at_their_paths(namespace: str, core: client.CoreV1Api) -> None:
    """A configMap volume with items puts each selected key at its path under the mountPath, read-only."""
    core.create_namespaced_config_map(
        namespace,
        client.V1ConfigMap(metadata=client.V1ObjectMeta(name="settings"), data={"a.txt": "alpha", "b.txt": "beta"}),
    )
    script = "cat /etc/settings/nested/a; echo; ls /etc/settings; touch /etc/settings/x 2>/dev/null || echo read-only"
    spec = pod_spec(
        container("main", script, volumeMounts=[{"name": "settings", "mountPath": "/etc/settings"}]),
        volumes=[
            {
                "name": "settings",
                "configMap": {"name": "settings", "items": [{"key": "a.txt", "path": "nested/a"}]},
            }
        ],
    )
    core.create_namespaced_pod(namespace, pod("reads-config", spec))
    done = pod_phase(core, namespace, "reads-config", {"Succeeded", "Failed"})
    assert done.status.phase == "Succeeded"
    assert core.read_namespaced_pod_log("reads-config", namespace) == "alpha\nnested\nread-only\n"


def test_environment_comes_from_config_maps_secrets_fields_and_expansion(
    namespace: str, core: client.CoreV1Api
) -> None:
    """env and envFrom resolve configMapKeyRef, secretKeyRef, fieldRef and $(VAR) like the kubelet."""
    core.create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="env"), data={"COLOR": "blue"})
    )
    core.create_namespaced_secret(
        namespace, client.V1Secret(metadata=client.V1ObjectMeta(name="creds"), string_data={"token": "s3cret"})
    )
    env = [
        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}},
        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
        {"name": "GREETING", "value": "$(CM_COLOR)-$(POD)-$$(POD)-$(UNDEFINED)"},
    ]
    main = container(
        "main", "", env=env, envFrom=[{"prefix": "CM_", "configMapRef": {"name": "env"}}], workingDir="/scratch"
    )
    main["command"] = ["sh", "-c", 'echo "$TOKEN $POD $NS $GREETING $0"; id -u; pwd', "$(CM_COLOR)"]
    core.create_namespaced_pod(namespace, pod("env", pod_spec(main)))
    assert pod_phase(core, namespace, "env", {"Succeeded", "Failed"}).status.phase == "Succeeded"
    expected = f"s3cret env {namespace} blue-env-$(POD)-$(UNDEFINED) blue\n65532\n/scratch\n"
    assert core.read_namespaced_pod_log("env", namespace) == expected


def test_service_account_token_is_projected_and_accepted(namespace: str, core: client.CoreV1Api) -> None:
    """The default ServiceAccount's projected token, CA and namespace are mounted; the API server accepts them."""
    main = container("main", "", image="python:3.13-slim")
    main["command"] = ["python3", "-c", TOKEN_PROBE]
    core.create_namespaced_pod(namespace, pod("token", pod_spec(main)))
    assert pod_phase(core, namespace, "token", {"Succeeded", "Failed"}).status.phase == "Succeeded"
    # 403, not 401: the token authenticates as system:serviceaccount:<ns>:default, which may not list pods.
    assert core.read_namespaced_pod_log("token", namespace) == f"{namespace}\n403\n"


def test_unpullable_image_reports_err_image_pull_then_back_off(namespace: str, core: client.CoreV1Api) -> None:
    """A container whose image can never be pulled waits with ErrImagePull, then ImagePullBackOff."""
    spec = pod_spec(container("main", "true", image="unpullable.invalid/nothing:1"))
    core.create_namespaced_pod(namespace, pod("no-image", spec))
    seen: set[str] = set()

    def reason() -> set[str]:
        statuses = core.read_namespaced_pod_status("no-image", namespace).status.container_statuses or []
        waiting = statuses[0].state.waiting if statuses else None
        if waiting is not None and waiting.reason in ("ErrImagePull", "ImagePullBackOff"):
            seen.add(waiting.reason)
            assert "unpullable.invalid/nothing:1" in (waiting.message or "")
        return seen if {"ErrImagePull", "ImagePullBackOff"} <= seen else set()

    wait_until("ErrImagePull then ImagePullBackOff", reason, timeout=30, interval=0.1)
    assert core.read_namespaced_pod_status("no-image", namespace).status.phase == "Pending"


def test_container_without_command_runs_the_image_default(namespace: str, core: client.CoreV1Api) -> None:
    """A container with args only runs them under the image's entrypoint (alpine/git's is git)."""
    spec = pod_spec(
        {
            "name": "main",
            "image": "alpine/git:2.49.1",
            "args": ["--version"],
            "securityContext": RESTRICTED_CONTAINER_SECURITY,
        }
    )
    core.create_namespaced_pod(namespace, pod("entrypoint", spec))
    assert pod_phase(core, namespace, "entrypoint", {"Succeeded", "Failed"}).status.phase == "Succeeded"
    assert core.read_namespaced_pod_log("entrypoint", namespace).startswith("git version ")


def test_pid_1_is_the_containers_own_process(namespace: str, core: client.CoreV1Api) -> None:
    """Each container has its own PID namespace: its command is PID 1 and sees no host process."""
    script = "echo pid1=$(tr '\\0' ' ' </proc/1/cmdline); echo count=$(ls -d /proc/[0-9]* | wc -l)"
    core.create_namespaced_pod(namespace, pod("pid", pod_spec(container("main", script))))
    pod_phase(core, namespace, "pid", {"Succeeded"})
    pid1, count = core.read_namespaced_pod_log("pid", namespace).splitlines()
    assert pid1.startswith("pid1=sh -c echo pid1=")
    assert int(count.removeprefix("count=")) <= 4  # sh, its subshells and ls


def test_read_only_root_filesystem_refuses_writes_outside_volumes(namespace: str, core: client.CoreV1Api) -> None:
    """readOnlyRootFilesystem: writing to / fails, an emptyDir stays writable."""
    script = "touch /probe 2>&1 || echo refused; touch /scratch/probe && echo volume-ok"
    main = container("main", script, volumeMounts=[{"name": "scratch", "mountPath": "/scratch"}])
    main["securityContext"] = {**RESTRICTED_CONTAINER_SECURITY, "readOnlyRootFilesystem": True}
    spec = pod_spec(main, volumes=[{"name": "scratch", "emptyDir": {}}])
    core.create_namespaced_pod(namespace, pod("readonly", spec))
    pod_phase(core, namespace, "readonly", {"Succeeded"})
    log = core.read_namespaced_pod_log("readonly", namespace)
    assert "Read-only file system" in log and log.endswith("refused\nvolume-ok\n")
