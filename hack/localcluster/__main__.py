"""Command line of the local cluster: `python -m localcluster up|down|status|operator-image [--state-dir DIR]`.

`up` starts the control plane and the node as background processes (building the node's images from
Debian's packages first if they are not cached), returns once the cluster is healthy, and writes the
admin kubeconfig to `.local/kubeconfig` (printing its path). `down` stops every process, container and
mount `up` started and removes the node's network. Both are idempotent. `operator-image` builds the
operator image from the Dockerfile (if its inputs changed) and pushes it to the running cluster's
registry, printing its name. Failures print one line, never a traceback.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from localcluster import images
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
    parser.add_argument("command", choices=("up", "down", "status", "operator-image"))
    parser.add_argument("--state-dir", type=Path, default=DEFAULT_STATE_DIR)
    parser.add_argument("--base-port", type=int, default=DEFAULT_BASE_PORT,
                        help="first of the 14 consecutive ports the cluster uses")
    parser.add_argument("--kubeconfig", type=Path, default=DEFAULT_KUBECONFIG,
                        help="where up writes the admin kubeconfig")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds up waits for health")
    args = parser.parse_args(argv)
    cluster = Cluster(args.state_dir, base_port=args.base_port, log=lambda line: print(line, file=sys.stderr))
    try:
        if args.command == "up":
            cluster.start(timeout=args.timeout)
            args.kubeconfig.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(cluster.admin_kubeconfig, args.kubeconfig)
            args.kubeconfig.chmod(0o600)
            print(args.kubeconfig)
        elif args.command == "operator-image":
            if not cluster.running()["registry"]:
                raise ClusterError("the local cluster is not running; run up first")
            stamps = images.Stamps(cluster.registry_storage / "packgate-stamps")
            print(images.ensure(cluster.registry, stamps, REPO_ROOT, log=lambda line: print(line, file=sys.stderr)))
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
    except (ClusterError, images.ImageError) as error:
        print(f"localcluster: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        cluster.stop()
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
