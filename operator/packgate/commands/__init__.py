"""The `packgate` subcommands, one module each.

Every module defines `HELP` (one line), `add_arguments(parser)` and `run(args) -> int`.  Modules
import their heavy dependencies (kopf, the Kubernetes client, asyncpg) inside `run`, and the CLI
imports only the module of the command that runs, so `packgate parse` loads neither another
command's imports nor kopf, the Kubernetes client, asyncpg or pydantic-settings.
"""

COMMANDS: dict[str, str] = {
    "parse": "Parse a test runner's output (a file or - for stdin) and print one TestSuiteResult as JSON.",
    "run": "Run a pack's tests locally (no cluster): the same runners, wrapper and parsers as the operator.",
    "manifest": "Print the ConfigMap and Pack (YAML) for a pack directory with an Attune-style pack.yaml.",
    "results": "show a Pack's test history, statistics, regressions and flaky tests from PostgreSQL",
    "retest": "run a Pack's tests again (sets the packgate.dev/retest annotation; trigger manual)",
    "migrate": "apply pending database migrations (PACKGATE_DATABASE_URL or --database-url)",
    "operator": "run the Packgate operator (settings from PACKGATE_* environment variables)",
    "ui": "serve the history web UI and JSON API, scoped by Kubernetes RBAC (read-only database role)",
}
"""Every command's name and its one-line help, in the order `packgate --help` lists them.  The CLI
imports a command's module only when that command runs (or its --help is asked), so this table,
not the modules, gives the list's help lines; each module's HELP is its line here."""
