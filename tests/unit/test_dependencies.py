"""Unit tests of a pack's runtime dependencies (issue #12): the wrapper installing requirements.txt
with the real pip and package.json with the real npm (from a wheel directory and a `file:` package,
no network), the install-failed marker and its DependencyInstallFailed error, and the pure parts:
the install environment, the spec and pack.yaml fields, the settings and the rendered Job."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import socket
import subprocess
import zipfile
from pathlib import Path
from typing import Any

import pytest

from packgate.api.spec import load_spec
from packgate.errors import InvalidPack, InvalidSetting
from packgate.packfile import parse_packfile, to_pack_spec
from packgate.reconcile.render import PackIdentity, RenderOptions, render_job, spec_hash
from packgate.results import RunStatus, TestSuiteResult
from packgate.settings import load_settings
from packgate.wrapper import (
    DEPENDENCY_INSTALL_FAILED,
    collect,
    dependency_env,
    wrapper_command,
    wrapper_env,
)

pytestmark = pytest.mark.unit

NONCE = "0d1e2f3a4b5c6d7e"
REPO = Path(__file__).resolve().parents[2]


def wheel(directory: Path, name: str = "pgdemo", version: str = "1.0") -> Path:
    """A real, minimal pure-Python wheel `name` whose module holds VALUE = 42."""
    dist = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": b"VALUE = 42\n",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: packgate-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{dist}/RECORD,,")
    files[f"{dist}/RECORD"] = ("\n".join(record) + "\n").encode()
    target = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(target, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return target


def run_wrapped(workspace: Path, argv: list[str], runner_type: str, extra: dict[str, str]) -> tuple[list[str], int]:
    """Run `argv` under the wrapper in `workspace` as a runner of `runner_type`; (lines, exit code)."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(workspace.parent / "home"),
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_NO_CACHE_DIR": "1",
        **extra,
        **wrapper_env(NONCE, str(workspace), None, runner_type),
    }
    done = subprocess.run(
        wrapper_command(argv), env=env, cwd="/", capture_output=True, text=True, timeout=120, check=False
    )
    assert done.stderr == ""
    return done.stdout.splitlines(keepends=True), done.returncode


def judged(lines: list[str], runner_type: str, fmt: str, code: int) -> TestSuiteResult:
    return collect(
        lines, NONCE, name="deps", runner_type=runner_type, result_format=fmt, result_path=None, exit_code=code
    )


UNITTEST_USES_PGDEMO = """\
import unittest

import pgdemo


class TestPgdemo(unittest.TestCase):
    def test_value(self):
        self.assertEqual(pgdemo.VALUE, 42)

    def test_installed_in_the_workspace(self):
        self.assertIn("/.packgate/python/", pgdemo.__file__)
"""


def python_pack(workspace: Path, requirements: str) -> None:
    (workspace / "tests").mkdir(parents=True)
    (workspace / "tests" / "__init__.py").write_text("")
    (workspace / "tests" / "test_deps.py").write_text(UNITTEST_USES_PGDEMO)
    (workspace / "requirements.txt").write_text(requirements)


def test_pip_installs_requirements_before_the_tests(tmp_path: Path) -> None:
    """A unittest runner whose pack has requirements.txt: pip installs it into the workspace (from a
    wheel directory here, PIP_FIND_LINKS), the tests import it and pass; pip's own output stays out of
    the log, which holds one line saying what was installed."""
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    wheel(wheels)
    workspace = tmp_path / "ws"
    python_pack(workspace, "# what the tests import\npgdemo==1.0\n")
    lines, code = run_wrapped(
        workspace,
        ["python3", "-m", "unittest", "-v", "tests.test_deps"],
        "unittest",
        {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheels)},
    )
    assert lines[0] == "packgate: installing the dependencies in requirements.txt with pip\n"
    assert not any("Successfully installed" in line for line in lines)
    suite = judged(lines, "unittest", "unittest", code)
    assert (suite.status, suite.total, suite.passed, suite.error, suite.reason) == (
        RunStatus.PASSED,
        2,
        2,
        None,
        None,
    )


def test_unresolvable_requirement_is_dependency_install_failed(tmp_path: Path) -> None:
    """A requirement no index has: pip fails, the tests never run, and the runner is an error with
    reason DependencyInstallFailed whose message ends with pip's last lines."""
    workspace = tmp_path / "ws"
    python_pack(workspace, "pgdemo-does-not-exist==9.9\n")
    lines, code = run_wrapped(
        workspace, ["python3", "-m", "unittest", "-v", "tests.test_deps"], "unittest", {"PIP_NO_INDEX": "1"}
    )
    assert code == 1
    assert f"packgate:install-failed {NONCE} requirements.txt pip 1\n" in lines
    assert lines[-1] == f"packgate:exit {NONCE} 1\n"
    assert not any("Ran " in line for line in lines)  # unittest never started
    suite = judged(lines, "unittest", "unittest", code)
    assert (suite.status, suite.reason, suite.exit_code, suite.total) == (
        RunStatus.ERROR,
        DEPENDENCY_INSTALL_FAILED,
        1,
        0,
    )
    assert suite.error is not None
    assert suite.error.startswith(
        "installing the dependencies in requirements.txt with pip failed (exit code 1); the tests did not run; "
        "last lines: "
    )
    assert '"ERROR: No matching distribution found for pgdemo-does-not-exist==9.9"' in suite.error


def test_comment_only_requirements_and_script_runners_install_nothing(tmp_path: Path) -> None:
    """requirements.txt with only comments installs nothing, and a script runner never installs
    (its type has no tool): the tests run as before, with no install line."""
    for runner_type, requirements in (("unittest", "# nothing yet\n\n"), ("script", "pgdemo-does-not-exist==1\n")):
        workspace = tmp_path / runner_type
        workspace.mkdir()
        (workspace / "requirements.txt").write_text(requirements)
        (workspace / "run.sh").write_text('echo "Total Tests: 1"; echo "Passed: 1"; echo "Failed: 0"\n')
        lines, code = run_wrapped(workspace, ["sh", "run.sh"], runner_type, {"PIP_NO_INDEX": "1"})
        assert not any(line.startswith("packgate: installing") for line in lines)
        suite = judged(lines, runner_type, "simple", code)
        assert (suite.status, suite.passed) == (RunStatus.PASSED, 1)


NODE_TEST = """\
const test = require("node:test");
const assert = require("node:assert");
const pgdep = require("pgdep");

test("uses the installed package", () => {
  assert.strictEqual(pgdep.answer(), 42);
});
"""


def node_pack(workspace: Path, dependencies: dict[str, str] | None) -> None:
    (workspace / "tests").mkdir(parents=True)
    (workspace / "tests" / "deps.test.js").write_text(NODE_TEST)
    package: dict[str, Any] = {"name": "pack", "version": "1.0.0", "private": True}
    if dependencies is not None:
        package["dependencies"] = dependencies
    (workspace / "package.json").write_text(json.dumps(package))


NODE_ARGV = ["node", "--test", "--test-reporter=tap", "tests/deps.test.js"]


def test_npm_installs_package_json_dependencies(tmp_path: Path) -> None:
    """A node runner whose package.json has a dependency: npm install puts it in node_modules and the
    TAP tests require it and pass."""
    vendor = tmp_path / "ws" / "vendor" / "pgdep"
    vendor.mkdir(parents=True)
    (vendor / "package.json").write_text('{"name": "pgdep", "version": "1.0.0", "main": "index.js"}')
    (vendor / "index.js").write_text("exports.answer = () => 42;\n")
    node_pack(tmp_path / "ws", {"pgdep": "file:./vendor/pgdep"})
    lines, code = run_wrapped(tmp_path / "ws", NODE_ARGV, "node", {"npm_config_update_notifier": "false"})
    assert lines[0] == "packgate: installing the dependencies in package.json with npm\n"
    suite = judged(lines, "node", "tap", code)
    assert (suite.status, suite.passed, suite.reason) == (RunStatus.PASSED, 1, None)
    assert (tmp_path / "ws" / "node_modules" / "pgdep" / "index.js").exists()


def test_npm_failure_is_dependency_install_failed(tmp_path: Path) -> None:
    """A dependency the registry cannot serve (nothing listens there): npm fails and the runner is
    an error with reason DependencyInstallFailed quoting npm's last lines; the tests never run."""
    with socket.socket() as probe:  # a port with nothing listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    node_pack(tmp_path / "ws", {"pgdep-does-not-exist": "1.0.0"})
    extra = {
        **dependency_env("node", None, f"http://127.0.0.1:{port}/"),
        "npm_config_fetch_retries": "0",
        "npm_config_update_notifier": "false",
    }
    lines, code = run_wrapped(tmp_path / "ws", NODE_ARGV, "node", extra)
    assert code != 0
    assert f"packgate:install-failed {NONCE} package.json npm {code}\n" in lines
    suite = judged(lines, "node", "tap", code)
    assert (suite.status, suite.reason) == (RunStatus.ERROR, DEPENDENCY_INSTALL_FAILED)
    assert suite.error is not None
    assert suite.error.startswith("installing the dependencies in package.json with npm failed")
    assert "ECONNREFUSED" in suite.error


def test_package_json_without_dependencies_installs_nothing(tmp_path: Path) -> None:
    """packs/node-utils' shape: a package.json with scripts but no dependencies runs no npm at all."""
    workspace = tmp_path / "ws"
    workspace.mkdir()
    shutil.copytree(REPO / "packs" / "node-utils", workspace, dirs_exist_ok=True)
    lines, code = run_wrapped(
        workspace, ["node", "--test", "--test-reporter=tap", "tests/utils.test.js"], "node", {"PATH": "/usr/bin:/bin"}
    )
    assert not any(line.startswith("packgate: installing") for line in lines)
    assert judged(lines, "node", "tap", code).status is RunStatus.PASSED


def test_a_forged_install_marker_is_ordinary_output() -> None:
    """An install-failed marker with another nonce (printed by a test) is plain output, not a failure."""
    lines = [
        "packgate:install-failed 0000000000000000 requirements.txt pip 1\n",
        "Total Tests: 1\n",
        "Passed: 1\n",
        "Failed: 0\n",
        f"packgate:exit {NONCE} 0\n",
    ]
    suite = judged(lines, "unittest", "simple", 0)
    assert (suite.status, suite.reason) == (RunStatus.PASSED, None)


# --- the pure parts ------------------------------------------------------------------------------


def test_install_env_by_runner_type() -> None:
    """pip types get PIP_INDEX_URL (plus PIP_TRUSTED_HOST for plain http), node gets
    npm_config_registry, other types nothing; the wrapper is told the tool by type."""
    pip, npm = "http://10.88.0.1:3141/simple/", "https://npm.example.com/"
    assert dependency_env("pytest", pip, npm) == {"PIP_INDEX_URL": pip, "PIP_TRUSTED_HOST": "10.88.0.1"}
    assert dependency_env("unittest", "https://pypi.example.com/simple/", npm) == {
        "PIP_INDEX_URL": "https://pypi.example.com/simple/"
    }
    assert dependency_env("node", pip, npm) == {"npm_config_registry": npm}
    assert dependency_env("script", pip, npm) == {}
    assert dependency_env("unittest", None, npm) == {}
    assert [
        wrapper_env(NONCE, "/w", None, t).get("PACKGATE_INSTALL") for t in ("unittest", "pytest", "node", "tap")
    ] == [
        "pip",
        "pip",
        "npm",
        None,
    ]


PACK = PackIdentity(namespace="ns", name="deps", uid="uid-1")
OPTIONS = RenderOptions(
    images={"shell": "busybox", "python": "python", "pytest": "pytest", "node": "node"},
    git_image="git",
    ttl_seconds=60,
    pip_index_url="http://10.88.0.1:3141/simple/",
    npm_registry="http://10.88.0.1:4873/",
)


def spec_with(dependencies: dict[str, str] | None) -> dict[str, Any]:
    testing: dict[str, Any] = {
        "runners": [
            {"name": "python", "type": "pytest", "entryPoint": "tests/"},
            {"name": "node", "type": "node", "entryPoint": "tests/a.test.js"},
            {"name": "shell", "type": "script", "entryPoint": "run.sh"},
        ]
    }
    if dependencies is not None:
        testing["dependencies"] = dependencies
    return {"version": "1.0.0", "source": {"configMap": {"name": "deps-pack"}}, "testing": testing}


def runner_env(spec: dict[str, Any], runner: str, options: RenderOptions = OPTIONS) -> dict[str, str]:
    parsed = load_spec(spec)
    assert parsed.testing is not None
    chosen = next(r for r in parsed.testing.runners if r.name == runner)
    job = render_job(PACK, parsed, chosen, execution="abcdef1234", nonce=NONCE, options=options)
    container = job["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


def test_job_env_from_settings_and_the_pack_override() -> None:
    """The rendered Job passes the settings' sources as the tools' env; a Pack's
    spec.testing.dependencies wins field by field; a script runner gets neither."""
    python = runner_env(spec_with(None), "python")
    assert (python["PACKGATE_INSTALL"], python["PIP_INDEX_URL"], python["PIP_TRUSTED_HOST"]) == (
        "pip",
        "http://10.88.0.1:3141/simple/",
        "10.88.0.1",
    )
    node = runner_env(spec_with(None), "node")
    assert (node["PACKGATE_INSTALL"], node["npm_config_registry"]) == ("npm", "http://10.88.0.1:4873/")
    overridden = spec_with({"pipIndexUrl": "https://mirror.example.com/simple/"})
    python = runner_env(overridden, "python")
    assert (python["PIP_INDEX_URL"], "PIP_TRUSTED_HOST" in python) == ("https://mirror.example.com/simple/", False)
    assert runner_env(overridden, "node")["npm_config_registry"] == "http://10.88.0.1:4873/"
    shell = runner_env(spec_with(None), "shell")
    assert [k for k in shell if k.startswith(("PIP_", "npm_", "PACKGATE_INSTALL"))] == []
    bare = RenderOptions(images=OPTIONS.images, git_image="git", ttl_seconds=60)
    assert "PIP_INDEX_URL" not in runner_env(spec_with(None), "python", bare)


def test_spec_dependencies_validated_and_hashed_only_when_set() -> None:
    """spec.testing.dependencies takes http(s) URLs only and refuses unknown keys, one line each; the
    spec hash of a Pack without it is unchanged by the field's existence, and changes with it."""
    with pytest.raises(InvalidPack) as bad_url:
        load_spec(spec_with({"pipIndexUrl": "ftp://mirror/simple"}))
    assert (
        str(bad_url.value)
        == "spec.testing.dependencies.pipIndexUrl: 'ftp://mirror/simple' is not an http:// or https:// URL"
    )
    with pytest.raises(InvalidPack) as unknown:
        load_spec(spec_with({"pypi": "https://x/"}))
    assert str(unknown.value).startswith("spec.testing.dependencies.pypi: ")
    plain = load_spec(spec_with(None))
    assert spec_hash(plain) == spec_hash(load_spec(spec_with(None)))
    assert spec_hash(plain) != spec_hash(load_spec(spec_with({"npmRegistry": "https://npm.example.com/"})))


def test_settings_sources() -> None:
    """PACKGATE_PIP_INDEX_URL and PACKGATE_NPM_REGISTRY default to unset, take http(s) URLs, and a bad
    one is one line naming the variable."""
    settings = load_settings()
    assert (settings.pip_index_url, settings.npm_registry) == (None, None)
    settings = load_settings(pip_index_url="http://10.88.0.1:3141/simple/", npm_registry="")
    assert (settings.pip_index_url, settings.npm_registry) == ("http://10.88.0.1:3141/simple/", None)
    with pytest.raises(InvalidSetting) as bad:
        load_settings(npm_registry="registry.npmjs.org")
    assert (
        str(bad.value)
        == "invalid setting PACKGATE_NPM_REGISTRY: 'registry.npmjs.org' is not an http:// or https:// URL"
    )


def test_pack_yaml_dependencies_become_the_pack_spec_field() -> None:
    """pack.yaml's testing.dependencies (snake_case) becomes spec.testing.dependencies (camelCase)."""
    packfile = parse_packfile(
        {
            "ref": "deps",
            "version": "1.0.0",
            "testing": {
                "runners": {"python": {"type": "pytest", "entry_point": "tests/"}},
                "dependencies": {"pip_index_url": "https://mirror.example.com/simple/"},
            },
        }
    )
    spec = to_pack_spec(packfile, images={}, config_map_name="deps-pack")
    assert spec["testing"]["dependencies"] == {"pipIndexUrl": "https://mirror.example.com/simple/"}
    parsed = load_spec(spec)
    assert parsed.testing is not None and parsed.testing.dependencies is not None
    assert parsed.testing.dependencies.pip_index_url == "https://mirror.example.com/simple/"
