"""Unit tests of reading a runner's log: `Kube.stream_log_lines` against a fake API response (the
whole log, split linearly, stopped early by closing it) and `Executor._collect_one` feeding it
through the collector under PACKGATE_LOG_LIMIT_BYTES."""

from __future__ import annotations

import base64
import gzip
import hashlib
from collections.abc import Iterator
from typing import Any, cast

import pytest
from kubernetes import client as k8s
from urllib3.exceptions import ProtocolError

from packgate.api.spec import Runner
from packgate.errors import KubernetesError
from packgate.executor import Executor, Recorder
from packgate.k8s.client import Kube
from packgate.parsing import LINE_LIMIT
from packgate.reconcile.plan import Collect
from packgate.results import RunStatus
from packgate.settings import load_settings

pytestmark = pytest.mark.unit

NONCE = "0f1e2d3c4b5a6978"


class FakeResponse:
    """An urllib3 response streaming the given chunks (an exception is raised when reached)."""

    def __init__(self, chunks: list[bytes | Exception]) -> None:
        self.chunks = chunks
        self.calls: list[str] = []

    def stream(self, amount: int) -> Iterator[bytes]:
        for chunk in self.chunks:
            if isinstance(chunk, Exception):
                raise chunk
            assert len(chunk) <= amount
            yield chunk

    def close(self) -> None:
        self.calls.append("close")

    def release_conn(self) -> None:
        self.calls.append("release_conn")


class FakeCore:
    """CoreV1Api's log call, recording its arguments."""

    def __init__(self, response: FakeResponse) -> None:
        self.response = response
        self.requests: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    def read_namespaced_pod_log(self, *args: Any, **kwargs: Any) -> FakeResponse:
        self.requests.append((args, kwargs))
        return self.response


def kube_serving(chunks: list[bytes | Exception]) -> tuple[Kube, FakeCore]:
    kube = Kube(cast(k8s.ApiClient, None))
    core = FakeCore(FakeResponse(chunks))
    kube.core = cast(k8s.CoreV1Api, core)
    return kube, core


def test_whole_log_is_requested_and_split_into_lines() -> None:
    """No limitBytes: the whole log is asked for; lines and a UTF-8 character split across
    chunks come out whole, each line with its newline, the last one given one."""
    kube, core = kube_serving([b"first li", b"ne\nsecond \xc3", b"\xa9\r\n", b"\nlast"])
    pieces = list(kube.stream_log_lines("ns", "pod-1", "runner"))
    assert (pieces, core.requests, core.response.calls) == (
        ["first line\n", "second é\r\n", "\n", "last\n"],
        [(("pod-1", "ns"), {"container": "runner", "_preload_content": False})],
        ["release_conn"],
    )


def test_an_endless_line_comes_in_bounded_pieces() -> None:
    """3 MB without a newline, in 64 KiB chunks: pieces of LINE_LIMIT characters, then the end."""
    chunk = b"z" * 65_536
    kube, _ = kube_serving([chunk] * 48 + [b"!\n"])
    sizes = [len(piece) for piece in kube.stream_log_lines("ns", "p", "runner")]
    assert sizes == [LINE_LIMIT] * 48 + [2]


def test_closing_early_drops_the_connection() -> None:
    """A reader that stops (the log limit) closes the response instead of reading it to the end."""
    kube, core = kube_serving([b"a\nb\n", b"c\n"])
    stream = kube.stream_log_lines("ns", "p", "runner")
    assert next(stream) == "a\n"
    stream.close()
    assert core.response.calls == ["close", "release_conn"]


def test_a_broken_stream_is_a_kubernetes_error() -> None:
    """The connection failing mid-log is a KubernetesError naming the pod."""
    kube, _ = kube_serving([b"a\n", ProtocolError("connection reset")])
    with pytest.raises(KubernetesError, match="read log of pod ns/p: connection reset"):
        list(kube.stream_log_lines("ns", "p", "runner"))


class FakeKube:
    """Serves a generated log and records whether the reader closed it early."""

    def __init__(self, lines: Iterator[str]) -> None:
        self.lines = lines
        self.closed_early = False
        self.served = 0

    def stream_log_lines(self, namespace: str, pod: str, container: str) -> Iterator[str]:
        try:
            for line in self.lines:
                self.served += 1
                yield line
        except GeneratorExit:
            self.closed_early = True
            raise


def noise(size: int) -> Iterator[str]:
    written = number = 0
    while written < size:
        number += 1
        line = f"DEBUG step {number}: {'.' * 1000}\n"
        written += len(line)
        yield line


def framed(data: bytes) -> list[str]:
    encoded = base64.encodebytes(gzip.compress(data)).decode()
    return [
        f"packgate:result-begin {NONCE} results/junit.xml gzip+base64\n",
        *encoded.splitlines(keepends=True),
        f"packgate:result-end {NONCE} {hashlib.sha256(data).hexdigest()} {len(data)}\n",
        f"packgate:exit {NONCE} 0\n",
    ]


JUNIT = b'<testsuite name="t"><testcase name="a"/><testcase name="b"/></testsuite>\n'


def collect_one(lines: Iterator[str], *, limit: int, result_path: str | None = None) -> tuple[Any, FakeKube]:
    kube = FakeKube(lines)
    executor = Executor(kube=cast(Kube, kube), settings=load_settings(log_limit_bytes=limit), recorder=Recorder(None))
    runner = Runner.model_validate(
        {"name": "shell", "type": "script", "entryPoint": "run.sh", "resultPath": result_path}
    )
    item = Collect(runner="shell", runner_type="script", job="core-shell-1", pod="core-shell-1-x", exit_code=0)
    return executor._collect_one("ns", item, NONCE, runner), kube


def test_results_after_20_mb_of_noise_are_read() -> None:
    """The whole log is read: a framed result after 20 MB of debug output decides the verdict."""
    suite, kube = collect_one(iter([*noise(20 << 20), *framed(JUNIT)]), limit=1 << 30, result_path="results/junit.xml")
    assert (suite.status, suite.total, suite.job_name, kube.closed_early) == (
        RunStatus.PASSED,
        2,
        "core-shell-1",
        False,
    )


def test_log_past_the_limit_stops_the_reading() -> None:
    """Past PACKGATE_LOG_LIMIT_BYTES the executor stops reading (closing the stream) and the
    runner is an error saying so."""
    suite, kube = collect_one(noise(50 << 20), limit=2 << 20)
    assert (suite.status, kube.closed_early, kube.served < 2100, (suite.error or "").split(";")[0]) == (
        RunStatus.ERROR,
        True,
        True,
        "the log is longer than the 2097152-byte limit (PACKGATE_LOG_LIMIT_BYTES), so its end was not read "
        "(exit code 0)",
    )
