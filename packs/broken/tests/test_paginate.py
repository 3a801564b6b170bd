"""Tests of the paginate action.  Two of them fail: they catch the action's off-by-one bug."""

from __future__ import annotations

import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "actions"))

import paginate

ITEMS = [f"item-{i}" for i in range(1, 26)]  # 25 items


class PageCountTest(unittest.TestCase):
    def test_exact_pages(self) -> None:
        self.assertEqual(10, paginate.page_count(100, 10))

    def test_partial_last_page_counts(self) -> None:
        self.assertEqual(11, paginate.page_count(101, 10))

    def test_empty_listing_has_no_pages(self) -> None:
        self.assertEqual(0, paginate.page_count(0, 10))

    def test_invalid_page_size(self) -> None:
        with self.assertRaises(ValueError):
            paginate.page_count(10, 0)


class PageTest(unittest.TestCase):
    def test_first_page(self) -> None:
        self.assertEqual(ITEMS[:10], paginate.page(ITEMS, 1, 10))

    def test_last_partial_page(self) -> None:
        self.assertEqual(ITEMS[20:], paginate.page(ITEMS, 3, 10))

    def test_past_the_end(self) -> None:
        with self.assertRaises(IndexError):
            paginate.page(ITEMS, 4, 10)
