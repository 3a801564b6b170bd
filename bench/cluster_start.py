"""Benchmark: a warm `python -m localcluster up` (binaries cached) until healthy, against etcd alone.

In a temporary state directory on free loopback ports, times (best of N) the whole `up` command -- new
PKI, etcd, kube-apiserver, kube-controller-manager, kube-scheduler and the node agent, until /readyz,
the controllers' health, a Ready node and the `default` ServiceAccount -- then the first
`kubectl version` round trip, then `down`. The baseline, measured in the same run, is etcd alone
started until its /health answers: the floor any cluster start pays. Prints seconds and the ratio;
the target is a warm `up` within 30 s. A benchmark prints; it asserts nothing.

    .venv/bin/python bench/cluster_start.py [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "hack"))

from localcluster.cluster import DEFAULT_BIN_DIR, PORT_SPAN, kill_process_group, process_start_time  # noqa: E402

TARGET_SECONDS = 30.0


def free_base_port() -> int:
    import socket

    for base in range(36443, 38443, 10):
        try:
            for port in range(base, base + PORT_SPAN):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", port))
        except OSError:
            continue
        return base
    raise SystemExit("no free loopback port range")


def etcd_alone(state: Path, port: int) -> float:
    """Seconds from spawning etcd to its /health answering healthy."""
    log = (state / "etcd.log").open("wb")
    started = time.monotonic()
    proc = subprocess.Popen(
        [
            str(DEFAULT_BIN_DIR / "etcd"),
            f"--data-dir={state / 'etcd'}",
            f"--listen-client-urls=http://127.0.0.1:{port}",
            f"--advertise-client-urls=http://127.0.0.1:{port}",
            f"--listen-peer-urls=http://127.0.0.1:{port + 1}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{port + 1}",
            f"--initial-cluster=default=http://127.0.0.1:{port + 1}",
            "--unsafe-no-fsync",
        ],
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    try:
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as response:
                    if json.loads(response.read()).get("health") == "true":
                        return time.monotonic() - started
            except OSError:
                pass
            if proc.poll() is not None:
                raise SystemExit(f"etcd exited; see {state / 'etcd.log'}")
            time.sleep(0.02)
    finally:
        kill_process_group(proc.pid, process_start_time(proc.pid) or "", 5)
        proc.wait()
        log.close()


def cluster_up(state: Path, base: int) -> tuple[float, float]:
    """Seconds of `up` until healthy, and of the first `kubectl version` after it; always `down`."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "hack")}
    common = ["--state-dir", str(state / "cluster"), "--base-port", str(base)]
    kubeconfig = state / "kubeconfig"
    started = time.monotonic()
    try:
        up = subprocess.run(
            [sys.executable, "-m", "localcluster", "up", *common, "--kubeconfig", str(kubeconfig)],
            env=env,
            capture_output=True,
            text=True,
        )
        up_seconds = time.monotonic() - started
        if up.returncode != 0:
            raise SystemExit(up.stderr.strip())
        started = time.monotonic()
        subprocess.run(
            [str(DEFAULT_BIN_DIR / "kubectl"), f"--kubeconfig={kubeconfig}", "version"], check=True, capture_output=True
        )
        return up_seconds, time.monotonic() - started
    finally:
        subprocess.run([sys.executable, "-m", "localcluster", "down", *common], env=env, capture_output=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    base = free_base_port()
    etcd_times, up_times, kubectl_times = [], [], []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="bench-etcd-") as tmp:
            etcd_times.append(etcd_alone(Path(tmp), base + 1))
        with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
            up_seconds, kubectl_seconds = cluster_up(Path(tmp), base)
            up_times.append(up_seconds)
            kubectl_times.append(kubectl_seconds)
    etcd_best, up_best = min(etcd_times), min(up_times)
    print(f"etcd alone until healthy    best {etcd_best:6.2f}s  of {', '.join(f'{t:.2f}' for t in etcd_times)}")
    print(f"warm up until healthy       best {up_best:6.2f}s  of {', '.join(f'{t:.2f}' for t in up_times)}")
    print(f"first kubectl version       best {min(kubectl_times):6.2f}s")
    print(f"ratio up / etcd alone       {up_best / etcd_best:6.1f}x")
    verdict = "met" if max(up_times) <= TARGET_SECONDS else "MISSED"
    print(f"target: warm up within {TARGET_SECONDS:.0f}s -- {verdict} (worst {max(up_times):.2f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
