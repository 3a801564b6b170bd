"""Property tests of packgate.reconcile.semver (hypothesis): versions print and parse back;
precedence agrees with semver 2.0.0's rules written out independently below; carets, tildes,
x-ranges and hyphen ranges admit exactly the releases their definitions say; `||` is OR and (for
releases) spaces are AND; the canonical form means the same range; and any text either parses
or raises a one-line InvalidPack, quickly."""

from __future__ import annotations

import pytest
from fuzzlib import FUZZ, any_text, hard_limit
from hypothesis import event, given
from hypothesis import strategies as st

from packgate.errors import InvalidPack
from packgate.reconcile.semver import Identifier, Version, parse_range, parse_version, satisfies

pytestmark = pytest.mark.unit

small = st.integers(0, 4)
"""Small numbers, so that generated versions and bounds often meet."""
numeric_id = st.integers(0, 12)
word_id = st.text("abcrzAZ-0123456789", min_size=1, max_size=6).filter(lambda s: not s.isdigit())
identifier: st.SearchStrategy[Identifier] = st.one_of(numeric_id, word_id)
prerelease = st.lists(identifier, max_size=3).map(tuple)
build = st.lists(st.text("abc0123456789-", min_size=1, max_size=5), max_size=2).map(tuple)
release = st.builds(Version, small, small, small)
version = st.builds(Version, small, small, small, prerelease, build)
part = st.one_of(small.map(str), st.sampled_from(["x", "X", "*"]))
partial = st.one_of(
    part,
    st.tuples(part, part).map(".".join),
    st.tuples(part, part, part).map(".".join),
    version.map(str),
)
simple = st.tuples(st.sampled_from(["", "=", ">", ">=", "<", "<=", "~", "~>", "^"]), partial).map("".join)
"""One token of a range: an operator (or none) and a partial version."""


def spec_compare(a: Version, b: Version) -> int:
    """semver 2.0.0 §11, written out step by step: -1, 0 or 1."""
    for x, y in ((a.major, b.major), (a.minor, b.minor), (a.patch, b.patch)):
        if x != y:
            return -1 if x < y else 1
    if not a.prerelease or not b.prerelease:
        return (not a.prerelease) - (not b.prerelease)
    for x, y in zip(a.prerelease, b.prerelease, strict=False):
        if x == y:
            continue
        if isinstance(x, int) and isinstance(y, int):
            return -1 if x < y else 1
        if isinstance(x, int) != isinstance(y, int):
            return -1 if isinstance(x, int) else 1
        return -1 if str(x) < str(y) else 1
    return (len(a.prerelease) > len(b.prerelease)) - (len(a.prerelease) < len(b.prerelease))


@FUZZ
@given(version)
def test_a_version_prints_and_parses_back(v: Version) -> None:
    """str() of any version parses back to the same version, build metadata included."""
    again = parse_version(str(v))
    assert (again, again.build, str(again)) == (v, v.build, str(v))


@FUZZ
@given(version, version)
def test_precedence_follows_semver(a: Version, b: Version) -> None:
    """<, ==, > agree with semver 2.0.0's precedence rules, written out independently."""
    expected = spec_compare(a, b)
    assert ((a > b) - (a < b), a == b) == (expected, expected == 0)
    event(f"compare {expected}")


@FUZZ
@given(version)
def test_a_version_is_in_its_own_exact_and_inclusive_ranges(v: Version) -> None:
    """Any version (prerelease too) satisfies `v`, `=v`, `>=v`, `<=v` and not `>v`, `<v`."""
    text = str(v)
    assert [satisfies(v, f"{op}{text}") for op in ("", "=", ">=", "<=", ">", "<")] == [
        True,
        True,
        True,
        True,
        False,
        False,
    ]


@FUZZ
@given(release, release)
def test_caret_admits_the_releases_that_keep_the_leftmost_nonzero_part(v: Version, base: Version) -> None:
    """^M.m.p: at least the base, and the same first non-zero part (the whole version at 0.0.p)."""
    if base.major:
        same = v.major == base.major
    elif base.minor:
        same = (v.major, v.minor) == (0, base.minor)
    else:
        same = v.release == base.release
    assert satisfies(v, f"^{base}") == (v >= base and same)


@FUZZ
@given(release, release)
def test_tilde_admits_the_patches_of_the_minor(v: Version, base: Version) -> None:
    """~M.m.p and ~>M.m.p: at least the base, with the same major and minor."""
    expected = v >= base and (v.major, v.minor) == (base.major, base.minor)
    assert (satisfies(v, f"~{base}"), satisfies(v, f"~>{base}")) == (expected, expected)


@FUZZ
@given(release, small, small)
def test_x_ranges_fix_the_parts_they_name(v: Version, major: int, minor: int) -> None:
    """M, M.x, M.* fix the major; M.m, M.m.x fix major and minor; *, x, "" admit every release."""
    assert {satisfies(v, r) for r in (f"{major}", f"{major}.x", f"{major}.*", f"{major}.x.x")} == {v.major == major}
    assert {satisfies(v, r) for r in (f"{major}.{minor}", f"{major}.{minor}.x")} == {
        (v.major, v.minor) == (major, minor)
    }
    assert {satisfies(v, r) for r in ("*", "x", "", "X.X.X", ">=0.0.0")} == {True}


@FUZZ
@given(release, release, release)
def test_a_hyphen_range_is_inclusive_at_both_ends(v: Version, low: Version, high: Version) -> None:
    """`A - B` with full versions admits exactly the releases from A to B, both included."""
    assert satisfies(v, f"{low} - {high}") == (low <= v <= high)


@FUZZ
@given(version, simple, simple)
def test_or_is_either_set(v: Version, left: str, right: str) -> None:
    """`a || b` admits what a or b admits, prereleases included."""
    assert satisfies(v, f"{left} || {right}") == (satisfies(v, left) or satisfies(v, right))


@FUZZ
@given(release, simple, simple)
def test_space_is_and_for_releases(v: Version, left: str, right: str) -> None:
    """`a b` admits a release when both a and b do.  (A prerelease also needs a comparator of
    its own major.minor.patch with a prerelease tag, in either part.)"""
    both = satisfies(v, left) and satisfies(v, right)
    assert satisfies(v, f"{left} {right}") == both
    event(f"and {both}")


@FUZZ
@given(st.lists(simple, min_size=1, max_size=4), st.lists(simple, max_size=3), version)
def test_the_canonical_form_is_the_same_range(first: list[str], second: list[str], v: Version) -> None:
    """str(range) parses back to the same canonical text, which admits the same versions."""
    text = " ".join(first) + (" || " + " ".join(second) if second else "")
    parsed = parse_range(text)
    canonical = str(parsed)
    assert str(parse_range(canonical)) == canonical
    assert satisfies(v, canonical) == satisfies(v, parsed)


@FUZZ
@given(st.one_of(any_text, st.lists(st.one_of(simple, st.sampled_from(["||", "-", " ", "^", "~"]))).map(" ".join)))
def test_any_text_parses_or_is_refused_in_one_line(text: str) -> None:
    """Any text is a range or an InvalidPack with one non-empty line, within the time limit; the
    same for versions."""
    with hard_limit(2.0):
        for parse in (parse_range, parse_version):
            try:
                parse(text)
            except InvalidPack as exc:
                message = str(exc)
                assert message and "\n" not in message
                event(f"{parse.__name__} refused")
            else:
                event(f"{parse.__name__} parsed")
