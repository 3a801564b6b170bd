"""The runner wrapper: a small POSIX-sh script that runs a pack's tests and frames the result file,
and the pure code that reads its output back.

Owns: the wrapper script, the framing protocol, the judgement of one runner's output (parse,
then cross-check with the exit code) and the wording of a runner error (why, then the last lines
of the runner's own output).  Used identically by the cluster (Jobs) and by `packgate run` (local
processes).  Must not: do I/O beyond consuming the lines it is given.

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
import unicodedata
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from packgate.errors import ParseError
from packgate.parsing import LineParser, make_parser
from packgate.parsing._common import strip_ansi
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

TAIL_LINES = 5
"""Non-empty lines of a runner's own output quoted in a runner error."""

TAIL_CHARS = 500
"""Most characters of those lines quoted in a runner error, quotes and separators included."""

_TAIL_SEPARATOR = " | "


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


class OutputTail:
    """The last `TAIL_LINES` non-empty lines of a runner's own output, in constant memory: each is
    kept raw and cut to twice `TAIL_CHARS` (escape sequences may be stripped from it later)."""

    __slots__ = ("_lines",)

    def __init__(self) -> None:
        self._lines: deque[str] = deque(maxlen=TAIL_LINES)

    def add(self, text: str) -> None:
        if text and not text.isspace():
            self._lines.append(text[: 2 * TAIL_CHARS])

    def lines(self) -> list[str]:
        """The kept lines, oldest first, as they were fed (see `runner_error` for the cleaning)."""
        return list(self._lines)


def runner_error(why: str, last_lines: Sequence[str]) -> str:
    """One line saying why a runner is an error, then the last lines of its output:

        no test results recognised in the output (exit code 1); last lines: "a" | "b"

    Escape sequences and control characters are removed and each line is stripped; the newest
    lines are kept first, within `TAIL_CHARS` characters (a single longer line is cut, with "…").
    Without any output: "...; the runner printed nothing"."""
    cleaned = [text for text in map(_printable, last_lines) if text]
    if not cleaned:
        return f"{why}; the runner printed nothing"
    quoted: list[str] = []
    room = TAIL_CHARS
    for text in reversed(cleaned):
        separator = len(_TAIL_SEPARATOR) if quoted else 0
        entry = f'"{text}"'
        if separator + len(entry) > room:
            if quoted:
                break
            entry = f'"{text[: room - 3]}…"'
        quoted.append(entry)
        room -= separator + len(entry)
    return f"{why}; last lines: {_TAIL_SEPARATOR.join(reversed(quoted))}"


def _printable(text: str) -> str:
    """`text` as a terminal would show it, stripped: only what follows the last carriage return,
    without escape sequences or control characters (tabs become spaces)."""
    text = strip_ansi(text.rsplit("\r", 1)[-1]).replace("\t", " ")
    return "".join(c for c in text if unicodedata.category(c) not in ("Cc", "Cf")).strip()


@dataclass
class Collector:
    """Consumes a runner's output line by line; plain lines go to one parser, framed result-file
    lines to another, and the last plain lines are kept for a runner error's message.  Memory
    stays bounded by the parsers' own bounds."""

    nonce: str
    name: str
    runner_type: str
    plain: LineParser
    framed: LineParser | None
    exit_code: int | None = None
    result_missing: str | None = None
    saw_result: bool = False
    lines: int = 0
    tail: OutputTail = field(default_factory=OutputTail, repr=False)
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
        self.tail.add(text)
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

    An error's message says why, then quotes the last lines of the runner's output (`runner_error`).
    """
    code = exit_code if exit_code is not None else collector.exit_code
    parser = collector.framed if collector.framed is not None else collector.plain
    name, runner_type = collector.name, collector.runner_type
    last_lines = collector.tail.lines()
    extra: dict[str, object] = {"exit_code": code}
    with_code = "" if code is None else f" (exit code {code})"
    if collector.framed is not None and not collector.saw_result:
        missing = collector.result_missing or "the result file"
        why = f"the runner did not write {missing}{with_code}"
        return error_suite(name, runner_type, runner_error(why, last_lines), **extra)
    try:
        suite = parser.result()
    except ParseError as exc:
        return error_suite(name, runner_type, runner_error(f"{exc}{with_code}", last_lines), **extra)
    if code not in (None, 0) and suite.failed == 0:
        why = f"the runner exited with code {code} but reported no failing test"
        return suite.model_copy(
            update={"status": RunStatus.ERROR, "error": runner_error(why, last_lines), "exit_code": code}
        )
    return suite.model_copy(update={"exit_code": code})
