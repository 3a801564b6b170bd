"""Helpers of the CLI tests: run the installed `packgate` command as users do."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKS = ROOT / "packs"
PACKGATE = Path(sys.executable).with_name("packgate")


def packgate(*args: str | Path, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run `packgate ARGS...` from the repository root and capture its output."""
    return subprocess.run(
        [str(PACKGATE), *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
