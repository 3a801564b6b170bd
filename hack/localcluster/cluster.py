"""Launcher of the local cluster: a real control plane and a real node, each component a process.

Control plane: etcd, kube-apiserver, kube-controller-manager, kube-scheduler.  Node: a registry
(Debian's distribution), containerd 2 with runc, CNI (Debian's plugins), the kubelet, kube-proxy and
CoreDNS (see node.py).  Owns the state directory layout, the command lines of the components, their
process lifecycle (own session, pid file, log file), the health checks and the clean-up a node needs.
It does not import the Kubernetes client: health is read over plain HTTPS.

One node per machine: kube-proxy's iptables chains and the pod bridge are machine-wide, so the
state directory that owns the node is recorded in /run/packgate/node-owner and a second cluster is
refused while the first runs.

State directory layout:

    pki/                      certificates and keys (kept across restarts)
    kubeconfigs/              one kubeconfig per identity
    etcd/                     etcd data (wiped by start)
    node/                     containerd, kubelet, kube-proxy, CNI and CoreDNS configuration
    containerd/ kubelet/ pod-logs/ cni-ipam/   the node's data (wiped by start)
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
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from localcluster import images
from localcluster import node as nodemod
from localcluster import packages as packagesmod
from localcluster import pki as pkimod

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BIN_DIR = REPO_ROOT / ".local" / "bin"
DEFAULT_STATE_DIR = REPO_ROOT / ".local" / "cluster"
DEFAULT_BASE_PORT = 16443
NODE_OWNER = Path("/run/packgate/node-owner")
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
    "statefulset",
    "daemonset",
    "endpointslice",
    "endpoint",
)
COMPONENTS = (
    "registry",
    "etcd",
    "kube-apiserver",
    "containerd",
    "kubelet",
    "kube-proxy",
    "coredns",
    "kube-controller-manager",
    "kube-scheduler",
)
NODE_BINARIES = ("kubelet", "kube-proxy", "containerd", "containerd-shim-runc-v2", "runc", "coredns")
PORT_SPAN = 14
"""How many consecutive ports one cluster uses, starting at its base port."""


def default_cache_root() -> Path:
    """Where builds and the registry's storage are cached: $PACKGATE_CACHE, else ~/.cache/packgate."""
    if os.environ.get("PACKGATE_CACHE"):
        return Path(os.environ["PACKGATE_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "packgate"



def inheritable_descriptors() -> list[int]:
    """This process's open descriptors above stderr that a spawned process would inherit."""
    found = []
    for entry in os.listdir("/proc/self/fd"):
        fd = int(entry)
        if fd > 2:
            try:
                if os.get_inheritable(fd):
                    found.append(fd)
            except OSError:
                continue  # the descriptor listdir itself used, closed by now
    return found

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

    @property
    def kubelet_healthz(self) -> int:
        return self.base + 6

    @property
    def kube_proxy_healthz(self) -> int:
        return self.base + 7

    @property
    def kube_proxy_metrics(self) -> int:
        return self.base + 8

    @property
    def coredns_health(self) -> int:
        return self.base + 9

    @property
    def coredns_ready(self) -> int:
        return self.base + 10

    @property
    def registry(self) -> int:
        return self.base + 11

    @property
    def packages(self) -> packagesmod.Ports:
        """The package index and npm registry (packages.py), on the node's address."""
        return packagesmod.Ports(pypi=self.base + 12, npm=self.base + 13)


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
        cache_root: Path | None = None,
        log: Callable[[str], None] = print,
    ) -> None:
        self.state_dir = Path(state_dir).resolve()
        self.ports = Ports(base_port)
        self.node_name = node_name
        self.bin_dir = Path(bin_dir)
        self.pki = pkimod.Pki(self.state_dir / "pki")
        self.layout = nodemod.NodeLayout(self.state_dir, self.ports.registry)
        self.registry_storage = (cache_root or default_cache_root()) / "registry"
        self.packages = packagesmod.Packages(cache_root or default_cache_root(), self.layout.config_dir / "packages",
                                             self.ports.packages)
        self.log = log

    # -- paths -----------------------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        return f"https://127.0.0.1:{self.ports.apiserver}"

    @property
    def registry(self) -> str:
        """host:port of the local registry that serves every image the node pulls."""
        return f"127.0.0.1:{self.ports.registry}"

    @property
    def ca_path(self) -> Path:
        return self.pki.ca_cert

    @property
    def admin_kubeconfig(self) -> Path:
        return self.kubeconfig("admin")

    def kubeconfig(self, identity: str) -> Path:
        """The kubeconfig of one identity: admin, controller-manager, scheduler, node or kube-proxy."""
        return self.state_dir / "kubeconfigs" / f"{identity}.kubeconfig"

    def log_path(self, component: str) -> Path:
        return self.state_dir / "logs" / f"{component}.log"

    def _pid_path(self, component: str) -> Path:
        return self.state_dir / "run" / f"{component}.pid"

    def _config(self, name: str) -> Path:
        return self.layout.config_dir / name

    # -- lifecycle -------------------------------------------------------------------------------------

    def start(self, timeout: float = 120.0) -> None:
        """Start every component on an empty etcd and node, and wait until the cluster is healthy.

        Does nothing if the whole cluster is already running; restarts it if only part of it is;
        refuses if another state directory's cluster owns this machine's node.  Whatever an unclean
        stop left behind (containers, mounts, iptables rules) is cleaned up first.
        """
        running = self.running()
        if all(running.values()):
            self._start_packages(timeout)  # a cluster started before they existed gets them too
            self.wait_healthy(timeout)
            return
        if any(running.values()):
            down = ", ".join(name for name, alive in running.items() if not alive)
            self.log(f"localcluster: {down} not running; stopping the rest and starting again")
            self.stop()
        self._claim_node()
        missing = [b for b in (*("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"), *NODE_BINARIES)
                   if not (self.bin_dir / b).exists()]
        if missing:
            raise ClusterError(
                f"{', '.join(missing)} not found in {self.bin_dir}; run hack/build-k8s.sh and hack/build-node.sh"
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
        self._clean_node()
        for sub in ("etcd", "run"):
            shutil.rmtree(self.state_dir / sub, ignore_errors=True)
        for path in self.layout.wiped_on_start():
            shutil.rmtree(path, ignore_errors=True)
        for sub in ("logs", "run", "kubeconfigs"):
            (self.state_dir / sub).mkdir(parents=True, exist_ok=True)
        pkimod.ensure(self.pki.root, node_name=self.node_name, service_ip=SERVICE_IP, node_ip=nodemod.NODE_IP)
        self._write_kubeconfigs()
        self._write_node_configs()
        try:
            nodemod.setup_network()
        except OSError as error:
            raise ClusterError(f"cannot set up the node's network: {error}") from None
        try:
            deadline = time.monotonic() + timeout
            self._spawn("registry", self._command("registry"))
            self._wait(["registry"], time.monotonic() + 30, 30)
            try:
                images.ensure(self.registry, images.Stamps(self.registry_storage / "packgate-stamps"),
                              REPO_ROOT, operator=False, log=self.log)
            except images.ImageError as error:
                raise ClusterError(str(error)) from None
            self._start_packages(timeout)
            deadline = time.monotonic() + timeout
            for component in ("etcd", "kube-apiserver", "containerd"):
                self._spawn(component, self._command(component))
            # The controller-manager and scheduler read the request-header CA from kube-system at
            # startup and exit if RBAC is not bootstrapped yet: start them once the API server is ready.
            self._wait(["etcd", "kube-apiserver", "containerd"], deadline, timeout)
            for component in ("kubelet", "kube-proxy", "coredns", "kube-controller-manager", "kube-scheduler"):
                self._spawn(component, self._command(component))
            self._wait(list(self.checks()), deadline, timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout: float = 15.0) -> None:
        """Stop every component, container and shim this state directory started, unmount what they
        mounted and remove the node's network; nothing is left behind.  Safe after an unclean stop."""
        for component in (*packagesmod.SERVERS, *reversed(COMPONENTS)):
            if component == "containerd":
                self._stop_containers()
            pid_file = self._pid_path(component)
            try:
                pid_text, start_time = pid_file.read_text().split()
            except (OSError, ValueError):
                continue
            kill_process_group(int(pid_text), start_time, timeout)
            pid_file.unlink(missing_ok=True)
        self._clean_node()

    def _start_packages(self, timeout: float) -> None:
        """The package index and npm registry pods install from: prepared (cached), started unless
        running, and waited for."""
        try:
            self.packages.prepare(log=self.log)
        except packagesmod.PackagesError as error:
            raise ClusterError(str(error)) from None
        for name, argv in self.packages.commands().items():
            if not self._alive(name):
                self._spawn(name, argv)
        self._wait(list(packagesmod.SERVERS), time.monotonic() + timeout, timeout)

    def _alive(self, component: str) -> bool:
        try:
            pid_text, start_time = self._pid_path(component).read_text().split()
        except (OSError, ValueError):
            return False
        return process_start_time(int(pid_text)) == start_time

    def restart(self, component: str, timeout: float = 120.0) -> None:
        """Stop one running component and start it again with the same command; wait until healthy."""
        pid_text, start_time = self._pid_path(component).read_text().split()
        kill_process_group(int(pid_text), start_time, 15.0)
        self._spawn(component, self._command(component))
        self.wait_healthy(timeout)

    def _stop_containers(self) -> None:
        nodemod.stop_containers(self.layout, self.bin_dir / "runc", self.bin_dir / "containerd-shim-runc-v2")

    def _clean_node(self) -> None:
        """Containers, mounts and network of this node (or of a dead cluster that held the node)."""
        if not self._owns_node():
            return
        self._stop_containers()
        nodemod.unmount_all(self.layout.run_dir, self.state_dir)
        nodemod.teardown_network(self.bin_dir / "kube-proxy")
        shutil.rmtree(self.layout.run_dir, ignore_errors=True)
        NODE_OWNER.unlink(missing_ok=True)

    def _node_owner(self) -> Path | None:
        try:
            return Path(NODE_OWNER.read_text().strip())
        except OSError:
            return None

    def _owns_node(self) -> bool:
        owner = self._node_owner()
        return owner is None or owner == self.state_dir

    def _claim_node(self) -> None:
        owner = self._node_owner()
        if owner is not None and owner != self.state_dir:
            other = Cluster(owner, bin_dir=self.bin_dir)
            if any(other.running().values()):
                raise ClusterError(
                    f"the local cluster in {owner} is running, and one machine holds one node; "
                    f"stop it first (make down, or python -m localcluster down --state-dir {owner})"
                )
            other.stop()  # an unclean stop of that cluster: clean up after it
        NODE_OWNER.parent.mkdir(parents=True, exist_ok=True)
        NODE_OWNER.write_text(f"{self.state_dir}\n")

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
            "registry": lambda: self._check_http(f"http://{self.registry}/v2/"),
            **{name: (lambda url=url: self._check_http(url)) for name, url in self.packages.health_urls().items()},
            "etcd": self._check_etcd,
            "kube-apiserver": self._check_apiserver,
            "containerd": self._check_containerd,
            "kube-controller-manager": lambda: self._check_https_health(self.ports.controller_manager),
            "kube-scheduler": lambda: self._check_https_health(self.ports.scheduler),
            "kubelet": self._check_node,
            "kube-proxy": lambda: self._check_http(f"http://127.0.0.1:{self.ports.kube_proxy_healthz}/healthz"),
            "coredns": lambda: self._check_http(f"http://127.0.0.1:{self.ports.coredns_ready}/ready"),
            "default ServiceAccount": self._check_default_service_account,
        }

    def wait_healthy(self, timeout: float = 120.0) -> None:
        """Wait until every check passes; raise ClusterError naming the first failing component."""
        self._wait(list(self.checks()), time.monotonic() + timeout, timeout)

    def _wait(self, names: list[str], deadline: float, timeout: float) -> None:
        checks = self.checks()
        pending = list(names)
        while pending:
            running = self.running()
            for name in pending:
                if name in packagesmod.SERVERS and not self._alive(name):
                    raise ClusterError(f"{name} is not running; see {self.log_path(name)}")
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

    def _check_http(self, url: str) -> str | None:
        try:
            status, _body = self._get(url)
        except OSError as error:
            return str(error)
        return None if status == 200 else f"{url} returned {status}"

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

    def _check_containerd(self) -> str | None:
        with socket.socket(socket.AF_UNIX) as sock:
            try:
                sock.connect(str(self.layout.containerd_socket))
            except OSError as error:
                return f"{self.layout.containerd_socket}: {error.strerror}"
        return None

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
            return f"node {self.node_name} not Ready" + (f": {ready[0].get('message')}" if ready else "")
        taints = node.get("spec", {}).get("taints") or []
        if taints:
            return f"node {self.node_name} has taints {[t['key'] for t in taints]}"
        lease = f"{self.api_url}/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{self.node_name}"
        try:
            status, _ = self._get(lease, self._admin_context())
        except OSError as error:
            return str(error)
        return None if status == 200 else f"the kubelet has not created its Lease yet ({status})"

    def _check_default_service_account(self) -> str | None:
        url = f"{self.api_url}/api/v1/namespaces/default/serviceaccounts/default"
        try:
            status, _ = self._get(url, self._admin_context())
        except OSError as error:
            return str(error)
        return None if status == 200 else "ServiceAccount default/default does not exist yet"

    # -- configuration ---------------------------------------------------------------------------------

    def _write_kubeconfigs(self) -> None:
        for identity in ("admin", "controller-manager", "scheduler", "node", "kube-proxy"):
            pkimod.write_kubeconfig(
                self.kubeconfig(identity),
                server=self.api_url,
                ca_cert=self.ca_path,
                user=identity,
                client_cert=self.pki.cert(identity),
                client_key=self.pki.key(identity),
            )

    def _write_node_configs(self) -> None:
        layout, k, p = self.layout, self.pki, self.ports
        resolv_conf = self._config("resolv.conf")
        nodemod.write_configs(layout, {
            self._config("containerd.toml"): nodemod.containerd_config(layout, self.bin_dir / "runc"),
            layout.registry_hosts_dir / "_default" / "hosts.toml": nodemod.registry_hosts(layout),
            layout.cni_conf_dir / "10-packgate.conflist": json.dumps(nodemod.cni_conflist(layout), indent=2),
            # Pods resolve the cluster domain only: no upstream resolvers are handed to them.
            resolv_conf: "# the cluster's pods resolve names through CoreDNS only\n",
            self._config("kubelet.yaml"): yaml.safe_dump(nodemod.kubelet_config(
                layout, port=p.kubelet, healthz_port=p.kubelet_healthz, client_ca=k.ca_cert,
                tls_cert=k.cert("kubelet-serving"), tls_key=k.key("kubelet-serving"), resolv_conf=resolv_conf,
            )),
            self._config("kube-proxy.yaml"): yaml.safe_dump(nodemod.kube_proxy_config(
                self.kubeconfig("kube-proxy"), node_name=self.node_name,
                healthz_port=p.kube_proxy_healthz, metrics_port=p.kube_proxy_metrics,
            )),
            self._config("Corefile"): nodemod.corefile(
                self.admin_kubeconfig, health_port=p.coredns_health, ready_port=p.coredns_ready
            ),
            self._config("registry.yaml"): yaml.safe_dump(nodemod.registry_config(self.registry_storage, p.registry)),
        })

    def _command(self, component: str) -> list[str]:
        p, s, k = self.ports, self.state_dir, self.pki
        if component == "registry":
            return ["/usr/bin/docker-registry", "serve", str(self._config("registry.yaml"))]
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
                # Pods reach it through the kubernetes Service, whose endpoint is the node's bridge
                # address; tools on this machine use 127.0.0.1.
                "--bind-address=0.0.0.0",
                f"--advertise-address={nodemod.NODE_IP}",
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
                "--allow-privileged=true",
                "--profiling=false",
            ]
        if component == "containerd":
            return [str(self.bin_dir / "containerd"), f"--config={self._config('containerd.toml')}"]
        if component == "kubelet":
            return [
                str(self.bin_dir / "kubelet"),
                f"--config={self._config('kubelet.yaml')}",
                f"--kubeconfig={self.kubeconfig('node')}",
                f"--hostname-override={self.node_name}",
                f"--node-ip={nodemod.NODE_IP}",
                f"--root-dir={self.layout.kubelet_root}",
                f"--cert-dir={s / 'run' / 'kubelet'}",
            ]
        if component == "kube-proxy":
            return [str(self.bin_dir / "kube-proxy"), f"--config={self._config('kube-proxy.yaml')}"]
        if component == "coredns":
            return [str(self.bin_dir / "coredns"), "-conf", str(self._config("Corefile"))]
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
        raise ValueError(component)

    def _spawn(self, component: str, argv: list[str]) -> None:
        """Start one component in its own session, output to its log file, and record its pid file."""
        env = dict(os.environ)
        # containerd finds its shim on PATH; the kubelet and kube-proxy need iptables, mount, ...
        env["PATH"] = os.pathsep.join([str(self.bin_dir), "/usr/sbin", "/usr/bin", "/sbin", "/bin"])
        log = self.log_path(component)
        log.write_bytes(b"")
        # posix_spawn passes on every inheritable descriptor: a daemon must not keep its caller's
        # (a CI step's pipe, a `flock` lock) open for as long as the cluster runs.
        for fd in inheritable_descriptors():
            os.set_inheritable(fd, False)
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
