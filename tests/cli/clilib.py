"""Helpers of the CLI tests: run the installed `packgate` command as users do."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKS = ROOT / "packs"
PACKGATE = Path(sys.executable).with_name("packgate")


def packgate(
    *args: str | Path, timeout: float = 180, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `packgate ARGS...` from the repository root and capture its output.  With `env`, the
    PACKGATE_* variables of this process are dropped and `env` is added."""
    environment = None
    if env is not None:
        environment = {k: v for k, v in os.environ.items() if not k.startswith("PACKGATE_")} | env
    return subprocess.run(
        [str(PACKGATE), *map(str, args)],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
