"""Unit tests of packgate.metrics on plain data: every metric is registered under the name, type
and labels README's "Metrics" table documents (read off prometheus_client's collect() output), and
the pure helpers that give the metrics their values."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from prometheus_client import Counter, Gauge, Histogram

from packgate import metrics
from packgate.errors import Conflict, DatabaseUnavailable, InvalidPack, KubernetesError, RecordRefused

pytestmark = pytest.mark.unit

README = Path(__file__).resolve().parents[2] / "README.md"
ROW = re.compile(r"^\| `(packgate_\w+)` \| (\w+) \|([^|]*)\|")


def _documented() -> dict[str, tuple[str, tuple[str, ...]]]:
    """README's Metrics table: name -> (type, labels)."""
    text = README.read_text(encoding="utf-8")
    section = text.split("### Metrics", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, tuple[str, tuple[str, ...]]] = {}
    for line in section.splitlines():
        match = ROW.match(line)
        if match:
            labels = tuple(sorted(re.findall(r"`(\w+)`", match.group(3))))
            rows[match.group(1)] = (match.group(2), labels)
    return rows


def _registered() -> dict[str, tuple[str, tuple[str, ...]]]:
    """REGISTRY's metric families: name -> (type, labels), labels read off a sample of each
    (documented labels are given a child first, so a labelled family has samples)."""
    documented = _documented()
    for collector in vars(metrics).values():
        if isinstance(collector, Counter | Gauge | Histogram):
            labels = documented.get(collector.describe()[0].name, ("", ()))[1]
            if labels:
                collector.labels(**dict.fromkeys(labels, "x"))
    families: dict[str, tuple[str, tuple[str, ...]]] = {}
    for family in metrics.REGISTRY.collect():
        labels = {key for sample in family.samples for key in sample.labels if key != "le"}
        families[family.name] = (family.type, tuple(sorted(labels)))
    return families


def test_every_metric_is_documented_with_its_type_and_labels() -> None:
    """README's Metrics table and the registry agree on every packgate_ metric's name, type and labels."""
    assert _registered() == _documented()


def test_metrics_use_the_prefix_and_base_units() -> None:
    """Every metric is packgate_-prefixed and every histogram measures seconds."""
    for name, (kind, _) in _registered().items():
        assert name.startswith("packgate_")
        if kind == "histogram":
            assert name.endswith("_seconds")


@pytest.mark.parametrize(
    ("exc", "outcome"),
    [
        pytest.param(None, "ok", id="ok"),
        pytest.param(KubernetesError("get Pack a/b: 500"), "temporary", id="kubernetes"),
        pytest.param(Conflict("conflict"), "temporary", id="conflict"),
        pytest.param(DatabaseUnavailable("down"), "temporary", id="database"),
        pytest.param(InvalidPack("bad"), "permanent", id="invalid pack"),
        pytest.param(RecordRefused("refused"), "permanent", id="refused"),
        pytest.param(ValueError("bug"), "unexpected", id="unexpected"),
    ],
)
def test_pass_outcome_follows_the_retry_semantics(exc: BaseException | None, outcome: str) -> None:
    """A pass's outcome label: ok, temporary or permanent as retry_delay says, unexpected for a bug."""
    assert metrics.pass_outcome(exc) == outcome


def test_queue_wait_is_from_queued_to_started() -> None:
    """The queue wait is startedAt minus queuedAt; an execution that never started has none."""
    assert metrics.queue_wait_seconds("2025-01-01T10:00:00Z", "2025-01-01T10:01:30Z") == 90.0
    assert metrics.queue_wait_seconds("2025-01-01T10:00:00Z", None) is None


def test_observe_execution_fills_both_histograms() -> None:
    """A finished execution adds its queue wait and its duration under its trigger and status."""
    labels = {"trigger": "unit-test", "status": "passed"}

    def count(name: str) -> float:
        return metrics.REGISTRY.get_sample_value(name, labels) or 0.0

    before = (count("packgate_execution_queue_wait_seconds_count"), count("packgate_execution_duration_seconds_sum"))
    metrics.observe_execution(
        trigger="unit-test",
        status="passed",
        queued_at="2025-01-01T10:00:00Z",
        started_at="2025-01-01T10:00:05Z",
        duration_ms=42_000,
    )
    after = (count("packgate_execution_queue_wait_seconds_count"), count("packgate_execution_duration_seconds_sum"))
    assert (after[0] - before[0], after[1] - before[1]) == (1.0, 42.0)


def test_fleet_gauges_are_sums_of_each_packs_last_tally() -> None:
    """The fleet gauges sum each Pack's latest tally; a new tally replaces the Pack's old one, and a
    forgotten Pack no longer counts."""
    fleet = metrics.Fleet()
    fleet.note("a", metrics.PackTally(jobs_running=2, records_pending=1))
    fleet.note("b", metrics.PackTally(queued=True))
    fleet.note("c", metrics.PackTally(jobs_running=3, queued=False, records_pending=4))
    fleet.note("a", metrics.PackTally(jobs_running=1))
    fleet.forget("c")
    fleet.forget("unknown")

    def value(name: str) -> float | None:
        return metrics.REGISTRY.get_sample_value(name)

    assert (value("packgate_jobs_running"), value("packgate_packs_queued"), value("packgate_records_pending")) == (
        1.0,
        1.0,
        0.0,
    )
