"""Benchmark: `packgate parse` on a 50,000-case JUnit file against a bare ElementTree parse.

Generates the file (streamed to disk) in a temporary directory, then times, best of 3, the whole
`packgate parse` process (interpreter start, imports, parse, JSON out) and a subprocess doing
`xml.etree.ElementTree.parse` plus counting the testcases, taking turns.  Prints both times and the ratio
(goal: at most 2.0x).  A benchmark prints; it asserts nothing.

    .venv/bin/python bench/parse_junit.py [--cases 50000] [--format junit|auto]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASELINE = (
    "import sys, xml.etree.ElementTree as ET\n"
    "tree = ET.parse(sys.argv[1])\n"
    "print(sum(1 for _ in tree.iter('testcase')))\n"
)


def write_junit(path: Path, cases: int) -> None:
    with path.open("w", encoding="utf-8") as out:
        out.write('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="bench">\n')
        out.write(f'  <testsuite name="bench" tests="{cases}" time="12.5">\n')
        for i in range(cases):
            out.write(f'    <testcase classname="pkg.module{i % 50}" name="test_case_{i}" time="0.00{i % 10}"')
            if i % 100 == 0:
                out.write('>\n      <failure message="assert 1 == 2">Traceback line 1\nline 2</failure>\n')
                out.write("      <system-out>captured output</system-out>\n    </testcase>\n")
            elif i % 37 == 0:
                out.write('>\n      <skipped message="not today"/>\n    </testcase>\n')
            else:
                out.write("/>\n")
        out.write("  </testsuite>\n</testsuites>\n")


def best_of(runs: int, *commands: list[str]) -> list[float]:
    """Best wall time of each command (a whole process each) over `runs` rounds; the commands take
    turns within a round, so a busy machine slows them alike."""
    best = [float("inf")] * len(commands)
    for _ in range(runs):
        for i, command in enumerate(commands):
            start = time.perf_counter()
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
            best[i] = min(best[i], time.perf_counter() - start)
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=50_000)
    parser.add_argument("--format", default="junit", choices=("junit", "auto"))
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "junit.xml"
        write_junit(path, args.cases)
        size_mb = path.stat().st_size / 1e6
        packgate, baseline = best_of(
            args.runs,
            [sys.executable, "-m", "packgate.cli", "parse", "--format", args.format, str(path)],
            [sys.executable, "-c", BASELINE, str(path)],
        )
    print(f"JUnit file: {args.cases} cases, {size_mb:.1f} MB")
    print(f"packgate parse --format {args.format}: {packgate:.3f} s (whole process, best of {args.runs})")
    print(f"ElementTree parse + count:      {baseline:.3f} s (whole process, best of {args.runs})")
    print(f"ratio: {packgate / baseline:.2f}x (goal <= 2.0x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
