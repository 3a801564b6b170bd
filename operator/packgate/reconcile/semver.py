"""Semantic versions (semver 2.0.0) and npm-style version ranges, for `spec.dependsOn`.

Owns: parsing a version (`parse_version`), its precedence (prerelease ordering, build metadata
ignored), parsing a range (`parse_range`) into comparator sets, and `satisfies`.  The range
syntax and meaning are node-semver's (npm's) without its `loose` and `includePrerelease`
options:

    exact / comparators   1.2.3   =1.2.3   >1.2.3   >=1.2.3   <1.2.3   <=1.2.3   (a leading v is fine)
    AND                   >=1.2.0 <2.0.0          (spaces or tabs between comparators)
    OR                    1.2.x || >=2.1.0        (`||` between comparator sets)
    caret                 ^1.2.3 := >=1.2.3 <2.0.0-0, ^0.2.3 := >=0.2.3 <0.3.0-0, ^0.0.3 := >=0.0.3 <0.0.4-0
    tilde                 ~1.2.3 := >=1.2.3 <1.3.0-0, ~1.2 := >=1.2.0 <1.3.0-0, ~1 := >=1.0.0 <2.0.0-0 (~> too)
    x-ranges              1.x, 1.2.*, 1, *, "" (any), >1.2 := >=1.3.0, <=1.2 := <1.3.0-0
    hyphen                1.2.3 - 2.3.4 := >=1.2.3 <=2.3.4, 1.2 - 2 := >=1.2.0 <3.0.0-0

A version with a prerelease tag (1.3.0-beta.1) satisfies a range only if some comparator of the
satisfied set has a prerelease tag on the same major.minor.patch (>=1.3.0-beta), so `^1.2.0`
never picks up a prerelease by accident.  `str(range)` is node-semver's canonical form.  One
deliberate difference: `||` is always OR, so `1.0.0-rc.1 || *` admits 1.0.0-rc.1 (node-semver
shortens a range with a `*` set to `*`, which does not).

Must not: do I/O.  Every refusal is `InvalidPack` with one line naming the problem.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from packgate.errors import InvalidPack

MAX_LENGTH = 256
"""Longest version or range text accepted (node-semver's limit for versions)."""
MAX_NUMBER = 2**53 - 1
"""Largest major, minor or patch number (node-semver's: JavaScript's largest safe integer)."""

_NUMBER = r"0|[1-9][0-9]*"
_PRE_ID = r"0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*"
_PRERELEASE = rf"(?:{_PRE_ID})(?:\.(?:{_PRE_ID}))*"
_BUILD = r"[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*"
_VERSION = re.compile(
    rf"v?(?P<major>{_NUMBER})\.(?P<minor>{_NUMBER})\.(?P<patch>{_NUMBER})"
    rf"(?:-(?P<pre>{_PRERELEASE}))?(?:\+(?P<build>{_BUILD}))?"
)
_X = r"[xX*]"
_PART = rf"{_NUMBER}|{_X}"
# A partial version: up to three parts, each a number or x/X/*; a prerelease and build only
# after three numbers (node-semver would accept `1.2.x-beta` and ignore the tag; refused here).
_PARTIAL = re.compile(
    rf"v?(?P<major>{_PART})(?:\.(?P<minor>{_PART})(?:\.(?P<patch>{_PART})"
    rf"(?:-(?P<pre>{_PRERELEASE}))?(?:\+(?P<build>{_BUILD}))?)?)?"
)
_WHITESPACE = re.compile(r"[ \t]+")
_HYPHEN = re.compile(r"^(\S+)[ \t]+-[ \t]+(\S+)$")
_OPERATORS = ("~>", "~", "^", ">=", "<=", ">", "<", "=")
"""Prefixes of a range token, longest first."""
_PARTIAL_START = frozenset("0123456789vxX*")

EXAMPLES = "e.g. ^1.2.0, ~1.2, >=1.0.0 <2.0.0, 1.x, 1.2.3 - 2.0.0"


class Op(StrEnum):
    """A primitive comparator's operator; EQ prints as nothing, as in node-semver."""

    EQ = ""
    GT = ">"
    GE = ">="
    LT = "<"
    LE = "<="


Identifier = int | str
"""A prerelease identifier: numeric ones compare as numbers, below alphanumeric ones."""


@dataclass(frozen=True, eq=False)
class Version:
    """A semver 2.0.0 version.  Equality and order are semver precedence: build metadata is
    kept (and printed) but ignored when comparing."""

    major: int
    minor: int
    patch: int
    prerelease: tuple[Identifier, ...] = ()
    build: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[int, int, int, int, tuple[tuple[int, int, str], ...]]:
        """The precedence key: a release sorts after its prereleases; identifiers compare
        numerically when numeric, in ASCII order otherwise, numeric below alphanumeric; a longer
        prerelease wins when all before are equal."""
        ids = tuple((0, i, "") if isinstance(i, int) else (1, 0, i) for i in self.prerelease)
        return (self.major, self.minor, self.patch, 0 if self.prerelease else 1, ids)

    @property
    def release(self) -> tuple[int, int, int]:
        return (self.major, self.minor, self.patch)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Version) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __lt__(self, other: Version) -> bool:
        return self.key < other.key

    def __le__(self, other: Version) -> bool:
        return self.key <= other.key

    def __gt__(self, other: Version) -> bool:
        return self.key > other.key

    def __ge__(self, other: Version) -> bool:
        return self.key >= other.key

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        if self.prerelease:
            text += "-" + ".".join(str(i) for i in self.prerelease)
        if self.build:
            text += "+" + ".".join(self.build)
        return text


def _identifiers(text: str | None) -> tuple[Identifier, ...]:
    if not text:
        return ()
    return tuple(int(part) if part.isdigit() else part for part in text.split("."))


def _number(text: str, what: str, source: str) -> int:
    value = int(text)
    if value > MAX_NUMBER:
        raise InvalidPack(f"{what} {source!r}: {text} is too big (at most {MAX_NUMBER})")
    return value


def parse_version(text: str) -> Version:
    """A semver version such as `1.2.3`, `1.3.0-beta.2` or `v2.0.0+build.7` (surrounding spaces
    and a leading `v` are accepted); InvalidPack with one line otherwise."""
    if not isinstance(text, str):
        raise InvalidPack(f"version {text!r} is not text")
    if len(text) > MAX_LENGTH:
        raise InvalidPack(f"version {_short(text)!r} is longer than {MAX_LENGTH} characters")
    match = _VERSION.fullmatch(text.strip())
    if match is None:
        raise InvalidPack(f"version {text!r} is not a semantic version (MAJOR.MINOR.PATCH, e.g. 1.2.3 or 1.3.0-beta.1)")
    return Version(
        _number(match["major"], "version", text),
        _number(match["minor"], "version", text),
        _number(match["patch"], "version", text),
        _identifiers(match["pre"]),
        tuple(match["build"].split(".")) if match["build"] else (),
    )


def version_or_none(text: str) -> Version | None:
    """`parse_version`, or None when `text` is not a semantic version."""
    try:
        return parse_version(text)
    except InvalidPack:
        return None


@dataclass(frozen=True)
class Comparator:
    """One primitive comparison with a full version."""

    op: Op
    version: Version

    def test(self, version: Version) -> bool:
        if self.op is Op.EQ:
            return version == self.version
        if self.op is Op.GT:
            return version > self.version
        if self.op is Op.GE:
            return version >= self.version
        if self.op is Op.LT:
            return version < self.version
        return version <= self.version

    def __str__(self) -> str:
        return f"{self.op.value}{self.version}"


ComparatorSet = tuple[Comparator, ...]
"""Comparators that must all hold; the empty set is any version (`*`)."""

_NOTHING = Comparator(Op.LT, Version(0, 0, 0, (0,)))
"""`<0.0.0-0`: no version satisfies it (node-semver's null set)."""


@dataclass(frozen=True)
class Range:
    """Comparator sets of which one must hold (`||`).  `text` is what was written."""

    sets: tuple[ComparatorSet, ...]
    text: str

    def __str__(self) -> str:
        """node-semver's canonical form: `>=1.2.0 <2.0.0-0||>=3.0.0`, `*` for any version."""
        return "||".join(" ".join(str(c) for c in s) or "*" for s in self.sets)

    def satisfied_by(self, version: Version) -> bool:
        return any(_set_satisfied(s, version) for s in self.sets)


def _set_satisfied(comparators: ComparatorSet, version: Version) -> bool:
    if not all(c.test(version) for c in comparators):
        return False
    if not version.prerelease:
        return True
    # A prerelease only where the range names a prerelease of the same major.minor.patch.
    return any(c.version.prerelease and c.version.release == version.release for c in comparators)


@dataclass(frozen=True)
class _Partial:
    """A version whose trailing parts may be missing or x: `1`, `1.2.x`, `*`, `1.2.3-beta`."""

    major: int | None
    minor: int | None
    patch: int | None
    prerelease: tuple[Identifier, ...] = ()

    def full(self) -> Version:
        return Version(self.major or 0, self.minor or 0, self.patch or 0, self.prerelease)


def _parse_partial(text: str, token: str, source: str) -> _Partial:
    match = _PARTIAL.fullmatch(text)
    if match is None:
        raise InvalidPack(f"version range {source!r}: {token!r} is not a version or comparator ({EXAMPLES})")

    def part(name: str) -> int | None:
        value = match[name]
        if value is None or value in ("x", "X", "*"):
            return None
        return _number(value, "version range", source)

    major, minor, patch = part("major"), part("minor"), part("patch")
    # Once a part is x (or missing), the parts after it are too: 1.x.3 means 1.x.
    if major is None:
        minor = patch = None
    if minor is None:
        patch = None
    if match["pre"] and patch is None:
        raise InvalidPack(f"version range {source!r}: {token!r} has a prerelease but not a full version")
    return _Partial(major, minor, patch, _identifiers(match["pre"]))


def _lower(version: Version) -> Version:
    """The lowest prerelease of a release: `<2.0.0-0` excludes 2.0.0's prereleases too."""
    return Version(version.major, version.minor, version.patch, (0,))


def _caret(p: _Partial) -> list[Comparator]:
    if p.major is None:
        return []
    if p.minor is None:
        return [Comparator(Op.GE, p.full()), Comparator(Op.LT, _lower(Version(p.major + 1, 0, 0)))]
    if p.patch is None:
        upper = Version(0, p.minor + 1, 0) if p.major == 0 else Version(p.major + 1, 0, 0)
        return [Comparator(Op.GE, p.full()), Comparator(Op.LT, _lower(upper))]
    if p.major != 0:
        upper = Version(p.major + 1, 0, 0)
    elif p.minor != 0:
        upper = Version(0, p.minor + 1, 0)
    else:
        upper = Version(0, 0, p.patch + 1)
    return [Comparator(Op.GE, p.full()), Comparator(Op.LT, _lower(upper))]


def _tilde(p: _Partial) -> list[Comparator]:
    if p.major is None:
        return []
    if p.minor is None:
        return [Comparator(Op.GE, p.full()), Comparator(Op.LT, _lower(Version(p.major + 1, 0, 0)))]
    return [Comparator(Op.GE, p.full()), Comparator(Op.LT, _lower(Version(p.major, p.minor + 1, 0)))]


def _xrange(op: Op, p: _Partial) -> list[Comparator]:
    if p.major is None:
        return [_NOTHING] if op in (Op.GT, Op.LT) else []
    if p.patch is not None:
        return [Comparator(op, p.full())]
    if op is Op.EQ:
        if p.minor is None:
            return [Comparator(Op.GE, p.full()), Comparator(Op.LT, _lower(Version(p.major + 1, 0, 0)))]
        return [Comparator(Op.GE, p.full()), Comparator(Op.LT, _lower(Version(p.major, p.minor + 1, 0)))]
    nxt = Version(p.major + 1, 0, 0) if p.minor is None else Version(p.major, p.minor + 1, 0)
    if op is Op.GT:  # >1 := >=2.0.0, >1.2 := >=1.3.0
        return [Comparator(Op.GE, nxt)]
    if op is Op.LE:  # <=1.2 := <1.3.0-0
        return [Comparator(Op.LT, _lower(nxt))]
    if op is Op.LT:  # <1.2 := <1.2.0-0
        return [Comparator(Op.LT, _lower(p.full()))]
    return [Comparator(Op.GE, p.full())]


def _hyphen(low: _Partial, high: _Partial) -> list[Comparator]:
    out: list[Comparator] = []
    if low.major is not None:
        out.append(Comparator(Op.GE, low.full()))
    if high.major is None:
        pass
    elif high.minor is None:
        out.append(Comparator(Op.LT, _lower(Version(high.major + 1, 0, 0))))
    elif high.patch is None:
        out.append(Comparator(Op.LT, _lower(Version(high.major, high.minor + 1, 0))))
    else:
        out.append(Comparator(Op.LE, high.full()))
    return out


def _tokens(text: str) -> list[str]:
    """The set's tokens, an operator written apart from its version joined to it (`>= 1.2`)."""
    raw = [t for t in _WHITESPACE.split(text) if t]
    tokens: list[str] = []
    i = 0
    while i < len(raw):
        token = raw[i]
        if token in _OPERATORS and i + 1 < len(raw) and raw[i + 1][0] in _PARTIAL_START:
            token += raw[i + 1]
            i += 1
        tokens.append(token)
        i += 1
    return tokens


def _comparators(token: str, source: str) -> list[Comparator]:
    for prefix in _OPERATORS:
        if token.startswith(prefix):
            rest = token[len(prefix) :]
            break
    else:
        prefix, rest = "", token
    partial = _parse_partial(rest, token, source)
    if prefix in ("~", "~>"):
        return _tilde(partial)
    if prefix == "^":
        return _caret(partial)
    return _xrange(Op("" if prefix == "=" else prefix), partial)


def _parse_set(text: str, source: str) -> ComparatorSet:
    hyphen = _HYPHEN.match(text)
    if hyphen:
        for side in (hyphen[1], hyphen[2]):
            if not _PARTIAL.fullmatch(side):
                raise InvalidPack(
                    f"version range {source!r}: {side!r} is not a version (a hyphen range joins two: 1.2.3 - 2.3.4)"
                )
        low = _parse_partial(hyphen[1], hyphen[1], source)
        high = _parse_partial(hyphen[2], hyphen[2], source)
        comparators = _hyphen(low, high)
    else:
        comparators = [c for token in _tokens(text) for c in _comparators(token, source)]
    if _NOTHING in comparators:
        return (_NOTHING,)
    # >=0.0.0 admits every release, as * does.
    unique = [c for c in dict.fromkeys(comparators) if c != Comparator(Op.GE, Version(0, 0, 0))]
    return tuple(unique)


def parse_range(text: str) -> Range:
    """An npm-style range (see the module's docstring); InvalidPack with one line naming the
    part that is wrong."""
    if not isinstance(text, str):
        raise InvalidPack(f"version range {text!r} is not text")
    if len(text) > MAX_LENGTH:
        raise InvalidPack(f"version range {_short(text)!r} is longer than {MAX_LENGTH} characters")
    if any(ch in text for ch in "\r\n"):
        raise InvalidPack(f"version range {_short(text)!r} must be on one line")
    sets = [_parse_set(part.strip(" \t"), text) for part in text.split("||")]
    if len(sets) > 1:
        # Repeated sets and sets nothing satisfies are dropped (one is kept if that is all).  Unlike
        # node-semver, `1.0.0-rc.1 || *` is not shortened to `*`: it still admits 1.0.0-rc.1.
        sets = [s for s in dict.fromkeys(sets) if s != (_NOTHING,)] or sets[:1]
    return Range(tuple(sets), text)


def satisfies(version: str | Version, range_: str | Range) -> bool:
    """Whether `version` is in `range_`.  A version text that is not a semantic version satisfies
    nothing; a range text that does not parse raises InvalidPack (ranges are validated where they
    enter, with the spec)."""
    wanted = range_ if isinstance(range_, Range) else parse_range(range_)
    if isinstance(version, Version):
        have: Version | None = version
    else:
        have = version_or_none(version)
    return have is not None and wanted.satisfied_by(have)


def _short(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."
