"""`python -m localpg up|down|status`: a local PostgreSQL for the quickstart and end-to-end tests.

    up      initialise (first time) and start the server in the background; print its DSN and
            write it to <repo>/.local/database-url
    down    fast shutdown (the data stays)
    status  print the DSN and exit 0 when running; print "stopped" and exit 3 otherwise

Must not: print a traceback; every failure is one line plus the tail of the server log.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from localpg.server import DEFAULT_PORT, LocalPostgresError, PostgresServer

REPO = Path(__file__).resolve().parents[2]
DEFAULT_DATA_DIR = REPO / ".local" / "postgres"
DEFAULT_URL_FILE = REPO / ".local" / "database-url"


def _saved_port(data_dir: Path) -> int | None:
    try:
        port = json.loads((data_dir / "credentials.json").read_text()).get("port")
    except (OSError, ValueError):
        return None
    return port if isinstance(port, int) else None


def _save_port(server: PostgresServer) -> None:
    path = server.credentials_file
    data = json.loads(path.read_text())
    if data.get("port") != server.port:
        data["port"] = server.port
        path.write_text(json.dumps(data, indent=2) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localpg", description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=("up", "down", "status"))
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help=f"default {DEFAULT_DATA_DIR}")
    parser.add_argument("--port", type=int, default=None, help=f"default: the port it last ran on, else {DEFAULT_PORT}")
    parser.add_argument("--url-file", type=Path, default=DEFAULT_URL_FILE, help=f"default {DEFAULT_URL_FILE}")
    parser.add_argument("--listen", default="127.0.0.1",
                        help="comma-separated addresses to listen on (default 127.0.0.1)")
    parser.add_argument("--allow", action="append", default=[], metavar="CIDR",
                        help="also accept password logins from this network (repeatable)")
    args = parser.parse_args(argv)
    port = args.port or _saved_port(args.data_dir) or DEFAULT_PORT
    server = PostgresServer(args.data_dir, port, listen=tuple(args.listen.split(",")), clients=tuple(args.allow))
    try:
        if args.action == "up":
            dsn = server.start()
            _save_port(server)
            args.url_file.parent.mkdir(parents=True, exist_ok=True)
            args.url_file.write_text(dsn + "\n")
            args.url_file.chmod(0o600)
            print(dsn)
            return 0
        if args.action == "down":
            server.stop()
            print(f"stopped {server.pgdata}")
            return 0
        if server.is_running() and server.is_accepting():
            print(server.dsn)
            return 0
        print("stopped")
        return 3
    except LocalPostgresError as exc:
        print(f"localpg {args.action}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
