"""Unit tests of packgate.reconcile.semver: versions, their precedence, npm-style ranges.

The tables carry over the documented cases of node-semver's test suite (test/fixtures:
range-include.js, range-exclude.js, range-parse.js, comparisons.js, equality.js,
invalid-versions.js) -- the facts, not the code -- keeping the cases of its default mode (no
`loose`, no `includePrerelease` option, neither of which Packgate has).  Property tests live in
tests/unit/fuzz/test_fuzz_semver.py.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from packgate.api.spec import PackDependency
from packgate.errors import InvalidPack
from packgate.reconcile.semver import (
    MAX_NUMBER,
    Version,
    parse_range,
    parse_version,
    satisfies,
    version_or_none,
)

pytestmark = pytest.mark.unit

CRD = Path(__file__).resolve().parents[2] / "crds" / "packgate.dev_packs.yaml"


@cache
def crd_version_rule() -> tuple[int, int, tuple[re.Pattern[str], ...]]:
    """The Pack CRD's dependsOn[].version: minLength, maxLength and the regular expressions of its
    CEL rule's `self.matches(r'...')` (RE2: `$` is the end of the text, Python's `\\Z`)."""
    schema = yaml.safe_load(CRD.read_text())["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    field = schema["properties"]["spec"]["properties"]["dependsOn"]["items"]["properties"]["version"]
    (rule,) = (v["rule"] for v in field["x-kubernetes-validations"])
    patterns = re.findall(r"self\.matches\(r'([^']*)'\)", rule)
    assert len(patterns) == 2, rule
    compiled = tuple(re.compile(p.removesuffix("$") + r"\Z" if p.endswith("$") else p) for p in patterns)
    return field["minLength"], field["maxLength"], compiled


def crd_accepts_range(text: str) -> bool:
    """Whether the Pack CRD admits `text` as a dependsOn version (CEL's matches is a search)."""
    shortest, longest, patterns = crd_version_rule()
    return shortest <= len(text) <= longest and all(p.search(text) for p in patterns)


def spec_accepts_range(text: str) -> bool:
    """Whether the spec model (what the operator and `packgate manifest` check) admits it."""
    try:
        PackDependency(name="core", version=text)
    except ValidationError:
        return False
    return True


# range-include.js: the version satisfies the range.
INCLUDED = [
    ("1.0.0 - 2.0.0", "1.2.3"),
    ("^1.2.3+build", "1.2.3"),
    ("^1.2.3+build", "1.3.0"),
    ("1.2.3-pre+asdf - 2.4.3-pre+asdf", "1.2.3"),
    ("1.2.3-pre+asdf - 2.4.3-pre+asdf", "1.2.3-pre.2"),
    ("1.2.3-pre+asdf - 2.4.3-pre+asdf", "2.4.3-alpha"),
    ("1.2.3+asdf - 2.4.3+asdf", "1.2.3"),
    ("1.0.0", "1.0.0"),
    (">=*", "0.2.4"),
    ("", "1.0.0"),
    ("*", "1.2.3"),
    ("*", "v1.2.3"),
    (">=1.0.0", "1.0.0"),
    (">=1.0.0", "1.0.1"),
    (">=1.0.0", "1.1.0"),
    (">1.0.0", "1.0.1"),
    (">1.0.0", "1.1.0"),
    ("<=2.0.0", "2.0.0"),
    ("<=2.0.0", "1.9999.9999"),
    ("<=2.0.0", "0.2.9"),
    ("<2.0.0", "1.9999.9999"),
    ("<2.0.0", "0.2.9"),
    (">= 1.0.0", "1.0.0"),
    (">=  1.0.0", "1.0.1"),
    (">=   1.0.0", "1.1.0"),
    ("> 1.0.0", "1.0.1"),
    (">  1.0.0", "1.1.0"),
    ("<=   2.0.0", "2.0.0"),
    ("<= 2.0.0", "1.9999.9999"),
    ("<=  2.0.0", "0.2.9"),
    ("<    2.0.0", "1.9999.9999"),
    ("<\t2.0.0", "0.2.9"),
    (">=0.1.97", "v0.1.97"),
    (">=0.1.97", "0.1.97"),
    ("0.1.20 || 1.2.4", "1.2.4"),
    (">=0.2.3 || <0.0.1", "0.0.0"),
    (">=0.2.3 || <0.0.1", "0.2.3"),
    (">=0.2.3 || <0.0.1", "0.2.4"),
    ("||", "1.3.4"),
    ("2.x.x", "2.1.3"),
    ("1.2.x", "1.2.3"),
    ("1.2.x || 2.x", "2.1.3"),
    ("1.2.x || 2.x", "1.2.3"),
    ("x", "1.2.3"),
    ("2.*.*", "2.1.3"),
    ("1.2.*", "1.2.3"),
    ("1.2.* || 2.*", "2.1.3"),
    ("1.2.* || 2.*", "1.2.3"),
    ("2", "2.1.2"),
    ("2.3", "2.3.1"),
    ("~0.0.1", "0.0.1"),
    ("~0.0.1", "0.0.2"),
    ("~x", "0.0.9"),
    ("~2", "2.0.9"),
    ("~2.4", "2.4.0"),
    ("~2.4", "2.4.5"),
    ("~>3.2.1", "3.2.2"),
    ("~1", "1.2.3"),
    ("~>1", "1.2.3"),
    ("~> 1", "1.2.3"),
    ("~1.0", "1.0.2"),
    ("~ 1.0", "1.0.2"),
    ("~ 1.0.3", "1.0.12"),
    (">=1", "1.0.0"),
    (">= 1", "1.0.0"),
    ("<1.2", "1.1.1"),
    ("< 1.2", "1.1.1"),
    ("~v0.5.4-pre", "0.5.5"),
    ("~v0.5.4-pre", "0.5.4"),
    ("=0.7.x", "0.7.2"),
    ("<=0.7.x", "0.7.2"),
    (">=0.7.x", "0.7.2"),
    ("<=0.7.x", "0.6.2"),
    ("~1.2.1 >=1.2.3", "1.2.3"),
    ("~1.2.1 =1.2.3", "1.2.3"),
    ("~1.2.1 1.2.3", "1.2.3"),
    ("~1.2.1 >=1.2.3 1.2.3", "1.2.3"),
    ("~1.2.1 1.2.3 >=1.2.3", "1.2.3"),
    (">=1.2.1 1.2.3", "1.2.3"),
    ("1.2.3 >=1.2.1", "1.2.3"),
    (">=1.2.3 >=1.2.1", "1.2.3"),
    (">=1.2.1 >=1.2.3", "1.2.3"),
    (">=1.2", "1.2.8"),
    ("^1.2.3", "1.8.1"),
    ("^0.1.2", "0.1.2"),
    ("^0.1", "0.1.2"),
    ("^0.0.1", "0.0.1"),
    ("^1.2", "1.4.2"),
    ("^1.2 ^1", "1.4.2"),
    ("^1.2.3-alpha", "1.2.3-pre"),
    ("^1.2.0-alpha", "1.2.0-pre"),
    ("^0.0.1-alpha", "0.0.1-beta"),
    ("^0.0.1-alpha", "0.0.1"),
    ("^0.1.1-alpha", "0.1.1-beta"),
    ("^x", "1.2.3"),
    ("x - 1.0.0", "0.9.7"),
    ("x - 1.x", "0.9.7"),
    ("1.0.0 - x", "1.9.7"),
    ("1.x - x", "1.9.7"),
    ("<=7.x", "7.9.9"),
]

# range-exclude.js: the version does not satisfy the range (a text that is no version satisfies nothing).
EXCLUDED = [
    ("1.0.0 - 2.0.0", "2.2.3"),
    ("1.2.3+asdf - 2.4.3+asdf", "1.2.3-pre.2"),
    ("1.2.3+asdf - 2.4.3+asdf", "2.4.3-alpha"),
    ("^1.2.3+build", "2.0.0"),
    ("^1.2.3+build", "1.2.0"),
    ("^1.2.3", "1.2.3-pre"),
    ("^1.2", "1.2.0-pre"),
    (">1.2", "1.3.0-beta"),
    ("<=1.2.3", "1.2.3-beta"),
    ("^1.2.3", "1.2.3-beta"),
    ("=0.7.x", "0.7.0-asdf"),
    (">=0.7.x", "0.7.0-asdf"),
    ("1.0.0", "1.0.1"),
    (">=1.0.0", "0.0.0"),
    (">=1.0.0", "0.0.1"),
    (">=1.0.0", "0.1.0"),
    (">1.0.0", "0.0.1"),
    (">1.0.0", "0.1.0"),
    ("<=2.0.0", "3.0.0"),
    ("<=2.0.0", "2.9999.9999"),
    ("<=2.0.0", "2.2.9"),
    ("<2.0.0", "2.9999.9999"),
    ("<2.0.0", "2.2.9"),
    (">=0.1.97", "v0.1.93"),
    (">=0.1.97", "0.1.93"),
    ("0.1.20 || 1.2.4", "1.2.3"),
    (">=0.2.3 || <0.0.1", "0.0.3"),
    (">=0.2.3 || <0.0.1", "0.2.2"),
    ("2.x.x", "1.1.3"),
    ("2.x.x", "3.1.3"),
    ("1.2.x", "1.3.3"),
    ("1.2.x || 2.x", "3.1.3"),
    ("1.2.x || 2.x", "1.1.3"),
    ("2.*.*", "1.1.3"),
    ("2.*.*", "3.1.3"),
    ("1.2.*", "1.3.3"),
    ("1.2.* || 2.*", "3.1.3"),
    ("1.2.* || 2.*", "1.1.3"),
    ("2", "1.1.2"),
    ("2.3", "2.4.1"),
    ("~0.0.1", "0.1.0-alpha"),
    ("~0.0.1", "0.1.0"),
    ("~2.4", "2.5.0"),
    ("~2.4", "2.3.9"),
    ("~>3.2.1", "3.3.2"),
    ("~>3.2.1", "3.2.0"),
    ("~1", "0.2.3"),
    ("~>1", "2.2.3"),
    ("~1.0", "1.1.0"),
    ("<1", "1.0.0"),
    (">=1.2", "1.1.1"),
    ("~v0.5.4-beta", "0.5.4-alpha"),
    ("=0.7.x", "0.8.2"),
    (">=0.7.x", "0.6.2"),
    ("<0.7.x", "0.7.2"),
    ("<1.2.3", "1.2.3-beta"),
    ("=1.2.3", "1.2.3-beta"),
    (">1.2", "1.2.8"),
    ("^0.0.1", "0.0.2-alpha"),
    ("^0.0.1", "0.0.2"),
    ("^1.2.3", "2.0.0-alpha"),
    ("^1.2.3", "1.2.2"),
    ("^1.2", "1.1.9"),
    ("*", "v1.2.3-foo"),
    ("*", "not a version"),
    (">=2", "glorp"),
    ("^1.0.0", "2.0.0-rc1"),
]

# range-parse.js: the range's canonical form.
CANONICAL = [
    ("1.0.0 - 2.0.0", ">=1.0.0 <=2.0.0"),
    ("1 - 2", ">=1.0.0 <3.0.0-0"),
    ("1.0 - 2.0", ">=1.0.0 <2.1.0-0"),
    ("1.0.0", "1.0.0"),
    (">=*", "*"),
    ("", "*"),
    ("*", "*"),
    (">=1.0.0", ">=1.0.0"),
    (">1.0.0", ">1.0.0"),
    ("<=2.0.0", "<=2.0.0"),
    ("1", ">=1.0.0 <2.0.0-0"),
    ("<2.0.0", "<2.0.0"),
    (">= 1.0.0", ">=1.0.0"),
    (">=  1.0.0", ">=1.0.0"),
    (">=   1.0.0", ">=1.0.0"),
    ("> 1.0.0", ">1.0.0"),
    (">  1.0.0", ">1.0.0"),
    ("<=   2.0.0", "<=2.0.0"),
    ("<= 2.0.0", "<=2.0.0"),
    ("<=  2.0.0", "<=2.0.0"),
    ("<    2.0.0", "<2.0.0"),
    ("<\t2.0.0", "<2.0.0"),
    (">=0.1.97", ">=0.1.97"),
    ("0.1.20 || 1.2.4", "0.1.20||1.2.4"),
    (">=0.2.3 || <0.0.1", ">=0.2.3||<0.0.1"),
    ("||", "*"),
    ("2.x.x", ">=2.0.0 <3.0.0-0"),
    ("1.2.x", ">=1.2.0 <1.3.0-0"),
    ("1.2.x || 2.x", ">=1.2.0 <1.3.0-0||>=2.0.0 <3.0.0-0"),
    ("x", "*"),
    ("2.*.*", ">=2.0.0 <3.0.0-0"),
    ("1.2.*", ">=1.2.0 <1.3.0-0"),
    ("1.2.* || 2.*", ">=1.2.0 <1.3.0-0||>=2.0.0 <3.0.0-0"),
    ("2", ">=2.0.0 <3.0.0-0"),
    ("2.3", ">=2.3.0 <2.4.0-0"),
    ("~2.4", ">=2.4.0 <2.5.0-0"),
    ("~>3.2.1", ">=3.2.1 <3.3.0-0"),
    ("~1", ">=1.0.0 <2.0.0-0"),
    ("~>1", ">=1.0.0 <2.0.0-0"),
    ("~> 1", ">=1.0.0 <2.0.0-0"),
    ("~1.0", ">=1.0.0 <1.1.0-0"),
    ("~ 1.0", ">=1.0.0 <1.1.0-0"),
    ("^0", "<1.0.0-0"),
    ("^ 1", ">=1.0.0 <2.0.0-0"),
    ("^0.1", ">=0.1.0 <0.2.0-0"),
    ("^1.0", ">=1.0.0 <2.0.0-0"),
    ("^1.2", ">=1.2.0 <2.0.0-0"),
    ("^0.0.1", ">=0.0.1 <0.0.2-0"),
    ("^0.0.1-beta", ">=0.0.1-beta <0.0.2-0"),
    ("^0.1.2", ">=0.1.2 <0.2.0-0"),
    ("^1.2.3", ">=1.2.3 <2.0.0-0"),
    ("^1.2.3-beta.4", ">=1.2.3-beta.4 <2.0.0-0"),
    ("<1", "<1.0.0-0"),
    ("< 1", "<1.0.0-0"),
    (">=1", ">=1.0.0"),
    (">= 1", ">=1.0.0"),
    ("<1.2", "<1.2.0-0"),
    ("< 1.2", "<1.2.0-0"),
    ("^ 1.2 ^ 1", ">=1.2.0 <2.0.0-0 >=1.0.0"),
    ("1.2 - 3.4.5", ">=1.2.0 <=3.4.5"),
    ("1.2.3 - 3.4", ">=1.2.3 <3.5.0-0"),
    ("1.2 - 3.4", ">=1.2.0 <3.5.0-0"),
    (">1", ">=2.0.0"),
    (">1.2", ">=1.3.0"),
    (">X", "<0.0.0-0"),
    ("<X", "<0.0.0-0"),
    ("<x <* || >* 2.x", "<0.0.0-0"),
    (">x 2.x || * || <x", "*"),
]

# comparisons.js: the first version has the higher precedence.
GREATER = [
    ("0.0.0", "0.0.0-foo"),
    ("0.0.1", "0.0.0"),
    ("1.0.0", "0.9.9"),
    ("0.10.0", "0.9.0"),
    ("0.99.0", "0.10.0"),
    ("2.0.0", "1.2.3"),
    ("v0.0.0", "0.0.0-foo"),
    ("v0.0.1", "0.0.0"),
    ("v1.0.0", "0.9.9"),
    ("v0.10.0", "0.9.0"),
    ("v0.99.0", "0.10.0"),
    ("v2.0.0", "1.2.3"),
    ("0.0.0", "v0.0.0-foo"),
    ("0.0.1", "v0.0.0"),
    ("1.0.0", "v0.9.9"),
    ("0.10.0", "v0.9.0"),
    ("0.99.0", "v0.10.0"),
    ("2.0.0", "v1.2.3"),
    ("1.2.3", "1.2.3-asdf"),
    ("1.2.3", "1.2.3-4"),
    ("1.2.3", "1.2.3-4-foo"),
    ("1.2.3-5-foo", "1.2.3-5"),
    ("1.2.3-5", "1.2.3-4"),
    ("1.2.3-5-foo", "1.2.3-5-Foo"),
    ("3.0.0", "2.7.2+asdf"),
    ("1.2.3-a.10", "1.2.3-a.5"),
    ("1.2.3-a.b", "1.2.3-a.5"),
    ("1.2.3-a.b", "1.2.3-a"),
    ("1.2.3-a.b.c.10.d.5", "1.2.3-a.b.c.5.d.100"),
    ("1.2.3-r2", "1.2.3-r100"),
    ("1.2.3-r100", "1.2.3-R2"),
]

# equality.js (default mode): the same precedence; build metadata does not count.
EQUAL = [
    ("1.2.3", "v1.2.3"),
    ("1.2.3-beta+build", "1.2.3-beta+otherbuild"),
    ("1.2.3+build", "1.2.3+otherbuild"),
    ("  v1.2.3+build", "1.2.3+otherbuild"),
]


@pytest.mark.parametrize(("range_", "version"), INCLUDED)
def test_node_semver_included(range_: str, version: str) -> None:
    """Each of node-semver's range-include cases: the version satisfies the range."""
    assert satisfies(version, range_) is True


@pytest.mark.parametrize(("range_", "version"), EXCLUDED)
def test_node_semver_excluded(range_: str, version: str) -> None:
    """Each of node-semver's range-exclude cases: the version does not satisfy the range."""
    assert satisfies(version, range_) is False


@pytest.mark.parametrize(("range_", "canonical"), CANONICAL)
def test_node_semver_canonical_form(range_: str, canonical: str) -> None:
    """Each of node-semver's range-parse cases: carets, tildes, x-ranges and hyphens desugar to
    the same primitive comparators, printed the same way."""
    assert str(parse_range(range_)) == canonical


@pytest.mark.parametrize(("high", "low"), GREATER)
def test_node_semver_precedence(high: str, low: str) -> None:
    """Each of node-semver's comparisons: numeric parts numerically, a release above its
    prereleases, prerelease identifiers numeric below alphanumeric, ASCII order, longer wins."""
    a, b = parse_version(high), parse_version(low)
    assert (a > b, a >= b, b < a, b <= a, a == b, a != b) == (True, True, True, True, False, True)
    assert sorted([a, b]) == [b, a]


@pytest.mark.parametrize(("left", "right"), EQUAL)
def test_node_semver_equality(left: str, right: str) -> None:
    """Each of node-semver's equality cases (default mode): build metadata is ignored."""
    a, b = parse_version(left), parse_version(right)
    assert (a == b, hash(a) == hash(b), a < b, a > b) == (True, True, False, False)


def test_version_fields_and_text() -> None:
    """A version keeps its parts, numeric prerelease identifiers as numbers, and prints back."""
    version = parse_version("v1.20.3-beta.11.x-y+exp.sha.5114f85")
    assert (version.major, version.minor, version.patch) == (1, 20, 3)
    assert (version.prerelease, version.build) == (("beta", 11, "x-y"), ("exp", "sha", "5114f85"))
    assert str(version) == "1.20.3-beta.11.x-y+exp.sha.5114f85"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "1" * 256 + ".0.0",
            f"version {'1' * 37 + '...'!r} is longer than 256 characters",
        ),
        (
            f"{MAX_NUMBER}0.0.0",
            f"version '{MAX_NUMBER}0.0.0': {MAX_NUMBER}0 is too big (at most {MAX_NUMBER})",
        ),
        (
            f"0.0.{MAX_NUMBER}0",
            f"version '0.0.{MAX_NUMBER}0': {MAX_NUMBER}0 is too big (at most {MAX_NUMBER})",
        ),
        (
            "hello, world",
            "version 'hello, world' is not a semantic version (MAJOR.MINOR.PATCH, e.g. 1.2.3 or 1.3.0-beta.1)",
        ),
        (
            "1.2",
            "version '1.2' is not a semantic version (MAJOR.MINOR.PATCH, e.g. 1.2.3 or 1.3.0-beta.1)",
        ),
        (
            "01.2.3",
            "version '01.2.3' is not a semantic version (MAJOR.MINOR.PATCH, e.g. 1.2.3 or 1.3.0-beta.1)",
        ),
        (
            "1.2.3-01",
            "version '1.2.3-01' is not a semantic version (MAJOR.MINOR.PATCH, e.g. 1.2.3 or 1.3.0-beta.1)",
        ),
        (
            "1.2.3-beta..1",
            "version '1.2.3-beta..1' is not a semantic version (MAJOR.MINOR.PATCH, e.g. 1.2.3 or 1.3.0-beta.1)",
        ),
    ],
    ids=[
        "too long",
        "major too big",
        "patch too big",
        "junk",
        "two parts",
        "leading zero",
        "prerelease 01",
        "empty id",
    ],
)
def test_invalid_versions(text: str, message: str) -> None:
    """node-semver's invalid versions (too long, too big, junk) and semver 2.0.0's leading zeros
    and empty identifiers: InvalidPack with one line, and version_or_none is None."""
    with pytest.raises(InvalidPack) as caught:
        parse_version(text)
    assert str(caught.value) == message
    assert version_or_none(text) is None


EXAMPLES = "(e.g. ^1.2.0, ~1.2, >=1.0.0 <2.0.0, 1.x, 1.2.3 - 2.0.0)"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (">01.02.03", f"version range '>01.02.03': '>01.02.03' is not a version or comparator {EXAMPLES}"),
        ("~1.2.3beta", f"version range '~1.2.3beta': '~1.2.3beta' is not a version or comparator {EXAMPLES}"),
        ("latest", f"version range 'latest': 'latest' is not a version or comparator {EXAMPLES}"),
        ("^", f"version range '^': '^' is not a version or comparator {EXAMPLES}"),
        (">=1.0.0 <", f"version range '>=1.0.0 <': '<' is not a version or comparator {EXAMPLES}"),
        ("1.2.3.4", f"version range '1.2.3.4': '1.2.3.4' is not a version or comparator {EXAMPLES}"),
        ("=>1.2.3", f"version range '=>1.2.3': '=>1.2.3' is not a version or comparator {EXAMPLES}"),
        ("1.2.3 -", f"version range '1.2.3 -': '-' is not a version or comparator {EXAMPLES}"),
        (
            ">=1.0.0 - 2",
            "version range '>=1.0.0 - 2': '>=1.0.0' is not a version (a hyphen range joins two: 1.2.3 - 2.3.4)",
        ),
        ("1.2.x-beta", "version range '1.2.x-beta': '1.2.x-beta' has a prerelease but not a full version"),
        ("^1.0.0\n^2.0.0", "version range '^1.0.0\\n^2.0.0' must be on one line"),
        (">=1.0.0 " * 40, f"version range {('>=1.0.0 ' * 5)[:37] + '...'!r} is longer than 256 characters"),
        (
            f"^{MAX_NUMBER + 1}.0.0",
            f"version range '^{MAX_NUMBER + 1}.0.0': {MAX_NUMBER + 1} is too big (at most {MAX_NUMBER})",
        ),
    ],
    ids=[
        "leading zeros",
        "loose prerelease",
        "word",
        "lone caret",
        "lone operator",
        "four parts",
        "reversed operator",
        "open hyphen",
        "operator in hyphen",
        "prerelease on x",
        "two lines",
        "too long",
        "too big",
    ],
)
def test_invalid_ranges_are_one_line_naming_the_token(text: str, message: str) -> None:
    """A range that does not parse raises InvalidPack with one line naming the token that is
    wrong (node-semver's invalid range-parse cases among them); satisfies raises the same."""
    with pytest.raises(InvalidPack) as caught:
        parse_range(text)
    assert str(caught.value) == message
    assert "\n" not in str(caught.value)
    with pytest.raises(InvalidPack):
        satisfies("1.0.0", text)


def test_parsed_values_work_as_well_as_texts() -> None:
    """satisfies takes a parsed Version and Range as well as texts, with the same answer; a
    Range keeps the text it was written as."""
    range_ = parse_range(">=1.2.0 <2.0.0")
    assert range_.text == ">=1.2.0 <2.0.0"
    assert [satisfies(parse_version(v), range_) for v in ("1.1.9", "1.2.0", "1.9.9", "2.0.0")] == [
        False,
        True,
        True,
        False,
    ]
    assert satisfies(Version(1, 5, 0), "^1.2.0") is True


@pytest.mark.parametrize(
    "text",
    [
        *sorted({r for r, _ in INCLUDED + EXCLUDED + CANONICAL} - {""}),
        *["latest", "^", ">=1.0.0 <", "1.2.3.4", "=>1.2.3", "1.2.3 -", ">=1.0.0 - 2", "1.2.x-beta", "~ >1"],
        *[" ", "\t", "^1.0.0\n", "1.2.3\n^2", "^1.2.3 || ", ">=1.0.0 " * 40, f"^{10**16}.0.0", "^1.0.0\u00a0"],
    ],
)
def test_the_crd_admits_the_ranges_the_spec_model_admits(text: str) -> None:
    """The API server's CEL rule for dependsOn[].version and the spec model agree: on every
    table case, and on invalid, blank, multi-line and overlong ones.  (The one known difference:
    a 16-digit number above 2^53 - 1, which only the operator refuses.)"""
    assert crd_accepts_range(text) == spec_accepts_range(text)


RANGE_CHARACTERS = st.sampled_from([*"0123456789.xX*vV^~<>=|- \t+abAZ", "\n", "||", " - ", "1.2.3", "-beta.1"])


@settings(max_examples=500, derandomize=True, database=None, deadline=None)
@given(st.lists(RANGE_CHARACTERS, max_size=24).map("".join))
def test_the_crd_and_the_spec_model_agree_on_any_range_text(text: str) -> None:
    """On generated range-like texts too, the CRD's rule admits exactly what the spec model
    admits (numbers stay below 16 digits, where the one known difference lies)."""
    assert crd_accepts_range(text) == spec_accepts_range(text)
