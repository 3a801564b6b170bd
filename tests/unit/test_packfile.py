"""Unit tests of packgate.packfile: pack.yaml model, translation to a Pack spec, ConfigMap packing."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import pytest

from packgate.api.spec import load_spec
from packgate.errors import InvalidPack
from packgate.packfile import (
    CONFIGMAP_MAX_BYTES,
    config_map_data,
    config_map_for,
    config_map_key,
    config_map_keys,
    dns_name,
    load_packfile,
    parse_packfile,
    paths_annotation,
    read_pack_files,
    to_pack_spec,
)

pytestmark = pytest.mark.unit

PACKS = Path(__file__).resolve().parents[2] / "packs"
KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
IMAGES = {"shell": "img/shell:1", "python": "img/python:1", "pytest": "img/pytest:1", "node": "img/node:1"}

SEED = {
    "ref": "core",
    "label": "Core",
    "description": "d",
    "version": "1.0.0",
    "actions": {"echo": {"entry_point": "actions/echo.sh"}},
    "testing": {
        "enabled": True,
        "discovery": {"method": "directory", "path": "tests"},
        "runners": {
            "shell": {
                "type": "script",
                "entry_point": "tests/run_tests.sh",
                "timeout": 60,
                "result_format": "simple",
            },
            "python": {
                "type": "unittest",
                "entry_point": "tests/test_actions.py",
                "timeout": 120,
                "result_format": "simple",
            },
        },
        "result_path": "tests/results/",
        "min_pass_rate": 1.0,
        "on_failure": "block",
    },
}


def with_testing(**changes: Any) -> dict[str, Any]:
    raw = json.loads(json.dumps(SEED))
    raw["testing"].update(changes)
    return raw


def error_of(raw: Any) -> str:
    with pytest.raises(InvalidPack) as caught:
        parse_packfile(raw)
    return str(caught.value)


def test_seed_pack_yaml_translates_to_a_valid_spec() -> None:
    """The seed's testing section becomes a camelCase spec with runners named by runtime key."""
    spec = to_pack_spec(parse_packfile(SEED), images=IMAGES, config_map_name="core-pack")
    expected = {
        "ref": "core",
        "version": "1.0.0",
        "source": {"configMap": {"name": "core-pack"}},
        "testing": {
            "enabled": True,
            "runners": [
                {
                    "name": "shell",
                    "type": "script",
                    "image": "img/shell:1",
                    "entryPoint": "tests/run_tests.sh",
                    "timeout": "60s",
                    "resultFormat": "simple",
                },
                {
                    "name": "python",
                    "type": "unittest",
                    "image": "img/python:1",
                    "entryPoint": "tests/test_actions.py",
                    "timeout": "120s",
                    "resultFormat": "simple",
                },
            ],
            "minPassRate": 1.0,
            "onFailure": "block",
        },
    }
    assert expected == spec
    assert [r.name for r in load_spec(spec).testing.runners] == ["shell", "python"]  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("runner_type", "image"),
    [("script", "shell"), ("tap", "shell"), ("unittest", "python"), ("pytest", "pytest"), ("node", "node")],
)
def test_default_image_follows_runner_type(runner_type: str, image: str) -> None:
    """A runner without its own image gets its type's default image (pytest runners their own)."""
    raw = with_testing(runners={"r": {"type": runner_type, "entry_point": "t"}})
    spec = to_pack_spec(parse_packfile(raw), images=IMAGES, config_map_name="x")
    assert IMAGES[image] == spec["testing"]["runners"][0]["image"]


def test_command_runner_gets_shell_image_and_keeps_its_command() -> None:
    """A command runner keeps command, args and env (as name/value pairs)."""
    runner = {"type": "command", "command": ["sh", "-c"], "args": ["true"], "env": {"A": 1, "B": "x"}}
    spec = to_pack_spec(parse_packfile(with_testing(runners={"c": runner})), images=IMAGES, config_map_name="x")
    expected = {
        "name": "c",
        "type": "command",
        "image": "img/shell:1",
        "command": ["sh", "-c"],
        "args": ["true"],
        "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "x"}],
        "timeout": "300s",
        "resultFormat": "auto",
    }
    assert expected == spec["testing"]["runners"][0]


def test_runner_image_and_result_path_win_over_defaults() -> None:
    """A runner's own image, duration timeout and resultPath pass through."""
    runner = {
        "type": "pytest",
        "entry_point": "tests",
        "image": "mine:2",
        "timeout": "1h30m",
        "result_path": "out/junit.xml",
        "result_format": "junit",
    }
    spec = to_pack_spec(parse_packfile(with_testing(runners={"py": runner})), images=IMAGES, config_map_name="x")
    got = spec["testing"]["runners"][0]
    assert (
        got["image"],
        got["timeout"],
        got["resultPath"],
        got["resultFormat"],
    ) == ("mine:2", "5400s", "out/junit.xml", "junit")


def test_section_result_path_applies_only_when_it_names_a_file() -> None:
    """testing.result_path is a default resultPath for a file, informational for a directory."""
    as_file = with_testing(result_path="results/out.xml")
    spec = to_pack_spec(parse_packfile(as_file), images={}, config_map_name="x")
    assert [r.get("resultPath") for r in spec["testing"]["runners"]] == ["results/out.xml", "results/out.xml"]
    spec = to_pack_spec(parse_packfile(SEED), images={}, config_map_name="x")
    assert [r.get("resultPath") for r in spec["testing"]["runners"]] == [None, None]


def test_no_images_leaves_image_to_the_operator() -> None:
    """With no image known for a runtime, the runner has no image field."""
    spec = to_pack_spec(parse_packfile(SEED), images={}, config_map_name="x")
    assert ["image" in r for r in spec["testing"]["runners"]] == [False, False]


def test_numeric_version_and_unknown_top_level_keys() -> None:
    """A YAML number as version becomes text; unknown top-level keys are ignored."""
    raw = dict(SEED, version=1.5, sensors={"x": 1}, runtime_deps=["python3"])
    assert parse_packfile(raw).version == "1.5"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"ref": "x", "version": "1"}, "pack.yaml has no testing section; add one or set skipTests"),
        (with_testing(bogus=1), "pack.yaml: testing: unknown key 'bogus'"),
        (
            with_testing(runners={"go": {"type": "gotest", "entry_point": "x"}}),
            "pack.yaml: testing.runners.go.type: unknown runner type 'gotest' "
            "(use script, unittest, pytest, node, tap, command)",
        ),
        (
            with_testing(runners={"sh": {"type": "script", "entry_point": "x", "retries": 2}}),
            "pack.yaml: testing.runners.sh: unknown key 'retries'",
        ),
        (
            with_testing(runners={"sh": {"type": "script"}}),
            "pack.yaml: testing.runners.sh: set entry_point (or command)",
        ),
        (
            with_testing(runners={"sh": {"type": "script", "entry_point": "x", "timeout": "soon"}}),
            "pack.yaml: testing.runners.sh.timeout: invalid duration 'soon' (use e.g. 90s, 5m, 1h30m)",
        ),
        (
            with_testing(runners={"Shell_Tests": {"type": "script", "entry_point": "x"}}),
            "pack.yaml: testing.runners: runner name 'Shell_Tests' must be lower-case letters, digits and '-' "
            "(at most 40)",
        ),
        (with_testing(min_pass_rate=1.5), "pack.yaml: testing.min_pass_rate: Input should be less than or equal to 1"),
        (["not", "a", "mapping"], "pack.yaml: expected a mapping at the top level"),
        (
            dict(SEED, depends_on=[{"name": "core", "version": "latest"}]),
            "pack.yaml: depends_on.0.version: version range 'latest': 'latest' is not a version or comparator "
            "(e.g. ^1.2.0, ~1.2, >=1.0.0 <2.0.0, 1.x, 1.2.3 - 2.0.0)",
        ),
        (
            dict(SEED, depends_on=[{"name": "--", "version": "^1"}]),
            "pack.yaml: depends_on.0.name: '--' names no pack (use its ref or its Pack name)",
        ),
        (dict(SEED, depends_on=[{"name": "core"}]), "pack.yaml: depends_on.0.version: Field required"),
        (
            dict(SEED, depends_on=[{"name": "core", "version": "^1", "optional": True}]),
            "pack.yaml: depends_on.0: unknown key 'optional'",
        ),
        (dict(SEED, depends_on="core"), "pack.yaml: depends_on: Input should be a valid list"),
    ],
)
def test_invalid_pack_yaml_is_one_line(raw: Any, expected: str) -> None:
    """Each mistake in pack.yaml is one InvalidPack line naming where it is."""
    assert expected == error_of(raw)


def test_load_packfile_errors(tmp_path: Path) -> None:
    """Missing directory, missing pack.yaml and bad YAML are one-line errors."""
    messages = []
    for directory, text in ((tmp_path / "nope", None), (tmp_path / "empty", None), (tmp_path / "bad", "ref: a: b\n")):
        if directory.name != "nope":
            directory.mkdir()
        if text is not None:
            (directory / "pack.yaml").write_text(text)
        with pytest.raises(InvalidPack) as caught:
            load_packfile(directory)
        messages.append(str(caught.value))
    assert [
        f"pack directory {str(tmp_path / 'nope')!r} does not exist",
        f"{str(tmp_path / 'empty')!r} has no pack.yaml",
        f"{tmp_path / 'bad' / 'pack.yaml'}: mapping values are not allowed here (line 1)",
    ] == messages
    assert all("\n" not in m for m in messages)


def test_depends_on_becomes_spec_depends_on_by_pack_name() -> None:
    """pack.yaml's depends_on becomes spec.dependsOn in order: a ref is made the Pack name that
    `packgate manifest` gives it, a YAML number as range becomes text; none gives no field."""
    raw = dict(SEED, depends_on=[{"name": "net_base", "version": ">=1.2.0 <2.0.0"}, {"name": "core", "version": 1}])
    spec = to_pack_spec(parse_packfile(raw), images=IMAGES, config_map_name="x-pack")
    assert spec["dependsOn"] == [{"name": "net-base", "version": ">=1.2.0 <2.0.0"}, {"name": "core", "version": "1"}]
    assert [(d.name, d.version) for d in load_spec(spec).depends_on] == [("net-base", ">=1.2.0 <2.0.0"), ("core", "1")]
    assert "dependsOn" not in to_pack_spec(parse_packfile(SEED), images=IMAGES, config_map_name="x-pack")


def test_example_packs_load() -> None:
    """Every example pack's pack.yaml loads and translates into a spec the operator accepts."""
    refs = {}
    for directory in sorted(p for p in PACKS.iterdir() if (p / "pack.yaml").is_file()):
        packfile = load_packfile(directory)
        load_spec(to_pack_spec(packfile, images=IMAGES, config_map_name=f"{directory.name}-pack"))
        refs[directory.name] = packfile.ref
    assert refs == {
        "broken": "broken",
        "core": "core",
        "junit-report": "junit_report",
        "net-base": "net_base",
        "net-tools": "net_tools",
        "node-utils": "node_utils",
        "semver-gate": "semver_gate",
        "text-tools": "text_tools",
        "yaml-config": "yaml_config",
    }


@pytest.mark.parametrize(
    ("path", "key"),
    [
        ("pack.yaml", "pack.yaml"),
        ("tests/run_tests.sh", "tests__run_tests.sh"),
        ("a/b c/d+e.txt", "a__b_c__d_e.txt"),
        ("..hidden", "_.hidden"),
        (".gitignore", ".gitignore"),
        ("tests/données.py", "tests__donn_es.py"),
    ],
)
def test_config_map_key(path: str, key: str) -> None:
    """Keys are readable, derived from the path, and valid ConfigMap keys."""
    assert key == config_map_key(path)
    assert KEY.match(key)


def test_config_map_keys_are_unique_and_bounded() -> None:
    """Colliding and over-long keys get a hash of their path; every path keeps its own key."""
    paths = ["a/b.py", "a__b.py", "a b.py", "a_b.py", "x" * 300, "y/" + "x" * 300]
    keys = config_map_keys(paths)
    assert sorted(paths) == sorted(keys.values())
    assert all(KEY.match(k) and len(k) <= 253 and not k.startswith("..") for k in keys)
    assert keys["a__b.py"] == "a/b.py"
    assert keys == config_map_keys(list(reversed(paths)))


def test_config_map_data_splits_text_and_binary() -> None:
    """UTF-8 text goes to data, other bytes (and NUL) to binaryData, with the key → path mapping."""
    files = {"pack.yaml": b"ref: x\n", "bin/logo.png": b"\x89PNG\r\n\x1a\n\xff", "z/nul.txt": b"a\x00b"}
    data, binary, paths = config_map_data(files)
    assert data == {"pack.yaml": "ref: x\n"}
    assert {"bin__logo.png": files["bin/logo.png"], "z__nul.txt": b"a\x00b"} == {
        k: base64.b64decode(v) for k, v in binary.items()
    }
    assert paths == {"pack.yaml": "pack.yaml", "bin__logo.png": "bin/logo.png", "z__nul.txt": "z/nul.txt"}
    assert (
        paths_annotation(paths) == '{"bin__logo.png":"bin/logo.png","pack.yaml":"pack.yaml","z__nul.txt":"z/nul.txt"}'
    )


def test_config_map_size_limit() -> None:
    """A pack over 1 MiB is one clear error naming the limit and the largest file."""
    files = {"big.bin": b"\xff" * CONFIGMAP_MAX_BYTES, "small.txt": b"x"}
    with pytest.raises(InvalidPack) as caught:
        config_map_data(files)
    size = CONFIGMAP_MAX_BYTES + len("big.bin") + 1 + len("small.txt")
    assert (
        f"the pack is {size} bytes, over the ConfigMap limit of {CONFIGMAP_MAX_BYTES} bytes (1 MiB; largest file "
        f"big.bin, {CONFIGMAP_MAX_BYTES} bytes); shrink it or use a git or image source"
    ) == str(caught.value)


def test_read_pack_files_skips_caches_and_vcs(tmp_path: Path) -> None:
    """.git, __pycache__, node_modules and *.pyc never reach the ConfigMap."""
    for relative in ("pack.yaml", "tests/t.py", "tests/__pycache__/t.pyc", ".git/HEAD", "node_modules/m/i.js", "a.pyc"):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_text("x")
    assert sorted(read_pack_files(tmp_path)) == ["pack.yaml", "tests/t.py"]


def test_config_map_for_core_pack_round_trips() -> None:
    """Every file of packs/core is in the ConfigMap under a valid key, and maps back to its path."""
    data, binary, paths = config_map_for(PACKS / "core")
    files = read_pack_files(PACKS / "core")
    assert set(files) == set(paths.values())
    assert {paths[k]: v.encode() for k, v in data.items()} | {
        paths[k]: base64.b64decode(v) for k, v in binary.items()
    } == files


@pytest.mark.parametrize(
    ("ref", "name"), [("core", "core"), ("node_utils", "node-utils"), ("My Pack!", "my-pack"), ("a" * 80, "a" * 58)]
)
def test_dns_name(ref: str, name: str) -> None:
    """A pack ref becomes a DNS label short enough for `<name>-pack`."""
    assert name == dns_name(ref)


def test_dns_name_needs_a_letter() -> None:
    """A ref with nothing usable asks for --name."""
    with pytest.raises(InvalidPack, match="pass --name"):
        dns_name("__")
