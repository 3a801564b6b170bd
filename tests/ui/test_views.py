"""The history UI's pure parts: the per-test grid and its flags, chart geometry, merging database
rows with Pack objects, caches of review answers, and the small text helpers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from packgate.db.history_queries import CaseRun, PackRow, StoredExecution
from packgate.db.models import PackInfo
from packgate.k8s.auth import Identity, TtlCache, identity_from_review, token_digest
from packgate.results import TestStatus
from packgate.ui import views
from packgate.ui.app import _finalize, _safe_next

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def _execution(row_id: int, minutes: int = 0) -> StoredExecution:
    return StoredExecution(
        id=row_id,
        namespace="ns",
        name="core",
        execution_id=f"x{row_id}",
        idempotency_key=f"k{row_id}",
        pack_version="1.0.0",
        trigger="update",
        status="passed",
        execution_time=NOW + timedelta(minutes=minutes),
        total_tests=1,
        passed=1,
        failed=0,
        skipped=0,
        pass_rate=1.0,
        duration_ms=5,
        forced=False,
        allowed=True,
    )


def _run(execution: int, key: str, status: str) -> CaseRun:
    return CaseRun(execution=execution, key=key, status=TestStatus(status), duration_ms=1, error_message=None)


def test_case_grid_columns_oldest_first_with_flags() -> None:
    """Columns run oldest to newest; a test that passed then failed is regressed and flaky; one
    that failed then passed is flaky only; skipped runs are ignored for both flags; absent cells
    are None; regressed rows come first, then flaky, then failing now, then by key."""
    newest_first = [_execution(3, 2), _execution(2, 1), _execution(1, 0)]
    runs = [
        _run(1, "s::regressed", "passed"),
        _run(2, "s::regressed", "skipped"),
        _run(3, "s::regressed", "failed"),
        _run(1, "s::fixed", "error"),
        _run(3, "s::fixed", "passed"),
        _run(1, "s::steady", "passed"),
        _run(2, "s::steady", "passed"),
        _run(3, "s::steady", "passed"),
        _run(3, "s::new-failure", "failed"),
        _run(99, "s::other-execution", "failed"),
    ]

    grid = views.case_grid(newest_first, runs)

    assert [e.id for e in grid.executions] == [1, 2, 3]
    assert [(t.key, t.statuses, t.flaky, t.regressed) for t in grid.tests] == [
        ("s::regressed", ["passed", "skipped", "failed"], True, True),
        ("s::fixed", ["error", None, "passed"], True, False),
        ("s::new-failure", [None, None, "failed"], False, False),
        ("s::steady", ["passed", "passed", "passed"], False, False),
    ]


def test_polyline_scales_values_into_the_box() -> None:
    """Values spread over the width (1 px padding), 0 at the bottom and the maximum at the top;
    a single value sits in the middle; no values give no points."""
    assert views.polyline([0.0, 0.5, 1.0], 102, 12, 1.0).points == "1.0,11.0 51.0,6.0 101.0,1.0"
    assert views.polyline([3.0], 20, 12).points == "10.0,1.0"
    assert views.polyline([], 20, 12).points == ""
    assert views.polyline([2.0, 4.0], 12, 12).maximum == 4.0


def _info(namespace: str, name: str, status: str | None = "passed") -> PackInfo:
    return PackInfo(
        id=1,
        uid=f"uid-{name}",
        namespace=namespace,
        name=name,
        ref=name,
        version="2.0.0",
        active_version="1.0.0",
        created_at=NOW,
        updated_at=NOW,
        deleted_at=None,
        last_tested_at=NOW,
        last_tested_version="2.0.0",
        last_test_status=status,
        last_pass_rate=1.0,
        test_count=4,
    )


def _object(namespace: str, name: str, **status: Any) -> dict[str, Any]:
    return {"metadata": {"namespace": namespace, "name": name}, "spec": {"version": "3.0.0"}, "status": status}


def test_overview_rows_merge_database_and_cluster() -> None:
    """A Pack in both: the cluster's phase, active version and last counts over the database's row;
    a Pack only in the cluster: its spec version and status; only in the database: phase None.
    Sorted by namespace and name; the namespace and status filters apply to the merged rows."""
    rows = [
        PackRow(pack=_info("b", "both"), recent_pass_rates=[0.5, 1.0]),
        PackRow(pack=_info("a", "db-only", "failed"), recent_pass_rates=[]),
    ]
    objects = [
        _object(
            "b",
            "both",
            phase="Passed",
            activeVersion="2.0.0",
            lastExecution={
                "id": "e1",
                "trigger": "update",
                "version": "2.0.0",
                "specHash": "h",
                "status": "partial",
                "total": 3,
                "passed": 2,
                "failed": 1,
            },
        ),
        _object("c", "cluster-only", phase="Testing"),
    ]

    items = views.overview_rows(rows, objects)

    assert [(i.namespace, i.name, i.phase, i.version, i.active_version) for i in items] == [
        ("a", "db-only", None, "2.0.0", "1.0.0"),
        ("b", "both", "Passed", "2.0.0", "2.0.0"),
        ("c", "cluster-only", "Testing", "3.0.0", None),
    ]
    assert (items[1].total, items[1].passed, items[1].failed, items[1].recent_pass_rates) == (3, 2, 1, [0.5, 1.0])
    assert [i.name for i in views.overview_rows(rows, objects, namespace="b")] == ["both"]
    assert [i.name for i in views.overview_rows(rows, objects, status="failed")] == ["db-only"]


def test_live_status_names_the_running_execution() -> None:
    """A Pack object's status becomes its phase, active version, message and running execution."""
    obj = _object(
        "ns",
        "p",
        phase="Testing",
        activeVersion="1.0.0",
        message="running 1 Job",
        currentExecution={
            "id": "abc",
            "trigger": "manual",
            "version": "1.1.0",
            "specHash": "h",
            "token": "t",
            "nonce": "n",
            "queuedAt": "2026-11-30T12:00:00Z",
            "startedAt": "2026-11-30T12:00:05Z",
        },
    )

    live = views.live_status(obj)

    assert live == views.LiveStatus(
        phase="Testing",
        active_version="1.0.0",
        message="running 1 Job",
        running_execution="abc",
        running_since="2026-11-30T12:00:05Z",
        queue_position=None,
    )
    assert views.live_status(None) is None


def test_ttl_cache_expires_and_keeps_negative_answers() -> None:
    """An entry lives `ttl` seconds from when it was put; a None answer is found (cached) too; the
    oldest entries go past the limit."""
    cache: TtlCache[str, bool | None] = TtlCache(ttl=30.0, limit=2)
    cache.put("a", None, now=100.0)
    cache.put("b", True, now=100.0)

    assert cache.lookup("a", now=129.9) == (True, None)
    assert cache.lookup("b", now=130.0) == (False, None)
    cache.put("c", False, now=131.0)
    cache.put("d", True, now=131.0)
    assert (cache.lookup("a", now=131.0), len(cache)) == ((False, None), 2)


def test_identity_from_review_needs_authenticated_user() -> None:
    """Only an authenticated review with a username gives an Identity, with groups and extra."""
    status = {
        "authenticated": True,
        "user": {"username": "system:serviceaccount:a:alice", "uid": "u1", "groups": ["g1"], "extra": {"k": ["v"]}},
    }
    assert identity_from_review(status) == Identity(
        username="system:serviceaccount:a:alice", uid="u1", groups=("g1",), extra=(("k", ("v",)),)
    )
    assert identity_from_review({"authenticated": False, "user": {"username": "x"}}) is None
    assert identity_from_review({"authenticated": True, "user": {}}) is None
    assert identity_from_review(None) is None
    assert token_digest("secret") != "secret" and len(token_digest("secret")) == 64


def test_text_helpers_neutralise_control_characters_and_foreign_redirects() -> None:
    """Template output has no control characters but tabs and newlines; a one-line message is cut;
    the sign-in form redirects only to a path of this site."""
    assert _finalize("a\x07b\x1b[31m\x00c\td\n") == "a\ufffdb\ufffd[31m\ufffdc\td\n"
    assert views.one_line("x\n\x07y  z", limit=300) == "x y z"
    assert views.one_line("abcdef", limit=4) == "abc…"
    assert [_safe_next(t) for t in ["/namespaces/a", "//evil.example", "https://evil.example", "/\\evil"]] == [
        "/namespaces/a",
        "/",
        "/",
        "/",
    ]
