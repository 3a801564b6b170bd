"""What the operator knows of the cluster, fed by its watches: the entries each watched object
contributes to an index, and the reads a reconcile pass makes from those indexes.

Owns: `*_entries` (pure functions from one raw object to its index entries: a Pack's body, its
place in the admission queue, a Job's and a Pod's observed state by Pack uid, a ConfigMap's
presence and paths annotation) and `Cache`, the read side over the live index mappings the
handlers hand in (kopf's indexes: one mapping per index, key to a collection of entries).  Every
read is by key, so a pass costs the same whatever the number of Packs; the admission queue is
read whole (only the queued executions are in it).  Must not: import kopf, do I/O, or write.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

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
        """It holds a concurrency slot: neither complete nor failed."""
        return not self.state.finished


@dataclass(frozen=True)
class ConfigMapEntry:
    """A ConfigMap as far as a Pack's source needs it: it exists, and its paths annotation."""

    paths: str | None


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


def config_map_entries(body: Mapping[str, Any]) -> dict[Any, Any]:
    """A ConfigMap under (namespace, name)."""
    meta = body.get("metadata") or {}
    if not meta.get("name"):
        return {}
    paths = (meta.get("annotations") or {}).get(PATHS_ANNOTATION)
    return {(meta.get("namespace", ""), meta["name"]): ConfigMapEntry(paths=paths)}


@dataclass(frozen=True)
class Cache:
    """Reads from the watch-fed indexes (live: they change as events arrive)."""

    packs: Index
    queue: Index
    jobs: Index
    active_jobs: Index
    pods: Index
    config_maps: Index

    def pack(self, uid: str) -> dict[str, Any] | None:
        """The Pack's metadata, spec and status as last watched; None once it is gone."""
        return next(iter(self.packs.get(uid, ())), None)

    def pack_jobs(self, uid: str) -> list[JobState]:
        return [entry.state for entry in self.jobs.get(uid, ())]

    def pack_pods(self, uid: str) -> list[PodState]:
        return list(self.pods.get(uid, ()))

    def config_map(self, namespace: str, name: str) -> ConfigMapEntry | None:
        return next(iter(self.config_maps.get((namespace, name), ())), None)

    def active_by_namespace(self) -> dict[str, int]:
        """Jobs holding a concurrency slot, per namespace."""
        return {ns: count for ns, names in self.active_jobs.items() if (count := len(list(names)))}

    def waiting(self) -> list[Waiting]:
        """Every execution waiting for admission."""
        return list(self.queue.get(QUEUE, ()))
