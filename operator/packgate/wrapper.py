"""The runner wrapper: a small POSIX-sh script that runs a pack's tests and frames the result file,
and the pure code that reads its output back.

Owns: the wrapper script, the framing protocol and the judgement of one runner's output (parse,
then cross-check with the exit code).  Used identically by the cluster (Jobs) and by `packgate run`
(local processes).  Must not: do I/O beyond consuming the lines it is given.

Protocol, one marker per line, each carrying the execution's nonce:

    <runner output ...>
    packgate:result-begin <nonce> <path>
    <the result file, verbatim>
    packgate:result-end <nonce>
    packgate:result-missing <nonce> <path>        (instead, when the file was not written)
    packgate:exit <nonce> <code>

Markers whose nonce does not match are ordinary output: a test cannot forge results.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field

from packgate.errors import ParseError
from packgate.parsing import LineParser, make_parser
from packgate.results import RunStatus, TestSuiteResult, error_suite

WRAPPER_SCRIPT = r"""
cd "${PACKGATE_WORKSPACE:-.}" || { echo "packgate: workspace ${PACKGATE_WORKSPACE:-.} is missing"; exit 126; }
"$@" 2>&1
rc=$?
if [ -n "${PACKGATE_RESULT_PATH:-}" ]; then
  if [ -f "$PACKGATE_RESULT_PATH" ]; then
    echo "packgate:result-begin $PACKGATE_NONCE $PACKGATE_RESULT_PATH"
    cat "$PACKGATE_RESULT_PATH"
    echo
    echo "packgate:result-end $PACKGATE_NONCE"
  else
    echo "packgate:result-missing $PACKGATE_NONCE $PACKGATE_RESULT_PATH"
  fi
fi
echo "packgate:exit $PACKGATE_NONCE $rc"
exit $rc
""".strip()

_BEGIN = "packgate:result-begin "
_END = "packgate:result-end "
_MISSING = "packgate:result-missing "
_EXIT = "packgate:exit "


def new_nonce() -> str:
    """A fresh per-execution nonce."""
    return secrets.token_hex(8)


def wrapper_command(argv: list[str]) -> list[str]:
    """The container command that runs `argv` under the wrapper."""
    return ["/bin/sh", "-c", WRAPPER_SCRIPT, "packgate-wrapper", *argv]


def wrapper_env(nonce: str, workspace: str, result_path: str | None) -> dict[str, str]:
    """The environment the wrapper reads."""
    env = {"PACKGATE_NONCE": nonce, "PACKGATE_WORKSPACE": workspace}
    if result_path:
        env["PACKGATE_RESULT_PATH"] = result_path
    return env


@dataclass
class Collector:
    """Consumes a runner's output line by line; plain lines go to one parser, framed result-file
    lines to another.  Memory stays bounded by the parsers' own bounds."""

    nonce: str
    name: str
    runner_type: str
    plain: LineParser
    framed: LineParser | None
    exit_code: int | None = None
    result_missing: str | None = None
    saw_result: bool = False
    lines: int = 0
    _in_frame: bool = field(default=False, repr=False)

    def feed(self, line: str) -> None:
        self.lines += 1
        text = line.rstrip("\r\n")
        if self._in_frame:
            if text == f"{_END}{self.nonce}":
                self._in_frame = False
            elif self.framed is not None:
                self.framed.feed(text)
            return
        if text.startswith(_BEGIN) and _nonce_of(text, _BEGIN) == self.nonce:
            self._in_frame = True
            self.saw_result = True
            return
        if text.startswith(_MISSING) and _nonce_of(text, _MISSING) == self.nonce:
            self.result_missing = text[len(_MISSING) + len(self.nonce) + 1 :]
            return
        if text.startswith(_EXIT) and _nonce_of(text, _EXIT) == self.nonce:
            code = text[len(_EXIT) + len(self.nonce) + 1 :].strip()
            self.exit_code = int(code) if code.lstrip("-").isdigit() else None
            return
        self.plain.feed(text)


def _nonce_of(text: str, prefix: str) -> str:
    rest = text[len(prefix) :].split(" ", 1)
    return rest[0]


def new_collector(
    nonce: str,
    *,
    name: str,
    runner_type: str,
    result_format: str,
    result_path: str | None,
    max_cases: int = 10_000,
) -> Collector:
    """A Collector for one runner: the declared format applies to the result file when there is
    one (plain output is then auto-detected for context), else to the plain output."""
    if result_path:
        return Collector(
            nonce=nonce,
            name=name,
            runner_type=runner_type,
            plain=make_parser("auto", name=name, runner_type=runner_type, max_cases=max_cases),
            framed=make_parser(result_format, name=name, runner_type=runner_type, max_cases=max_cases),
        )
    return Collector(
        nonce=nonce,
        name=name,
        runner_type=runner_type,
        plain=make_parser(result_format, name=name, runner_type=runner_type, max_cases=max_cases),
        framed=None,
    )


def collect(
    lines: Iterable[str],
    nonce: str,
    *,
    name: str,
    runner_type: str,
    result_format: str,
    result_path: str | None,
    exit_code: int | None = None,
) -> TestSuiteResult:
    """Feed all lines, then judge.  `exit_code` (from the container status) wins over the
    wrapper's own exit line when both are known."""
    collector = new_collector(
        nonce, name=name, runner_type=runner_type, result_format=result_format, result_path=result_path
    )
    for line in lines:
        collector.feed(line)
    return judge(collector, exit_code=exit_code)


def judge(collector: Collector, *, exit_code: int | None = None) -> TestSuiteResult:
    """The suite result of one runner: parsed results, cross-checked with the exit code.

    - a result file was declared but not written → error;
    - nothing recognisable in the output → error;
    - a non-zero exit with no failing test → error (the runner crashed, it did not pass).
    """
    code = exit_code if exit_code is not None else collector.exit_code
    parser = collector.framed if collector.framed is not None else collector.plain
    name, runner_type = collector.name, collector.runner_type
    extra: dict[str, object] = {"exit_code": code}
    if collector.framed is not None and not collector.saw_result:
        missing = collector.result_missing or "the result file"
        return error_suite(name, runner_type, f"the runner did not write {missing} (exit code {code})", **extra)
    try:
        suite = parser.result()
    except ParseError as exc:
        return error_suite(name, runner_type, f"{exc} (exit code {code})", **extra)
    if code not in (None, 0) and suite.failed == 0:
        return suite.model_copy(
            update={
                "status": RunStatus.ERROR,
                "error": f"the runner exited with code {code} but reported no failing test",
                "exit_code": code,
            }
        )
    return suite.model_copy(update={"exit_code": code})
