"""Tests of the core pack's Python action (and, through subprocesses, of both actions' command lines).

Standard library only: the runner image has python3 and nothing else.  Writes nothing outside the
pack's workspace.  Run from the pack's root: python3 -m unittest -v tests.test_actions
"""

from __future__ import annotations

import json
import subprocess
import sys
import unittest
from pathlib import Path

PACK = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PACK / "actions"))

import http_status  # noqa: E402


class DescribeTest(unittest.TestCase):
    def test_ok(self) -> None:
        self.assertEqual(
            {"code": 200, "reason": "OK", "class": "success", "retryable": False}, http_status.describe(200)
        )

    def test_not_found_is_a_client_error(self) -> None:
        self.assertEqual("client_error", http_status.describe(404)["class"])
        self.assertEqual("Not Found", http_status.describe(404)["reason"])

    def test_redirect(self) -> None:
        self.assertEqual("redirection", http_status.describe(301)["class"])

    def test_server_errors_that_may_be_retried(self) -> None:
        self.assertEqual([True, True, True], [http_status.describe(c)["retryable"] for c in (500, 502, 503)])

    def test_client_errors_are_not_retried_except_throttling(self) -> None:
        self.assertEqual([False, False, True], [http_status.describe(c)["retryable"] for c in (400, 404, 429)])

    def test_unassigned_code_has_unknown_reason(self) -> None:
        self.assertEqual("Unknown", http_status.describe(299)["reason"])

    def test_out_of_range_is_rejected(self) -> None:
        for code in (99, 600, -1):
            with self.subTest(code=code), self.assertRaises(ValueError):
                http_status.describe(code)

    def test_non_integers_are_rejected(self) -> None:
        for value in ("200", 200.0, True):
            with self.subTest(value=value), self.assertRaises(ValueError):
                http_status.describe(value)  # type: ignore[arg-type]


class CommandLineTest(unittest.TestCase):
    def run_action(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(argv, cwd=PACK, capture_output=True, text=True, timeout=30, check=False)

    def test_http_status_prints_json(self) -> None:
        done = self.run_action(sys.executable, "actions/http_status.py", "503")
        self.assertEqual(0, done.returncode)
        self.assertEqual(
            {"code": 503, "reason": "Service Unavailable", "class": "server_error", "retryable": True},
            json.loads(done.stdout),
        )

    def test_http_status_usage(self) -> None:
        done = self.run_action(sys.executable, "actions/http_status.py")
        self.assertEqual((2, "usage: http_status.py CODE\n"), (done.returncode, done.stderr))

    def test_echo_uppercase(self) -> None:
        done = self.run_action("sh", "actions/echo.sh", "-u", "packgate")
        self.assertEqual((0, "PACKGATE\n"), (done.returncode, done.stdout))


if __name__ == "__main__":
    unittest.main()
