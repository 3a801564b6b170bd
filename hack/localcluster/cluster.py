"""Launcher of the local control plane: etcd, kube-apiserver, kube-controller-manager, kube-scheduler and
the Python node agent, each a real process on 127.0.0.1.

Owns the state directory layout, the command lines of the components, their process lifecycle (own
session, pid file, log file) and the health checks. It must not talk to anything but 127.0.0.1, and it
does not import the Kubernetes client: health is read over plain HTTPS.

State directory layout:

    pki/                      certificates and keys (kept across restarts)
    kubeconfigs/              one kubeconfig per identity
    etcd/                     etcd data (wiped by start)
    agent/                    the node agent's pods, volumes and container logs (wiped by start)
    logs/<component>.log      stdout and stderr of each component
    run/<component>.pid       "<pid> <start time>" of each running component
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import ssl
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from localcluster import pki as pkimod

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BIN_DIR = REPO_ROOT / ".local" / "bin"
DEFAULT_STATE_DIR = REPO_ROOT / ".local" / "cluster"
DEFAULT_BASE_PORT = 16443
DEFAULT_NODE_NAME = "packgate-node"
SERVICE_CIDR = "10.96.0.0/16"
SERVICE_IP = "10.96.0.1"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
CONTROLLERS = (
    "job",
    "cronjob",
    "garbagecollector",
    "namespace",
    "serviceaccount",
    "serviceaccount-token",
    "nodelifecycle",
    "ttl-after-finished",
    "podgc",
    "root-ca-cert-publisher",
    "clusterrole-aggregation",
    "deployment",
    "replicaset",
)
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "node-agent")
PORT_SPAN = 6
"""How many consecutive ports one cluster uses, starting at its base port."""


class ClusterError(Exception):
    """The cluster could not be started, checked or stopped; the message says why and where to look."""


@dataclass(frozen=True)
class Ports:
    """The loopback ports of one cluster, all derived from its base port."""

    base: int

    @property
    def apiserver(self) -> int:
        return self.base

    @property
    def etcd_client(self) -> int:
        return self.base + 1

    @property
    def etcd_peer(self) -> int:
        return self.base + 2

    @property
    def controller_manager(self) -> int:
        return self.base + 3

    @property
    def scheduler(self) -> int:
        return self.base + 4

    @property
    def kubelet(self) -> int:
        return self.base + 5


def process_start_time(pid: int) -> str | None:
    """The start time of a process (clock ticks since boot), or None if it does not exist or is a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] == "Z":
        return None
    return fields[19]


def kill_process_group(pid: int, start_time: str, timeout: float) -> None:
    """SIGTERM the process group led by `pid` (if it is still the same process), SIGKILL after `timeout`.

    The group gets a SIGKILL in any case: members of a group may outlive its leader.
    """
    if process_start_time(pid) != start_time:
        _reap(pid)
        return
    _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process_start_time(pid) == start_time:
        _reap(pid)
        time.sleep(0.05)
    _signal_group(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and process_start_time(pid) == start_time:
        _reap(pid)
        time.sleep(0.02)
    _reap(pid)


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


class Cluster:
    """One local control plane and node, rooted at a state directory, on ports from `base_port` upward."""

    def __init__(
        self,
        state_dir: Path,
        *,
        base_port: int = DEFAULT_BASE_PORT,
        node_name: str = DEFAULT_NODE_NAME,
        bin_dir: Path = DEFAULT_BIN_DIR,
        python: str = sys.executable,
    ) -> None:
        self.state_dir = Path(state_dir).resolve()
        self.ports = Ports(base_port)
        self.node_name = node_name
        self.bin_dir = Path(bin_dir)
        self.python = python
        self.pki = pkimod.Pki(self.state_dir / "pki")

    # -- paths -----------------------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        return f"https://127.0.0.1:{self.ports.apiserver}"

    @property
    def ca_path(self) -> Path:
        return self.pki.ca_cert

    @property
    def admin_kubeconfig(self) -> Path:
        return self.kubeconfig("admin")

    def kubeconfig(self, identity: str) -> Path:
        """The kubeconfig of one identity: admin, controller-manager, scheduler or node."""
        return self.state_dir / "kubeconfigs" / f"{identity}.kubeconfig"

    def log_path(self, component: str) -> Path:
        return self.state_dir / "logs" / f"{component}.log"

    def _pid_path(self, component: str) -> Path:
        return self.state_dir / "run" / f"{component}.pid"

    # -- lifecycle -------------------------------------------------------------------------------------

    def start(self, timeout: float = 90.0) -> None:
        """Start every component on an empty etcd and wait until the cluster is healthy.

        Does nothing if the whole cluster is already running; refuses if only part of it is.
        """
        running = self.running()
        if all(running.values()):
            self.wait_healthy(timeout)
            return
        if any(running.values()):
            up = ", ".join(name for name, alive in running.items() if alive)
            raise ClusterError(f"cluster in {self.state_dir} is partly running ({up}); run down first")
        missing = [b for b in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
                   if not (self.bin_dir / b).exists()]
        if missing:
            raise ClusterError(
                f"{', '.join(missing)} not found in {self.bin_dir}; run hack/build-k8s.sh first"
            )
        for port in range(self.ports.base, self.ports.base + PORT_SPAN):
            with socket.socket() as probe:
                # SO_REUSEADDR, as the servers themselves bind: connections of a cluster that just
                # stopped (TIME_WAIT) don't block the port, a listening server does.
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    probe.bind(("127.0.0.1", port))
                except OSError:
                    raise ClusterError(
                        f"127.0.0.1:{port} is already in use (another cluster?); pick another --base-port"
                    ) from None
        for sub in ("etcd", "agent", "run"):
            shutil.rmtree(self.state_dir / sub, ignore_errors=True)
        for sub in ("logs", "run", "kubeconfigs"):
            (self.state_dir / sub).mkdir(parents=True, exist_ok=True)
        pkimod.ensure(self.pki.root, node_name=self.node_name, service_ip=SERVICE_IP)
        self._write_kubeconfigs()
        try:
            deadline = time.monotonic() + timeout
            for component in ("etcd", "kube-apiserver", "node-agent"):
                self._spawn(component, self._command(component))
            # The controller-manager and scheduler read the request-header CA from kube-system at
            # startup and exit if RBAC is not bootstrapped yet: start them once the API server is ready.
            self._wait(["etcd", "kube-apiserver"], deadline, timeout)
            for component in ("kube-controller-manager", "kube-scheduler"):
                self._spawn(component, self._command(component))
            self._wait(list(self.checks()), deadline, timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout: float = 15.0) -> None:
        """Stop every component this state directory started, node agent first; no process is left."""
        for component in reversed(COMPONENTS):
            pid_file = self._pid_path(component)
            try:
                pid_text, start_time = pid_file.read_text().split()
            except (OSError, ValueError):
                continue
            kill_process_group(int(pid_text), start_time, timeout)
            pid_file.unlink(missing_ok=True)
        # The agent stops its containers when it is terminated; this catches any it could not.
        for pid_file in (self.state_dir / "agent" / "pods").glob("*/containers/*/pid"):
            try:
                pid_text, start_time = pid_file.read_text().split()
            except (OSError, ValueError):
                continue
            kill_process_group(int(pid_text), start_time, 2.0)

    def running(self) -> dict[str, bool]:
        """Whether each component's recorded process is alive."""
        result = {}
        for component in COMPONENTS:
            try:
                pid_text, start_time = self._pid_path(component).read_text().split()
            except (OSError, ValueError):
                result[component] = False
                continue
            result[component] = process_start_time(int(pid_text)) == start_time
        return result

    # -- health ----------------------------------------------------------------------------------------

    def checks(self) -> dict[str, Callable[[], str | None]]:
        """Health checks in dependency order; each returns None when healthy or the reason it is not."""
        return {
            "etcd": self._check_etcd,
            "kube-apiserver": self._check_apiserver,
            "kube-controller-manager": lambda: self._check_https_health(self.ports.controller_manager),
            "kube-scheduler": lambda: self._check_https_health(self.ports.scheduler),
            "node-agent": self._check_node,
            "default ServiceAccount": self._check_default_service_account,
        }

    def wait_healthy(self, timeout: float = 90.0) -> None:
        """Wait until every check passes; raise ClusterError naming the first failing component."""
        self._wait(list(self.checks()), time.monotonic() + timeout, timeout)

    def _wait(self, names: list[str], deadline: float, timeout: float) -> None:
        checks = self.checks()
        pending = list(names)
        while pending:
            running = self.running()
            for name in pending:
                if name in running and not running[name]:
                    raise ClusterError(f"{name} is not running; see {self.log_path(name)}")
            reason = checks[pending[0]]()
            if reason is None:
                pending.pop(0)
                continue
            if time.monotonic() > deadline:
                component = pending[0] if pending[0] in COMPONENTS else "kube-controller-manager"
                raise ClusterError(
                    f"{pending[0]} did not become ready in {timeout:.0f}s ({reason}); "
                    f"see {self.log_path(component)}"
                )
            time.sleep(0.2)

    def _get(self, url: str, context: ssl.SSLContext | None = None) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(url, timeout=5, context=context) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def _admin_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca_path))
        context.load_cert_chain(str(self.pki.cert("admin")), str(self.pki.key("admin")))
        return context

    def _check_etcd(self) -> str | None:
        try:
            status, body = self._get(f"http://127.0.0.1:{self.ports.etcd_client}/health")
        except OSError as error:
            return str(error)
        return None if status == 200 and json.loads(body).get("health") == "true" else body.decode()

    def _check_apiserver(self) -> str | None:
        try:
            status, _body = self._get(f"{self.api_url}/readyz", self._admin_context())
        except OSError as error:
            return str(error)
        return None if status == 200 else f"/readyz returned {status}"

    def _check_https_health(self, port: int) -> str | None:
        # The controller-manager and scheduler serve a self-signed loopback certificate.
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        try:
            status, body = self._get(f"https://127.0.0.1:{port}/healthz", context)
        except OSError as error:
            return str(error)
        return None if status == 200 else f"/healthz returned {status}: {body.decode()[:200]}"

    def _check_node(self) -> str | None:
        try:
            status, body = self._get(f"{self.api_url}/api/v1/nodes/{self.node_name}", self._admin_context())
        except OSError as error:
            return str(error)
        if status != 200:
            return f"node {self.node_name} not registered"
        node = json.loads(body)
        ready = [c for c in node["status"].get("conditions", []) if c["type"] == "Ready"]
        if not ready or ready[0]["status"] != "True":
            return f"node {self.node_name} not Ready"
        taints = node.get("spec", {}).get("taints") or []
        if taints:
            return f"node {self.node_name} has taints {[t['key'] for t in taints]}"
        return None

    def _check_default_service_account(self) -> str | None:
        url = f"{self.api_url}/api/v1/namespaces/default/serviceaccounts/default"
        try:
            status, _ = self._get(url, self._admin_context())
        except OSError as error:
            return str(error)
        return None if status == 200 else "ServiceAccount default/default does not exist yet"

    # -- processes -------------------------------------------------------------------------------------

    def _write_kubeconfigs(self) -> None:
        for identity, cert in (
            ("admin", "admin"),
            ("controller-manager", "controller-manager"),
            ("scheduler", "scheduler"),
            ("node", "node"),
        ):
            pkimod.write_kubeconfig(
                self.kubeconfig(identity),
                server=self.api_url,
                ca_cert=self.ca_path,
                user=identity,
                client_cert=self.pki.cert(cert),
                client_key=self.pki.key(cert),
            )

    def _command(self, component: str) -> list[str]:
        p, s, k = self.ports, self.state_dir, self.pki
        if component == "etcd":
            peer = f"http://127.0.0.1:{p.etcd_peer}"
            client = f"http://127.0.0.1:{p.etcd_client}"
            return [
                str(self.bin_dir / "etcd"),
                "--name=local",
                f"--data-dir={s / 'etcd'}",
                f"--listen-client-urls={client}",
                f"--advertise-client-urls={client}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=local={peer}",
                "--initial-cluster-state=new",
                "--unsafe-no-fsync",  # a throwaway test store: durability buys nothing here
                "--log-level=warn",
            ]
        if component == "kube-apiserver":
            return [
                str(self.bin_dir / "kube-apiserver"),
                f"--etcd-servers=http://127.0.0.1:{p.etcd_client}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={p.apiserver}",
                f"--cert-dir={s / 'run' / 'apiserver'}",
                f"--tls-cert-file={k.cert('apiserver')}",
                f"--tls-private-key-file={k.key('apiserver')}",
                f"--client-ca-file={k.ca_cert}",
                "--authorization-mode=Node,RBAC",
                "--enable-admission-plugins=NodeRestriction,PodSecurity",
                f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
                f"--service-account-key-file={k.sa_pub}",
                f"--service-account-signing-key-file={k.sa_key}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                f"--kubelet-client-certificate={k.cert('apiserver-kubelet-client')}",
                f"--kubelet-client-key={k.key('apiserver-kubelet-client')}",
                f"--kubelet-certificate-authority={k.ca_cert}",
                "--kubelet-preferred-address-types=InternalIP",
                # There is no service network: the kubernetes Service's endpoint would be 127.0.0.1,
                # which Endpoints validation rejects; do not reconcile it.
                "--endpoint-reconciler-type=none",
                "--allow-privileged=true",
                "--profiling=false",
            ]
        if component == "kube-controller-manager":
            kubeconfig = self.kubeconfig("controller-manager")
            return [
                str(self.bin_dir / "kube-controller-manager"),
                f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                "--bind-address=127.0.0.1",
                f"--secure-port={p.controller_manager}",
                f"--cert-dir={s / 'run' / 'controller-manager'}",
                f"--controllers={','.join(CONTROLLERS)}",
                "--use-service-account-credentials=true",
                f"--root-ca-file={k.ca_cert}",
                f"--service-account-private-key-file={k.sa_key}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--leader-elect=false",
                "--profiling=false",
            ]
        if component == "kube-scheduler":
            kubeconfig = self.kubeconfig("scheduler")
            return [
                str(self.bin_dir / "kube-scheduler"),
                f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                "--bind-address=127.0.0.1",
                f"--secure-port={p.scheduler}",
                f"--cert-dir={s / 'run' / 'scheduler'}",
                "--leader-elect=false",
                "--profiling=false",
            ]
        if component == "node-agent":
            return [
                self.python,
                "-m",
                "localcluster.nodeagent",
                f"--kubeconfig={self.kubeconfig('node')}",
                f"--node-name={self.node_name}",
                f"--port={p.kubelet}",
                f"--state-dir={s / 'agent'}",
                f"--tls-cert={k.cert('node-serving')}",
                f"--tls-key={k.key('node-serving')}",
                f"--client-ca={k.ca_cert}",
            ]
        raise ValueError(component)

    def _spawn(self, component: str, argv: list[str]) -> None:
        """Start one component in its own session, output to its log file, and record its pid file."""
        env = dict(os.environ)
        if component == "node-agent":
            hack = str(Path(__file__).resolve().parents[1])
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [hack, env.get("PYTHONPATH")]))
            env["PYTHONUNBUFFERED"] = "1"
        log = self.log_path(component)
        log.write_bytes(b"")
        pid = os.posix_spawn(
            argv[0],
            argv,
            env,
            file_actions=[
                (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
                (os.POSIX_SPAWN_OPEN, 1, str(log), os.O_WRONLY | os.O_APPEND, 0o644),
                (os.POSIX_SPAWN_DUP2, 1, 2),
            ],
            setsid=True,
        )
        start_time = None
        for _ in range(100):
            start_time = process_start_time(pid)
            if start_time:
                break
            time.sleep(0.01)
        if start_time is None:
            raise ClusterError(f"{component} exited at once; see {log}")
        self._pid_path(component).write_text(f"{pid} {start_time}\n")

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of every component's log, for error reports."""
        parts = []
        for component in COMPONENTS:
            try:
                text = self.log_path(component).read_text(errors="replace").splitlines()[-lines:]
            except OSError:
                continue
            parts.append(f"==> {self.log_path(component)} <==\n" + "\n".join(text))
        return "\n".join(parts)
