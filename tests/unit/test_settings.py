"""Unit tests of packgate.settings: the documented forms of each setting, and one-line errors."""

from __future__ import annotations

import os
from typing import cast

import pytest
from builders import EMPTY_CACHE

from packgate.api.spec import IMAGE_NAMES
from packgate.errors import InvalidSetting
from packgate.executor import Executor, Recorder
from packgate.k8s.client import Kube
from packgate.settings import load_settings, namespace_list

pytestmark = pytest.mark.unit


NOT_A_NAME = "is not a namespace name (lower-case letters, digits and '-', at most 63 characters)"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No PACKGATE_* variable of the calling shell leaks into a test."""
    for name in [n for n in os.environ if n.startswith("PACKGATE_")]:
        monkeypatch.delenv(name)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("a,b", ["a", "b"], id="comma-separated"),
        pytest.param(" team-a , team-b ,", ["team-a", "team-b"], id="blanks and a trailing comma"),
        pytest.param("automation", ["automation"], id="one name"),
        pytest.param("", [], id="empty: cluster-wide"),
        pytest.param('["a", "b"]', ["a", "b"], id="JSON list"),
        pytest.param(" [] ", [], id="empty JSON list"),
        pytest.param(["a", "b"], ["a", "b"], id="a list (--namespace flags)"),
    ],
)
def test_namespace_forms(value: object, expected: list[str]) -> None:
    """Namespaces are accepted comma-separated, as a JSON list, or as a list."""
    assert namespace_list(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        pytest.param('["a",', "not a JSON list of namespaces: Expecting value", id="broken JSON"),
        pytest.param('["a", 1]', "expected namespace names, comma-separated or as a JSON list of strings", id="number"),
        pytest.param("a;b", f"'a;b' {NOT_A_NAME}", id="semicolon"),
        pytest.param("Team", f"'Team' {NOT_A_NAME}", id="upper case"),
        pytest.param(42, "expected namespace names, comma-separated or as a JSON list of strings", id="not text"),
    ],
)
def test_malformed_namespaces(value: object, message: str) -> None:
    """A malformed namespace list is a ValueError that says what is wrong."""
    with pytest.raises(ValueError) as raised:
        namespace_list(value)
    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        pytest.param("a,b", ["a", "b"], id="comma-separated"),
        pytest.param('["a","b"]', ["a", "b"], id="JSON list"),
    ],
)
def test_namespaces_from_the_environment(monkeypatch: pytest.MonkeyPatch, env: str, expected: list[str]) -> None:
    """PACKGATE_NAMESPACES is read in both documented forms."""
    monkeypatch.setenv("PACKGATE_NAMESPACES", env)
    assert load_settings().namespaces == expected


def test_overrides_win_over_the_environment_and_are_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    """--namespace flags (overrides) replace PACKGATE_NAMESPACES, and go through the same checks."""
    monkeypatch.setenv("PACKGATE_NAMESPACES", "a,b")
    assert load_settings(namespaces=["c"]).namespaces == ["c"]
    with pytest.raises(InvalidSetting) as raised:
        load_settings(namespaces=["C"])
    assert str(raised.value) == f"invalid setting PACKGATE_NAMESPACES: 'C' {NOT_A_NAME}"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        pytest.param(
            {"PACKGATE_MAX_CONCURRENT_JOBS": "abc"},
            "invalid setting PACKGATE_MAX_CONCURRENT_JOBS: Input should be a valid integer, unable to parse string "
            "as an integer",
            id="bad integer",
        ),
        pytest.param(
            {"PACKGATE_NAMESPACES": "[", "PACKGATE_RETENTION_DAYS": "0"},
            "invalid settings PACKGATE_NAMESPACES: not a JSON list of namespaces: Expecting value; "
            "PACKGATE_RETENTION_DAYS: Input should be greater than or equal to 1",
            id="several bad settings",
        ),
    ],
)
def test_bad_settings_are_one_line_naming_each_variable(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    """A malformed value is InvalidSetting naming its variable, without the pydantic report; several
    bad settings are reported together, still on one line."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(InvalidSetting) as raised:
        load_settings()
    assert str(raised.value) == message


def test_pytest_runners_have_their_own_image_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """PACKGATE_IMAGE_PYTEST defaults to the runner-pytest image and is read from the environment;
    PACKGATE_IMAGE_PYTHON (unittest runners) is a separate setting."""
    assert load_settings().image_pytest == "ghcr.io/packgate/runner-pytest:0.1.0"
    monkeypatch.setenv("PACKGATE_IMAGE_PYTEST", "registry.example/pytest:9")
    settings = load_settings()
    assert (settings.image_pytest, settings.image_python) == (
        "registry.example/pytest:9",
        "docker.io/library/python:3.13-slim",
    )


def test_operator_renders_with_every_default_image() -> None:
    """The executor hands rendering one image per default image name, each from its own setting."""
    settings = load_settings(image_pytest="p:1", image_python="py:1", image_shell="sh:1", image_node="n:1")
    executor = Executor(kube=cast(Kube, None), settings=settings, recorder=Recorder(None), cache=EMPTY_CACHE)
    assert executor.render_options.images == dict(zip(IMAGE_NAMES, ["sh:1", "py:1", "p:1", "n:1"], strict=True))


def test_defaults_without_environment() -> None:
    """With no PACKGATE_* variable: cluster-wide, no database, the documented limits."""
    settings = load_settings()
    assert (settings.namespaces, settings.database_url, settings.max_concurrent_jobs) == ([], None, 10)


def test_api_timeout_workers_and_nonce_secret_defaults_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """PACKGATE_API_TIMEOUT_SECONDS (60), PACKGATE_API_WORKERS (16) and PACKGATE_NONCE_SECRET
    (unset) are read from the environment; the secret never shows in the settings' repr."""
    defaults = load_settings()
    assert (defaults.api_timeout_seconds, defaults.api_workers, defaults.nonce_secret) == (60, 16, None)
    monkeypatch.setenv("PACKGATE_API_TIMEOUT_SECONDS", "2.5")
    monkeypatch.setenv("PACKGATE_API_WORKERS", "4")
    monkeypatch.setenv("PACKGATE_NONCE_SECRET", "s3cret")
    settings = load_settings()
    assert settings.nonce_secret is not None
    assert (settings.api_timeout_seconds, settings.api_workers, settings.nonce_secret.get_secret_value()) == (
        2.5,
        4,
        "s3cret",
    )
    assert "s3cret" not in repr(settings)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        pytest.param(
            {"PACKGATE_API_TIMEOUT_SECONDS": "0"},
            "invalid setting PACKGATE_API_TIMEOUT_SECONDS: Input should be greater than 0",
            id="no timeout",
        ),
        pytest.param(
            {"PACKGATE_API_WORKERS": "1"},
            "invalid setting PACKGATE_API_WORKERS: Input should be greater than or equal to 2",
            id="one worker",
        ),
    ],
)
def test_api_settings_are_bounded(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str) -> None:
    """A zero timeout (no timeout at all) or a single client thread is refused, in one line."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(InvalidSetting) as raised:
        load_settings()
    assert str(raised.value) == message


def test_client_calls_get_a_pool_of_api_workers() -> None:
    """The operator's default executor (where asyncio.to_thread runs client calls and log streams)
    has PACKGATE_API_WORKERS threads."""
    from packgate.handlers import api_threads

    pool = api_threads(load_settings(api_workers=3))
    try:
        assert pool._max_workers == 3
    finally:
        pool.shutdown()


def test_webhook_delivery_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """PackWebhook delivery: 10 s timeout, 5 s doubling to 600 s, a 2 s poll by default; each from
    its PACKGATE_WEBHOOK_* variable, and a non-positive one is a one-line error."""
    defaults = load_settings()
    assert (
        defaults.webhook_timeout_seconds,
        defaults.webhook_retry_base_seconds,
        defaults.webhook_retry_max_seconds,
        defaults.webhook_poll_seconds,
    ) == (10.0, 5.0, 600.0, 2.0)
    monkeypatch.setenv("PACKGATE_WEBHOOK_RETRY_BASE_SECONDS", "0.5")
    monkeypatch.setenv("PACKGATE_WEBHOOK_POLL_SECONDS", "0.2")
    tuned = load_settings()
    assert (tuned.webhook_retry_base_seconds, tuned.webhook_poll_seconds) == (0.5, 0.2)
    monkeypatch.setenv("PACKGATE_WEBHOOK_TIMEOUT_SECONDS", "0")
    with pytest.raises(InvalidSetting) as caught:
        load_settings()
    assert str(caught.value) == "invalid setting PACKGATE_WEBHOOK_TIMEOUT_SECONDS: Input should be greater than 0"


def test_operator_renders_with_the_dependency_sources() -> None:
    """PACKGATE_PIP_INDEX_URL and PACKGATE_NPM_REGISTRY reach rendering (unset: the tools' own defaults)."""
    settings = load_settings(pip_index_url="http://10.0.0.1:8080/simple/", npm_registry="http://10.0.0.1:4873/")
    options = Executor(kube=cast(Kube, None), settings=settings, recorder=Recorder(None), cache=EMPTY_CACHE)
    assert (options.render_options.pip_index_url, options.render_options.npm_registry) == (
        "http://10.0.0.1:8080/simple/",
        "http://10.0.0.1:4873/",
    )
    plain = Executor(kube=cast(Kube, None), settings=load_settings(), recorder=Recorder(None), cache=EMPTY_CACHE)
    assert (plain.render_options.pip_index_url, plain.render_options.npm_registry) == (None, None)
