"""The wheel `pip install .` builds: it carries the SQL migrations, and an install of it finds them
from any directory (no checkout needed).  Offline: the build uses this venv's setuptools (the
pinned build backend, in the dev extra) with --no-build-isolation --no-index."""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tomllib
import venv
import zipfile
from pathlib import Path

import pytest
from deliverylib import ROOT

pytestmark = pytest.mark.unit

MIGRATIONS = ROOT / "migrations"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
DATA_PREFIX = f"packgate-{PYPROJECT['project']['version']}.data/data/share/packgate/migrations/"
SOURCES = ("pyproject.toml", PYPROJECT["project"]["readme"], "operator", "migrations")
"""What a build of the package reads from a checkout."""


def _run(
    args: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}", pytrace=False)
    return proc


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel of a copy of the checkout's package sources, built offline."""
    backend = PYPROJECT["build-system"]["requires"][0]
    installed = f"setuptools=={importlib.metadata.version('setuptools')}"
    if installed != backend:
        pytest.fail(f"this venv has {installed}, the build needs {backend}: pip install -e '.[dev]'", pytrace=False)
    work = tmp_path_factory.mktemp("wheel")
    src = work / "src"
    src.mkdir()
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(ROOT / name, src / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    _run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(work / "dist"), str(src)])
    (built,) = (work / "dist").glob("packgate-*.whl")
    return built


def test_wheel_carries_every_migration_unchanged(wheel: Path) -> None:
    """Each migrations/*.sql is in the wheel, byte for byte, under <prefix>/share/packgate/migrations."""
    with zipfile.ZipFile(wheel) as archive:
        packed = {
            name.removeprefix(DATA_PREFIX): archive.read(name)
            for name in archive.namelist()
            if name.startswith(DATA_PREFIX)
        }
    assert packed == {path.name: path.read_bytes() for path in sorted(MIGRATIONS.glob("*.sql"))}


def test_installed_wheel_finds_its_migrations_from_any_directory(wheel: Path, tmp_path: Path) -> None:
    """Installed into a fresh venv, packgate finds the migrations it shipped, run from elsewhere."""
    fresh = tmp_path / "venv"
    venv.create(fresh, with_pip=False)
    python = fresh / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--python", str(python)]
    _run([*pip, "install", "--no-deps", "--no-index", str(wheel)])
    # The dependencies come from this venv through PYTHONPATH, which processes no .pth files: the
    # checkout's editable packgate stays invisible, so `packgate` is the installed wheel.
    here = next(p for p in sys.path if p.endswith("site-packages"))
    probe = (
        "import json, packgate; from packgate.db.migrations import default_migrations_dir, load_migrations; "
        "print(json.dumps([packgate.__file__, str(default_migrations_dir()), [m.filename for m in load_migrations()]]))"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV", "PACKGATE_"))}
    proc = _run([str(python), "-c", probe], cwd=tmp_path, env={**env, "PYTHONPATH": here})
    module, directory, files = json.loads(proc.stdout)
    assert (Path(module).is_relative_to(fresh), Path(directory), files) == (
        True,
        (fresh / "share" / "packgate" / "migrations").resolve(),
        sorted(path.name for path in MIGRATIONS.glob("*.sql")),
    )
