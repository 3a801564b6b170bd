"""`packgate operator`: run the operator (settings from PACKGATE_* environment variables)."""

from __future__ import annotations

import argparse
import os

HELP = "run the Packgate operator (settings from PACKGATE_* environment variables)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kubeconfig", help="kubeconfig to use outside a cluster (default: $KUBECONFIG)")
    parser.add_argument(
        "--namespace",
        "-n",
        action="append",
        dest="namespaces",
        metavar="NS",
        help="watch only this namespace (repeatable; default PACKGATE_NAMESPACES, else cluster-wide)",
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="debug logging, kopf included")


def run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from packgate.errors import InvalidPack
    from packgate.settings import Settings

    if args.kubeconfig:
        os.environ["KUBECONFIG"] = args.kubeconfig  # kopf's own login reads it too
    try:
        settings = Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        raise InvalidPack(f"invalid setting PACKGATE_{str(first['loc'][0]).upper()}: {first['msg']}") from exc
    if args.namespaces:
        settings = settings.model_copy(update={"namespaces": args.namespaces})

    from packgate.handlers import run as run_operator

    run_operator(settings, kubeconfig=args.kubeconfig, verbose=args.verbose)
    return 0
