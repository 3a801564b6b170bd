"""The kustomizations under crds/ and manifests/: they render, the RBAC is least privilege and
explained, and the Deployment is hardened as docs/deploy.md says."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from deliverylib import KUSTOMIZATIONS, ROOT, find, render

pytestmark = pytest.mark.unit

ROLE_SOURCE = ROOT / "manifests" / "base" / "rbac" / "role.yaml"

# The operator's whole permission set: (apiGroup, resource) -> verbs. Changing it is a decision
# to be made here, in docs/deploy.md's RBAC table and in the comments of role.yaml.
EXPECTED_RULES = {
    ("packgate.dev", "packs"): {"get", "list", "watch", "patch", "update"},
    ("packgate.dev", "packs/status"): {"get", "patch", "update"},
    ("packgate.dev", "packwebhooks"): {"get", "list", "watch"},
    ("", "secrets"): {"get"},
    ("batch", "jobs"): {"get", "list", "watch", "create", "delete"},
    ("", "pods"): {"get", "list", "watch"},
    ("", "pods/log"): {"get"},
    ("", "configmaps"): {"get", "list", "watch"},
    ("", "events"): {"create", "patch"},
    ("events.k8s.io", "events"): {"create", "patch"},
    ("kopf.dev", "clusterkopfpeerings"): {"get", "list", "watch", "patch"},
    ("kopf.dev", "kopfpeerings"): {"get", "list", "watch", "patch"},
    ("apiextensions.k8s.io", "customresourcedefinitions"): {"get", "list", "watch"},
    ("", "namespaces"): {"get", "list", "watch"},
}


def _operator_role(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return find(objects, "ClusterRole", "packgate-operator")


def _operator_container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    deployment = find(objects, "Deployment", "packgate-operator")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return container


@pytest.mark.parametrize("kustomization", KUSTOMIZATIONS)
def test_kustomization_renders(kustomization: str) -> None:
    """Every kustomization renders with the repository's kubectl and yields named objects."""
    objects = render(kustomization)
    assert objects, f"{kustomization} rendered nothing"
    assert all(o.get("kind") and o.get("metadata", {}).get("name") for o in objects)


def test_base_contents() -> None:
    """The base holds the CRDs, namespace, ServiceAccount, RBAC, Deployment, metrics Service and peering,
    and the history UI (manifests/base/ui)."""
    objects = render("manifests/base")
    kinds = sorted((o["kind"], o["metadata"]["name"]) for o in objects)
    assert kinds == sorted(
        [
            ("ClusterKopfPeering", "packgate"),
            ("ClusterRole", "packgate-operator"),
            ("ClusterRoleBinding", "packgate-operator"),
            ("ClusterRole", "packgate-ui"),
            ("ClusterRoleBinding", "packgate-ui"),
            ("Deployment", "packgate-ui"),
            ("Service", "packgate-ui"),
            ("ServiceAccount", "packgate-ui"),
            ("CustomResourceDefinition", "clusterkopfpeerings.kopf.dev"),
            ("CustomResourceDefinition", "kopfpeerings.kopf.dev"),
            ("CustomResourceDefinition", "packs.packgate.dev"),
            ("CustomResourceDefinition", "packwebhooks.packgate.dev"),
            ("Deployment", "packgate-operator"),
            ("Namespace", "packgate-system"),
            ("Service", "packgate-operator-metrics"),
            ("ServiceAccount", "packgate"),
        ]
    )
    namespaced = [o for o in objects if o["kind"] in {"Deployment", "Service", "ServiceAccount"}]
    assert {o["metadata"]["namespace"] for o in namespaced} == {"packgate-system"}
    assert "namespace" not in find(objects, "ClusterKopfPeering", "packgate")["metadata"]


def test_rbac_is_exactly_the_documented_permissions() -> None:
    """The ClusterRole grants exactly the expected verbs per resource: no wildcards, and Secrets only
    by name (get, for PackWebhook keys): never list or watch, which would enumerate every Secret."""
    rules = _operator_role(render("manifests/base"))["rules"]
    granted: dict[tuple[str, str], set[str]] = {}
    for rule in rules:
        assert set(rule) <= {"apiGroups", "resources", "verbs"}, f"unexpected rule fields: {rule}"
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                granted.setdefault((group, resource), set()).update(rule["verbs"])
    everything = [*granted, *(v for verbs in granted.values() for v in verbs)]
    assert not [x for x in everything if "*" in str(x)], "wildcards in the ClusterRole"
    secrets = {key: verbs for key, verbs in granted.items() if key[1].split("/")[0] == "secrets"}
    assert secrets == {("", "secrets"): {"get"}}, "Secrets: get by name only, for PackWebhook keys"
    assert granted == EXPECTED_RULES


def test_every_rbac_rule_has_a_comment() -> None:
    """Each rule in role.yaml is preceded by a comment saying why the operator needs it."""
    lines = ROLE_SOURCE.read_text().splitlines()
    rule_lines = [i for i, line in enumerate(lines) if re.match(r"^\s*- apiGroups:", line)]
    assert len(rule_lines) == len(yaml.safe_load(ROLE_SOURCE.read_text())["rules"])
    uncommented = [lines[i].strip() for i in rule_lines if not lines[i - 1].strip().startswith("#")]
    assert uncommented == []


def test_binding_grants_the_role_to_the_operator_service_account() -> None:
    """The ClusterRoleBinding binds packgate-operator to the ServiceAccount the Deployment runs as."""
    objects = render("manifests/base")
    binding = find(objects, "ClusterRoleBinding", "packgate-operator")
    deployment = find(objects, "Deployment", "packgate-operator")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "packgate-operator",
    }
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "packgate", "namespace": "packgate-system"}]
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "packgate"


def test_operator_deployment_is_hardened() -> None:
    """Two peered replicas, non-root, read-only root, no capabilities, RuntimeDefault, /tmp emptyDir."""
    objects = render("manifests/base")
    deployment = find(objects, "Deployment", "packgate-operator")
    pod = deployment["spec"]["template"]["spec"]
    container = _operator_container(objects)
    assert deployment["spec"]["replicas"] == 2
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 65532
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    assert pod["volumes"] == [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}]
    assert container["image"] == "ghcr.io/packgate/packgate:0.1.0"
    assert container["args"] == ["operator"]
    assert set(container["resources"]) == {"requests", "limits"}


def test_operator_probes_ports_and_settings() -> None:
    """Liveness /healthz and readiness /readyz on 8080, metrics on 9090, DB URL from an optional Secret."""
    container = _operator_container(render("manifests/base"))
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"health": 8080, "metrics": 9090}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "health"}
    env = {e["name"]: e for e in container["env"]}
    assert env["PACKGATE_DATABASE_URL"]["valueFrom"] == {
        "secretKeyRef": {"name": "packgate-database", "key": "url", "optional": True}
    }
    assert env["PACKGATE_PEERING"]["value"] == "packgate"
    assert env["PACKGATE_HEALTH_PORT"]["value"] == "8080"
    assert env["PACKGATE_METRICS_PORT"]["value"] == "9090"


def test_metrics_service_targets_the_operator() -> None:
    """The metrics Service selects the operator pods, exposes 9090 and carries Prometheus annotations."""
    objects = render("manifests/base")
    service = find(objects, "Service", "packgate-operator-metrics")
    deployment = find(objects, "Deployment", "packgate-operator")
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert service["spec"]["ports"] == [{"name": "metrics", "port": 9090, "targetPort": "metrics", "protocol": "TCP"}]
    assert service["metadata"]["annotations"] == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": "9090",
        "prometheus.io/path": "/metrics",
    }


def test_quickstart_database_url_points_at_its_postgres() -> None:
    """The quickstart Secret's URL names the quickstart PostgreSQL Service, user, password and database."""
    objects = render("manifests/overlays/quickstart")
    secret = find(objects, "Secret", "packgate-database")["stringData"]
    service = find(objects, "Service", "packgate-postgres")
    statefulset = find(objects, "StatefulSet", "packgate-postgres")
    (postgres,) = statefulset["spec"]["template"]["spec"]["containers"]
    expected = (
        f"postgresql://{secret['username']}:{secret['password']}@"
        f"{service['metadata']['name']}.{service['metadata']['namespace']}.svc:5432/{secret['database']}"
    )
    assert secret["url"] == expected
    assert re.fullmatch(r"docker\.io/library/postgres:15\.\d+", postgres["image"])
    assert service["spec"]["selector"] == statefulset["spec"]["selector"]["matchLabels"]


def test_kind_overlay_uses_the_local_image() -> None:
    """The kind overlay runs packgate:dev, never pulled, and keeps the quickstart database."""
    objects = render("manifests/overlays/kind")
    container = _operator_container(objects)
    assert (container["image"], container["imagePullPolicy"]) == ("packgate:dev", "Never")
    find(objects, "StatefulSet", "packgate-postgres")


def test_external_db_overlay_requires_the_secret() -> None:
    """The external-db overlay ships no Secret and makes the operator wait for packgate-database."""
    objects = render("manifests/overlays/external-db")
    assert [o for o in objects if o["kind"] == "Secret"] == []
    env = {e["name"]: e for e in _operator_container(objects)["env"]}
    assert env["PACKGATE_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["optional"] is False


def test_samples_cover_every_source_kind() -> None:
    """manifests/samples has one Pack per source kind, and the configMap one ships its ConfigMap."""
    objects = render("manifests/samples")
    packs = [o for o in objects if o["kind"] == "Pack"]
    assert sorted(next(iter(p["spec"]["source"])) for p in packs) == ["configMap", "git", "image"]
    (cm_pack,) = [p for p in packs if "configMap" in p["spec"]["source"]]
    find(objects, "ConfigMap", cm_pack["spec"]["source"]["configMap"]["name"])


def test_argocd_cm_embeds_the_health_script_verbatim() -> None:
    """argocd-cm.yaml installs pack-health.lua, unchanged, under the key Argo CD reads for packgate.dev/Pack."""
    argocd = ROOT / "manifests" / "argocd"
    config_map = yaml.safe_load((argocd / "argocd-cm.yaml").read_text())
    assert (config_map["kind"], config_map["metadata"]["name"]) == ("ConfigMap", "argocd-cm")
    assert config_map["data"] == {
        "resource.customizations.health.packgate.dev_Pack": (argocd / "pack-health.lua").read_text()
    }
