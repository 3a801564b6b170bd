"""JUnit XML, as written by pytest, jest-junit, Maven Surefire, go-junit-report and friends.

Owns: reading `<testsuites>` or a single `<testsuite>` root (testsuites nested to any depth) from
a stream, incrementally, with bounded memory, and turning every `<testcase>` into a case.
Must not: do I/O, expand entities, resolve external entities, or process a DTD; import anything
of packgate but `outcomes`, `results` (only when `result()` is asked for) and `errors`.

Safety: the XML goes through expat directly (the engine defusedxml wraps) with the same
protections defusedxml applies: any DOCTYPE is refused (so no internal entity can be declared,
which rules out "billion laughs" and quadratic blow-up), external entity references and
parameter entities are refused and never resolved, and an undefined entity is an error.  Element
nesting deeper than 256 is refused.  Text is kept only inside failure/error/skipped (at most 4 KiB,
`results.MESSAGE_LIMIT`) and system-out/system-err (at most 16 KiB each, `results.OUTPUT_LIMIT`).

Decisions:
- A case is: failed if it has `<failure>`, errored if it has `<error>` (both count as failed),
  skipped if it has `<skipped>` (and neither of the others), passed otherwise.  Surefire's
  `<flakyFailure>`/`<rerunFailure>` do not change a case's status.  Counts come from the
  `<testcase>` elements, not the `tests=`/`failures=` attributes (jest-junit's attributes, for
  one, disagree with its own elements); only when a document has no `<testcase>` at all are the
  root's attributes used.
- A case's name is `classname.name`, or just `name` when the classname is empty or repeats the
  name (jest-junit).  `time` (seconds) becomes `duration_ms`.  `message` and the element's text
  make `error_message`; the case's `<system-out>`/`<system-err>` become stdout/stderr.
- The suite duration is the root's `time`, else the sum of the top-level suites' times, else the
  sum of the cases' times.
- Text before the XML (pip noise, a shell prompt) is skipped: parsing starts at the first
  `<?xml`, `<testsuites` or `<testsuite`.  Several XML documents one after another are added up.
- Truncated or malformed XML: if complete `<testcase>` elements were read before the break, the
  suite keeps their counts but gets status `error` with an `error` saying where the XML broke
  (a cut-off report must never pass); with no complete case, it is a ParseError.
- `feed` takes one line; a line without a trailing newline gets one (callers that strip line
  ends stay correct); `feed_partial` passes a piece of a longer line through unchanged.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from xml.parsers import expat

from packgate.errors import ParseError
from packgate.outcomes import MESSAGE_LIMIT, OUTPUT_LIMIT, TestStatus
from packgate.parsing._common import CaseKeeper, ParsedSuite, TextBuffer, build_suite, case, seconds_to_ms

if TYPE_CHECKING:
    from packgate.results import TestSuiteResult

_START = re.compile(r"<\?xml|<testsuites?[\s>/]")
_MAX_DEPTH = 256
_DURATIONS_CACHED = 4096
"""Distinct `time` attribute texts whose milliseconds are remembered (reports repeat a few); only
texts of up to 32 characters, so the cache stays small whatever the input holds."""
_PASSED, _FAILED, _ERROR, _SKIPPED = TestStatus.PASSED, TestStatus.FAILED, TestStatus.ERROR, TestStatus.SKIPPED


class _Refused(Exception):
    """The XML asked for something we never do (a DTD, an entity)."""


class _NotJUnit(Exception):
    """The XML is well-formed so far but is not a JUnit report."""


def _refuse_doctype(*_: Any) -> None:
    raise _Refused("XML with a DOCTYPE is refused (no DTDs, no entity declarations)")


def _refuse_entity_decl(*_: Any) -> None:
    raise _Refused("XML entity declarations are refused")


def _refuse_external(*_: Any) -> int:
    raise _Refused("XML external entities are refused")


class JUnitParser:
    """Streaming, hardened JUnit XML parser.

    Speed (`bench/parse_junit.py`): expat calls back into Python once per element start and end,
    so those handlers take the shortest path for `<testcase>`, the element that repeats; character
    data is handed to Python only inside a kept text element (the handler is set when one opens
    and removed when it closes, so the whitespace between elements never leaves C); a case is
    counted from its attributes, and built only when the keeper will keep it.
    """

    def __init__(self, *, name: str, runner_type: str, max_cases: int = 10_000) -> None:
        self.name = name
        self.runner_type = runner_type
        self.keeper = CaseKeeper(max_cases=max(0, max_cases))
        self._parser: Any = None
        self._in_document = False
        self._broken: str | None = None
        self._refused = False
        self._documents = 0
        self._roots_seen = 0
        self._stack: list[str] = []
        # The open <testcase>: its attributes (None outside one), status and texts.
        self._case: dict[str, str] | None = None
        self._status = _PASSED
        self._message: TextBuffer | None = None
        self._stdout: TextBuffer | None = None
        self._stderr: TextBuffer | None = None
        self._text_element: str | None = None  # the element whose text is being collected
        self._durations: dict[str, int] = {}  # `time` attribute -> ms, for the first few distinct ones
        self._root_time: int | None = None
        self._suite_time = 0
        self._suite_time_seen = False
        self._attr_counts = [0, 0, 0]  # passed, failed, skipped from attributes, for case-less docs
        self._root_counts = (0, 0, 0)
        self._cases_in_document = 0
        self._doc_time = 0
        self._doc_time_known = True

    # -- feeding -------------------------------------------------------------------------------

    def feed(self, line: str) -> None:
        """One line of the XML, with or without its trailing newline."""
        if not line.endswith(("\n", "\r")):
            line += "\n"
        if self._in_document:  # the usual case, inlined: one Python call per line
            try:
                self._parser.Parse(line, False)
            except (_Refused, _NotJUnit, expat.ExpatError) as exc:
                self._stopped(exc)
        else:
            self._feed(line)

    def feed_partial(self, piece: str) -> None:
        """A piece of a line whose end is still to come."""
        self._feed(piece)

    def _feed(self, text: str) -> None:
        if not self._in_document:  # (inside a document, nothing was refused or broken)
            if self._refused or (self._broken is not None and self.keeper.total):
                return
            if "<" not in text:
                return
            found = _START.search(text)
            if found is None:
                return
            text = text[found.start() :]
            self._start_document()
        try:
            self._parser.Parse(text, False)
        except (_Refused, _NotJUnit, expat.ExpatError) as exc:
            self._stopped(exc)

    def _stopped(self, exc: Exception) -> None:
        """The parser stopped on `exc`: a refusal, XML that is not JUnit, or an expat error."""
        if isinstance(exc, _Refused):
            self._fail(str(exc))
            self._refused = True  # never read on after a refusal
        elif isinstance(exc, _NotJUnit):
            self._fail(str(exc))
        elif isinstance(exc, expat.ExpatError):
            if self._documents and not self._stack and self._roots_seen == self._documents:
                self._in_document = False  # text after a complete document: ignore it
            else:
                self._fail(f"malformed XML: {expat.ErrorString(exc.code)} at line {exc.lineno}")

    def _start_document(self) -> None:
        parser = expat.ParserCreate("utf-8")
        parser.buffer_text = True
        parser.buffer_size = 1 << 16
        parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        parser.StartDoctypeDeclHandler = _refuse_doctype
        parser.EntityDeclHandler = _refuse_entity_decl
        parser.UnparsedEntityDeclHandler = _refuse_entity_decl
        parser.ExternalEntityRefHandler = _refuse_external
        parser.StartElementHandler = self._start
        parser.EndElementHandler = self._end
        self._parser = parser
        self._in_document = True
        self._broken = None
        self._stack.clear()
        self._case = None
        self._text_element = None
        self._cases_in_document = 0
        self._documents += 1

    def _fail(self, reason: str) -> None:
        self._in_document = False
        self._parser = None
        self._stack.clear()
        self._case = None
        self._text_element = None
        self._broken = reason

    # -- expat handlers ------------------------------------------------------------------------

    def _start(self, tag: str, attrs: dict[str, str]) -> None:
        stack = self._stack
        depth = len(stack)
        if depth >= _MAX_DEPTH:
            raise _Refused(f"XML nested deeper than {_MAX_DEPTH} elements is refused")
        if tag == "testcase" and depth:  # the element that repeats: the shortest path
            stack.append(tag)
            self._case = attrs
            self._status = _PASSED
            self._message = self._stdout = self._stderr = None
            return
        if not depth:
            if tag not in ("testsuites", "testsuite"):
                raise _NotJUnit(f"not JUnit XML: the root element is <{tag}>")
            self._roots_seen += 1
            self._root_time = seconds_to_ms(attrs.get("time")) if "time" in attrs else None
            self._suite_time = 0
            self._suite_time_seen = False
            self._root_attrs(attrs)
        stack.append(tag)
        if self._case is None:
            if tag == "testsuite" and depth == 1 and "time" in attrs:
                self._suite_time += seconds_to_ms(attrs.get("time"))
                self._suite_time_seen = True
            return
        if stack[-2] != "testcase":
            return
        if tag == "failure" or tag == "error":
            self._status = _FAILED if tag == "failure" else _ERROR
            self._message = self._begin_text(tag, attrs)
        elif tag == "skipped":
            if self._status is _PASSED:
                self._status = _SKIPPED
                self._message = self._begin_text(tag, attrs)
        elif tag == "system-out":
            self._stdout = self._begin_text(tag, attrs)
        elif tag == "system-err":
            self._stderr = self._begin_text(tag, attrs)

    def _begin_text(self, tag: str, attrs: dict[str, str]) -> TextBuffer:
        """A buffer for the text of `tag`, which from now on receives the character data (until
        the first end tag of that name, `_end`)."""
        buffer = TextBuffer(OUTPUT_LIMIT if tag.startswith("system-") else MESSAGE_LIMIT)
        message = attrs.get("message")
        if message:
            buffer.add(message + "\n")
        self._parser.CharacterDataHandler = buffer.add
        self._text_element = tag
        return buffer

    def _end(self, tag: str) -> None:
        stack = self._stack
        if stack:
            stack.pop()
        if tag == "testcase":
            if self._case is not None:
                self._finish_case(self._case)
        elif tag == self._text_element:
            self._parser.CharacterDataHandler = None
            self._text_element = None
        if not stack:
            self._end_document()

    def _finish_case(self, attrs: dict[str, str]) -> None:
        self._case = None
        self._cases_in_document += 1
        status = self._status
        time = attrs.get("time")
        if time is None:
            duration_ms = 0
        else:
            durations = self._durations
            known = durations.get(time)
            if known is None:
                known = seconds_to_ms(time)
                if len(durations) < _DURATIONS_CACHED and len(time) <= 32:
                    durations[time] = known
            duration_ms = known
        if not self.keeper.tally(status, duration_ms):
            return  # counted; building the case would be wasted work
        name, classname = attrs.get("name", "").strip(), attrs.get("classname", "").strip()
        if classname and classname != name and not name.startswith(classname + "."):
            name = f"{classname}.{name}" if name else classname
        message = self._message.text().strip() if self._message else None
        self.keeper.keep(
            case(
                name or "(unnamed test case)",
                status,
                duration_ms=duration_ms,
                error_message=message or None,
                stdout=self._stdout.text() if self._stdout else None,
                stderr=self._stderr.text() if self._stderr else None,
            )
        )

    def _root_attrs(self, attrs: dict[str, str]) -> None:
        def number(key: str) -> int:
            try:
                return max(0, int(attrs.get(key, "0") or 0))
            except ValueError:
                return 0

        tests = number("tests")
        failed = number("failures") + number("errors")
        skipped = number("skipped") + number("disabled")
        self._root_counts = (max(0, tests - failed - skipped), failed, skipped)

    def _end_document(self) -> None:
        if self._root_time is not None:
            self._doc_time += self._root_time
        elif self._suite_time_seen:
            self._doc_time += self._suite_time
        else:
            self._doc_time_known = False
        if not self._cases_in_document:
            passed, failed, skipped = self._root_counts
            self._attr_counts[0] += passed
            self._attr_counts[1] += failed
            self._attr_counts[2] += skipped
        self._in_document = False

    # -- results -------------------------------------------------------------------------------

    def _recognised(self) -> bool:
        keeper = self.keeper
        return bool(keeper.total or (self._roots_seen and self._broken is None and not self._stack))

    def confidence(self) -> int:
        return 100 if self._recognised() else 0

    def result(self) -> TestSuiteResult:
        """`summary()` as the validated TestSuiteResult."""
        return self.summary().model()

    def summary(self) -> ParsedSuite:
        """What was read so far; raises ParseError if nothing recognisable was fed."""
        keeper = self.keeper
        error = None
        if self._in_document and self._stack:
            error = "JUnit XML ended before its closing tags (truncated report)"
        elif self._broken is not None:
            error = f"JUnit XML broken off: {self._broken}"
        if not keeper.total:
            if error is not None or not self._roots_seen:
                raise ParseError(error or "no JUnit XML (<testsuites> or <testsuite>) found in the output")
        elif error is not None:
            error += f"; counted the {keeper.total} complete test case(s) before it"
        passed, failed, skipped = self._attr_counts
        complete = self._doc_time_known and error is None and self._roots_seen
        duration = self._doc_time if complete else keeper.duration_ms
        return build_suite(
            self.name,
            self.runner_type,
            passed=keeper.passed + passed,
            failed=keeper.failed + failed,
            skipped=keeper.skipped + skipped,
            duration_ms=duration,
            cases=keeper.cases(),
            error=error,
        )
