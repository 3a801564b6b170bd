"""Unit tests of packgate.api.spec and packgate.api.status: defaults, validation, commands, durations."""

from __future__ import annotations

from typing import Any

import pytest
from builders import PYTHON, SHELL, raw_spec

from packgate.api.spec import (
    OnFailure,
    ResultFormatName,
    Runner,
    load_spec,
    pack_ref,
    parse_duration,
    runner_command,
    runner_format,
)
from packgate.api.status import Phase, dump, load_status
from packgate.errors import InvalidPack

pytestmark = pytest.mark.unit


def test_defaults() -> None:
    """Unset fields get the CRD's defaults: timeout 300s, resultFormat auto, minPassRate 1.0, onFailure block."""
    spec = load_spec({"version": "1.0.0", "source": {"configMap": {"name": "core"}}, "testing": {"runners": [SHELL]}})
    assert spec.testing is not None
    runner = spec.testing.runners[0]
    assert (runner.timeout, runner.timeout_seconds, runner.result_format) == ("300s", 300, ResultFormatName.AUTO)
    assert (spec.testing.enabled, spec.testing.min_pass_rate, spec.testing.on_failure) == (True, 1.0, OnFailure.BLOCK)
    assert (spec.skip_tests, spec.force, spec.ref) == (False, False, None)
    assert (spec.testing.revalidate_seconds, spec.testing.cache_for, spec.testing.cache_seconds) == (None, None, None)
    assert (runner.env, runner.result_path, runner.resources, runner.image) == ([], None, None, None)


def test_cache_for_is_a_duration() -> None:
    """spec.testing.cacheFor reads like revalidateEvery: `1h30m` is 5400 seconds."""
    spec = load_spec(raw_spec(testing={"cacheFor": "1h30m"}))
    assert spec.testing is not None
    assert (spec.testing.cache_for, spec.testing.cache_seconds) == ("1h30m", 5400)


def test_source_defaults() -> None:
    """git revision defaults to HEAD and image path to /pack."""
    git = load_spec(raw_spec(source={"git": {"url": "https://git.example/core.git"}})).source.git
    image = load_spec(raw_spec(source={"image": {"reference": "registry.example/core:1"}})).source.image
    assert git is not None and (git.revision, git.path, git.secret_ref) == ("HEAD", "", None)
    assert image is not None and image.path == "/pack"


def test_pack_ref_defaults_to_the_name() -> None:
    """spec.ref defaults to metadata.name."""
    assert pack_ref("core", load_spec(raw_spec())) == "core"
    assert pack_ref("core-v2", load_spec(raw_spec(ref="core"))) == "core"


def error_of(raw: dict[str, Any]) -> str:
    with pytest.raises(InvalidPack) as caught:
        load_spec(raw)
    return str(caught.value)


@pytest.mark.parametrize(
    "source",
    [
        {},
        {"configMap": {"name": "a"}, "git": {"url": "https://git.example/a.git"}},
        {"configMap": {"name": "a"}, "image": {"reference": "a:1"}},
    ],
    ids=["none", "configMap+git", "configMap+image"],
)
def test_exactly_one_source(source: dict[str, Any]) -> None:
    """A source with zero or several of configMap, git, image is rejected with one line."""
    assert error_of(raw_spec(source=source)) == "spec.source: source must set exactly one of configMap, git or image"


def test_duplicate_runner_names_are_rejected() -> None:
    """Runner names are the list's key: duplicates are rejected, naming the duplicate."""
    message = error_of(raw_spec(runners=[SHELL, PYTHON, {**PYTHON, "type": "unittest"}]))
    assert message == "spec.testing.runners: runner names must be unique: python"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            {"source": {"configMap": {"name": "core"}}},
            "spec.version: Field required",
        ),
        (
            raw_spec(testing={"minPassRate": 1.5}),
            "spec.testing.minPassRate: Input should be less than or equal to 1",
        ),
        (
            raw_spec(testing={"onFailure": "explode"}),
            "spec.testing.onFailure: Input should be 'block', 'warn' or 'ignore'",
        ),
        (
            raw_spec(runners=[{**SHELL, "timeout": "soon"}]),
            "spec.testing.runners.0.timeout: invalid duration 'soon' (use e.g. 90s, 5m, 1h30m)",
        ),
        (
            raw_spec(runners=[{**SHELL, "name": "Shell_Tests"}]),
            "spec.testing.runners.0.name: String should match pattern '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$'",
        ),
        (
            raw_spec(runners=[{"name": "cmd", "type": "command"}]),
            "spec.testing.runners.0: runner cmd: type command needs command",
        ),
        (
            raw_spec(runners=[{"name": "py", "type": "pytest"}]),
            "spec.testing.runners.0: runner py: set entryPoint (or command)",
        ),
        (
            raw_spec(runners=[{**SHELL, "type": "ruby"}]),
            "spec.testing.runners.0.type: Input should be 'script', 'unittest', 'pytest', 'node', 'tap' or 'command'",
        ),
        (
            raw_spec(testing={"revalidateEvery": "daily"}),
            "spec.testing.revalidateEvery: invalid duration 'daily' (use e.g. 90s, 5m, 1h30m)",
        ),
        (
            raw_spec(testing={"cacheFor": "a week"}),
            "spec.testing.cacheFor: invalid duration 'a week' (use e.g. 90s, 5m, 1h30m)",
        ),
        (
            raw_spec(skiptests=True),
            "spec.skiptests: Extra inputs are not permitted",
        ),
        (
            raw_spec(runners=[{**SHELL, "resultformat": "junit"}]),
            "spec.testing.runners.0.resultformat: Extra inputs are not permitted",
        ),
    ],
    ids=[
        "version",
        "minPassRate",
        "onFailure",
        "timeout",
        "runner-name",
        "command-needs-command",
        "needs-entry-point",
        "type",
        "revalidateEvery",
        "cacheFor",
        "unknown-top-field",
        "unknown-runner-field",
    ],
)
def test_load_spec_errors_are_one_line_naming_the_field(raw: dict[str, Any], expected: str) -> None:
    """load_spec raises InvalidPack with one line that names the offending field."""
    message = error_of(raw)
    assert message == expected
    assert "\n" not in message


def test_at_most_16_runners() -> None:
    """More than 16 runners is rejected."""
    runners = [{**SHELL, "name": f"r{i}"} for i in range(17)]
    assert error_of(raw_spec(runners=runners)).startswith("spec.testing.runners: ")


def test_depends_on_defaults_to_empty_and_keeps_its_entries() -> None:
    """spec.dependsOn is empty unless set; its entries keep their name and range as written."""
    assert load_spec(raw_spec()).depends_on == []
    spec = load_spec(raw_spec(dependsOn=[{"name": "core", "version": "^1.2.0"}, {"name": "net.tools", "version": "*"}]))
    assert [(d.name, d.version) for d in spec.depends_on] == [("core", "^1.2.0"), ("net.tools", "*")]


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        (
            [{"name": "Core_Pack", "version": "^1"}],
            "spec.dependsOn.0.name: 'Core_Pack' is not a Pack name (lower-case letters, digits, '-' and '.')",
        ),
        (
            [{"name": "core", "version": "latest"}],
            "spec.dependsOn.0.version: version range 'latest': 'latest' is not a version or comparator "
            "(e.g. ^1.2.0, ~1.2, >=1.0.0 <2.0.0, 1.x, 1.2.3 - 2.0.0)",
        ),
        ([{"name": "core", "version": ""}], "spec.dependsOn.0.version: empty; use * for any version"),
        ([{"name": "core"}], "spec.dependsOn.0.version: Field required"),
        (
            [{"name": "core", "version": "1", "optional": True}],
            "spec.dependsOn.0.optional: Extra inputs are not permitted",
        ),
        (
            [{"name": "core", "version": "^1"}, {"name": "core", "version": "^2"}],
            "spec.dependsOn: each Pack may be named once: core",
        ),
        (
            [{"name": f"p{i}", "version": "*"} for i in range(33)],
            "spec.dependsOn: List should have at most 32 items after validation, not 33",
        ),
    ],
    ids=["name", "range", "empty range", "no range", "unknown field", "duplicate", "33 entries"],
)
def test_depends_on_errors_are_one_line_naming_the_entry(entries: list[dict[str, Any]], expected: str) -> None:
    """A bad dependsOn entry (not a Pack name, not a semver range, named twice, too many) is
    InvalidPack with one line naming the entry and the problem."""
    assert error_of(raw_spec(dependsOn=entries)) == expected


def runner(**fields: Any) -> Runner:
    return Runner.model_validate({"name": "r", **fields})


@pytest.mark.parametrize(
    ("fields", "argv"),
    [
        ({"type": "script", "entryPoint": "tests/run.sh"}, ["sh", "tests/run.sh"]),
        ({"type": "tap", "entryPoint": "tests/run.t"}, ["sh", "tests/run.t"]),
        ({"type": "pytest", "entryPoint": "tests/"}, ["python3", "-m", "pytest", "-v", "tests/"]),
        (
            {"type": "unittest", "entryPoint": "tests/test_actions.py"},
            ["python3", "-m", "unittest", "-v", "tests.test_actions"],
        ),
        (
            {"type": "node", "entryPoint": "tests/actions.test.js"},
            ["node", "--test", "--test-reporter=tap", "tests/actions.test.js"],
        ),
        ({"type": "command", "command": ["make", "test"]}, ["make", "test"]),
        ({"type": "command", "command": ["go", "test"], "args": ["./..."]}, ["go", "test", "./..."]),
        ({"type": "pytest", "entryPoint": "tests/", "args": ["-x"]}, ["python3", "-m", "pytest", "-v", "tests/", "-x"]),
        ({"type": "pytest", "entryPoint": "ignored", "command": ["tox", "-e", "py311"]}, ["tox", "-e", "py311"]),
    ],
    ids=["script", "tap", "pytest", "unittest", "node", "command", "command+args", "args", "command-overrides"],
)
def test_runner_command(fields: dict[str, Any], argv: list[str]) -> None:
    """Each runner type's default argv; command overrides it and args are appended."""
    assert runner_command(runner(**fields)) == argv


@pytest.mark.parametrize(
    ("fields", "fmt"),
    [
        ({"type": "script", "entryPoint": "t.sh"}, ResultFormatName.AUTO),
        ({"type": "unittest", "entryPoint": "t.py"}, ResultFormatName.UNITTEST),
        ({"type": "node", "entryPoint": "t.js"}, ResultFormatName.TAP),
        ({"type": "pytest", "entryPoint": "t", "resultPath": "out/junit.xml"}, ResultFormatName.JUNIT),
        ({"type": "node", "entryPoint": "t.js", "resultFormat": "junit"}, ResultFormatName.JUNIT),
    ],
    ids=["script-auto", "unittest", "node-tap", "xml-result-path", "explicit"],
)
def test_runner_format(fields: dict[str, Any], fmt: ResultFormatName) -> None:
    """resultFormat auto resolves from a .xml resultPath or the type; an explicit format wins."""
    assert runner_format(runner(**fields)) == fmt


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("5m", 300), ("1h30m", 5400), ("2h", 7200), ("1m30s", 90), ("45", 45), (" 10s ", 10), (60, 60)],
)
def test_parse_duration(text: str | int, seconds: int) -> None:
    """Durations such as 90s, 5m, 1h30m or bare seconds become seconds."""
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "soon", "5 m", "1d", "-5s", "0s", "0", 0, -1, "1.5h", "m"])
def test_parse_duration_rejects(bad: str | int) -> None:
    """Empty, negative, zero, unknown units and fractions are rejected with ValueError."""
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_load_status_of_garbage_starts_over() -> None:
    """An unreadable (hand-edited) status field starts over instead of crashing (see test_status
    for what is kept)."""
    assert load_status({"phase": "Exploded"}).phase is Phase.PENDING
    assert load_status(None) == load_status({})


def test_status_round_trips_in_camel_case() -> None:
    """dump() writes status as the API server stores it (camelCase, no nulls) and load_status reads it back."""
    raw = {
        "observedGeneration": 3,
        "phase": "Passed",
        "activeVersion": "1.0.0",
        "summary": {"tests": "6/6", "rate": "100%"},
        "retestToken": "r1",
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "TestsPassed",
                "message": "6/6 tests passed (100%)",
                "observedGeneration": 3,
                "lastTransitionTime": "2025-06-01T12:00:42Z",
            }
        ],
    }
    status = load_status(raw)
    assert (status.active_version, status.condition("Ready").reason) == ("1.0.0", "TestsPassed")  # type: ignore[union-attr]
    dumped = dump(status)
    assert {k: dumped[k] for k in raw} == raw
    assert None not in dumped.values()
