"""Command line of the local cluster: `python -m localcluster up|down|status [--state-dir DIR]`.

`up` starts the control plane and the node agent as background processes, returns once the cluster is
healthy, and writes the admin kubeconfig to `.local/kubeconfig` (printing its path). `down` stops every
process `up` started. Both are idempotent. Failures print one line, never a traceback.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from localcluster.cluster import (
    COMPONENTS,
    DEFAULT_BASE_PORT,
    DEFAULT_STATE_DIR,
    REPO_ROOT,
    Cluster,
    ClusterError,
)

DEFAULT_KUBECONFIG = REPO_ROOT / ".local" / "kubeconfig"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localcluster", description="The local test cluster.")
    parser.add_argument("command", choices=("up", "down", "status"))
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    parser.add_argument("--base-port", type=int, default=DEFAULT_BASE_PORT,
                        help="first of the 6 consecutive loopback ports the cluster uses")
    parser.add_argument("--kubeconfig", type=Path, default=DEFAULT_KUBECONFIG,
                        help="where up writes the admin kubeconfig")
    parser.add_argument("--timeout", type=float, default=90.0, help="seconds up waits for health")
    args = parser.parse_args(argv)
    cluster = Cluster(args.state_dir, base_port=args.base_port)
    try:
        if args.command == "up":
            cluster.start(timeout=args.timeout)
            args.kubeconfig.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(cluster.admin_kubeconfig, args.kubeconfig)
            args.kubeconfig.chmod(0o600)
            print(args.kubeconfig)
        elif args.command == "down":
            cluster.stop()
            print(f"local cluster in {cluster.state_dir} stopped")
        else:
            running = cluster.running()
            for component in COMPONENTS:
                print(f"{component:24} {'running' if running[component] else 'stopped'}")
            if not all(running.values()):
                return 1
            checks = cluster.checks()
            unhealthy = [f"{name}: {reason}" for name, check in checks.items() if (reason := check())]
            for line in unhealthy:
                print(f"unhealthy: {line}")
            if unhealthy:
                return 1
            print(f"healthy; API server {cluster.api_url}")
    except ClusterError as error:
        print(f"localcluster: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        cluster.stop()
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
