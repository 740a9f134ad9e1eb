"""Start the TUI for ``vecscope`` and ``vecscope demo`` (after the demo server is up)."""

from __future__ import annotations

import argparse
import sys

from core import cli, demo_server
from core.connection import ConnectionTarget
from core.embedded import EmbeddedServer


def run_tui(args: argparse.Namespace) -> int:
    """Open the app; for the demo, start and seed the embedded server first.

    When this process started the embedded server, quitting stops it.
    """
    server: EmbeddedServer | None = None
    if args.command == "demo":
        data_dir = args.data_dir or demo_server.default_data_dir()
        server = demo_server.up(
            data_dir,
            rows=args.rows,
            reset=args.reset,
            progress=lambda m: print(m, file=sys.stderr, flush=True),
        )
        target = ConnectionTarget(dsn=server.conninfo(demo_server.DEMO_DB))
    else:
        target = cli.target_from(args)
    try:
        from tui.app import VecscopeApp

        app = VecscopeApp(target)
        app.run()
        return app.return_code or 0
    finally:
        if server is not None and server.started_here:
            print("stopping the embedded PostgreSQL vecscope started", file=sys.stderr)
            server.stop()
