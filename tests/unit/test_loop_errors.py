"""An exception nothing awaits reaches the operator's log as one line, never a traceback."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import pytest

from packgate.handlers import _unawaited_exception

pytestmark = pytest.mark.unit


def request_cancel_callback(exc: BaseException) -> None:
    """Named as kopf's watch-stream callback."""
    raise exc


def some_callback(exc: BaseException) -> None:
    raise exc


def raised(exc: BaseException, where: Callable[[BaseException], None]) -> BaseException:
    """`exc` as raised inside `where` (its traceback ends there)."""
    try:
        where(exc)
    except BaseException as caught:
        return caught
    raise AssertionError("not raised")


def test_kopfs_cancel_callback_assertion_is_a_debug_line(caplog: pytest.LogCaptureFixture) -> None:
    loop = asyncio.new_event_loop()
    try:
        with caplog.at_level(logging.DEBUG, logger="packgate"):
            context = {
                "message": "Exception in callback",
                "exception": raised(AssertionError(), request_cancel_callback),
            }
            _unawaited_exception(loop, context)
    finally:
        loop.close()
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("DEBUG", "kopf: a watch request's cancel callback ran outside a task (on pause or resume)")
    ]


def test_any_other_is_one_warning_line(caplog: pytest.LogCaptureFixture) -> None:
    loop = asyncio.new_event_loop()
    try:
        with caplog.at_level(logging.DEBUG, logger="packgate"):
            exc = raised(ValueError("bad value\nsecond line"), some_callback)
            _unawaited_exception(loop, {"message": "Task exception was never retrieved", "exception": exc})
            _unawaited_exception(loop, {"message": "Unclosed client session"})
    finally:
        loop.close()
    assert [(r.levelname, r.getMessage(), r.exc_info) for r in caplog.records] == [
        ("WARNING", "asyncio: ValueError in some_callback: bad value", None),
        ("WARNING", "asyncio: Unclosed client session", None),
    ]
