"""Tests of the slugify action: plain pytest functions, one of them parametrized.

Needs python3 and pytest (7.2 or later) only; writes nothing.  Run from the pack's root:
python3 -m pytest -v tests/
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import slugify  # from actions/, on the path by pytest.ini

ACTION = Path(__file__).resolve().parent.parent / "actions" / "slugify.py"


@pytest.mark.parametrize(
    ("text", "slug"),
    [
        pytest.param("Hello World", "hello-world", id="words"),
        pytest.param("  Deploy -- to   prod!  ", "deploy-to-prod", id="runs-and-ends"),
        pytest.param("Crème brûlée à la française", "creme-brulee-a-la-francaise", id="accents"),
        pytest.param("Don't panic, it\u2019s fine", "dont-panic-its-fine", id="apostrophes"),
        pytest.param("Release 2.4.1 (LTS)", "release-2-4-1-lts", id="digits"),
        pytest.param("日本語", "", id="nothing-ascii"),
    ],
)
def test_slugify(text: str, slug: str) -> None:
    assert slugify.slugify(text) == slug


def test_custom_separator() -> None:
    assert slugify.slugify("Backup the Database", separator="_") == "backup_the_database"


def test_max_length_cuts_at_a_word_boundary() -> None:
    assert slugify.slugify("rotate the logs every night", max_length=16) == "rotate-the-logs"
    assert slugify.slugify("rotate the logs every night", max_length=15) == "rotate-the-logs"
    assert slugify.slugify("rotate the logs every night", max_length=14) == "rotate-the"


def test_max_length_cuts_a_single_long_word() -> None:
    assert slugify.slugify("Supercalifragilistic", max_length=5) == "super"


def test_slug_is_stable() -> None:
    slug = slugify.slugify("Crème brûlée, don't panic")
    assert slugify.slugify(slug) == slug


@pytest.mark.parametrize("separator", ["", "a", " ", "x-"], ids=["empty", "letter", "space", "letter-and-dash"])
def test_separator_must_be_punctuation(separator: str) -> None:
    with pytest.raises(ValueError, match="separator must be punctuation"):
        slugify.slugify("a b", separator=separator)


def test_max_length_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        slugify.slugify("a b", max_length=0)


def test_command_line() -> None:
    done = subprocess.run(
        [sys.executable, str(ACTION), "Weekly Report: Q3", "--separator", "_"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "weekly_report_q3\n", "")
