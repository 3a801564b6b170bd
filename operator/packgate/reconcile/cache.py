"""What the operator knows of the cluster, fed by its watches: the entries each watched object
contributes to an index, and the reads a reconcile pass makes from those indexes.

Owns: `*_entries` (pure functions from one raw object to its index entries: a Pack's body, its
place in the admission queue, a Job's and a Pod's observed state by Pack uid, a ConfigMap's
presence, paths annotation and content digest), `LastSeen` (whether a Job's or Pod's event changed
what a pass reads of it) and `Cache`, the read side over the live index mappings the
handlers hand in (kopf's indexes: one mapping per index, key to a collection of entries).  Every
read is by key, so a pass costs the same whatever the number of Packs; the admission queue is
read whole (only the queued executions are in it).  Must not: import kopf, do I/O, or write.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from packgate.api.spec import GROUP, PLURAL, VERSION
from packgate.reconcile.depends import PackNode, pack_node
from packgate.reconcile.digest import config_map_digest
from packgate.reconcile.observe import job_state, pod_state
from packgate.reconcile.plan import JobState, PodState
from packgate.reconcile.queue import Waiting
from packgate.reconcile.render import LABEL_PACK_UID, PATHS_ANNOTATION

QUEUE = "queued"
"""The one key of the admission-queue index: every queued execution is an entry under it."""

Index = Mapping[Any, Iterable[Any]]
"""A live index: key to the entries of every object indexed under it (kopf's `Index`)."""


@dataclass(frozen=True)
class JobEntry:
    """A managed Job as the cache keeps it: its observed state and where its slot is counted."""

    namespace: str
    state: JobState

    @property
    def active(self) -> bool:
        """It may hold a concurrency slot: neither complete nor failed (its pod may have ended:
        `Cache.active_by_namespace` checks the pods too)."""
        return not self.state.finished


@dataclass(frozen=True)
class ConfigMapEntry:
    """A ConfigMap as far as a Pack's source needs it: it exists, its paths annotation, and the
    digest of its content (data, binaryData and paths: reconcile.digest.config_map_digest)."""

    paths: str | None
    digest: str | None = None


def pack_entries(body: Mapping[str, Any]) -> dict[Any, Any]:
    """A Pack by its uid: the parts a pass reads (metadata, spec, status)."""
    meta = body.get("metadata") or {}
    uid = meta.get("uid")
    if not uid:
        return {}
    return {uid: {"metadata": dict(meta), "spec": body.get("spec") or {}, "status": body.get("status") or {}}}


def queue_entries(body: Mapping[str, Any]) -> dict[Any, Any]:
    """A Pack's execution waiting for admission (status.currentExecution with no startedAt), under
    `QUEUE`; nothing for a Pack that is not waiting (or is being deleted)."""
    meta = body.get("metadata") or {}
    current = (body.get("status") or {}).get("currentExecution") or {}
    if not current or current.get("startedAt") or meta.get("deletionTimestamp") or not meta.get("uid"):
        return {}
    return {
        QUEUE: Waiting(
            queued_at=str(current.get("queuedAt") or ""),
            uid=meta["uid"],
            namespace=meta.get("namespace", ""),
            jobs=len(current.get("runners") or []),
        )
    }


def pack_node_entries(body: Mapping[str, Any]) -> dict[Any, Any]:
    """A Pack's active version and dependencies, under (namespace, name): what spec.dependsOn of
    the other Packs of its namespace resolves against."""
    meta = body.get("metadata") or {}
    if not meta.get("name"):
        return {}
    return {(meta.get("namespace", ""), meta["name"]): pack_node(body)}


def dependent_entries(body: Mapping[str, Any]) -> dict[Any, Any]:
    """A Pack's uid under (namespace, name) of each Pack its spec.dependsOn names: whom to wake
    when that Pack changes."""
    meta = body.get("metadata") or {}
    if not meta.get("uid"):
        return {}
    return {(meta.get("namespace", ""), name): meta["uid"] for name in pack_node(body).depends_on}


def job_entries(body: Mapping[str, Any]) -> dict[Any, Any]:
    """A managed Job under the uid of the Pack it runs for."""
    meta = body.get("metadata") or {}
    uid = (meta.get("labels") or {}).get(LABEL_PACK_UID)
    if not uid:
        return {}
    return {uid: JobEntry(namespace=meta.get("namespace", ""), state=job_state(dict(body)))}


def active_job_entries(body: Mapping[str, Any]) -> dict[Any, Any]:
    """A managed Job that holds a concurrency slot, under its namespace (the entry is its name)."""
    entries = job_entries(body)
    if not entries:
        return {}
    (entry,) = entries.values()
    return {entry.namespace: entry.state.name} if entry.active else {}


def pod_entries(body: Mapping[str, Any]) -> dict[Any, Any]:
    """A managed Job's pod under the uid of the Pack it runs for."""
    meta = body.get("metadata") or {}
    uid = (meta.get("labels") or {}).get(LABEL_PACK_UID)
    if not uid:
        return {}
    return {uid: pod_state(dict(body))}


def ended_pod_entries(body: Mapping[str, Any]) -> dict[Any, Any]:
    """A managed pod that has ended (`PodState.ended`), under (namespace, its Job's name):
    that Job no longer holds a concurrency slot, though the Job controller marks it complete only
    seconds later."""
    entries = pod_entries(body)
    if not entries:
        return {}
    (state,) = entries.values()
    if not state.ended:
        return {}
    return {((body.get("metadata") or {}).get("namespace", ""), state.job): True}


def config_map_entries(body: Mapping[str, Any]) -> dict[Any, Any]:
    """A ConfigMap under (namespace, name)."""
    meta = body.get("metadata") or {}
    if not meta.get("name"):
        return {}
    paths = (meta.get("annotations") or {}).get(PATHS_ANNOTATION)
    digest = config_map_digest(body.get("data"), body.get("binaryData"), paths)
    return {(meta.get("namespace", ""), meta["name"]): ConfigMapEntry(paths=paths, digest=digest)}


@dataclass(frozen=True)
class IndexSpec:
    """One watch-fed index: its name (the `Cache` field it feeds), the resource watched, whether
    only Packgate's own (managed-by) objects are watched, and the entries one object gives."""

    name: str
    group: str
    version: str
    plural: str
    managed_only: bool
    entries: Callable[[Mapping[str, Any]], dict[Any, Any]]


INDEXES = (
    IndexSpec("packs", GROUP, VERSION, PLURAL, False, pack_entries),
    IndexSpec("queue", GROUP, VERSION, PLURAL, False, queue_entries),
    IndexSpec("pack_nodes", GROUP, VERSION, PLURAL, False, pack_node_entries),
    IndexSpec("dependents", GROUP, VERSION, PLURAL, False, dependent_entries),
    IndexSpec("jobs", "batch", "v1", "jobs", True, job_entries),
    IndexSpec("active_jobs", "batch", "v1", "jobs", True, active_job_entries),
    IndexSpec("pods", "", "v1", "pods", True, pod_entries),
    IndexSpec("ended_pods", "", "v1", "pods", True, ended_pod_entries),
    IndexSpec("config_maps", "", "v1", "configmaps", False, config_map_entries),
)
"""Every index the handlers register, one per `Cache` field."""


@dataclass(frozen=True)
class NamespacePacks(Mapping[str, PackNode]):
    """The Packs of one namespace by name, read by key from the pack-node index (lookups only:
    what dependency resolution does; iterating is not offered, it would be a scan)."""

    nodes: Index
    namespace: str

    def __getitem__(self, name: str) -> PackNode:
        found = next(iter(self.nodes.get((self.namespace, name), ())), None)
        if found is None:
            raise KeyError(name)
        return found  # type: ignore[no-any-return]

    def __iter__(self) -> Iterator[str]:
        raise TypeError("the Packs of a namespace are looked up by name, not listed")

    def __len__(self) -> int:
        raise TypeError("the Packs of a namespace are looked up by name, not counted")


class LastSeen:
    """The state each watched Job and Pod last showed (`job_state`, `pod_state`: what a pass reads
    of it), so that an event changing nothing of it wakes no pass.  Most of a pod's events are the
    kubelet's condition and timestamp updates, and a Job's the Job controller's pod counts."""

    def __init__(self) -> None:
        self._states: dict[tuple[str, str, str], object] = {}

    def changed(self, key: tuple[str, str, str], state: object | None) -> bool:
        """Whether `state` differs from the one last noted under `key` (kind, namespace, name),
        noting it; None (the object is gone) is always a change."""
        if state is None:
            self._states.pop(key, None)
            return True
        if self._states.get(key) == state:
            return False
        self._states[key] = state
        return True


@dataclass(frozen=True)
class Cache:
    """Reads from the watch-fed indexes (live: they change as events arrive)."""

    packs: Index
    queue: Index
    jobs: Index
    active_jobs: Index
    pods: Index
    ended_pods: Index
    config_maps: Index
    pack_nodes: Index
    dependents: Index

    def pack(self, uid: str) -> dict[str, Any] | None:
        """The Pack's metadata, spec and status as last watched; None once it is gone."""
        return next(iter(self.packs.get(uid, ())), None)

    def pack_jobs(self, uid: str) -> list[JobState]:
        return [entry.state for entry in self.jobs.get(uid, ())]

    def pack_pods(self, uid: str) -> list[PodState]:
        return list(self.pods.get(uid, ()))

    def config_map(self, namespace: str, name: str) -> ConfigMapEntry | None:
        return next(iter(self.config_maps.get((namespace, name), ())), None)

    def namespace_packs(self, namespace: str) -> NamespacePacks:
        """The Packs of `namespace` as spec.dependsOn sees them (by name)."""
        return NamespacePacks(self.pack_nodes, namespace)

    def dependents_of(self, namespace: str, name: str) -> list[str]:
        """The uids of the Packs whose spec.dependsOn names this one."""
        return list(self.dependents.get((namespace, name), ()))

    def holds(self, jobs: Iterable[tuple[str, str]], config_maps: Iterable[tuple[str, str]]) -> bool:
        """Whether every (namespace, name) of these Jobs and ConfigMaps is in the caches: after the
        operator resumes from a pause, kopf lists each resource again, and a pass that read a Job or
        ConfigMap cache still filling would take a Job for removed or a ConfigMap for missing."""
        cached = {(entry.namespace, entry.state.name) for entries in self.jobs.values() for entry in entries}
        return all(job in cached for job in jobs) and all(key in self.config_maps for key in config_maps)

    def active_by_namespace(self) -> dict[str, int]:
        """Jobs holding a concurrency slot, per namespace: not finished, and their runner pod has
        not ended (reads by key: the active Jobs are at most the limits)."""
        counts = {}
        for ns, names in self.active_jobs.items():
            if count := sum(1 for name in names if (ns, name) not in self.ended_pods):
                counts[ns] = count
        return counts

    def waiting(self) -> list[Waiting]:
        """Every execution waiting for admission."""
        return list(self.queue.get(QUEUE, ()))
