"""Unit tests of packgate.reconcile.cache: which index entries a watched object gives, and the
reads a pass makes from the indexes (plain dicts stand in for kopf's live index mappings: key to
a collection of entries)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from builders import EMPTY_CACHE

from packgate.reconcile.cache import (
    INDEXES,
    QUEUE,
    Cache,
    ConfigMapEntry,
    JobEntry,
    LastSeen,
    active_job_entries,
    config_map_entries,
    dependent_entries,
    ended_pod_entries,
    job_entries,
    pack_entries,
    pack_node_entries,
    pod_entries,
    queue_entries,
)
from packgate.reconcile.depends import PackNode
from packgate.reconcile.digest import config_map_digest
from packgate.reconcile.observe import job_state, pod_state
from packgate.reconcile.plan import JobState
from packgate.reconcile.queue import Waiting
from packgate.reconcile.render import LABEL_EXECUTION, LABEL_PACK_UID, LABEL_RUNNER, PATHS_ANNOTATION

pytestmark = pytest.mark.unit


def pack(uid: str = "u1", **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "core", "namespace": "ns", "uid": uid, "resourceVersion": "7"},
        "spec": {"version": "1.0.0"},
        "status": status,
    }


def managed_job(name: str, *, uid: str = "u1", namespace: str = "ns", complete: bool = False) -> dict[str, Any]:
    labels = {LABEL_PACK_UID: uid, LABEL_RUNNER: "shell", LABEL_EXECUTION: "e1"}
    conditions = [{"type": "Complete", "status": "True"}] if complete else []
    return {"metadata": {"name": name, "namespace": namespace, "labels": labels}, "status": {"conditions": conditions}}


def test_a_pack_is_cached_by_uid_with_what_a_pass_reads() -> None:
    """A Pack's entry is its metadata, spec and status, under its uid; no uid, no entry."""
    body = pack()
    assert pack_entries(body) == {"u1": {"metadata": body["metadata"], "spec": body["spec"], "status": {}}}
    assert pack_entries({"metadata": {"name": "x"}}) == {}


@pytest.mark.parametrize(
    ("status", "meta", "expected"),
    [
        ({}, {}, {}),
        ({"currentExecution": {"queuedAt": "t1", "runners": ["a", "b"]}}, {}, {QUEUE: Waiting("t1", "u1", "ns", 2)}),
        ({"currentExecution": {"queuedAt": "t1", "startedAt": "t2", "runners": ["a"]}}, {}, {}),
        ({"currentExecution": {"queuedAt": "t1", "runners": ["a"]}}, {"deletionTimestamp": "t3"}, {}),
    ],
)
def test_only_a_waiting_execution_is_in_the_queue(
    status: dict[str, Any], meta: dict[str, Any], expected: dict[str, Any]
) -> None:
    """The queue index holds executions written but not started; a started one, a Pack without
    one and a Pack being deleted give no entry (an empty mapping, so kopf drops an old one)."""
    body = pack(**status)
    body["metadata"].update(meta)
    assert queue_entries(body) == expected


def test_jobs_are_cached_by_pack_uid_and_count_while_active() -> None:
    """A managed Job is cached under its Pack's uid; it counts against its namespace's slots only
    until it completes."""
    running, done = managed_job("core-shell-1"), managed_job("core-shell-0", complete=True)
    [entry] = job_entries(running).values()
    assert (entry.namespace, entry.state.name, entry.state.execution) == ("ns", "core-shell-1", "e1")
    assert entry.active
    assert active_job_entries(running) == {"ns": "core-shell-1"}
    assert active_job_entries(done) == {}
    assert job_entries({"metadata": {"name": "other", "labels": {}}}) == {}


def test_a_job_whose_runner_pod_ended_frees_its_slot() -> None:
    """A pod that Succeeded or Failed is indexed under its Job; such a Job no longer counts against
    its namespace's slots, though it is not complete yet.  A runner's exit code alone does not
    free the slot: the pod still holds its place on the node until the kubelet ends it."""

    def raw_pod(phase: str, terminated: dict[str, Any] | None = None) -> dict[str, Any]:
        state = {"terminated": terminated} if terminated else {"running": {}}
        return {
            "metadata": {"name": "p", "namespace": "ns", "labels": {LABEL_PACK_UID: "u1", "job-name": "j"}},
            "status": {"phase": phase, "containerStatuses": [{"name": "runner", "state": state}]},
        }

    assert ended_pod_entries(raw_pod("Running")) == {}
    assert ended_pod_entries(raw_pod("Running", {"exitCode": 0})) == {}
    assert ended_pod_entries(raw_pod("Succeeded", {"exitCode": 0})) == {("ns", "j"): True}
    assert ended_pod_entries(raw_pod("Failed")) == {("ns", "j"): True}
    assert ended_pod_entries({"metadata": {"name": "x", "labels": {}}, "status": {"phase": "Failed"}}) == {}
    cache = dataclasses.replace(
        EMPTY_CACHE,
        active_jobs={"ns": ["j", "k"], "other": ["x"]},
        ended_pods={("ns", "j"): [True], ("other", "x"): [True]},
    )
    assert cache.active_by_namespace() == {"ns": 1}


def test_an_event_that_changes_nothing_a_pass_reads_wakes_no_pass() -> None:
    """The kubelet's condition and timestamp updates leave a pod's state as a pass reads it; its
    runner starting and ending change it, and so does the object going (always a change)."""

    def raw_pod(phase: str, ready: str, state: dict[str, Any]) -> dict[str, Any]:
        return {
            "metadata": {"name": "p", "namespace": "ns", "labels": {LABEL_PACK_UID: "u1", "job-name": "j"}},
            "status": {
                "phase": phase,
                "conditions": [{"type": "Ready", "status": ready, "lastTransitionTime": "2026-11-30T06:00:00Z"}],
                "containerStatuses": [{"name": "runner", "state": state}],
            },
        }

    seen = LastSeen()
    key = ("Pod", "ns", "p")
    creating = raw_pod("Pending", "False", {"waiting": {"reason": "ContainerCreating"}})
    assert seen.changed(key, pod_state(creating))
    assert not seen.changed(key, pod_state(raw_pod("Pending", "False", {"waiting": {"reason": "ContainerCreating"}})))
    assert seen.changed(key, pod_state(raw_pod("Running", "False", {"running": {}})))
    assert not seen.changed(key, pod_state(raw_pod("Running", "True", {"running": {}})))  # only Ready moved
    assert seen.changed(key, pod_state(raw_pod("Succeeded", "False", {"terminated": {"exitCode": 0}})))
    assert seen.changed(key, None) and seen.changed(key, None)
    assert seen.changed(key, pod_state(creating))  # a new pod of that name
    job = {"metadata": {"name": "j", "namespace": "ns", "labels": {LABEL_RUNNER: "shell"}}, "status": {"active": 1}}
    assert seen.changed(("Job", "ns", "j"), job_state(job))
    assert not seen.changed(("Job", "ns", "j"), job_state({**job, "status": {"active": 1, "ready": 1}}))
    assert not seen.changed(key, pod_state(creating))  # kinds apart


def test_the_caches_hold_what_the_api_server_lists_only_once_every_object_is_in() -> None:
    """After a resume, the daemons wait until every listed Job and ConfigMap is in the caches."""
    job = JobEntry(namespace="ns", state=JobState(name="j", runner="shell", execution="e1"))
    cache = dataclasses.replace(EMPTY_CACHE, jobs={"u1": [job]}, config_maps={("ns", "cm"): [ConfigMapEntry(None)]})
    assert cache.holds([("ns", "j")], [("ns", "cm")])
    assert cache.holds([], [])
    assert not cache.holds([("ns", "j"), ("ns", "k")], [("ns", "cm")])  # a Job not listed again yet
    assert not cache.holds([("ns", "j")], [("ns", "cm"), ("other", "cm")])
    assert not cache.holds([("other", "j")], [])  # the same name in another namespace


def test_pods_and_config_maps_are_cached_by_their_keys() -> None:
    """A managed pod under its Pack's uid; a ConfigMap under (namespace, name) with its paths annotation."""
    raw_pod = {
        "metadata": {"name": "p", "labels": {LABEL_PACK_UID: "u1", "batch.kubernetes.io/job-name": "j"}},
        "status": {"phase": "Running"},
    }
    [state] = pod_entries(raw_pod).values()
    assert (state.name, state.job, state.phase) == ("p", "j", "Running")
    cm = {"metadata": {"name": "src", "namespace": "ns", "annotations": {PATHS_ANNOTATION: "{}"}}}
    assert config_map_entries(cm) == {("ns", "src"): ConfigMapEntry(paths="{}", digest=config_map_digest({}, {}, "{}"))}


def test_a_config_map_entry_carries_its_content_digest() -> None:
    """The ConfigMap's entry carries the digest of its data, binaryData and paths annotation: the
    same content gives the same digest, any change another."""
    meta = {"name": "src", "namespace": "ns"}
    one = config_map_entries({"metadata": meta, "data": {"a.sh": "echo 1"}, "binaryData": {"b": "AA=="}})
    same = config_map_entries(
        {"metadata": {**meta, "resourceVersion": "9"}, "data": {"a.sh": "echo 1"}, "binaryData": {"b": "AA=="}}
    )
    other = config_map_entries({"metadata": meta, "data": {"a.sh": "echo 2"}, "binaryData": {"b": "AA=="}})
    digest = one[("ns", "src")].digest
    assert digest == config_map_digest({"a.sh": "echo 1"}, {"b": "AA=="}, None)
    assert same[("ns", "src")].digest == digest
    assert other[("ns", "src")].digest != digest


def test_the_cache_reads_by_key_and_counts_slots_per_namespace() -> None:
    """Reads are by key: the Pack, its Jobs and pods, a ConfigMap; slots per namespace count the
    active Jobs; the queue lists every waiting execution."""
    job = JobState(name="j", runner="shell", execution="e1")
    jobs = job_entries(managed_job("j"))
    waiting = Waiting("t1", "u2", "ns", 1)
    cache = Cache(
        packs={"u1": [pack_entries(pack())["u1"]]},
        queue={QUEUE: [waiting]},
        jobs={"u1": list(jobs.values())},
        active_jobs={"ns": ["j", "k"], "other": ["x"], "empty": []},
        pods={},
        ended_pods={},
        config_maps={("ns", "src"): [ConfigMapEntry(paths=None)]},
        pack_nodes={},
        dependents={},
    )
    packed = cache.pack("u1")
    assert packed is not None and packed["metadata"]["resourceVersion"] == "7"
    assert cache.pack("gone") is None
    assert cache.pack_jobs("u1") == [job]
    assert (cache.pack_pods("u1"), cache.pack_jobs("u2")) == ([], [])
    assert cache.config_map("ns", "src") == ConfigMapEntry(paths=None)
    assert cache.config_map("ns", "missing") is None
    assert cache.active_by_namespace() == {"ns": 2, "other": 1}
    assert cache.waiting() == [waiting]


def test_packs_are_indexed_for_dependency_resolution_and_their_dependents() -> None:
    """Each Pack gives its node (active version, dependsOn names) under (namespace, name), and
    its uid under (namespace, name) of each Pack it depends on; a namespace's Packs are read
    by name."""
    body = pack(activeVersion="1.2.0")
    body["spec"]["dependsOn"] = [{"name": "core", "version": "^1"}, {"name": "net", "version": "*"}]
    nodes = pack_node_entries(body)
    assert nodes == {("ns", "core"): PackNode("1.2.0", ("core", "net"))}
    assert dependent_entries(body) == {("ns", "core"): "u1", ("ns", "net"): "u1"}
    cache = Cache(
        packs={},
        queue={},
        jobs={},
        active_jobs={},
        pods={},
        ended_pods={},
        config_maps={},
        pack_nodes={key: [node] for key, node in nodes.items()},
        dependents={("ns", "core"): ["u2", "u3"]},
    )
    packs = cache.namespace_packs("ns")
    assert (packs.get("core"), packs.get("other"), "core" in packs) == (PackNode("1.2.0", ("core", "net")), None, True)
    assert cache.namespace_packs("elsewhere").get("core") is None
    assert (cache.dependents_of("ns", "core"), cache.dependents_of("ns", "net")) == (["u2", "u3"], [])


def test_every_cache_field_has_exactly_one_index() -> None:
    """The handlers register one kopf index per entry of INDEXES, and the Cache is built from
    them by name: the names are exactly the Cache's fields."""
    assert sorted(spec.name for spec in INDEXES) == sorted(f.name for f in dataclasses.fields(Cache))
