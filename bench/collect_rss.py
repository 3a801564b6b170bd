"""Benchmark: the operator's memory while it reads a runner's log, against the same process idle.

Runs the operator's log reader (packgate.wrapper's Collector and judge, as `_collect_one` uses them)
in a child process on two generated logs, each fed line by line as the API server streams it:

- **noise**: 100 MB of debug lines, then a `Total Tests:` summary;
- **report**: the wrapper's gzip+base64 frame of a 50 MB JUnit report (3000 failing cases with 16 KB
  messages, 100 passing), encoded the way the wrapper script encodes it (gzip, base64 in 76-column
  lines, SHA-256 and size in the end marker).

The baseline, in the same run, is a child that imports the same modules and generates the same log
without feeding it to anything.  Prints each peak RSS, the growth and the ratio; the goal is that
memory does not grow with the log (growth of a few MB).  A benchmark prints; it asserts nothing.

    .venv/bin/python bench/collect_rss.py
"""

from __future__ import annotations

import subprocess
import sys

CHILD = r"""
import base64, hashlib, resource, sys, time, zlib
from packgate.wrapper import judge, new_collector

NONCE = "0123456789abcdef"
mode, feed = sys.argv[1], sys.argv[2] == "feed"

def noise():
    line = "DEBUG 2026-11-29T12:00:00Z worker[42]: polling the queue, nothing to do yet, sleeping a little"
    for _ in range(100 * 1024 * 1024 // (len(line) + 1)):
        yield line
    yield from ("Total Tests: 3", "Passed: 3", "Failed: 0", f"packgate:exit {NONCE} 0")

def report():
    # The frame is encoded while the report is generated: nothing holds the whole report.
    message = "assertion failed: " + "x" * 16000
    def chunks():
        yield '<?xml version="1.0"?>\n<testsuite name="big" tests="3100" failures="3000">\n'
        for i in range(3000):
            case = f'<testcase classname="big.Case" name="test_{i}">'
            yield f'{case}<failure message="m">{message}</failure></testcase>\n'
        for i in range(100):
            yield f'<testcase classname="big.Case" name="ok_{i}"/>\n'
        yield "</testsuite>\n"
    digest, size = hashlib.sha256(), 0
    compressor = zlib.compressobj(wbits=31)
    pending = b""
    yield "running the tests ..."
    yield f"packgate:result-begin {NONCE} results/junit.xml gzip+base64"
    for chunk in chunks():
        data = chunk.encode()
        digest.update(data)
        size += len(data)
        pending += compressor.compress(data)
        while len(pending) >= 57:
            yield base64.b64encode(pending[:57]).decode()
            pending = pending[57:]
    pending += compressor.flush()
    for start in range(0, len(pending), 57):
        yield base64.b64encode(pending[start:start + 57]).decode()
    yield f"packgate:result-end {NONCE} {digest.hexdigest()} {size}"
    yield f"packgate:exit {NONCE} 1"

lines = noise() if mode == "noise" else report()
collector = new_collector(NONCE, name="r", runner_type="script", result_format="auto" if mode == "noise" else "junit",
                          result_path=None if mode == "noise" else "results/junit.xml")
started = time.perf_counter()
count = 0
for line in lines:
    count += 1
    if feed:
        collector.feed(line)
suite = judge(collector, exit_code=0 if mode == "noise" else 1) if feed else None
seconds = time.perf_counter() - started
outcome = f"{suite.passed}/{suite.passed + suite.failed}" if suite else "-"
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, seconds, count, outcome)
"""


def run(mode: str, feed: bool) -> tuple[float, float, int, str]:
    done = subprocess.run([sys.executable, "-c", CHILD, mode, "feed" if feed else "idle"],
                          check=True, capture_output=True, text=True)
    rss, seconds, lines, outcome = done.stdout.split()
    return float(rss), float(seconds), int(lines), outcome


def main() -> int:
    for mode, what in (("noise", "100 MB of output, then a summary"), ("report", "a 50 MB JUnit report, framed")):
        idle_rss, idle_s, lines, _ = run(mode, feed=False)
        rss, seconds, _, outcome = run(mode, feed=True)
        print(f"{what}: {lines} lines")
        print(f"  baseline (generate, don't read)  peak RSS {idle_rss:7.1f} MB  {idle_s:6.1f} s")
        print(f"  operator's reader                peak RSS {rss:7.1f} MB  {seconds:6.1f} s  verdict {outcome}")
        print(f"  growth {rss - idle_rss:+.1f} MB, ratio {rss / idle_rss:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
