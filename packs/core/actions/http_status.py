"""core.http_status: describe an HTTP status code without making a request.

    python3 actions/http_status.py CODE      prints {"code", "reason", "class", "retryable"} as JSON

`describe(code)` is the pure function the action wraps; it is what the tests exercise.
"""

from __future__ import annotations

import json
import sys
from http import HTTPStatus

CLASSES = {1: "informational", 2: "success", 3: "redirection", 4: "client_error", 5: "server_error"}
RETRYABLE = frozenset({408, 425, 429, 500, 502, 503, 504})


def describe(code: int) -> dict[str, object]:
    """The reason phrase, class and retryability of a status code (100..599)."""
    if isinstance(code, bool) or not isinstance(code, int) or not 100 <= code <= 599:
        raise ValueError(f"not an HTTP status code: {code!r}")
    try:
        reason = HTTPStatus(code).phrase
    except ValueError:
        reason = "Unknown"
    return {"code": code, "reason": reason, "class": CLASSES[code // 100], "retryable": code in RETRYABLE}


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not argv[0].isdigit():
        print("usage: http_status.py CODE", file=sys.stderr)
        return 2
    try:
        result = describe(int(argv[0]))
    except ValueError as exc:
        print(f"http_status.py: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
