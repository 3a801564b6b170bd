"""broken.paginate: split a listing into pages.

    python3 actions/paginate.py TOTAL PER_PAGE     prints the number of pages

BUG (on purpose, this pack shows a blocked activation): `page_count` uses floor division, so a
last, partial page is lost — 101 items at 10 per page give 10 pages instead of 11.
"""

from __future__ import annotations

import sys


def page_count(total: int, per_page: int) -> int:
    """How many pages `total` items fill at `per_page` items per page."""
    if per_page < 1:
        raise ValueError("per_page must be at least 1")
    if total < 0:
        raise ValueError("total must not be negative")
    return total // per_page  # the bug: should round up


def page(items: list[str], number: int, per_page: int) -> list[str]:
    """The items on page `number` (1-based); IndexError past the last page."""
    if not 1 <= number <= page_count(len(items), per_page):
        raise IndexError(f"no page {number}")
    start = (number - 1) * per_page
    return items[start : start + per_page]


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not all(a.isdigit() for a in argv):
        print("usage: paginate.py TOTAL PER_PAGE", file=sys.stderr)
        return 2
    print(page_count(int(argv[0]), int(argv[1])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
