"""The `packgate` command line: builds the parser and dispatches to `packgate.commands.<name>`.

Only the module of the command on the command line is imported (its arguments are added to its
subparser); the others are listed with their help line from `packgate.commands.COMMANDS`.  So
`packgate parse` pays for the parsers alone, never for another command's imports.

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


def _chosen_command(argv: Sequence[str]) -> str | None:
    """The command named on the command line: its first argument not starting with '-' (the
    top-level parser's only options, --help and --version, take no value)."""
    for arg in argv:
        if not arg.startswith("-"):
            return arg if arg in COMMANDS else None
    return None


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; with `argv`, only the command it names gets its arguments (its module is
    imported), without it every command does."""
    parser = OneLineParser(
        prog="packgate", description="Test automation packs on Kubernetes before they are activated."
    )
    parser.add_argument("--version", action="version", version=f"packgate {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = None if argv is None else _chosen_command(argv)
    for name, help_line in COMMANDS.items():
        command = sub.add_parser(name, help=help_line, description=help_line)
        if argv is None or name == chosen:
            module = importlib.import_module(f"packgate.commands.{name}")
            module.add_arguments(command)
            command.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
    try:
        return int(args._run(args))
    except PackgateError as exc:
        print(f"packgate {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
