"""text_tools.wrap: re-wrap text to a width, paragraph by paragraph.

    python3 actions/wrap.py [--width N] [--indent TEXT] < text      prints the wrapped text

`wrap(text, width, indent)` is the pure function the action wraps; it is what the tests exercise.
"""

from __future__ import annotations

import argparse
import re
import sys
import textwrap

_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")


def paragraphs(text: str) -> list[str]:
    """The paragraphs of `text` (separated by blank lines), each on one line with single spaces."""
    return [" ".join(block.split()) for block in _PARAGRAPH_BREAK.split(text) if block.strip()]


def wrap(text: str, width: int = 72, indent: str = "") -> str:
    """`text` re-wrapped so that no line is longer than `width`, `indent` before every line and
    one blank line between paragraphs.  Words are never split: a word longer than the width gets
    a line of its own."""
    if width <= len(indent):
        raise ValueError(f"width {width} leaves no room after an indent of {len(indent)} characters")
    wrapper = textwrap.TextWrapper(
        width=width,
        initial_indent=indent,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    )
    return "\n\n".join(wrapper.fill(paragraph) for paragraph in paragraphs(text))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="wrap.py", description="Re-wrap standard input to a width.")
    parser.add_argument("--width", type=int, default=72)
    parser.add_argument("--indent", default="")
    args = parser.parse_args(argv)
    try:
        wrapped = wrap(sys.stdin.read(), args.width, args.indent)
    except ValueError as exc:
        print(f"wrap.py: {exc}", file=sys.stderr)
        return 1
    if wrapped:
        print(wrapped)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
