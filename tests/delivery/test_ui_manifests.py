"""manifests/base/ui: the history UI's ServiceAccount, its least-privilege ClusterRole (review
tokens and access, read Packs; nothing else, each rule explained), a hardened Deployment of the
operator's image running `packgate ui`, and the Service packgate-ui with its port named http."""

from __future__ import annotations

import re
from typing import Any

import pytest
from deliverylib import ROOT, find, render

pytestmark = pytest.mark.unit

ROLE_SOURCE = ROOT / "manifests" / "base" / "ui" / "cluster_role.yaml"

EXPECTED_RULES = {
    ("authentication.k8s.io", "tokenreviews"): {"create"},
    ("authorization.k8s.io", "subjectaccessreviews"): {"create"},
    ("packgate.dev", "packs"): {"get", "list", "watch"},
}


def _container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (container,) = find(objects, "Deployment", "packgate-ui")["spec"]["template"]["spec"]["containers"]
    return container


def test_ui_role_is_exactly_review_and_read_packs() -> None:
    """The UI's ClusterRole creates TokenReviews and SubjectAccessReviews and reads Packs: no write,
    no Secrets, no wildcard; every rule has a comment saying why."""
    rules = find(render("manifests/base"), "ClusterRole", "packgate-ui")["rules"]
    granted: dict[tuple[str, str], set[str]] = {}
    for rule in rules:
        assert set(rule) == {"apiGroups", "resources", "verbs"}
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                granted.setdefault((group, resource), set()).update(rule["verbs"])
    lines = ROLE_SOURCE.read_text().splitlines()
    starts = [i for i, line in enumerate(lines) if re.match(r"^\s*- apiGroups:", line)]

    assert granted == EXPECTED_RULES
    assert [lines[i].strip() for i in starts if not lines[i - 1].strip().startswith("#")] == []


def test_ui_binding_service_account_and_service() -> None:
    """The binding gives the role to the packgate-ui ServiceAccount the Deployment runs as; the
    Service packgate-ui selects the UI pods only, port named http."""
    objects = render("manifests/base")
    binding = find(objects, "ClusterRoleBinding", "packgate-ui")
    deployment = find(objects, "Deployment", "packgate-ui")
    service = find(objects, "Service", "packgate-ui")
    operator = find(objects, "Deployment", "packgate-operator")

    assert binding["roleRef"]["name"] == "packgate-ui"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "packgate-ui", "namespace": "packgate-system"}]
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "packgate-ui"
    assert service["metadata"]["namespace"] == "packgate-system"
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert service["spec"]["selector"] != operator["spec"]["selector"]["matchLabels"]
    assert service["spec"]["ports"] == [{"name": "http", "port": 8080, "targetPort": "http", "protocol": "TCP"}]


def test_ui_deployment_is_hardened_and_runs_packgate_ui() -> None:
    """The operator's image with `packgate ui`, non-root, read-only root, no capabilities, probes on
    the http port, limits, and the database URL from the packgate-ui-database Secret (a read-only
    role), never the operator's Secret."""
    objects = render("manifests/base")
    pod = find(objects, "Deployment", "packgate-ui")["spec"]["template"]["spec"]
    container = _container(objects)
    env = {e["name"]: e for e in container["env"]}

    assert container["image"] == _container_of_operator(objects)["image"]
    assert container["args"][0] == "ui"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"http": 8080}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert set(container["resources"]) == {"requests", "limits"}
    assert env["PACKGATE_DATABASE_URL"]["valueFrom"] == {"secretKeyRef": {"name": "packgate-ui-database", "key": "url"}}


def _container_of_operator(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (container,) = find(objects, "Deployment", "packgate-operator")["spec"]["template"]["spec"]["containers"]
    return container
