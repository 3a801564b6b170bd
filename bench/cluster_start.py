"""Benchmark: starting the local cluster with its real node, warm and cold, against etcd alone.

In a temporary state directory, times the whole `python -m localcluster up` -- new PKI, the registry,
etcd, kube-apiserver, containerd, the kubelet, kube-proxy, CoreDNS, the controller-manager and the
scheduler, until every health check passes (a Ready node, the `default` ServiceAccount) -- then the
first Job (busybox, pulled from the registry) until Complete, then `down`.

- **warm**: the Go binaries and the images are cached (best of N runs);
- **cold images**: one run with an empty image store and registry, so every image is built from
  Debian's packages with mmdebstrap and buildah (the Go builds stay cached: hack/build-k8s.sh and
  hack/build-node.sh print their own cold times).

The baseline, measured in the same run, is etcd alone started until its /health answers: the floor
any cluster start pays.  Prints seconds and ratios; the target is a warm `up` within 30 s.  A benchmark
prints; it asserts nothing.  One machine holds one node: stop a running cluster first (`make down`).

    .venv/bin/python bench/cluster_start.py [--runs 3] [--no-cold]
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

from localcluster.cluster import (  # noqa: E402
    DEFAULT_BIN_DIR,
    NODE_OWNER,
    Cluster,
    kill_process_group,
    process_start_time,
)

TARGET_SECONDS = 30.0
BASE_PORT = 36443
JOB = """\
apiVersion: batch/v1
kind: Job
metadata: {name: hello, namespace: default}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: main, image: "busybox:1.37", command: [sh, -c, echo hello]}]
"""


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


def cluster_up(state: Path, env: dict[str, str]) -> tuple[float, float]:
    """Seconds of `up` until healthy, and of the first Job until Complete after it; always `down`."""
    env = {**os.environ, **env, "PYTHONPATH": str(REPO / "hack")}
    common = ["--state-dir", str(state / "cluster"), "--base-port", str(BASE_PORT)]
    kubeconfig = state / "kubeconfig"
    kubectl = [str(DEFAULT_BIN_DIR / "kubectl"), f"--kubeconfig={kubeconfig}"]
    started = time.monotonic()
    try:
        up = subprocess.run(
            [sys.executable, "-m", "localcluster", "up", "--timeout", "900", *common, "--kubeconfig", str(kubeconfig)],
            env=env,
            capture_output=True,
            text=True,
        )
        up_seconds = time.monotonic() - started
        if up.returncode != 0:
            raise SystemExit(up.stderr.strip())
        started = time.monotonic()
        subprocess.run([*kubectl, "apply", "-f", "-"], input=JOB, text=True, check=True, capture_output=True)
        subprocess.run([*kubectl, "wait", "--for=condition=complete", "job/hello", "--timeout=120s"],
                       check=True, capture_output=True)
        return up_seconds, time.monotonic() - started
    finally:
        subprocess.run([sys.executable, "-m", "localcluster", "down", *common], env=env, capture_output=True)


def cold_image_env(tmp: Path) -> dict[str, str]:
    """An empty image store (containers-storage) and an empty cache (registry storage) under `tmp`."""
    conf = tmp / "storage.conf"
    conf.write_text(
        f'[storage]\ndriver = "overlay"\ngraphroot = "{tmp / "graph"}"\nrunroot = "{tmp / "run"}"\n'
    )
    return {"CONTAINERS_STORAGE_CONF": str(conf), "PACKGATE_CACHE": str(tmp / "cache")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-cold", action="store_true", help="skip the run that builds every image")
    args = parser.parse_args()
    if NODE_OWNER.exists() and any(Cluster(Path(NODE_OWNER.read_text().strip())).running().values()):
        raise SystemExit(f"a local cluster is running ({NODE_OWNER.read_text().strip()}); stop it first: make down")
    etcd_times, up_times, job_times = [], [], []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="bench-etcd-") as tmp:
            etcd_times.append(etcd_alone(Path(tmp), BASE_PORT + 1))
        with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
            up_seconds, job_seconds = cluster_up(Path(tmp), {})
            up_times.append(up_seconds)
            job_times.append(job_seconds)
    etcd_best, up_best = min(etcd_times), min(up_times)
    print(f"etcd alone until healthy      best {etcd_best:6.2f}s  of {', '.join(f'{t:.2f}' for t in etcd_times)}")
    print(f"warm up until healthy         best {up_best:6.2f}s  of {', '.join(f'{t:.2f}' for t in up_times)}")
    print(f"first Job (pull + run)        best {min(job_times):6.2f}s  of {', '.join(f'{t:.2f}' for t in job_times)}")
    print(f"ratio warm up / etcd alone    {up_best / etcd_best:6.1f}x")
    verdict = "met" if max(up_times) <= TARGET_SECONDS else "MISSED"
    print(f"target: warm up within {TARGET_SECONDS:.0f}s -- {verdict} (worst {max(up_times):.2f}s)")
    if not args.no_cold:
        with tempfile.TemporaryDirectory(prefix="bench-cold-", dir="/var/tmp") as tmp:
            env = cold_image_env(Path(tmp))
            with tempfile.TemporaryDirectory(prefix="bench-cluster-") as state:
                cold_seconds, _ = cluster_up(Path(state), env)
            subprocess.run(["buildah", "rm", "--all"], env={**os.environ, **env}, capture_output=True)
            subprocess.run(["buildah", "rmi", "--all", "--force"], env={**os.environ, **env}, capture_output=True)
            subprocess.run(["umount", "--recursive", "--lazy", f"{tmp}/graph/overlay"], capture_output=True)
        print(f"cold up (every image built)   {cold_seconds:6.2f}s  ratio to warm {cold_seconds / up_best:5.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
