"""`packgate manifest DIR`: a ConfigMap and a Pack that `kubectl apply -f -` accepts."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from clilib import PACKS, packgate

from packgate.api.spec import load_spec
from packgate.packfile import read_pack_files
from packgate.settings import Settings

pytestmark = pytest.mark.unit


def manifest(*args: str | Path) -> list[dict[str, Any]]:
    done = packgate("manifest", *args)
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith("---\n")
    return list(yaml.safe_load_all(done.stdout))


def test_core_manifest_is_a_config_map_and_a_valid_pack() -> None:
    """The stream holds the ConfigMap, then a Pack whose spec the operator's own validation accepts."""
    config_map, pack = manifest(PACKS / "core")
    assert [config_map["apiVersion"], config_map["kind"], config_map["metadata"]["name"]] == [
        "v1",
        "ConfigMap",
        "core-pack",
    ]
    assert [pack["apiVersion"], pack["kind"], pack["metadata"]] == ["packgate.dev/v1alpha1", "Pack", {"name": "core"}]
    spec = load_spec(pack["spec"])
    assert spec.testing is not None
    assert spec.source.config_map is not None
    assert (spec.ref, spec.version, spec.source.config_map.name) == ("core", "1.0.0", "core-pack")
    defaults = Settings.model_fields
    assert [(r.name, r.type.value, r.image, r.timeout) for r in spec.testing.runners] == [
        ("shell", "script", defaults["image_shell"].default, "60s"),
        ("python", "unittest", defaults["image_python"].default, "120s"),
    ]


def test_config_map_holds_every_file_at_its_path() -> None:
    """The packgate.dev/paths annotation maps every key back to the file it holds."""
    config_map, _ = manifest(PACKS / "core")
    paths = json.loads(config_map["metadata"]["annotations"]["packgate.dev/paths"])
    contents = {paths[k]: v.encode() for k, v in config_map.get("data", {}).items()}
    contents |= {paths[k]: base64.b64decode(v) for k, v in config_map.get("binaryData", {}).items()}
    assert contents == read_pack_files(PACKS / "core")
    assert paths["tests__run_tests.sh"] == "tests/run_tests.sh"


def test_flags_set_namespace_name_and_images() -> None:
    """--namespace, --name and --image-* land in both objects' metadata and the runners' images."""
    config_map, pack = manifest(
        PACKS / "node-utils", "--namespace", "automation", "--name", "utils", "--image-node", "node:99"
    )
    assert (config_map["metadata"]["namespace"], config_map["metadata"]["name"]) == ("automation", "utils-pack")
    assert pack["metadata"] == {"name": "utils", "namespace": "automation"}
    assert pack["spec"]["source"] == {"configMap": {"name": "utils-pack"}}
    assert [r["image"] for r in pack["spec"]["testing"]["runners"]] == ["node:99"]


def test_pytest_runners_get_the_pytest_image(tmp_path: Path) -> None:
    """pytest runners default to PACKGATE_IMAGE_PYTEST's default, unittest ones to PACKGATE_IMAGE_PYTHON's;
    --image-pytest changes only the pytest runners."""
    (tmp_path / "pack.yaml").write_text(
        "ref: py\nversion: '1'\ntesting:\n  runners:\n"
        "    unit: {type: unittest, entry_point: tests/test_a.py}\n"
        "    pyt: {type: pytest, entry_point: tests/}\n"
    )
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_a.py").write_text("")
    defaults = Settings.model_fields
    _, pack = manifest(tmp_path)
    assert [(r["name"], r["image"]) for r in pack["spec"]["testing"]["runners"]] == [
        ("unit", defaults["image_python"].default),
        ("pyt", defaults["image_pytest"].default),
    ]
    _, pack = manifest(tmp_path, "--image-pytest", "registry.example/pytest:9")
    assert [r["image"] for r in pack["spec"]["testing"]["runners"]] == [
        defaults["image_python"].default,
        "registry.example/pytest:9",
    ]


def test_ref_becomes_a_dns_name() -> None:
    """A ref with an underscore (node_utils) names the Pack node-utils; the ref itself is kept."""
    _, pack = manifest(PACKS / "node-utils")
    assert (pack["metadata"]["name"], pack["spec"]["ref"]) == ("node-utils", "node_utils")


def test_junit_pack_keeps_its_result_path_and_command() -> None:
    """A runner's command, resultPath and resultFormat pass through to the Pack."""
    _, pack = manifest(PACKS / "junit-report")
    runner = pack["spec"]["testing"]["runners"][0]
    assert (runner["command"], runner["resultPath"], runner["resultFormat"]) == (
        ["python3", "tests/run_junit.py", "--output", "tests/results/junit.xml"],
        "tests/results/junit.xml",
        "junit",
    )


def test_binary_files_go_to_binary_data(tmp_path: Path) -> None:
    """A file that is not UTF-8 is carried in binaryData, byte for byte."""
    (tmp_path / "pack.yaml").write_text(
        "ref: bin\nversion: '1'\ntesting:\n  runners:\n    shell: {type: script, entry_point: t.sh}\n"
    )
    (tmp_path / "t.sh").write_text("true\n")
    (tmp_path / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff")
    config_map, _ = manifest(tmp_path)
    assert base64.b64decode(config_map["binaryData"]["logo.png"]) == b"\x89PNG\r\n\x1a\n\x00\xff"
    assert sorted(config_map["data"]) == ["pack.yaml", "t.sh"]


def test_bad_name_is_one_line() -> None:
    """An invalid --name is exit 2 and one line."""
    done = packgate("manifest", PACKS / "core", "--name", "Bad_Name")
    assert (done.returncode, done.stdout, done.stderr) == (
        2,
        "",
        "packgate manifest: --name 'Bad_Name' must be a DNS label (lower-case letters, digits and '-')\n",
    )


def test_too_big_pack_is_one_line(tmp_path: Path) -> None:
    """A pack over the ConfigMap size limit is exit 2 and one line suggesting another source."""
    (tmp_path / "pack.yaml").write_text(
        "ref: big\nversion: '1'\ntesting:\n  runners:\n    shell: {type: script, entry_point: t.sh}\n"
    )
    (tmp_path / "t.sh").write_text("x" * (1024 * 1024))
    done = packgate("manifest", tmp_path)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("packgate manifest: the pack is ")
    assert done.stderr.endswith("shrink it or use a git or image source\n")


def test_pack_without_testing_is_one_line(tmp_path: Path) -> None:
    """A pack.yaml with no testing section is refused the same way as by `packgate run`."""
    (tmp_path / "pack.yaml").write_text("ref: bare\nversion: '1'\n")
    done = packgate("manifest", tmp_path)
    assert (done.returncode, done.stderr) == (
        2,
        "packgate manifest: pack.yaml has no testing section; add one or set skipTests\n",
    )


def test_net_tools_depends_on_net_base_and_core() -> None:
    """packs/net-tools' depends_on becomes the Pack's spec.dependsOn, net_base by its Pack name."""
    _, pack = manifest(PACKS / "net-tools")
    assert pack["spec"]["dependsOn"] == [
        {"name": "net-base", "version": ">=1.2.0 <2.0.0"},
        {"name": "core", "version": "^1.0.0"},
    ]


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        (
            "[{name: dep, version: '^1'}]",
            "packgate manifest: pack.yaml: depends_on names the pack itself (Pack dep)\n",
        ),
        (
            "[{name: core, version: '^1'}, {name: core, version: '^2'}]",
            "packgate manifest: spec.dependsOn: each Pack may be named once: core\n",
        ),
    ],
    ids=["itself", "twice"],
)
def test_bad_depends_on_is_one_line(tmp_path: Path, entries: str, message: str) -> None:
    """A pack.yaml naming the pack itself, or a Pack twice, is exit 2 and one line (the CRD
    would refuse the Pack)."""
    runners = "testing:\n  runners:\n    shell: {type: script, entry_point: t.sh}\n"
    (tmp_path / "pack.yaml").write_text(f"ref: dep\nversion: '1'\ndepends_on: {entries}\n{runners}")
    done = packgate("manifest", tmp_path)
    assert (done.returncode, done.stdout, done.stderr) == (2, "", message)
