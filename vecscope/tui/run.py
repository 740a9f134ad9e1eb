"""Open the TUI: on a database, on the demo (after its server is up), or on a recording.

The CLI (``vecscope.cli.launch``) parses the command line and calls one of these with
typed values; nothing here knows about argparse.
"""

from __future__ import annotations

import sys
from pathlib import Path

from vecscope.core.connection import ConnectionTarget
from vecscope.core.demo import server as demo_server
from vecscope.core.errors import BadInputError
from vecscope.core.live.recording import check_new_recording
from vecscope.core.live.session import check_interval
from vecscope.core.statusline import StatusLine
from vecscope.tui.context import LiveOptions


def check_faiss_dir(faiss_dir: Path | None) -> None:
    if faiss_dir is not None and not faiss_dir.is_dir():
        raise BadInputError(f"--faiss-dir {faiss_dir}: not a directory")


def live_options(
    interval_s: float, record: Path | None, *, duration_s: float | None, query_text: bool
) -> LiveOptions:
    """``vecscope live`` flags, checked before the screen opens (bad input: one line)."""
    if duration_s:
        raise BadInputError("--duration is for --json runs; the TUI runs until you quit")
    if record is not None:
        check_new_recording(record)
    return LiveOptions(check_interval(interval_s), record, query_text)


def open_app(
    target: ConnectionTarget, *, faiss_dir: Path | None = None, live: LiveOptions | None = None
) -> int:
    """Open the app on ``target``; in the Live mode when ``live`` is given."""
    check_faiss_dir(faiss_dir)
    from vecscope.tui.app import VecscopeApp

    if live is not None:
        app = VecscopeApp(target, live_options=live, start_mode="live", faiss_dir=faiss_dir)
    else:
        app = VecscopeApp(target, faiss_dir=faiss_dir)
    app.run()
    return app.return_code or 0


def open_demo(
    data_dir: Path | None, *, rows: int | None, reset: bool, faiss_dir: Path | None = None
) -> int:
    """Start and seed the embedded demo server, open the app on it; quitting stops the
    server when this process started it."""
    check_faiss_dir(faiss_dir)
    # Seeding happens before the screen: each step a line on stderr, how far between them.
    with StatusLine(sys.stderr, show_after_s=0) as status:
        server = demo_server.up(
            data_dir or demo_server.default_data_dir(),
            rows=rows,
            reset=reset,
            progress=status.line,
            on_progress=lambda p: status.update(p.text()),
        )
    try:
        return open_app(
            ConnectionTarget(dsn=server.conninfo(demo_server.DEMO_DB)), faiss_dir=faiss_dir
        )
    finally:
        if server.started_here:
            print("stopping the embedded PostgreSQL vecscope started", file=sys.stderr)
            server.stop()


def open_replay(path: Path) -> int:
    from vecscope.core.live.recording import Recording
    from vecscope.tui.replay import ReplayApp

    Recording(path).close()  # a bad file is one line here, not a screen
    app = ReplayApp(path)
    app.run()
    return app.return_code or 0
