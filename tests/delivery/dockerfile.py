"""A small reader of the Dockerfile for the delivery tests: its build arguments, its stages and their
instructions, with line continuations joined and comments dropped (enough for this Dockerfile's
syntax).

Build arguments are the ARGs declared before the first FROM, the only ones a FROM line may use.
Each stage's `base` is its FROM image with `$NAME`, `${NAME}`, `${NAME:-word}` and `${NAME:+word}`
substituted from those ARGs' defaults, or from `build_args` given to `parse` (as `docker build
--build-arg NAME=value` would); `written_base` is the image as the FROM line writes it.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

_VARIABLE = re.compile(r"\$(?:\{(?P<braced>[A-Za-z_]\w*)(?::(?P<op>[-+])(?P<word>[^}]*))?\}|(?P<bare>[A-Za-z_]\w*))")


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)
    written_base: str = ""

    def args(self, keyword: str) -> list[str]:
        """The arguments of every instruction of that keyword in this stage, in order."""
        return [args for kw, args in self.instructions if kw == keyword]


@dataclass
class Dockerfile:
    build_args: dict[str, str | None]
    """The ARGs declared before the first FROM: name → default (None when it has none), in order."""
    stages: list[Stage]


def instructions(text: str) -> list[tuple[str, str]]:
    """(KEYWORD, arguments) for each instruction, continuation lines joined."""
    result: list[tuple[str, str]] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, args = line.partition(" ")
        result.append((keyword.upper(), re.sub(r"\s+", " ", args).strip()))
    assert not pending, "the Dockerfile ends inside a continued line"
    return result


def substitute(text: str, values: Mapping[str, str | None]) -> str:
    """`text` with the build arguments it names replaced by their values; a name that is not
    declared, or has no value, is an error rather than Docker's silent empty string."""

    def value(match: re.Match[str]) -> str:
        name = match["braced"] or match["bare"]
        assert name in values, f"{text} uses ${name}, which no ARG before the first FROM declares"
        current = values[name]
        if match["op"] == "-":
            return current or match["word"]
        if match["op"] == "+":
            return match["word"] if current else ""
        assert current is not None, f"{text} uses ${name}, which has no default and no --build-arg"
        return current

    return _VARIABLE.sub(value, text)


def parse(path: Path, build_args: Mapping[str, str] | None = None) -> Dockerfile:
    """The build arguments and stages of a Dockerfile, bases resolved with `build_args` (which
    override declared ARGs only, as --build-arg does) over the ARGs' defaults."""
    declared: dict[str, str | None] = {}
    values: dict[str, str | None] = {}
    found: list[Stage] = []
    for keyword, args in instructions(path.read_text()):
        if keyword == "ARG" and not found:
            for word in shlex.split(args):
                name, sep, default = word.partition("=")
                declared[name] = substitute(default, declared) if sep else None
        elif keyword == "FROM":
            if not found:
                undeclared = sorted(set(build_args or {}) - set(declared))
                assert not undeclared, f"no ARG before the first FROM declares {', '.join(undeclared)}"
                values = declared | dict(build_args or {})
            words = [w for w in args.split() if not w.startswith("--")]
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            found.append(Stage(base=substitute(words[0], values), name=name, written_base=words[0]))
        else:
            assert found, f"{keyword} before the first FROM"
            found[-1].instructions.append((keyword, args))
    return Dockerfile(build_args=declared, stages=found)


def stages(path: Path) -> list[Stage]:
    """The build stages, in order, bases resolved with the ARGs' defaults."""
    return parse(path).stages
