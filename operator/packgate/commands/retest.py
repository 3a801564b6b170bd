"""`packgate retest NAME`: ask for a manual re-run by setting the packgate.dev/retest annotation."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from packgate.commands import COMMANDS

HELP = COMMANDS["retest"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="the Pack's name")
    parser.add_argument("--namespace", "-n", default="default", help="the Pack's namespace (default: default)")
    parser.add_argument("--kubeconfig", help="kubeconfig to use (default: $KUBECONFIG)")


def run(args: argparse.Namespace) -> int:
    import asyncio

    from packgate.api.spec import RETEST_ANNOTATION
    from packgate.errors import KubernetesError
    from packgate.k8s.client import Kube, load_api_client

    token = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")

    async def retest() -> None:
        kube = Kube(load_api_client(args.kubeconfig))
        if await kube.get_pack(args.namespace, args.name) is None:
            raise KubernetesError(f"Pack {args.namespace}/{args.name} not found")
        await kube.patch_pack_annotations(args.namespace, args.name, {RETEST_ANNOTATION: token})

    asyncio.run(retest())
    print(f"pack.packgate.dev/{args.name} retest requested ({RETEST_ANNOTATION}={token})")
    return 0
