"""Bad settings and bad arguments, as a user meets them: one line on stderr and exit code 2, for every
command and before anything is connected to."""

from __future__ import annotations

import pytest
from clilib import packgate

pytestmark = pytest.mark.unit

UNREACHABLE = "postgresql://nobody@127.0.0.1:9/none"
"""A database URL nothing listens at: the commands must fail on the setting before trying it."""

NOT_AN_INTEGER = "Input should be a valid integer, unable to parse string as an integer"


@pytest.mark.parametrize(
    ("env", "args", "line"),
    [
        pytest.param(
            {"PACKGATE_MAX_CONCURRENT_JOBS": "abc"},
            ["operator"],
            f"packgate operator: invalid setting PACKGATE_MAX_CONCURRENT_JOBS: {NOT_AN_INTEGER}",
            id="operator, number",
        ),
        pytest.param(
            {"PACKGATE_NAMESPACES": '["a",'},
            ["operator"],
            "packgate operator: invalid setting PACKGATE_NAMESPACES: not a JSON list of namespaces: Expecting value",
            id="operator, broken JSON list",
        ),
        pytest.param(
            {"PACKGATE_NAMESPACES": "a;b"},
            ["operator"],
            "packgate operator: invalid setting PACKGATE_NAMESPACES: 'a;b' is not a namespace name (lower-case "
            "letters, digits and '-', at most 63 characters)",
            id="operator, bad namespace",
        ),
        pytest.param(
            {"PACKGATE_MAX_CONCURRENT_JOBS": "abc"},
            ["migrate", "--database-url", UNREACHABLE],
            f"packgate migrate: invalid setting PACKGATE_MAX_CONCURRENT_JOBS: {NOT_AN_INTEGER}",
            id="migrate checks settings before connecting",
        ),
        pytest.param(
            {"PACKGATE_DATABASE_URL": UNREACHABLE, "PACKGATE_LOG_LIMIT_BYTES": "many"},
            ["results", "core"],
            f"packgate results: invalid setting PACKGATE_LOG_LIMIT_BYTES: {NOT_AN_INTEGER}",
            id="results",
        ),
    ],
)
def test_bad_setting_is_one_line_and_exit_2(env: dict[str, str], args: list[str], line: str) -> None:
    """A malformed PACKGATE_* variable: exactly one line naming it, exit 2, no traceback."""
    done = packgate(*args, env=env, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (2, "", f"{line}\n")


@pytest.mark.parametrize(
    ("args", "line"),
    [
        pytest.param([], "packgate: the following arguments are required: COMMAND (see 'packgate --help')", id="none"),
        pytest.param(
            ["bogus"],
            "packgate: argument COMMAND: invalid choice: 'bogus' (choose from 'parse', 'run', 'manifest', "
            "'results', 'retest', 'migrate', 'operator', 'ui') (see 'packgate --help')",
            id="unknown command",
        ),
        pytest.param(
            ["results"],
            "packgate results: the following arguments are required: name (see 'packgate results --help')",
            id="missing argument",
        ),
        pytest.param(
            ["results", "core", "--history", "abc"],
            "packgate results: argument --history: invalid int value: 'abc' (see 'packgate results --help')",
            id="bad number",
        ),
        pytest.param(
            ["parse", "--format", "xml", "-"],
            "packgate parse: argument --format/-f: invalid choice: 'xml' (choose from 'auto', 'simple', 'tap', "
            "'junit', 'unittest', 'pytest') (see 'packgate parse --help')",
            id="bad choice",
        ),
        pytest.param(
            ["operator", "--namespace", "Team_A"],
            "packgate operator: argument --namespace/-n: 'Team_A' is not a namespace name (lower-case letters, "
            "digits and '-', at most 63 characters) (see 'packgate operator --help')",
            id="bad namespace flag",
        ),
        pytest.param(
            ["manifest", "--no-such-flag", "packs/core"],
            "packgate: unrecognized arguments: --no-such-flag (see 'packgate --help')",
            id="unknown flag",
        ),
    ],
)
def test_bad_argument_is_one_line_and_exit_2(args: list[str], line: str) -> None:
    """A usage error: exactly one line (not the usage block), exit 2."""
    done = packgate(*args, env={}, timeout=60)
    assert (done.returncode, done.stdout, done.stderr) == (2, "", f"{line}\n")
