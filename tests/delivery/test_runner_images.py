"""images/runner-pytest: the default image of pytest runners is python's with a hash-pinned pytest,
run as the runner pods' user, and it is the image PACKGATE_IMAGE_PYTEST names by default."""

from __future__ import annotations

import re
import tomllib

import pytest
from deliverylib import ROOT
from dockerfile import stages

from packgate.settings import Settings

pytestmark = pytest.mark.unit

IMAGE = ROOT / "images" / "runner-pytest"
PINNED = re.compile(r"^(?P<name>[a-z0-9_.-]+)==(?P<version>\S+) --hash=sha256:[0-9a-f]{64}$")


def requirements() -> dict[str, str]:
    """name -> version of every requirement, each of which must carry a sha256 hash."""
    text = re.sub(r"\s*\\\n\s*", " ", (IMAGE / "requirements.txt").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    unpinned = [line for line in lines if not PINNED.match(line)]
    assert unpinned == [], "not pinned by version and hash"
    return {m["name"]: m["version"] for m in map(PINNED.match, lines) if m}


def test_one_stage_on_the_unittest_base_running_as_65532() -> None:
    """One stage, on the same python base as unittest runners (PACKGATE_IMAGE_PYTHON), user 65532."""
    (stage,) = stages(IMAGE / "Dockerfile")
    assert (stage.base, stage.args("USER")) == (Settings.model_fields["image_python"].default, ["65532:65532"])


def test_pip_installs_only_the_hash_pinned_requirements_without_a_cache() -> None:
    """The only install is pip's, of requirements.txt, with --no-cache-dir and --require-hashes."""
    (stage,) = stages(IMAGE / "Dockerfile")
    installs = [run.split(" && ")[0] for run in stage.args("RUN") if "pip install" in run]
    assert installs == [
        "pip install --no-cache-dir --require-hashes --only-binary=:all: -r /tmp/runner-pytest-requirements.txt"
    ]


def test_pytest_is_the_version_the_project_tests_with() -> None:
    """The image's pytest is the one pinned in pyproject's dev extra, with its dependencies."""
    dev = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["dev"]
    pinned = next(spec for spec in dev if spec.startswith("pytest=="))
    assert sorted(requirements()) == ["iniconfig", "packaging", "pluggy", "pygments", "pytest"]
    assert f"pytest=={requirements()['pytest']}" == pinned


def test_default_pytest_image_is_this_image() -> None:
    """PACKGATE_IMAGE_PYTEST's default is the image the Dockerfile's header says it builds."""
    default = Settings.model_fields["image_pytest"].default
    assert f"docker build -t {default} images/runner-pytest" in (IMAGE / "Dockerfile").read_text()
