"""Fuzzing the case text limits (packgate.results): for any unicode text, a TestCaseResult keeps at
most NAME_LIMIT bytes of its name, MESSAGE_LIMIT of its error message and OUTPUT_LIMIT of each of
stdout and stderr (UTF-8, the truncation mark included); a cut text is the original's start plus
a mark counting every byte cut; and truncating again changes nothing."""

from __future__ import annotations

import pytest
from fuzzlib import FUZZ, any_char
from hypothesis import event, given
from hypothesis import strategies as st

from packgate.parsing._common import TextBuffer
from packgate.results import (
    MESSAGE_LIMIT,
    NAME_LIMIT,
    OUTPUT_LIMIT,
    TestCaseResult,
    TestStatus,
    truncate_text,
    utf8_len,
)

pytestmark = pytest.mark.unit

LIMITS = {"name": NAME_LIMIT, "error_message": MESSAGE_LIMIT, "stdout": OUTPUT_LIMIT, "stderr": OUTPUT_LIMIT}
SEPARATORS = {"name": " ", "error_message": "\n", "stdout": "\n", "stderr": "\n"}

char = st.one_of(any_char, st.sampled_from("é→𝄞😀\U0010ffff"), st.characters(categories=["Cs"]))
"""Any character: 1- to 4-byte ones weighted in, lone surrogates too (counted as 3 bytes)."""

text = st.one_of(
    st.text(char, max_size=300),
    st.builds(
        lambda unit, times: unit * times,
        st.text(char, min_size=1, max_size=6),
        st.one_of(st.sampled_from([300, 1000, 3000, 12_000]), st.integers(1, 12_000)),
    ),
)
"""Short texts, and texts around and far past the limits (a few characters repeated)."""


def split_mark(kept: str, separator: str) -> tuple[str, int]:
    """(the text before the mark, the bytes the mark says were cut); no mark: (kept, 0)."""
    head, mark, tail = kept.rpartition(f"{separator}... [truncated ")
    if not mark or not tail.endswith(" bytes]") or not tail[: -len(" bytes]")].isdigit():
        return kept, 0
    return head, int(tail[: -len(" bytes]")])


@FUZZ
@given(
    name=text,
    error_message=st.none() | text,
    stdout=st.none() | text,
    stderr=st.none() | text,
    status=st.sampled_from(TestStatus),
)
def test_case_texts_stay_within_their_limits(
    name: str, error_message: str | None, stdout: str | None, stderr: str | None, status: TestStatus
) -> None:
    """Every field within its byte limit; a field that fits is kept as it is; a cut one is the
    original's start (lone surrogates aside: never kept) and a mark, kept + cut bytes adding up
    to the original's; validating the case again, or truncating a field again, changes nothing."""
    originals = {"name": name, "error_message": error_message, "stdout": stdout, "stderr": stderr}
    item = TestCaseResult(status=status, **originals)
    for field, original in originals.items():
        kept = getattr(item, field)
        if original is None:
            assert kept is None
            continue
        limit, separator = LIMITS[field], SEPARATORS[field]
        assert utf8_len(kept) <= limit, field
        assert truncate_text(kept, limit, separator=separator) == kept, field
        if utf8_len(original) <= limit:
            assert kept == original, field
            continue
        event(f"{field} cut")
        head, cut = split_mark(kept, separator)
        assert utf8_len(head) + cut == utf8_len(original), field
        if not any("\ud800" <= c <= "\udfff" for c in original):
            assert original.startswith(head), field
    assert TestCaseResult.model_validate(item.model_dump()) == item


@FUZZ
@given(
    chunks=st.lists(text, max_size=6),
    limit=st.sampled_from([MESSAGE_LIMIT, OUTPUT_LIMIT]),
)
def test_text_buffer_keeps_its_limit_and_counts_every_byte(chunks: list[str], limit: int) -> None:
    """The parsers' TextBuffer: its text within `limit` bytes, the whole when it fits, else the
    start and a mark counting every byte dropped, once added or later."""
    buffer = TextBuffer(limit)
    for chunk in chunks:
        buffer.add(chunk)
    whole = "".join(chunks)
    kept = buffer.text()
    assert utf8_len(kept) <= limit
    if utf8_len(whole) <= limit:
        assert kept == whole
    else:
        head, cut = split_mark(kept, "\n")
        assert utf8_len(head) + cut == utf8_len(whole)
        if not any("\ud800" <= c <= "\udfff" for c in whole):
            assert whole.startswith(head)
