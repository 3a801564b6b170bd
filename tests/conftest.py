"""Shared fixtures: the local cluster, PostgreSQL and the operator come from tests/plugins.

Every test belongs to exactly one tier (a marker), because `make test` runs the tiers one by one:
a test without a tier would never run, so collecting one is an error.
"""

from __future__ import annotations

import pytest

pytest_plugins = ["plugins.cluster", "plugins.postgres", "plugins.operator"]

TIERS = ("unit", "db", "cluster", "e2e", "drills", "network", "browser")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    untiered = [item.nodeid for item in items if not any(item.get_closest_marker(t) for t in TIERS)]
    if untiered:
        raise pytest.UsageError(f"tests without a tier marker ({', '.join(TIERS)}): {', '.join(untiered[:5])}")
