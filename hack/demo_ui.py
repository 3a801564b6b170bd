"""The history UI for `make demo` (hack/demo.py calls `deploy_ui` after the operator is up).

Gives the UI a login role in packgate_reader (created by migration 0004) on the demo's PostgreSQL,
the Secret `packgate-ui-database` with its in-cluster URL, and the UI's objects of the `local`
overlay (manifests/base/ui) with the operator's image; waits for the rollout.  Demo only: the
password is fixed and printed nowhere but this file.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import yaml

from demo import REPO, SYSTEM_NAMESPACE, in_cluster_dsn, kubectl

UI_DEPLOYMENT = "packgate-ui"
UI_ROLE = "packgate_ui"
UI_PASSWORD = "packgate-ui-demo-only"


def is_ui(doc: dict[str, Any]) -> bool:
    """Whether a rendered object belongs to the history UI (manifests/base/ui)."""
    return (doc.get("metadata", {}).get("labels") or {}).get("app.kubernetes.io/component") == "ui"


def ui_objects(image: str) -> list[dict[str, Any]]:
    """The UI's objects of the `local` overlay, its Deployment on `image`."""
    rendered = kubectl("kustomize", str(REPO / "manifests" / "overlays" / "local"))
    docs = [d for d in yaml.safe_load_all(rendered) if d and is_ui(d)]
    for doc in docs:
        if doc["kind"] == "Deployment":
            doc["spec"]["template"]["spec"]["containers"][0]["image"] = image
    return docs


def reader_dsn(admin_dsn: str) -> str:
    """Create (or reset) the UI's login role in packgate_reader; return the host DSN it logs in with."""

    async def create() -> None:
        connection = await asyncpg.connect(admin_dsn)
        try:
            exists = await connection.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", UI_ROLE)
            verb = "ALTER" if exists else "CREATE"
            await connection.execute(f"{verb} ROLE {UI_ROLE} LOGIN PASSWORD '{UI_PASSWORD}'")
            await connection.execute(f"GRANT packgate_reader TO {UI_ROLE}")
        finally:
            await connection.close()

    asyncio.run(create())
    parts = urlsplit(admin_dsn)
    return urlunsplit(parts._replace(netloc=f"{UI_ROLE}:{UI_PASSWORD}@{parts.hostname}:{parts.port}"))


def deploy_ui(kubeconfig: Path, image: str, admin_dsn: str, timeout: int = 180) -> None:
    """Deploy the history UI next to the operator and wait until it is ready."""
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "packgate-ui-database", "namespace": SYSTEM_NAMESPACE},
        "stringData": {"url": in_cluster_dsn(reader_dsn(admin_dsn))},
    }
    kubectl("apply", "-f", "-", kubeconfig=kubeconfig, input=yaml.safe_dump_all([secret, *ui_objects(image)]))
    kubectl("rollout", "status", f"deployment/{UI_DEPLOYMENT}", "-n", SYSTEM_NAMESPACE, f"--timeout={timeout}s",
            kubeconfig=kubeconfig)
