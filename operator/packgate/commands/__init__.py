"""The `packgate` subcommands, one module each.

Every module defines `HELP` (one line), `add_arguments(parser)` and `run(args) -> int`.  Modules
import their heavy dependencies (kopf, the Kubernetes client, asyncpg) inside `run`, so that
building the argument parser stays cheap and `packgate parse` never loads kopf or the Kubernetes
client.
"""

COMMANDS = ("parse", "run", "manifest", "results", "retest", "migrate", "operator")
