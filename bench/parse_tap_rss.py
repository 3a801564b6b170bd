"""Benchmark: peak RSS of `packgate parse` on a 100 MB TAP log against an idle Python process.

Writes the log (streamed) to a temporary directory, runs `packgate parse` on it in a subprocess
and an idle `python -c pass` (after importing the same packages) in another, and reads each
one's peak RSS from `resource.getrusage(RUSAGE_CHILDREN)`.  Prints both, the growth and the ratio.
A benchmark prints; it asserts nothing.

    .venv/bin/python bench/parse_tap_rss.py [--mb 100] [--format tap|auto]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

IDLE = "import packgate.cli, packgate.commands.parse, packgate.parsing.detect"
"""What `packgate parse --format tap|auto` imports (make_parser imports a format's module when asked;
`detect` imports every format's)."""


def write_tap(path: Path, megabytes: int) -> int:
    limit, size, i = megabytes * 1024 * 1024, 0, 0
    with path.open("w", encoding="utf-8") as out:
        out.write("TAP version 14\n")
        while size < limit:
            i += 1
            if i % 97 == 0:
                text = (
                    f"not ok {i} - case {i} fails\n  ---\n  message: 'expected 1, got 2'\n  duration_ms: 0.5\n  ...\n"
                )
            else:
                text = f"ok {i} - case {i} with a reasonably long description of what it checks\n"
            out.write(text)
            size += len(text)
        out.write(f"1..{i}\n")
    return i


def peak_rss_mb(command: list[str]) -> tuple[float, float]:
    """(peak RSS in MB, seconds) of one child process, measured in a fresh helper process so
    RUSAGE_CHILDREN sees only that child."""
    helper = (
        "import resource, subprocess, sys, time\n"
        "t = time.perf_counter()\n"
        "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, time.perf_counter() - t)\n"
    )
    done = subprocess.run([sys.executable, "-c", helper, *command], check=True, capture_output=True, text=True)
    rss, seconds = done.stdout.split()
    return float(rss), float(seconds)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=100)
    parser.add_argument("--format", default="tap", choices=("tap", "auto"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.tap"
        start = time.perf_counter()
        points = write_tap(path, args.mb)
        print(
            f"TAP log: {path.stat().st_size / 1e6:.0f} MB, {points} test points (written in "
            f"{time.perf_counter() - start:.1f} s)"
        )
        idle, _ = peak_rss_mb([sys.executable, "-c", IDLE])
        busy, seconds = peak_rss_mb([sys.executable, "-m", "packgate.cli", "parse", "--format", args.format, str(path)])
    print(f"idle python (packgate imported): peak RSS {idle:.1f} MB")
    print(f"packgate parse --format {args.format}: peak RSS {busy:.1f} MB in {seconds:.1f} s")
    print(f"growth: {busy - idle:.1f} MB; ratio: {busy / idle:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
