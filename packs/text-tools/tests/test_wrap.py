"""Tests of the wrap action: plain pytest functions.

Needs python3 and pytest (7.2 or later) only; writes nothing.  Run from the pack's root:
python3 -m pytest -v tests/
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import wrap  # from actions/, on the path by pytest.ini

ACTION = Path(__file__).resolve().parent.parent / "actions" / "wrap.py"

TEXT = """\
The operator runs every test runner of a pack
in a Job of its own.

   Only a pack whose tests pass
   becomes active.
"""


def test_lines_fit_the_width() -> None:
    wrapped = wrap.wrap(TEXT, width=20)
    assert wrapped.splitlines() == [
        "The operator runs",
        "every test runner of",
        "a pack in a Job of",
        "its own.",
        "",
        "Only a pack whose",
        "tests pass becomes",
        "active.",
    ]
    assert all(len(line) <= 20 for line in wrapped.splitlines())


def test_paragraphs_are_joined_onto_one_line_when_they_fit() -> None:
    assert wrap.wrap(TEXT, width=80) == (
        "The operator runs every test runner of a pack in a Job of its own.\n\n"
        "Only a pack whose tests pass becomes active."
    )


def test_indent_counts_towards_the_width() -> None:
    wrapped = wrap.wrap("one two three four five", width=12, indent="> ")
    assert wrapped.splitlines() == ["> one two", "> three four", "> five"]
    assert all(len(line) <= 12 for line in wrapped.splitlines())


def test_long_words_are_never_split() -> None:
    url = "https://packgate.dev/docs/packs/testing"
    assert wrap.wrap(f"see {url} for more", width=10).splitlines() == ["see", url, "for more"]


def test_blank_input_wraps_to_nothing() -> None:
    assert wrap.wrap(" \n\n \t\n") == ""
    assert wrap.paragraphs(" \n\n \t\n") == []


def test_width_must_leave_room_after_the_indent() -> None:
    with pytest.raises(ValueError, match="leaves no room"):
        wrap.wrap("text", width=4, indent="    ")


def test_command_line() -> None:
    done = subprocess.run(
        [sys.executable, str(ACTION), "--width", "10"],
        input="alpha beta gamma delta\n",
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "alpha beta\ngamma\ndelta\n", "")
