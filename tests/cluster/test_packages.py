"""The local cluster's package index and npm registry (hack/localcluster/packages.py), used by
`packgate run` on this machine as a Job uses them from a pod: the example packs with runtime
dependencies install from them, and what they were not filled with is not found (offline)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from localcluster.cluster import DEFAULT_BASE_PORT, Ports
from localcluster.packages import sources
from plugins.cluster import LocalCluster

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[2]
PACKGATE = Path(sys.executable).parent / "packgate"


def packgate_run(directory: Path, extra: dict[str, str]) -> tuple[int, dict[str, object]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "npm_config_", "NPM_CONFIG_"))}
    done = subprocess.run(
        [str(PACKGATE), "run", str(directory), "--json"],
        env={**env, **extra},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return done.returncode, json.loads(done.stdout)


def test_packgate_run_installs_from_the_local_index_and_registry(cluster: LocalCluster) -> None:
    """packs/yaml-config and packs/semver-gate pass with `packgate run` when PACKGATE_PIP_INDEX_URL and
    PACKGATE_NPM_REGISTRY name the cluster's servers: PyYAML and semver come from them."""
    urls = sources(Ports(DEFAULT_BASE_PORT).packages)
    for pack, expected in (("yaml-config", 6), ("semver-gate", 8)):
        code, output = packgate_run(REPO / "packs" / pack, urls)
        result = output["result"]
        assert isinstance(result, dict)
        assert (code, result["status"], result["passed"], result["failed"]) == (0, "passed", expected, 0)


def test_an_unfilled_package_is_not_found(cluster: LocalCluster, tmp_path: Path) -> None:
    """The index serves only what it was filled with (no fallback to PyPI): a pack needing another
    package is a runner error saying pip found no matching distribution, and the verdict blocks."""
    pack = tmp_path / "pack"
    subprocess.run(["cp", "-r", str(REPO / "packs" / "yaml-config"), str(pack)], check=True)
    (pack / "requirements.txt").write_text("PyYAML==6.0.2\nsix==1.16.0\n")
    code, output = packgate_run(pack, sources(Ports(DEFAULT_BASE_PORT).packages))
    result = output["result"]
    assert isinstance(result, dict)
    suite = result["test_suites"][0]
    assert (code, suite["status"], suite["reason"]) == (1, "error", "DependencyInstallFailed")
    assert suite["error"].endswith('"ERROR: No matching distribution found for six==1.16.0"')
