"""pytest plugin: the Packgate operator, run as a process under its own RBAC, for e2e tests.

Fixtures:
    operator   (session)  `OperatorProcess`: `packgate operator` started with a kubeconfig holding a
                          token of the ServiceAccount `packgate-system/packgate`, bound to the
                          ClusterRole from manifests/base/rbac (so a missing permission fails a
                          test), and PACKGATE_DATABASE_URL pointing at a database of the session's
                          PostgreSQL.  `.restart()`, `.kill()`, `.start()`, `.log_text()`, `.dsn`.
    kube       (function) `Kubectl` for the admin kubeconfig: `.run(...)`, `.json(...)`, `.apply(text)`.

If the operator does not become ready, the test fails with the tail of its log.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
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
class OperatorProcess:
    kubeconfig: Path
    dsn: str
    log_path: Path
    env: dict[str, str]
    health_port: int
    proc: subprocess.Popen[bytes] | None = field(default=None)

    def start(self, timeout: float = 60.0) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [str(PACKGATE), "operator", "--kubeconfig", str(self.kubeconfig)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"packgate operator exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}/readyz", timeout=2) as resp:
                    if resp.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"packgate operator not ready after {timeout:.0f}s:\n{self.log_tail()}")

    def stop(self, *, kill: bool = False) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def kill(self) -> None:
        """SIGKILL: no cleanup, as when a node dies."""
        self.stop(kill=True)

    def restart(self) -> None:
        self.stop()
        self.start()

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

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
def operator(
    cluster: Any, postgres: Any, _admin_kubectl: Kubectl, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """The operator under the manifests' ServiceAccount and ClusterRole, with a real database."""
    from demo import install_operator_objects, service_account_kubeconfig

    install_operator_objects(Path(cluster.kubeconfig))
    home = tmp_path_factory.mktemp("operator")
    sa_kubeconfig = home / "kubeconfig"
    service_account_kubeconfig(Path(cluster.kubeconfig), sa_kubeconfig)
    postgres.drop_database("packgate_e2e")
    dsn = postgres.create_database("packgate_e2e")
    health_port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PACKGATE_")},
        "PACKGATE_DATABASE_URL": dsn,
        "PACKGATE_HEALTH_PORT": str(health_port),
        "PACKGATE_METRICS_PORT": str(free_port()),
        "PACKGATE_UNSCHEDULABLE_GRACE_SECONDS": "5",
        "PACKGATE_JOB_TTL_SECONDS": "900",
        "PACKGATE_PEERING": "packgate",
    }
    env.pop("KUBECONFIG", None)
    proc = OperatorProcess(sa_kubeconfig, dsn, home / "operator.log", env, health_port)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()
        print(f"\n--- operator log tail ---\n{proc.log_tail(40)}")
