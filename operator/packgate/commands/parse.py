"""`packgate parse [--format F] [--name N] [--runner-type T] PATH|-`: one runner's output as JSON.

Owns: reading a file (or stdin) as a stream — binary-safe, decoded as UTF-8 with errors replaced,
in bounded pieces so even a 100 MB line never sits in memory — feeding it to a parser from
`packgate.parsing`, and printing the TestSuiteResult as JSON (the parser's `summary().to_json()`:
the model's JSON, written without importing pydantic).  Exit 0 with the JSON on stdout; exit 1
with ONE line on stderr (never a traceback) when the input cannot be read or holds nothing
recognisable.
Must not: import kopf, the Kubernetes client or asyncpg, or anything that does; nor pydantic
(whole-process time, bench/parse_junit.py).
"""

from __future__ import annotations

import argparse
import io
import os
import sys
from typing import TYPE_CHECKING, BinaryIO

from packgate.commands import COMMANDS

if TYPE_CHECKING:
    from packgate.parsing import LineParser

HELP = COMMANDS["parse"]

_CHUNK = 1 << 16
_FORMATS = ("auto", "simple", "tap", "junit", "unittest", "pytest")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format",
        "-f",
        default="auto",
        choices=_FORMATS,
        help="the output's format (default: auto-detect)",
    )
    parser.add_argument("--name", default=None, help="the suite's name (default: the file's name)")
    parser.add_argument("--runner-type", default="unknown", help="the runner type to record")
    parser.add_argument(
        "--max-cases", type=int, default=10_000, help="test cases to keep in the JSON (counts cover all)"
    )
    parser.add_argument("path", metavar="PATH", help="the output file, or - for stdin")


def _feed(stream: BinaryIO, parser: LineParser) -> None:
    """Feed `stream` to `parser` line by line, a long line in pieces of at most _CHUNK characters."""
    text = io.TextIOWrapper(stream, encoding="utf-8", errors="replace", newline="")
    feed = parser.feed
    feed_partial = getattr(parser, "feed_partial", None)
    partial = False
    while True:
        piece = text.readline(_CHUNK)
        if not piece:
            break
        if piece.endswith(("\n", "\r")) or feed_partial is None:
            feed(piece)
            partial = False
        else:
            feed_partial(piece)
            partial = True
    if partial:
        feed("")  # the last line had no newline: complete it


def _name_for(path: str) -> str:
    if path == "-":
        return "stdin"
    base = path.rstrip("/").rsplit("/", 1)[-1]
    return base or "tests"


def _one_line(text: str) -> str:
    return " ".join(text.split())[:500]


def run(args: argparse.Namespace) -> int:
    from packgate.errors import ParseError
    from packgate.parsing import make_parser

    path: str = args.path
    try:
        parser = make_parser(
            args.format,
            name=args.name or _name_for(path),
            runner_type=args.runner_type,
            max_cases=max(0, args.max_cases),
        )
        if path == "-":
            _feed(sys.stdin.buffer, parser)
        else:
            with open(path, "rb") as stream:
                _feed(stream, parser)
        suite = parser.summary()
    except ParseError as exc:
        print(f"packgate parse: {path}: {_one_line(str(exc))}", file=sys.stderr)
        return 1
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        print(f"packgate parse: cannot read {path}: {_one_line(reason)}", file=sys.stderr)
        return 1
    except Exception as exc:  # the CLI promises one line, never a traceback, for any input
        print(f"packgate parse: {path}: {type(exc).__name__}: {_one_line(str(exc))}", file=sys.stderr)
        return 1
    try:
        sys.stdout.write(suite.to_json() + "\n")
        sys.stdout.flush()
    except BrokenPipeError:  # the reader went away (| head): not our error, and no traceback
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return 0
