"""Merge YAML configuration layers: mappings merge key by key, anything else is replaced."""

from __future__ import annotations

import sys
from typing import Any

import yaml


def merge(base: Any, layer: Any) -> Any:
    """`layer` over `base`: mappings are merged recursively, other values replaced."""
    if isinstance(base, dict) and isinstance(layer, dict):
        merged = dict(base)
        for key, value in layer.items():
            merged[key] = merge(base.get(key), value) if key in base else value
        return merged
    return layer


def merge_documents(texts: list[str]) -> Any:
    """Every YAML document of every text, merged in order (empty documents are skipped)."""
    result: Any = None
    for text in texts:
        for document in yaml.safe_load_all(text):
            if document is not None:
                result = document if result is None else merge(result, document)
    return result


def main(paths: list[str]) -> int:
    texts = []
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            texts.append(handle.read())
    sys.stdout.write(yaml.safe_dump(merge_documents(texts), sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
