"""`make demo` / `make down`: Packgate on the local cluster with the example packs.

    up    start the local cluster and PostgreSQL, migrate, install the CRDs and the operator's
          RBAC from manifests/, start `packgate operator` under that ServiceAccount, apply every
          pack in packs/, wait for the verdicts, print `kubectl get packs -o wide` and a short
          history from PostgreSQL.  Leaves everything running.
    down  stop the operator, PostgreSQL and the cluster.

Also used by the end-to-end tests: `operator_objects` picks what of manifests/base the operator
needs when it runs outside the cluster (everything but the Deployment and its Service).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
LOCAL = REPO / ".local"
KUBECTL = LOCAL / "bin" / "kubectl"
KUBECONFIG = LOCAL / "kubeconfig"
OPERATOR_KUBECONFIG = LOCAL / "operator-kubeconfig"
PID_FILE = LOCAL / "operator.pid"
LOG_FILE = LOCAL / "operator.log"
NAMESPACE = "packgate-demo"
HEALTH_PORT = 18080
METRICS_PORT = 19090
BIN = Path(sys.executable).parent
OUT_OF_CLUSTER_KINDS = {
    "CustomResourceDefinition",
    "Namespace",
    "ServiceAccount",
    "ClusterRole",
    "ClusterRoleBinding",
    "ClusterKopfPeering",
}


class DemoError(Exception):
    """One line for the user."""


def kubectl(*args: str, kubeconfig: Path = KUBECONFIG, input: str | None = None) -> str:
    proc = subprocess.run(
        [str(KUBECTL), f"--kubeconfig={kubeconfig}", *args], input=input, capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise DemoError(f"kubectl {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout


def operator_objects(rendered: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(CRDs, the rest) of manifests/base that an operator running outside the cluster needs."""
    docs = [d for d in yaml.safe_load_all(rendered) if d and d.get("kind") in OUT_OF_CLUSTER_KINDS]
    crds = [d for d in docs if d["kind"] == "CustomResourceDefinition"]
    return crds, [d for d in docs if d["kind"] != "CustomResourceDefinition"]


def install_operator_objects(kubeconfig: Path) -> None:
    crds, rest = operator_objects(kubectl("kustomize", str(REPO / "manifests" / "base"), kubeconfig=kubeconfig))
    kubectl("apply", "-f", "-", kubeconfig=kubeconfig, input=yaml.safe_dump_all(crds))
    for crd in crds:
        kubectl(
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            f"crd/{crd['metadata']['name']}",
            kubeconfig=kubeconfig,
        )
    kubectl("apply", "-f", "-", kubeconfig=kubeconfig, input=yaml.safe_dump_all(rest))


def service_account_kubeconfig(
    admin: Path, target: Path, namespace: str = "packgate-system", name: str = "packgate"
) -> None:
    """A kubeconfig that authenticates as the ServiceAccount (a TokenRequest token)."""
    token = kubectl("create", "token", name, "-n", namespace, "--duration=24h", kubeconfig=admin).strip()
    config = yaml.safe_load(admin.read_text())
    cluster = config["clusters"][0]
    target.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [cluster],
                "users": [{"name": name, "user": {"token": token}}],
                "contexts": [{"name": name, "context": {"cluster": cluster["name"], "user": name}}],
                "current-context": name,
            }
        )
    )
    target.chmod(0o600)


def run(*cmd: str, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(list(cmd), capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise DemoError(f"{Path(cmd[0]).name} {' '.join(cmd[1:3])}: {(proc.stderr or proc.stdout).strip()}")
    return proc.stdout


def start_operator(dsn: str) -> None:
    stop_operator()
    env = {
        **os.environ,
        "PACKGATE_DATABASE_URL": dsn,
        "PACKGATE_HEALTH_PORT": str(HEALTH_PORT),
        "PACKGATE_METRICS_PORT": str(METRICS_PORT),
        "PACKGATE_JOB_TTL_SECONDS": "3600",
    }
    env.pop("KUBECONFIG", None)
    with LOG_FILE.open("ab") as log:
        proc = subprocess.Popen(
            [str(BIN / "packgate"), "operator", "--kubeconfig", str(OPERATOR_KUBECONFIG)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    PID_FILE.write_text(str(proc.pid))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise DemoError(f"the operator exited ({proc.returncode}); see {LOG_FILE}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{HEALTH_PORT}/readyz", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise DemoError(f"the operator did not become ready in 60s; see {LOG_FILE}")


def stop_operator() -> None:
    try:
        pid = int(PID_FILE.read_text())
    except (OSError, ValueError):
        return
    try:
        os.killpg(pid, signal.SIGTERM)
        for _ in range(100):
            os.killpg(pid, 0)
            time.sleep(0.1)
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    PID_FILE.unlink(missing_ok=True)


def settled(pack: dict[str, Any]) -> bool:
    status = pack.get("status") or {}
    return status.get("observedGeneration") == pack["metadata"].get("generation") and status.get("phase") not in (
        None,
        "Pending",
        "Queued",
        "Testing",
    )


def up() -> None:
    print("Starting the local cluster ...", flush=True)
    run(sys.executable, "-m", "localcluster", "up")
    print("Starting PostgreSQL ...", flush=True)
    dsn = run(sys.executable, "-m", "localpg", "up").strip().splitlines()[-1]
    run(str(BIN / "packgate"), "migrate", "--database-url", dsn)
    print("Installing the CRDs and the operator's RBAC from manifests/base ...", flush=True)
    install_operator_objects(KUBECONFIG)
    service_account_kubeconfig(KUBECONFIG, OPERATOR_KUBECONFIG)
    print("Starting the operator as ServiceAccount packgate-system/packgate ...", flush=True)
    start_operator(dsn)
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
        raise DemoError(f"not every pack had a verdict after 300s; see {LOG_FILE}")
    print()
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
    print(f"  export KUBECONFIG={KUBECONFIG} PATH={LOCAL / 'bin'}:$PATH")
    print(f"  kubectl get packs -n {NAMESPACE}; kubectl describe pack broken -n {NAMESPACE}")
    print(f"  operator log: {LOG_FILE}")
    print("Stop it all with: make down")


def down() -> None:
    stop_operator()
    for module in ("localpg", "localcluster"):
        subprocess.run([sys.executable, "-m", module, "down"], check=False)
    print("Stopped the operator, PostgreSQL and the local cluster.")


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
