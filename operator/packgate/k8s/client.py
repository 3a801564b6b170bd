"""A small async facade over the official Kubernetes client, for exactly what Packgate does.

Owns: configuration loading, the calls on Packs, Jobs, Pods, ConfigMaps and pod logs, and error
wrapping.  Must not: decide anything (the planner does) or hold state between calls beyond the
API client itself.
"""

from __future__ import annotations

import asyncio
import codecs
from collections.abc import Callable, Generator
from functools import partial
from typing import Any, TypeVar

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from packgate.api.spec import GROUP, PLURAL, VERSION
from packgate.errors import Conflict, KubernetesError
from packgate.parsing import LineSplitter
from packgate.reconcile.render import LABEL_MANAGED_BY, LABEL_PACK_UID, MANAGED_BY

T = TypeVar("T")
READ_CHUNK = 64 * 1024


def load_api_client(kubeconfig: str | None = None) -> k8s.ApiClient:
    """In-cluster configuration when running in a pod, else the kubeconfig ($KUBECONFIG)."""
    try:
        if kubeconfig is None:
            try:
                k8s_config.load_incluster_config()
                return k8s.ApiClient()
            except k8s_config.ConfigException:
                pass
        configuration = k8s.Configuration()
        k8s_config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
        return k8s.ApiClient(configuration)
    except (k8s_config.ConfigException, OSError) as exc:
        raise KubernetesError(f"cannot load Kubernetes credentials: {exc}") from exc


def _wrap(exc: Exception, what: str) -> KubernetesError:
    if isinstance(exc, ApiException):
        reason = exc.reason or ""
        if exc.status == 409:
            return Conflict(f"{what}: conflict: {reason}")
        return KubernetesError(f"{what}: {exc.status} {reason}".strip())
    return KubernetesError(f"{what}: {exc}")


class Kube:
    """The API calls Packgate makes.  Every method is async; blocking work runs in a thread."""

    def __init__(self, api_client: k8s.ApiClient) -> None:
        self.api_client = api_client
        self.core = k8s.CoreV1Api(api_client)
        self.batch = k8s.BatchV1Api(api_client)
        self.custom = k8s.CustomObjectsApi(api_client)

    async def _call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            return await asyncio.to_thread(partial(fn, *args, **kwargs))
        except (ApiException, HTTPError, OSError) as exc:
            raise _wrap(exc, what) from exc

    async def _call_unless_absent(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        """Like `_call`, but an object that does not exist (404) gives None."""
        try:
            return await asyncio.to_thread(partial(fn, *args, **kwargs))
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise _wrap(exc, what) from exc
        except (HTTPError, OSError) as exc:
            raise _wrap(exc, what) from exc

    def _plain(self, obj: Any) -> Any:
        return self.api_client.sanitize_for_serialization(obj)

    # -- Packs ---------------------------------------------------------------------------------

    async def get_pack(self, namespace: str, name: str) -> dict[str, Any] | None:
        obj = await self._call_unless_absent(
            f"get Pack {namespace}/{name}",
            self.custom.get_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            PLURAL,
            name,
        )
        return None if obj is None else dict(obj)

    async def patch_pack_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        """Merge-patch the status subresource (nulls remove fields)."""
        await self._call(
            f"patch status of Pack {namespace}/{name}",
            self.custom.patch_namespaced_custom_object_status,
            GROUP,
            VERSION,
            namespace,
            PLURAL,
            name,
            {"status": status},
        )

    async def patch_pack_annotations(self, namespace: str, name: str, annotations: dict[str, str]) -> None:
        await self._call(
            f"annotate Pack {namespace}/{name}",
            self.custom.patch_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            PLURAL,
            name,
            {"metadata": {"annotations": annotations}},
        )

    async def list_packs(self, namespaces: list[str]) -> list[dict[str, Any]]:
        """Packs in the given namespaces (all namespaces when the list is empty)."""
        if not namespaces:
            result = await self._call("list Packs", self.custom.list_cluster_custom_object, GROUP, VERSION, PLURAL)
            return list(result.get("items", []))
        items: list[dict[str, Any]] = []
        for ns in namespaces:
            result = await self._call(
                f"list Packs in {ns}", self.custom.list_namespaced_custom_object, GROUP, VERSION, ns, PLURAL
            )
            items.extend(result.get("items", []))
        return items

    # -- Jobs and Pods ---------------------------------------------------------------------------

    async def list_pack_jobs(self, namespace: str, pack_uid: str) -> list[dict[str, Any]]:
        result = await self._call(
            f"list Jobs in {namespace}",
            self.batch.list_namespaced_job,
            namespace,
            label_selector=f"{LABEL_PACK_UID}={pack_uid}",
        )
        return list(self._plain(result).get("items", []))

    async def list_pack_pods(self, namespace: str, pack_uid: str) -> list[dict[str, Any]]:
        result = await self._call(
            f"list Pods in {namespace}",
            self.core.list_namespaced_pod,
            namespace,
            label_selector=f"{LABEL_PACK_UID}={pack_uid}",
        )
        return list(self._plain(result).get("items", []))

    async def list_managed_jobs(self, namespaces: list[str]) -> list[dict[str, Any]]:
        """Every test Job Packgate manages, for the concurrency limits."""
        selector = f"{LABEL_MANAGED_BY}={MANAGED_BY}"
        if not namespaces:
            result = await self._call("list test Jobs", self.batch.list_job_for_all_namespaces, label_selector=selector)
            return list(self._plain(result).get("items", []))
        items: list[dict[str, Any]] = []
        for ns in namespaces:
            result = await self._call(
                f"list test Jobs in {ns}", self.batch.list_namespaced_job, ns, label_selector=selector
            )
            items.extend(self._plain(result).get("items", []))
        return items

    async def create_job(self, manifest: dict[str, Any]) -> bool:
        """Create a Job; False when it already exists (it is adopted, never created twice)."""
        namespace = manifest["metadata"]["namespace"]
        try:
            await asyncio.to_thread(self.batch.create_namespaced_job, namespace, manifest)
        except ApiException as exc:
            if exc.status == 409:
                return False
            raise _wrap(exc, f"create Job {namespace}/{manifest['metadata']['name']}") from exc
        except (HTTPError, OSError) as exc:
            raise _wrap(exc, f"create Job {namespace}/{manifest['metadata']['name']}") from exc
        return True

    async def delete_job(self, namespace: str, name: str) -> None:
        """Delete a Job and, in the background, its pods; a Job already gone is fine."""
        await self._call_unless_absent(
            f"delete Job {namespace}/{name}",
            self.batch.delete_namespaced_job,
            name,
            namespace,
            propagation_policy="Background",
        )

    # -- ConfigMaps ------------------------------------------------------------------------------

    async def get_config_map(self, namespace: str, name: str) -> dict[str, Any] | None:
        obj = await self._call_unless_absent(
            f"get ConfigMap {namespace}/{name}", self.core.read_namespaced_config_map, name, namespace
        )
        return None if obj is None else dict(self._plain(obj))

    # -- Logs ------------------------------------------------------------------------------------

    def stream_log_lines(self, namespace: str, pod: str, container: str) -> Generator[str, None, None]:
        """The container's whole log as the API server serves it (after a rotation, only what the
        kubelet still has), line by line: each complete line ends with "\\n" (the last one gets
        one too), and a line longer than `LINE_LIMIT` characters comes in pieces of that size
        without "\\n" (`LineSplitter`; `Collector.feed_piece` takes both).  Never whole in
        memory; only each new chunk is searched for line ends, so the time is linear in the log's
        length.  Stop early by closing the generator (`contextlib.closing`): the connection is then
        dropped rather than read to the end.  Blocking: call it from a thread."""
        try:
            response = self.core.read_namespaced_pod_log(pod, namespace, container=container, _preload_content=False)
        except (ApiException, HTTPError, OSError) as exc:
            raise _wrap(exc, f"read log of pod {namespace}/{pod}") from exc
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        splitter = LineSplitter()
        finished = False
        try:
            for chunk in response.stream(READ_CHUNK):
                yield from splitter.split(decoder.decode(chunk))
            yield from splitter.split(decoder.decode(b"", final=True))
            yield from splitter.close()
            finished = True
        except (HTTPError, OSError) as exc:
            raise _wrap(exc, f"read log of pod {namespace}/{pod}") from exc
        finally:
            if not finished:
                response.close()  # stopped early: the rest of the log is not read into the pool
            response.release_conn()
