"""pytest plugin: the Packgate operator, deployed in the local cluster as users deploy it, for e2e tests.

Fixtures:
    operator   (session)  `OperatorDeployment`: the image built from the project's Dockerfile, pushed to
                          the cluster's registry and deployed by `hack/demo.py deploy_operator` with the
                          kustomize `local` overlay: two replicas peered through kopf, under the
                          ServiceAccount and ClusterRole from manifests/base/rbac (so a missing
                          permission fails a test), reaching a database of the session's PostgreSQL
                          through a Service.  `.kill()`, `.start()`, `.pods()`, `.log_text()`, `.dsn`
                          (the database as the tests on this machine reach it).
    kube       (function) `Kubectl` for the admin kubeconfig: `.run(...)`, `.json(...)`, `.apply(text)`.

If the operator does not become ready, the test fails with the tail of its logs.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from plugins.cluster import wait_until

REPO = Path(__file__).resolve().parents[2]
KUBECTL = REPO / ".local" / "bin" / "kubectl"
PACKGATE = Path(sys.executable).parent / "packgate"
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Kubectl:
    kubeconfig: Path

    def run(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [str(KUBECTL), f"--kubeconfig={self.kubeconfig}", *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {proc.stderr.strip()}")
        return proc

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "-o", "json").stdout)

    def apply(self, text: str, *args: str) -> None:
        self.run("apply", "-f", "-", *args, input=text)

    def pack(self, namespace: str, name: str) -> dict[str, Any]:
        return dict(self.json("get", "pack", name, "-n", namespace))

    def events(self, namespace: str, name: str) -> list[dict[str, Any]]:
        items = self.json("get", "events", "-n", namespace, "--field-selector", f"involvedObject.name={name}")
        return list(items.get("items", []))


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 120.0, interval: float = 0.5) -> T:
    """`wait_until` with the patience an operator run needs (a Job, its pod, the verdict)."""
    return wait_until(what, probe, timeout=timeout, interval=interval)


def condition(pack: dict[str, Any], type_: str) -> dict[str, Any] | None:
    for cond in (pack.get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_:
            return dict(cond)
    return None


@dataclass
class OperatorDeployment:
    kube: Kubectl
    dsn: str
    namespace: str = "packgate-system"
    name: str = "packgate-operator"
    selector: str = "app.kubernetes.io/name=packgate,app.kubernetes.io/component=operator"

    def pods(self) -> list[dict[str, Any]]:
        return list(self.kube.json("get", "pods", "-n", self.namespace, "-l", self.selector)["items"])

    def start(self, timeout: float = 240.0) -> None:
        """Wait until every replica of the Deployment is ready."""
        proc = self.kube.run(
            "rollout",
            "status",
            f"deployment/{self.name}",
            "-n",
            self.namespace,
            f"--timeout={timeout:.0f}s",
            check=False,
        )
        if proc.returncode != 0:
            raise AssertionError(f"the operator did not become ready: {proc.stderr.strip()}\n{self.log_tail()}")

    def working_pod(self) -> str:
        """The replica that works: of the live pods, the one with the highest kopf peering priority."""
        live = {p["metadata"]["name"] for p in self.pods() if not p["metadata"].get("deletionTimestamp")}
        peers = self.kube.json("get", "clusterkopfpeering", "packgate").get("status") or {}
        ranked = {
            identity.split("/")[0]: record["priority"]
            for identity, record in peers.items()
            if identity.split("/")[0] in live
        }
        return max(ranked, key=ranked.__getitem__)

    def kill(self, *pods: str) -> None:
        """Delete replicas' pods (all of them by default) with no grace period: the kubelet SIGKILLs them
        and no cleanup runs, as when a node dies.  The Deployment creates new ones."""
        names = list(pods) or [p["metadata"]["name"] for p in self.pods()]
        self.kube.run("delete", "pod", "-n", self.namespace, "--grace-period=0", "--force", "--wait=false", *names)
        wait_until(
            "the killed replicas to go",
            lambda: not set(names) & {p["metadata"]["name"] for p in self.pods()},
            timeout=60,
        )

    def log_text(self) -> str:
        proc = self.kube.run(
            "logs",
            "-n",
            self.namespace,
            "-l",
            self.selector,
            "--prefix",
            "--tail=-1",
            "--max-log-requests=10",
            check=False,
        )
        return proc.stdout + proc.stderr

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])


@pytest.fixture(scope="session")
def _admin_kubectl(cluster: Any) -> Kubectl:
    return Kubectl(Path(cluster.kubeconfig))


@pytest.fixture
def kube(_admin_kubectl: Kubectl) -> Kubectl:
    """kubectl with the admin kubeconfig of the session's cluster."""
    return _admin_kubectl


@pytest.fixture(scope="session")
def operator(cluster: Any, postgres: Any, _admin_kubectl: Kubectl) -> Iterator[OperatorDeployment]:
    """The operator image, deployed with the `local` overlay under the manifests' RBAC, with a real database."""
    from demo import deploy_operator
    from localcluster.node import NODE_IP, POD_CIDR

    # Pods reach the session's PostgreSQL on the node's bridge address, through a Service.
    postgres.listen, postgres.clients = ("127.0.0.1", NODE_IP), (POD_CIDR,)
    postgres.stop()
    postgres.start()
    postgres.drop_database("packgate_e2e")
    dsn = postgres.create_database("packgate_e2e")
    build = subprocess.run(
        [sys.executable, "-m", "localcluster", "operator-image"],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "PYTHONPATH": str(REPO / "hack")},
    )
    if build.returncode != 0:
        pytest.fail(f"the operator image could not be built: {build.stderr.strip()}", pytrace=False)
    image = build.stdout.strip().splitlines()[-1]
    env = {
        "PACKGATE_UNSCHEDULABLE_GRACE_SECONDS": "5",
        "PACKGATE_JOB_TTL_SECONDS": "900",
        "PACKGATE_PEERING": "packgate",
    }
    deployment = OperatorDeployment(_admin_kubectl, dsn)
    try:
        deploy_operator(Path(cluster.kubeconfig), image, dsn, env)
    except Exception as error:  # DemoError: one line from kubectl
        pytest.fail(f"the operator could not be deployed: {error}\n{deployment.log_tail()}", pytrace=False)
    try:
        yield deployment
    finally:
        print(f"\n--- operator log tail ---\n{deployment.log_tail(40)}")
        _admin_kubectl.run(
            "delete", "deployment", deployment.name, "-n", deployment.namespace, "--wait=true", check=False
        )
