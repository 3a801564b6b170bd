"""The image's virtualenv, built outside Docker exactly as the Dockerfile's builder stage builds it
(same lock, same pip flags, same copied sources), runs the packgate commands. Needs PyPI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from deliverylib import ROOT
from dockerfile import stages

pytestmark = pytest.mark.network


def _run(args: list[str], cwd: Path, env: dict[str, str], timeout: int = 600) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}", pytrace=False)
    return proc


@pytest.fixture(scope="module")
def image_venv(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """/opt/venv of the image, rebuilt in a temporary directory; returns (bin dir, clean environment)."""
    work = tmp_path_factory.mktemp("image")
    src = work / "src"
    src.mkdir()
    builder = stages(ROOT / "Dockerfile")[0]
    for args in builder.args("COPY"):
        *sources, _destination = args.split()
        for source in sources:
            path = ROOT / source
            if path.is_dir():
                shutil.copytree(path, src / source, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
            else:
                shutil.copy2(path, src / source)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1", PYTHONDONTWRITEBYTECODE="1")
    venv = work / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], src, env)
    pip = str(venv / "bin" / "pip")
    _run([pip, "install", "--require-hashes", "--only-binary=:all:", "-r", "requirements.lock"], src, env)
    _run([pip, "install", "--no-deps", "."], src, env)
    _run([pip, "check"], src, env)
    _run([str(venv / "bin" / "python"), "-m", "pip", "uninstall", "--yes", "pip", "setuptools"], src, env)
    return venv / "bin", env


def test_builder_copies_what_the_package_build_needs() -> None:
    """The builder stage copies the lock, pyproject.toml, its readme and the package sources."""
    copied = {word for args in stages(ROOT / "Dockerfile")[0].args("COPY") for word in args.split()[:-1]}
    readme = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["readme"]
    assert copied == {"requirements.lock", "pyproject.toml", readme, "operator/"}


@pytest.mark.parametrize("command", ["operator", "parse"])
def test_packgate_command_help_runs_from_the_image_venv(
    image_venv: tuple[Path, dict[str, str]], command: str, tmp_path: Path
) -> None:
    """`packgate <command> --help` works from the locked venv alone (no pip, no checkout on the path)."""
    bin_dir, env = image_venv
    proc = _run([str(bin_dir / "packgate"), command, "--help"], tmp_path, env, timeout=120)
    assert proc.stdout.startswith(f"usage: packgate {command}")
    assert not (bin_dir / "pip").exists()


def test_packgate_version_matches_pyproject(image_venv: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    """The installed package is this checkout's version, not something else from an index."""
    bin_dir, env = image_venv
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    proc = _run([str(bin_dir / "packgate"), "--version"], tmp_path, env, timeout=120)
    assert proc.stdout.strip() == f"packgate {version}"
