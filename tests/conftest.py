"""Shared fixtures: the local cluster, PostgreSQL and the operator come from tests/plugins."""

pytest_plugins = ["plugins.cluster", "plugins.postgres", "plugins.operator"]
