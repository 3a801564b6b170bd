"""Node agent of the local cluster: a small kubelet that runs pod containers as local processes.

It authenticates as `system:node:<name>` (so the Node authorizer and the NodeRestriction admission plugin
apply to it as to a kubelet), registers a Ready Node, renews its Lease, runs the pods bound to it and
reports their status, and serves the kubelet's `/containerLogs` endpoint over TLS for the API server.

What is real: every API call a kubelet makes for these features (Node, Lease, pod status, TokenRequest,
ConfigMap and Secret reads, graceful-deletion confirmation, events, SubjectAccessReview of callers).
What is simulated: images are not pulled, the host's own `/bin/sh`, `python3` and `node` run the commands
(a container with `args` but no `command` runs its args, as images without an ENTRYPOINT do; one with
neither waits in CreateContainerError);
a container is a process group in a private mount and UTS namespace (see launch.py) with no cgroup limits,
no network namespace (127.0.0.1 is both hostIP and podIP) and no probes (a running container is ready).

It owns the node's state directory (`pods/<uid>/` with volumes, container logs and pid files) and must not
touch anything outside it or talk to anything but the API server on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import datetime
import json
import logging
import os
import platform
import pwd
import shutil
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from decimal import ROUND_CEILING, Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import urllib3
import yaml

from localcluster.cluster import kill_process_group, process_start_time

log = logging.getLogger("nodeagent")

Obj = dict[str, Any]

LAUNCHER = Path(__file__).with_name("launch.py")
IMAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
"""PATH a container gets when its env does not set one (images usually set this)."""
DEFAULT_UNPULLABLE_PREFIX = "unpullable.invalid/"
RESYNC_SECONDS = 0.2
HEARTBEAT_SECONDS = 10
LEASE_DURATION_SECONDS = 40
ATOMIC_VOLUMES = ("configMap", "secret", "projected", "downwardAPI")
"""Volume types the kubelet always mounts read-only."""


def now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def now_micro() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(value: str) -> float:
    return datetime.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


# -- API access ---------------------------------------------------------------------------------------


class ApiError(Exception):
    """The API server answered with an error status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status


class Api:
    """JSON over HTTPS to the API server with the node's client certificate, read from a kubeconfig."""

    def __init__(self, kubeconfig: Path, credentials_dir: Path) -> None:
        config = yaml.safe_load(kubeconfig.read_text())
        context = next(c["context"] for c in config["contexts"] if c["name"] == config["current-context"])
        cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
        user = next(u["user"] for u in config["users"] if u["name"] == context["user"])
        credentials_dir.mkdir(parents=True, exist_ok=True)

        def file_of(data_key: str, path_key: str, source: Obj, name: str) -> str:
            if data_key in source:
                path = credentials_dir / name
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "wb") as f:
                    f.write(base64.b64decode(source[data_key]))
                return str(path)
            return str(source[path_key])

        self.server = cluster["server"].rstrip("/")
        self.ca_file = file_of("certificate-authority-data", "certificate-authority", cluster, "ca.crt")
        self.pool = urllib3.PoolManager(
            num_pools=4,
            maxsize=32,
            cert_reqs="CERT_REQUIRED",
            ca_certs=self.ca_file,
            cert_file=file_of("client-certificate-data", "client-certificate", user, "client.crt"),
            key_file=file_of("client-key-data", "client-key", user, "client.key"),
            retries=False,
            headers={"User-Agent": "localcluster-nodeagent (kubelet)", "Accept": "application/json"},
        )

    def _url(self, path: str, params: dict[str, str] | None) -> str:
        return self.server + path + ("?" + urllib.parse.urlencode(params) if params else "")

    def request(
        self,
        method: str,
        path: str,
        body: Obj | None = None,
        *,
        params: dict[str, str] | None = None,
        content_type: str = "application/json",
        timeout: float = 30.0,
    ) -> Obj:
        """One API call; the decoded JSON answer, or ApiError."""
        response = self.pool.request(
            method,
            self._url(path, params),
            body=json.dumps(body).encode() if body is not None else None,
            headers={"Content-Type": content_type, "Accept": "application/json"},
            timeout=timeout,
        )
        if response.status >= 400:
            try:
                message = json.loads(response.data).get("message", "")
            except ValueError:
                message = response.data.decode(errors="replace")
            raise ApiError(response.status, message)
        return json.loads(response.data) if response.data else {}

    def watch(self, path: str, params: dict[str, str]) -> Iterator[Obj]:
        """The events of one watch request, until the server ends it."""
        response = self.pool.request(
            "GET",
            self._url(path, {**params, "watch": "true"}),
            preload_content=False,
            timeout=urllib3.Timeout(connect=10, read=int(params.get("timeoutSeconds", "300")) + 30),
        )
        try:
            if response.status != 200:
                raise ApiError(response.status, response.read().decode(errors="replace"))
            buffer = b""
            for chunk in response.stream(65536):
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if line.strip():
                        yield json.loads(line)
        finally:
            response.release_conn()


# -- pure helpers ---------------------------------------------------------------------------------------


def expand(text: str, lookup: Callable[[str], str | None]) -> str:
    """Kubernetes `$(VAR)` expansion: known names are replaced, `$$` escapes, anything else stays."""
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "$" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt == "$":
                out.append("$")
                i += 2
                continue
            if nxt == "(":
                end = text.find(")", i + 2)
                if end != -1:
                    name = text[i + 2 : end]
                    value = lookup(name)
                    out.append(value if value is not None else f"$({name})")
                    i = end + 1
                    continue
            out.append("$" + nxt)
            i += 2
            continue
        out.append(char)
        i += 1
    return "".join(out)


_SUFFIXES = {
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
    "k": Decimal(10**3), "M": Decimal(10**6), "G": Decimal(10**9), "T": Decimal(10**12),
    "P": Decimal(10**15), "E": Decimal(10**18),
    "Ki": Decimal(2**10), "Mi": Decimal(2**20), "Gi": Decimal(2**30), "Ti": Decimal(2**40),
    "Pi": Decimal(2**50), "Ei": Decimal(2**60),
}  # fmt: skip


def parse_quantity(quantity: str | int | float) -> Decimal:
    """A resource quantity ("100m", "64Mi", "2") as a number."""
    text = str(quantity).strip()
    for suffix in sorted(_SUFFIXES, key=len, reverse=True):
        if suffix and text.endswith(suffix):
            return Decimal(text[: -len(suffix)]) * _SUFFIXES[suffix]
    return Decimal(text)


def field_value(pod: Obj, field_path: str) -> str:
    """The value of a downward-API fieldRef on a pod."""
    meta = pod["metadata"]
    simple = {
        "metadata.name": meta.get("name", ""),
        "metadata.namespace": meta.get("namespace", ""),
        "metadata.uid": meta.get("uid", ""),
        "spec.nodeName": pod["spec"].get("nodeName", ""),
        "spec.serviceAccountName": pod["spec"].get("serviceAccountName", ""),
        "status.hostIP": "127.0.0.1",
        "status.hostIPs": "127.0.0.1",
        "status.podIP": "127.0.0.1",
        "status.podIPs": "127.0.0.1",
    }
    if field_path in simple:
        return simple[field_path]
    for kind in ("labels", "annotations"):
        mapping = meta.get(kind) or {}
        if field_path == f"metadata.{kind}":
            return "".join(f'{k}="{v}"\n' for k, v in sorted(mapping.items()))
        prefix = f"metadata.{kind}['"
        if field_path.startswith(prefix) and field_path.endswith("']"):
            return str(mapping.get(field_path[len(prefix) : -2], ""))
    raise ConfigError(f"unsupported fieldRef fieldPath {field_path!r}")


def resource_value(container: Obj, resource: str, divisor: str | None, allocatable: Obj) -> str:
    """The value of a downward-API resourceFieldRef; limits default to the node's allocatable."""
    kind, _, name = resource.partition(".")
    resources = container.get("resources") or {}
    value = (resources.get(kind) or {}).get(name)
    if value is None:
        value = allocatable.get(name, 0) if kind == "limits" else 0
    amount = parse_quantity(value) / parse_quantity(divisor or "1")
    return str(int(amount.to_integral_value(rounding=ROUND_CEILING)))


def read_tail(path: Path, end: int, lines: int | None) -> bytes:
    """The last `lines` lines of the first `end` bytes of a file (all of them when lines is None)."""
    with path.open("rb") as f:
        if lines is None:
            return f.read(end)
        if lines <= 0:
            return b""
        position, data = end, b""
        while position > 0 and data.count(b"\n") <= lines:
            step = min(65536, position)
            position -= step
            f.seek(position)
            data = f.read(step) + data
        return b"".join(data.splitlines(keepends=True)[-lines:])


# -- containers and pods ----------------------------------------------------------------------------------


class ConfigError(Exception):
    """A container's configuration cannot be resolved (CreateContainerConfigError)."""


class VolumeError(Exception):
    """A volume cannot be set up (the pod waits in ContainerCreating, event FailedMount)."""


class Container:
    """The runtime state of one container of a pod, as the kubelet reports it."""

    def __init__(self, spec: Obj, init: bool, directory: Path) -> None:
        self.spec = spec
        self.name: str = spec["name"]
        self.init = init
        self.dir = directory
        self.state = "waiting"
        self.reason = "PodInitializing" if init else "ContainerCreating"
        self.message: str | None = None
        self.retry_at = 0.0
        self.proc: subprocess.Popen[bytes] | None = None
        self.started_at: str | None = None
        self.finished_at: str | None = None
        self.exit_code = 0
        self.container_id: str | None = None
        self.restart_count = 0
        self.last_terminated: Obj | None = None
        self.pull_failures = 0

    def log_path(self, attempt: int | None = None) -> Path:
        return self.dir / f"{self.restart_count if attempt is None else attempt}.log"

    def wait(self, reason: str, message: str | None, retry_in: float) -> None:
        self.state, self.reason, self.message = "waiting", reason, message
        self.retry_at = time.monotonic() + retry_in

    def terminated_state(self) -> Obj:
        state: Obj = {
            "exitCode": self.exit_code,
            "reason": self.reason,
            "startedAt": self.started_at,
            "finishedAt": self.finished_at,
            "containerID": self.container_id,
        }
        if self.message:
            state["message"] = self.message
        return state

    def status(self) -> Obj:
        status: Obj = {
            "name": self.name,
            "image": self.spec.get("image", ""),
            "imageID": f"localcluster://not-pulled/{self.spec.get('image', '')}" if self.started_at else "",
            "ready": self.state == "running",
            "restartCount": self.restart_count,
            "started": self.state == "running",
            "lastState": {"terminated": self.last_terminated} if self.last_terminated else {},
        }
        if self.container_id:
            status["containerID"] = self.container_id
        if self.state == "running":
            status["state"] = {"running": {"startedAt": self.started_at}}
        elif self.state == "terminated":
            status["state"] = {"terminated": self.terminated_state()}
        else:
            waiting: Obj = {"reason": self.reason}
            if self.message:
                waiting["message"] = self.message
            status["state"] = {"waiting": waiting}
        return status


class PodWorker(threading.Thread):
    """Runs one pod from binding to deletion; the only writer of that pod's status."""

    def __init__(self, agent: Agent, pod: Obj) -> None:
        meta = pod["metadata"]
        super().__init__(name=f"pod-{meta['namespace']}/{meta['name']}", daemon=True)
        self.agent = agent
        self.pod = pod
        self.uid: str = meta["uid"]
        self.namespace: str = meta["namespace"]
        self.pod_name: str = meta["name"]
        self.key = f"{self.namespace}/{self.pod_name}"
        self.dir = agent.pods_dir / self.uid
        self.cond = threading.Condition()
        self.gone = False
        spec = pod["spec"]
        self.init_containers = [
            Container(c, True, self.dir / "containers" / c["name"]) for c in spec.get("initContainers") or []
        ]
        self.containers = [
            Container(c, False, self.dir / "containers" / c["name"]) for c in spec.get("containers") or []
        ]
        status = pod.get("status") or {}
        self.start_time: str | None = status.get("startTime")
        self.phase: str = status.get("phase") or "Pending"
        self.reason: str | None = None
        self.message: str | None = None
        self.terminal = self.phase in ("Succeeded", "Failed")
        self.frozen = self.terminal  # already finished before this agent saw it: report nothing new
        self.volume_paths: dict[str, Path] = {}
        self.volumes_ready = False
        self.volume_retry_at = 0.0
        self.transitions: dict[str, tuple[str, str]] = {}
        self.last_status: Obj | None = None
        self.deletion_confirmed = False
        self.last_event: dict[str, str] = {}

    # -- inputs from the agent ---------------------------------------------------------------------

    def update(self, pod: Obj) -> None:
        with self.cond:
            self.pod = pod
            self.cond.notify()

    def mark_gone(self) -> None:
        with self.cond:
            self.gone = True
            self.cond.notify()

    def container(self, name: str) -> Container | None:
        return next((c for c in self.init_containers + self.containers if c.name == name), None)

    # -- main loop -----------------------------------------------------------------------------------

    def run(self) -> None:
        try:
            self._adopt()
            while True:
                with self.cond:
                    pod, gone = self.pod, self.gone
                if gone:
                    self.kill_all(grace=0)
                    break
                if pod["metadata"].get("deletionTimestamp"):
                    if not self.deletion_confirmed:
                        self.terminate(pod)
                elif not self.terminal:
                    self.step(pod)
                self.push_status()
                idle = self.terminal or self.deletion_confirmed
                with self.cond:
                    if not self.gone:
                        self.cond.wait(timeout=30 if idle else RESYNC_SECONDS)
        except Exception:
            log.exception("Pod %s: worker failed; killing its containers", self.key)
            self.kill_all(grace=0)
            with self.cond:
                while not self.gone:
                    self.cond.wait(timeout=30)
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.agent.forget(self)
            log.info("Pod %s (%s) is gone; removed its processes and files", self.key, self.uid)

    def _adopt(self) -> None:
        """A pod this agent did not start but whose containers ran (agent restart) lost its processes."""
        if self.terminal:
            return
        status = self.pod.get("status") or {}
        ran = [
            s for s in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or [])
            if "waiting" not in (s.get("state") or {"waiting": {}})
        ]
        if not ran:
            return
        log.warning("Pod %s: containers ran under a previous node agent; marking them lost", self.key)
        for c in self.init_containers + self.containers:
            c.state, c.exit_code, c.reason = "terminated", 137, "ContainerStatusUnknown"
            c.message = "The container could not be located when the node agent restarted"
            c.started_at = c.finished_at = now_iso()
        self.phase, self.terminal = "Failed", True

    def step(self, pod: Obj) -> None:
        """One pass of the state machine: deadline, volumes, init containers, containers, phase."""
        now = time.monotonic()
        if self.start_time is None:
            self.start_time = now_iso()
        deadline = pod["spec"].get("activeDeadlineSeconds")
        if deadline is not None and time.time() - parse_iso(self.start_time) >= deadline:
            self.event("Normal", "DeadlineExceeded", "Pod was active on the node longer than the specified deadline")
            self.kill_all(grace=pod["spec"].get("terminationGracePeriodSeconds", 30))
            self.phase, self.terminal = "Failed", True
            self.reason = "DeadlineExceeded"
            self.message = "Pod was active on the node longer than the specified deadline"
            return
        if not self.volumes_ready:
            if now < self.volume_retry_at:
                return
            try:
                self.prepare_volumes(pod)
            except (VolumeError, ApiError, OSError) as error:
                self.volume_retry_at = now + 2
                self.event("Warning", "FailedMount", str(error))
                return
            self.volumes_ready = True
        restart_policy = pod["spec"].get("restartPolicy", "Always")
        for c in self.init_containers:
            if c.state == "terminated" and c.exit_code == 0:
                continue
            self.advance(c, pod, restart_policy if restart_policy != "Always" else "OnFailure")
            if c.state == "terminated" and c.exit_code != 0 and restart_policy == "Never":
                self.phase, self.terminal = "Failed", True
                for app in self.containers:
                    app.reason = "PodInitializing"
            return  # init containers run one at a time, each to success
        for c in self.containers:
            if c.state == "waiting" and c.reason == "PodInitializing":
                c.reason = "ContainerCreating"
            self.advance(c, pod, restart_policy)
        if all(c.state == "terminated" for c in self.containers):
            self.phase = "Succeeded" if all(c.exit_code == 0 for c in self.containers) else "Failed"
            self.terminal = True
        elif any(c.state == "running" or c.restart_count for c in self.containers):
            self.phase = "Running"

    def advance(self, c: Container, pod: Obj, restart_policy: str) -> None:
        """Poll a running container, or start a waiting one whose retry time has come."""
        if c.state == "running":
            self.poll(c)
        if c.state == "terminated":
            restart = restart_policy == "Always" or (restart_policy == "OnFailure" and c.exit_code != 0)
            if not restart:
                return
            c.last_terminated = c.terminated_state()
            c.restart_count += 1
            backoff = min(10 * 2 ** (c.restart_count - 1), 300)
            c.wait("CrashLoopBackOff", f"back-off {backoff}s restarting failed container={c.name} "
                   f"pod={self.pod_name}_{self.namespace}({self.uid})", backoff)
            self.event("Warning", "BackOff", "Back-off restarting failed container", c)
            return
        if c.state == "waiting" and time.monotonic() >= c.retry_at:
            try:
                self.start_container(c, pod)
            except Exception as error:
                log.exception("Pod %s: could not start container %s", self.key, c.name)
                c.wait("CreateContainerError", f"node agent error: {error}", 10)

    # -- starting and stopping containers ------------------------------------------------------------

    def start_container(self, c: Container, pod: Obj) -> None:
        image = c.spec.get("image", "")
        if image.startswith(self.agent.unpullable_prefix):
            if c.reason == "ErrImagePull":
                backoff = min(10 * 2 ** (c.pull_failures - 1), 300)
                c.wait("ImagePullBackOff", f'Back-off pulling image "{image}"', backoff)
                self.event("Normal", "BackOff", f'Back-off pulling image "{image}"', c)
            else:
                c.pull_failures += 1
                message = (
                    f'failed to pull and unpack image "{image}": images under '
                    f'"{self.agent.unpullable_prefix}" can never be pulled on this node'
                )
                c.wait("ErrImagePull", message, 2)
                self.event("Warning", "Failed", f'Failed to pull image "{image}": {message}', c)
            return
        if not c.spec.get("command") and not c.spec.get("args"):
            message = (
                f'container "{c.name}" has no command: images are not pulled on this node, so the '
                f'entrypoint of "{image}" is unknown; set command (the host runs it with /bin/sh, python3, node)'
            )
            c.wait("CreateContainerError", message, 10)
            self.event("Warning", "Failed", f"Error: {message}", c)
            return
        try:
            env = self.build_env(pod, c)
            uid, gid, groups = self.identity(pod, c)
            mounts = self.mounts(pod, c, env)
        except (ConfigError, ApiError) as error:
            c.wait("CreateContainerConfigError", str(error), 2)
            self.event("Warning", "Failed", f"Error: {error}", c)
            return
        argv = [expand(a, env.get) for a in (c.spec.get("command") or []) + (c.spec.get("args") or [])]
        security = c.spec.get("securityContext") or {}
        hostname = (pod["spec"].get("hostname") or self.pod_name)[:63]
        runtime_env = {"PATH": IMAGE_PATH, "HOSTNAME": hostname}
        runtime_env.update(env)
        runtime_env.setdefault("HOME", "/root" if uid == 0 else "/")
        scratch = c.dir / "scratch"
        scratch.mkdir(parents=True, exist_ok=True)
        read_fd, write_fd = os.pipe()
        spec_path = c.dir / "launch.json"
        fd = os.open(spec_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(
                {
                    "scratch": str(scratch),
                    "hostname": hostname,
                    "mounts": mounts,
                    "workingDir": c.spec.get("workingDir") or "/",
                    "uid": uid,
                    "gid": gid,
                    "groups": groups,
                    "noNewPrivileges": security.get("allowPrivilegeEscalation") is False,
                    "readOnlyRootFilesystem": bool(security.get("readOnlyRootFilesystem")),
                    "argv": argv,
                    "env": list(runtime_env.items()),
                    "statusFd": write_fd,
                },
                f,
            )
        c.container_id = None
        with c.log_path().open("ab") as log_file:
            try:
                c.proc = subprocess.Popen(
                    ["unshare", "--mount", "--uts", "--propagation", "private",
                     sys.executable, "-I", "-S", str(LAUNCHER), str(spec_path)],
                    stdin=subprocess.DEVNULL,
                    stdout=log_file,
                    stderr=log_file,
                    pass_fds=(write_fd,),
                    start_new_session=True,
                    env={"PATH": os.environ.get("PATH", IMAGE_PATH)},
                )
            finally:
                os.close(write_fd)
        with os.fdopen(read_fd, "rb") as status_pipe:
            failure = status_pipe.read().decode(errors="replace").strip()
        c.started_at = now_iso()
        c.container_id = f"localproc://{self.uid[:8]}-{c.name}-{c.restart_count}-{c.proc.pid}"
        if failure:
            c.proc.wait()
            c.proc = None
            c.state, c.exit_code, c.reason, c.message = "terminated", 128, "StartError", failure
            c.finished_at = now_iso()
            self.event("Warning", "Failed", f"Error: {failure}", c)
            return
        start_time = process_start_time(c.proc.pid)
        (c.dir / "pid").write_text(f"{c.proc.pid} {start_time}\n")
        c.state, c.reason, c.message = "running", "", None
        log.info("Started container %s of pod %s (pid %d)", c.name, self.key, c.proc.pid)
        self.event("Normal", "Started", f"Started container {c.name}", c)

    def poll(self, c: Container) -> None:
        assert c.proc is not None
        code = c.proc.poll()
        if code is None:
            return
        self.finish(c, code)

    def finish(self, c: Container, code: int) -> None:
        c.proc = None
        (c.dir / "pid").unlink(missing_ok=True)
        c.state, c.finished_at = "terminated", now_iso()
        c.exit_code = code if code >= 0 else 128 - code
        c.reason = "Completed" if c.exit_code == 0 else "Error"
        message = ""
        with contextlib.suppress(OSError):
            message = (c.dir / "termination-log").read_text(errors="replace")[:4096]
        if not message and c.exit_code and c.spec.get("terminationMessagePolicy") == "FallbackToLogsOnError":
            with contextlib.suppress(OSError):
                path = c.log_path()
                tail = read_tail(path, path.stat().st_size, 80)[-2048:]
                message = tail.decode(errors="replace")
        c.message = message or None
        log.info("Container %s of pod %s exited with code %d", c.name, self.key, c.exit_code)

    def kill_all(self, grace: float) -> None:
        """SIGTERM every running container's process group, SIGKILL what is left after `grace` seconds."""
        running = [c for c in self.init_containers + self.containers if c.state == "running" and c.proc]
        for c in running:
            self.event("Normal", "Killing", f"Stopping container {c.name}", c)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(c.proc.pid, signal.SIGTERM if grace > 0 else signal.SIGKILL)  # type: ignore[union-attr]
        deadline = time.monotonic() + grace
        for c in running:
            assert c.proc is not None
            try:
                code = c.proc.wait(timeout=max(deadline - time.monotonic(), 0))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(c.proc.pid, signal.SIGKILL)
                code = c.proc.wait()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(c.proc.pid, signal.SIGKILL)  # stragglers of the group
            self.finish(c, code)

    def terminate(self, pod: Obj) -> None:
        """Graceful deletion: stop the containers, report a terminal phase, confirm with grace 0."""
        meta = pod["metadata"]
        grace = meta.get("deletionGracePeriodSeconds")
        if grace is None:
            grace = pod["spec"].get("terminationGracePeriodSeconds", 30)
        self.kill_all(grace=grace)
        if not self.terminal and not self.frozen:
            ok = self.containers and all(c.state == "terminated" and c.exit_code == 0 for c in self.containers)
            self.phase, self.terminal = ("Succeeded" if ok else "Failed"), True
        self.push_status()
        try:
            self.agent.api.request(
                "DELETE",
                f"/api/v1/namespaces/{self.namespace}/pods/{self.pod_name}",
                {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0,
                 "preconditions": {"uid": self.uid}},
            )
        except ApiError as error:
            if error.status not in (404, 409):
                log.warning("Pod %s: could not confirm deletion: %s", self.key, error)
                return
        self.deletion_confirmed = True
        log.info("Pod %s: containers stopped, deletion confirmed", self.key)

    # -- configuration --------------------------------------------------------------------------------

    def get_object(self, kind: str, name: str, optional: bool) -> dict[str, str] | None:
        """The data of a ConfigMap or Secret in the pod's namespace (decoded), None if optional and absent."""
        plural = "configmaps" if kind == "ConfigMap" else "secrets"
        try:
            obj = self.agent.api.request("GET", f"/api/v1/namespaces/{self.namespace}/{plural}/{name}")
        except ApiError as error:
            if error.status == 404:
                if optional:
                    return None
                raise ConfigError(f'{kind.lower()} "{name}" not found') from error
            raise
        if kind == "ConfigMap":
            data = dict(obj.get("data") or {})
            for key, value in (obj.get("binaryData") or {}).items():
                data[key] = base64.b64decode(value).decode("latin-1")
            return data
        return {k: base64.b64decode(v).decode("utf-8", errors="surrogateescape")
                for k, v in (obj.get("data") or {}).items()}

    def get_bytes(self, kind: str, name: str, optional: bool) -> dict[str, bytes] | None:
        """Like get_object, but the exact bytes of each key (for volumes)."""
        plural = "configmaps" if kind == "ConfigMap" else "secrets"
        try:
            obj = self.agent.api.request("GET", f"/api/v1/namespaces/{self.namespace}/{plural}/{name}")
        except ApiError as error:
            if error.status == 404:
                if optional:
                    return None
                raise VolumeError(f'{kind.lower()} "{name}" not found') from error
            raise
        if kind == "ConfigMap":
            data = {k: v.encode() for k, v in (obj.get("data") or {}).items()}
            data.update({k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})
            return data
        return {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}

    def build_env(self, pod: Obj, c: Container) -> dict[str, str]:
        """The container's environment, resolved and expanded the way the kubelet does it."""
        env: dict[str, str] = {}
        for source in c.spec.get("envFrom") or []:
            prefix = source.get("prefix", "")
            for kind, ref in (("ConfigMap", source.get("configMapRef")), ("Secret", source.get("secretRef"))):
                if ref:
                    data = self.get_object(kind, ref["name"], bool(ref.get("optional")))
                    env.update({prefix + k: v for k, v in (data or {}).items()})
        service_env = self.agent.service_env

        def lookup(name: str) -> str | None:
            return env.get(name, service_env.get(name))

        for var in c.spec.get("env") or []:
            name, source = var["name"], var.get("valueFrom")
            if not source:
                env[name] = expand(var.get("value", ""), lookup)
            elif "fieldRef" in source:
                env[name] = field_value(pod, source["fieldRef"]["fieldPath"])
            elif "resourceFieldRef" in source:
                ref = source["resourceFieldRef"]
                target = self.container(ref.get("containerName") or c.name) or c
                env[name] = resource_value(target.spec, ref["resource"], ref.get("divisor"), self.agent.allocatable)
            else:
                kind = "ConfigMap" if "configMapKeyRef" in source else "Secret"
                ref = source.get("configMapKeyRef") or source.get("secretKeyRef")
                data = self.get_object(kind, ref["name"], bool(ref.get("optional")))
                if data is None or ref["key"] not in data:
                    if ref.get("optional"):
                        continue
                    if data is None:
                        raise ConfigError(f'{kind.lower()} "{ref["name"]}" not found')
                    raise ConfigError(f"couldn't find key {ref['key']} in {kind} {self.namespace}/{ref['name']}")
                env[name] = data[ref["key"]]
        for name, value in service_env.items():
            env.setdefault(name, value)
        return env

    def identity(self, pod: Obj, c: Container) -> tuple[int, int, list[int]]:
        """uid, gid and supplementary groups of the container's process."""
        pod_sc = pod["spec"].get("securityContext") or {}
        sc = c.spec.get("securityContext") or {}

        def pick(key: str) -> Any:
            return sc[key] if sc.get(key) is not None else pod_sc.get(key)

        uid = pick("runAsUser")
        uid = 0 if uid is None else int(uid)
        gid = pick("runAsGroup")
        if gid is None:
            try:
                gid = pwd.getpwuid(uid).pw_gid
            except KeyError:
                gid = 0
        if pick("runAsNonRoot") and uid == 0:
            raise ConfigError(
                f'container has runAsNonRoot and image will run as root (pod: "{self.pod_name}_'
                f'{self.namespace}({self.uid})", container: {c.name})'
            )
        groups = [int(gid)]
        for extra in [pod_sc.get("fsGroup"), *(pod_sc.get("supplementalGroups") or [])]:
            if extra is not None and int(extra) not in groups:
                groups.append(int(extra))
        return uid, int(gid), groups

    def mounts(self, pod: Obj, c: Container, env: dict[str, str]) -> list[Obj]:
        """Bind mounts of the container: its volumeMounts and its termination-message file."""
        volumes = {v["name"]: v for v in pod["spec"].get("volumes") or []}
        result: list[Obj] = []
        for vm in c.spec.get("volumeMounts") or []:
            name = vm["name"]
            if name not in self.volume_paths:
                raise ConfigError(f"volume {name!r} of volumeMount {vm['mountPath']!r} is not defined")
            source = self.volume_paths[name]
            sub_path = vm.get("subPath") or expand(vm.get("subPathExpr", ""), env.get)
            if sub_path:
                if sub_path.startswith("/") or ".." in Path(sub_path).parts:
                    raise ConfigError(f"subPath {sub_path!r} must be a relative path within the volume")
                source = source / sub_path
                if not source.exists():
                    source.mkdir(parents=True, mode=0o777)
            read_only = bool(vm.get("readOnly")) or any(k in volumes[name] for k in ATOMIC_VOLUMES)
            result.append({"source": str(source), "target": vm["mountPath"], "readOnly": read_only})
        termination_log = c.dir / "termination-log"
        termination_log.touch(mode=0o666)
        termination_log.chmod(0o666)
        result.append({
            "source": str(termination_log),
            "target": c.spec.get("terminationMessagePath") or "/dev/termination-log",
            "readOnly": False,
        })
        return result

    # -- volumes ------------------------------------------------------------------------------------------

    def prepare_volumes(self, pod: Obj) -> None:
        """Create every volume of the pod under its directory; VolumeError if one cannot be made yet."""
        fs_group = (pod["spec"].get("securityContext") or {}).get("fsGroup")
        for c in self.init_containers + self.containers:
            c.dir.mkdir(parents=True, exist_ok=True)
        for volume in pod["spec"].get("volumes") or []:
            name = volume["name"]
            path = self.dir / "volumes" / name
            if "emptyDir" in volume:
                if not path.exists():
                    path.mkdir(parents=True)
                    path.chmod(0o777)
                    if fs_group is not None:
                        os.chown(path, -1, int(fs_group))
                        path.chmod(0o2777)
            elif "hostPath" in volume:
                host = volume["hostPath"]
                path = Path(host["path"])
                if host.get("type") == "DirectoryOrCreate":
                    path.mkdir(parents=True, exist_ok=True)
                if not path.exists():
                    raise VolumeError(f"hostPath {host['path']} does not exist")
            else:
                kind = next((k for k in ATOMIC_VOLUMES if k in volume), None)
                if kind is None:
                    other = next((k for k in volume if k != "name"), "unknown")
                    raise VolumeError(f"volume {name!r}: {other} volumes are not supported by the local node agent")
                files = self.volume_files(pod, kind, volume[kind])
                self.write_files(path, files, fs_group)
            self.volume_paths[name] = path

    def volume_files(self, pod: Obj, kind: str, source: Obj) -> list[tuple[str, bytes, int]]:
        """The files (path, content, mode) of a configMap, secret, projected or downwardAPI volume."""
        default_mode = source.get("defaultMode", 0o644)
        if kind == "projected":
            files: list[tuple[str, bytes, int]] = []
            for part in source.get("sources") or []:
                if "serviceAccountToken" in part:
                    token = part["serviceAccountToken"]
                    files.append((token["path"], self.token(pod, token).encode(), default_mode))
                for sub in ("configMap", "secret", "downwardAPI"):
                    if sub in part:
                        files += self.volume_files(pod, sub, {**part[sub], "defaultMode": default_mode})
            return files
        if kind == "downwardAPI":
            files = []
            for item in source.get("items") or []:
                if "fieldRef" in item:
                    value = field_value(pod, item["fieldRef"]["fieldPath"])
                else:
                    ref = item["resourceFieldRef"]
                    target = self.container(ref.get("containerName", "")) or self.containers[0]
                    value = resource_value(target.spec, ref["resource"], ref.get("divisor"), self.agent.allocatable)
                files.append((item["path"], value.encode(), item.get("mode", default_mode)))
            return files
        object_kind = "ConfigMap" if kind == "configMap" else "Secret"
        name = source.get("name") if kind == "configMap" else source.get("secretName", source.get("name"))
        data = self.get_bytes(object_kind, name, bool(source.get("optional")))
        if data is None:
            return []
        items = source.get("items")
        if not items:
            return [(key, value, default_mode) for key, value in data.items()]
        files = []
        for item in items:
            if item["key"] not in data:
                if source.get("optional"):
                    continue
                raise VolumeError(f"configmap references non-existent config key: {item['key']}"
                                  if kind == "configMap" else
                                  f"references non-existent secret key: {item['key']}")
            files.append((item["path"], data[item["key"]], item.get("mode", default_mode)))
        return files

    def token(self, pod: Obj, source: Obj) -> str:
        """A service-account token bound to this pod, through the TokenRequest API."""
        account = pod["spec"].get("serviceAccountName") or "default"
        spec: Obj = {
            "expirationSeconds": max(int(source.get("expirationSeconds", 3600)), 600),
            "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": self.pod_name, "uid": self.uid},
        }
        if source.get("audience"):
            spec["audiences"] = [source["audience"]]
        answer = self.agent.api.request(
            "POST",
            f"/api/v1/namespaces/{self.namespace}/serviceaccounts/{account}/token",
            {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec},
        )
        return str(answer["status"]["token"])

    @staticmethod
    def write_files(directory: Path, files: list[tuple[str, bytes, int]], fs_group: int | None) -> None:
        if directory.exists():
            shutil.rmtree(directory)
        directory.mkdir(parents=True)
        directory.chmod(0o755)
        for relative, content, mode in files:
            if relative.startswith("/") or ".." in Path(relative).parts:
                raise VolumeError(f"volume item path {relative!r} must be relative and within the volume")
            target = directory / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
            if fs_group is not None:
                os.chown(target, -1, int(fs_group))
                mode |= 0o440
            target.chmod(mode)
        if fs_group is not None:
            os.chown(directory, -1, int(fs_group))

    # -- status -----------------------------------------------------------------------------------------

    def condition(self, kind: str, ok: bool, reason: str | None = None, message: str | None = None) -> Obj:
        status = "True" if ok else "False"
        previous = self.transitions.get(kind)
        if previous is None or previous[0] != status:
            self.transitions[kind] = (status, now_iso())
        result: Obj = {"type": kind, "status": status, "lastProbeTime": None,
                       "lastTransitionTime": self.transitions[kind][1]}
        if reason:
            result["reason"] = reason
        if message:
            result["message"] = message
        return result

    def status(self) -> Obj:
        not_initialized = [c.name for c in self.init_containers if not (c.state == "terminated" and c.exit_code == 0)]
        unready = [c.name for c in self.containers if c.state != "running"]
        done = self.phase in ("Succeeded", "Failed")
        ready_reason = "PodCompleted" if done and self.phase == "Succeeded" else "ContainersNotReady"
        ready_message = f"containers with unready status: [{' '.join(unready)}]"
        if done and self.phase == "Succeeded":
            ready_message = None
        init_reason = "PodCompleted" if done and not not_initialized else "ContainersNotInitialized"
        conditions = [
            self.condition("PodReadyToStartContainers", self.volumes_ready and not done),
            self.condition(
                "Initialized",
                not not_initialized,
                None if not not_initialized else init_reason,
                None if not not_initialized else f"containers with incomplete status: [{' '.join(not_initialized)}]",
            ),
            self.condition("ContainersReady", not unready, None if not unready else ready_reason,
                           None if not unready else ready_message),
            self.condition("Ready", not unready, None if not unready else ready_reason,
                           None if not unready else ready_message),
        ]
        status: Obj = {
            "phase": self.phase,
            "conditions": conditions,
            "hostIP": "127.0.0.1",
            "hostIPs": [{"ip": "127.0.0.1"}],
            "podIP": "127.0.0.1",
            "podIPs": [{"ip": "127.0.0.1"}],
            "startTime": self.start_time,
            "containerStatuses": [c.status() for c in self.containers],
        }
        if self.init_containers:
            status["initContainerStatuses"] = [c.status() for c in self.init_containers]
        if self.reason:
            status["reason"], status["message"] = self.reason, self.message
        return status

    def push_status(self) -> None:
        """Patch the pod's status if it changed (UID precondition, merge by condition type)."""
        if self.frozen or self.start_time is None:
            return
        status = self.status()
        if status == self.last_status:
            return
        try:
            self.agent.api.request(
                "PATCH",
                f"/api/v1/namespaces/{self.namespace}/pods/{self.pod_name}/status",
                {"metadata": {"uid": self.uid}, "status": status},
                content_type="application/strategic-merge-patch+json",
            )
        except ApiError as error:
            if error.status in (404, 409):
                return  # the pod is gone or was replaced; the watch will tell
            log.warning("Pod %s: status update failed: %s", self.key, error)
            return
        if self.last_status is None or self.last_status["phase"] != status["phase"]:
            log.info("Pod %s is %s", self.key, status["phase"])
        self.last_status = status

    def event(self, kind: str, reason: str, message: str, container: Container | None = None) -> None:
        """Record an Event on the pod, as the kubelet does (once per reason and message in a row)."""
        key = f"{container.name if container else ''}/{reason}"
        if self.last_event.get(key) == message:
            return
        self.last_event[key] = message
        self.agent.event(self.pod, kind, reason, message, container)


# -- kubelet server ----------------------------------------------------------------------------------------


class KubeletHandler(BaseHTTPRequestHandler):
    """The kubelet API subset the API server needs: /containerLogs (and /healthz)."""

    server: KubeletServer
    server_version = "localcluster-nodeagent"

    def setup(self) -> None:
        self.request.settimeout(30)
        self.request.do_handshake()
        self.request.settimeout(None)
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("kubelet server: " + format, *args)

    def send_text(self, code: int, text: str) -> None:
        body = (text + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        parts = [urllib.parse.unquote(p) for p in url.path.strip("/").split("/")]
        if parts == ["healthz"]:
            self.send_text(200, "ok")
            return
        user, groups = self.peer()
        if not self.server.agent.authorized(user, groups, "get", "proxy"):
            self.send_text(403, f"Forbidden (user={user}, verb=get, resource=nodes, subresource=proxy)")
            return
        if len(parts) == 4 and parts[0] == "containerLogs":
            query = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}
            with contextlib.suppress(BrokenPipeError, ConnectionResetError, ssl.SSLError):
                self.container_logs(parts[1], parts[2], parts[3], query)
            return
        self.send_text(404, f"{url.path} is not served by the local node agent (only /containerLogs)")

    def peer(self) -> tuple[str, list[str]]:
        subject = (self.request.getpeercert() or {}).get("subject", ())
        user, groups = "", []
        for rdn in subject:
            for key, value in rdn:
                if key == "commonName":
                    user = value
                elif key == "organizationName":
                    groups.append(value)
        return user, groups

    def container_logs(self, namespace: str, pod: str, name: str, query: dict[str, str]) -> None:
        worker = self.server.agent.find(namespace, pod)
        if worker is None:
            self.send_text(404, f'pod "{pod}" not found')
            return
        c = worker.container(name)
        if c is None:
            self.send_text(400, f'container {name} is not valid for pod {pod}')
            return
        try:
            tail = int(query["tailLines"]) if "tailLines" in query else None
            limit = int(query["limitBytes"]) if "limitBytes" in query else None
        except ValueError:
            self.send_text(400, "tailLines and limitBytes must be integers")
            return
        if query.get("previous") == "true":
            if c.restart_count == 0:
                self.send_text(400, f'previous terminated container "{name}" in pod "{pod}" not found')
                return
            attempt = c.restart_count - 1
        else:
            attempt = c.restart_count
        path = c.log_path(attempt)
        if not path.exists():
            self.send_text(400, f'container "{name}" in pod "{pod}" is waiting to start: {c.reason}')
            return
        follow = query.get("follow") == "true" and attempt == c.restart_count
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        offset = path.stat().st_size
        data = read_tail(path, offset, tail)
        remaining = limit if limit is not None else -1
        if remaining >= 0:
            data = data[:remaining]
            remaining -= len(data)
        self.wfile.write(data)
        self.wfile.flush()
        with path.open("rb") as f:
            while follow and remaining != 0:
                running = c.state == "running" and c.restart_count == attempt and not worker.gone
                f.seek(offset)
                chunk = f.read(65536)
                if chunk:
                    if remaining > 0:
                        chunk = chunk[:remaining]
                        remaining -= len(chunk)
                    offset += len(chunk)
                    self.wfile.write(chunk)
                    self.wfile.flush()
                elif not running:
                    break
                else:
                    time.sleep(0.1)


class KubeletServer(ThreadingHTTPServer):
    """HTTPS on 127.0.0.1 with a CA-signed serving certificate; clients must present a CA-signed cert."""

    daemon_threads = True

    def __init__(self, agent: Agent, port: int, cert: Path, key: Path, client_ca: Path) -> None:
        super().__init__(("127.0.0.1", port), KubeletHandler)
        self.agent = agent
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(cert), str(key))
        context.load_verify_locations(str(client_ca))
        context.verify_mode = ssl.CERT_REQUIRED
        self.socket = context.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("kubelet server: request from %s failed", client_address, exc_info=True)


# -- the agent ------------------------------------------------------------------------------------------------


class Agent:
    """Registers the node, keeps it alive, watches its pods and runs one PodWorker per pod."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.node_name: str = args.node_name
        self.port: int = args.port
        self.state_dir = Path(args.state_dir)
        self.pods_dir = self.state_dir / "pods"
        self.unpullable_prefix: str = args.unpullable_prefix
        self.args = args
        self.api = Api(Path(args.kubeconfig), self.state_dir / "credentials")
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.workers: dict[str, PodWorker] = {}
        self.by_name: dict[str, PodWorker] = {}
        self.authz_cache: dict[tuple[str, tuple[str, ...], str, str], tuple[bool, float]] = {}
        self.started = now_iso()
        api = urllib.parse.urlsplit(self.api.server)
        host, port = api.hostname or "127.0.0.1", str(api.port or 443)
        # There is no service network: point the kubernetes Service variables at the API server itself.
        self.service_env = {
            "KUBERNETES_SERVICE_HOST": host,
            "KUBERNETES_SERVICE_PORT": port,
            "KUBERNETES_SERVICE_PORT_HTTPS": port,
            "KUBERNETES_PORT": f"tcp://{host}:{port}",
            f"KUBERNETES_PORT_{port}_TCP": f"tcp://{host}:{port}",
            f"KUBERNETES_PORT_{port}_TCP_PROTO": "tcp",
            f"KUBERNETES_PORT_{port}_TCP_PORT": port,
            f"KUBERNETES_PORT_{port}_TCP_ADDR": host,
        }
        memory_kib = 0
        with contextlib.suppress(OSError):
            for line in Path("/proc/meminfo").read_text().splitlines():
                if line.startswith("MemTotal:"):
                    memory_kib = int(line.split()[1])
        disk = os.statvfs(self.state_dir if self.state_dir.exists() else "/")
        self.allocatable = {
            "cpu": str(args.cpu or os.cpu_count() or 1),
            "memory": f"{memory_kib}Ki",
            "pods": str(args.max_pods),
            "ephemeral-storage": str(disk.f_frsize * disk.f_blocks),
        }

    # -- lifecycle ------------------------------------------------------------------------------------

    def run(self) -> int:
        signal.signal(signal.SIGTERM, lambda *_: self.stopping.set())
        signal.signal(signal.SIGINT, lambda *_: self.stopping.set())
        self.kill_leftovers()
        shutil.rmtree(self.pods_dir, ignore_errors=True)
        self.pods_dir.mkdir(parents=True, exist_ok=True)
        server = KubeletServer(self, self.port, Path(self.args.tls_cert), Path(self.args.tls_key),
                               Path(self.args.client_ca))
        threading.Thread(target=server.serve_forever, name="kubelet-server", daemon=True).start()
        log.info("Serving the kubelet API on https://127.0.0.1:%d", self.port)
        while not self.stopping.is_set():
            try:
                self.register()
                break
            except (ApiError, OSError, urllib3.exceptions.HTTPError) as error:
                log.info("Waiting for the API server to register node %s: %s", self.node_name, error)
                self.stopping.wait(0.5)
        threading.Thread(target=self.heartbeat, name="heartbeat", daemon=True).start()
        threading.Thread(target=self.watch_pods, name="pod-watch", daemon=True).start()
        while not self.stopping.wait(1):
            pass
        log.info("Stopping: killing the containers of %d pods", len(self.workers))
        self.shutdown()
        server.shutdown()
        return 0

    def kill_leftovers(self) -> None:
        """Kill containers a previous agent on this state directory left running."""
        for pid_file in self.pods_dir.glob("*/containers/*/pid"):
            with contextlib.suppress(OSError, ValueError):
                pid, start_time = pid_file.read_text().split()
                kill_process_group(int(pid), start_time, 2)

    def shutdown(self) -> None:
        with self.lock:
            workers = list(self.workers.values())
        procs = [c.proc for w in workers for c in w.init_containers + w.containers if c.proc]
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 3
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(deadline - time.monotonic(), 0))
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    # -- node and lease ------------------------------------------------------------------------------------

    def node_status(self) -> Obj:
        now = now_iso()
        conditions = [
            {"type": kind, "status": "False", "reason": reason, "message": message,
             "lastHeartbeatTime": now, "lastTransitionTime": self.started}
            for kind, reason, message in (
                ("MemoryPressure", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            )
        ]
        conditions.append({"type": "Ready", "status": "True", "reason": "KubeletReady",
                           "message": "kubelet is posting ready status", "lastHeartbeatTime": now,
                           "lastTransitionTime": self.started})

        def read(path: str) -> str:
            try:
                return Path(path).read_text().strip()
            except OSError:
                return ""

        os_image = next((line.split("=", 1)[1].strip('"') for line in read("/etc/os-release").splitlines()
                         if line.startswith("PRETTY_NAME=")), "Linux")
        arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
        return {
            "capacity": self.allocatable,
            "allocatable": self.allocatable,
            "conditions": conditions,
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"},
                          {"type": "Hostname", "address": self.node_name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.port}},
            "nodeInfo": {
                "machineID": read("/etc/machine-id"),
                "systemUUID": read("/etc/machine-id"),
                "bootID": read("/proc/sys/kernel/random/boot_id"),
                "kernelVersion": platform.release(),
                "osImage": os_image,
                "containerRuntimeVersion": "localcluster://host-processes",
                "kubeletVersion": self.kubelet_version,
                "kubeProxyVersion": "",
                "operatingSystem": "linux",
                "architecture": arch,
            },
        }

    def register(self) -> None:
        self.kubelet_version = str(self.api.request("GET", "/version").get("gitVersion", "v0.0.0"))
        arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
        labels = {
            "kubernetes.io/hostname": self.node_name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": arch,
            "beta.kubernetes.io/os": "linux",
            "beta.kubernetes.io/arch": arch,
        }
        try:
            self.api.request("POST", "/api/v1/nodes", {
                "apiVersion": "v1", "kind": "Node", "metadata": {"name": self.node_name, "labels": labels},
                "spec": {}, "status": self.node_status(),
            })
            log.info("Registered node %s", self.node_name)
        except ApiError as error:
            if error.status != 409:
                raise
        self.update_node_status()

    def update_node_status(self) -> None:
        self.api.request("PATCH", f"/api/v1/nodes/{self.node_name}/status", {"status": self.node_status()},
                         content_type="application/strategic-merge-patch+json")

    def renew_lease(self) -> None:
        path = f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{self.node_name}"
        spec = {"holderIdentity": self.node_name, "leaseDurationSeconds": LEASE_DURATION_SECONDS,
                "renewTime": now_micro()}
        try:
            self.api.request("PATCH", path, {"spec": spec}, content_type="application/merge-patch+json")
        except ApiError as error:
            if error.status != 404:
                raise
            node = self.api.request("GET", f"/api/v1/nodes/{self.node_name}")
            self.api.request("POST", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", {
                "apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": self.node_name, "namespace": "kube-node-lease", "ownerReferences": [
                    {"apiVersion": "v1", "kind": "Node", "name": self.node_name, "uid": node["metadata"]["uid"]}
                ]},
                "spec": spec,
            })

    def heartbeat(self) -> None:
        while not self.stopping.is_set():
            try:
                self.renew_lease()
                self.update_node_status()
            except Exception as error:
                log.warning("Heartbeat of node %s failed: %s", self.node_name, error)
                self.stopping.wait(1)
                continue
            self.stopping.wait(HEARTBEAT_SECONDS)

    # -- pods -------------------------------------------------------------------------------------------------

    def watch_pods(self) -> None:
        """List and watch the pods bound to this node (reconnecting for ever) and hand them to workers."""
        selector = {"fieldSelector": f"spec.nodeName={self.node_name}"}
        version: str | None = None
        while not self.stopping.is_set():
            try:
                if version is None:
                    listing = self.api.request("GET", "/api/v1/pods", params=selector)
                    version = listing["metadata"]["resourceVersion"]
                    self.sync_all(listing["items"])
                for event in self.api.watch("/api/v1/pods", {
                    **selector, "resourceVersion": version, "allowWatchBookmarks": "true", "timeoutSeconds": "300",
                }):
                    kind, obj = event["type"], event["object"]
                    if kind == "ERROR":
                        log.info("Pod watch ended: %s; listing again", obj.get("message"))
                        version = None
                        break
                    version = obj["metadata"]["resourceVersion"]
                    try:
                        if kind in ("ADDED", "MODIFIED"):
                            self.on_pod(obj)
                        elif kind == "DELETED":
                            self.on_deleted(obj)
                    except Exception:
                        log.exception("Could not handle %s of pod %s", kind, obj["metadata"].get("name"))
            except Exception as error:
                log.warning("Pod watch failed (%s); reconnecting", error)
                version = None
                self.stopping.wait(1)

    def sync_all(self, pods: list[Obj]) -> None:
        uids = {p["metadata"]["uid"] for p in pods}
        for pod in pods:
            self.on_pod(pod)
        with self.lock:
            stale = [w for uid, w in self.workers.items() if uid not in uids]
        for worker in stale:
            worker.mark_gone()

    def on_pod(self, pod: Obj) -> None:
        uid = pod["metadata"]["uid"]
        with self.lock:
            worker = self.workers.get(uid)
            if worker is None:
                worker = PodWorker(self, pod)
                self.workers[uid] = worker
                self.by_name[worker.key] = worker
                log.info("Pod %s (%s) bound to this node", worker.key, uid)
                worker.start()
                return
        worker.update(pod)

    def on_deleted(self, pod: Obj) -> None:
        with self.lock:
            worker = self.workers.get(pod["metadata"]["uid"])
        if worker is not None:
            worker.mark_gone()

    def forget(self, worker: PodWorker) -> None:
        with self.lock:
            self.workers.pop(worker.uid, None)
            if self.by_name.get(worker.key) is worker:
                del self.by_name[worker.key]

    def find(self, namespace: str, name: str) -> PodWorker | None:
        with self.lock:
            return self.by_name.get(f"{namespace}/{name}")

    def event(self, pod: Obj, kind: str, reason: str, message: str, container: Container | None) -> None:
        meta = pod["metadata"]
        involved: Obj = {"apiVersion": "v1", "kind": "Pod", "namespace": meta["namespace"],
                         "name": meta["name"], "uid": meta["uid"]}
        if container is not None:
            section = "initContainers" if container.init else "containers"
            involved["fieldPath"] = f"spec.{section}{{{container.name}}}"
        now = now_iso()
        try:
            self.api.request("POST", f"/api/v1/namespaces/{meta['namespace']}/events", {
                "apiVersion": "v1", "kind": "Event",
                "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
                "involvedObject": involved, "reason": reason, "message": message, "type": kind,
                "source": {"component": "kubelet", "host": self.node_name},
                "reportingComponent": "kubelet", "reportingInstance": self.node_name,
                "firstTimestamp": now, "lastTimestamp": now, "count": 1,
            }, timeout=5)
        except Exception as error:
            log.debug("Could not record event %s on pod %s/%s: %s", reason, meta["namespace"], meta["name"], error)

    def authorized(self, user: str, groups: list[str], verb: str, subresource: str) -> bool:
        """Ask the API server whether the caller may use this node's API (SubjectAccessReview, cached)."""
        key = (user, tuple(groups), verb, subresource)
        cached = self.authz_cache.get(key)
        if cached and cached[1] > time.monotonic():
            return cached[0]
        try:
            review = self.api.request("POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", {
                "apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
                "spec": {"user": user, "groups": groups, "resourceAttributes": {
                    "verb": verb, "resource": "nodes", "subresource": subresource, "name": self.node_name}},
            })
        except Exception as error:
            log.warning("SubjectAccessReview for %s failed: %s", user, error)
            return False
        allowed = bool(review.get("status", {}).get("allowed"))
        self.authz_cache[key] = (allowed, time.monotonic() + (300 if allowed else 30))
        return allowed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localcluster.nodeagent", description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", required=True, help="kubeconfig of system:node:<name>")
    parser.add_argument("--node-name", required=True)
    parser.add_argument("--port", type=int, required=True, help="TLS port of the kubelet API")
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--tls-cert", required=True)
    parser.add_argument("--tls-key", required=True)
    parser.add_argument("--client-ca", required=True, help="CA that signs the API server's client cert")
    parser.add_argument("--unpullable-prefix", default=DEFAULT_UNPULLABLE_PREFIX,
                        help="images under this prefix never start (ErrImagePull, ImagePullBackOff)")
    parser.add_argument("--cpu", type=int, default=0, help="cpu capacity to report (default: host cpus)")
    parser.add_argument("--max-pods", type=int, default=110)
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(threadName)s: %(message)s",
    )
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    return Agent(args).run()


if __name__ == "__main__":
    sys.exit(main())
