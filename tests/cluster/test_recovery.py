"""The cluster recovers from an unclean stop: every component killed, containers still running."""

from __future__ import annotations

import os
import signal

import pytest
from kubernetes import client

from cluster.helpers import container, pod, pod_phase, pod_spec
from localcluster import node as nodemod
from plugins.cluster import LocalCluster, wait_until

pytestmark = pytest.mark.cluster


def _pids(cluster: LocalCluster) -> dict[str, int]:
    run = cluster.state_dir / "run"
    return {path.stem: int(path.read_text().split()[0]) for path in run.glob("*.pid")}


def test_up_after_every_component_was_killed_cleans_up_and_starts(
    cluster: LocalCluster, namespace: str, core: client.CoreV1Api
) -> None:
    """SIGKILL every component while a pod runs: the next `up` removes the orphaned container, its mounts
    and the node's network, then brings up a healthy cluster that runs pods again."""
    core.create_namespaced_pod(namespace, pod("orphan", pod_spec(container("main", "sleep 600"))))
    pod_phase(core, namespace, "orphan", {"Running"})
    underlying = cluster._cluster
    layout = underlying.layout
    assert nodemod.mounts_under(layout.run_dir), "a running pod has mounts under the node's run directory"
    for pid in _pids(cluster).values():
        os.killpg(pid, signal.SIGKILL)
    wait_until("every component to be gone", lambda: not any(underlying.running().values()), timeout=30)
    orphans = nodemod.containers(layout, underlying.bin_dir / "runc")
    assert orphans, "the pod's containers outlive the killed node"

    underlying.start(timeout=300)

    assert nodemod.containers(layout, underlying.bin_dir / "runc") == []
    assert all(underlying.running().values())
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    core.create_namespaced_pod(namespace, pod("after", pod_spec(container("main", "echo alive"))))
    pod_phase(core, namespace, "after", {"Succeeded"}, timeout=120)
    assert core.read_namespaced_pod_log("after", namespace) == "alive\n"
