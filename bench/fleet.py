"""Benchmarks P1 and P2: Packs applied at once, Packgate against a kubectl script doing the same work.

On the local cluster with its real node, the operator image is deployed (one replica) with its
concurrency limit set to `--limit` Jobs, cluster-wide and per namespace.  For each size N (P1 is
N = 1), N Packs, each with a shell runner (busybox) and a python runner (unittest on
python:3.13-slim), are applied in one `kubectl apply` to a fresh namespace, and the clock runs
until every Pack has its verdict.

The baseline, in the same run and on the same node, is the script a platform team would write
instead: the same ConfigMaps applied, then per pack (`--limit`/2 packs at a time, so the same
number of Jobs run at once) `kubectl apply` of the same two Jobs (same images, same commands,
the pack mounted from its ConfigMap), `kubectl wait --for=condition=complete`, and `kubectl logs`
of each.  It records nothing and writes no status; Packgate does both.  Each side's namespace is
deleted (and gone) before the other side starts, so neither runs beside the other's finished pods.

Reported per N: seconds for both and their ratio (P1 goal <= 0.8; P2 goal <= 0.8 at N = 200),
seconds per pack (P2 goal: at 400 no more than 1.3x the figure at 50), the operator's peak RSS
(VmHWM of its process; goal <= 200 MB at 400), API requests per execution for both (the API
server's apiserver_request_total, every client included: the kubelet's, the controllers' and
the scheduler's requests are in both), the operator's CPU-seconds during each side (during the
script's, it only watches), and duplicate Jobs and rows (goal 0).  A benchmark prints;
it asserts nothing.  It starts the local cluster and PostgreSQL if they are not running.

    .venv/bin/python bench/fleet.py [--sizes 1,50,100,200,400] [--limit 16] [--p1-runs 5]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "hack"), str(REPO / "tests")]

from demo import BIN, KUBECONFIG, KUBECTL, deploy_operator, kubectl, run  # noqa: E402
from e2e.helpers import FLEET_FILES, audit, fleet_yaml, pack_yaml, settled  # noqa: E402
from localcluster.node import NODE_IP, POD_CIDR  # noqa: E402
from packgate.reconcile.render import config_map_items  # noqa: E402

P1_GOAL = 0.8
P2_GOAL = 0.8
GROWTH_GOAL = 1.3
RSS_GOAL_MB = 200
SCRIPT = r"""#!/bin/bash
# One pack, as a platform team's script would test it: create its Jobs, wait, read their logs.
set -euo pipefail
pack=$1
kubectl apply -f "$JOBS/$pack.yaml" >/dev/null
kubectl wait -n "$NS" --for=condition=complete --timeout=600s "job/$pack-shell" "job/$pack-python" >/dev/null
kubectl logs -n "$NS" "job/$pack-shell" >/dev/null
kubectl logs -n "$NS" "job/$pack-python" >/dev/null
"""


class Kube:
    """kubectl with the local cluster's admin kubeconfig (the shape e2e.helpers.audit reads)."""

    def json(self, *args: str) -> Any:
        return json.loads(kubectl(*args, "-o", "json"))


def requests_total() -> float:
    """The sum of apiserver_request_total over every series."""
    text = kubectl("get", "--raw", "/metrics")
    series = [line for line in text.splitlines() if line.startswith("apiserver_request_total{")]
    return sum(float(line.rsplit(" ", 1)[1]) for line in series)


def operator_process() -> Path | None:
    """The operator's /proc entry on this node (it runs here, in its container)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(a.endswith(b"packgate") for a in argv[:2]) and b"operator" in argv:
            return proc
    return None


def operator_peak_rss_mb() -> float:
    """VmHWM of the operator's process."""
    proc = operator_process()
    try:
        for line in (proc / "status").read_text().splitlines() if proc else ():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def operator_cpu_s() -> float:
    """CPU-seconds the operator's process has used (user and system)."""
    proc = operator_process()
    try:
        fields = (proc / "stat").read_text().rsplit(")", 1)[1].split() if proc else []
    except OSError:
        fields = []
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK") if fields else float("nan")


def clear(namespace: str) -> None:
    """Delete the namespace and wait until it is gone, so that the other side runs on a node
    without this side's finished pods: the kubelet and containerd keep working on every pod they
    hold, and the side that ran second would pay for the first."""
    kubectl("delete", "namespace", namespace, "--ignore-not-found", "--wait=true", "--timeout=900s")


def fresh_namespace(name: str) -> None:
    clear(name)
    kubectl("create", "namespace", name)


def wait_until(what: str, probe: Any, timeout: float, interval: float = 1.0) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            raise SystemExit(f"bench/fleet.py: {what} did not happen within {timeout:.0f}s")
        time.sleep(interval)  # polling the cluster, the way a user's script waits


def packgate_run(names: list[str], namespace: str, dsn: str) -> dict[str, Any]:
    fresh_namespace(namespace)
    manifests = fleet_yaml(namespace, names)  # written before the clock starts, as the script's Jobs are
    before, cpu = requests_total(), operator_cpu_s()
    started = time.monotonic()
    kubectl("apply", "-f", "-", input=manifests)

    # Watches, not polls: kubectl returns as each Pack's Reconciling condition turns False (its verdict).
    kubectl("wait", "-n", namespace, "--for=condition=Reconciling=False", f"--timeout={60 + 10 * len(names)}s",
            *(f"pack/{name}" for name in names))
    seconds = time.monotonic() - started
    cpu = operator_cpu_s() - cpu
    items = Kube().json("get", "packs", "-n", namespace)["items"]
    if len(items) != len(names) or not all(settled(p) for p in items):
        raise SystemExit(f"bench/fleet.py: a Pack of {namespace} has no verdict")
    requests = requests_total() - before
    wait_until("every row", lambda: audit(Kube(), dsn, namespace, names)["missing_rows"] == 0, timeout=120)
    figures = audit(Kube(), dsn, namespace, names)
    rss = operator_peak_rss_mb()
    clear(namespace)
    return {"seconds": seconds, "requests": requests, "operator_cpu_s": cpu, "rss": rss, **figures}


def script_jobs(namespace: str, name: str) -> list[dict[str, Any]]:
    """The two Jobs the script creates for one pack: the runners' images and commands, the pack
    mounted from its ConfigMap."""
    config_map = yaml.safe_load_all(pack_yaml(namespace, name, "1.0.0", FLEET_FILES, None))
    paths = next(iter(config_map))["metadata"]["annotations"]["packgate.dev/paths"]
    volume = {"name": "pack", "configMap": {"name": f"{name}-pack", "items": config_map_items(paths)}}
    commands = {
        "shell": ("docker.io/library/busybox:1.37", ["sh", "tests/run.sh"]),
        "python": ("docker.io/library/python:3.13-slim", ["python", "-m", "unittest", "tests.test_fleet"]),
    }
    return [
        {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": f"{name}-{runner}", "namespace": namespace},
            "spec": {
                "backoffLimit": 0,
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "volumes": [volume],
                        "containers": [
                            {
                                "name": "runner",
                                "image": image,
                                "command": command,
                                "workingDir": "/pack",
                                "volumeMounts": [{"name": "pack", "mountPath": "/pack"}],
                            }
                        ],
                    }
                },
            },
        }
        for runner, (image, command) in commands.items()
    ]


def script_run(names: list[str], namespace: str, parallel: int) -> dict[str, Any]:
    fresh_namespace(namespace)
    config_maps = [
        doc
        for name in names
        for doc in yaml.safe_load_all(pack_yaml(namespace, name, "1.0.0", FLEET_FILES, None))
        if doc["kind"] == "ConfigMap"
    ]
    with tempfile.TemporaryDirectory() as tmp:
        jobs = Path(tmp)
        for name in names:
            (jobs / f"{name}.yaml").write_text(yaml.safe_dump_all(script_jobs(namespace, name)))
        script = jobs / "pack.sh"
        script.write_text(SCRIPT)
        env = {**os.environ, "KUBECONFIG": str(KUBECONFIG), "JOBS": str(jobs), "NS": namespace,
               "PATH": f"{KUBECTL.parent}:{os.environ['PATH']}"}
        before, cpu = requests_total(), operator_cpu_s()
        started = time.monotonic()
        kubectl("apply", "-f", "-", input=yaml.safe_dump_all(config_maps))
        subprocess.run(
            ["xargs", "-P", str(parallel), "-n", "1", "bash", str(script)],
            input="\n".join(names), text=True, env=env, check=True,
        )
        seconds = time.monotonic() - started
        requests = requests_total() - before
        cpu = operator_cpu_s() - cpu
    clear(namespace)
    return {"seconds": seconds, "requests": requests, "operator_cpu_s": cpu}


def setup(limit: int) -> str:
    """The local cluster, PostgreSQL and the operator image (one replica) with the limits; the DSN."""
    run(sys.executable, "-m", "localcluster", "up")
    dsn = run(sys.executable, "-m", "localpg", "up", "--listen", f"127.0.0.1,{NODE_IP}", "--allow", POD_CIDR)
    dsn = dsn.strip().splitlines()[-1]
    run(str(BIN / "packgate"), "migrate", "--database-url", dsn)
    image = run(sys.executable, "-m", "localcluster", "operator-image").strip().splitlines()[-1]
    env = {
        "PACKGATE_MAX_CONCURRENT_JOBS": str(limit),
        "PACKGATE_MAX_CONCURRENT_JOBS_PER_NAMESPACE": str(limit),
        "PACKGATE_JOB_TTL_SECONDS": "3600",
    }
    deploy_operator(KUBECONFIG, image, dsn, env, replicas=1)
    return dsn


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,50,100,200,400", help="comma-separated numbers of Packs")
    parser.add_argument("--limit", type=int, default=16, help="Jobs running at once, for both")
    parser.add_argument("--p1-runs", type=int, default=5, help="runs of N = 1, taking turns (the median counts)")
    args = parser.parse_args()
    sizes = [int(n) for n in args.sizes.split(",")]
    dsn = setup(args.limit)
    print(f"limit {args.limit} Jobs at once ({args.limit // 2} packs x 2 runners); "
          "sizes " + ", ".join(map(str, sizes)), flush=True)
    rows = []
    for n in sizes:
        names = [f"b{i:03d}" for i in range(n)]
        # One pack takes a few seconds, so P1 is the median of --p1-runs runs taking turns.
        runs = args.p1_runs if n == 1 else 1
        trials = [
            (
                packgate_run(names, f"fleet-packgate-{n}", dsn),
                script_run(names, f"fleet-script-{n}", max(1, args.limit // 2)),
            )
            for _ in range(runs)
        ]
        ours = sorted((t[0] for t in trials), key=lambda r: r["seconds"])[runs // 2]
        theirs = sorted((t[1] for t in trials), key=lambda r: r["seconds"])[runs // 2]
        rss = max(t[0]["rss"] for t in trials)
        row = {
            "n": n,
            "packgate_s": round(ours["seconds"], 1),
            "script_s": round(theirs["seconds"], 1),
            "ratio": round(ours["seconds"] / theirs["seconds"], 2),
            "packgate_s_per_pack": round(ours["seconds"] / n, 2),
            "script_s_per_pack": round(theirs["seconds"] / n, 2),
            "packgate_requests_per_execution": round(ours["requests"] / n, 1),
            "operator_cpu_s": round(ours["operator_cpu_s"], 1),
            "operator_cpu_s_during_script": round(theirs["operator_cpu_s"], 1),
            "script_requests_per_pack": round(theirs["requests"] / n, 1),
            "operator_peak_rss_mb": round(rss, 1),
            "duplicate_jobs": ours["duplicate_jobs"],
            "duplicate_rows": ours["duplicate_rows"],
            "lost": ours["lost"],
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    print()
    for row in rows:
        goal = P1_GOAL if row["n"] == 1 else P2_GOAL
        label = "P1" if row["n"] == 1 else "P2"
        print(f"{label} N={row['n']}: packgate {row['packgate_s']} s, kubectl script {row['script_s']} s, "
              f"ratio {row['ratio']} (goal <= {goal}{'' if row['n'] in (1, 200) else ', judged at 200'}), "
              f"{row['packgate_s_per_pack']} s/pack, {row['packgate_requests_per_execution']} API requests per "
              f"execution (script {row['script_requests_per_pack']}), operator {row['operator_cpu_s']} CPU-s "
              f"({row['operator_cpu_s_during_script']} during the script), peak RSS {row['operator_peak_rss_mb']} MB, "
              f"duplicates {row['duplicate_jobs']} Jobs / {row['duplicate_rows']} rows, lost {row['lost']}")
    by_n = {row["n"]: row for row in rows}
    if 50 in by_n and 400 in by_n:
        growth = by_n[400]["packgate_s_per_pack"] / by_n[50]["packgate_s_per_pack"]
        print(f"P2 growth: time per pack at 400 / at 50 = {growth:.2f} (goal <= {GROWTH_GOAL})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
