"""The Attune-style `pack.yaml` of a pack directory, and its translation into a Pack and a ConfigMap.

Owns: the typed model of `pack.yaml` (its `testing:` section, as the seed writes it, and its
`depends_on:` list), the translation into a Pack `spec` (camelCase, runners named by their
runtime key, dependencies by their Pack name), and the packing of a pack directory into
ConfigMap `data`/`binaryData` with the key → path mapping the operator needs to lay the files
out again (annotation `packgate.dev/paths`).

Must not: import kopf or the Kubernetes client, or talk to a cluster.  Everything here is pure on
plain data except the two thin readers, `load_packfile` and `read_pack_files`.

Every error is an `InvalidPack` with one line a pack author can act on.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from packgate.api.spec import (
    GROUP,
    IMAGE_OF_TYPE,
    OnFailure,
    ResultFormatName,
    RunnerType,
    parse_duration,
    source_url,
)
from packgate.errors import InvalidPack
from packgate.reconcile.semver import parse_range

PACKFILE = "pack.yaml"
PATHS_ANNOTATION = f"{GROUP}/paths"
"""ConfigMap annotation: JSON object mapping each data/binaryData key to the file's relative path."""

CONFIGMAP_MAX_BYTES = 1024 * 1024
"""The API server's limit on a ConfigMap's data + binaryData (keys and values)."""

ANNOTATIONS_MAX_BYTES = 256 * 1024
"""The API server's limit on an object's annotations (keys and values)."""

SKIPPED_DIRS = frozenset({".git", "__pycache__", "node_modules"})
SKIPPED_SUFFIXES = (".pyc",)

_KEY_MAX = 253
_KEY_INVALID = re.compile(r"[^-._a-zA-Z0-9]")
_RUNNER_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


# --- the pack.yaml model -------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PackRunner(_Strict):
    """One entry of `testing.runners`, keyed by its runtime name in pack.yaml."""

    type: RunnerType
    entry_point: str | None = None
    timeout: int | str = 300
    result_format: ResultFormatName = ResultFormatName.AUTO
    result_path: str | None = None
    image: str | None = None
    command: list[str] | None = None
    args: list[str] | None = None
    env: dict[str, str] = Field(default_factory=dict)

    @field_validator("timeout")
    @classmethod
    def _valid_timeout(cls, value: int | str) -> int | str:
        parse_duration(value)
        return value

    @field_validator("env", mode="before")
    @classmethod
    def _env_as_mapping(cls, value: Any) -> Any:
        """Accept `{NAME: value}` or Kubernetes' `[{name, value}]`; scalars become strings."""
        if value is None:
            return {}
        if isinstance(value, list):
            pairs: dict[str, Any] = {}
            for item in value:
                if not isinstance(item, dict) or "name" not in item or set(item) - {"name", "value"}:
                    raise ValueError("env entries must be {name, value} (valueFrom is not supported here)")
                pairs[str(item["name"])] = item.get("value", "")
            value = pairs
        if isinstance(value, dict):
            return {str(k): _scalar_text(v) for k, v in value.items()}
        return value

    @property
    def timeout_seconds(self) -> int:
        return parse_duration(self.timeout)

    @model_validator(mode="after")
    def _has_something_to_run(self) -> PackRunner:
        if self.type is RunnerType.COMMAND and not self.command:
            raise ValueError("type command needs command")
        if self.type is not RunnerType.COMMAND and not (self.entry_point or self.command):
            raise ValueError("set entry_point (or command)")
        return self


class PackDependencySources(_Strict):
    """`testing.dependencies`: where the runners install requirements.txt and package.json from
    (the Pack's spec.testing.dependencies)."""

    pip_index_url: str | None = None
    npm_registry: str | None = None

    @field_validator("pip_index_url", "npm_registry")
    @classmethod
    def _valid_url(cls, value: str | None) -> str | None:
        return None if value is None else source_url(value)


class PackTesting(_Strict):
    """The `testing:` section.  `discovery` (the seed's test discovery hint) is accepted and ignored;
    `result_path` applies to runners without their own only when it names a file (the seed's
    directory form, `tests/results/`, is informational)."""

    enabled: bool = True
    discovery: Any = None
    runners: dict[str, PackRunner] = Field(default_factory=dict, max_length=16)
    result_path: str | None = None
    min_pass_rate: float = Field(default=1.0, ge=0.0, le=1.0)
    on_failure: OnFailure = OnFailure.BLOCK
    revalidate_every: str | None = None
    dependencies: PackDependencySources | None = None

    @field_validator("runners")
    @classmethod
    def _runner_names(cls, runners: dict[str, PackRunner]) -> dict[str, PackRunner]:
        for name in runners:
            if len(name) > 40 or not _RUNNER_NAME.match(name):
                raise ValueError(f"runner name {name!r} must be lower-case letters, digits and '-' (at most 40)")
        return runners

    @field_validator("revalidate_every")
    @classmethod
    def _valid_interval(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value

    def runner_result_path(self, runner: PackRunner) -> str | None:
        """The result file a runner writes: its own, else the section's when that names a file."""
        if runner.result_path:
            return runner.result_path
        if self.result_path and not self.result_path.endswith("/"):
            return self.result_path
        return None


class PackFileDependency(_Strict):
    """One entry of `depends_on`: another pack of the namespace, by its Pack name or its ref (made
    a Pack name as `packgate manifest` names Packs: `net_tools` → `net-tools`), and the semver
    range its active version must be in."""

    name: str = Field(min_length=1)
    version: str = Field(min_length=1)

    @field_validator("name", "version", mode="before")
    @classmethod
    def _scalar_as_text(cls, value: Any) -> Any:
        return _scalar_text(value) if isinstance(value, int | float) else value

    @field_validator("name")
    @classmethod
    def _has_a_name(cls, value: str) -> str:
        if not re.search(r"[a-zA-Z0-9]", value):
            raise ValueError(f"{value!r} names no pack (use its ref or its Pack name)")
        return value

    @field_validator("version")
    @classmethod
    def _semver_range(cls, value: str) -> str:
        try:
            parse_range(value)
        except InvalidPack as exc:
            raise ValueError(str(exc)) from exc
        return value

    @property
    def pack_name(self) -> str:
        return dns_name(self.name)


class PackFile(BaseModel):
    """An Attune-style pack.yaml.  Keys Packgate does not use (actions, sensors, ...) are ignored."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    ref: str = Field(min_length=1)
    label: str | None = None
    description: str | None = None
    version: str = Field(min_length=1)
    testing: PackTesting | None = None
    depends_on: list[PackFileDependency] = Field(default_factory=list)

    @field_validator("ref", "version", "label", "description", mode="before")
    @classmethod
    def _scalar_as_text(cls, value: Any) -> Any:
        return _scalar_text(value) if isinstance(value, int | float) else value


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def parse_packfile(raw: Any) -> PackFile:
    """Validate a parsed pack.yaml (a YAML mapping); InvalidPack with one line for the first problem."""
    if not isinstance(raw, dict):
        raise InvalidPack(f"{PACKFILE}: expected a mapping at the top level")
    if raw.get("testing") is None:
        raise InvalidPack(f"{PACKFILE} has no testing section; add one or set skipTests")
    runners = raw["testing"].get("runners") if isinstance(raw["testing"], dict) else None
    if isinstance(runners, dict):
        for name, runner in runners.items():
            kind = runner.get("type") if isinstance(runner, dict) else None
            if kind is not None and kind not in {t.value for t in RunnerType}:
                allowed = ", ".join(t.value for t in RunnerType)
                raise InvalidPack(
                    f"{PACKFILE}: testing.runners.{name}.type: unknown runner type {kind!r} (use {allowed})"
                )
    try:
        return PackFile.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = [str(p) for p in first["loc"]]
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            message = f"unknown key {loc.pop()!r}"
        where = ".".join(loc)
        raise InvalidPack(f"{PACKFILE}: {where}: {message}" if where else f"{PACKFILE}: {message}") from exc


def load_packfile(directory: str | os.PathLike[str]) -> PackFile:
    """Read and validate `<directory>/pack.yaml`."""
    root = Path(directory)
    if not root.is_dir():
        raise InvalidPack(f"pack directory {str(root)!r} does not exist")
    path = root / PACKFILE
    if not path.is_file():
        raise InvalidPack(f"{str(root)!r} has no {PACKFILE}")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise InvalidPack(f"{path}: {problem}{where}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidPack(f"cannot read {path}: {exc}") from exc
    return parse_packfile(raw)


# --- pack.yaml → Pack spec -----------------------------------------------------------------------


def default_image(runner_type: RunnerType, images: Mapping[str, str]) -> str | None:
    """The image for a runner type from images keyed by default image name (shell, python, pytest,
    node: api.spec.ImageName)."""
    return images.get(IMAGE_OF_TYPE[runner_type])


def to_pack_spec(packfile: PackFile, *, images: Mapping[str, str], config_map_name: str) -> dict[str, Any]:
    """The Pack `spec` (camelCase, as the CRD takes it) for a pack whose files are in a ConfigMap.

    Runners are named by their runtime key; a runner without its own image gets its type's default
    image from `images` (none when `images` has no entry: the operator's default).
    """
    if packfile.testing is None:
        raise InvalidPack(f"{PACKFILE} has no testing section; add one or set skipTests")
    testing = packfile.testing
    runners: list[dict[str, Any]] = []
    for name, runner in testing.runners.items():
        entry: dict[str, Any] = {"name": name, "type": runner.type.value}
        image = runner.image or default_image(runner.type, images)
        if image:
            entry["image"] = image
        if runner.entry_point:
            entry["entryPoint"] = runner.entry_point
        if runner.command:
            entry["command"] = list(runner.command)
        if runner.args:
            entry["args"] = list(runner.args)
        if runner.env:
            entry["env"] = [{"name": k, "value": v} for k, v in runner.env.items()]
        entry["timeout"] = f"{runner.timeout_seconds}s"
        entry["resultFormat"] = runner.result_format.value
        result_path = testing.runner_result_path(runner)
        if result_path:
            entry["resultPath"] = result_path
        runners.append(entry)
    spec_testing: dict[str, Any] = {
        "enabled": testing.enabled,
        "runners": runners,
        "minPassRate": testing.min_pass_rate,
        "onFailure": testing.on_failure.value,
    }
    if testing.revalidate_every:
        spec_testing["revalidateEvery"] = testing.revalidate_every
    if testing.dependencies is not None:
        sources = {"pipIndexUrl": testing.dependencies.pip_index_url, "npmRegistry": testing.dependencies.npm_registry}
        spec_testing["dependencies"] = {k: v for k, v in sources.items() if v}
    spec: dict[str, Any] = {
        "ref": packfile.ref,
        "version": packfile.version,
        "source": {"configMap": {"name": config_map_name}},
        "testing": spec_testing,
    }
    if packfile.depends_on:
        spec["dependsOn"] = [{"name": d.pack_name, "version": d.version} for d in packfile.depends_on]
    return spec


# --- pack directory → ConfigMap ------------------------------------------------------------------


def is_skipped(relative: str) -> bool:
    """Files that never belong in a pack's copy: VCS data, caches, installed node modules."""
    parts = relative.split("/")
    return (
        any(p in SKIPPED_DIRS for p in parts[:-1])
        or parts[-1] in SKIPPED_DIRS
        or (parts[-1].endswith(SKIPPED_SUFFIXES))
    )


def read_pack_files(directory: str | os.PathLike[str]) -> dict[str, bytes]:
    """Every file of a pack directory (relative POSIX path → content), skipping `is_skipped` ones."""
    root = Path(directory)
    if not root.is_dir():
        raise InvalidPack(f"pack directory {str(root)!r} does not exist")
    files: dict[str, bytes] = {}
    for current, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS)
        for name in sorted(names):
            path = Path(current, name)
            relative = path.relative_to(root).as_posix()
            if is_skipped(relative) or not path.is_file():
                continue
            try:
                files[relative] = path.read_bytes()
            except OSError as exc:
                raise InvalidPack(f"cannot read {path}: {exc}") from exc
    return files


def config_map_key(relative: str) -> str:
    """A readable ConfigMap key for a relative path: `/` becomes `__`, other invalid characters `_`,
    a leading `.` of a `..`-prefixed name `_`; long keys are shortened with a hash of the path."""
    key = _KEY_INVALID.sub("_", relative.replace("/", "__"))
    if key.startswith(".."):
        key = "_" + key[1:]
    if len(key) > _KEY_MAX:
        key = f"{key[: _KEY_MAX - 11]}-{_digest(relative)}"
    return key


def _digest(relative: str) -> str:
    return hashlib.sha256(relative.encode("utf-8")).hexdigest()[:10]


def config_map_keys(paths: list[str]) -> dict[str, str]:
    """Unique ConfigMap keys for relative paths (key → path).  Deterministic: paths are taken in
    sorted order and a key that is already taken gets a hash of its path appended."""
    keys: dict[str, str] = {}
    for relative in sorted(paths):
        key = config_map_key(relative)
        salt = 0
        while key in keys:
            salt += 1
            key = f"{config_map_key(relative)[: _KEY_MAX - 11]}-{_digest(f'{salt}:{relative}')}"
        keys[key] = relative
    return keys


ConfigMapData = tuple[dict[str, str], dict[str, str], dict[str, str]]
"""(data, binaryData, paths): what `config_map_data` returns."""


def config_map_data(files: Mapping[str, bytes]) -> ConfigMapData:
    """(data, binaryData, paths) of a ConfigMap holding `files`.

    UTF-8 text without NUL goes to `data`; anything else to `binaryData` (base64).  `paths` maps
    every key to its relative path; it is stored as JSON in the `packgate.dev/paths` annotation.
    InvalidPack when the files exceed the API server's 1 MiB ConfigMap limit.
    """
    data: dict[str, str] = {}
    binary: dict[str, str] = {}
    paths = config_map_keys(list(files))
    size = 0
    for key, relative in paths.items():
        content = files[relative]
        size += len(key) + len(content)
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text is None or "\x00" in text:
            binary[key] = base64.b64encode(content).decode("ascii")
        else:
            data[key] = text
    if size > CONFIGMAP_MAX_BYTES:
        largest = max(files, key=lambda p: len(files[p]))
        raise InvalidPack(
            f"the pack is {size} bytes, over the ConfigMap limit of {CONFIGMAP_MAX_BYTES} bytes (1 MiB; "
            f"largest file {largest}, {len(files[largest])} bytes); shrink it or use a git or image source"
        )
    annotation = len(PATHS_ANNOTATION) + len(paths_annotation(paths))
    if annotation > ANNOTATIONS_MAX_BYTES:
        raise InvalidPack(
            f"the pack has {len(paths)} files, too many for the {PATHS_ANNOTATION} annotation "
            f"({annotation} bytes, limit {ANNOTATIONS_MAX_BYTES}); use a git or image source"
        )
    return data, binary, paths


def paths_annotation(paths: Mapping[str, str]) -> str:
    """The `packgate.dev/paths` annotation value: compact JSON, sorted by key."""
    return json.dumps(dict(sorted(paths.items())), separators=(",", ":"), sort_keys=True)


def config_map_for(directory: str | os.PathLike[str]) -> ConfigMapData:
    """(data, binaryData, paths) of the ConfigMap holding a pack directory."""
    return config_map_data(read_pack_files(directory))


# --- names ---------------------------------------------------------------------------------------


_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
NAME_MAX = 58
"""Longest Pack name from `dns_name`, so that `<name>-pack` is still a 63-character label."""


def dns_name(ref: str) -> str:
    """A pack ref as a DNS label: lower-case, runs of other characters as `-`, at most NAME_MAX."""
    name = re.sub(r"[^a-z0-9]+", "-", ref.lower()).strip("-")[:NAME_MAX].strip("-")
    if not name:
        raise InvalidPack(f"pack ref {ref!r} has no letters or digits to name the Pack; pass --name")
    return name


def is_dns_label(name: str) -> bool:
    return len(name) <= 63 and bool(_DNS_LABEL.match(name))
