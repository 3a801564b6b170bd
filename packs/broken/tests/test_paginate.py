"""Tests of the paginate action: every one of them meets a listing whose last page is partial, so
every one catches the action's off-by-one bug (floor division where a ceiling is needed)."""

from __future__ import annotations

import contextlib
import io
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "actions"))

import paginate

ITEMS = [f"item-{i}" for i in range(1, 26)]  # 25 items: pages of 10, 10 and 5


class PageCountTest(unittest.TestCase):
    def test_partial_last_page_counts(self) -> None:
        self.assertEqual(11, paginate.page_count(101, 10))

    def test_fewer_items_than_a_page_is_one_page(self) -> None:
        self.assertEqual(1, paginate.page_count(3, 10))


class PageTest(unittest.TestCase):
    def test_last_partial_page(self) -> None:
        self.assertEqual(ITEMS[20:], paginate.page(ITEMS, 3, 10))

    def test_single_short_page(self) -> None:
        self.assertEqual(["a", "b"], paginate.page(["a", "b"], 1, 10))


class CommandLineTest(unittest.TestCase):
    def test_prints_the_page_count(self) -> None:
        stdout = io.StringIO()
        with contextlib.redirect_stdout(stdout):
            code = paginate.main(["25", "10"])
        self.assertEqual(0, code)
        self.assertEqual("3", stdout.getvalue().strip())
