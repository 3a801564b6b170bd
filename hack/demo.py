"""`make demo` / `make down`: Packgate on the local cluster with the example packs.

    up    start the local cluster (a real node) and PostgreSQL, migrate, build the operator image
          from the Dockerfile and push it to the cluster's registry, deploy it with the kustomize
          `local` overlay (two replicas, kopf peering, under the manifests' ServiceAccount), apply
          every pack in packs/, wait for the verdicts, print `kubectl get packs -o wide` and a short
          history from PostgreSQL.  Leaves everything running; writes .local/env.
    down  stop PostgreSQL and the cluster (which takes the operator's pods with it).

Also used by the end-to-end tests: `deploy_operator` installs the operator exactly as the demo does.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml

from localcluster import packages
from localcluster.cluster import DEFAULT_BASE_PORT, Ports
from localcluster.node import NODE_IP, POD_CIDR  # pods reach the host's PostgreSQL on NODE_IP

REPO = Path(__file__).resolve().parents[1]
LOCAL = REPO / ".local"
KUBECTL = LOCAL / "bin" / "kubectl"
KUBECONFIG = LOCAL / "kubeconfig"
ENV_FILE = LOCAL / "env"
NAMESPACE = "packgate-demo"
SYSTEM_NAMESPACE = "packgate-system"
DEPLOYMENT = "packgate-operator"
DATABASE_SERVICE = "packgate-postgres"
NONCE_SECRET = "packgate-nonce"
VIEWER = "packgate-viewer"
BIN = Path(sys.executable).parent


class DemoError(Exception):
    """One line for the user."""


def kubectl(*args: str, kubeconfig: Path = KUBECONFIG, input: str | None = None) -> str:
    proc = subprocess.run(
        [str(KUBECTL), f"--kubeconfig={kubeconfig}", *args], input=input, capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise DemoError(f"kubectl {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout


def in_cluster_dsn(dsn: str) -> str:
    """The host's DSN with the database Service's name in place of 127.0.0.1:port."""
    parts = urlsplit(dsn)
    credentials = parts.netloc.rpartition("@")[0]
    host = f"{DATABASE_SERVICE}.{SYSTEM_NAMESPACE}.svc:5432"
    return urlunsplit(parts._replace(netloc=f"{credentials}@{host}" if credentials else host))


def database_objects(dsn: str) -> list[dict[str, Any]]:
    """The Secret the operator reads its database URL from, and a Service whose endpoint is the
    host's PostgreSQL on the node's bridge address (so pods resolve and reach it like any Service)."""
    port = urlsplit(dsn).port or 5432
    labels = {"app.kubernetes.io/name": "packgate", "app.kubernetes.io/component": "database"}
    return [
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "packgate-database", "namespace": SYSTEM_NAMESPACE, "labels": labels},
            "stringData": {"url": in_cluster_dsn(dsn)},
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": DATABASE_SERVICE, "namespace": SYSTEM_NAMESPACE, "labels": labels},
            "spec": {"ports": [{"name": "postgres", "port": 5432, "targetPort": port, "protocol": "TCP"}]},
        },
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": f"{DATABASE_SERVICE}-host",
                "namespace": SYSTEM_NAMESPACE,
                "labels": {**labels, "kubernetes.io/service-name": DATABASE_SERVICE},
            },
            "addressType": "IPv4",
            "endpoints": [{"addresses": [NODE_IP], "conditions": {"ready": True}}],
            "ports": [{"name": "postgres", "port": port, "protocol": "TCP"}],
        },
    ]


def is_ui(doc: dict[str, Any]) -> bool:
    from demo_ui import is_ui as ui_object

    return ui_object(doc)


def viewer_objects() -> list[dict[str, Any]]:
    """A ServiceAccount of the demo namespace that may read and retest its Packs: the identity to
    sign in to the history UI with (`kubectl create token packgate-viewer -n packgate-demo`)."""
    meta = {"name": VIEWER, "namespace": NAMESPACE}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": meta,
            "rules": [{"apiGroups": ["packgate.dev"], "resources": ["packs"], "verbs": ["get", "list", "patch"]}],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": meta,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": VIEWER},
            "subjects": [{"kind": "ServiceAccount", "name": VIEWER, "namespace": NAMESPACE}],
        },
    ]


def deploy_ui(kubeconfig: Path, image: str, dsn: str) -> None:
    from demo_ui import deploy_ui as deploy

    deploy(kubeconfig, image, dsn)


def operator_manifests(image: str, env: dict[str, str], replicas: int | None = None) -> tuple[list[Any], list[Any]]:
    """(CRDs, everything else) of the `local` overlay, with the image pinned and `env` set."""
    rendered = kubectl("kustomize", str(REPO / "manifests" / "overlays" / "local"))
    # The history UI (manifests/base/ui) is deployed on its own: demo_ui.deploy_ui.
    docs = [d for d in yaml.safe_load_all(rendered) if d and not is_ui(d)]
    for doc in docs:
        if doc["kind"] == "Deployment" and doc["metadata"]["name"] == DEPLOYMENT:
            if replicas is not None:
                doc["spec"]["replicas"] = replicas
            container = doc["spec"]["template"]["spec"]["containers"][0]
            container["image"] = image
            kept = [e for e in container.get("env", []) if e["name"] not in env]
            container["env"] = kept + [{"name": k, "value": v} for k, v in sorted(env.items())]
    crds = [d for d in docs if d["kind"] == "CustomResourceDefinition"]
    return crds, [d for d in docs if d["kind"] != "CustomResourceDefinition"]


def deploy_operator(
    kubeconfig: Path, image: str, dsn: str, env: dict[str, str] | None = None, replicas: int | None = None
) -> None:
    """Install the CRDs, RBAC, database Secret/Service and the operator Deployment; wait until every
    replica is ready."""
    # Runner pods install packs' dependencies from the local cluster's index and npm registry.
    env = {**packages.sources(Ports(DEFAULT_BASE_PORT).packages), **(env or {})}
    crds, rest = operator_manifests(image, env, replicas)
    kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", kubeconfig=kubeconfig,
            input=yaml.safe_dump_all(crds))
    for crd in crds:
        kubectl("wait", "--for=condition=Established", "--timeout=60s", f"crd/{crd['metadata']['name']}",
                kubeconfig=kubeconfig)
    namespaces = [d for d in rest if d["kind"] == "Namespace"]
    kubectl("apply", "-f", "-", kubeconfig=kubeconfig, input=yaml.safe_dump_all(namespaces))
    ensure_nonce_secret(kubeconfig)
    others = [d for d in rest if d["kind"] != "Namespace"]
    kubectl("apply", "-f", "-", kubeconfig=kubeconfig, input=yaml.safe_dump_all([*database_objects(dsn), *others]))
    wait_rollout(kubeconfig)


def ensure_nonce_secret(kubeconfig: Path) -> None:
    """The Secret every replica reads PACKGATE_NONCE_SECRET from: a random key, made once and kept."""
    found = kubectl("get", "secret", NONCE_SECRET, "-n", SYSTEM_NAMESPACE, "--ignore-not-found", "-o", "name",
                    kubeconfig=kubeconfig)
    if not found.strip():
        kubectl("create", "secret", "generic", NONCE_SECRET, "-n", SYSTEM_NAMESPACE,
                f"--from-literal=secret={secrets.token_hex(32)}", kubeconfig=kubeconfig)


def wait_rollout(kubeconfig: Path, timeout: int = 240) -> None:
    kubectl("rollout", "status", f"deployment/{DEPLOYMENT}", "-n", SYSTEM_NAMESPACE, f"--timeout={timeout}s",
            kubeconfig=kubeconfig)


def run(*cmd: str, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(list(cmd), capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise DemoError(f"{Path(cmd[0]).name} {' '.join(cmd[1:3])}: {(proc.stderr or proc.stdout).strip()}")
    return proc.stdout


def settled(pack: dict[str, Any]) -> bool:
    status = pack.get("status") or {}
    return status.get("observedGeneration") == pack["metadata"].get("generation") and status.get("phase") not in (
        None,
        "Pending",
        "Queued",
        "Testing",
    )


def up() -> None:
    print("Starting the local cluster (control plane, kubelet, containerd, kube-proxy, CoreDNS) ...", flush=True)
    run(sys.executable, "-m", "localcluster", "up")
    print("Starting PostgreSQL ...", flush=True)
    dsn = run(sys.executable, "-m", "localpg", "up", "--listen", f"127.0.0.1,{NODE_IP}", "--allow", POD_CIDR)
    dsn = dsn.strip().splitlines()[-1]
    run(str(BIN / "packgate"), "migrate", "--database-url", dsn)
    print("Building the operator image from the Dockerfile (buildah) ...", flush=True)
    image = run(sys.executable, "-m", "localcluster", "operator-image").strip().splitlines()[-1]
    print(f"Deploying {image.split('@')[0]} with manifests/overlays/local (2 replicas) ...", flush=True)
    deploy_operator(KUBECONFIG, image, dsn)
    print("Deploying the history UI (packgate-ui) ...", flush=True)
    deploy_ui(KUBECONFIG, image, dsn)
    kubectl(
        "apply",
        "-f",
        "-",
        input=yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": NAMESPACE, "labels": {"pod-security.kubernetes.io/enforce": "restricted"}},
            }
        ),
    )
    kubectl("apply", "-f", "-", input=yaml.safe_dump_all(viewer_objects()))
    packs = sorted(p.parent for p in (REPO / "packs").glob("*/pack.yaml"))
    for pack in packs:
        kubectl("apply", "-f", "-", input=run(str(BIN / "packgate"), "manifest", str(pack), "--namespace", NAMESPACE))
    print(f"Applied {len(packs)} packs to namespace {NAMESPACE}; waiting for verdicts ...", flush=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        items = json.loads(kubectl("get", "packs", "-n", NAMESPACE, "-o", "json"))["items"]
        if items and all(settled(p) for p in items):
            break
        time.sleep(2)
    else:
        raise DemoError(f"not every pack had a verdict after 300s; see kubectl logs -n {SYSTEM_NAMESPACE} "
                        f"deployment/{DEPLOYMENT}")
    ENV_FILE.write_text(
        f"export KUBECONFIG={KUBECONFIG}\n"
        f"export PATH={LOCAL / 'bin'}:{BIN}:$PATH\n"
        f"export PACKGATE_DATABASE_URL={dsn}\n"
    )
    ENV_FILE.chmod(0o600)
    print()
    print("$ kubectl get nodes -o wide")
    print(kubectl("get", "nodes", "-o", "wide"))
    print(f"$ kubectl get deployment {DEPLOYMENT} -n {SYSTEM_NAMESPACE}")
    print(kubectl("get", "deployment", DEPLOYMENT, "-n", SYSTEM_NAMESPACE))
    print(f"$ kubectl get packs -n {NAMESPACE} -o wide")
    print(kubectl("get", "packs", "-n", NAMESPACE, "-o", "wide"))
    for pack in ("core", "broken"):
        print(f"$ packgate results {pack} -n {NAMESPACE} --history 3")
        print(
            run(
                str(BIN / "packgate"),
                "results",
                pack,
                "--namespace",
                NAMESPACE,
                "--history",
                "3",
                env={**os.environ, "PACKGATE_DATABASE_URL": dsn},
            )
        )
    print("Everything is still running:")
    print(f"  source {ENV_FILE}          # KUBECONFIG, PATH and PACKGATE_DATABASE_URL")
    print(f"  kubectl get packs -n {NAMESPACE}; kubectl describe pack broken -n {NAMESPACE}")
    print(f"  packgate results core -n {NAMESPACE}")
    print(f"  kubectl logs -n {SYSTEM_NAMESPACE} deployment/{DEPLOYMENT}")
    print(f"  kubectl -n {SYSTEM_NAMESPACE} port-forward svc/packgate-ui 8080:http   # history UI, docs/ui.md")
    print(f"  kubectl create token {VIEWER} -n {NAMESPACE}   # a token that may see (and retest) the demo packs")
    print("Stop it all with: make down")


def down() -> None:
    for module in ("localpg", "localcluster"):
        subprocess.run([sys.executable, "-m", module, "down"], check=False)
    ENV_FILE.unlink(missing_ok=True)
    print("Stopped PostgreSQL and the local cluster (with the operator's pods).")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hack/demo.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("up", "down"))
    args = parser.parse_args(argv)
    try:
        up() if args.action == "up" else down()
    except DemoError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
