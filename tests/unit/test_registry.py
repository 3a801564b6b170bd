"""What the handlers' registry must hold for two of the operator's settings to be sound: no kopf diff
base (no handler compares an object with its last handled state), and server-side label selectors
on the Job and Pod watches (every handler of those resources wants only Packgate's own)."""

from __future__ import annotations

import pytest

from packgate.handlers import MANAGED_RESOURCES, Runtime, build_registry
from packgate.reconcile.render import LABEL_MANAGED_BY, MANAGED_BY
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


def test_managed_watches_carry_only_managed_handlers() -> None:
    """The API server sends the operator only managed-by objects of MANAGED_RESOURCES (a label
    selector on the watch): every handler of those resources filters on the same label, so none
    of them expects an object the stream no longer carries."""
    registry = build_registry(Runtime(load_settings(), None))
    handlers = [
        *registry._indexing.get_all_handlers(),
        *registry._watching.get_all_handlers(),
        *registry._spawning.get_all_handlers(),
    ]
    managed = set(MANAGED_RESOURCES)
    assert managed == {("batch", "v1", "jobs"), ("", "v1", "pods")}
    for handler in handlers:
        resource = (handler.selector.group, handler.selector.version, handler.selector.any_name)
        if resource in managed:
            assert handler.labels == {LABEL_MANAGED_BY: MANAGED_BY}, handler.id
        else:
            assert handler.labels is None, handler.id  # Packs and ConfigMaps: every one is watched
