"""The shell scripts users and CI run (hack/*.sh, .ci/run) pass shellcheck. CI installs shellcheck,
so a missing shellcheck fails here instead of passing silently."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from deliverylib import ROOT

pytestmark = pytest.mark.unit

SCRIPTS = sorted([*(ROOT / "hack").glob("*.sh"), ROOT / ".ci" / "run"])
LIBRARIES = sorted((ROOT / "hack" / "lib").glob("*.sh"))
"""Sourced by the scripts, not run: checked by shellcheck, not required to be executable."""


def test_scripts_are_found() -> None:
    """The kind scripts, the local cluster's build scripts (which `make` runs) and the CI entry point
    are among the checked scripts and are executable."""
    names = {str(p.relative_to(ROOT)) for p in SCRIPTS}
    assert {
        "hack/kind-up.sh",
        "hack/kind-down.sh",
        "hack/build-k8s.sh",
        "hack/build-node.sh",
        "hack/install-deps.sh",
        ".ci/run",
    } <= names
    assert [str(p) for p in SCRIPTS if not p.stat().st_mode & 0o111] == []


@pytest.mark.parametrize("script", [*SCRIPTS, *LIBRARIES], ids=lambda p: str(p.relative_to(ROOT)))
def test_shellcheck_is_clean(script: Path) -> None:
    """shellcheck reports nothing for the script (all severities)."""
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.fail("shellcheck is not installed (apt-get install -y shellcheck)", pytrace=False)
    proc = subprocess.run(
        [shellcheck, "--external-sources", str(script)], capture_output=True, text=True, timeout=60, check=False
    )
    assert (proc.returncode, proc.stdout) == (0, "")
