"""A small async facade over the official Kubernetes client, for exactly what Packgate does.

Owns: configuration loading, the calls on Packs, Jobs, Pods, ConfigMaps and pod logs, their
request timeout (every call passes `_request_timeout`: connect, then read -- for a log stream the
wait for each next chunk -- so a stalled call gives its thread back), and error wrapping: every
failure, a timeout included, leaves as a one-line KubernetesError (Conflict for 409), a temporary
error, counted in packgate_kubernetes_errors by `error_kind`.  Must not: decide anything (the
planner does) or hold state between calls beyond the API client itself.
"""

from __future__ import annotations

import asyncio
import codecs
import json
from collections.abc import Callable, Generator
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError, MaxRetryError, NewConnectionError
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from packgate import metrics
from packgate.api.spec import GROUP, PLURAL, VERSION
from packgate.errors import Conflict, KubernetesError
from packgate.parsing import LineSplitter

T = TypeVar("T")
READ_CHUNK = 64 * 1024
DEFAULT_TIMEOUT_SECONDS = 60.0
"""PACKGATE_API_TIMEOUT_SECONDS' default."""
CONNECT_TIMEOUT_SECONDS = 10.0
"""The most a call waits for its connection, whatever its read timeout."""


def request_timeout(seconds: float) -> tuple[float, float]:
    """The `_request_timeout` of every call, (connect, read): the connection within `seconds` but
    at most CONNECT_TIMEOUT_SECONDS, then `seconds` for each read (of a streamed log: for each
    next chunk, however long the whole log takes)."""
    return (min(CONNECT_TIMEOUT_SECONDS, seconds), seconds)


def _timed_out(exc: BaseException) -> bool:
    """Whether `exc` is a connect or read timeout (urllib3's own, the socket's, or one that
    exhausted urllib3's retries)."""
    if isinstance(exc, MaxRetryError) and exc.reason is not None:
        exc = exc.reason
    if isinstance(exc, NewConnectionError):  # a ConnectTimeoutError only by inheritance: refused, unreachable
        return False
    return isinstance(exc, Urllib3Timeout | TimeoutError)


def load_api_client(kubeconfig: str | None = None, *, connections: int | None = None) -> k8s.ApiClient:
    """In-cluster configuration when running in a pod, else the kubeconfig ($KUBECONFIG).

    `connections`: how many HTTP connections the client keeps for reuse.  Its default is five per
    CPU; with more threads calling at once, urllib3 closes each connection over that number after
    its call ("Connection pool is full, discarding connection") and the next call opens a new one,
    TLS handshake included.  The operator passes its thread count."""
    configuration = k8s.Configuration()
    try:
        if kubeconfig is None:
            try:
                k8s_config.load_incluster_config(client_configuration=configuration)
            except k8s_config.ConfigException:
                k8s_config.load_kube_config(client_configuration=configuration)
        else:
            k8s_config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    except (k8s_config.ConfigException, OSError) as exc:
        raise KubernetesError(f"cannot load Kubernetes credentials: {exc}") from exc
    if connections is not None:
        configuration.connection_pool_maxsize = connections
    return k8s.ApiClient(configuration)


def _one_line(text: str) -> str:
    return " ".join(text.split())


def error_kind(exc: BaseException) -> str:
    """The `kind` label of packgate_kubernetes_errors for a failed call: timeout, conflict (409),
    not_found (404, where absence is an error), forbidden (401, 403), server (5xx, 429), other."""
    if isinstance(exc, ApiException):
        status = exc.status or 0
        if status == 409:
            return "conflict"
        if status == 404:
            return "not_found"
        if status in (401, 403):
            return "forbidden"
        if status >= 500 or status == 429:
            return "server"
        return "other"
    return "timeout" if _timed_out(exc) else "other"


def _failed(exc: Exception, what: str, timeout: tuple[float, float] | None = None) -> KubernetesError:
    """Count a failed call by its kind, then wrap it (`_wrap`)."""
    metrics.KUBERNETES_ERRORS.labels(kind=error_kind(exc)).inc()
    return _wrap(exc, what, timeout)


def _wrap(exc: Exception, what: str, timeout: tuple[float, float] | None = None) -> KubernetesError:
    """The KubernetesError (Conflict for 409) of a failed call, one line; `timeout` is the call's
    (connect, read), named when it ran out."""
    if isinstance(exc, ApiException):
        reason = _one_line(exc.reason or "")
        if exc.status == 409:
            return Conflict(f"{what}: conflict: {reason}")
        return KubernetesError(f"{what}: {exc.status} {reason}".strip())
    if _timed_out(exc):
        within = f" within {timeout[1]:g}s" if timeout is not None else ""
        return KubernetesError(f"{what}: the API server did not answer{within} (timed out)")
    return KubernetesError(_one_line(f"{what}: {exc}"))


@dataclass(frozen=True)
class Listed:
    """Objects as the API server listed them: (namespace, name) pairs."""

    jobs: frozenset[tuple[str, str]]
    config_maps: frozenset[tuple[str, str]]


def _json_body(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """`fn`'s response body, decoded as JSON (blocking: called in a thread)."""
    return json.loads(fn(*args, _preload_content=False, **kwargs).data)


def _names(listing: Any) -> set[tuple[str, str]]:
    """(namespace, name) of every item of a list response."""
    return {((i.get("metadata") or {}).get("namespace", ""), i["metadata"]["name"]) for i in listing.get("items") or []}


class Kube:
    """The API calls Packgate makes.  Every method is async (blocking work runs in a thread, the
    loop's default executor) except `stream_log_lines`, which is called from a thread; every call
    has the request timeout `request_timeout(timeout)`."""

    def __init__(self, api_client: k8s.ApiClient, *, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> None:
        self.api_client = api_client
        self.core = k8s.CoreV1Api(api_client)
        self.batch = k8s.BatchV1Api(api_client)
        self.custom = k8s.CustomObjectsApi(api_client)
        self.timeout = request_timeout(timeout)

    async def _call(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`fn(*args, **kwargs)` in a thread, with the request timeout; failures wrapped."""
        try:
            return await asyncio.to_thread(partial(fn, *args, _request_timeout=self.timeout, **kwargs))
        except (ApiException, HTTPError, OSError) as exc:
            raise _failed(exc, what, self.timeout) from exc

    async def _call_unless_absent(self, what: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
        """Like `_call`, but an object that does not exist (404) gives None."""
        try:
            return await asyncio.to_thread(partial(fn, *args, _request_timeout=self.timeout, **kwargs))
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise _failed(exc, what, self.timeout) from exc
        except (HTTPError, OSError) as exc:
            raise _failed(exc, what, self.timeout) from exc

    async def _call_json(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Like `_call`, with the response's JSON decoded in the thread instead of into the
        client's typed models (a list of many objects decodes many times faster)."""
        try:
            return await asyncio.to_thread(partial(_json_body, fn, *args, _request_timeout=self.timeout, **kwargs))
        except (ApiException, HTTPError, OSError, ValueError) as exc:
            raise _failed(exc, what, self.timeout) from exc

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

    async def patch_pack_status(
        self, namespace: str, name: str, status: dict[str, Any], *, resource_version: str = ""
    ) -> str:
        """Merge-patch the status subresource (nulls remove fields).  With `resource_version`, only
        if the Pack is still at that version (Conflict otherwise: the caller's view is stale).
        Returns the Pack's resourceVersion after the write."""
        body: dict[str, Any] = {"status": status}
        if resource_version:
            body["metadata"] = {"resourceVersion": resource_version}
        obj = await self._call(
            f"patch status of Pack {namespace}/{name}",
            self.custom.patch_namespaced_custom_object_status,
            GROUP,
            VERSION,
            namespace,
            PLURAL,
            name,
            body,
        )
        return str(((obj or {}).get("metadata") or {}).get("resourceVersion") or "")

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

    async def create_job(self, manifest: dict[str, Any]) -> bool:
        """Create a Job; False when it already exists (it is adopted, never created twice)."""
        namespace = manifest["metadata"]["namespace"]
        try:
            await self._call(
                f"create Job {namespace}/{manifest['metadata']['name']}",
                self.batch.create_namespaced_job,
                namespace,
                manifest,
            )
        except Conflict:
            return False
        return True

    async def get_job(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The Job, or None when it does not exist."""
        obj = await self._call_unless_absent(
            f"get Job {namespace}/{name}", self.batch.read_namespaced_job, name, namespace
        )
        return None if obj is None else dict(self._plain(obj))

    async def delete_job(self, namespace: str, name: str) -> None:
        """Delete a Job and, in the background, its pods; a Job already gone is fine."""
        await self._call_unless_absent(
            f"delete Job {namespace}/{name}",
            self.batch.delete_namespaced_job,
            name,
            namespace,
            propagation_policy="Background",
        )

    async def listed_names(self, namespaces: list[str], label_selector: str) -> Listed:
        """The (namespace, name) of every Job matching `label_selector` and of every ConfigMap, as
        the API server lists them now (all namespaces when the list is empty): what a cache filled
        from the watches must hold."""
        jobs: set[tuple[str, str]] = set()
        config_maps: set[tuple[str, str]] = set()
        for ns in namespaces or [""]:
            if ns:
                job_list = await self._call_json(
                    f"list Jobs in {ns}", self.batch.list_namespaced_job, ns, label_selector=label_selector
                )
                cm_list = await self._call_json(f"list ConfigMaps in {ns}", self.core.list_namespaced_config_map, ns)
            else:
                job_list = await self._call_json(
                    "list Jobs", self.batch.list_job_for_all_namespaces, label_selector=label_selector
                )
                cm_list = await self._call_json("list ConfigMaps", self.core.list_config_map_for_all_namespaces)
            jobs |= _names(job_list)
            config_maps |= _names(cm_list)
        return Listed(jobs=frozenset(jobs), config_maps=frozenset(config_maps))

    # -- Logs ------------------------------------------------------------------------------------

    def stream_log_lines(self, namespace: str, pod: str, container: str) -> Generator[str, None, None]:
        """The container's whole log as the API server serves it (after a rotation, only what the
        kubelet still has), line by line: each complete line ends with "\\n" (the last one gets
        one too), and a line longer than `LINE_LIMIT` characters comes in pieces of that size
        without "\\n" (`LineSplitter`; `Collector.feed_piece` takes both).  Never whole in
        memory; only each new chunk is searched for line ends, so the time is linear in the log's
        length.  A stream that sends nothing for the read timeout ends in KubernetesError, however
        long the whole log has taken.  Stop early by closing the generator (`contextlib.closing`):
        the connection is then dropped rather than read to the end.  Blocking: call it from a
        thread."""
        what = f"read log of pod {namespace}/{pod}"
        try:
            response = self.core.read_namespaced_pod_log(
                pod, namespace, container=container, _preload_content=False, _request_timeout=self.timeout
            )
        except (ApiException, HTTPError, OSError) as exc:
            raise _failed(exc, what, self.timeout) from exc
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
            raise _failed(exc, what, self.timeout) from exc
        finally:
            if not finished:
                response.close()  # stopped early: the rest of the log is not read into the pool
            response.release_conn()
