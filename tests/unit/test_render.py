"""Unit tests of packgate.reconcile.render: the test Job of one runner (SPEC §3)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from builders import PACK, PYTHON, SHELL, raw_spec, spec_of

from packgate.api.spec import PackSpec, load_spec
from packgate.reconcile.render import (
    DEFAULT_RESOURCES,
    PackIdentity,
    RenderOptions,
    config_map_items,
    execution_id,
    job_name,
    render_job,
    spec_hash,
)
from packgate.wrapper import WRAPPER_SCRIPT

pytestmark = pytest.mark.unit

OPTIONS = RenderOptions(
    images={
        "shell": "registry.example/shell:1",
        "python": "registry.example/python:3.11",
        "pytest": "registry.example/runner-pytest:1",
        "node": "node:22",
    },
    git_image="registry.example/git:2.45",
    ttl_seconds=3600,
)
EXECUTION = "a1b2c3d4e5"
NONCE = "0123456789abcdef"
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")


def render(spec: PackSpec, runner: str = "shell", *, pack: PackIdentity = PACK, paths: str | None = None) -> Any:
    assert spec.testing is not None
    chosen = next(r for r in spec.testing.runners if r.name == runner)
    return render_job(pack, spec, chosen, execution=EXECUTION, nonce=NONCE, options=OPTIONS, config_map_paths=paths)


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


# -- names -----------------------------------------------------------------------------------


def test_job_name_is_deterministic_per_execution() -> None:
    """The same pack, runner and execution always give the same Job name; another execution another."""
    assert job_name("core", "shell", EXECUTION) == job_name("core", "shell", EXECUTION) == "core-shell-a1b2c3"
    assert job_name("core", "shell", "ffffff0000") != job_name("core", "shell", EXECUTION)


@pytest.mark.parametrize(
    "pack_name",
    [
        "core",
        "a" * 253,
        "my.very.long.pack.name.with.dots.that-goes-on-and-on-" + "x" * 60,
        "x" * 38 + "-" + "y" * 100,
        "UPPER.case",
    ],
)
@pytest.mark.parametrize("runner", ["shell", "integration-tests-with-a-long-name"])
def test_job_name_is_a_dns_label_of_at_most_63(pack_name: str, runner: str) -> None:
    """Job names stay valid DNS labels (≤ 63 chars, no dots, no edge dashes) for long pack names."""
    name = job_name(pack_name, runner, EXECUTION)
    assert len(name) <= 63
    assert DNS_LABEL.match(name), name


def test_job_names_of_runners_sharing_a_long_prefix_differ() -> None:
    """Two runners whose names share their first 16 characters still get distinct Jobs."""
    first = job_name("core", "integration-tests-a", EXECUTION)
    second = job_name("core", "integration-tests-b", EXECUTION)
    assert first != second
    assert DNS_LABEL.match(first) and DNS_LABEL.match(second)


def test_execution_id_is_deterministic_and_short() -> None:
    """An execution id depends on uid, spec hash, trigger and token only, and is 10 hex digits."""
    one = execution_id("uid-1", "hash", "install", "hash")
    assert one == execution_id("uid-1", "hash", "install", "hash")
    assert re.fullmatch(r"[0-9a-f]{10}", one)
    others = {
        execution_id("uid-2", "hash", "install", "hash"),
        execution_id("uid-1", "hash2", "install", "hash"),
        execution_id("uid-1", "hash", "update", "hash"),
        execution_id("uid-1", "hash", "install", "token"),
    }
    assert one not in others and len(others) == 4


# -- metadata and Job spec -------------------------------------------------------------------


def test_labels_and_owner_reference() -> None:
    """The Job and its pod carry pack, pack-uid, runner, execution and managed-by; the Pack owns the Job."""
    job = render(spec_of())
    expected = {
        "app.kubernetes.io/managed-by": "packgate",
        "packgate.dev/pack": "core",
        "packgate.dev/pack-uid": PACK.uid,
        "packgate.dev/runner": "shell",
        "packgate.dev/execution": EXECUTION,
    }
    assert job["metadata"]["labels"] == expected
    assert job["spec"]["template"]["metadata"]["labels"] == expected
    assert job["metadata"]["namespace"] == "automation"
    assert job["metadata"]["name"] == "core-shell-a1b2c3"
    assert job["metadata"]["ownerReferences"] == [
        {"apiVersion": "packgate.dev/v1alpha1", "kind": "Pack", "name": "core", "uid": PACK.uid, "controller": True}
    ]


@pytest.mark.parametrize("pack_name", ["a" * 62 + "-tail", "a" * 62 + ".tail", "b" * 200])
def test_pack_label_is_a_valid_label_value_for_long_names(pack_name: str) -> None:
    """The pack label stays a valid label value (≤ 63, alphanumeric at both ends) for any Pack name."""
    job = render(spec_of(), pack=PackIdentity("automation", pack_name, PACK.uid))
    value = job["metadata"]["labels"]["packgate.dev/pack"]
    assert len(value) <= 63
    assert LABEL_VALUE.match(value), value


def test_job_spec_limits() -> None:
    """backoffLimit 0, ttlSecondsAfterFinished from the options; the pod's activeDeadlineSeconds is
    the runner's timeout, the Job's 30 s later (so the pod is killed first and keeps its log)."""
    spec = spec_of(runners=[{**SHELL, "timeout": "90s"}, {**PYTHON, "timeout": "1h30m"}])
    shell, python = render(spec, "shell")["spec"], render(spec, "python")["spec"]
    assert (shell["backoffLimit"], shell["activeDeadlineSeconds"], shell["ttlSecondsAfterFinished"]) == (0, 120, 3600)
    assert shell["template"]["spec"]["activeDeadlineSeconds"] == 90
    assert (python["activeDeadlineSeconds"], python["template"]["spec"]["activeDeadlineSeconds"]) == (5430, 5400)
    default = render(spec_of())["spec"]
    assert (default["activeDeadlineSeconds"], default["template"]["spec"]["activeDeadlineSeconds"]) == (330, 300)


def test_the_pod_is_killed_at_its_timeout_well_before_the_job_deadline() -> None:
    """The runner pod's deadline plus its termination grace period ends before the Job's deadline,
    so the Job controller never deletes a timed-out pod (and its log) before Packgate reads it."""
    job = render(spec_of(runners=[{**SHELL, "timeout": "60s"}]))["spec"]
    pod = job["template"]["spec"]
    assert pod["activeDeadlineSeconds"] == 60
    assert pod["activeDeadlineSeconds"] + pod["terminationGracePeriodSeconds"] < job["activeDeadlineSeconds"]


def test_pod_is_restricted() -> None:
    """restartPolicy Never, no token, non-root 65532, RuntimeDefault seccomp, no service links."""
    pod = render(spec_of())["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["automountServiceAccountToken"] is False
    assert pod["enableServiceLinks"] is False
    security = pod["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["runAsUser"] == 65532
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}


@pytest.mark.parametrize(
    "source",
    [
        {"configMap": {"name": "core-pack"}},
        {"git": {"url": "https://git.example/packs/core.git", "secretRef": {"name": "git-creds"}}},
        {"image": {"reference": "registry.example/packs/core:1.0.0"}},
    ],
    ids=["configMap", "git", "image"],
)
def test_every_container_drops_privileges(source: dict[str, Any]) -> None:
    """Every container, init ones included: no privilege escalation, ALL capabilities dropped, limits set."""
    pod = render(load_spec(raw_spec(source=source)))["spec"]["template"]["spec"]
    containers = pod.get("initContainers", []) + pod["containers"]
    # A ConfigMap source needs no init container: the runner's wrapper copies it.
    assert [c["name"] for c in containers] == (["runner"] if "configMap" in source else ["fetch-pack", "runner"])
    for container in containers:
        security = container["securityContext"]
        assert security["allowPrivilegeEscalation"] is False, container["name"]
        assert security["capabilities"] == {"drop": ["ALL"]}, container["name"]
        assert set(container["resources"]) == {"requests", "limits"}, container["name"]


def test_default_and_custom_resources() -> None:
    """The runner gets default requests/limits unless it declares its own."""
    custom = {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}}
    spec = spec_of(runners=[SHELL, {**PYTHON, "resources": custom}])
    assert render(spec, "shell")["spec"]["template"]["spec"]["containers"][0]["resources"] == DEFAULT_RESOURCES
    assert render(spec, "python")["spec"]["template"]["spec"]["containers"][0]["resources"] == custom


def test_runner_container_runs_the_wrapper() -> None:
    """The runner runs the POSIX-sh wrapper around the type's command, in the workspace, with the nonce
    (and, for a pytest runner, pip as the tool that installs a requirements.txt first)."""
    spec = spec_of(runners=[{**PYTHON, "resultPath": "results/junit.xml", "env": [{"name": "CI", "value": "1"}]}])
    runner = render(spec, "python")["spec"]["template"]["spec"]["containers"][0]
    assert runner["image"] == "registry.example/runner-pytest:1"
    assert runner["command"] == [
        "/bin/sh",
        "-c",
        WRAPPER_SCRIPT,
        "packgate-wrapper",
        "python3",
        "-m",
        "pytest",
        "-v",
        "tests/",
    ]
    assert runner["workingDir"] == "/workspace"
    assert env_of(runner) == {
        "PACKGATE_NONCE": NONCE,
        "PACKGATE_WORKSPACE": "/workspace",
        "PACKGATE_SOURCE": "/packgate/source",
        "PACKGATE_RESULT_PATH": "results/junit.xml",
        "PACKGATE_INSTALL": "pip",
        "HOME": "/tmp",
        "CI": "1",
    }


@pytest.mark.parametrize(
    ("runner_type", "image"),
    [
        ("script", "registry.example/shell:1"),
        ("tap", "registry.example/shell:1"),
        ("unittest", "registry.example/python:3.11"),
        ("pytest", "registry.example/runner-pytest:1"),
        ("node", "node:22"),
    ],
)
def test_default_image_follows_runner_type(runner_type: str, image: str) -> None:
    """A runner without its own image gets its type's default image; pytest runners have their own."""
    spec = spec_of(runners=[{"name": "r", "type": runner_type, "entryPoint": "tests/t"}])
    assert render(spec, "r")["spec"]["template"]["spec"]["containers"][0]["image"] == image


def test_runner_image_overrides_the_default() -> None:
    """A runner's own image wins over the runtime's default image."""
    spec = spec_of(runners=[{**SHELL, "image": "busybox:1.36"}])
    assert render(spec)["spec"]["template"]["spec"]["containers"][0]["image"] == "busybox:1.36"


def test_runner_env_value_from_is_kept() -> None:
    """env entries with valueFrom reach the container unchanged."""
    secret = {"secretKeyRef": {"name": "api", "key": "token"}}
    spec = spec_of(runners=[{**SHELL, "env": [{"name": "API_TOKEN", "valueFrom": secret}]}])
    assert env_of(render(spec)["spec"]["template"]["spec"]["containers"][0])["API_TOKEN"] == secret


# -- sources ---------------------------------------------------------------------------------


def test_config_map_source() -> None:
    """A ConfigMap source: mounted read-only in the runner, whose wrapper copies it into the
    workspace first (PACKGATE_SOURCE; no init container), items from paths."""
    paths = json.dumps({"actions__echo.sh": "actions/echo.sh", "tests__test_actions.sh": "tests/test_actions.sh"})
    pod = render(spec_of(), paths=paths)["spec"]["template"]["spec"]
    assert "initContainers" not in pod
    [runner] = pod["containers"]
    assert env_of(runner)["PACKGATE_SOURCE"] == "/packgate/source"
    assert {"name": "source", "mountPath": "/packgate/source", "readOnly": True} in runner["volumeMounts"]
    assert {"name": "workspace", "mountPath": "/workspace"} in runner["volumeMounts"]
    assert 'cp -R "$PACKGATE_SOURCE/." "${PACKGATE_WORKSPACE:-.}/"' in WRAPPER_SCRIPT
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes["workspace"]
    assert volumes["source"]["configMap"] == {
        "name": "core-pack",
        "defaultMode": 0o755,
        "items": [
            {"key": "actions__echo.sh", "path": "actions/echo.sh"},
            {"key": "tests__test_actions.sh", "path": "tests/test_actions.sh"},
        ],
    }


def test_config_map_without_paths_annotation_mounts_all_keys() -> None:
    """Without a paths annotation the ConfigMap is mounted whole (no items)."""
    volumes = {v["name"]: v for v in render(spec_of())["spec"]["template"]["spec"]["volumes"]}
    assert volumes["source"]["configMap"] == {"name": "core-pack", "defaultMode": 0o755}


@pytest.mark.parametrize(
    ("annotation", "expected"),
    [
        (None, None),
        ("", None),
        ("not json", None),
        ('["a", "b"]', None),
        ('{"b": "x/b.sh", "a": "a.sh"}', [{"key": "a", "path": "a.sh"}, {"key": "b", "path": "x/b.sh"}]),
    ],
)
def test_config_map_items(annotation: str | None, expected: list[dict[str, str]] | None) -> None:
    """configMap items come from the paths annotation's JSON object, sorted by key; anything else is ignored."""
    assert config_map_items(annotation) == expected


def test_git_source() -> None:
    """A git source: the git image clones into the workspace, credentials from the secretRef (optional keys)."""
    source = {
        "git": {
            "url": "https://git.example/packs/core.git",
            "revision": "v1.0.0",
            "path": "/packs/core/",
            "secretRef": {"name": "git-creds"},
        }
    }
    pod = render(load_spec(raw_spec(source=source)))["spec"]["template"]["spec"]
    fetch = pod["initContainers"][0]
    assert fetch["image"] == "registry.example/git:2.45"
    assert "git" in fetch["command"][2] and "clone" in fetch["command"][2]
    assert env_of(fetch) == {
        "PACK_GIT_URL": "https://git.example/packs/core.git",
        "PACK_GIT_REVISION": "v1.0.0",
        "PACK_GIT_PATH": "packs/core",
        "HOME": "/tmp",
        "GIT_USERNAME": {"secretKeyRef": {"name": "git-creds", "key": "username", "optional": True}},
        "GIT_PASSWORD": {"secretKeyRef": {"name": "git-creds", "key": "password", "optional": True}},
    }
    assert "source" not in {v["name"] for v in pod["volumes"]}


def test_git_source_without_secret() -> None:
    """A public git source gets no credential env."""
    pod = render(load_spec(raw_spec(source={"git": {"url": "https://git.example/core.git"}})))
    fetch = pod["spec"]["template"]["spec"]["initContainers"][0]
    assert env_of(fetch) == {
        "PACK_GIT_URL": "https://git.example/core.git",
        "PACK_GIT_REVISION": "HEAD",
        "PACK_GIT_PATH": "",
        "HOME": "/tmp",
    }


def test_image_source() -> None:
    """An image source: an init container of the pack image copies its path into the workspace."""
    source = {"image": {"reference": "registry.example/packs/core:1.0.0", "path": "/opt/pack/"}}
    fetch = render(load_spec(raw_spec(source=source)))["spec"]["template"]["spec"]["initContainers"][0]
    assert fetch["image"] == "registry.example/packs/core:1.0.0"
    assert fetch["command"] == ["/bin/sh", "-c", 'cp -R "/opt/pack/." "/workspace/"']


# -- pod options -----------------------------------------------------------------------------


def test_pod_options_are_passed_through() -> None:
    """nodeSelector, tolerations, imagePullSecrets, serviceAccountName and priorityClassName reach the pod."""
    options = {
        "nodeSelector": {"kubernetes.io/arch": "amd64"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "tests", "effect": "NoSchedule"}],
        "imagePullSecrets": [{"name": "regcred"}],
        "serviceAccountName": "pack-tests",
        "priorityClassName": "low",
    }
    pod = render(spec_of(testing={"pod": options}))["spec"]["template"]["spec"]
    assert {k: pod[k] for k in options} == options


def test_no_pod_options_no_keys() -> None:
    """Unset pod options do not appear in the pod spec."""
    pod = render(spec_of())["spec"]["template"]["spec"]
    assert not {"nodeSelector", "tolerations", "imagePullSecrets", "serviceAccountName", "priorityClassName"} & set(pod)


# -- spec hash -------------------------------------------------------------------------------

BASE = spec_of()


@pytest.mark.parametrize(
    "changed",
    [
        spec_of(version="1.0.1"),
        spec_of(source={"configMap": {"name": "core-pack-v2"}}),
        spec_of(runners=[SHELL]),
        spec_of(runners=[{**SHELL, "timeout": "60s"}, PYTHON]),
        spec_of(testing={"pod": {"nodeSelector": {"a": "b"}}}),
        spec_of(testing={"enabled": False}),
    ],
    ids=["version", "source", "runners", "runner-field", "pod", "enabled"],
)
def test_spec_hash_changes_with_what_runs(changed: PackSpec) -> None:
    """version, source, runners, pod options and enabled change the spec hash (a new execution is needed)."""
    assert spec_hash(changed) != spec_hash(BASE)


@pytest.mark.parametrize(
    "changed",
    [
        spec_of(testing={"minPassRate": 0.5}),
        spec_of(testing={"onFailure": "warn"}),
        spec_of(force=True),
        spec_of(skipTests=True),
        spec_of(testing={"revalidateEvery": "1h"}),
    ],
    ids=["minPassRate", "onFailure", "force", "skipTests", "revalidateEvery"],
)
def test_spec_hash_ignores_policy(changed: PackSpec) -> None:
    """minPassRate, onFailure, force and skipTests only change the verdict, not the hash."""
    assert spec_hash(changed) == spec_hash(BASE)
