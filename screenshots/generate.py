"""Regenerate the README's screenshots from the real app on the real demo database.

    python screenshots/generate.py            # own embedded server, full-size demo
    python screenshots/generate.py --rows 5000  # quicker, smaller figures
    python screenshots/generate.py --only migrate latency  # just these shots
    python screenshots/generate.py --only faiss --rows 5000  # the FAISS mode's shot
    python screenshots/generate.py --only live  # the Live mode during the demo workload

Each SVG is what a 120x36 terminal shows (``indexes-80x24`` what the smallest terminal
vecscope is designed for shows); nothing is drawn by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from textual._doc import take_svg_screenshot
from textual.pilot import Pilot
from textual.widgets import TextArea

from vecscope.core.connection import ConnectionTarget
from vecscope.core.demo import server as demo_server
from vecscope.core.demo.server import MISMATCH_QUERY
from vecscope.tui.app import VecscopeApp
from vecscope.tui.screens.backup_choice import BackupChoiceScreen
from vecscope.tui.screens.confirm import ConfirmScreen
from vecscope.tui.screens.connection_error import ConnectionErrorScreen
from vecscope.tui.screens.explain import ExplainScreen
from vecscope.tui.screens.faiss import FaissScreen
from vecscope.tui.screens.indexes import IndexesScreen
from vecscope.tui.screens.latency import LatencyScreen
from vecscope.tui.screens.migrate import MigrateScreen
from vecscope.tui.widgets.faiss_browser import FaissBrowser
from vecscope.tui.widgets.inventory_table import InventoryTable

HERE = Path(__file__).resolve().parent

SIZE = (120, 36)
#: The smallest terminal every screen is designed for.
SMALL = (80, 24)


async def _until(pilot: Pilot[Any], condition: Callable[[], bool], timeout: float = 30) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise SystemExit(f"screenshot: timed out waiting on {pilot.app.screen}")
        await pilot.pause(0.05)


def _loaded(app: Any) -> Callable[[], bool]:
    return lambda: isinstance(app.screen, IndexesScreen) and app.screen.inventory is not None


SHOTS = (
    "indexes",
    "indexes-80x24",
    "indexes-problems",
    "help",
    "explain",
    "latency",
    "connection-error",
    "migrate",
    "faiss",
    "live",
)
_only: set[str] = set(SHOTS)


def _shoot(
    name: str,
    app: VecscopeApp,
    before: Callable[[Pilot[Any]], Awaitable[None]],
    size: tuple[int, int] = SIZE,
) -> None:
    if name not in _only:
        return
    svg = take_svg_screenshot(app, terminal_size=size, run_before=before, title="vecscope")
    (HERE / f"{name}.svg").write_text(svg)
    print(f"wrote screenshots/{name}.svg")


def faiss_files(folder: Path) -> Path:
    """An IVF file FAISS itself wrote from 20,000 clustered 384-d vectors, and a broken one.

    Deterministic: fixed seeds, k-means on one thread.
    """
    import faiss

    from vecscope.core.demo.embeddings import sample, topic_model

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    x, _ = sample(topic_model(21), 20_000, seed=22)
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        ivf = faiss.index_factory(x.shape[1], "IVF256,Flat")
        ivf.train(x)
        ivf.add(x)
    finally:
        faiss.omp_set_num_threads(threads)
    path = folder / "docs.ivf.index"
    faiss.write_index(ivf, str(path))
    (folder / "docs.broken.index").write_bytes(path.read_bytes()[:100_000])
    return path


def live_shot(dsn: str) -> None:
    """The Live mode on the demo itself while the demo workload runs (the embedded server
    preloads pg_stat_statements), counters reset first so only the workload shows."""
    import threading

    import psycopg

    from vecscope.core.demo.workload import DemoWorkload
    from vecscope.tui.context import LiveOptions
    from vecscope.tui.screens.live import LiveScreen

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SELECT pg_stat_statements_reset()")
        conn.execute("SELECT pg_stat_reset()")
    workload = DemoWorkload(dsn, clients=3, switch_after_s=40, progress=print)
    thread = threading.Thread(target=workload.run, daemon=True)
    thread.start()
    try:

        async def live(pilot: Pilot[Any]) -> None:
            await _until(pilot, lambda: isinstance(pilot.app.screen, LiveScreen))
            screen = pilot.app.screen
            assert isinstance(screen, LiveScreen)

            def flagged() -> bool:
                last = screen.points[-1] if screen.points else None
                return (
                    last is not None
                    and len(screen.points) >= 70
                    and any(ix.flag and ix.valid for ix in last.indexes)
                )

            await _until(pilot, flagged, timeout=300)
            await pilot.pause(0.3)

        app = VecscopeApp(
            ConnectionTarget(dsn=dsn), live_options=LiveOptions(interval_s=1.0), start_mode="live"
        )
        _shoot("live", app, live)
    finally:
        workload.stop()
        thread.join(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=demo_server.DEFAULT_ROWS)
    parser.add_argument("--only", nargs="+", choices=SHOTS, help="just these shots")
    args = parser.parse_args()
    _only.intersection_update(args.only or SHOTS)
    tmp = Path(tempfile.mkdtemp(prefix="vecscope-shots-"))
    # The migration's journal and dump go to a throwaway directory, never the user's state
    # (a fixed name, so the screenshot shows a path a reader can make sense of).
    state = Path(tempfile.gettempdir()) / "vecscope-shots-state"
    shutil.rmtree(state, ignore_errors=True)
    os.environ["VECSCOPE_STATE_DIR"] = str(state)
    server = demo_server.up(tmp, rows=args.rows, progress=lambda m: print(m, file=sys.stderr))
    try:
        target = ConnectionTarget(dsn=server.conninfo(demo_server.DEMO_DB))

        async def indexes(pilot: Pilot[Any]) -> None:
            await _until(pilot, _loaded(pilot.app))
            await pilot.app.workers.wait_for_complete()
            await pilot.press(*["down"] * 8)  # the INVALID index, with its finding and fix
            await pilot.pause()

        _shoot("indexes", VecscopeApp(target), indexes)
        _shoot("indexes-80x24", VecscopeApp(target), indexes, SMALL)

        async def problems(pilot: Pilot[Any]) -> None:
            await _until(pilot, _loaded(pilot.app))
            await pilot.press("f")  # problems only
            await pilot.pause(2.5)  # let the toast go

        _shoot("indexes-problems", VecscopeApp(target), problems)

        async def help_keys(pilot: Pilot[Any]) -> None:
            await _until(pilot, _loaded(pilot.app))
            await pilot.press("question_mark")
            await pilot.pause()

        _shoot("help", VecscopeApp(target), help_keys)

        async def explain_mismatch(pilot: Pilot[Any]) -> None:
            await _until(pilot, _loaded(pilot.app))
            await pilot.press("f3")
            await _until(pilot, lambda: isinstance(pilot.app.screen, ExplainScreen))
            screen = pilot.app.screen
            assert isinstance(screen, ExplainScreen)
            await pilot.app.workers.wait_for_complete()
            screen.query_one("#editor", TextArea).load_text(MISMATCH_QUERY)
            await pilot.press("f5")
            await _until(pilot, lambda: screen.diagnosis is not None)
            await pilot.app.workers.wait_for_complete()
            await pilot.press("escape")
            await pilot.pause()

        _shoot("explain", VecscopeApp(target), explain_mismatch)

        async def latency_live(pilot: Pilot[Any]) -> None:
            await _until(pilot, _loaded(pilot.app))
            table = pilot.app.screen.query_one(InventoryTable)
            table.focus()
            table.move_cursor(row=table.get_row_index("col:public.doc_chunks.embedding"))
            await pilot.press("l")
            await _until(
                pilot,
                lambda: (
                    isinstance(pilot.app.screen, LatencyScreen) and pilot.app.screen.lab is not None
                ),
                timeout=120,
            )
            screen = pilot.app.screen
            assert isinstance(screen, LatencyScreen) and screen.lab is not None
            lab = screen.lab
            await pilot.press("space")
            # probes 1 -> 2 -> 5 -> 10 -> 20, a few windows each: recall climbs, latency too.
            for step in range(1, 5):

                def windows(needed: int = 4 * step) -> bool:
                    return len(lab.samples) >= needed

                await _until(pilot, windows, timeout=60)
                await pilot.press("plus")
            await _until(pilot, lambda: len(lab.samples) >= 20, timeout=60)
            await pilot.pause(0.5)

        _shoot("latency", VecscopeApp(target), latency_live)

        async def refused(pilot: Pilot[Any]) -> None:
            await _until(pilot, lambda: isinstance(pilot.app.screen, ConnectionErrorScreen))
            await pilot.pause()

        bad = ConnectionTarget(dsn="postgresql://app:secret@127.0.0.1:1/search")
        _shoot("connection-error", VecscopeApp(bad), refused)

        async def migrate_building(pilot: Pilot[Any]) -> None:
            app = pilot.app
            await _until(pilot, _loaded(app))
            table = app.screen.query_one(InventoryTable)
            table.focus()
            table.move_cursor(row=table.get_row_index("ix:public.idx_doc_chunks_embedding"))
            await pilot.press("m")
            await _until(
                pilot,
                lambda: isinstance(app.screen, MigrateScreen) and app.screen.board.spec is not None,
                timeout=60,
            )
            screen = app.screen
            assert isinstance(screen, MigrateScreen)
            await pilot.press("a")  # run all remaining: asks for the backup, then the cutover
            await _until(pilot, lambda: isinstance(app.screen, BackupChoiceScreen))
            await pilot.pause()
            await pilot.click("#backup-go")  # a verified pg_dump of the table
            await _until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            await pilot.pause()
            await pilot.press(*"idx_doc_chunks_embedding", "enter")

            def partway() -> bool:
                p = screen.board.progress
                return screen.running == "build" and p is not None and (p.percent or 0) >= 40

            await _until(pilot, partway, timeout=900)
            await pilot.pause(0.3)

        # Quitting mid-build cancels it: the server stops it and drops the invalid index.
        _shoot("migrate", VecscopeApp(target), migrate_building)

        if "faiss" in _only:
            ivf = faiss_files(Path(tempfile.gettempdir()) / "vecscope-faiss")

            async def faiss_tuned(pilot: Pilot[Any]) -> None:
                app = pilot.app
                await _until(pilot, _loaded(app))
                await pilot.press("f6")
                await _until(pilot, lambda: isinstance(app.screen, FaissScreen))
                screen = app.screen
                assert isinstance(screen, FaissScreen)
                browser = screen.query_one(FaissBrowser)
                await _until(pilot, lambda: browser.node_of(ivf) is not None)
                node = browser.node_of(ivf)
                assert node is not None
                browser.move_cursor(node, animate=False)
                await pilot.press("enter")
                await _until(pilot, lambda: screen.info is not None, timeout=120)
                await pilot.press("t")  # 500 of its own vectors as queries, target 0.95
                await _until(pilot, lambda: ivf in screen.tunings, timeout=900)
                await pilot.pause(0.5)

            _shoot("faiss", VecscopeApp(target, faiss_dir=ivf.parent), faiss_tuned)
            shutil.rmtree(ivf.parent, ignore_errors=True)
        if "live" in _only:
            live_shot(target.dsn)
    finally:
        server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(state, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
