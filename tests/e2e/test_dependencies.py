"""End to end: runners install a pack's requirements.txt and package.json before its tests (issue #12).

The operator is deployed by the `operator` fixture through hack/demo.py, whose env points
PACKGATE_PIP_INDEX_URL and PACKGATE_NPM_REGISTRY at the local cluster's own package index and npm
registry (hack/localcluster/packages.py: pypiserver and verdaccio on the node's address, serving
only what they were filled with, as a mirror in an air-gapped cluster does).  The runner pods are
real pods of the restricted Pod Security level, pulling Debian-built images that carry pip and npm.
"""

from __future__ import annotations

import pytest

from e2e.helpers import cond, manifest, pack_yaml, status, wait_settled
from localcluster.cluster import DEFAULT_BASE_PORT, Ports
from localcluster.packages import sources

pytestmark = pytest.mark.e2e

UNITTEST_IMPORTS_YAML = """\
import unittest

import yaml


class TestYaml(unittest.TestCase):
    def test_loads(self):
        self.assertEqual(yaml.safe_load("a: 1"), {"a": 1})
"""


def test_python_pack_installs_pyyaml_and_passes(operator, kube, namespace):
    """packs/yaml-config: pip installs PyYAML from the cluster's index in the runner pod, and the
    tests that import it pass (6/6), so the version is activated."""
    kube.apply(manifest("packs/yaml-config", namespace))
    pack = wait_settled(kube, namespace, "yaml-config", timeout=240)
    st = status(pack)
    suite = st["lastExecution"]["suites"][0]
    assert (st["phase"], cond(pack, "Active"), suite["passed"], suite["failed"], suite.get("error")) == (
        "Passed",
        ("True", "TestsPassed"),
        6,
        0,
        None,
    )


def test_node_pack_installs_semver_and_passes(operator, kube, namespace):
    """packs/semver-gate: npm ci installs semver from the cluster's npm registry in the runner pod,
    and the TAP tests that require it pass (8/8)."""
    kube.apply(manifest("packs/semver-gate", namespace))
    pack = wait_settled(kube, namespace, "semver-gate", timeout=240)
    st = status(pack)
    suite = st["lastExecution"]["suites"][0]
    assert (st["phase"], cond(pack, "Active"), suite["passed"], suite["failed"], suite.get("error")) == (
        "Passed",
        ("True", "TestsPassed"),
        8,
        0,
        None,
    )


def test_unresolvable_requirement_is_dependency_install_failed(operator, kube, namespace):
    """A requirement the index does not have, with the index named by the Pack's own
    spec.testing.dependencies.pipIndexUrl: the runner is an error with reason
    DependencyInstallFailed (not a test failure), and its message ends with pip's last lines."""
    index = sources(Ports(DEFAULT_BASE_PORT).packages)["PACKGATE_PIP_INDEX_URL"]
    files = {
        "requirements.txt": "PyYAML==6.0.2\npackgate-no-such-package==1.0\n",
        "tests/__init__.py": "",
        "tests/test_yaml.py": UNITTEST_IMPORTS_YAML,
    }
    runners = [{"name": "python", "type": "unittest", "entryPoint": "tests/test_yaml.py", "timeout": "180s"}]
    kube.apply(
        pack_yaml(namespace, "unresolvable", "1.0.0", files, runners, testing={"dependencies": {"pipIndexUrl": index}})
    )
    pack = wait_settled(kube, namespace, "unresolvable", timeout=240)
    st = status(pack)
    suite = st["lastExecution"]["suites"][0]
    assert (st["phase"], cond(pack, "Active")[0], suite["reason"], suite["total"]) == (
        "Error",
        "False",
        "DependencyInstallFailed",
        0,
    )
    assert suite["error"].startswith(
        "installing the dependencies in requirements.txt with pip failed (exit code 1); the tests did not run; "
        "last lines: "
    )
    assert suite["error"].endswith('"ERROR: No matching distribution found for packgate-no-such-package==1.0"')
