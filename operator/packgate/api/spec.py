"""The Pack's `spec`: typed, validated, with the CRD's defaults.

Owns: the spec models, duration parsing and runner-type defaults.  Must not: talk to the API
server.  The CRD schema and CEL rules reject invalid Packs at admission; these models apply the
same rules again so that `packgate manifest` and unit tests see the same shape, and so the
operator never acts on a half-valid spec (InvalidPack, one line).
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Any, Literal, get_args
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from packgate.errors import InvalidPack
from packgate.reconcile.semver import parse_range

GROUP = "packgate.dev"
VERSION = "v1alpha1"
PLURAL = "packs"
KIND = "Pack"
RETEST_ANNOTATION = f"{GROUP}/retest"
FINALIZER = f"{GROUP}/finalizer"
"""kopf's finalizer on every Pack (its reconcile daemon must be stopped before the Pack goes)."""


class RunnerType(StrEnum):
    SCRIPT = "script"
    UNITTEST = "unittest"
    PYTEST = "pytest"
    NODE = "node"
    TAP = "tap"
    COMMAND = "command"


class ResultFormatName(StrEnum):
    AUTO = "auto"
    SIMPLE = "simple"
    TAP = "tap"
    JUNIT = "junit"
    UNITTEST = "unittest"
    PYTEST = "pytest"


class OnFailure(StrEnum):
    BLOCK = "block"
    WARN = "warn"
    IGNORE = "ignore"


_DURATION = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def parse_duration(value: str | int) -> int:
    """Seconds in a duration such as `90s`, `5m`, `1h30m` or a bare number of seconds."""
    if isinstance(value, int):
        if value <= 0:
            raise ValueError("a duration must be positive")
        return value
    text = value.strip()
    if text.isdigit():
        return parse_duration(int(text))
    match = _DURATION.match(text)
    if not text or not match:
        raise ValueError(f"invalid duration {value!r} (use e.g. 90s, 5m, 1h30m)")
    hours, minutes, seconds = (int(g or 0) for g in match.groups())
    return parse_duration(hours * 3600 + minutes * 60 + seconds)


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ConfigMapSource(_Spec):
    name: str = Field(min_length=1)


class SecretRef(_Spec):
    name: str = Field(min_length=1)


class GitSource(_Spec):
    url: str = Field(min_length=1)
    revision: str = "HEAD"
    path: str = ""
    secret_ref: SecretRef | None = Field(default=None, alias="secretRef")


class ImageSource(_Spec):
    reference: str = Field(min_length=1)
    path: str = "/pack"


class Source(_Spec):
    config_map: ConfigMapSource | None = Field(default=None, alias="configMap")
    git: GitSource | None = None
    image: ImageSource | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Source:
        count = sum(x is not None for x in (self.config_map, self.git, self.image))
        if count != 1:
            raise ValueError("source must set exactly one of configMap, git or image")
        return self


class EnvVar(BaseModel):
    """A container env var, kept as Kubernetes gives it (value or valueFrom)."""

    model_config = ConfigDict(extra="allow", frozen=True)
    name: str = Field(min_length=1)


class Runner(_Spec):
    name: str = Field(min_length=1, max_length=40, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    type: RunnerType
    image: str | None = None
    entry_point: str | None = Field(default=None, alias="entryPoint")
    command: list[str] | None = None
    args: list[str] | None = None
    env: list[EnvVar] = Field(default_factory=list)
    timeout: str = "300s"
    result_format: ResultFormatName = Field(default=ResultFormatName.AUTO, alias="resultFormat")
    result_path: str | None = Field(default=None, alias="resultPath")
    resources: dict[str, Any] | None = None

    @field_validator("timeout")
    @classmethod
    def _valid_timeout(cls, value: str) -> str:
        parse_duration(value)
        return value

    @property
    def timeout_seconds(self) -> int:
        return parse_duration(self.timeout)

    @model_validator(mode="after")
    def _has_something_to_run(self) -> Runner:
        if self.type is RunnerType.COMMAND and not self.command:
            raise ValueError(f"runner {self.name}: type command needs command")
        if self.type is not RunnerType.COMMAND and not (self.entry_point or self.command):
            raise ValueError(f"runner {self.name}: set entryPoint (or command)")
        return self


class PodOptions(_Spec):
    node_selector: dict[str, str] | None = Field(default=None, alias="nodeSelector")
    tolerations: list[dict[str, Any]] | None = None
    image_pull_secrets: list[dict[str, str]] | None = Field(default=None, alias="imagePullSecrets")
    service_account_name: str | None = Field(default=None, alias="serviceAccountName")
    priority_class_name: str | None = Field(default=None, alias="priorityClassName")


def source_url(value: str) -> str:
    """`value` if it is an http(s) URL with a host (a package index or registry), else ValueError."""
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an http:// or https:// URL")
    return value.strip()


class DependencySources(_Spec):
    """Where a runner installs its pack's dependencies from (requirements.txt, package.json);
    each unset field falls back to the operator's setting (PACKGATE_PIP_INDEX_URL,
    PACKGATE_NPM_REGISTRY), then to the tool's own default."""

    pip_index_url: str | None = Field(default=None, alias="pipIndexUrl")
    npm_registry: str | None = Field(default=None, alias="npmRegistry")

    @field_validator("pip_index_url", "npm_registry")
    @classmethod
    def _valid_url(cls, value: str | None) -> str | None:
        return None if value is None else source_url(value)


class Testing(_Spec):
    enabled: bool = True
    runners: list[Runner] = Field(default_factory=list, max_length=16)
    min_pass_rate: float = Field(default=1.0, ge=0.0, le=1.0, alias="minPassRate")
    on_failure: OnFailure = Field(default=OnFailure.BLOCK, alias="onFailure")
    revalidate_every: str | None = Field(default=None, alias="revalidateEvery")
    cache_for: str | None = Field(default=None, alias="cacheFor")
    """How long an execution's verdict is reused by an install or update with the same content
    digest (packgate.reconcile.digest); None: never (the default)."""
    pod: PodOptions = Field(default_factory=PodOptions)
    dependencies: DependencySources | None = None

    @field_validator("runners")
    @classmethod
    def _unique_names(cls, runners: list[Runner]) -> list[Runner]:
        names = [r.name for r in runners]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"runner names must be unique: {', '.join(duplicates)}")
        return runners

    @field_validator("revalidate_every", "cache_for")
    @classmethod
    def _valid_interval(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value

    @property
    def revalidate_seconds(self) -> int | None:
        return parse_duration(self.revalidate_every) if self.revalidate_every else None

    @property
    def cache_seconds(self) -> int | None:
        return parse_duration(self.cache_for) if self.cache_for else None


DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
"""A Kubernetes object name (RFC 1123 subdomain), at most 253 characters."""
DEPENDENCIES_MAX = 32


class PackDependency(_Spec):
    """One entry of spec.dependsOn: a Pack of the same namespace whose activeVersion must be in
    the semver range `version` before this Pack is activated."""

    name: str = Field(min_length=1, max_length=253)
    version: str

    @field_validator("name")
    @classmethod
    def _dns_name(cls, value: str) -> str:
        if not re.match(DNS_SUBDOMAIN, value):
            raise ValueError(f"{value!r} is not a Pack name (lower-case letters, digits, '-' and '.')")
        return value

    @field_validator("version")
    @classmethod
    def _semver_range(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("empty; use * for any version")
        try:
            parse_range(value)
        except InvalidPack as exc:
            raise ValueError(str(exc)) from exc
        return value


class PackSpec(_Spec):
    ref: str | None = None
    version: str = Field(min_length=1)
    source: Source
    testing: Testing | None = None
    skip_tests: bool = Field(default=False, alias="skipTests")
    force: bool = False
    depends_on: list[PackDependency] = Field(default_factory=list, alias="dependsOn", max_length=DEPENDENCIES_MAX)

    @field_validator("depends_on")
    @classmethod
    def _unique_dependencies(cls, dependencies: list[PackDependency]) -> list[PackDependency]:
        names = [d.name for d in dependencies]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"each Pack may be named once: {', '.join(duplicates)}")
        return dependencies


def load_spec(raw: dict[str, Any]) -> PackSpec:
    """Validate a raw `spec` dict; InvalidPack with one line naming the first problem."""
    try:
        return PackSpec.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "spec"
        message = first["msg"].removeprefix("Value error, ")
        raise InvalidPack(f"spec.{where}: {message}" if where != "spec" else message) from exc


def pack_ref(name: str, spec: PackSpec) -> str:
    """The pack's ref: spec.ref, defaulting to metadata.name."""
    return spec.ref or name


# What each runner type runs when neither command nor args override it.  `{entry}` is the
# entryPoint relative to the workspace; `{result}` is the resultPath if any.
DEFAULT_COMMANDS: dict[RunnerType, list[str]] = {
    RunnerType.SCRIPT: ["sh", "{entry}"],
    RunnerType.UNITTEST: ["python3", "-m", "unittest", "-v", "{module}"],
    RunnerType.PYTEST: ["python3", "-m", "pytest", "-v", "{entry}"],
    RunnerType.NODE: ["node", "--test", "--test-reporter=tap", "{entry}"],
    RunnerType.TAP: ["sh", "{entry}"],
}

DEFAULT_FORMATS: dict[RunnerType, ResultFormatName] = {
    RunnerType.SCRIPT: ResultFormatName.AUTO,
    RunnerType.UNITTEST: ResultFormatName.UNITTEST,
    RunnerType.PYTEST: ResultFormatName.AUTO,
    RunnerType.NODE: ResultFormatName.TAP,
    RunnerType.TAP: ResultFormatName.TAP,
    RunnerType.COMMAND: ResultFormatName.AUTO,
}

ImageName = Literal["shell", "python", "pytest", "node"]
"""The default runner images, each the setting PACKGATE_IMAGE_<NAME> (`image_<name>`)."""

IMAGE_NAMES: tuple[ImageName, ...] = get_args(ImageName)

IMAGE_OF_TYPE: dict[RunnerType, ImageName] = {
    RunnerType.SCRIPT: "shell",
    RunnerType.TAP: "shell",
    RunnerType.COMMAND: "shell",
    RunnerType.UNITTEST: "python",
    RunnerType.PYTEST: "pytest",  # python3 -m pytest needs pytest, which python's slim image lacks
    RunnerType.NODE: "node",
}


def runner_command(runner: Runner) -> list[str]:
    """The argv a runner executes inside the workspace (before the wrapper)."""
    if runner.command:
        return [*runner.command, *(runner.args or [])]
    entry = runner.entry_point or ""
    module = entry.removesuffix(".py").replace("/", ".") if runner.type is RunnerType.UNITTEST else entry
    argv = [part.format(entry=entry, module=module) for part in DEFAULT_COMMANDS[runner.type]]
    return [*argv, *(runner.args or [])]


def runner_format(runner: Runner) -> ResultFormatName:
    """The format to parse: resultFormat, or the type's default when it is auto."""
    if runner.result_format is not ResultFormatName.AUTO:
        return runner.result_format
    if runner.result_path and runner.result_path.endswith(".xml"):
        return ResultFormatName.JUNIT
    return DEFAULT_FORMATS[runner.type]
