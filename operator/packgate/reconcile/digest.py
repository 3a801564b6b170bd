"""Content digests: what an execution ran, as one sha256, so that an install or update that would
run exactly the same thing can reuse a recent verdict (spec.testing.cacheFor, docs/cache.md).

Owns: the digest of a pack's content (a ConfigMap's data, binaryData and paths annotation; a git
commit named by its full SHA; an image pinned by @sha256), of each runner's effective
configuration (image with the settings' defaults applied, command, env, result format and path,
timeout, resources), of the execution (the two together, with the pod options and dependency
sources), and `CachedExecution`, the verdict found for a digest, as the planner reads it.  A
source that does not name fixed content (a branch, a tag, an unpinned image) has no digest and is
never served from cache.  Pure: plain values in, hex strings out.  Must not: do I/O or decide.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from packgate.api.spec import PackSpec, Runner, Source, runner_command, runner_format
from packgate.reconcile.render import DEFAULT_RESOURCES, RenderOptions, dependency_sources, runner_image
from packgate.results import PackTestResult

PREFIX = "sha256:"
_COMMIT = re.compile(r"^[0-9a-fA-F]{40}$")
_PINNED = re.compile(r"@sha256:([0-9a-f]{64})$")


def _sha(value: Any) -> str:
    """sha256 over the canonical JSON of `value` (sorted keys, no spaces)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return PREFIX + hashlib.sha256(text.encode()).hexdigest()


def config_map_digest(
    data: Mapping[str, Any] | None, binary_data: Mapping[str, Any] | None, paths: str | None = None
) -> str:
    """A ConfigMap's content: its data, its binaryData (base64 text as the API gives it) and its
    `packgate.dev/paths` annotation (where each key lands in the workspace)."""
    return _sha({"data": dict(data or {}), "binaryData": dict(binary_data or {}), "paths": paths})


def content_digest(source: Source, config_map: str | None) -> str | None:
    """The pack's content: the ConfigMap's digest (`config_map`, from the cache; None while the
    ConfigMap is not seen), a git commit by its full 40-hex SHA, or an image pinned by
    @sha256.  None when the source does not name fixed content."""
    if source.config_map is not None:
        return None if config_map is None else _sha({"configMap": config_map})
    if source.git is not None:
        revision = source.git.revision.strip()
        if not _COMMIT.match(revision):
            return None
        return _sha({"git": revision.lower(), "path": source.git.path.strip("/")})
    if source.image is not None:
        pinned = _PINNED.search(source.image.reference.strip())
        if pinned is None:
            return None
        return _sha({"image": pinned.group(1), "path": source.image.path.rstrip("/")})
    return None


def runner_digest(runner: Runner, options: RenderOptions) -> str:
    """What one runner runs: name (its suite's name), type, the effective image, the command,
    env, the format it is parsed with, resultPath, timeout and resources."""
    return _sha(
        {
            "name": runner.name,
            "type": str(runner.type),
            "image": runner_image(runner, options),
            "command": runner_command(runner),
            "env": [e.model_dump(mode="json", by_alias=True) for e in runner.env],
            "format": str(runner_format(runner)),
            "resultPath": runner.result_path,
            "timeout": runner.timeout_seconds,
            "resources": runner.resources or DEFAULT_RESOURCES,
        }
    )


def execution_digest(spec: PackSpec, options: RenderOptions, config_map: str | None) -> str | None:
    """One digest of everything that decides what an execution runs: the content, each runner's
    digest in order, the pod options and the dependency sources.  The version, policy fields
    (minPassRate, onFailure, force) and cacheFor are not in it.  None when the content has no
    digest or there is nothing to run."""
    testing = spec.testing
    content = content_digest(spec.source, config_map)
    if content is None or testing is None or not testing.runners:
        return None
    pip, npm = dependency_sources(spec, options)
    return _sha(
        {
            "content": content,
            "runners": [runner_digest(r, options) for r in testing.runners],
            "pod": testing.pod.model_dump(mode="json", by_alias=True),
            "dependencies": {"pip": pip, "npm": npm},
        }
    )


@dataclass(frozen=True)
class CachedExecution:
    """The newest recorded execution of this Pack with the digest asked for, finished within
    cacheFor, that ran its Jobs (a cached execution is never an origin): its id, when it finished,
    and its result, whose verdict an install or update reuses."""

    execution_id: str
    digest: str
    finished_at: datetime
    result: PackTestResult
