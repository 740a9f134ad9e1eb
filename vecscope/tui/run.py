"""Start the TUI for ``vecscope`` and ``vecscope demo`` (after the demo server is up)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from vecscope.core import cli, demo_server
from vecscope.core.connection import ConnectionTarget
from vecscope.core.embedded import EmbeddedServer
from vecscope.core.errors import BadInputError


def run_tui(args: argparse.Namespace) -> int:
    """Open the app; for the demo, start and seed the embedded server first.

    When this process started the embedded server, quitting stops it.
    """
    server: EmbeddedServer | None = None
    faiss_dir = getattr(args, "faiss_dir", None)
    if faiss_dir is not None and not faiss_dir.is_dir():
        raise BadInputError(f"--faiss-dir {faiss_dir}: not a directory")
    if args.command == "demo":
        data_dir = args.data_dir or demo_server.default_data_dir()
        server = demo_server.up(
            data_dir,
            rows=args.rows,
            reset=args.reset,
            progress=lambda m: print(m, file=sys.stderr, flush=True),
        )
        target = ConnectionTarget(dsn=server.conninfo(demo_server.DEMO_DB))
    elif args.command == "replay":
        return _replay(args.file)
    else:
        target = cli.target_from(args)
    try:
        from vecscope.tui.app import VecscopeApp

        if args.command == "live":
            app = VecscopeApp(
                target,
                live_options=_live_options(args),
                start_mode="live",
                faiss_dir=faiss_dir,
            )
        else:
            app = VecscopeApp(target, faiss_dir=faiss_dir)
        app.run()
        return app.return_code or 0
    finally:
        if server is not None and server.started_here:
            print("stopping the embedded PostgreSQL vecscope started", file=sys.stderr)
            server.stop()


def _live_options(args: argparse.Namespace) -> Any:
    """``vecscope live`` flags, checked before the screen opens (bad input: one line)."""
    from vecscope.core.live.recording import check_new_recording
    from vecscope.core.live.session import check_interval
    from vecscope.tui.screens.live import LiveOptions

    if args.duration:
        raise BadInputError("--duration is for --json runs; the TUI runs until you quit")
    record = args.record
    if record is not None:
        check_new_recording(record)
    return LiveOptions(check_interval(args.interval), record, not args.no_query_text)


def _replay(path: Path) -> int:
    from vecscope.core.live.recording import Recording
    from vecscope.tui.replay import ReplayApp

    Recording(path).close()  # a bad file is one line here, not a screen
    app = ReplayApp(path)
    app.run()
    return app.return_code or 0
