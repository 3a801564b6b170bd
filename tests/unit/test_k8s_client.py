"""Unit tests of packgate.k8s.client on plain data: the request timeout every call carries, read off
the module's own source (an ast, no API server), and how failures -- timeouts first -- become
one-line KubernetesErrors that are retried."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest
import yaml
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError, ProtocolError, ReadTimeoutError

from packgate.errors import RETRY_SECONDS, Conflict, KubernetesError, retry_delay
from packgate.k8s import client
from packgate.k8s.client import CONNECT_TIMEOUT_SECONDS, DEFAULT_TIMEOUT_SECONDS, _wrap, request_timeout
from packgate.settings import Settings

pytestmark = pytest.mark.unit

APIS = {"core", "batch", "custom"}
CALLERS = {"_call", "_call_unless_absent", "_call_json"}
LOG = "read log of pod automation/core-shell-6e5176-x7k2p"


def _kube() -> ast.ClassDef:
    tree = ast.parse(inspect.getsource(client))
    return next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Kube")


def _is_api_method(node: ast.AST) -> bool:
    """`self.core.X`, `self.batch.X` or `self.custom.X`: a method of the official client."""
    return (
        isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Attribute)
        and node.value.attr in APIS
        and isinstance(node.value.value, ast.Name)
        and node.value.value.id == "self"
    )


def _passes_timeout(call: ast.Call) -> bool:
    return any(k.arg == "_request_timeout" and ast.unparse(k.value) == "self.timeout" for k in call.keywords)


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        pytest.param(60, (10, 60), id="default: connect within 10 s, 60 s per read"),
        pytest.param(3, (3, 3), id="short: connect within the timeout itself"),
        pytest.param(0.5, (0.5, 0.5), id="fractions"),
        pytest.param(600, (10, 600), id="long"),
    ],
)
def test_request_timeout_is_connect_then_read(seconds: float, expected: tuple[float, float]) -> None:
    """(connect, read): the connection within the timeout but at most CONNECT_TIMEOUT_SECONDS, then the
    timeout for every read."""
    assert request_timeout(seconds) == expected


def test_the_setting_and_the_client_default_agree() -> None:
    """PACKGATE_API_TIMEOUT_SECONDS defaults to the client's own default, 60 s, connect at most 10 s."""
    assert (Settings().api_timeout_seconds, DEFAULT_TIMEOUT_SECONDS, CONNECT_TIMEOUT_SECONDS) == (60, 60, 10)


def test_every_api_call_carries_the_request_timeout() -> None:
    """Every method of the official client Kube uses is either called with
    `_request_timeout=self.timeout` or handed to `_call`/`_call_unless_absent`, which add it; and
    nothing else in Kube runs a thread."""
    kube = _kube()
    parents = {child: parent for parent in ast.walk(kube) for child in ast.iter_child_nodes(parent)}
    uses: dict[str, str] = {}
    for node in ast.walk(kube):
        if not _is_api_method(node):
            continue
        assert isinstance(node, ast.Attribute)
        parent = parents[node]
        name = ast.unparse(node)
        if isinstance(parent, ast.Call) and parent.func is node:
            uses[name] = "direct, with timeout" if _passes_timeout(parent) else "direct, NO TIMEOUT"
        elif (
            isinstance(parent, ast.Call)
            and isinstance(parent.func, ast.Attribute)
            and parent.func.attr in CALLERS
            and parent.args[1:2] == [node]
        ):
            uses[name] = f"via {parent.func.attr}"
        else:
            uses[name] = f"used otherwise, line {node.lineno}"
    assert uses == {
        "self.custom.get_namespaced_custom_object": "via _call_unless_absent",
        "self.custom.patch_namespaced_custom_object_status": "via _call",
        "self.custom.patch_namespaced_custom_object": "via _call",
        "self.custom.list_cluster_custom_object": "via _call",
        "self.custom.list_namespaced_custom_object": "via _call",
        "self.batch.create_namespaced_job": "via _call",
        "self.batch.delete_namespaced_job": "via _call_unless_absent",
        "self.batch.read_namespaced_job": "via _call_unless_absent",
        "self.core.read_namespaced_pod_log": "direct, with timeout",
        "self.batch.list_namespaced_job": "via _call_json",
        "self.batch.list_job_for_all_namespaces": "via _call_json",
        "self.core.list_namespaced_config_map": "via _call_json",
        "self.core.list_config_map_for_all_namespaces": "via _call_json",
    }
    methods = {f.name: f for f in kube.body if isinstance(f, ast.AsyncFunctionDef | ast.FunctionDef)}
    threads: dict[str, list[bool]] = {}
    for name, method in methods.items():
        for node in ast.walk(method):
            if isinstance(node, ast.Call) and ast.unparse(node.func) == "asyncio.to_thread":
                [work] = node.args
                assert isinstance(work, ast.Call) and ast.unparse(work.func) == "partial"
                threads.setdefault(name, []).append(_passes_timeout(work))
    assert threads == {"_call": [True], "_call_unless_absent": [True], "_call_json": [True]}


@pytest.mark.parametrize(
    "exc",
    [
        pytest.param(ReadTimeoutError(None, "/api/v1/x", "Read timed out. (read timeout=60)"), id="read timeout"),
        pytest.param(ConnectTimeoutError(None, "timed out"), id="connect timeout"),
        pytest.param(
            MaxRetryError(None, "/api/v1/x", ConnectTimeoutError(None, "Connection to 10.0.0.1 timed out.\n(10)")),
            id="retries exhausted by timeouts",
        ),
        pytest.param(TimeoutError("timed out"), id="socket timeout"),
    ],
)
def test_a_timeout_is_a_one_line_temporary_kubernetes_error(exc: Exception) -> None:
    """A call (or a log stream) that timed out is a KubernetesError naming the call and the timeout,
    retried like any other API failure."""
    error = _wrap(exc, LOG, request_timeout(60))
    assert (type(error), str(error)) == (
        KubernetesError,
        f"{LOG}: the API server did not answer within 60s (timed out)",
    )
    assert retry_delay(error) == RETRY_SECONDS


@pytest.mark.parametrize(
    ("exc", "expected_type", "expected"),
    [
        pytest.param(ApiException(status=409, reason="Conflict"), Conflict, f"{LOG}: conflict: Conflict", id="409"),
        pytest.param(
            ApiException(status=500, reason="Internal\nServer Error"),
            KubernetesError,
            f"{LOG}: 500 Internal Server Error",
            id="500 with a line break",
        ),
        pytest.param(
            ProtocolError("Connection broken:\n  IncompleteRead(0 bytes read)"),
            KubernetesError,
            f"{LOG}: Connection broken: IncompleteRead(0 bytes read)",
            id="broken stream",
        ),
        pytest.param(
            MaxRetryError(None, "/api", NewConnectionError(None, "Failed to establish a new connection")),
            KubernetesError,
            f"{LOG}: None: Max retries exceeded with url: /api "
            "(Caused by NewConnectionError('None: Failed to establish a new connection'))",
            id="refused: not a timeout",
        ),
    ],
)
def test_other_failures_stay_one_line(exc: Exception, expected_type: type[KubernetesError], expected: str) -> None:
    """Other failures keep their own reason, on one line."""
    error = _wrap(exc, LOG, request_timeout(60))
    assert (type(error), str(error)) == (expected_type, expected)


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        pytest.param(ApiException(status=409, reason="Conflict"), "conflict", id="409"),
        pytest.param(ApiException(status=404, reason="Not Found"), "not_found", id="404"),
        pytest.param(ApiException(status=403, reason="Forbidden"), "forbidden", id="403"),
        pytest.param(ApiException(status=401, reason="Unauthorized"), "forbidden", id="401"),
        pytest.param(ApiException(status=500, reason="Internal Server Error"), "server", id="500"),
        pytest.param(ApiException(status=503, reason="Service Unavailable"), "server", id="503"),
        pytest.param(ApiException(status=429, reason="Too Many Requests"), "server", id="429"),
        pytest.param(ApiException(status=422, reason="Unprocessable Entity"), "other", id="422"),
        pytest.param(ReadTimeoutError(None, "/api/v1/x", "Read timed out."), "timeout", id="read timeout"),
        pytest.param(
            MaxRetryError(None, "/api/v1/x", ConnectTimeoutError(None, "Connection to 10.0.0.1 timed out.")),
            "timeout",
            id="connect timeout",
        ),
        pytest.param(TimeoutError("timed out"), "timeout", id="socket timeout"),
        pytest.param(
            MaxRetryError(None, "/api", NewConnectionError(None, "Failed to establish a new connection")),
            "other",
            id="refused",
        ),
        pytest.param(ProtocolError("Connection broken"), "other", id="broken"),
    ],
)
def test_error_kind_labels_failed_calls(exc: BaseException, kind: str) -> None:
    """packgate_kubernetes_errors' kind of a failed call: by HTTP status, timeouts first otherwise."""
    assert client.error_kind(exc) == kind


def test_the_client_keeps_a_connection_per_thread(tmp_path: Path) -> None:
    """With fewer pooled connections than threads calling, urllib3 discards the extra ones after
    each call and the next call pays a new TLS handshake; the operator asks for one per thread."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "local",
                "clusters": [{"name": "local", "cluster": {"server": "https://127.0.0.1:6443"}}],
                "users": [{"name": "admin", "user": {"token": "not-used"}}],
                "contexts": [{"name": "local", "context": {"cluster": "local", "user": "admin"}}],
            }
        )
    )
    threads = Settings().api_workers
    pooled = client.load_api_client(str(kubeconfig), connections=threads)
    assert pooled.rest_client.pool_manager.connection_pool_kw["maxsize"] == threads
