"""`packgate ui`: serve the history UI and JSON API (packgate.ui) with uvicorn.

Reads PostgreSQL with a read-only role (`--database-url` or PACKGATE_DATABASE_URL) and the
Kubernetes API with its own ServiceAccount (in a pod) or a kubeconfig, for TokenReview,
SubjectAccessReview and listing Packs.  Owns: the command's arguments and the server's lifetime
(the database pool and the API client are opened at start and closed at stop).  Must not: import
the web framework, the Kubernetes client or asyncpg at import time.
"""

from __future__ import annotations

import argparse
import sys

from packgate.commands import COMMANDS
from packgate.commands.migrate import add_database_url_argument, database_url

HELP = COMMANDS["ui"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on (default: 0.0.0.0)")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on (default: 8080)")
    parser.add_argument("--kubeconfig", help="kubeconfig to use outside a pod (default: $KUBECONFIG)")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    add_database_url_argument(parser)


def run(args: argparse.Namespace) -> int:
    from collections.abc import AsyncIterator
    from contextlib import asynccontextmanager

    import uvicorn
    from fastapi import FastAPI

    from packgate.db.history_queries import HistoryReader
    from packgate.k8s.auth import Authorizer
    from packgate.k8s.client import load_api_client
    from packgate.ui.app import Services, create_app

    if not 0 < args.port < 65536:
        print(f"packgate ui: --port must be 1-65535, not {args.port}", file=sys.stderr)
        return 2
    dsn = database_url(args)
    api_client = load_api_client(args.kubeconfig)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        reader = await HistoryReader.open(dsn, min_size=0, max_size=10)
        app.state.services = Services(reader=reader, authorizer=Authorizer(api_client))
        try:
            yield
        finally:
            await reader.close()
            api_client.close()  # type: ignore[no-untyped-call]

    app = create_app(lifespan=lifespan)
    print(f"packgate ui: listening on http://{args.host}:{args.port}", file=sys.stderr, flush=True)
    config = uvicorn.Config(
        app, host=args.host, port=args.port, log_level=args.log_level, proxy_headers=False, server_header=False
    )
    uvicorn.Server(config).run()
    return 0
