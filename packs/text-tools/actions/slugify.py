"""text_tools.slugify: turn a title into a URL slug.

    python3 actions/slugify.py TEXT [--separator SEP] [--max-length N]     prints the slug

`slugify(text, separator, max_length)` is the pure function the action wraps; it is what the
tests exercise.
"""

from __future__ import annotations

import argparse
import re
import sys
import unicodedata

_NOT_WORD = re.compile(r"[^a-z0-9]+")


def slugify(text: str, separator: str = "-", max_length: int | None = None) -> str:
    """ASCII, lower-case words of `text` joined by `separator`.

    Accents are dropped (é → e), apostrophes join their word (don't → dont), every other run of
    characters that are not letters or digits becomes one separator, and none lead or trail.
    With `max_length`, the slug is cut at the last separator that keeps it within the limit (a
    single word longer than the limit is cut at the limit).
    """
    if not separator or any(c.isalnum() or c.isspace() for c in separator):
        raise ValueError(f"separator must be punctuation, not {separator!r}")
    if max_length is not None and max_length < 1:
        raise ValueError(f"max_length must be at least 1, not {max_length}")
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    ascii_text = ascii_text.lower().replace("'", "")
    slug = separator.join(word for word in _NOT_WORD.split(ascii_text) if word)
    if max_length is not None and len(slug) > max_length:
        cut = slug.rfind(separator, 0, max_length + 1)
        slug = slug[:cut] if cut > 0 else slug[:max_length]
    return slug


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="slugify.py", description="Print the URL slug of TEXT.")
    parser.add_argument("text", metavar="TEXT")
    parser.add_argument("--separator", default="-")
    parser.add_argument("--max-length", type=int)
    args = parser.parse_args(argv)
    try:
        print(slugify(args.text, args.separator, args.max_length))
    except ValueError as exc:
        print(f"slugify.py: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
