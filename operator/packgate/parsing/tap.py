"""TAP (Test Anything Protocol) versions 13 and 14, streamed line by line.

Owns: plans, test points (`ok` / `not ok`, with or without number and description), the SKIP and
TODO directives, nested subtests (indented, with or without TAP 14's `# Subtest:` header), YAML
diagnostic blocks (`---` ... `...`), comment diagnostics after a failing point, and `Bail out!`.
Must not: do I/O, or import anything of packgate but `outcomes`, `errors` and `parsing` (pydantic
only through `result()`: `_common.ParsedSuite.model`).

Decisions:
- Subtests are counted at the LEAVES only: a test point preceded by a more indented block of test
  points is a parent and is not counted itself.  A failing parent none of whose leaves failed (a
  failing hook, a crash between subtests) counts as one failed case, so a failure is never lost.
  Leaf names are prefixed with their parents' `# Subtest:` names, joined by " > ".
- `# SKIP` counts as skipped.  `# TODO` counts as skipped too, whether the point says ok or not
  ok: a failing TODO is not a failure (TAP's own rule) and a passing TODO is not a real pass yet;
  node --test reports both under "todo", outside "pass" and "fail".  The directive's reason is
  kept in `error_message` ("SKIP: reason", "TODO: reason").
- A failing leaf's `error_message` is its YAML block and the `#` comment lines that follow it.
  `duration_ms:` in a YAML block (node --test) becomes the case duration.
- `Bail out!` makes the suite an error (status error, `error` = the bail-out line); the points
  seen before it are counted and everything after it is ignored.
- A top-level plan promising more points than were seen (a runner that died mid-way) adds one
  failed case named "TAP plan" saying how many are missing.  Streams may be concatenated (prove,
  several files): a `TAP version` line, a second plan, or a point after a complete stream starts a
  new stream.  A bare `ok` line right after a complete stream is prove's per-file verdict, not a
  test point.
- Only lines starting at column 0 (after a parent's indentation for subtests) are read, so TAP
  buried in other log lines is found; other lines are ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from packgate.errors import ParseError
from packgate.outcomes import TestStatus
from packgate.parsing._common import LineOriented, ParsedSuite, TextBuffer, build_suite, case, strip_ansi

_POINT = re.compile(r"(not ok|ok)(?=\s|$)\s*(\d+)?\s*(.*)$")
_PLAN = re.compile(r"1\.\.(\d{1,12})\s*(?:#\s*(.*))?$")
_DIRECTIVE = re.compile(r"(?:^|\s)(?<!\\)#\s*(skip\w*|todo)\b\s*(.*)$", re.IGNORECASE)
_VERSION = re.compile(r"TAP version (\d+)\s*$", re.IGNORECASE)
_BAIL = re.compile(r"Bail out!(.*)$", re.IGNORECASE)
_DURATION = re.compile(r"duration_ms:\s*([\d.]+)")
_MAX_LEVELS = 256
_MAX_HEADERS = 256


@dataclass
class _Level:
    indent: int
    failed_any: bool = False


@dataclass
class _Pending:
    name: str
    status: TestStatus
    indent: int
    reason: str | None
    diagnostics: TextBuffer | None
    duration_ms: int = 0


class TapParser(LineOriented):
    """Streaming TAP 13/14 parser."""

    def __init__(self, *, name: str, runner_type: str, max_cases: int = 10_000) -> None:
        super().__init__(name=name, runner_type=runner_type, max_cases=max_cases)
        self._levels: list[_Level] = []
        self._headers: list[tuple[int, str]] = []
        self._pending: _Pending | None = None
        self._last_point_indent = -1
        self._yaml_indent: int | None = None
        self._bail: str | None = None
        self._version_seen = False
        self._points = 0
        self._plans = 0
        # the current top-level stream
        self._plan: int | None = None
        self._top_count = 0
        self._complete = False
        self._missing = 0

    # -- lines ---------------------------------------------------------------------------------

    def _line(self, line: str) -> None:
        if self._bail is not None:
            return
        if "\x1b" in line:
            line = strip_ansi(line)
        body = line.lstrip(" \t")
        indent = len(line) - len(body)
        if self._yaml_indent is not None and self._yaml_line(line, body, indent):
            return
        if not body:
            return
        first = body[0]
        if first == "o" or first == "n":
            match = _POINT.match(body)
            if match is not None:
                self._point(indent, match)
                return
        elif first == "#":
            self._comment(indent, body)
            return
        elif first == "1":
            match = _PLAN.match(body)
            if match is not None:
                self._finish_pending()
                self._plan_line(indent, int(match.group(1)))
                return
        elif first == "-" and body.rstrip() == "---" and indent > self._last_point_indent >= 0:
            self._yaml_indent = indent
            return
        elif first == "T":
            if _VERSION.match(body) is not None and indent == 0:
                self._finish_pending()
                self._close_stream()
                self._version_seen = True
                return
        elif first == "B" or first == "b":
            match = _BAIL.match(body)
            if match is not None:
                self._finish_pending()
                self._bail = f"Bail out!{match.group(1)}".strip()
                return
        self._finish_pending()
        self._last_point_indent = -1

    def _yaml_line(self, line: str, body: str, indent: int) -> bool:
        """Handle a line inside a YAML block; False when the block ended before this line."""
        assert self._yaml_indent is not None
        if body.rstrip() == "..." and indent == self._yaml_indent:
            self._yaml_indent = None
            return True
        if body and indent < self._yaml_indent:
            self._yaml_indent = None
            return False
        pending = self._pending
        if pending is not None:
            if body.startswith("duration_ms:"):
                found = _DURATION.match(body)
                if found is not None:
                    try:
                        pending.duration_ms = round(float(found.group(1)))
                    except (ValueError, OverflowError):  # "1.2.3"; more digits than a float holds
                        pending.duration_ms = 0
            if pending.diagnostics is not None:
                pending.diagnostics.add(line[self._yaml_indent :] + "\n")
        return True

    def _comment(self, indent: int, body: str) -> None:
        if body.startswith("# Subtest"):
            self._finish_pending()
            self._last_point_indent = -1
            name = body[len("# Subtest") :].lstrip(":").strip()
            while self._headers and self._headers[-1][0] >= indent:
                self._headers.pop()
            if len(self._headers) < _MAX_HEADERS:
                self._headers.append((indent, name))
            return
        pending = self._pending
        if pending is not None and indent == pending.indent and pending.diagnostics is not None:
            pending.diagnostics.add(body[1:].strip() + "\n")

    def _plan_line(self, indent: int, count: int) -> None:
        self._plans += 1
        self._last_point_indent = -1
        if indent != 0:
            return
        if self._plan is not None:
            self._close_stream()
        self._plan = count
        if self._top_count or count == 0:  # a trailing plan closes its stream
            self._complete = True

    def _point(self, indent: int, match: re.Match[str]) -> None:
        self._finish_pending()
        ok = match.group(1) == "ok"
        number, rest = match.group(2), match.group(3).strip()
        if indent == 0:
            if self._complete:
                if ok and number is None and not rest:
                    return  # prove's per-file "ok" verdict
                self._close_stream()
            self._top_count += 1
            if self._plan is not None and self._top_count >= self._plan:
                self._complete = True
        self._points += 1
        self._last_point_indent = indent

        has_children = children_failed = False
        while self._levels and self._levels[-1].indent > indent:
            level = self._levels.pop()
            has_children = True
            children_failed = children_failed or level.failed_any
        if (not self._levels or self._levels[-1].indent < indent) and len(self._levels) < _MAX_LEVELS:
            self._levels.append(_Level(indent))
        level_now = self._levels[-1] if self._levels else _Level(indent)

        while self._headers and self._headers[-1][0] > indent:
            self._headers.pop()
        own_header = self._headers.pop()[1] if self._headers and self._headers[-1][0] == indent else None

        directive = _DIRECTIVE.search(rest) if "#" in rest else None
        description = rest[: directive.start()].strip() if directive else rest
        if description.startswith("-"):
            description = description[1:].strip()
        description = description.replace("\\#", "#") or own_header or f"test {number or self._points}"
        status, reason = TestStatus.PASSED if ok else TestStatus.FAILED, None
        if directive is not None:
            word = directive.group(1).upper()
            kind = "TODO" if word == "TODO" else "SKIP"
            status, reason = TestStatus.SKIPPED, f"{kind}: {directive.group(2).strip()}".rstrip(": ")

        if has_children:
            level_now.failed_any = level_now.failed_any or children_failed
            if status is not TestStatus.FAILED or children_failed:
                return  # a parent: its leaves were counted
        if status is TestStatus.FAILED:
            level_now.failed_any = True

        prefix = " > ".join(name for _, name in self._headers)
        full_name = f"{prefix} > {description}" if prefix else description
        self._pending = _Pending(
            name=full_name,
            status=status,
            indent=indent,
            reason=reason,
            diagnostics=TextBuffer() if status is TestStatus.FAILED else None,
        )

    # -- bookkeeping ---------------------------------------------------------------------------

    def _finish_pending(self) -> None:
        pending = self._pending
        if pending is None:
            return
        self._pending = None
        message = pending.reason
        if pending.diagnostics:
            message = pending.diagnostics.text().rstrip("\n")
        self.keeper.add(case(pending.name, pending.status, duration_ms=pending.duration_ms, error_message=message))

    def _close_stream(self) -> None:
        if self._plan is not None and self._top_count < self._plan:
            self._missing += self._plan - self._top_count
        self._plan = None
        self._top_count = 0
        self._complete = False

    def confidence(self) -> int:
        if self._bail is not None:
            return 90
        if self._points and (self._version_seen or self._plans):
            return 90 if self._version_seen else 80
        if self._points:
            return 30
        if self._plans:
            return 40
        return 0

    def summary(self) -> ParsedSuite:
        self._finish_pending()
        self._yaml_indent = None
        if not self._points and not self._plans and self._bail is None:
            raise ParseError("no TAP plan, test point or 'Bail out!' found in the output")
        missing = self._missing
        if self._bail is None and self._plan is not None and self._top_count < self._plan:
            missing += self._plan - self._top_count
        keeper = self.keeper
        cases = keeper.cases()
        failed = keeper.failed
        if missing and self._bail is None:
            failed += 1
            plan_case = case(
                "TAP plan",
                TestStatus.FAILED,
                error_message=f"{missing} planned test(s) never reported; the test run ended early",
            )
            cases = [*cases[: max(0, keeper.max_cases - 1)], plan_case] if keeper.max_cases else []
        return build_suite(
            self.name,
            self.runner_type,
            passed=keeper.passed,
            failed=failed,
            skipped=keeper.skipped,
            duration_ms=keeper.duration_ms,
            cases=cases,
            error=self._bail,
        )
