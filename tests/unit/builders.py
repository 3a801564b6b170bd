"""Small builders of plain data for the planner's unit tests: specs, observed states, Jobs, suites.

No mocks: every value is a real model built the way the executor builds it, and the flows
(`testing`, `concluded`) drive the real planner functions to reach a state.
"""

from __future__ import annotations

import copy
import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

from packgate.api.spec import PackSpec, load_spec
from packgate.api.status import PackStatus, load_status
from packgate.reconcile.cache import Cache
from packgate.reconcile.plan import JobState, Observed, PodState, conclude, plan, started
from packgate.reconcile.render import PackIdentity, job_name
from packgate.results import TestCaseResult, TestStatus, TestSuiteResult, suite_from_cases

NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)
PACK = PackIdentity(namespace="automation", name="core", uid="6f1c2b9e-3d4a-4c7e-9a51-2f0d8e7b1c33")
NONCE = "3fa94c1d0b7e8a25"

SHELL: dict[str, Any] = {"name": "shell", "type": "script", "entryPoint": "tests/test_actions.sh"}
PYTHON: dict[str, Any] = {"name": "python", "type": "pytest", "entryPoint": "tests/"}


def raw_spec(
    *,
    version: str = "1.0.0",
    runners: list[dict[str, Any]] | None = None,
    testing: dict[str, Any] | None = None,
    source: dict[str, Any] | None = None,
    no_testing: bool = False,
    **top: Any,
) -> dict[str, Any]:
    """A Pack `spec` dict as a user writes it: a ConfigMap source and two runners by default."""
    raw: dict[str, Any] = {
        "version": version,
        "source": copy.deepcopy(source) if source is not None else {"configMap": {"name": "core-pack"}},
    }
    if not no_testing:
        section: dict[str, Any] = {"runners": copy.deepcopy(runners if runners is not None else [SHELL, PYTHON])}
        section.update(copy.deepcopy(testing or {}))
        raw["testing"] = section
    raw.update(top)
    return raw


def spec_of(**kwargs: Any) -> PackSpec:
    """A validated PackSpec (see raw_spec for the arguments)."""
    return load_spec(raw_spec(**kwargs))


def observed(
    spec: PackSpec | None,
    *,
    status: PackStatus | dict[str, Any] | None = None,
    jobs: list[JobState] | None = None,
    pods: list[PodState] | None = None,
    retest: str | None = None,
    source_found: bool | None = True,
    now: datetime = NOW,
    generation: int = 1,
    spec_error: str | None = None,
) -> Observed:
    """What the executor observes about the Pack `PACK`."""
    if not isinstance(status, PackStatus):
        status = load_status(status)
    return Observed(
        pack=PACK,
        generation=generation,
        spec=spec,
        spec_error=spec_error,
        status=status,
        retest=retest,
        jobs=jobs or [],
        pods=pods or [],
        source_found=source_found,
        now=now,
    )


def later(obs: Observed, seconds: float, **changes: Any) -> Observed:
    """The same Pack observed `seconds` later, with some fields changed."""
    return dataclasses.replace(obs, now=obs.now + timedelta(seconds=seconds), **changes)


def running_status(
    spec: PackSpec, *, status: PackStatus | None = None, retest: str | None = None, now: datetime = NOW
) -> PackStatus:
    """The status once the planner started an execution and the executor admitted it."""
    obs = observed(spec, status=status, retest=retest, now=now)
    result = plan(obs)
    current = result.status.current_execution
    assert result.admitted and current is not None, "the planner did not start an execution"
    new, _ = started(obs, spec, current.model_copy(update={"nonce": NONCE}))
    return new


def job(status: PackStatus, runner: str, **fields: Any) -> JobState:
    """The Job of `runner` in the status' current execution."""
    current = status.current_execution
    assert current is not None
    return JobState(name=job_name(PACK.name, runner, current.id), runner=runner, execution=current.id, **fields)


def pod(of: JobState, **fields: Any) -> PodState:
    """The pod of a Job."""
    return PodState(name=f"{of.name}-x7k2p", job=of.name, **{"phase": "Running", **fields})


def suite(name: str, runner_type: str, passed: int, failed: int = 0, skipped: int = 0) -> TestSuiteResult:
    """A parsed suite with that many passing, failing and skipped cases."""
    cases = (
        [TestCaseResult(name=f"test_ok_{i}", status=TestStatus.PASSED, duration_ms=5) for i in range(passed)]
        + [
            TestCaseResult(name=f"test_bad_{i}", status=TestStatus.FAILED, error_message="assert 1 == 2")
            for i in range(failed)
        ]
        + [TestCaseResult(name=f"test_skip_{i}", status=TestStatus.SKIPPED) for i in range(skipped)]
    )
    return suite_from_cases(name, runner_type, cases).model_copy(update={"exit_code": 1 if failed else 0})


def concluded(
    spec: PackSpec,
    suites: dict[str, TestSuiteResult],
    *,
    status: PackStatus | None = None,
    retest: str | None = None,
    seconds: float = 42,
) -> PackStatus:
    """The status after an execution of `spec` ran and its runners produced `suites`."""
    running = running_status(spec, status=status, retest=retest)
    obs = observed(spec, status=running, retest=retest, now=NOW + timedelta(seconds=seconds))
    new, _, _, _ = conclude(obs, spec, suites)
    return new


def passing(spec: PackSpec) -> dict[str, TestSuiteResult]:
    """Every runner of `spec` passes three tests."""
    assert spec.testing is not None
    return {r.name: suite(r.name, str(r.type), 3) for r in spec.testing.runners}


EMPTY_CACHE = Cache(
    packs={}, queue={}, jobs={}, active_jobs={}, pods={}, ended_pods={}, config_maps={}, pack_nodes={}, dependents={}
)
"""A cache with nothing in it (for the executor's pure properties)."""
