"""pytest plugin: the real local Kubernetes cluster (hack/localcluster), one namespace per test.

Fixtures:
    cluster    (session)  `LocalCluster`: the machine's local cluster in .local/cluster (a real node:
                          kubelet, containerd, kube-proxy, CoreDNS).  One machine holds one node, so a
                          cluster already running there (`make cluster-up`) is used as it is and left
                          running; otherwise the session starts one and stops it at the end:
                            .kubeconfig        Path of the admin kubeconfig (system:masters)
                            .api_url           "https://127.0.0.1:<port>"
                            .ca_path           Path of the cluster CA certificate
                            .state_dir         Path of the cluster's state directory (logs/ inside)
                            .node_name         name of the one Node
                            .registry          host:port of the registry the node pulls every image from
                            .kubectl(*args, input=None, check=True, timeout=120) -> CompletedProcess[str]
                            .api_client()      a new admin kubernetes.client.ApiClient (close it, or `with`)
                            .kubeconfig_for_service_account(namespace, name, path, expiration_seconds=3600)
                                               -> path of a kubeconfig holding a TokenRequest token
                            .log_tail(lines=30) the tail of every component's log
    namespace  (function) name of a fresh namespace labelled pod-security.kubernetes.io/enforce=restricted,
                          whose `default` ServiceAccount exists; deleted after the test. Another level:
                          `@pytest.mark.pod_security("baseline")` (or "privileged"; None for no label),
                          or indirect parametrization with the level.

Helper: `wait_until(what, probe, timeout)` polls until `probe()` returns something truthy.

If the cluster cannot start, every test that needs it FAILS with the reason and the component logs'
tails -- it never skips.
"""

from __future__ import annotations

import re
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

from localcluster import pki
from localcluster.cluster import DEFAULT_STATE_DIR, Cluster, ClusterError

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

T = TypeVar("T")
RESTRICTED = "restricted"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "pod_security(level): Pod Security level enforced on the `namespace` fixture "
        "(restricted by default; None for no label)",
    )


def wait_until(what: str, probe: Callable[[], T | None], timeout: float = 60.0, interval: float = 0.2) -> T:
    """Poll `probe` until it returns something truthy; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


class LocalCluster:
    """The session's running cluster, as the tests see it."""

    def __init__(self, cluster: Cluster) -> None:
        self._cluster = cluster
        self.kubeconfig: Path = cluster.admin_kubeconfig
        self.api_url: str = cluster.api_url
        self.ca_path: Path = cluster.ca_path
        self.state_dir: Path = cluster.state_dir
        self.node_name: str = cluster.node_name
        self.registry: str = cluster.registry
        self.kubectl_path: Path = cluster.bin_dir / "kubectl"

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl from .local/bin as admin; fail the test with stderr when check and it fails."""
        proc = subprocess.run(
            [str(self.kubectl_path), f"--kubeconfig={self.kubeconfig}", *args],
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
        return proc

    def api_client(self) -> ApiClient:
        """A new admin client of the official Kubernetes library (the caller closes it)."""
        from kubernetes import client

        configuration = client.Configuration()
        configuration.host = self.api_url
        configuration.ssl_ca_cert = str(self.ca_path)
        configuration.cert_file = str(self._cluster.pki.cert("admin"))
        configuration.key_file = str(self._cluster.pki.key("admin"))
        return client.ApiClient(configuration)

    def kubeconfig_for_service_account(
        self, namespace: str, name: str, path: Path | str, expiration_seconds: int = 3600
    ) -> Path:
        """Write a kubeconfig authenticating as ServiceAccount namespace/name (a TokenRequest token)."""
        from kubernetes import client

        request = client.AuthenticationV1TokenRequest(
            spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=expiration_seconds)
        )
        with self.api_client() as api:
            answer = client.CoreV1Api(api).create_namespaced_service_account_token(name, namespace, request)
        return pki.write_kubeconfig(
            Path(path),
            server=self.api_url,
            ca_cert=self.ca_path,
            user=f"system:serviceaccount:{namespace}:{name}",
            token=answer.status.token,
            namespace=namespace,
        )

    def log_tail(self, lines: int = 30) -> str:
        return self._cluster.log_tail(lines)

    def restart_component(self, component: str) -> None:
        """Stop one component (SIGTERM, then SIGKILL) and start it again; wait until the cluster is healthy."""
        self._cluster.restart(component)


@pytest.fixture(scope="session")
def cluster() -> Iterator[LocalCluster]:
    """The local cluster (fails the test, with the component logs, when it can't start)."""
    underlying = Cluster(DEFAULT_STATE_DIR, log=lambda line: print(line, flush=True))
    if all(underlying.running().values()):
        try:
            underlying.wait_healthy(60)
        except ClusterError as error:
            pytest.fail(f"the running local cluster is unhealthy: {error}\n{underlying.log_tail(25)}", pytrace=False)
        yield LocalCluster(underlying)
        return
    try:
        # A cold start builds the node's images from Debian's packages first (a few minutes, once).
        underlying.start(timeout=600)
    except ClusterError as error:
        tail = underlying.log_tail(25)
        underlying.stop()
        pytest.fail(f"local cluster did not start: {error}\n{tail}", pytrace=False)
    try:
        yield LocalCluster(underlying)
    finally:
        underlying.stop()


def _namespace_name(node: pytest.Item) -> str:
    base = re.sub(r"[^a-z0-9-]+", "-", node.name.lower()).strip("-")[:40].strip("-")
    return f"{base or 't'}-{uuid.uuid4().hex[:5]}"


@pytest.fixture
def namespace(cluster: LocalCluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace enforcing the restricted Pod Security Standard (unless asked otherwise)."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    level: Any = RESTRICTED
    marker = request.node.get_closest_marker("pod_security")
    if marker is not None:
        level = marker.args[0] if marker.args else None
    if hasattr(request, "param"):
        level = request.param
    labels = {}
    if level is not None:
        labels = {
            "pod-security.kubernetes.io/enforce": str(level),
            "pod-security.kubernetes.io/enforce-version": "latest",
        }
    name = _namespace_name(request.node)
    with cluster.api_client() as api:
        core = client.CoreV1Api(api)
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels=labels)))

        def default_service_account() -> bool:
            try:
                core.read_namespaced_service_account("default", name)
            except ApiException as error:
                if error.status == 404:
                    return False
                raise
            return True

        wait_until(f"ServiceAccount {name}/default", default_service_account, timeout=30, interval=0.1)
    try:
        yield name
    finally:
        with cluster.api_client() as api:
            try:
                client.CoreV1Api(api).delete_namespace(name, propagation_policy="Background")
            except ApiException as error:
                if error.status != 404:
                    raise
