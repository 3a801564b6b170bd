"""The runner wrapper: a small POSIX-sh script that runs a pack's tests and frames the result file,
and the pure code that reads its output back.

Owns: the wrapper script, the framing protocol (and decoding a frame, in bounded memory), the
judgement of one runner's output (parse, then cross-check with the exit code) and the wording of a
runner error (why, then the last lines of the runner's own output).  Used identically by the
cluster (Jobs) and by `packgate run` (local processes).  Must not: do I/O beyond consuming the
lines it is given.

Protocol, one marker per line, each carrying the execution's nonce; the frame comes last, so a
log rotated or read from its end still holds it:

    <runner output ...>
    packgate:result-begin <nonce> <path> gzip+base64
    <the result file, gzip-compressed, base64-encoded in 76-character lines>
    packgate:result-end <nonce> <sha256 of the file, or -> <size of the file in bytes>
    packgate:exit <nonce> <code>

Without `gzip` or `base64` in the image the file goes verbatim (the frame before compression;
nothing to check it against):

    packgate:result-begin <nonce> <path> plain
    <the result file, verbatim>
    packgate:result-end <nonce>

and when the file was not written:

    packgate:result-missing <nonce> <path>

Dependencies: with PACKGATE_INSTALL=pip (python runner types) and a `requirements.txt` in the
workspace, the wrapper first runs `python3 -m pip install --target .packgate/python -r
requirements.txt` and puts that directory on PYTHONPATH and PATH; with PACKGATE_INSTALL=npm (node)
and a `package.json` declaring dependencies, `npm ci` (a lock file is present) or `npm install`.
Sources come from the tools' own environment (PIP_INDEX_URL, npm_config_registry).  The tool's
output goes to .packgate/install.log, not the log, so parsers never see it; when it fails, the
wrapper prints the log's last lines (npm's without its stack traces, object dumps and advice), then

    packgate:install-failed <nonce> <requirements.txt|package.json> <pip|npm> <exit code>
    packgate:exit <nonce> <exit code>

and the tests do not run: the runner is an error, reason DependencyInstallFailed.

Markers whose nonce does not match are ordinary output: a test cannot forge results.  A
compressed frame is decoded as it streams (base64 line by line, then zlib in bounded steps, then
UTF-8, then lines for the result parser) and checked against its size and digest; a frame cut,
corrupt or not matching is a runner error ("the result file arrived damaged ..."), never a
verdict on half a file.
"""

from __future__ import annotations

import binascii
import codecs
import hashlib
import hmac
import re
import secrets
import unicodedata
import zlib
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from packgate.errors import ParseError
from packgate.parsing import LineParser, LineSplitter, make_parser
from packgate.parsing._common import strip_ansi
from packgate.results import RunStatus, TestSuiteResult, error_suite

WRAPPER_SCRIPT = r"""
if [ -n "${PACKGATE_SOURCE:-}" ]; then
  cp -R "$PACKGATE_SOURCE/." "${PACKGATE_WORKSPACE:-.}/" ||
    { echo "packgate: could not copy the pack from $PACKGATE_SOURCE"; exit 126; }
fi
cd "${PACKGATE_WORKSPACE:-.}" || { echo "packgate: workspace ${PACKGATE_WORKSPACE:-.} is missing"; exit 126; }
pg_install() {
  pg_file=$1 pg_tool=$2
  shift 2
  mkdir -p .packgate
  echo "packgate: installing the dependencies in $pg_file with $pg_tool"
  "$@" > .packgate/install.log 2>&1 && return 0
  pg_rc=$?
  pg_log=.packgate/install.log
  pg_noise='^npm (error|ERR!)  |^npm (error|ERR!) *(404)? *[{}]? *$|complete log of this run|behind a proxy'
  pg_noise="$pg_noise|Note that you can also install|tarball, folder, http url"
  if [ "$pg_tool" = npm ] && grep -Ev "$pg_noise" "$pg_log" > .packgate/install.short; then
    pg_log=.packgate/install.short
  fi
  tail -n 20 "$pg_log" 2>/dev/null || cat "$pg_log"
  echo "packgate:install-failed $PACKGATE_NONCE $pg_file $pg_tool $pg_rc"
  echo "packgate:exit $PACKGATE_NONCE $pg_rc"
  exit $pg_rc
}
case "${PACKGATE_INSTALL:-}" in
  pip)
    if [ -f requirements.txt ] && grep -q '^[[:space:]]*[^#[:space:]]' requirements.txt; then
      pg_deps=$PWD/.packgate/python
      pg_install requirements.txt pip python3 -m pip install --disable-pip-version-check --no-input \
        --progress-bar off --no-warn-script-location --target "$pg_deps" -r requirements.txt
      export PYTHONPATH="$pg_deps${PYTHONPATH:+:$PYTHONPATH}" PATH="$pg_deps/bin:$PATH"
    fi ;;
  npm)
    if [ -f package.json ] && node -e 'try { var p = JSON.parse(require("fs").readFileSync("package.json", "utf8")) }
catch (e) { process.exit(0) }
var kinds = ["dependencies", "devDependencies", "optionalDependencies"]
process.exit(kinds.some(function (k) { return p && p[k] && Object.keys(p[k]).length }) ? 0 : 3)' >/dev/null 2>&1; then
      pg_verb=install
      if [ -f package-lock.json ] || [ -f npm-shrinkwrap.json ]; then pg_verb=ci; fi
      pg_install package.json npm npm "$pg_verb" --no-audit --no-fund --no-update-notifier
    fi ;;
esac
"$@" 2>&1
rc=$?
if [ -n "${PACKGATE_RESULT_PATH:-}" ]; then
  pg_file=$PACKGATE_RESULT_PATH
  if [ ! -f "$pg_file" ]; then
    echo "packgate:result-missing $PACKGATE_NONCE $pg_file"
  elif command -v gzip >/dev/null 2>&1 && command -v base64 >/dev/null 2>&1; then
    pg_sum=-
    if command -v sha256sum >/dev/null 2>&1; then
      pg_sum=$(sha256sum < "$pg_file") && pg_sum=${pg_sum%% *} || pg_sum=-
    fi
    pg_size=$(wc -c < "$pg_file") && pg_size=${pg_size##* } || pg_size=-
    echo "packgate:result-begin $PACKGATE_NONCE $pg_file gzip+base64"
    gzip -c < "$pg_file" | base64
    echo "packgate:result-end $PACKGATE_NONCE ${pg_sum:--} ${pg_size:--}"
  else
    echo "packgate:result-begin $PACKGATE_NONCE $pg_file plain"
    cat "$pg_file"
    echo
    echo "packgate:result-end $PACKGATE_NONCE"
  fi
fi
echo "packgate:exit $PACKGATE_NONCE $rc"
exit $rc
""".strip()

_BEGIN = "packgate:result-begin "
_END = "packgate:result-end "
_MISSING = "packgate:result-missing "
_EXIT = "packgate:exit "
_INSTALL_FAILED = "packgate:install-failed "
_COUNT = re.compile(r"[0-9]{1,20}")  # a size or an exit code: ASCII digits only, int() never fails on them

GZIP_BASE64 = "gzip+base64"
"""The encoding word of a compressed frame."""

PLAIN = "plain"
"""The encoding word of a verbatim frame (also assumed when the begin marker has none)."""

INFLATE_STEP = 64 * 1024
"""Most bytes one decompression step may produce (so a decompression bomb costs time, not memory)."""

DAMAGED_BECAUSE = "the log was cut or rotated while it was printed"
"""Why a frame arrives damaged, as far as Packgate can tell."""

TAIL_LINES = 5
"""Non-empty lines of a runner's own output quoted in a runner error."""

TAIL_CHARS = 500
"""Most characters of those lines quoted in a runner error, quotes and separators included."""

_TAIL_SEPARATOR = " | "


DEPENDENCY_INSTALL_FAILED = "DependencyInstallFailed"
"""The reason of a runner whose dependencies could not be installed."""

INSTALL_TOOLS: dict[str, str] = {"unittest": "pip", "pytest": "pip", "node": "npm"}
"""The tool that installs a runner type's dependencies (PACKGATE_INSTALL); other types install none."""


@dataclass(frozen=True)
class InstallFailure:
    """What the wrapper's install-failed marker says: which file, which tool, its exit code."""

    file: str
    tool: str
    exit_code: int | None

    def why(self) -> str:
        code = "" if self.exit_code is None else f" (exit code {self.exit_code})"
        return f"installing the dependencies in {self.file} with {self.tool} failed{code}; the tests did not run"


def new_nonce() -> str:
    """A fresh random nonce (`packgate run`, whose executions live in one process)."""
    return secrets.token_hex(8)


NONCE_HEX = 16
"""Hex digits of a nonce (64 bits)."""


def execution_nonce(secret: str, pack_uid: str, execution: str) -> str:
    """The nonce of one execution of one Pack: HMAC-SHA256 of "<uid>/<execution>" under the
    per-install `secret` ("" when none is set), cut to NONCE_HEX hex digits.  Deterministic, so
    every replica -- one that admits the execution, one that takes it over, a restarted one --
    frames and reads the same markers, while another execution (or another Pack) gets another."""
    message = f"{pack_uid}/{execution}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:NONCE_HEX]


def choose_nonce(stored: str, secret: str, pack_uid: str, execution: str) -> str:
    """The nonce to use for an execution: the one already stored in status.currentExecution (it
    is what the Jobs were created with, whichever replica or version wrote it), else the derived
    `execution_nonce`."""
    return stored or execution_nonce(secret, pack_uid, execution)


def wrapper_command(argv: list[str]) -> list[str]:
    """The container command that runs `argv` under the wrapper."""
    return ["/bin/sh", "-c", WRAPPER_SCRIPT, "packgate-wrapper", *argv]


def wrapper_env(
    nonce: str, workspace: str, result_path: str | None, runner_type: str | None = None, source: str | None = None
) -> dict[str, str]:
    """The environment the wrapper reads.  `runner_type` picks the tool that installs the pack's
    dependencies first (`INSTALL_TOOLS`), if its type has one.  `source`: a read-only directory
    the wrapper first copies the pack from into the workspace (a ConfigMap volume; other sources
    are fetched by an init container)."""
    env = {"PACKGATE_NONCE": nonce, "PACKGATE_WORKSPACE": workspace}
    if source:
        env["PACKGATE_SOURCE"] = source
    if result_path:
        env["PACKGATE_RESULT_PATH"] = result_path
    tool = INSTALL_TOOLS.get(runner_type or "")
    if tool:
        env["PACKGATE_INSTALL"] = tool
    return env


def dependency_env(runner_type: str, pip_index_url: str | None, npm_registry: str | None) -> dict[str, str]:
    """The environment that tells a runner's install tool where to install from: PIP_INDEX_URL
    (and PIP_TRUSTED_HOST for a plain-http index, which pip otherwise refuses) for the pip types,
    npm_config_registry for node.  A source that is None adds nothing (the tool's own default);
    other runner types install nothing."""
    tool = INSTALL_TOOLS.get(runner_type)
    if tool == "pip" and pip_index_url:
        env = {"PIP_INDEX_URL": pip_index_url}
        parts = urlsplit(pip_index_url)
        if parts.scheme == "http" and parts.hostname:
            env["PIP_TRUSTED_HOST"] = parts.hostname
        return env
    if tool == "npm" and npm_registry:
        return {"npm_config_registry": npm_registry}
    return {}


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

    def clear(self) -> None:
        """Forget the kept lines (they turned out not to be the runner's own output)."""
        self._lines.clear()


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


def damaged(path: str | None, detail: str) -> str:
    """Why a runner is an error when its result file's frame did not arrive whole."""
    named = f"the result file {path}" if path else "the result file"
    return f"{named} arrived damaged ({detail}): {DAMAGED_BECAUSE}"


class FrameDecoder:
    """Decodes one `gzip+base64` frame as its lines arrive, in bounded memory: base64 four
    characters at a time (any line length), zlib in steps of at most `INFLATE_STEP` bytes, UTF-8
    incrementally, then lines (over-long ones in pieces) into `sink`; the size and SHA-256 of
    the decompressed bytes are kept for `finish`.  Never raises: whatever goes wrong sets
    `damage`, one line, and the rest of the frame is ignored."""

    def __init__(self, path: str, sink: LineParser, *, max_bytes: int | None = None) -> None:
        self.path = path
        self.size = 0
        self.damage: str | None = None
        self._sink = sink
        self._max_bytes = max_bytes
        self._carry = ""  # fewer than 4 base64 characters, waiting for the rest of their group
        self._padded = False
        self._line = 0
        self._inflate = zlib.decompressobj(wbits=31)  # gzip: header, deflate, CRC-32 and length
        self._digest = hashlib.sha256()
        self._text = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._lines = LineSplitter()

    def feed(self, text: str) -> None:
        """One line, or piece of a line, of the frame's base64 text."""
        if self.damage is not None:
            return
        self._line += 1
        data = self._carry + text.strip()
        usable = len(data) - len(data) % 4
        self._carry = data[usable:]
        if not usable:
            return
        if self._padded:
            self._damaged("base64 text after its final padding")
            return
        try:
            raw = binascii.a2b_base64(data[:usable], strict_mode=True)
        except ValueError:
            self._damaged(f"not base64 at line {self._line} of the frame")
            return
        self._padded = data[usable - 1] == "="
        self._inflate_some(raw)

    def finish(self, fields: Sequence[str]) -> None:
        """The end marker arrived, with `<sha256 or -> <size or ->`: drain and check, then feed
        `sink` the file's last line."""
        if self.damage is None and not self._inflate.eof:
            self._inflate_some(b"")
        if self.damage is not None:
            return
        if self._carry or not self._inflate.eof:
            self._damaged("its compressed data is cut short")
            return
        digest, size = (*fields, "-", "-")[:2]
        if size != "-" and not _COUNT.fullmatch(size):
            self._damaged(f"unreadable end marker: size {size!r}")
        elif size != "-" and int(size) != self.size:
            self._damaged(f"size mismatch: {size} bytes sent, {self.size} arrived")
        elif digest != "-" and digest.lower() != self._digest.hexdigest():
            self._damaged("checksum mismatch")
        else:
            self._lines_out(self._text.decode(b"", final=True))
            for piece in self._lines.close():
                self._sink.feed(piece)

    def _damaged(self, detail: str) -> None:
        self.damage = damaged(self.path, detail)

    def _inflate_some(self, data: bytes) -> None:
        inflate = self._inflate
        if inflate.eof:
            if data:
                self._damaged("data after the end of its compressed stream")
            return
        try:
            while True:
                out = inflate.decompress(data, INFLATE_STEP)
                self._emit(out)
                data = inflate.unconsumed_tail
                if self.damage is not None or inflate.eof or (not data and len(out) < INFLATE_STEP):
                    break
        except zlib.error as exc:
            reason = str(exc).rpartition("while decompressing data: ")[2]
            self._damaged(f"corrupt compressed data: {reason}")
            return
        if self.damage is None and inflate.eof and inflate.unused_data:
            self._damaged("data after the end of its compressed stream")

    def _emit(self, out: bytes) -> None:
        if not out:
            return
        self.size += len(out)
        if self._max_bytes is not None and self.size > self._max_bytes:
            self.damage = (
                f"the result file {self.path} is larger than the {self._max_bytes}-byte limit once "
                "decompressed (PACKGATE_LOG_LIMIT_BYTES)"
            )
            return
        self._digest.update(out)
        self._lines_out(self._text.decode(out))

    def _lines_out(self, text: str) -> None:
        sink = self._sink
        for piece in self._lines.split(text):
            if piece.endswith("\n"):
                sink.feed(piece)
            else:
                sink.feed_partial(piece)


@dataclass
class Collector:
    """Consumes a runner's output line by line (a long line in pieces: `feed_partial`, then
    `feed` with its end, or `feed_piece` for either); plain lines go to one parser, the framed
    result file (decoded) to another, and the last plain lines are kept for a runner error's
    message.  Memory stays bounded by the parsers' own bounds: nothing here grows with the
    output.  Past `log_limit` characters of output it stops taking any (`over_limit`), and the
    runner is an error."""

    nonce: str
    name: str
    runner_type: str
    plain: LineParser
    framed: LineParser | None
    declared_path: str | None = None
    log_limit: int | None = None
    exit_code: int | None = None
    result_missing: str | None = None
    install_failure: InstallFailure | None = None
    saw_result: bool = False
    result_path: str | None = None
    lines: int = 0
    chars: int = 0
    over_limit: bool = False
    tail: OutputTail = field(default_factory=OutputTail, repr=False)
    _frame: str | None = field(default=None, repr=False)  # the open frame's encoding
    _decoder: FrameDecoder | None = field(default=None, repr=False)
    _damage: str | None = field(default=None, repr=False)
    _orphan_end: bool = field(default=False, repr=False)
    _partial: bool = field(default=False, repr=False)

    def __post_init__(self) -> None:
        self._begin = f"{_BEGIN}{self.nonce} "
        self._end = f"{_END}{self.nonce}"
        self._missing = f"{_MISSING}{self.nonce} "
        self._exit = f"{_EXIT}{self.nonce} "
        self._install_failed = f"{_INSTALL_FAILED}{self.nonce} "

    def feed(self, line: str) -> None:
        """A complete line, with or without its newline (after `feed_partial`, the line's end)."""
        if self._over(line):
            return
        self.lines += 1
        text = line.rstrip("\r\n")
        if self._partial:
            self._partial = False
            self._take(text, complete=True, first=False)
            return
        if self._frame is not None:
            if text.startswith(self._end) and text[len(self._end) : len(self._end) + 1] in ("", " "):
                self._close_frame(text[len(self._end) :].split())
            else:
                self._take(text, complete=True, first=True)
            return
        if text.startswith(self._begin):
            self._open_frame(text[len(self._begin) :])
        elif text.startswith(self._end) and text[len(self._end) : len(self._end) + 1] in ("", " "):
            # The frame's end without its start: the log was rotated (or cut) inside the frame,
            # so everything read so far was the frame's middle, not the runner's own output.
            self._orphan_end = True
            self.tail.clear()
        elif text.startswith(self._missing):
            self.result_missing = text[len(self._missing) :]
        elif text.startswith(self._exit):
            code = text[len(self._exit) :].strip()
            self.exit_code = int(code) if _COUNT.fullmatch(code.removeprefix("-")) else None
        elif text.startswith(self._install_failed):
            file, tool, code = (*text[len(self._install_failed) :].split(), "", "", "")[:3]
            self.install_failure = InstallFailure(
                file=file or "the dependency file",
                tool=tool or "its tool",
                exit_code=int(code) if _COUNT.fullmatch(code) else None,
            )
        else:
            self._take(text, complete=True, first=True)

    def feed_partial(self, piece: str) -> None:
        """A piece of a line whose end is still to come (never a marker: markers are short)."""
        if self._over(piece):
            return
        first = not self._partial
        self._partial = True
        self._take(piece, complete=False, first=first)

    def feed_piece(self, piece: str) -> None:
        """A line ending in a newline (`feed`), or a piece of a longer line (`feed_partial`), as
        `LineSplitter` and `Kube.stream_log_lines` give them."""
        if piece.endswith("\n"):
            self.feed(piece)
        else:
            self.feed_partial(piece)

    def damage(self) -> str | None:
        """Why the result file did not arrive whole, if it did not: a damaged frame, a frame the
        log ended inside, or a frame's end whose start was lost."""
        if self._damage is not None:
            return self._damage
        if self._frame is not None:
            return damaged(self.result_path, "its end marker never arrived")
        if self.start_lost:
            return damaged(self.declared_path, "its start is missing")
        return None

    @property
    def start_lost(self) -> bool:
        """Whether the log began inside the frame (rotated or cut): the runner's own output is gone."""
        return self._orphan_end and not self.saw_result

    def _over(self, text: str) -> bool:
        if self.over_limit:
            return True
        self.chars += len(text)
        if self.log_limit is not None and self.chars > self.log_limit:
            self.over_limit = True
        return self.over_limit

    def _take(self, text: str, *, complete: bool, first: bool) -> None:
        if self._frame is None:
            if first:
                self.tail.add(text)
            target: LineParser | None = self.plain
        elif self._decoder is not None:
            self._decoder.feed(text)
            return
        else:
            target = self.framed
        if target is not None:
            if complete:
                target.feed(text)
            else:
                target.feed_partial(text)

    def _open_frame(self, rest: str) -> None:
        path, _, encoding = rest.rpartition(" ")
        if encoding not in (GZIP_BASE64, PLAIN):
            path, encoding = rest, PLAIN  # an older wrapper's marker: a verbatim frame
        self.saw_result = True
        self.result_path = path
        self._frame = encoding
        if encoding == GZIP_BASE64 and self.framed is not None:
            self._decoder = FrameDecoder(path, self.framed, max_bytes=self.log_limit)

    def _close_frame(self, fields: list[str]) -> None:
        decoder = self._decoder
        if decoder is not None:
            decoder.finish(fields)
            self._damage = self._damage or decoder.damage
        self._frame = None
        self._decoder = None


def new_collector(
    nonce: str,
    *,
    name: str,
    runner_type: str,
    result_format: str,
    result_path: str | None,
    max_cases: int = 10_000,
    log_limit: int | None = None,
) -> Collector:
    """A Collector for one runner: the declared format applies to the result file when there is
    one (plain output is then auto-detected for context), else to the plain output.  `log_limit`
    (PACKGATE_LOG_LIMIT_BYTES in the operator) bounds the characters of output taken, and the
    decompressed size of the result file; None: no limit."""
    if result_path:
        return Collector(
            nonce=nonce,
            name=name,
            runner_type=runner_type,
            plain=make_parser("auto", name=name, runner_type=runner_type, max_cases=max_cases),
            framed=make_parser(result_format, name=name, runner_type=runner_type, max_cases=max_cases),
            declared_path=result_path,
            log_limit=log_limit,
        )
    return Collector(
        nonce=nonce,
        name=name,
        runner_type=runner_type,
        plain=make_parser(result_format, name=name, runner_type=runner_type, max_cases=max_cases),
        framed=None,
        log_limit=log_limit,
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
    """Feed all lines (each one complete), then judge.  `exit_code` (from the container status)
    wins over the wrapper's own exit line when both are known."""
    collector = new_collector(
        nonce, name=name, runner_type=runner_type, result_format=result_format, result_path=result_path
    )
    for line in lines:
        collector.feed(line)
    return judge(collector, exit_code=exit_code)


def judge(collector: Collector, *, exit_code: int | None = None) -> TestSuiteResult:
    """The suite result of one runner: parsed results, cross-checked with the exit code.

    - the log was longer than the collector's limit → error (its end, with the results and the
      exit line, was never read);
    - the wrapper could not install the pack's dependencies → error, reason
      DependencyInstallFailed, quoting the tool's last lines (the tests never ran);
    - a result file was declared but arrived damaged (`Collector.damage`) → error;
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
    if collector.over_limit:
        why = (
            f"the log is longer than the {collector.log_limit}-byte limit (PACKGATE_LOG_LIMIT_BYTES), "
            f"so its end was not read{with_code}"
        )
        return error_suite(name, runner_type, runner_error(why, last_lines), **extra)
    if collector.install_failure is not None:
        failure = collector.install_failure
        return error_suite(
            name,
            runner_type,
            runner_error(failure.why(), last_lines),
            reason=DEPENDENCY_INSTALL_FAILED,
            exit_code=code if code is not None else failure.exit_code,
        )
    if collector.framed is not None:
        damage = collector.damage()
        if damage is not None:
            # A frame whose start was rotated away leaves none of the runner's own lines to quote.
            message = (
                f"{damage}{with_code}" if collector.start_lost else runner_error(f"{damage}{with_code}", last_lines)
            )
            return error_suite(name, runner_type, message, **extra)
        if not collector.saw_result:
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
