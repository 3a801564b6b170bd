"""The history UI for real: `packgate ui` as its own process, reading the session's PostgreSQL as a
packgate_reader login role and the local cluster as a ServiceAccount bound to the ClusterRole of
manifests/base/ui (TokenReview, SubjectAccessReview, read Packs), with callers that are
ServiceAccounts holding TokenRequest tokens:

    alice  may get, list and patch packs in namespace A
    bob    may get and list packs in namespace B (no patch)
    carol  may do nothing with packs

Pack objects: A/alpha (status Testing, a running execution) and B/beta.  History in the database:
A/alpha (hostile test names and messages, a regression, a flaky test), A/gamma (database only) and
B/beta (names that must never reach alice).

Fixture `ui` (module scope) gives a `UiServer`: `.url`, `.token[user]`, `.ns_a`, `.ns_b`, `.get()`,
`.post()`, `.kubectl()`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from localpg import PostgresServer, free_port
from packgate.results import TestStatus as T
from plugins.cluster import LocalCluster, wait_until
from plugins.postgres import TEMPLATE
from ui.seed import HOSTILE_CASE, HOSTILE_IMG, HOSTILE_MESSAGE, HOSTILE_SUITE, HOSTILE_VERSION, Run, record_history

REPO = Path(__file__).resolve().parents[2]
UI_ROLE = REPO / "manifests" / "base" / "ui" / "cluster_role.yaml"
PACKGATE = Path(sys.executable).with_name("packgate")
BETA_SECRET = "beta-secret-test-name"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirect)


@dataclass
class UiServer:
    url: str
    ns_a: str
    ns_b: str
    dsn: str
    cluster: LocalCluster
    token: dict[str, str] = field(default_factory=dict)
    log: Path = Path()

    def request(
        self,
        method: str,
        path: str,
        user: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> Answer:
        """One HTTP request to the UI, as `user` (a bearer token) or anonymous; redirects not followed."""
        all_headers = dict(headers or {})
        if user is not None:
            all_headers["Authorization"] = f"Bearer {self.token[user]}"
        req = urllib.request.Request(self.url + path, data=body, method=method, headers=all_headers)
        try:
            with _opener.open(req, timeout=30) as response:
                return Answer(response.status, {k.lower(): v for k, v in response.headers.items()}, response.read())
        except urllib.error.HTTPError as error:
            return Answer(error.code, {k.lower(): v for k, v in error.headers.items()}, error.read())

    def get(self, path: str, user: str | None = None, **kwargs: Any) -> Answer:
        return self.request("GET", path, user, **kwargs)

    def post(self, path: str, user: str | None = None, **kwargs: Any) -> Answer:
        return self.request("POST", path, user, **kwargs)

    def pack(self, namespace: str, name: str) -> dict[str, Any]:
        out = self.cluster.kubectl("get", "packs.packgate.dev", name, "-n", namespace, "-o", "json")
        return dict(json.loads(out.stdout))

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:]) if self.log.exists() else ""


def _apply(cluster: LocalCluster, *objects: dict[str, Any]) -> None:
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(objects))


def _token(cluster: LocalCluster, namespace: str, name: str) -> str:
    from kubernetes import client

    request = client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=3600))
    with cluster.api_client() as api:
        answer = client.CoreV1Api(api).create_namespaced_service_account_token(name, namespace, request)
    return str(answer.status.token)


def _role(namespace: str, name: str, verbs: list[str]) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": name, "namespace": namespace},
            "rules": [{"apiGroups": ["packgate.dev"], "resources": ["packs"], "verbs": verbs}],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": name, "namespace": namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": namespace}],
        },
    ]


def _service_account(namespace: str, name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": namespace}}


def _pack(namespace: str, name: str, version: str) -> dict[str, Any]:
    return {
        "apiVersion": "packgate.dev/v1alpha1",
        "kind": "Pack",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"version": version, "source": {"configMap": {"name": f"{name}-pack"}}},
    }


def alpha_history() -> list[Run]:
    """A/alpha: 1.0.0 passes and is active, then 1.1.0 regresses `s::steady`, flips `s::flaky`,
    and carries hostile names and messages."""
    hostile = {f"{HOSTILE_SUITE}::{HOSTILE_CASE}": T.FAILED, f"s::{HOSTILE_IMG}": T.ERROR}
    messages = {f"{HOSTILE_SUITE}::{HOSTILE_CASE}": HOSTILE_MESSAGE, f"s::{HOSTILE_IMG}": HOSTILE_MESSAGE}
    return [
        Run({"s::steady": T.PASSED, "s::flaky": T.PASSED}, version="1.0.0", trigger="install", active_version="1.0.0"),
        Run({"s::steady": T.PASSED, "s::flaky": T.PASSED}, version="1.0.0", active_version="1.0.0"),
        Run({"s::steady": T.PASSED, "s::flaky": T.FAILED}, version="1.1.0", active_version="1.0.0"),
        Run({"s::steady": T.PASSED, "s::flaky": T.PASSED}, version="1.1.0", active_version="1.0.0", trigger="manual"),
        Run(
            {"s::steady": T.FAILED, "s::flaky": T.FAILED, **hostile},
            version=HOSTILE_VERSION,
            active_version="1.0.0",
            messages=messages,
            job="alpha-s-7f3a",
        ),
    ]


@pytest.fixture(scope="module")
def ui(cluster: LocalCluster, postgres: PostgresServer, _migrated_template: str) -> Iterator[UiServer]:
    suffix = uuid.uuid4().hex[:6]
    ns_a, ns_b, ns_sys = f"ui-a-{suffix}", f"ui-b-{suffix}", f"ui-sys-{suffix}"
    role_name = f"packgate-ui-test-{suffix}"
    database = f"ui_{suffix}"
    reader = f"ui_reader_{suffix}"
    workdir = Path(tempfile.mkdtemp(prefix="packgate-ui-"))
    process: subprocess.Popen[bytes] | None = None
    server = UiServer(url="", ns_a=ns_a, ns_b=ns_b, dsn="", cluster=cluster, log=workdir / "ui.log")
    try:
        cluster.kubectl("apply", "-f", str(REPO / "crds" / "packgate.dev_packs.yaml"))
        cluster.kubectl("wait", "--for=condition=Established", "crd/packs.packgate.dev", "--timeout=60s")
        for ns in (ns_a, ns_b, ns_sys):
            cluster.kubectl("create", "namespace", ns)
        # The UI's own identity: exactly the ClusterRole of the manifests, under a test name.
        role = yaml.safe_load(UI_ROLE.read_text())
        role["metadata"] = {"name": role_name}
        binding = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": role_name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role_name},
            "subjects": [{"kind": "ServiceAccount", "name": "packgate-ui", "namespace": ns_sys}],
        }
        _apply(
            cluster,
            role,
            binding,
            _service_account(ns_sys, "packgate-ui"),
            _service_account(ns_a, "alice"),
            *_role(ns_a, "alice", ["get", "list", "patch"]),
            _service_account(ns_b, "bob"),
            *_role(ns_b, "bob", ["get", "list"]),
            _service_account(ns_sys, "carol"),
            _pack(ns_a, "alpha", "1.1.0"),
            _pack(ns_b, "beta", "3.0.0"),
        )
        cluster.kubectl(
            "patch",
            "packs.packgate.dev",
            "alpha",
            "-n",
            ns_a,
            "--subresource=status",
            "--type=merge",
            "-p",
            json.dumps(
                {
                    "status": {
                        "phase": "Testing",
                        "activeVersion": "1.0.0",
                        "message": "testing version 1.1.0",
                        "currentExecution": {
                            "id": "run-42",
                            "trigger": "manual",
                            "version": "1.1.0",
                            "specHash": "h",
                            "token": "t",
                            "nonce": "n",
                            "queuedAt": "2026-11-30T12:00:00Z",
                            "startedAt": "2026-11-30T12:00:05Z",
                        },
                    }
                }
            ),
        )
        server.token = {
            "alice": _token(cluster, ns_a, "alice"),
            "bob": _token(cluster, ns_b, "bob"),
            "carol": _token(cluster, ns_sys, "carol"),
        }
        kubeconfig = cluster.kubeconfig_for_service_account(ns_sys, "packgate-ui", workdir / "ui.kubeconfig")

        dsn = postgres.create_database(database, template=TEMPLATE)
        server.dsn = dsn
        record_history(dsn, ns_a, "alpha", alpha_history())
        record_history(dsn, ns_a, "gamma", [Run({"g::one": T.PASSED})])
        record_history(dsn, ns_b, "beta", [Run({f"s::{BETA_SECRET}": T.FAILED}, version="3.0.0")])
        postgres.psql(f"CREATE ROLE {reader} LOGIN PASSWORD 'reader-pw' IN ROLE packgate_reader")
        reader_dsn = f"postgresql://{reader}:reader-pw@127.0.0.1:{postgres.port}/{database}"

        port = free_port()
        server.url = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("PACKGATE_") and k != "KUBECONFIG"}
        with server.log.open("wb") as log:
            process = subprocess.Popen(
                [
                    str(PACKGATE),
                    "ui",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--database-url",
                    reader_dsn,
                    "--kubeconfig",
                    str(kubeconfig),
                    "--log-level",
                    "warning",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )

        def healthy() -> bool:
            if process is not None and process.poll() is not None:
                raise AssertionError(f"packgate ui exited {process.returncode}:\n{server.log_tail()}")
            try:
                return server.get("/readyz").status == 200
            except OSError:
                return False

        wait_until("packgate ui to answer /readyz", healthy, timeout=30)
        yield server
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            print(f"\n--- packgate ui log tail ---\n{server.log_tail()}")
        for ns in (ns_a, ns_b, ns_sys):
            cluster.kubectl("delete", "namespace", ns, "--wait=false", "--ignore-not-found", check=False)
        cluster.kubectl("delete", "clusterrolebinding,clusterrole", role_name, "--ignore-not-found", check=False)
        postgres.drop_database(database)
        postgres.psql(f"DROP ROLE IF EXISTS {reader}")
        shutil.rmtree(workdir, ignore_errors=True)
