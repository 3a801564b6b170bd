"""PostgresServer: initdb, start, stop and inspect one local PostgreSQL server.

Owns: the server's data directory, its credentials file and its process (through pg_ctl).
Must not: use asyncpg (administration goes through the psql client), or leave a half-started
server behind without saying why (every failure carries the tail of the server log).
"""

from __future__ import annotations

import json
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

DEFAULT_PORT = 55432
"""Port of `python -m localpg up` when none is given: not PostgreSQL's default 5432."""

SUPERUSER = "packgate"
DATABASE = "packgate"

_SERVER_SETTINGS = """
# --- written by localpg: a throwaway local server, TCP only (addresses given at start) ---
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
shared_buffers = 32MB
log_min_messages = warning
log_min_error_statement = panic
"""

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class LocalPostgresError(RuntimeError):
    """The local server could not be set up, started or stopped; the message says why."""


def find_bin_dir() -> Path:
    """The directory holding initdb/pg_ctl/postgres: $LOCALPG_BIN_DIR, the newest
    /usr/lib/postgresql/<major>/bin, or the directory of pg_ctl on PATH."""
    explicit = os.environ.get("LOCALPG_BIN_DIR")
    if explicit:
        path = Path(explicit)
        if (path / "pg_ctl").exists():
            return path
        raise LocalPostgresError(f"LOCALPG_BIN_DIR={explicit} has no pg_ctl")
    candidates = sorted(
        (p for p in Path("/usr/lib/postgresql").glob("*/bin") if (p / "pg_ctl").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
        reverse=True,
    )
    if candidates:
        return candidates[0]
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(on_path).parent
    raise LocalPostgresError(
        "PostgreSQL server binaries not found: install them with `apt-get install -y postgresql` or set LOCALPG_BIN_DIR"
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class PostgresServer:
    """One PostgreSQL server living in `data_dir`, listening on 127.0.0.1:`port`.

    `start()` initialises the directory on first use, starts the server (or finds it already
    running), creates the database and returns its DSN.  `stop()` shuts it down fast.  Both can
    be repeated; the data survives a stop.
    """

    def __init__(
        self,
        data_dir: Path | str,
        port: int = DEFAULT_PORT,
        *,
        database: str = DATABASE,
        bin_dir: Path | None = None,
        run_as: str | None = None,
        start_timeout: float = 60.0,
        listen: tuple[str, ...] = ("127.0.0.1",),
        clients: tuple[str, ...] = (),
    ) -> None:
        if not _IDENTIFIER.match(database):
            raise LocalPostgresError(f"database name {database!r} is not a plain identifier")
        self.data_dir = Path(data_dir).absolute()
        self.port = port
        self.database = database
        self.start_timeout = start_timeout
        self._bin_dir = bin_dir
        self._run_as = run_as
        self._credentials: dict[str, Any] | None = None
        self.listen = listen
        self.clients = clients

    # ----------------------------------------------------------------------------- paths

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "pgdata"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "server.log"

    @property
    def credentials_file(self) -> Path:
        return self.data_dir / "credentials.json"

    @property
    def bin_dir(self) -> Path:
        if self._bin_dir is None:
            self._bin_dir = find_bin_dir()
        return self._bin_dir

    # ----------------------------------------------------------------------------- identity

    @property
    def user(self) -> str:
        return str(self._load_credentials()["user"])

    @property
    def password(self) -> str:
        return str(self._load_credentials()["password"])

    @property
    def dsn(self) -> str:
        """postgresql://user:password@127.0.0.1:port/database (valid once the server was set up)."""
        return self.dsn_for(self.database)

    def dsn_for(self, database: str) -> str:
        """The DSN of another database on this server."""
        return (
            f"postgresql://{quote(self.user, safe='')}:{quote(self.password, safe='')}"
            f"@127.0.0.1:{self.port}/{quote(database, safe='')}"
        )

    def _load_credentials(self) -> dict[str, Any]:
        if self._credentials is None:
            try:
                self._credentials = json.loads(self.credentials_file.read_text())
            except FileNotFoundError:
                raise LocalPostgresError(f"{self.data_dir} has no credentials.json: start the server first") from None
            except (OSError, ValueError) as exc:
                raise LocalPostgresError(f"cannot read {self.credentials_file}: {exc}") from exc
        return self._credentials

    # ----------------------------------------------------------------------------- process user

    def _server_user(self) -> pwd.struct_passwd | None:
        """Who runs initdb/pg_ctl: nobody special unless we are root."""
        if os.geteuid() != 0:
            return None
        names = [self._run_as] if self._run_as else [os.environ.get("LOCALPG_USER", ""), "postgres", "nobody"]
        for name in names:
            if not name:
                continue
            try:
                return pwd.getpwnam(name)
            except KeyError:
                if self._run_as:
                    raise LocalPostgresError(f"user {name!r} does not exist") from None
        raise LocalPostgresError("running as root and neither user 'postgres' nor 'nobody' exists")

    def _run(
        self,
        args: Sequence[str],
        *,
        as_server: bool = True,
        env: Mapping[str, str] | None = None,
        timeout: float = 120.0,
    ) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, Any] = {}
        full_env = {**os.environ, **(env or {})}
        full_env.pop("PGDATA", None)
        user = self._server_user() if as_server else None
        if user is not None:
            kwargs.update(user=user.pw_uid, group=user.pw_gid, extra_groups=[])
            full_env.update(HOME=str(self.data_dir), USER=user.pw_name, LOGNAME=user.pw_name)
        try:
            return subprocess.run(
                list(args),
                cwd=self.data_dir if self.data_dir.exists() else "/",
                env=full_env,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
                stdin=subprocess.DEVNULL,
                **kwargs,
            )
        except subprocess.TimeoutExpired as exc:
            raise LocalPostgresError(f"{Path(args[0]).name} did not finish within {timeout:.0f}s") from exc
        except OSError as exc:
            raise LocalPostgresError(f"cannot run {args[0]}: {exc}") from exc

    def _tool(self, name: str) -> str:
        return str(self.bin_dir / name)

    # ----------------------------------------------------------------------------- lifecycle

    def is_running(self) -> bool:
        """Whether a postmaster runs on this data directory (on any port)."""
        if not (self.pgdata / "PG_VERSION").exists():
            return False
        return self._run([self._tool("pg_ctl"), "status", "-D", str(self.pgdata)]).returncode == 0

    def is_accepting(self) -> bool:
        """Whether the server accepts connections on 127.0.0.1:port."""
        result = self._run(
            [self._tool("pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port), "-t", "2"],
            as_server=False,
        )
        return result.returncode == 0

    def start(self) -> str:
        """Set up (first time), start and wait for the server; create the database; return the DSN."""
        self._prepare_directory()
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb()
        self._allow_clients()
        if self.is_running():
            if not self.is_accepting():
                raise LocalPostgresError(
                    f"a server already runs on {self.pgdata} but not on port {self.port}; "
                    f"stop it first (python -m localpg down --data-dir {self.data_dir})"
                )
        else:
            result = self._run(
                [
                    self._tool("pg_ctl"),
                    "start",
                    "-D",
                    str(self.pgdata),
                    "-l",
                    str(self.log_file),
                    "-w",
                    "-t",
                    str(int(self.start_timeout)),
                    "-o",
                    f"-p {self.port} -c listen_addresses={','.join(self.listen)}",
                ],
                timeout=self.start_timeout + 30,
            )
            if result.returncode != 0:
                raise self._failure("pg_ctl start failed", result)
        self._wait_accepting()
        self._ensure_database(self.database)
        return self.dsn

    def stop(self) -> None:
        """Fast shutdown (rolls back open transactions, checkpoints); no-op when not running."""
        if not self.is_running():
            return
        result = self._run(
            [self._tool("pg_ctl"), "stop", "-D", str(self.pgdata), "-m", "fast", "-w", "-t", "60"],
            timeout=90,
        )
        if result.returncode != 0 and self.is_running():
            raise self._failure("pg_ctl stop failed", result)

    def __enter__(self) -> PostgresServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _prepare_directory(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        user = self._server_user()
        if user is None:
            return
        os.chown(self.data_dir, user.pw_uid, user.pw_gid)
        self.data_dir.chmod(0o700)
        probe = self._run(["/bin/sh", "-c", 'cd "$1" && test -w .', "sh", str(self.data_dir)])
        if probe.returncode != 0:
            raise LocalPostgresError(
                f"user {user.pw_name} cannot enter {self.data_dir}: pick a data directory whose parent "
                "directories are world-traversable (for example under /tmp)"
            )

    def _initdb(self) -> None:
        user = self._server_user()
        if not self.credentials_file.exists():
            credentials = {"user": SUPERUSER, "password": secrets.token_urlsafe(18), "port": self.port}
            self.credentials_file.write_text(json.dumps(credentials, indent=2) + "\n")
            self.credentials_file.chmod(0o600)
        self._credentials = None
        pwfile = self.data_dir / ".initdb-password"
        pwfile.write_text(self.password + "\n")
        pwfile.chmod(0o600)
        if user is not None:
            os.chown(pwfile, user.pw_uid, user.pw_gid)
        try:
            result = self._run(
                [
                    self._tool("initdb"),
                    "-D",
                    str(self.pgdata),
                    "-U",
                    self.user,
                    f"--pwfile={pwfile}",
                    "--auth-host=scram-sha-256",
                    "--auth-local=scram-sha-256",
                    "-E",
                    "UTF8",
                    "--no-locale",
                    "--no-sync",
                    "--no-instructions",
                ],
                timeout=180,
            )
        finally:
            pwfile.unlink(missing_ok=True)
        if result.returncode != 0:
            shutil.rmtree(self.pgdata, ignore_errors=True)
            raise LocalPostgresError(f"initdb failed: {_last_lines(result.stderr or result.stdout, 5)}")
        with (self.pgdata / "postgresql.conf").open("a") as conf:
            conf.write(_SERVER_SETTINGS)

    def _allow_clients(self) -> None:
        """Password access from each network in `clients` (the local cluster's pods, say)."""
        hba = self.pgdata / "pg_hba.conf"
        lines = hba.read_text().splitlines()
        wanted = [f"host all all {network} scram-sha-256" for network in self.clients]
        missing = [line for line in wanted if line not in lines]
        if missing:
            hba.write_text("\n".join([*lines, *missing]) + "\n")

    def _wait_accepting(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while not self.is_accepting():
            if time.monotonic() > deadline:
                raise self._failure(f"server does not accept connections on 127.0.0.1:{self.port}", None)
            time.sleep(0.1)

    # ----------------------------------------------------------------------------- SQL via psql

    def psql(self, sql: str, *, database: str = "postgres") -> str:
        """Run SQL as the superuser through psql; return its unaligned output."""
        result = self._run(
            [
                self._tool("psql"),
                "-X",
                "-q",
                "-t",
                "-A",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                self.user,
                "-d",
                database,
                "-c",
                sql,
            ],
            as_server=False,
            env={"PGPASSWORD": self.password, "PGCONNECT_TIMEOUT": "5"},
            timeout=60,
        )
        if result.returncode != 0:
            raise LocalPostgresError(f"psql failed: {_last_lines(result.stderr, 3)}")
        return result.stdout

    def create_database(self, name: str, *, template: str | None = None) -> str:
        """CREATE DATABASE name [TEMPLATE template]; return its DSN."""
        for identifier in (name, template):
            if identifier is not None and not _IDENTIFIER.match(identifier):
                raise LocalPostgresError(f"database name {identifier!r} is not a plain identifier")
        suffix = f" TEMPLATE {template}" if template else ""
        self.psql(f"CREATE DATABASE {name}{suffix}")
        return self.dsn_for(name)

    def drop_database(self, name: str) -> None:
        """DROP DATABASE IF EXISTS name, closing whatever is still connected to it."""
        if not _IDENTIFIER.match(name):
            raise LocalPostgresError(f"database name {name!r} is not a plain identifier")
        self.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def _ensure_database(self, name: str) -> None:
        exists = self.psql(f"SELECT 1 FROM pg_database WHERE datname = '{name}'").strip()
        if exists != "1":
            self.create_database(name)

    # ----------------------------------------------------------------------------- diagnostics

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the server log (empty when there is none yet)."""
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _failure(self, what: str, result: subprocess.CompletedProcess[str] | None) -> LocalPostgresError:
        details = _last_lines((result.stderr or result.stdout) if result else "", 3)
        message = f"{what} ({self.pgdata}, port {self.port})"
        if details:
            message += f": {details}"
        tail = self.log_tail()
        if tail:
            message += f"\n--- last lines of {self.log_file} ---\n{tail}"
        return LocalPostgresError(message)


def _last_lines(text: str, count: int) -> str:
    return " | ".join(line.strip() for line in text.strip().splitlines()[-count:] if line.strip())
