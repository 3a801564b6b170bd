"""The history UI as shipped: the operator's image running `packgate ui` in the cluster from
manifests/base/ui (deployed like `make demo` does, hack/demo_ui.py), under its own ServiceAccount's
ClusterRole, reading the e2e database as a packgate_reader login."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from plugins.cluster import wait_until

pytestmark = pytest.mark.e2e


def _get(url: str, token: str | None = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_ui_image_serves_the_history_scoped_by_rbac(operator: Any, cluster: Any, kube: Any, namespace: str) -> None:
    """The UI pod becomes Ready (its /readyz pings PostgreSQL as the reader role); a token that may
    get packs in the test namespace lists that namespace's Pack, one without RBAC gets an empty
    list, no token is 401."""
    from demo_ui import UI_DEPLOYMENT, deploy_ui

    deployment = kube.json("get", "deployment", operator.name, "-n", operator.namespace)
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    viewer = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "viewer", "namespace": namespace}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "nobody", "namespace": namespace}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "viewer", "namespace": namespace},
            "rules": [{"apiGroups": ["packgate.dev"], "resources": ["packs"], "verbs": ["get", "list"]}],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "viewer", "namespace": namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "viewer"},
            "subjects": [{"kind": "ServiceAccount", "name": "viewer", "namespace": namespace}],
        },
        {
            "apiVersion": "packgate.dev/v1alpha1",
            "kind": "Pack",
            "metadata": {"name": "shown", "namespace": namespace},
            "spec": {"version": "1.0.0", "source": {"configMap": {"name": "shown-pack"}}},
        },
    ]
    kube.apply(yaml.safe_dump_all(viewer))
    try:
        deploy_ui(Path(cluster.kubeconfig), image, operator.dsn)
        pods = kube.json("get", "pods", "-n", operator.namespace, "-l", "app.kubernetes.io/component=ui")["items"]
        ip = next(
            p["status"]["podIP"]
            for p in pods
            if p["status"].get("podIP") and not p["metadata"].get("deletionTimestamp")
        )
        base = f"http://{ip}:8080"
        token = kube.run("create", "token", "viewer", "-n", namespace).stdout.strip()
        nobody = kube.run("create", "token", "nobody", "-n", namespace).stdout.strip()

        def listed() -> Any:
            status, body = _get(f"{base}/api/v1/packs", token)
            return body if status == 200 and body["items"] else None

        body = wait_until("the UI to list the viewer's Pack", listed, timeout=60, interval=1)
        assert [(p["namespace"], p["name"]) for p in body["items"]] == [(namespace, "shown")]
        assert _get(f"{base}/api/v1/packs", nobody) == (200, {"items": []})
        assert _get(f"{base}/api/v1/packs")[0] == 401
    finally:
        kube.run(
            "delete", "deployment,service", UI_DEPLOYMENT, "-n", operator.namespace, "--ignore-not-found", check=False
        )
