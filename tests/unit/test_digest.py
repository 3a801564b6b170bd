"""Unit tests of packgate.reconcile.digest: which sources have a content digest, and which changes
to a Pack change the execution digest (and which do not)."""

from __future__ import annotations

from typing import Any

import pytest
from builders import SHELL, spec_of

from packgate.api.spec import load_spec
from packgate.reconcile.digest import (
    config_map_digest,
    content_digest,
    execution_digest,
    runner_digest,
)
from packgate.reconcile.render import RenderOptions

pytestmark = pytest.mark.unit

OPTIONS = RenderOptions(
    images={"shell": "registry.example/shell:1", "python": "py:3", "pytest": "pytest:1", "node": "node:22"},
    git_image="registry.example/git:1",
    ttl_seconds=600,
)
CM = config_map_digest({"tests/test.sh": "echo ok"}, None, '{"k": "tests/test.sh"}')
COMMIT = "0123456789abcdef0123456789abcdef01234567"
PINNED = "registry.example/core@sha256:" + "ab" * 32


def test_config_map_digest_covers_data_binary_data_and_paths() -> None:
    """A ConfigMap's digest changes with any key or value of data or binaryData, or with the
    paths annotation; key order does not matter."""
    base = config_map_digest({"a": "1", "b": "2"}, {"bin": "AAEC"}, "{}")
    assert base == config_map_digest({"b": "2", "a": "1"}, {"bin": "AAEC"}, "{}")
    variants = [
        config_map_digest({"a": "1", "b": "3"}, {"bin": "AAEC"}, "{}"),
        config_map_digest({"a": "1", "b": "2", "c": ""}, {"bin": "AAEC"}, "{}"),
        config_map_digest({"a": "1", "b": "2"}, {"bin": "AAED"}, "{}"),
        config_map_digest({"a": "1", "b": "2"}, {"bin": "AAEC"}, '{"a": "x/a"}'),
        config_map_digest({"a": "1", "b": "2"}, None, "{}"),
    ]
    assert len({base, *variants}) == 6
    assert base.startswith("sha256:") and len(base) == len("sha256:") + 64


@pytest.mark.parametrize(
    ("source", "config_map", "has_digest"),
    [
        ({"configMap": {"name": "core"}}, CM, True),
        ({"configMap": {"name": "core"}}, None, False),
        ({"git": {"url": "https://git.example/core.git", "revision": COMMIT}}, None, True),
        ({"git": {"url": "https://git.example/core.git", "revision": COMMIT.upper()}}, None, True),
        ({"git": {"url": "https://git.example/core.git", "revision": "main"}}, None, False),
        ({"git": {"url": "https://git.example/core.git", "revision": "v1.2.0"}}, None, False),
        ({"git": {"url": "https://git.example/core.git", "revision": COMMIT[:12]}}, None, False),
        ({"git": {"url": "https://git.example/core.git"}}, None, False),
        ({"image": {"reference": PINNED}}, None, True),
        ({"image": {"reference": "registry.example/core:1.0"}}, None, False),
        ({"image": {"reference": "registry.example/core@sha256:abc"}}, None, False),
    ],
    ids=[
        "configmap",
        "configmap-unseen",
        "git-sha",
        "git-sha-upper",
        "git-branch",
        "git-tag",
        "git-short-sha",
        "git-head",
        "image-pinned",
        "image-tag",
        "image-bad-digest",
    ],
)
def test_only_fixed_content_has_a_digest(source: dict[str, Any], config_map: str | None, has_digest: bool) -> None:
    """A ConfigMap (once seen), a full commit SHA and an image pinned by @sha256 name fixed content;
    a branch, tag, short SHA or tagged image do not, so they are never served from cache."""
    spec = spec_of(source=source)
    assert (content_digest(spec.source, config_map) is not None) is has_digest
    assert (execution_digest(spec, OPTIONS, config_map) is not None) is has_digest


def test_git_digest_is_the_commit_and_path_not_the_url() -> None:
    """The same commit and path from another URL (a mirror) is the same content; another path is not;
    the SHA's case does not matter."""
    a = spec_of(source={"git": {"url": "https://git.example/core.git", "revision": COMMIT, "path": "pack"}})
    mirror = {"url": "https://mirror.example/core.git", "revision": COMMIT.upper(), "path": "/pack/"}
    b = spec_of(source={"git": mirror})
    c = spec_of(source={"git": {"url": "https://git.example/core.git", "revision": COMMIT, "path": "other"}})
    assert content_digest(a.source, None) == content_digest(b.source, None)
    assert content_digest(a.source, None) != content_digest(c.source, None)


def test_version_and_policy_do_not_change_the_execution_digest() -> None:
    """A version bump, minPassRate, onFailure, force, revalidateEvery and cacheFor leave the digest
    as it was: they do not change what runs."""
    base = execution_digest(spec_of(), OPTIONS, CM)
    assert base is not None
    for spec in (
        spec_of(version="2.0.0"),
        spec_of(testing={"minPassRate": 0.5, "onFailure": "warn", "revalidateEvery": "1h", "cacheFor": "2h"}),
        spec_of(force=True),
    ):
        assert execution_digest(spec, OPTIONS, CM) == base


@pytest.mark.parametrize(
    "change",
    [
        {"image": "registry.example/other:1"},
        {"entryPoint": "tests/other.sh"},
        {"args": ["-x"]},
        {"env": [{"name": "DEBUG", "value": "1"}]},
        {"resultFormat": "tap"},
        {"resultPath": "out/junit.xml"},
        {"timeout": "60s"},
        {"resources": {"limits": {"cpu": "2"}}},
        {"name": "shell2"},
    ],
    ids=["image", "entry", "args", "env", "format", "result-path", "timeout", "resources", "name"],
)
def test_runner_changes_change_the_digest(change: dict[str, Any]) -> None:
    """Every runner field that changes what runs or how it is read changes its digest and the
    execution's."""
    before = load_spec({"version": "1", "source": {"configMap": {"name": "c"}}, "testing": {"runners": [SHELL]}})
    after = load_spec(
        {"version": "1", "source": {"configMap": {"name": "c"}}, "testing": {"runners": [{**SHELL, **change}]}}
    )
    assert before.testing is not None and after.testing is not None
    assert runner_digest(before.testing.runners[0], OPTIONS) != runner_digest(after.testing.runners[0], OPTIONS)
    assert execution_digest(before, OPTIONS, CM) != execution_digest(after, OPTIONS, CM)


def test_the_effective_image_is_digested() -> None:
    """A runner without `image` runs the settings' default image: changing that default (e.g.
    PACKGATE_IMAGE_SHELL) changes the digest; an explicit image equal to the default does not."""
    spec = spec_of(runners=[SHELL])
    other = RenderOptions(images={**OPTIONS.images, "shell": "registry.example/shell:2"}, git_image="g", ttl_seconds=1)
    explicit = spec_of(runners=[{**SHELL, "image": "registry.example/shell:1"}])
    assert execution_digest(spec, OPTIONS, CM) != execution_digest(spec, other, CM)
    assert execution_digest(spec, OPTIONS, CM) == execution_digest(explicit, OPTIONS, CM)


def test_content_pod_and_dependency_sources_change_the_digest() -> None:
    """Other content, pod options or a package index of its own give another execution digest."""
    base = execution_digest(spec_of(), OPTIONS, CM)
    other_content = config_map_digest({"tests/test.sh": "echo changed"}, None, '{"k": "tests/test.sh"}')
    assert execution_digest(spec_of(), OPTIONS, other_content) != base
    assert execution_digest(spec_of(testing={"pod": {"nodeSelector": {"a": "b"}}}), OPTIONS, CM) != base
    pip = spec_of(testing={"dependencies": {"pipIndexUrl": "https://pypi.example/simple"}})
    assert execution_digest(pip, OPTIONS, CM) != base


def test_no_runners_no_digest() -> None:
    """A Pack with nothing to run has no execution digest."""
    assert execution_digest(spec_of(no_testing=True), OPTIONS, CM) is None
