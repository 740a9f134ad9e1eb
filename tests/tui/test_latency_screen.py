"""The Latency mode driven with Pilot on the real demo database."""

from __future__ import annotations

from typing import Any

from textual.pilot import Pilot
from textual.widgets import Static

from tests.conftest import Database
from tests.tui.helpers import wait_loaded, wait_until
from vecscope.tui.app import VecscopeApp
from vecscope.tui.screens.latency import LatencyScreen
from vecscope.tui.widgets.inventory_table import InventoryTable

SIZE = (160, 45)


async def _open_lab(pilot: Pilot[Any], row: str) -> LatencyScreen:
    app = pilot.app
    await wait_loaded(pilot)
    table = app.screen.query_one(InventoryTable)
    table.focus()
    table.move_cursor(row=table.get_row_index(row))
    await pilot.press("l")
    await wait_until(
        pilot,
        lambda: isinstance(app.screen, LatencyScreen) and app.screen.lab is not None,
        timeout=60,
    )
    screen = app.screen
    assert isinstance(screen, LatencyScreen)
    return screen


async def test_live_run_and_knobs(demo_db: Database) -> None:
    app = VecscopeApp(demo_db.target)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open_lab(pilot, "col:public.doc_chunks.embedding")
        lab = screen.lab
        assert lab is not None
        await pilot.press("space")
        await wait_until(pilot, lambda: len(lab.samples) >= 2, timeout=30)
        first = lab.samples.items()[-1]
        assert ("ivfflat.probes", "1") in first.settings
        assert first.index == "idx_doc_chunks_embedding" and first.queries > 0
        # Turning the knob changes the next windows; input is handled while sampling.
        await pilot.press("plus", "plus", "plus")
        await wait_until(
            pilot, lambda: ("ivfflat.probes", "10") in lab.samples.items()[-1].settings, timeout=30
        )
        assert lab.samples.items()[-1].recall > first.recall
        await pilot.press("right_square_bracket")
        await wait_until(pilot, lambda: lab.samples.items()[-1].concurrency == 2, timeout=30)
        await pilot.press("space")
        await app.workers.wait_for_complete()


async def test_sweep_recommends(demo_db: Database) -> None:
    app = VecscopeApp(demo_db.target)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open_lab(pilot, "col:public.messages.embedding")
        await pilot.press("s")
        await wait_until(pilot, lambda: screen.sweep_result is not None, timeout=120)
        result = screen.sweep_result
        assert result is not None and len(result.measurements) >= 3
        assert result.recommendation is not None
        text = str(app.screen.query_one("#lab-status", Static).render())
        assert text


async def test_unusable_column_says_why(demo_db: Database) -> None:
    app = VecscopeApp(demo_db.target)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        await pilot.press("f4")
        await wait_until(pilot, lambda: isinstance(app.screen, LatencyScreen))
        screen = app.screen
        assert isinstance(screen, LatencyScreen)
        screen.open_target("public", "articles", "embedding")
        await wait_until(
            pilot,
            lambda: (
                "no usable vector index" in str(screen.query_one("#lab-status", Static).render())
            ),
            timeout=30,
        )


async def test_ab_of_two_indexes(demo_db: Database) -> None:
    """During a migration both indexes exist: A/B measures each, EXPLAIN names it."""
    with demo_db.connect() as c:
        c.execute(
            "CREATE INDEX doc_hnsw_tmp ON doc_chunks USING hnsw (embedding vector_cosine_ops)"
        )
    try:
        app = VecscopeApp(demo_db.target)
        async with app.run_test(size=SIZE) as pilot:
            screen = await _open_lab(pilot, "col:public.doc_chunks.embedding")
            assert {ix.name for ix in screen.indexes} == {
                "doc_hnsw_tmp",
                "idx_doc_chunks_embedding",
            }
            await pilot.press("a")
            await wait_until(pilot, lambda: screen.ab_result is not None, timeout=120)
            assert screen.ab_result is not None
            a, b = screen.ab_result
            assert a.index == "doc_hnsw_tmp"
            assert b.index is not None
    finally:
        with demo_db.connect() as c:
            c.execute("DROP INDEX doc_hnsw_tmp")
