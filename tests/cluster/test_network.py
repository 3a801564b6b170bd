"""Pods on the real node's network: cluster DNS (CoreDNS) and Services (kube-proxy)."""

from __future__ import annotations

import pytest
from kubernetes import client

from cluster.helpers import container, pod, pod_phase, pod_spec
from plugins.cluster import LocalCluster, wait_until

pytestmark = pytest.mark.cluster

SERVER = "import http.server; http.server.test(http.server.SimpleHTTPRequestHandler, port=8080, bind='0.0.0.0')"


def test_a_pod_reaches_a_service_by_its_dns_names(namespace: str, core: client.CoreV1Api) -> None:
    """`web`, `web.NS` and `web.NS.svc.cluster.local` resolve to the ClusterIP, which reaches the server pod."""
    server = container("server", "", image="python:3.13-slim", workingDir="/tmp")
    server["command"] = ["sh", "-c", f'echo served-by-packgate > index.html && exec python3 -c "{SERVER}"']
    server["readinessProbe"] = {"tcpSocket": {"port": 8080}, "periodSeconds": 1}
    body = pod("web", pod_spec(server))
    body["metadata"]["labels"] = {"app": "web"}
    core.create_namespaced_pod(namespace, body)
    service = core.create_namespaced_service(
        namespace,
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
        },
    )

    def ready_endpoint() -> bool:
        slices = (
            client.DiscoveryV1Api(core.api_client)
            .list_namespaced_endpoint_slice(namespace, label_selector="kubernetes.io/service-name=web")
            .items
        )
        return any(e.conditions.ready for s in slices for e in (s.endpoints or []))

    wait_until("the Service's endpoint to be ready", ready_endpoint, timeout=60)
    names = ["web", f"web.{namespace}", f"web.{namespace}.svc.cluster.local"]
    probe = (
        "import socket, sys, urllib.request\n"
        "for name in sys.argv[1:]:\n"
        "    print(socket.gethostbyname(name))\n"
        "    print(urllib.request.urlopen(f'http://{name}/').read().decode().strip())\n"
    )
    client_container = container("main", "", image="python:3.13-slim")
    client_container["command"] = ["python3", "-c", probe, *names]
    core.create_namespaced_pod(namespace, pod("client", pod_spec(client_container)))
    pod_phase(core, namespace, "client", {"Succeeded", "Failed"})
    log = core.read_namespaced_pod_log("client", namespace).splitlines()
    assert log == [service.spec.cluster_ip, "served-by-packgate"] * len(names)


def test_in_cluster_clients_reach_the_api_server_through_the_kubernetes_service(
    cluster: LocalCluster, namespace: str, core: client.CoreV1Api
) -> None:
    """kubernetes.default.svc resolves to the Service IP in the API server's certificate and answers."""
    probe = (
        "import ssl, urllib.request\n"
        "ca = '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt'\n"
        "context = ssl.create_default_context(cafile=ca)\n"
        "print(urllib.request.urlopen('https://kubernetes.default.svc/livez', context=context).read().decode())\n"
    )
    main = container("main", "", image="python:3.13-slim")
    main["command"] = ["python3", "-c", probe]
    core.create_namespaced_pod(namespace, pod("api", pod_spec(main)))
    assert pod_phase(core, namespace, "api", {"Succeeded", "Failed"}).status.phase == "Succeeded"
    assert core.read_namespaced_pod_log("api", namespace) == "ok\n"
