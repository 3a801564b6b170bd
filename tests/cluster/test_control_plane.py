"""The control plane and the node as other components see them."""

from __future__ import annotations

import datetime

import pytest
from kubernetes import client

from plugins.cluster import LocalCluster

pytestmark = pytest.mark.cluster


def test_node_is_ready_untainted_and_advertises_its_kubelet(cluster: LocalCluster, core: client.CoreV1Api) -> None:
    """The kubelet's Node is Ready, untainted, on the bridge address, runs containerd 2 and renews its Lease."""
    node = core.read_node(cluster.node_name)
    ready = next(c for c in node.status.conditions if c.type == "Ready")
    assert (ready.status, ready.reason) == ("True", "KubeletReady")
    assert node.spec.taints is None
    assert ("InternalIP", "10.88.0.1") in [(a.type, a.address) for a in node.status.addresses]
    assert node.status.node_info.container_runtime_version.startswith("containerd://2.")
    assert node.status.node_info.kubelet_version == "v1.37.1"
    assert node.status.daemon_endpoints.kubelet_endpoint.port == cluster._cluster.ports.kubelet
    with cluster.api_client() as api:
        lease = client.CoordinationV1Api(api).read_namespaced_lease(cluster.node_name, "kube-node-lease")
    age = datetime.datetime.now(datetime.UTC) - lease.spec.renew_time
    assert lease.spec.holder_identity == cluster.node_name
    assert age < datetime.timedelta(seconds=30)


def test_node_identity_is_confined_by_node_authorizer(cluster: LocalCluster) -> None:
    """The kubelet's own credentials cannot read secrets its pods do not reference (Node authorizer)."""
    node_kubeconfig = cluster.state_dir / "kubeconfigs" / "node.kubeconfig"
    proc = cluster.kubectl(f"--kubeconfig={node_kubeconfig}", "get", "secrets", "-n", "kube-system", check=False)
    assert proc.returncode != 0
    assert 'User "system:node:' in proc.stderr and "forbidden" in proc.stderr.lower()
