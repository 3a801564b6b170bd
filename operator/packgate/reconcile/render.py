"""Render the Job that runs one runner of one execution.

Owns: the Job manifest (workspace, source init container, wrapper, security context, ownership,
labels) and the deterministic Job names.  Must not: talk to the API server or read settings from
the environment (images and limits are passed in).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from packgate.api.spec import (
    GROUP,
    IMAGE_OF_TYPE,
    KIND,
    VERSION,
    PackSpec,
    Runner,
    runner_command,
)
from packgate.wrapper import dependency_env, wrapper_command, wrapper_env

LABEL_PACK = f"{GROUP}/pack"
LABEL_PACK_UID = f"{GROUP}/pack-uid"
LABEL_RUNNER = f"{GROUP}/runner"
LABEL_EXECUTION = f"{GROUP}/execution"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY = "packgate"
PATHS_ANNOTATION = f"{GROUP}/paths"

WORKSPACE = "/workspace"
SOURCE_MOUNT = "/packgate/source"
RUNNER_CONTAINER = "runner"
FETCH_CONTAINER = "fetch-pack"
RUN_AS = 65532

JOB_DEADLINE_MARGIN_SECONDS = 30
"""How much later than its pod the Job reaches its deadline.  The pod's own activeDeadlineSeconds is
the runner's timeout: the kubelet kills it and it stays, Failed (DeadlineExceeded), with its log.  At
the Job's deadline the Job controller deletes the pods still running, and their logs with them."""
TERMINATION_GRACE_SECONDS = 10
"""The runner pod's terminationGracePeriodSeconds: how long a pod killed at its deadline gets
between SIGTERM and SIGKILL (the wrapper's shell, PID 1, ignores SIGTERM), well within the margin."""

DEFAULT_RESOURCES: dict[str, Any] = {
    "requests": {"cpu": "100m", "memory": "128Mi"},
    "limits": {"cpu": "1", "memory": "512Mi"},
}


@dataclass(frozen=True)
class PackIdentity:
    namespace: str
    name: str
    uid: str


@dataclass(frozen=True)
class RenderOptions:
    images: dict[str, str]  # default image name (api.spec.ImageName: shell, python, pytest, node) -> image
    git_image: str
    ttl_seconds: int
    pip_index_url: str | None = None  # PACKGATE_PIP_INDEX_URL
    npm_registry: str | None = None  # PACKGATE_NPM_REGISTRY


def execution_id(uid: str, spec_hash: str, trigger: str, token: str) -> str:
    """A short, deterministic id: the same execution always gets the same Jobs."""
    digest = hashlib.sha256(f"{uid}/{spec_hash}/{trigger}/{token}".encode()).hexdigest()
    return digest[:10]


def idempotency_key(uid: str, execution: str) -> str:
    return f"{uid}/{execution}"


def spec_hash(spec: PackSpec) -> str:
    """What makes a new execution necessary: version, source and how tests run.  Policy fields
    (minPassRate, onFailure, force, skipTests) only change the verdict, not the tests."""
    testing = spec.testing
    relevant = {
        "version": spec.version,
        "source": spec.source.model_dump(mode="json", by_alias=True),
        "runners": [r.model_dump(mode="json", by_alias=True) for r in testing.runners] if testing else [],
        "pod": testing.pod.model_dump(mode="json", by_alias=True) if testing else {},
        "enabled": testing.enabled if testing else None,
    }
    if testing is not None and testing.dependencies is not None:
        # Only when set, so the hash of every Pack without it is what it was before the field existed.
        relevant["dependencies"] = testing.dependencies.model_dump(mode="json", by_alias=True)
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:16]


_DNS = re.compile(r"[^a-z0-9-]+")


def job_name(pack_name: str, runner: str, execution: str) -> str:
    """`<pack>-<runner>-<execution[:6]>`, at most 63 characters, DNS-safe.  A runner name longer
    than 16 characters is cut to 11 plus 5 hex digits of its hash, so runners that share a long
    prefix (`integration-tests-a`, `integration-tests-b`) still get distinct Jobs."""
    if len(runner) > 16:
        runner = runner[:11] + hashlib.sha256(runner.encode()).hexdigest()[:5]
    suffix = f"-{runner}-{execution[:6]}"
    head = _DNS.sub("-", pack_name.lower())[: 63 - len(suffix)].strip("-")
    return f"{head}{suffix}"


def runner_image(runner: Runner, options: RenderOptions) -> str:
    return runner.image or options.images[IMAGE_OF_TYPE[runner.type]]


def config_map_items(paths_annotation: str | None) -> list[dict[str, str]] | None:
    """configMap volume items from the ConfigMap's `packgate.dev/paths` annotation (key -> path)."""
    if not paths_annotation:
        return None
    try:
        mapping = json.loads(paths_annotation)
    except ValueError:
        return None
    if not isinstance(mapping, dict):
        return None
    return [{"key": str(k), "path": str(v)} for k, v in sorted(mapping.items())]


def dependency_sources(spec: PackSpec, options: RenderOptions) -> tuple[str | None, str | None]:
    """(pip index URL, npm registry) of a Pack's runners: spec.testing.dependencies wins over the
    settings; None leaves the tool's own default."""
    override = spec.testing.dependencies if spec.testing is not None else None
    pip = (override.pip_index_url if override else None) or options.pip_index_url
    npm = (override.npm_registry if override else None) or options.npm_registry
    return pip, npm


def _container_security() -> dict[str, Any]:
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _fetch_container(spec: PackSpec, options: RenderOptions) -> dict[str, Any] | None:
    """The init container that places the pack in the workspace; None for a ConfigMap source,
    which the runner's wrapper copies from its volume itself (one container start less per pod)."""
    mounts: list[dict[str, Any]] = [{"name": "workspace", "mountPath": WORKSPACE}]
    source = spec.source
    env: list[dict[str, Any]]
    if source.config_map is not None:
        return None
    if source.git is not None:
        git = source.git
        script = (
            'set -eu; git -c credential.helper=\'!f() { echo "username=${GIT_USERNAME:-}"; '
            'echo "password=${GIT_PASSWORD:-}"; }; f\' clone --quiet "$PACK_GIT_URL" /tmp/pack-src; '
            'cd /tmp/pack-src; git checkout --quiet "$PACK_GIT_REVISION"; '
            'cp -R "/tmp/pack-src/${PACK_GIT_PATH}/." "' + WORKSPACE + '/"'
        )
        fetch_image = options.git_image
        env = [
            {"name": "PACK_GIT_URL", "value": git.url},
            {"name": "PACK_GIT_REVISION", "value": git.revision},
            {"name": "PACK_GIT_PATH", "value": git.path.strip("/")},
            {"name": "HOME", "value": "/tmp"},
        ]
        if git.secret_ref is not None:
            for var, key in (("GIT_USERNAME", "username"), ("GIT_PASSWORD", "password")):
                env.append(
                    {
                        "name": var,
                        "valueFrom": {"secretKeyRef": {"name": git.secret_ref.name, "key": key, "optional": True}},
                    }
                )
        mounts.append({"name": "tmp", "mountPath": "/tmp"})
    else:
        assert source.image is not None
        script = f'cp -R "{source.image.path.rstrip("/")}/." "{WORKSPACE}/"'
        fetch_image = source.image.reference
        env = []
    container = {
        "name": FETCH_CONTAINER,
        "image": fetch_image,
        "command": ["/bin/sh", "-c", script],
        "env": env,
        "volumeMounts": mounts,
        "securityContext": _container_security(),
        "resources": {"requests": {"cpu": "50m", "memory": "32Mi"}, "limits": {"cpu": "500m", "memory": "128Mi"}},
    }
    return container


def render_job(
    pack: PackIdentity,
    spec: PackSpec,
    runner: Runner,
    *,
    execution: str,
    nonce: str,
    options: RenderOptions,
    config_map_paths: str | None = None,
) -> dict[str, Any]:
    """The Job for one runner of one execution."""
    assert spec.testing is not None
    image = runner_image(runner, options)
    labels = {
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_PACK: pack.name[:63].rstrip("-."),  # a label value ends alphanumeric
        LABEL_PACK_UID: pack.uid,
        LABEL_RUNNER: runner.name,
        LABEL_EXECUTION: execution,
    }
    fetch = _fetch_container(spec, options)
    volumes: list[dict[str, Any]] = [
        {"name": "workspace", "emptyDir": {"sizeLimit": "1Gi"}},
        {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}},
    ]
    if spec.source.config_map is not None:
        config_map: dict[str, Any] = {"name": spec.source.config_map.name, "defaultMode": 0o755}
        items = config_map_items(config_map_paths)
        if items:
            config_map["items"] = items
        volumes.append({"name": "source", "configMap": config_map})
    result_path = runner.result_path
    copies = SOURCE_MOUNT if spec.source.config_map is not None else None
    wrapper_vars = wrapper_env(nonce, WORKSPACE, result_path, runner.type.value, source=copies)
    sources = dependency_env(runner.type.value, *dependency_sources(spec, options))
    env = [{"name": k, "value": v} for k, v in {**wrapper_vars, **sources}.items()]
    env.append({"name": "HOME", "value": "/tmp"})
    env.extend(e.model_dump(mode="json", by_alias=True) for e in runner.env)
    mounts: list[dict[str, Any]] = [
        {"name": "workspace", "mountPath": WORKSPACE},
        {"name": "tmp", "mountPath": "/tmp"},
    ]
    if copies is not None:
        mounts.append({"name": "source", "mountPath": SOURCE_MOUNT, "readOnly": True})
    runner_container = {
        "name": RUNNER_CONTAINER,
        "image": image,
        "command": wrapper_command(runner_command(runner)),
        "workingDir": WORKSPACE,
        "env": env,
        "volumeMounts": mounts,
        "securityContext": _container_security(),
        "resources": runner.resources or DEFAULT_RESOURCES,
    }
    pod = spec.testing.pod
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "activeDeadlineSeconds": runner.timeout_seconds,
        "terminationGracePeriodSeconds": TERMINATION_GRACE_SECONDS,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": RUN_AS,
            "runAsGroup": RUN_AS,
            "fsGroup": RUN_AS,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        **({"initContainers": [fetch]} if fetch is not None else {}),
        "containers": [runner_container],
        "volumes": volumes,
    }
    for key, value in (
        ("nodeSelector", pod.node_selector),
        ("tolerations", pod.tolerations),
        ("imagePullSecrets", pod.image_pull_secrets),
        ("serviceAccountName", pod.service_account_name),
        ("priorityClassName", pod.priority_class_name),
    ):
        if value:
            pod_spec[key] = value
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name(pack.name, runner.name, execution),
            "namespace": pack.namespace,
            "labels": labels,
            "ownerReferences": [
                {
                    "apiVersion": f"{GROUP}/{VERSION}",
                    "kind": KIND,
                    "name": pack.name,
                    "uid": pack.uid,
                    "controller": True,
                }
            ],
        },
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": runner.timeout_seconds + JOB_DEADLINE_MARGIN_SECONDS,
            "ttlSecondsAfterFinished": options.ttl_seconds,
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }
