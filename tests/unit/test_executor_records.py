"""Unit tests of the executor's recording: the verdict is always written, within the status budget,
whether PostgreSQL takes the record, is down (deferred, compact, capped), refuses it (reported,
never retried) or is not configured at all (nothing deferred).

The API server and the database are small in-memory fakes that record what they were asked; the
planner, the status budget and the compaction are the real ones.  Reading logs is not exercised:
the executor's `_collect_one` is replaced by the suite the runner would have produced.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any, cast

import pytest
from builders import NOW, PACK, job, observed, pod, running_status, spec_of, suite
from test_status import failing_suite, record_of

from packgate.api.status import PENDING_RECORDS_MAX, STATUS_MAX_BYTES, compact_record, json_size, load_status
from packgate.db.models import ExecutionRecord
from packgate.errors import DatabaseUnavailable, RecordRefused
from packgate.executor import Executor, Recorder
from packgate.k8s.client import Kube
from packgate.reconcile.plan import Event, plan
from packgate.results import TestSuiteResult
from packgate.settings import load_settings

pytestmark = pytest.mark.unit

SPEC = spec_of(runners=[{"name": "junit", "type": "command", "command": ["sh", "run.sh"]}])


class FakeKube:
    """The Pack's status as the API server keeps it, and every status patch."""

    def __init__(self, status: dict[str, Any] | None = None) -> None:
        self.status: dict[str, Any] = status or {}
        self.patches: list[dict[str, Any]] = []

    async def get_pack(self, namespace: str, name: str) -> dict[str, Any]:
        return {"metadata": {"namespace": namespace, "name": name, "uid": PACK.uid}, "status": self.status}

    async def patch_pack_status(self, namespace: str, name: str, patch: dict[str, Any]) -> None:
        if json_size(patch) > STATUS_MAX_BYTES:
            raise AssertionError("the API server would refuse this")
        self.patches.append(patch)
        self.status = _merge(self.status, patch)


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """RFC 7386 merge patch."""
    out = dict(target)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


class FakeDatabase:
    """Writes records, or raises what it is told to for some execution ids."""

    def __init__(self, failures: dict[str, Exception] | None = None) -> None:
        self.failures = failures or {}
        self.written: list[ExecutionRecord] = []

    async def record_execution(self, record: ExecutionRecord) -> bool:
        failure = self.failures.get(record.execution_id)
        if failure is not None:
            raise failure
        self.written.append(record)
        return True

    async def last_case_statuses(self, *_: Any, **__: Any) -> dict[str, Any]:
        return {}


class FakeRecorder(Recorder):
    """A configured database that is down (None) or the given fake."""

    def __init__(self, db: FakeDatabase | None) -> None:
        super().__init__("postgresql://db:5432/packgate")
        self.db = db
        self.lost_count = 0

    async def database(self) -> Any:
        return self.db

    async def lost(self) -> None:
        self.lost_count += 1


def executor(kube: FakeKube, recorder: Recorder, collected: TestSuiteResult) -> Executor:
    ex = Executor(kube=cast(Kube, kube), settings=load_settings(), recorder=recorder)
    ex._collect_one = lambda *_: collected  # type: ignore[method-assign]
    return ex


def conclude_once(ex: Executor, kube: FakeKube) -> list[Event]:
    """One pass that concludes the running execution of SPEC; returns the Events emitted."""
    running = running_status(SPEC)
    kube.status = {**running.model_dump(mode="json", by_alias=True, exclude_none=True), **kube.status}
    status = load_status(kube.status)
    runner_job = job(status, "junit", finished=True, failed=True)
    obs = observed(
        SPEC,
        status=status,
        jobs=[runner_job],
        pods=[pod(runner_job, phase="Failed", exit_code=1)],
        now=NOW + timedelta(seconds=42),
    )
    result = plan(obs)
    assert result.conclude
    events: list[Event] = []

    async def emit(event: Event) -> None:
        events.append(event)

    asyncio.run(ex._conclude(obs, SPEC, result, emit))
    return events


def reasons(events: list[Event]) -> list[str]:
    return [e.reason for e in events if e.reason.startswith("Record")]


def test_huge_report_while_postgres_is_down_still_writes_the_verdict() -> None:
    """The bug report: 3000 failing cases with 3 KB messages while PostgreSQL is down.  The
    verdict is written in one patch under 64 KiB; the record is deferred, compact."""
    kube = FakeKube()
    events = conclude_once(executor(kube, FakeRecorder(None), failing_suite()), kube)
    assert kube.status["phase"] == "Failed"
    assert json_size(kube.status) < STATUS_MAX_BYTES
    (pending,) = kube.status["pendingRecords"]
    assert pending["compacted"]["cases_omitted"] > 0
    assert reasons(events) == ["RecordDeferred"]
    assert kube.status["lastExecution"]["recorded"] is False


def test_without_a_database_nothing_is_deferred() -> None:
    """PACKGATE_DATABASE_URL unset: the verdict is written, no record is kept anywhere."""
    kube = FakeKube()
    events = conclude_once(executor(kube, Recorder(None), suite("junit", "command", passed=2, failed=1)), kube)
    assert (kube.status["phase"], kube.status["pendingRecords"], reasons(events)) == ("Failed", [], [])


def test_a_written_record_marks_the_execution_recorded() -> None:
    """PostgreSQL up: the record is written whole, lastExecution.recorded is true."""
    kube, db = FakeKube(), FakeDatabase()
    events = conclude_once(executor(kube, FakeRecorder(db), failing_suite(failing=20)), kube)
    assert (kube.status["lastExecution"]["recorded"], reasons(events)) == (True, ["RecordWritten"])
    assert (len(db.written), db.written[0].compacted, len(db.written[0].result.test_suites[0].test_cases)) == (
        1,
        None,
        20,
    )


def test_a_refused_record_is_reported_and_not_deferred() -> None:
    """PostgreSQL refuses the record (a constraint violation): Warning RecordRefused with the
    database's reason, lastExecution.recordError, nothing deferred, the connection kept."""
    reason = 'PostgreSQL at db:5432/packgate refused the data: new row violates check constraint "valid_pass_rate"'
    running = running_status(SPEC)
    assert running.current_execution is not None
    recorder = FakeRecorder(FakeDatabase({running.current_execution.id: RecordRefused(reason)}))
    kube = FakeKube()
    events = conclude_once(executor(kube, recorder, suite("junit", "command", passed=1)), kube)
    assert kube.status["lastExecution"]["recordError"] == reason
    assert (kube.status["pendingRecords"], recorder.lost_count) == ([], 0)
    refused = [e for e in events if e.reason == "RecordRefused"]
    assert len(refused) == 1 and refused[0].type == "Warning" and refused[0].message.endswith(reason)


def test_an_outage_while_writing_defers_and_reconnects() -> None:
    """The connection is lost while writing: the record is deferred and the connection forgotten."""
    running = running_status(SPEC)
    assert running.current_execution is not None
    failures: dict[str, Exception] = {running.current_execution.id: DatabaseUnavailable("cannot reach PostgreSQL")}
    recorder = FakeRecorder(FakeDatabase(failures))
    kube = FakeKube()
    events = conclude_once(executor(kube, recorder, suite("junit", "command", passed=1)), kube)
    assert (len(kube.status["pendingRecords"]), recorder.lost_count, reasons(events)) == (1, 1, ["RecordDeferred"])


def test_the_eleventh_deferred_record_drops_the_oldest_with_an_event() -> None:
    """At the cap, deferring one more drops the oldest: Warning RecordDropped names it."""
    old = [compact_record(record_of(suite("junit", "command", passed=1), execution=f"old{i}")) for i in range(10)]
    kube = FakeKube({"pendingRecords": old})
    events = conclude_once(executor(kube, FakeRecorder(None), suite("junit", "command", passed=1)), kube)
    ids = [r["execution_id"] for r in kube.status["pendingRecords"]]
    assert len(ids) == PENDING_RECORDS_MAX and ids[0] == "old1"
    dropped = [e for e in events if e.reason == "RecordDropped"]
    assert len(dropped) == 1 and "old0" in dropped[0].message


def test_flushing_writes_deferred_records_and_drops_refused_ones() -> None:
    """PostgreSQL is back: a deferred record is written (its Event says it was compacted), one it
    refuses is reported and dropped instead of being retried forever."""
    written = compact_record(record_of(failing_suite(failing=500), execution="good"))
    refused = compact_record(record_of(suite("junit", "command", passed=1), execution="bad"))
    last = {"id": "good", "trigger": "install", "version": "1.0.0", "specHash": "h", "status": "failed"}
    kube = FakeKube({"activeVersion": "0.9.0", "lastExecution": last, "pendingRecords": [refused, written]})
    db = FakeDatabase({"bad": RecordRefused("PostgreSQL at db refused the data: value too long")})
    events: list[Event] = []

    async def emit(event: Event) -> None:
        events.append(event)

    ex = executor(kube, FakeRecorder(db), suite("junit", "command", passed=1))
    remaining = asyncio.run(ex._flush_pending(PACK.namespace, PACK.name, emit))
    assert (remaining, kube.status["pendingRecords"], kube.status["lastExecution"]["recorded"]) == (0, [], True)
    assert kube.status["activeVersion"] == "0.9.0"
    assert [e.reason for e in events] == ["RecordRefused", "RecordWritten"]
    assert "compacted" in events[1].message
    assert db.written[0].compacted is not None and db.written[0].compacted.cases_omitted > 0


def test_an_unreadable_deferred_record_is_refused() -> None:
    """A deferred record that no longer reads as a record is reported and dropped, not retried."""
    kube = FakeKube({"pendingRecords": [{"execution_id": "mangled", "result": "garbage"}]})
    events: list[Event] = []

    async def emit(event: Event) -> None:
        events.append(event)

    ex = executor(kube, FakeRecorder(FakeDatabase()), suite("junit", "command", passed=1))
    assert asyncio.run(ex._flush_pending(PACK.namespace, PACK.name, emit)) == 0
    assert ([e.reason for e in events], kube.status["pendingRecords"]) == (["RecordRefused"], [])


def test_flushing_while_still_down_patches_nothing() -> None:
    """Still down: the deferred records stay, nothing is patched, the caller retries soon."""
    pending = [compact_record(record_of(suite("junit", "command", passed=1)))]
    kube = FakeKube({"pendingRecords": pending})

    async def emit(event: Event) -> None:
        raise AssertionError(event)

    ex = executor(kube, FakeRecorder(None), suite("junit", "command", passed=1))
    assert (asyncio.run(ex._flush_pending(PACK.namespace, PACK.name, emit)), kube.patches) == (1, [])
