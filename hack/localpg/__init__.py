"""A throwaway PostgreSQL server from the Debian packages, for tests and the quickstart.

Owns: one server per data directory -- initdb on first start (as an unprivileged user when run as
root, because initdb and postgres refuse to run as root), start on 127.0.0.1 on a chosen port,
wait until it accepts connections, create the application database, fast shutdown.  `stop()` and
`start()` can be called any number of times on the same directory and port, from any process, so
end-to-end tests can take the database away and bring it back.

Layout of `data_dir`: `pgdata/` (the cluster), `server.log`, `credentials.json` (user, password,
database).  The server listens on TCP only (no Unix socket) and runs with fsync off: it is a
throwaway server, not a production one.

Must not: be imported by the operator package, touch any PostgreSQL other than its own, or use
the default port 5432.
"""

from __future__ import annotations

from localpg.server import DEFAULT_PORT, LocalPostgresError, PostgresServer, find_bin_dir, free_port

__all__ = ["DEFAULT_PORT", "LocalPostgresError", "PostgresServer", "find_bin_dir", "free_port"]
