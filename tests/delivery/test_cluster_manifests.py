"""The manifests against the real local control plane: the API server accepts every object of the
base and the quickstart (server-side dry run, after the CRDs are applied for real), the samples
validate against the Pack CRD, and the operator's and PostgreSQL's pods pass the "restricted"
Pod Security Standard while a privileged variant is refused.

The dry runs move the namespaced objects into the test's fresh namespace instead of
packgate-system, so they neither need nor touch the namespace the end-to-end tests use.
"""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from deliverylib import ROOT, find, kubectl_binary, render

pytestmark = pytest.mark.cluster

CLUSTER_SCOPED = {
    "Namespace",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleBinding",
    "ClusterKopfPeering",
}


def kubectl(cluster: Any, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """kubectl with the cluster's admin kubeconfig; fails the test with stderr unless check=False."""
    proc = subprocess.run(
        [str(kubectl_binary()), f"--kubeconfig={cluster.kubeconfig}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if check and proc.returncode != 0:
        pytest.fail(f"kubectl {' '.join(args)} failed:\n{proc.stderr}", pytrace=False)
    return proc


@pytest.fixture(scope="module")
def crds(cluster: Any) -> list[str]:
    """The CRDs of crds/, applied for real (server-side) and Established; returns their names."""
    kubectl(cluster, "apply", "--server-side", "--force-conflicts", "-k", str(ROOT / "crds"))
    names = [o["metadata"]["name"] for o in render("crds")]
    kubectl(cluster, "wait", "--for=condition=Established", "--timeout=60s", *(f"crd/{n}" for n in names))
    return names


def relocate(objects: list[dict[str, Any]], namespace: str) -> list[dict[str, Any]]:
    """The rendered objects minus CRDs and Namespaces, with packgate-system replaced by `namespace`."""
    moved = []
    for obj in copy.deepcopy(objects):
        if obj["kind"] in {"CustomResourceDefinition", "Namespace"}:
            continue
        if obj["kind"] not in CLUSTER_SCOPED:
            assert obj["metadata"].get("namespace") == "packgate-system", obj["metadata"]
            obj["metadata"]["namespace"] = namespace
        for subject in obj.get("subjects", []):
            subject["namespace"] = namespace
        moved.append(obj)
    return moved


def dry_run_apply(cluster: Any, objects: list[dict[str, Any]], path: Path, namespace: str) -> list[str]:
    """`kubectl apply --dry-run=server` of the objects; returns kubectl's one line per object."""
    path.write_text(yaml.safe_dump_all(objects, sort_keys=False))
    proc = kubectl(cluster, "apply", "--dry-run=server", "-n", namespace, "-f", str(path))
    return proc.stdout.splitlines()


def pod_from(template: dict[str, Any], name: str, namespace: str) -> dict[str, Any]:
    """A Pod made from a workload's pod template, as the workload's controller would make it."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": template["metadata"].get("labels", {})},
        "spec": copy.deepcopy(template["spec"]),
    }


def dry_run_create_pod(
    cluster: Any, pod: dict[str, Any], path: Path, check: bool = True
) -> subprocess.CompletedProcess[str]:
    path.write_text(yaml.safe_dump(pod, sort_keys=False))
    return kubectl(cluster, "create", "--dry-run=server", "-f", str(path), check=check)


def operator_pod(namespace: str) -> dict[str, Any]:
    deployment = find(render("manifests/base"), "Deployment", "packgate-operator")
    return pod_from(deployment["spec"]["template"], "packgate-operator-dry-run", namespace)


def postgres_pod(namespace: str) -> dict[str, Any]:
    statefulset = find(render("manifests/overlays/quickstart"), "StatefulSet", "packgate-postgres")
    pod = pod_from(statefulset["spec"]["template"], "packgate-postgres-0", namespace)
    # The StatefulSet controller adds one volume per claim template, backed by the claim <name>-<pod>.
    for claim in statefulset["spec"]["volumeClaimTemplates"]:
        claim_name = f"{claim['metadata']['name']}-{pod['metadata']['name']}"
        pod["spec"]["volumes"].append(
            {"name": claim["metadata"]["name"], "persistentVolumeClaim": {"claimName": claim_name}}
        )
    return pod


@pytest.fixture
def restricted_namespace(cluster: Any, namespace: str) -> str:
    """The test's namespace (enforcing restricted), with the ServiceAccounts the pods run as."""
    labels = kubectl(cluster, "get", "namespace", namespace, "-o", "jsonpath={.metadata.labels}").stdout
    assert '"pod-security.kubernetes.io/enforce":"restricted"' in labels
    kubectl(cluster, "create", "serviceaccount", "packgate", "-n", namespace)
    return namespace


@pytest.mark.parametrize("kustomization", ["manifests/base", "manifests/overlays/quickstart"])
def test_server_accepts_every_object(
    cluster: Any, crds: list[str], namespace: str, kustomization: str, tmp_path: Path
) -> None:
    """The API server validates and admits every rendered object (server-side dry run)."""
    objects = relocate(render(kustomization), namespace)
    lines = dry_run_apply(cluster, objects, tmp_path / "objects.yaml", namespace)
    assert len(lines) == len(objects), "\n".join(lines)
    assert [line for line in lines if not line.endswith("(server dry run)")] == []


def test_samples_validate_against_the_pack_crd(cluster: Any, crds: list[str], namespace: str, tmp_path: Path) -> None:
    """Each sample Pack (and its ConfigMap), and the sample PackWebhook (and its Secret), passes the
    CRDs' schema and CEL rules."""
    objects = render("manifests/samples")
    lines = dry_run_apply(cluster, objects, tmp_path / "samples.yaml", namespace)
    kinds = {
        "ConfigMap": "configmap",
        "Secret": "secret",
        "Pack": "pack.packgate.dev",
        "PackWebhook": "packwebhook.packgate.dev",
    }
    assert sorted(line.split()[0] for line in lines) == sorted(
        f"{kinds[o['kind']]}/{o['metadata']['name']}" for o in objects
    )
    assert "PackWebhook" in {o["kind"] for o in objects}
    assert [line for line in lines if not line.endswith("(server dry run)")] == []


def test_sample_with_two_sources_is_rejected(cluster: Any, crds: list[str], namespace: str, tmp_path: Path) -> None:
    """A Pack naming two sources is refused by the CRD's CEL rule (the dry runs above are not vacuous)."""
    (pack,) = [o for o in render("manifests/samples") if o["kind"] == "Pack" and "git" in o["spec"]["source"]]
    pack["spec"]["source"]["configMap"] = {"name": "hello-pack"}
    path = tmp_path / "two-sources.yaml"
    path.write_text(yaml.safe_dump(pack))
    proc = kubectl(cluster, "apply", "--dry-run=server", "-n", namespace, "-f", str(path), check=False)
    assert proc.returncode != 0
    assert "source must set exactly one of configMap, git or image" in proc.stderr


@pytest.mark.parametrize(
    ("depends_on", "refusal"),
    [
        ([{"name": "core", "version": "^1.2.0"}, {"name": "net.tools", "version": ">=1.0.0 <2.0.0 || 3.x"}], None),
        ([{"name": "hello", "version": "*"}], "a Pack cannot depend on itself"),
        ([{"name": "core", "version": "^1"}, {"name": "core", "version": "^2"}], "each Pack may be named once"),
        ([{"name": "core", "version": "latest"}], "version must be a semver range"),
        ([{"name": "core", "version": "1.2.x-beta"}], "version must be a semver range"),
        ([{"name": "Core", "version": "^1"}], "spec.dependsOn[0].name in body should match"),
        ([{"name": f"p{i}", "version": "*"} for i in range(33)], "must have at most 32 items"),
        ([{"name": "core"}], "spec.dependsOn[0].version: Required value"),
    ],
    ids=["valid", "itself", "named twice", "not a range", "prerelease on x", "not a name", "33 entries", "no range"],
)
def test_depends_on_is_checked_at_admission(
    cluster: Any, crds: list[str], namespace: str, tmp_path: Path, depends_on: list[dict[str, Any]], refusal: str | None
) -> None:
    """spec.dependsOn passes the CRD's schema and CEL rules when valid; a self-dependency, a
    Pack named twice, a version that is no semver range, a bad name, 33 entries or a missing
    range are refused with a message saying which (server-side dry run)."""
    (pack,) = [o for o in render("manifests/samples") if o["kind"] == "Pack" and o["metadata"]["name"] == "hello"]
    pack["spec"]["dependsOn"] = depends_on
    path = tmp_path / "pack.yaml"
    path.write_text(yaml.safe_dump(pack))
    proc = kubectl(cluster, "apply", "--dry-run=server", "-n", namespace, "-f", str(path), check=False)
    if refusal is None:
        assert (proc.returncode, proc.stdout.strip()) == (0, "pack.packgate.dev/hello created (server dry run)")
    else:
        assert proc.returncode != 0
        assert refusal in proc.stderr


def test_operator_pod_is_admitted_under_restricted(
    cluster: Any, crds: list[str], restricted_namespace: str, tmp_path: Path
) -> None:
    """The operator's pod template passes Pod Security "restricted" as a real Pod (server dry run)."""
    proc = dry_run_create_pod(cluster, operator_pod(restricted_namespace), tmp_path / "pod.yaml")
    assert proc.stdout.strip() == "pod/packgate-operator-dry-run created (server dry run)"
    assert "PodSecurity" not in proc.stderr


def test_postgres_pod_is_admitted_under_restricted(
    cluster: Any, crds: list[str], restricted_namespace: str, tmp_path: Path
) -> None:
    """The quickstart PostgreSQL pod template passes Pod Security "restricted" as a real Pod."""
    proc = dry_run_create_pod(cluster, postgres_pod(restricted_namespace), tmp_path / "pod.yaml")
    assert proc.stdout.strip() == "pod/packgate-postgres-0 created (server dry run)"
    assert "PodSecurity" not in proc.stderr


def test_privileged_variant_is_rejected_under_restricted(
    cluster: Any, crds: list[str], restricted_namespace: str, tmp_path: Path
) -> None:
    """The same operator pod made privileged is refused: the namespace's enforcement is real."""
    pod = operator_pod(restricted_namespace)
    container = pod["spec"]["containers"][0]
    container["securityContext"].update(
        privileged=True, allowPrivilegeEscalation=True, capabilities={"add": ["SYS_ADMIN"]}
    )
    proc = dry_run_create_pod(cluster, pod, tmp_path / "pod.yaml", check=False)
    assert proc.returncode != 0
    assert 'violates PodSecurity "restricted:' in proc.stderr
    assert "privileged" in proc.stderr
