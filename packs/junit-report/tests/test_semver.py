"""Tests of the semver actions (standard library only)."""

from __future__ import annotations

import contextlib
import io
import itertools
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "actions"))

import semver


class ParseTest(unittest.TestCase):
    def test_full_version(self) -> None:
        self.assertEqual(semver.Version(1, 2, 3, ("rc", "1"), "build.5"), semver.parse("1.2.3-rc.1+build.5"))

    def test_leading_v(self) -> None:
        self.assertEqual(semver.Version(2, 0, 0), semver.parse("v2.0.0"))

    def test_invalid_versions(self) -> None:
        for text in ("1.2", "01.2.3", "1.2.3-", "1.2.3-01", "latest"):
            with self.subTest(text=text), self.assertRaises(ValueError):
                semver.parse(text)

    def test_round_trip(self) -> None:
        self.assertEqual("1.0.0-alpha.beta+exp.sha.5114f85", str(semver.parse("1.0.0-alpha.beta+exp.sha.5114f85")))


class CompareTest(unittest.TestCase):
    def test_semver_spec_precedence_chain(self) -> None:
        chain = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
        ]
        self.assertEqual([-1] * (len(chain) - 1), [semver.compare(a, b) for a, b in itertools.pairwise(chain)])

    def test_numeric_not_lexical(self) -> None:
        self.assertEqual(1, semver.compare("1.10.0", "1.9.0"))

    def test_build_metadata_is_ignored(self) -> None:
        self.assertEqual(0, semver.compare("1.0.0+a", "1.0.0+b"))

    def test_equal(self) -> None:
        self.assertEqual(0, semver.compare("v3.1.4", "3.1.4"))


class BumpTest(unittest.TestCase):
    def test_parts(self) -> None:
        self.assertEqual(["2.0.0", "1.3.0", "1.2.4"], [semver.bump("1.2.3", p) for p in ("major", "minor", "patch")])

    def test_patch_of_prerelease_is_its_release(self) -> None:
        self.assertEqual("1.2.3", semver.bump("1.2.3-rc.1", "patch"))

    def test_unknown_part(self) -> None:
        with self.assertRaises(ValueError):
            semver.bump("1.2.3", "micro")

    def test_command_line_usage(self) -> None:
        stderr = io.StringIO()
        with contextlib.redirect_stderr(stderr):
            code = semver.main([])
        self.assertEqual((2, "usage: semver.py compare A B"), (code, stderr.getvalue().split(" | ")[0]))
