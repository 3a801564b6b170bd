"""The `packgate` command line: builds the parser and dispatches to `packgate.commands.<name>`.

Must not: import kopf, the Kubernetes client or asyncpg (the commands do, when they run), or let
a traceback reach the user: a bad argument and a PackgateError (a bad setting, pack.yaml, an
unreachable database, ...) each become one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import NoReturn

from packgate import __version__
from packgate.commands import COMMANDS
from packgate.errors import PackgateError


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line on stderr (exit 2), not usage + error.
    Its subcommand parsers are of the same class (argparse builds them with the parent's class)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="packgate", description="Test automation packs on Kubernetes before they are activated."
    )
    parser.add_argument("--version", action="version", version=f"packgate {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"packgate.commands.{name}")
        command = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(command)
        command.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args._run(args))
    except PackgateError as exc:
        print(f"packgate {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
