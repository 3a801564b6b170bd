"""Clients of the official Kubernetes library for the cluster tests, as the session cluster's admin."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes import client

from plugins.cluster import LocalCluster


@pytest.fixture
def api(cluster: LocalCluster) -> Iterator[client.ApiClient]:
    with cluster.api_client() as api_client:
        yield api_client


@pytest.fixture
def core(api: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api)


@pytest.fixture
def batch(api: client.ApiClient) -> client.BatchV1Api:
    return client.BatchV1Api(api)
