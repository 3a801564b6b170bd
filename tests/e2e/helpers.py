"""Builders for e2e tests: Packs and their ConfigMaps as plain YAML, plus status readers."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from packgate.packfile import config_map_data, paths_annotation

REPO = Path(__file__).resolve().parents[2]
PACKGATE = Path(sys.executable).parent / "packgate"

SIMPLE_SCRIPT = """#!/bin/sh
echo "Total Tests: {total}"
echo "Passed: {passed}"
echo "Failed: {failed}"
[ {failed} -eq 0 ]
"""


def pack_yaml(
    namespace: str,
    name: str,
    version: str,
    files: dict[str, str],
    runners: list[dict[str, Any]] | None,
    **spec: Any,
) -> str:
    """A ConfigMap holding `files` (with the paths annotation) and a Pack that tests them."""
    data, _, paths = config_map_data({path: text.encode() for path, text in files.items()})
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": f"{name}-pack",
            "namespace": namespace,
            "annotations": {"packgate.dev/paths": paths_annotation(paths)},
        },
        "data": data,
    }
    body: dict[str, Any] = {"version": version, "source": {"configMap": {"name": f"{name}-pack"}}, **spec}
    if runners is not None:
        body.setdefault("testing", {})["runners"] = runners
    pack = {
        "apiVersion": "packgate.dev/v1alpha1",
        "kind": "Pack",
        "metadata": {"name": name, "namespace": namespace},
        "spec": body,
    }
    return yaml.safe_dump_all([config_map, pack])


def simple_pack(namespace: str, name: str, version: str, *, passed: int, failed: int, **spec: Any) -> str:
    """A pack with one shell runner that reports `passed`/`failed` in the simple format."""
    script = SIMPLE_SCRIPT.format(total=passed + failed, passed=passed, failed=failed)
    runners = [{"name": "shell", "type": "script", "entryPoint": "tests/run.sh", "timeout": "60s"}]
    return pack_yaml(namespace, name, version, {"tests/run.sh": script}, runners, **spec)


def manifest(pack_dir: str, namespace: str) -> str:
    """`packgate manifest DIR --namespace NS`, as a user runs it."""
    proc = subprocess.run(
        [str(PACKGATE), "manifest", str(REPO / pack_dir), "--namespace", namespace],
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stdout


def status(pack: dict[str, Any]) -> dict[str, Any]:
    return dict(pack.get("status") or {})


def cond(pack: dict[str, Any], type_: str) -> tuple[str | None, str | None]:
    for c in status(pack).get("conditions") or []:
        if c.get("type") == type_:
            return c.get("status"), c.get("reason")
    return None, None


def settled(pack: dict[str, Any]) -> bool:
    """A verdict exists for the current generation and nothing is queued or running."""
    st = status(pack)
    return (
        st.get("observedGeneration") == pack["metadata"].get("generation")
        and st.get("phase") not in (None, "Pending", "Queued", "Testing")
        and cond(pack, "Reconciling")[0] == "False"
    )


def wait_settled(kube: Any, namespace: str, name: str, timeout: float = 150.0) -> dict[str, Any]:
    """Wait until the Pack has a verdict for its current generation; return it."""
    from plugins.operator import wait_for

    return dict(
        wait_for(
            f"Pack {namespace}/{name} to settle",
            lambda: (p := kube.pack(namespace, name)) and settled(p) and p,
            timeout=timeout,
        )
    )


def pack_deleted_at(dsn: str, namespace: str, name: str) -> Any:
    """When PostgreSQL's pack row of that name says it was deleted (None: not deleted, or no row)."""
    import asyncpg

    async def read() -> Any:
        conn = await asyncpg.connect(dsn)
        try:
            return await conn.fetchval(
                "SELECT deleted_at FROM packgate.pack WHERE namespace = $1 AND name = $2", namespace, name
            )
        finally:
            await conn.close()

    return asyncio.run(read())


def executions(dsn: str, namespace: str, name: str) -> list[Any]:
    """The pack's execution history from PostgreSQL (newest first)."""
    from packgate.db import Database

    async def read() -> list[Any]:
        db = await Database.connect(dsn)
        try:
            return list(await db.history(namespace, name, limit=50))
        finally:
            await db.close()

    return asyncio.run(read())


def dump(obj: Any) -> str:
    return json.dumps(obj, indent=2, default=str)


# -- fleets: many Packs at once (the fleet e2e test, the drills, bench/fleet.py) -----------------

FLEET_UNITTEST = """import unittest


class FleetTest(unittest.TestCase):
    def test_adds(self):
        self.assertEqual(1 + 1, 2)

    def test_joins(self):
        self.assertEqual("-".join("ab"), "a-b")


if __name__ == "__main__":
    unittest.main()
"""
FLEET_FILES = {"tests/run.sh": SIMPLE_SCRIPT.format(total=2, passed=2, failed=0), "tests/test_fleet.py": FLEET_UNITTEST}
FLEET_RUNNERS = [
    {"name": "shell", "type": "script", "entryPoint": "tests/run.sh", "timeout": "300s"},
    {"name": "python", "type": "unittest", "entryPoint": "tests/test_fleet.py", "timeout": "300s"},
]


def fleet_yaml(
    namespace: str, names: list[str], files: dict[str, str] | None = None, runners: list[dict[str, Any]] | None = None
) -> str:
    """ConfigMaps and Packs for `names`, each with a shell and a python runner (or `runners`)."""
    return "\n---\n".join(
        pack_yaml(namespace, name, "1.0.0", files or FLEET_FILES, runners or FLEET_RUNNERS) for name in names
    )


def settled_names(kube: Any, namespace: str) -> set[str]:
    """The Packs of the namespace that have a verdict."""
    items = kube.json("get", "packs", "-n", namespace)["items"]
    return {p["metadata"]["name"] for p in items if settled(p)}


def audit(kube: Any, dsn: str, namespace: str, names: list[str]) -> dict[str, int]:
    """Counts over every pack: verdicts, Jobs beyond one per runner, rows beyond or short of one."""
    packs = {p["metadata"]["name"]: p for p in kube.json("get", "packs", "-n", namespace)["items"]}
    jobs: dict[tuple[str, str], int] = {}
    for job in kube.json("get", "jobs", "-n", namespace)["items"]:
        labels = job["metadata"]["labels"]
        key = (labels.get("packgate.dev/pack", ""), labels.get("packgate.dev/runner", ""))
        jobs[key] = jobs.get(key, 0) + 1
    rows = {name: len(executions(dsn, namespace, name)) for name in names}
    return {
        "packs": len(names),
        "verdicts": sum(1 for name in names if name in packs and settled(packs[name])),
        "lost": sum(1 for name in names if not (name in packs and settled(packs[name]))),
        "duplicate_jobs": sum(max(0, count - 1) for (pack, _), count in jobs.items() if pack in rows),
        "missing_rows": sum(1 for name in names if rows[name] == 0),
        "duplicate_rows": sum(max(0, rows[name] - 1) for name in names),
    }
