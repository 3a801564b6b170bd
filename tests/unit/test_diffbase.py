"""The operator keeps no kopf diff base, which is sound only while no handler compares an object
with its last handled state."""

from __future__ import annotations

import pytest

from packgate.handlers import Runtime, build_registry
from packgate.settings import load_settings

pytestmark = pytest.mark.unit


def test_no_handler_reacts_to_changes() -> None:
    """NoDiffBaseStorage gives kopf an empty essence for every object: an on.create, on.update,
    on.field or on.delete handler would never see a change.  The registry has none; it has the
    daemon, the event handlers and the indexes."""
    registry = build_registry(Runtime(load_settings(), None))
    assert not registry._changing.get_all_handlers()  # kopf's registry of change-detecting handlers
    assert registry._spawning.get_all_handlers() and registry._watching.get_all_handlers()
    assert registry._indexing.get_all_handlers()
