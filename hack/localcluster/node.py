"""The local cluster's real node: containerd, runc, CNI, the kubelet, kube-proxy, CoreDNS and a registry.

Owns the node's configuration files (rendered by pure functions from a `NodeLayout`), the host
network it needs (a bridge, sysctls, a guard chain) and the clean-up of everything a node leaves
behind: containers, shims, mounts, network namespaces, iptables rules.  Process lifecycle (spawn,
pid files, health) stays in `cluster.py`.

Network (one node per machine: kube-proxy's iptables chains are machine-wide):

    bridge pgbr0    10.88.0.1/16   the node's InternalIP; pods get 10.88.0.0/16 from host-local IPAM
    services        10.96.0.0/16   kube-proxy (iptables mode) DNATs ClusterIPs to pod or node IPs
    cluster DNS     10.88.0.1:53   CoreDNS answers the cluster.local zone from the API server
    guard           PACKGATE-GUARD drops anything pods send that is not for a pod or the node, so a
                                   test can never reach a network outside this machine
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BRIDGE = "pgbr0"
POD_CIDR = "10.88.0.0/16"
NODE_IP = "10.88.0.1"
CLUSTER_DOMAIN = "cluster.local"
CNI_NETWORK = "packgate"
CNI_BIN_DIR = "/usr/lib/cni"
GUARD_CHAIN = "PACKGATE-GUARD"
KUBELET_CHAINS = {  # table -> chains the kubelet creates (kube-proxy --cleanup removes its own)
    "filter": ("KUBE-FIREWALL", "KUBE-KUBELET-CANARY"),
    "nat": ("KUBE-KUBELET-CANARY",),
    "mangle": ("KUBE-IPTABLES-HINT", "KUBE-KUBELET-CANARY"),
}
SANDBOX_IMAGE = "registry.k8s.io/pause:3.10.2"
CONTAINER_LOG_MAX_SIZE = "10Mi"
CONTAINER_LOG_MAX_FILES = 3
K8S_NAMESPACE = "k8s.io"


@dataclass(frozen=True)
class NodeLayout:
    """Where one node keeps its files and sockets.

    Persistent data lives under the cluster's state directory; sockets and runtime state live under a
    short directory in /run (unix socket paths are limited to 108 bytes).
    """

    state_dir: Path
    registry_port: int

    @property
    def run_dir(self) -> Path:
        digest = hashlib.sha256(str(self.state_dir).encode()).hexdigest()[:10]
        return Path("/run/packgate") / digest

    @property
    def containerd_root(self) -> Path:
        return self.state_dir / "containerd"

    @property
    def containerd_state(self) -> Path:
        return self.run_dir / "containerd"

    @property
    def containerd_socket(self) -> Path:
        return self.run_dir / "containerd.sock"

    @property
    def runc_root(self) -> Path:
        return self.run_dir / "runc"

    @property
    def shim_socket_dir(self) -> Path:
        return self.run_dir / "s"

    @property
    def config_dir(self) -> Path:
        return self.state_dir / "node"

    @property
    def cni_conf_dir(self) -> Path:
        return self.config_dir / "net.d"

    @property
    def cni_ipam_dir(self) -> Path:
        return self.state_dir / "cni-ipam"

    @property
    def registry_hosts_dir(self) -> Path:
        return self.config_dir / "certs.d"

    @property
    def kubelet_root(self) -> Path:
        return self.state_dir / "kubelet"

    @property
    def pod_logs_dir(self) -> Path:
        return self.state_dir / "pod-logs"

    @property
    def registry_url(self) -> str:
        return f"http://127.0.0.1:{self.registry_port}"

    def wiped_on_start(self) -> tuple[Path, ...]:
        """Directories a fresh node starts without (the registry's storage is not among them)."""
        return (self.containerd_root, self.containerd_state, self.runc_root, self.shim_socket_dir,
                self.cni_ipam_dir, self.kubelet_root, self.pod_logs_dir, self.config_dir)


# -- configuration files (pure) -------------------------------------------------------------------


def containerd_config(layout: NodeLayout, runc: Path) -> str:
    """containerd's config.toml (version 3): the CRI plugin with runc, CNI and the local registry."""
    return f"""\
version = 3
root = {json.dumps(str(layout.containerd_root))}
state = {json.dumps(str(layout.containerd_state))}

[grpc]
  address = {json.dumps(str(layout.containerd_socket))}

[ttrpc]
  address = {json.dumps(str(layout.containerd_socket) + ".ttrpc")}

[plugins.'io.containerd.cri.v1.images']
  snapshotter = 'overlayfs'
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = {json.dumps(SANDBOX_IMAGE)}
  [plugins.'io.containerd.cri.v1.images'.registry]
    config_path = {json.dumps(str(layout.registry_hosts_dir))}

[plugins.'io.containerd.cri.v1.runtime']
  # runc init fails to set oom_score_adj -998 for sandboxes otherwise ("can't get final child's PID").
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = 'runc'
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = 'io.containerd.runc.v2'
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = {json.dumps(str(runc))}
        Root = {json.dumps(str(layout.runc_root))}
        SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = [{json.dumps(CNI_BIN_DIR)}]
    conf_dir = {json.dumps(str(layout.cni_conf_dir))}

[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = '127.0.0.1'
  stream_server_port = '0'

[plugins.'io.containerd.shim.v1.manager']
  socket_dir = {json.dumps(str(layout.shim_socket_dir))}
"""


def registry_hosts(layout: NodeLayout) -> str:
    """hosts.toml for `_default`: every registry name resolves to the local registry.

    So `docker.io/library/busybox:1.37` is pulled from the local registry as `library/busybox:1.37`,
    and no pull ever leaves the machine.
    """
    return f"""\
# Every registry is served by the local registry: no pull leaves this machine.
server = {json.dumps(layout.registry_url)}

[host.{json.dumps(layout.registry_url)}]
  capabilities = ["pull", "resolve"]
"""


def cni_conflist(layout: NodeLayout) -> dict[str, Any]:
    """The pod network: one bridge, host-local addresses, a default route via the node."""
    return {
        "cniVersion": "1.0.0",
        "name": CNI_NETWORK,
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "dataDir": str(layout.cni_ipam_dir),
                    "ranges": [[{"subnet": POD_CIDR, "gateway": NODE_IP}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }


def kubelet_config(
    layout: NodeLayout, *, port: int, healthz_port: int, client_ca: Path, tls_cert: Path, tls_key: Path,
    resolv_conf: Path,
) -> dict[str, Any]:
    """The KubeletConfiguration of a node on a cgroup v1 host without systemd."""
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": NODE_IP,
        "port": port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": healthz_port,
        "tlsCertFile": str(tls_cert),
        "tlsPrivateKeyFile": str(tls_key),
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(client_ca)},
        },
        "authorization": {"mode": "Webhook"},
        "clusterDomain": CLUSTER_DOMAIN,
        "clusterDNS": [NODE_IP],
        "resolvConf": str(resolv_conf),
        "podLogsDir": str(layout.pod_logs_dir),
        # Rotated like a production kubelet's defaults: 10 Mi per file.  Kept explicit because the
        # operator must read results that arrive after a rotation.
        "containerLogMaxSize": CONTAINER_LOG_MAX_SIZE,
        "containerLogMaxFiles": CONTAINER_LOG_MAX_FILES,
        # cgroup v1 without systemd: cgroupfs, no QoS hierarchy, nothing reserved.
        "failCgroupV1": False,
        "cgroupDriver": "cgroupfs",
        "cgroupsPerQOS": False,
        "enforceNodeAllocatable": [],
        "failSwapOn": False,
        # A development machine's disk is shared with everything else: evict only when nearly full.
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "2%",
            "imagefs.available": "2%",
            "nodefs.inodesFree": "2%",
        },
        "imageGCHighThresholdPercent": 98,
        "imageGCLowThresholdPercent": 95,
        "serializeImagePulls": False,
        "registerNode": True,
        "maxPods": 250,
        "containerRuntimeEndpoint": f"unix://{layout.containerd_socket}",
        "staticPodPath": "",
        "syncFrequency": "10s",
        "fileCheckFrequency": "20s",
        "nodeStatusUpdateFrequency": "10s",
        "shutdownGracePeriod": "0s",
    }


def kube_proxy_config(kubeconfig: Path, *, node_name: str, healthz_port: int, metrics_port: int) -> dict[str, Any]:
    """kube-proxy in iptables mode; it leaves the host's conntrack sysctls alone."""
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "mode": "iptables",
        "clusterCIDR": POD_CIDR,
        "hostnameOverride": node_name,
        "bindAddress": NODE_IP,
        "healthzBindAddress": f"127.0.0.1:{healthz_port}",
        "metricsBindAddress": f"127.0.0.1:{metrics_port}",
        "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
        "detectLocalMode": "ClusterCIDR",
    }


def corefile(kubeconfig: Path, *, health_port: int, ready_port: int) -> str:
    """CoreDNS serving the cluster domain from the API server, on the node's bridge address.

    Only the cluster's zones are served: names outside the cluster do not resolve in pods.
    """
    return f"""\
{CLUSTER_DOMAIN}:53 in-addr.arpa:53 ip6.arpa:53 {{
    bind {NODE_IP}
    errors
    health 127.0.0.1:{health_port}
    ready 127.0.0.1:{ready_port}
    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
        kubeconfig {kubeconfig}
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }}
    cache 5
}}
"""


def registry_config(storage: Path, port: int) -> dict[str, Any]:
    """The distribution registry's configuration: filesystem storage, plain HTTP on loopback."""
    return {
        "version": 0.1,
        "log": {"level": "warn"},
        "storage": {"filesystem": {"rootdirectory": str(storage)}, "delete": {"enabled": True}},
        "http": {"addr": f"127.0.0.1:{port}", "headers": {"X-Content-Type-Options": ["nosniff"]}},
    }


def guard_rules() -> list[list[str]]:
    """iptables rules of the guard chain: pods reach pods and the node, nothing else."""
    return [
        ["-A", GUARD_CHAIN, "-s", POD_CIDR, "-d", POD_CIDR, "-j", "RETURN"],
        ["-A", GUARD_CHAIN, "-s", POD_CIDR, "-j", "DROP"],
    ]


def write_configs(layout: NodeLayout, files: dict[Path, str]) -> None:
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


# -- host network ----------------------------------------------------------------------------------


def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(argv), capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise OSError(f"{' '.join(argv)}: {(proc.stderr or proc.stdout).strip()}")
    return proc


def _sysctl(name: str, value: str) -> None:
    Path("/proc/sys", *name.split(".")).write_text(value)


def setup_network() -> None:
    """The bridge with the node's address, forwarding, bridged traffic through iptables, the guard."""
    if _run("ip", "link", "show", BRIDGE, check=False).returncode != 0:
        _run("ip", "link", "add", BRIDGE, "type", "bridge")
    addresses = _run("ip", "-o", "-4", "addr", "show", "dev", BRIDGE).stdout
    if f" {NODE_IP}/" not in addresses:
        _run("ip", "addr", "add", f"{NODE_IP}/16", "dev", BRIDGE)
    _run("ip", "link", "set", BRIDGE, "up")
    _sysctl("net.ipv4.ip_forward", "1")
    _sysctl("net.bridge.bridge-nf-call-iptables", "1")
    _run("iptables", "-w", "-N", GUARD_CHAIN, check=False)
    _run("iptables", "-w", "-F", GUARD_CHAIN)
    for rule in guard_rules():
        _run("iptables", "-w", *rule)
    if _run("iptables", "-w", "-C", "FORWARD", "-j", GUARD_CHAIN, check=False).returncode != 0:
        _run("iptables", "-w", "-I", "FORWARD", "1", "-j", GUARD_CHAIN)


def teardown_network(kube_proxy: Path | None) -> None:
    """Remove what setup_network and kube-proxy added; absent pieces are fine."""
    if kube_proxy is not None and kube_proxy.exists():
        _run(str(kube_proxy), "--cleanup", check=False)
    _run("iptables", "-w", "-D", "FORWARD", "-j", GUARD_CHAIN, check=False)
    _run("iptables", "-w", "-F", GUARD_CHAIN, check=False)
    _run("iptables", "-w", "-X", GUARD_CHAIN, check=False)
    for iptables in ("iptables", "ip6tables"):
        for table, chains in KUBELET_CHAINS.items():
            for chain in chains:
                for parent in ("INPUT", "OUTPUT", "FORWARD"):
                    while _run(iptables, "-w", "-t", table, "-D", parent, "-j", chain, check=False).returncode == 0:
                        pass
                _run(iptables, "-w", "-t", table, "-F", chain, check=False)
                _run(iptables, "-w", "-t", table, "-X", chain, check=False)
    _run("ip", "link", "delete", BRIDGE, check=False)


# -- clean-up of containers and mounts --------------------------------------------------------------


def _processes_using(path: str) -> list[int]:
    """Pids whose executable is `path` (the node's shims, for example)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            if os.readlink(entry / "exe") == path:
                pids.append(int(entry.name))
    return pids


def containers(layout: NodeLayout, runc: Path) -> list[tuple[Path, str]]:
    """(runc root, container id) of every container runc knows under this node's root."""
    if not layout.runc_root.exists() or not runc.exists():
        return []
    found = []
    for root in [layout.runc_root, *[p for p in layout.runc_root.iterdir() if p.is_dir()]]:
        listing = _run(str(runc), "--root", str(root), "list", "-q", check=False)
        found += [(root, container) for container in listing.stdout.split()]
    return found


def stop_containers(layout: NodeLayout, runc: Path, shim: Path) -> None:
    """Kill every container runc knows under this node's root, then the shims; nothing keeps running."""
    for root, container in containers(layout, runc):
        _run(str(runc), "--root", str(root), "delete", "--force", container, check=False)
    if shim.exists():
        for pid in _processes_using(str(shim.resolve())):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while _processes_using(str(shim.resolve())) and time.monotonic() < deadline:
            time.sleep(0.05)


def mounts_under(*roots: Path) -> list[str]:
    """Mount points at or below any of `roots`, deepest first."""
    prefixes = [str(root).rstrip("/") for root in roots]
    points = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].encode().decode("unicode_escape")
            if any(point == p or point.startswith(p + "/") for p in prefixes):
                points.append(point)
    return sorted(set(points), key=lambda p: (-p.count("/"), p))


def unmount_all(*roots: Path) -> None:
    """Unmount everything below `roots` (bind mounts, overlays, tmpfs, network namespaces)."""
    for _ in range(3):
        points = mounts_under(*roots)
        if not points:
            return
        for point in points:
            _run("umount", "--lazy", point, check=False)
