"""`packgate operator`: run the operator (settings from PACKGATE_* environment variables)."""

from __future__ import annotations

import argparse
import os

from packgate.commands import COMMANDS

HELP = COMMANDS["operator"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kubeconfig", help="kubeconfig to use outside a cluster (default: $KUBECONFIG)")
    parser.add_argument(
        "--namespace",
        "-n",
        action="append",
        dest="namespaces",
        type=_namespace,
        metavar="NS",
        help="watch only this namespace (repeatable; default PACKGATE_NAMESPACES, else cluster-wide)",
    )
    parser.add_argument("--verbose", "-v", action="store_true", help="debug logging, kopf included")


def _namespace(value: str) -> str:
    """An argparse type: a namespace name, or a one-line usage error."""
    from packgate.settings import namespace_name

    try:
        return namespace_name(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    from packgate.settings import load_settings

    # Every setting is checked before anything connects: a bad one is one line and exit 2.
    settings = load_settings(**({"namespaces": args.namespaces} if args.namespaces else {}))
    if args.kubeconfig:
        os.environ["KUBECONFIG"] = args.kubeconfig  # kopf's own login reads it too

    from packgate.handlers import run as run_operator

    run_operator(settings, kubeconfig=args.kubeconfig, verbose=args.verbose)
    return 0
