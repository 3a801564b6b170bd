"""Tests of actions/merge.py, with PyYAML installed from requirements.txt."""

import unittest

import yaml

from actions.merge import merge, merge_documents

DEFAULTS = """\
service: web
replicas: 1
resources:
  cpu: 100m
  memory: 128Mi
"""

PRODUCTION = """\
replicas: 3
resources:
  memory: 512Mi
---
labels: [prod]
"""


class TestMerge(unittest.TestCase):
    def test_pyyaml_is_the_pinned_release(self):
        self.assertEqual(yaml.__version__, "6.0.2")

    def test_mappings_merge_key_by_key(self):
        self.assertEqual(merge({"a": {"x": 1, "y": 2}}, {"a": {"y": 3}}), {"a": {"x": 1, "y": 3}})

    def test_other_values_are_replaced(self):
        self.assertEqual(merge({"tags": ["a"]}, {"tags": ["b"]}), {"tags": ["b"]})

    def test_layers_and_documents_merge_in_order(self):
        merged = merge_documents([DEFAULTS, PRODUCTION])
        self.assertEqual(
            merged,
            {
                "service": "web",
                "replicas": 3,
                "resources": {"cpu": "100m", "memory": "512Mi"},
                "labels": ["prod"],
            },
        )

    def test_empty_documents_are_skipped(self):
        self.assertEqual(merge_documents(["---\n", "a: 1\n---\n"]), {"a": 1})

    def test_result_round_trips_through_yaml(self):
        merged = merge_documents([DEFAULTS, PRODUCTION])
        self.assertEqual(yaml.safe_load(yaml.safe_dump(merged)), merged)


if __name__ == "__main__":
    unittest.main()
