"""junit_report actions: compare and bump semantic versions (https://semver.org, 2.0.0).

    python3 actions/semver.py compare A B         prints -1, 0 or 1
    python3 actions/semver.py bump VERSION PART   PART is major, minor or patch

Pure functions (`parse`, `compare`, `bump`) do the work; `main` is the action's command line.
"""

from __future__ import annotations

import re
import sys
from typing import NamedTuple

_SEMVER = re.compile(
    r"^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)


class Version(NamedTuple):
    major: int
    minor: int
    patch: int
    prerelease: tuple[str, ...] = ()
    build: str = ""

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            text += "-" + ".".join(self.prerelease)
        if self.build:
            text += "+" + self.build
        return text


def parse(text: str) -> Version:
    """A semantic version; a leading `v` is accepted.  ValueError for anything else."""
    match = _SEMVER.match(text.strip())
    if not match:
        raise ValueError(f"not a semantic version: {text!r}")
    major, minor, patch, pre, build = match.groups()
    return Version(int(major), int(minor), int(patch), tuple(pre.split(".")) if pre else (), build or "")


def _prerelease_key(parts: tuple[str, ...]) -> tuple[tuple[int, int, str], ...]:
    # Numeric identifiers sort numerically and before alphanumeric ones.
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts)


def compare(a: str, b: str) -> int:
    """-1, 0 or 1 as a is lower than, equal to or higher than b (build metadata is ignored)."""
    va, vb = parse(a), parse(b)
    if va[:3] != vb[:3]:
        return -1 if va[:3] < vb[:3] else 1
    if va.prerelease == vb.prerelease:
        return 0
    if not va.prerelease:
        return 1  # a release is higher than its pre-releases
    if not vb.prerelease:
        return -1
    ka, kb = _prerelease_key(va.prerelease), _prerelease_key(vb.prerelease)
    return -1 if ka < kb else 1


def bump(version: str, part: str) -> str:
    """The next version: bumping a part resets the lower ones and drops pre-release and build."""
    v = parse(version)
    if part == "major":
        return str(Version(v.major + 1, 0, 0))
    if part == "minor":
        return str(Version(v.major, v.minor + 1, 0))
    if part == "patch":
        # 1.2.3-rc.1 → 1.2.3: the release a pre-release leads to.
        return str(Version(v.major, v.minor, v.patch if v.prerelease else v.patch + 1))
    raise ValueError(f"part must be major, minor or patch, not {part!r}")


def main(argv: list[str]) -> int:
    try:
        if len(argv) == 3 and argv[0] == "compare":
            print(compare(argv[1], argv[2]))
            return 0
        if len(argv) == 3 and argv[0] == "bump":
            print(bump(argv[1], argv[2]))
            return 0
    except ValueError as exc:
        print(f"semver.py: {exc}", file=sys.stderr)
        return 1
    print("usage: semver.py compare A B | semver.py bump VERSION major|minor|patch", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
