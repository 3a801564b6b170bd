"""Unit tests of packgate.api.status: the size budget of the Pack's status, compact deferred
records and their cap, reading a damaged status back, and the merge patch between two statuses.

Everything here is plain data: results are built with the real result model, records the way the
executor builds them, and the bounded status is measured as the API server stores it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from builders import NOW, PACK, concluded, observed, running_status, spec_of, suite

from packgate.api.status import (
    CASE_MESSAGE_BYTES,
    COLLECTED_FAILING_BYTES,
    FAILING_TESTS_SHOWN,
    NAME_BYTES,
    PENDING_BYTES,
    PENDING_RECORD_BYTES,
    PENDING_RECORDS_MAX,
    RUNNER_ERRORS_BYTES,
    STATUS_MAX_BYTES,
    TEXT_BYTES,
    CollectedSuite,
    Comparison,
    Condition,
    CurrentExecution,
    ExecutionSummary,
    PackStatus,
    Phase,
    RunnerError,
    SuiteSummary,
    Trigger,
    bound_current,
    bound_execution,
    bound_status,
    cap_names,
    capped_comparison,
    clip,
    compact_record,
    defer,
    dump,
    json_size,
    load_status,
    status_patch,
)
from packgate.db.models import ExecutionRecord
from packgate.reconcile.plan import conclude, plan
from packgate.results import TestCaseResult, TestStatus, combine, suite_from_cases

pytestmark = pytest.mark.unit


def failing_suite(name: str = "junit", failing: int = 3000, message_bytes: int = 3000, passing: int = 0) -> Any:
    """A runner's suite: `failing` failed cases with `message_bytes`-long messages and output."""
    cases = [
        TestCaseResult(
            name=f"tests.integration.test_actions.TestEveryAction.test_action_{i:05d}",
            status=TestStatus.FAILED,
            duration_ms=12,
            error_message=f"AssertionError {i}: " + "x" * message_bytes,
            stdout="o" * 1000,
            stderr="e" * 1000,
        )
        for i in range(failing)
    ] + [TestCaseResult(name=f"test_ok_{i}", status=TestStatus.PASSED, duration_ms=3) for i in range(passing)]
    return suite_from_cases(name, "command", cases).model_copy(update={"exit_code": 1})


def record_of(*suites: Any, execution: str = "e1") -> dict[str, Any]:
    """A record as the executor builds it (an ExecutionRecord as a dict)."""
    result = combine("core", "1.0.0", NOW, list(suites))
    return {
        "pack_uid": PACK.uid,
        "namespace": PACK.namespace,
        "name": PACK.name,
        "ref": "core",
        "version": "1.0.0",
        "active_version": None,
        "execution_id": execution,
        "idempotency_key": f"{PACK.uid}/{execution}",
        "trigger": "install",
        "forced": False,
        "allowed": False,
        "result": result.model_dump(mode="json"),
    }


# ---------------------------------------------------------------------------------------------
# clipping and capping


@pytest.mark.parametrize(
    ("text", "limit"),
    [("a" * 5000, 100), ("é" * 700, 101), ("short", 100), ("日本語のテスト名" * 100, 64), ("x" * 50, 3)],
)
def test_clip_fits_the_limit_and_clipping_again_changes_nothing(text: str, limit: int) -> None:
    """clip() returns valid UTF-8 within `limit` bytes, keeps head and tail, and is idempotent."""
    clipped = clip(text, limit)
    assert len(clipped.encode()) <= limit
    assert clip(clipped, limit) == clipped
    if len(text.encode()) <= limit:
        assert clipped == text


def test_clip_keeps_the_last_lines_of_a_runner_error() -> None:
    """A long runner error keeps its start (why) and its end (the runner's last lines)."""
    error = "no test results recognised; last lines: " + "noise " * 500 + '"ModuleNotFoundError: pytest"'
    clipped = clip(error, 200)
    assert (clipped.startswith("no test results recognised"), clipped.endswith('"ModuleNotFoundError: pytest"')) == (
        True,
        True,
    )
    assert " … " in clipped


def test_cap_names_caps_by_count_and_by_bytes_and_counts_what_is_left_out() -> None:
    """The first names within the count and the byte budget; the rest are counted, added to an earlier count."""
    names = [f"suite: test_{i}" for i in range(100)]
    assert cap_names(names, 10, 10_000) == (names[:10], 90)
    long = ["n" * 1000] * 5
    kept, omitted = cap_names(long, 10, 600)
    assert (len(kept), omitted, len(kept[0].encode())) == (2, 3, NAME_BYTES)
    assert cap_names(names[:3], 10, 10_000) == (names[:3], None)
    assert cap_names(names[:3], 10, 10_000, omitted=7) == (names[:3], 7)


def test_capped_comparison_sorts_caps_and_counts() -> None:
    """Regressions and fixes are sorted, at most 10 each shown, the rest counted."""
    comparison = capped_comparison("1.0.0", [f"s::t{i:03d}" for i in range(25, 0, -1)], ["s::b", "s::a"], 3, 4)
    assert comparison.regressions == [f"s::t{i:03d}" for i in range(1, 11)]
    assert (comparison.regressions_omitted, comparison.fixes, comparison.fixes_omitted) == (15, ["s::a", "s::b"], None)
    assert dump(comparison)["regressionsOmitted"] == 15
    assert "fixesOmitted" not in dump(comparison)


# ---------------------------------------------------------------------------------------------
# the status budget


def test_a_huge_failing_junit_report_concludes_into_a_small_status() -> None:
    """The bug report: 3000 failing cases with 3 KB messages.  The verdict's status stays under
    64 KiB, lists the first failing tests and says how many more there are."""
    spec = spec_of(runners=[{"name": "junit", "type": "command", "command": ["sh", "run.sh"]}])
    status = concluded(spec, {"junit": failing_suite()})
    last = status.last_execution
    assert last is not None
    assert (last.failed, len(last.failing_tests), last.failing_tests_omitted) == (
        3000,
        FAILING_TESTS_SHOWN,
        3000 - FAILING_TESTS_SHOWN,
    )
    assert dump(last)["failingTestsOmitted"] == 2990
    assert json_size(dump(bound_status(status))) < STATUS_MAX_BYTES


HUGE = "z" * 100_000
RUNNERS = [f"runner-{i:02d}-" + "r" * 30 for i in range(16)]


def worst_current(**fields: Any) -> CurrentExecution:
    """A current execution of 16 runners with every field at its longest, and `fields`."""
    return CurrentExecution(
        id="c" * 12,
        trigger=Trigger.MANUAL,
        version="v" * 128,
        spec_hash="h" * 64,
        token="t" * 200,
        nonce="n" * 16,
        queued_at="2025-06-01T12:00:00Z",
        started_at="2025-06-01T12:00:00Z",
        runners=RUNNERS,
        **fields,
    )


def worst_status(current: CurrentExecution) -> PackStatus:
    """Every list and text of the status at its worst at once, with `current`."""
    huge, runners = HUGE, RUNNERS
    suites = [
        SuiteSummary(
            name=name,
            type="command",
            job=("j" * 63),
            status="error",
            total=5,
            failed=5,
            reason="NoResults",
            error=huge,
            exit_code=1,
        )
        for name in runners
    ]
    last = ExecutionSummary(
        id="e" * 12,
        trigger=Trigger.MANUAL,
        version="v" * 128,
        spec_hash="h" * 64,
        started_at="2025-06-01T12:00:00Z",
        finished_at="2025-06-01T12:00:42Z",
        status="error",
        suites=suites,
        failing_tests=[f"{huge[:5000]}{i}" for i in range(3000)],
        comparison=Comparison(
            base_version="b" * 128,
            regressions=[f"{huge[:3000]}{i}" for i in range(3000)],
            fixes=[f"{huge[:3000]}{i}" for i in range(3000)],
        ),
        record_error=huge,
    )
    conditions = [
        Condition(type=t, status="False", reason="TestError", message=huge)
        for t in ("Tested", "Active", "Ready", "Reconciling", "Stalled")
    ]
    pending: list[dict[str, Any]] = []
    big = [failing_suite(name=name, failing=200, message_bytes=3000) for name in runners]
    for i in range(PENDING_RECORDS_MAX + 3):
        pending = defer(pending, record_of(*big, execution=f"e{i}")).pending
    return PackStatus(
        active_version="a" * 128,
        message=huge,
        summary={"tests": "0/80", "rate": "0%"},
        last_execution=last,
        current_execution=current,
        retest_token="sha256:" + "f" * 64,
        depends_on=huge,
        pending_records=pending,
        conditions=conditions,
    )


def test_the_worst_status_fits_the_budget() -> None:
    """Every list and text at its worst at once (16 runners with huge errors and names, thousands
    of failing tests and regressions, huge condition and runner-error messages, the most deferred
    records, each from a huge report) still dumps under STATUS_MAX_BYTES."""
    errors = {name: RunnerError(reason="ImagePullFailed", message=HUGE) for name in RUNNERS}
    size = json_size(dump(bound_status(worst_status(worst_current(runner_errors=errors)))))
    assert size <= STATUS_MAX_BYTES, f"{size} bytes"


def worst_collected(name: str) -> CollectedSuite:
    """A runner's result collected when its Job ended, every field at its longest."""
    return CollectedSuite(
        name=name,
        type="command",
        status="error",
        total=3 * 10**9,
        passed=10**9,
        failed=10**9,
        skipped=10**9,
        duration_ms=10**12,
        reason="NoResults",
        error=HUGE,
        exit_code=-(10**9),
        failing_tests=[f"{HUGE[:3000]}{i}" for i in range(3000)],
        failing_tests_omitted=10**9,
    )


def test_the_worst_status_with_every_runner_collected_fits_the_budget() -> None:
    """As above, with each runner's result kept in currentExecution.collected instead (huge
    errors, thousands of huge failing test names): still under STATUS_MAX_BYTES, the collected
    errors sharing the runner errors' budget and their failing test names their own."""
    current = worst_current(collected=[worst_collected(name) for name in RUNNERS])
    bounded = bound_status(worst_status(current))
    size = json_size(dump(bounded))
    assert size <= STATUS_MAX_BYTES, f"{size} bytes"
    assert bounded.current_execution is not None
    collected = bounded.current_execution.collected
    assert sum(len((s.error or "").encode()) for s in collected) <= RUNNER_ERRORS_BYTES
    assert sum(json_size(s.failing_tests) for s in collected) <= COLLECTED_FAILING_BYTES
    assert {s.failing_tests_omitted for s in collected} == {10**9 + 3000 - len(collected[0].failing_tests)}


def test_a_runner_has_an_error_or_a_collected_result_never_both() -> None:
    """bound_current keeps one outcome per runner (its error first), drops collected results and
    jobsSeen entries of runners that are not the execution's, and lists a seen runner once and only
    while it has no outcome; bounding twice changes nothing."""
    current = worst_current(
        runner_errors={RUNNERS[0]: RunnerError(reason="JobRemoved", message="gone")},
        collected=[worst_collected(n) for n in (RUNNERS[0], RUNNERS[1], RUNNERS[1], "not-a-runner")],
        jobs_seen=[RUNNERS[0], RUNNERS[1], RUNNERS[2], RUNNERS[2], "not-a-runner"],
    )
    once = bound_current(current)
    assert (list(once.runner_errors), [s.name for s in once.collected], once.jobs_seen) == (
        [RUNNERS[0]],
        [RUNNERS[1]],
        [RUNNERS[2]],
    )
    assert bound_current(once) == once
    status = PackStatus(current_execution=current)
    assert status_patch(bound_status(status), bound_status(bound_status(status))) == {}


def test_bounding_twice_changes_nothing() -> None:
    """An unchanged status bounds to the same status, so the executor never patches it again;
    the message and status.dependsOn are clipped to their limits."""
    long_error = "e" * 5000
    last = ExecutionSummary(
        id="x",
        trigger=Trigger.INSTALL,
        version="1.0.0",
        spec_hash="h",
        status="error",
        suites=[SuiteSummary(name=f"r{i}", type="script", status="error", error=long_error) for i in range(16)],
        failing_tests=[f"t{i}" for i in range(50)],
        comparison=Comparison(regressions=[f"r{i}" for i in range(30)]),
    )
    status = PackStatus(
        message="m" * 5000,
        depends_on="waiting: " + ", ".join(f"dependency-{i}" for i in range(32)),
        last_execution=last,
        conditions=[Condition(type="Active", status="False", reason="TestError", message="c" * 5000)],
    )
    once = bound_status(status)
    assert bound_status(once) == once
    assert status_patch(once, bound_status(once)) == {}
    assert once.last_execution is not None and once.last_execution.failing_tests_omitted == 40
    assert len(once.message.encode()) <= TEXT_BYTES
    assert once.depends_on is not None and len(once.depends_on.encode()) <= NAME_BYTES


def test_suite_errors_share_the_suites_budget() -> None:
    """One runner keeps its whole (1 KiB) error; sixteen share the suites' budget."""
    error = "why; last lines: " + "l" * 800
    one = bound_execution(
        ExecutionSummary(
            id="x",
            trigger=Trigger.INSTALL,
            version="1",
            spec_hash="h",
            status="error",
            suites=[SuiteSummary(name="r", type="script", status="error", error=error)],
        )
    )
    assert one.suites[0].error == error
    many = bound_execution(
        one.model_copy(
            update={
                "suites": [SuiteSummary(name=f"r{i}", type="script", status="error", error=error) for i in range(16)]
            }
        )
    )
    assert all(len((s.error or "").encode()) < len(error) for s in many.suites)


# ---------------------------------------------------------------------------------------------
# compact deferred records


def test_a_deferred_record_is_compact_and_still_an_execution_record() -> None:
    """3000 failing cases with 3 KB messages: the deferred record keeps the counts, the first
    failing cases (messages clipped, no output) within 8 KiB, and says how many it left out."""
    record = record_of(failing_suite(passing=100))
    compact = compact_record(record)
    assert json_size(compact) <= PENDING_RECORD_BYTES
    cases = compact["result"]["test_suites"][0]["test_cases"]
    assert cases and all(c["status"] == "failed" for c in cases)
    assert all(len(c["error_message"].encode()) <= CASE_MESSAGE_BYTES and "stdout" not in c for c in cases)
    assert compact["compacted"] == {"cases_kept": len(cases), "cases_omitted": 3100 - len(cases), "suites_omitted": 0}
    parsed = ExecutionRecord.model_validate(compact)
    assert (parsed.result.failed, parsed.result.passed, parsed.result.total_tests) == (3000, 100, 3100)
    assert parsed.compacted is not None and parsed.compacted.cases_kept == len(cases)


def test_a_small_record_keeps_every_case() -> None:
    """A small pack's record keeps all its cases (failing first) and leaves nothing out."""
    compact = compact_record(record_of(suite("shell", "script", passed=3, failed=1)))
    names = [c["name"] for c in compact["result"]["test_suites"][0]["test_cases"]]
    assert names == ["test_bad_0", "test_ok_0", "test_ok_1", "test_ok_2"]
    assert compact["compacted"] == {"cases_kept": 4, "cases_omitted": 0, "suites_omitted": 0}


def test_compacting_again_changes_nothing() -> None:
    """A compact record compacts to itself (it is compacted again each time another is deferred)."""
    for record in (
        record_of(failing_suite()),
        record_of(*[failing_suite(name=f"r{i}", failing=50) for i in range(16)]),
    ):
        compact = compact_record(record)
        assert compact_record(compact) == compact


def test_sixteen_runners_with_huge_errors_still_fit_a_record() -> None:
    """Suite errors are shortened (then suites left out, counted) so the record fits its budget."""
    suites = [
        suite_from_cases(f"runner-{i:02d}-" + "r" * 30, "command", []).model_copy(
            update={"error": "e" * 20_000, "job_name": "j" * 63, "exit_code": 2}
        )
        for i in range(16)
    ]
    compact = compact_record(record_of(*suites))
    assert json_size(compact) <= PENDING_RECORD_BYTES
    assert len(compact["result"]["test_suites"]) + compact["compacted"]["suites_omitted"] == 16
    ExecutionRecord.model_validate(compact)


def test_deferring_past_the_cap_drops_the_oldest() -> None:
    """The eleventh deferred record drops the first one; the newest are kept, in order."""
    pending: list[dict[str, Any]] = []
    dropped: list[str] = []
    for i in range(PENDING_RECORDS_MAX + 1):
        deferral = defer(pending, record_of(suite("shell", "script", passed=2, failed=1), execution=f"e{i}"))
        pending = deferral.pending
        dropped += [r["execution_id"] for r in deferral.dropped]
    assert dropped == ["e0"]
    assert [r["execution_id"] for r in pending] == [f"e{i}" for i in range(1, PENDING_RECORDS_MAX + 1)]


def test_deferring_big_records_keeps_the_pending_bytes_bounded() -> None:
    """Big records are capped by bytes too: the oldest go once PENDING_BYTES would be exceeded."""
    pending: list[dict[str, Any]] = []
    dropped = 0
    for i in range(8):
        deferral = defer(pending, record_of(failing_suite(failing=300), execution=f"e{i}"))
        pending, dropped = deferral.pending, dropped + len(deferral.dropped)
    assert json_size(pending) <= PENDING_BYTES
    assert pending[-1]["execution_id"] == "e7"
    assert dropped == 8 - len(pending) > 0


def test_deferring_the_same_execution_again_replaces_it() -> None:
    """A record already deferred (same idempotency key) is replaced, not doubled."""
    record = record_of(suite("shell", "script", passed=1))
    first = defer([], record).pending
    again = defer(first, record)
    assert (len(again.pending), again.dropped) == (1, [])


# ---------------------------------------------------------------------------------------------
# reading a damaged status


def test_a_corrupted_status_keeps_the_active_version_and_the_pending_records() -> None:
    """A hand-edited status that does not validate keeps activeVersion, the readable pending
    records and conditions, and whatever else still reads; the unreadable fields start over."""
    pending = [record_of(suite("shell", "script", passed=1))]
    raw = {
        "phase": "Exploded",
        "activeVersion": "1.2.3",
        "observedGeneration": "not a number",
        "lastExecution": {"id": "only an id"},
        "pendingRecords": [*pending, "garbage", 42],
        "retestToken": "r7",
        "conditions": [
            {"type": "Active", "status": "True", "reason": "TestsPassed", "lastTransitionTime": "2025-06-01T12:00:00Z"},
            {"type": "Broken"},
        ],
    }
    status = load_status(raw)
    assert (status.active_version, status.pending_records, status.retest_token) == ("1.2.3", pending, "r7")
    assert [c.type for c in status.conditions] == ["Active"]
    assert (status.phase, status.observed_generation, status.last_execution) == (PackStatus().phase, 0, None)


@pytest.mark.parametrize("raw", [None, {}, "a string", ["a", "list"], {"phase": "Exploded"}])
def test_load_status_never_raises(raw: Any) -> None:
    """Anything at all reads as a status."""
    assert isinstance(load_status(raw), PackStatus)


def test_a_corrupted_status_does_not_deactivate_the_version() -> None:
    """The planner, fed a salvaged status, keeps the active version while it tests again."""
    spec = spec_of(version="1.2.3")
    obs = observed(spec, status={"activeVersion": "1.2.3", "lastExecution": "garbage"})
    result = plan(obs)
    current = result.status.current_execution
    assert result.admitted and current is not None and current.trigger is Trigger.INSTALL
    assert (result.status.active_version, result.status.phase) == ("1.2.3", Phase.TESTING)


# ---------------------------------------------------------------------------------------------
# the merge patch


def test_status_patch_nulls_keys_that_went_away_also_nested() -> None:
    """A merge patch keeps keys it does not mention, so keys that went away are sent as null,
    inside lastExecution too; unchanged keys are not sent."""
    base = ExecutionSummary(
        id="x",
        trigger=Trigger.INSTALL,
        version="1",
        spec_hash="h",
        status="failed",
        comparison=Comparison(regressions=["a"]),
        record_error="refused",
    )
    old = PackStatus(active_version="1", last_execution=base, queue_position=3)
    new = PackStatus(
        active_version="1", last_execution=base.model_copy(update={"comparison": None, "record_error": None})
    )
    assert status_patch(old, new) == {"queuePosition": None, "lastExecution": {"comparison": None, "recordError": None}}
    assert status_patch(new, new) == {}


def test_conclude_with_a_comparison_keeps_it_within_budget() -> None:
    """The planner bounds lastExecution where it is built: a comparison handed in with too many
    names is capped there."""
    spec = spec_of(runners=[{"name": "shell", "type": "script", "entryPoint": "t.sh"}])
    running = running_status(spec)
    obs = observed(spec, status=running, now=datetime(2025, 6, 1, 12, 1, tzinfo=UTC))
    comparison = Comparison(base_version="0.9", regressions=[f"shell::t{i}" for i in range(40)])
    new, _, _, _ = conclude(obs, spec, {"shell": suite("shell", "script", passed=1, failed=40)}, comparison)
    assert new.last_execution is not None and new.last_execution.comparison is not None
    assert (len(new.last_execution.comparison.regressions), new.last_execution.comparison.regressions_omitted) == (
        10,
        30,
    )
