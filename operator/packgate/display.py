"""How a time, a pass rate and a duration read to a person, the same in `packgate results` and the UI.

Owns: the plain-text form of these three values ("-" for none).  Must not: import anything beyond
the standard library, do I/O or know about tables, templates or escaping (the callers do).
"""

from __future__ import annotations

from datetime import UTC, datetime


def format_time(value: datetime | str | None) -> str:
    """UTC to the second ("2026-01-02 03:04:05Z"); a string is shown as it is; none is "-"."""
    if value is None or value == "":
        return "-"
    if isinstance(value, str):
        return value
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def format_rate(value: float | None) -> str:
    """A fraction as a percentage with one decimal ("87.5%")."""
    return "-" if value is None else f"{value * 100:.1f}%"


def format_duration(ms: float | None) -> str:
    """Milliseconds as "850ms", "12.3s" or "2m05s"."""
    if ms is None:
        return "-"
    if ms < 1000:
        return f"{ms:.0f}ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest:02d}s"
