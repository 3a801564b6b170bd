"""Run this pack's unittest tests and write a JUnit XML report (standard library only).

    python3 tests/run_junit.py [--output tests/results/junit.xml]

Discovers `tests/test_*.py`, runs them with a verbose console report, writes one <testsuite> per
test class inside <testsuites>, and exits 0 when every test passed (1 otherwise), like unittest.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
import unittest
import xml.etree.ElementTree as ET
from pathlib import Path
from types import TracebackType
from typing import Any

PACK = Path(__file__).resolve().parent.parent

_ExcInfo = tuple[type[BaseException], BaseException, TracebackType]


class JUnitResult(unittest.TextTestResult):
    """A TextTestResult that also records each test's outcome and duration."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cases: list[dict[str, Any]] = []
        self._started = 0.0

    def startTest(self, test: unittest.TestCase) -> None:
        self._started = time.perf_counter()
        super().startTest(test)

    def _record(self, test: unittest.TestCase, outcome: str, detail: str = "", message: str = "") -> None:
        self.cases.append(
            {
                "classname": f"{type(test).__module__}.{type(test).__qualname__}",
                "name": getattr(test, "_testMethodName", str(test)),
                "time": time.perf_counter() - self._started,
                "outcome": outcome,
                "message": message,
                "detail": detail,
            }
        )

    def addSuccess(self, test: unittest.TestCase) -> None:
        super().addSuccess(test)
        self._record(test, "passed")

    def addFailure(self, test: unittest.TestCase, err: _ExcInfo) -> None:  # type: ignore[override]
        super().addFailure(test, err)
        self._record(test, "failure", _format(err), str(err[1]))

    def addError(self, test: unittest.TestCase, err: _ExcInfo) -> None:  # type: ignore[override]
        super().addError(test, err)
        self._record(test, "error", _format(err), f"{err[0].__name__}: {err[1]}")

    def addSkip(self, test: unittest.TestCase, reason: str) -> None:
        super().addSkip(test, reason)
        self._record(test, "skipped", message=reason)

    def addExpectedFailure(self, test: unittest.TestCase, err: _ExcInfo) -> None:  # type: ignore[override]
        super().addExpectedFailure(test, err)
        self._record(test, "passed")

    def addUnexpectedSuccess(self, test: unittest.TestCase) -> None:
        super().addUnexpectedSuccess(test)
        self._record(test, "failure", message="unexpected success")


def _format(err: _ExcInfo) -> str:
    return "".join(traceback.format_exception(*err))


def junit_xml(cases: list[dict[str, Any]]) -> ET.Element:
    """<testsuites> with one <testsuite> per test class, in the order the tests ran."""
    root = ET.Element("testsuites", name="junit_report")
    suites: dict[str, ET.Element] = {}
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0, "time": 0.0}
    for case in cases:
        suite = suites.get(case["classname"])
        if suite is None:
            suite = ET.SubElement(root, "testsuite", name=case["classname"])
            suite.attrib.update({"tests": "0", "failures": "0", "errors": "0", "skipped": "0", "time": "0"})
            suites[case["classname"]] = suite
        element = ET.SubElement(
            suite, "testcase", classname=case["classname"], name=case["name"], time=f"{case['time']:.6f}"
        )
        counter = {"failure": "failures", "error": "errors", "skipped": "skipped"}.get(case["outcome"])
        if counter:
            child = ET.SubElement(element, case["outcome"], message=case["message"])
            child.text = case["detail"] or None
            suite.set(counter, str(int(suite.get(counter, "0")) + 1))
            totals[counter] += 1
        suite.set("tests", str(int(suite.get("tests", "0")) + 1))
        suite.set("time", f"{float(suite.get('time', '0')) + case['time']:.6f}")
        totals["tests"] += 1
        totals["time"] += case["time"]
    root.attrib.update({k: (f"{v:.6f}" if k == "time" else str(v)) for k, v in totals.items()})
    return root


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="tests/results/junit.xml", help="where to write the report")
    args = parser.parse_args(argv)

    suite = unittest.defaultTestLoader.discover(str(PACK / "tests"), pattern="test_*.py")
    runner = unittest.TextTestRunner(stream=sys.stdout, verbosity=2, resultclass=JUnitResult)
    result = runner.run(suite)
    assert isinstance(result, JUnitResult)

    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    tree = ET.ElementTree(junit_xml(result.cases))
    ET.indent(tree)
    tree.write(output, encoding="utf-8", xml_declaration=True)
    print(f"JUnit report: {output} ({len(result.cases)} test cases)")
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
