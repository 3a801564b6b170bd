"""A small reader of the Dockerfile for the delivery tests: its stages and their instructions,
with line continuations joined and comments dropped (enough for this Dockerfile's syntax)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def args(self, keyword: str) -> list[str]:
        """The arguments of every instruction of that keyword in this stage, in order."""
        return [args for kw, args in self.instructions if kw == keyword]


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


def stages(path: Path) -> list[Stage]:
    """The build stages, in order."""
    found: list[Stage] = []
    for keyword, args in instructions(path.read_text()):
        if keyword == "FROM":
            words = [w for w in args.split() if not w.startswith("--")]
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            found.append(Stage(base=words[0], name=name))
        elif keyword != "ARG" or found:
            assert found, f"{keyword} before the first FROM"
            found[-1].instructions.append((keyword, args))
    return found
