"""`packgate run DIR`: run a pack's tests locally, with no cluster, as the operator would.

Owns: running each runner of a pack.yaml as a local process under the same POSIX-sh wrapper the
cluster's Jobs run (`packgate.wrapper`), in a fresh copy of the pack (one workspace per runner, as
each Job has its own emptyDir), then the same parsing, combination and verdict as the operator.
Must not: import kopf or the Kubernetes client, or hold a runner's whole output in memory (lines
are streamed into the collector).

A runner installs its pack's requirements.txt (unittest, pytest) or package.json (node) first, as
in a Job: from the pack.yaml's testing.dependencies, else PACKGATE_PIP_INDEX_URL /
PACKGATE_NPM_REGISTRY, else the tools' own configuration (PIP_INDEX_URL, ~/.npmrc, ...).

Runners run one after the other.  A runner that outlives its timeout has its process group killed
and becomes an error suite; a runner whose interpreter is missing is an error suite too.
Exit code: 0 when the verdict allows activation, 1 when it blocks it (2 for a bad pack, by cli).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from packgate.commands import COMMANDS

if TYPE_CHECKING:
    from packgate.api.spec import DependencySources, Runner
    from packgate.packfile import PackFile
    from packgate.results import PackTestResult, TestSuiteResult
    from packgate.verdict import Verdict

HELP = COMMANDS["run"]

LINE_LIMIT = 1024 * 1024
"""Longest line handed to the collector at once; longer lines arrive in pieces."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", metavar="DIR", help="the pack directory (holds pack.yaml)")
    parser.add_argument("--runtime", metavar="NAME", help="run only this runner (its key in testing.runners)")
    parser.add_argument("--json", action="store_true", help="print the result and verdict as JSON only")
    parser.add_argument(
        "--keep-workspace", action="store_true", help="keep the temporary workspaces and print where they are"
    )


@dataclass(frozen=True)
class Outcome:
    """What one local execution produced."""

    packfile: PackFile
    result: PackTestResult | None
    verdict: Verdict


def run(args: argparse.Namespace) -> int:
    out: TextIO = sys.stdout
    echo = None if args.json else out
    outcome = run_pack(
        args.dir,
        runtime=args.runtime,
        keep_workspace=args.keep_workspace,
        echo=echo,
        note=(lambda text: print(text, file=sys.stderr)) if args.json else (lambda text: print(text, file=out)),
    )
    if args.json:
        json.dump(as_json(outcome), out, indent=2)
        out.write("\n")
    else:
        if outcome.result is not None:
            print(file=out)
            print(table(outcome.result), file=out)
            for line in problems(outcome.result):
                print(line, file=out)
        print(verdict_line(outcome.verdict), file=out)
    return 0 if outcome.verdict.allowed else 1


def run_pack(
    directory: str,
    *,
    runtime: str | None = None,
    keep_workspace: bool = False,
    echo: TextIO | None = None,
    note: Callable[[str], None] = lambda text: None,
) -> Outcome:
    """Load a pack.yaml, run its runners (or the one named `runtime`) and decide the verdict."""
    from packgate.api.spec import load_spec
    from packgate.errors import InvalidPack
    from packgate.packfile import load_packfile, to_pack_spec
    from packgate.results import combine
    from packgate.verdict import ActiveReason, Policy, Verdict, decide

    packfile = load_packfile(directory)
    testing = packfile.testing
    assert testing is not None  # load_packfile refuses a pack.yaml without one
    if not testing.enabled:
        return Outcome(
            packfile,
            None,
            Verdict(
                False,
                ActiveReason.NO_TEST_CONFIGURATION,
                "testing is disabled in pack.yaml (testing.enabled: false); enable it or set skipTests",
            ),
        )
    # The same translation `packgate manifest` applies, so both see the same runners.
    spec = load_spec(to_pack_spec(packfile, images={}, config_map_name="local"))
    assert spec.testing is not None
    runners = list(spec.testing.runners)
    if runtime is not None:
        runners = [r for r in runners if r.name == runtime]
        if not runners:
            names = ", ".join(r.name for r in spec.testing.runners) or "none"
            raise InvalidPack(f"pack.yaml has no runner {runtime!r} (runners: {names})")

    sources = dependency_sources(spec.testing.dependencies)
    started = datetime.now(UTC)
    clock = time.monotonic()
    base = Path(tempfile.mkdtemp(prefix=f"packgate-run-{packfile.ref}-"))
    suites: list[TestSuiteResult] = []
    try:
        for runner in runners:
            workspace = base / runner.name
            copy_pack(Path(directory), workspace)
            suites.append(run_runner(runner, workspace, echo=echo, sources=sources))
    finally:
        if keep_workspace:
            note(f"Kept the workspaces in {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)
    result = combine(
        packfile.ref,
        packfile.version,
        started,
        suites,
        duration_ms=int((time.monotonic() - clock) * 1000),
    )
    policy = Policy(min_pass_rate=testing.min_pass_rate, on_failure=testing.on_failure.value)
    return Outcome(packfile, result, decide(policy, result))


def dependency_sources(dependencies: DependencySources | None) -> tuple[str | None, str | None]:
    """(pip index URL, npm registry) for local runs: the pack's testing.dependencies, else
    PACKGATE_PIP_INDEX_URL / PACKGATE_NPM_REGISTRY from the environment; None leaves the tool's
    own configuration.  InvalidSetting, one line, for a variable that is not an http(s) URL."""
    from packgate.api.spec import source_url
    from packgate.errors import InvalidSetting

    found: list[str | None] = []
    for field, variable in (("pip_index_url", "PACKGATE_PIP_INDEX_URL"), ("npm_registry", "PACKGATE_NPM_REGISTRY")):
        value = getattr(dependencies, field) if dependencies is not None else None
        if not value and os.environ.get(variable):
            try:
                value = source_url(os.environ[variable])
            except ValueError as exc:
                raise InvalidSetting(f"invalid setting {variable}: {exc}") from None
        found.append(value or None)
    return found[0], found[1]


def copy_pack(source: Path, workspace: Path) -> None:
    """A fresh copy of the pack, without the files a ConfigMap copy would leave out."""
    from packgate.packfile import is_skipped

    def ignore(directory: str, names: list[str]) -> set[str]:
        relative = Path(directory).relative_to(source).as_posix()
        prefix = "" if relative == "." else f"{relative}/"
        # Skipped files and dangling links: the same files `packgate manifest` would carry.
        return {n for n in names if is_skipped(f"{prefix}{n}") or not os.path.exists(os.path.join(directory, n))}

    from packgate.errors import InvalidPack

    try:
        shutil.copytree(source, workspace, ignore=ignore, symlinks=False)
    except (OSError, shutil.Error) as exc:
        detail = exc.args[0][0][2] if isinstance(exc, shutil.Error) and exc.args and exc.args[0] else exc
        raise InvalidPack(f"cannot copy {source} into a workspace: {detail}") from exc


def run_runner(
    runner: Runner,
    workspace: Path,
    *,
    echo: TextIO | None = None,
    sources: tuple[str | None, str | None] = (None, None),
) -> TestSuiteResult:
    """Run one runner under the wrapper in `workspace`; its judged suite (never raises for the
    runner's own failures: timeouts, missing interpreters, crashes and failed dependency installs
    become error suites).  `sources`: (pip index URL, npm registry) to install dependencies from."""
    from packgate.api.spec import runner_command, runner_format
    from packgate.results import error_suite
    from packgate.wrapper import (
        dependency_env,
        judge,
        new_collector,
        new_nonce,
        runner_error,
        wrapper_command,
        wrapper_env,
    )

    argv = runner_command(runner)
    kind = runner.type.value
    env = {k: v for k, v in os.environ.items() if not k.startswith("PACKGATE_")}
    env.update(dependency_env(kind, *sources))  # the runner's own env wins, as in a Job
    for var in runner.env:
        value = (var.model_extra or {}).get("value")
        if isinstance(value, str):
            env[var.name] = value
    nonce = new_nonce()
    env.update(wrapper_env(nonce, str(workspace), runner.result_path, kind))

    if "/" not in argv[0] and shutil.which(argv[0], path=env.get("PATH")) is None:
        return error_suite(
            runner.name, kind, f"{argv[0]} is not installed here (needed by the {kind} runner {runner.name})"
        )
    if echo is not None:
        print(f"=== {runner.name} ({kind}): {' '.join(argv)}", file=echo, flush=True)

    collector = new_collector(
        nonce,
        name=runner.name,
        runner_type=kind,
        result_format=runner_format(runner).value,
        result_path=runner.result_path,
    )
    timeout = runner.timeout_seconds
    clock = time.monotonic()
    try:
        process = subprocess.Popen(
            wrapper_command(argv),
            cwd=workspace,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
            start_new_session=True,  # its own process group, killed as a whole at the timeout
        )
    except OSError as exc:
        return error_suite(runner.name, kind, f"cannot start the runner: {exc}")
    timed_out = threading.Event()

    def kill() -> None:
        timed_out.set()
        _kill_group(process)

    timer = threading.Timer(timeout, kill)
    timer.daemon = True
    timer.start()
    stream = process.stdout
    assert stream is not None
    try:
        for line in iter(lambda: stream.readline(LINE_LIMIT), ""):
            collector.feed(line)
            if echo is not None:
                text = line.rstrip("\r\n")
                echo.write(f"  {text}\n" if text else "\n")
            if collector.exit_code is not None:
                break  # the wrapper's last line: like a container, the run ends with it
        code = process.wait()
    finally:
        timer.cancel()
        if process.poll() is None:
            _kill_group(process)
            process.wait()
        _kill_group(process)  # anything the runner left running in its group
    elapsed_ms = int((time.monotonic() - clock) * 1000)
    if timed_out.is_set():
        message = runner_error(f"timed out after {timeout}s", collector.tail.lines())
        return error_suite(runner.name, kind, message, duration_ms=elapsed_ms)
    suite = judge(collector, exit_code=code)
    return suite.model_copy(update={"duration_ms": elapsed_ms})


def _kill_group(process: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


# --- output --------------------------------------------------------------------------------------


def as_json(outcome: Outcome) -> dict[str, object]:
    """`{"result": PackTestResult | null, "verdict": {...}}`."""
    verdict = outcome.verdict
    return {
        "result": outcome.result.model_dump(mode="json") if outcome.result is not None else None,
        "verdict": {
            "allowed": verdict.allowed,
            "reason": verdict.reason.value,
            "message": verdict.message,
            "warning": verdict.warning,
        },
    }


def table(result: PackTestResult) -> str:
    """One row per runner and a total row, aligned."""
    rows = [["RUNNER", "TYPE", "TOTAL", "PASSED", "FAILED", "SKIPPED", "STATUS", "DURATION"]]
    for s in result.test_suites:
        counts = (s.total, s.passed, s.failed, s.skipped)
        rows.append([s.name, s.runner_type, *map(str, counts), s.status.value, _duration(s.duration_ms)])
    counts = (result.total_tests, result.passed, result.failed, result.skipped)
    rows.append(["total", "", *map(str, counts), result.status.value, _duration(result.duration_ms)])
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    numeric = {2, 3, 4, 5, 7}
    return "\n".join(
        "  ".join(
            cell.rjust(widths[i]) if i in numeric else cell.ljust(widths[i]) for i, cell in enumerate(row)
        ).rstrip()
        for row in rows
    )


def problems(result: PackTestResult, limit: int = 10) -> list[str]:
    """Runner errors, then the first failing tests, one line each."""
    lines = [f"error in {s.name}: {s.error}" for s in result.test_suites if s.error]
    failing = [
        (s.name, c.name, c.error_message)
        for s in result.test_suites
        for c in s.test_cases
        if c.status.value in ("failed", "error")
    ]
    for runner, name, message in failing[:limit]:
        detail = f": {_summary(message)}" if message and message.strip() else ""
        lines.append(f"failed in {runner}: {name}{detail}")
    if len(failing) > limit:
        lines.append(f"... and {len(failing) - limit} more failing tests")
    return lines


_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Failure)\b")


def _summary(message: str) -> str:
    """One line of an error message: a traceback's exception line, else the first line."""
    lines = [part.strip() for part in message.splitlines() if part.strip()]
    if lines[0].startswith("Traceback"):
        exceptions = [line for line in lines if _EXCEPTION_LINE.match(line)]
        return exceptions[-1] if exceptions else lines[-1]
    return lines[0]


def verdict_line(verdict: Verdict) -> str:
    word = "ALLOWED" if verdict.allowed else "BLOCKED"
    return f"{word} ({verdict.reason.value}): {verdict.message}"


def _duration(ms: int) -> str:
    return f"{ms / 1000:.2f}s"
