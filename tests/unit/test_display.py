"""The shared plain-text forms of a time, a pass rate and a duration (CLI and UI)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from packgate.display import format_duration, format_rate, format_time

pytestmark = pytest.mark.unit


def test_time_is_utc_to_the_second_and_none_or_empty_is_a_dash() -> None:
    """A datetime reads in UTC with a Z; a string is kept; None and "" are "-"."""
    local = datetime(2026, 1, 2, 5, 4, 5, 999, tzinfo=timezone(timedelta(hours=2)))
    assert format_time(local) == "2026-01-02 03:04:05Z"
    assert format_time(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2026-01-02 03:04:05Z"
    assert format_time("2026-01-02T03:04:05Z") == "2026-01-02T03:04:05Z"
    assert format_time(None) == "-"
    assert format_time("") == "-"


def test_rate_is_a_percentage_with_one_decimal() -> None:
    """0.875 reads 87.5%; none is "-"."""
    assert format_rate(0.875) == "87.5%"
    assert format_rate(1.0) == "100.0%"
    assert format_rate(None) == "-"


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (None, "-"),
        (0, "0ms"),
        (850.4, "850ms"),
        (1000, "1.0s"),
        (12_340, "12.3s"),
        (59_949, "59.9s"),
        (125_000, "2m05s"),
    ],
)
def test_duration_picks_ms_seconds_or_minutes(ms: float | None, text: str) -> None:
    """Under a second in ms, under a minute in seconds with one decimal, else minutes and seconds."""
    assert format_duration(ms) == text
