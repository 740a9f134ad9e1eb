"""The Explain mode driven with Pilot on the real demo database."""

from __future__ import annotations

from typing import Any

import pytest
from textual.app import App
from textual.pilot import Pilot
from textual.widgets import OptionList, Static, TextArea

from tests.conftest import Database
from tests.tui.helpers import wait_loaded, wait_until
from vecscope.core.doctor.history import load_history
from vecscope.tui.app import VecscopeApp
from vecscope.tui.screens.explain import ExplainScreen
from vecscope.tui.widgets.findings_list import FindingsList
from vecscope.tui.widgets.inventory_table import InventoryTable
from vecscope.tui.widgets.plan_tree import PlanTree

SIZE = (180, 48)
MISMATCH = (
    "SELECT id FROM messages ORDER BY embedding <=> "
    "(SELECT embedding FROM messages WHERE id = 42) LIMIT 10"
)


def _verdict(app: App[Any]) -> str:
    return str(app.screen.query_one("#verdict", Static).render())


async def _explain(pilot: Pilot[Any], sql: str, key: str = "f5") -> ExplainScreen:
    app = pilot.app
    if not isinstance(app.screen, ExplainScreen):
        await pilot.press("f3")
        await wait_until(pilot, lambda: isinstance(app.screen, ExplainScreen))
    screen = app.screen
    assert isinstance(screen, ExplainScreen)
    before = screen.diagnosis
    screen.query_one("#editor", TextArea).load_text(sql)
    await pilot.press(key)
    await wait_until(pilot, lambda: screen.diagnosis is not before or "✗" in _verdict(app))
    await app.workers.wait_for_complete()
    await pilot.pause()
    return screen


async def test_mismatch_verdict_findings_and_try_fix(demo_db: Database) -> None:
    app = VecscopeApp(demo_db.target)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        screen = await _explain(pilot, MISMATCH)
        assert screen.diagnosis is not None
        verdict = _verdict(app)
        assert verdict.startswith("✗ Seq Scan on") and "serves <=>" in verdict
        findings = screen.query_one(FindingsList)
        assert findings.findings[0].rule == "operator-mismatch"
        # Selecting a finding selects its plan node.
        findings.focus()
        findings.highlighted = 0
        await pilot.pause()
        tree = screen.query_one(PlanTree)
        assert tree.cursor_node is not None
        assert tree.cursor_node.data == findings.findings[0].node_id
        assert "Sort" in str(screen.query_one("#node-detail", Static).render())
        # Try the fix: the rewritten query is explained and served.
        await pilot.press("f7")
        await wait_until(
            pilot,
            lambda: (
                screen.diagnosis is not None
                and screen.diagnosis.knn_served
                and bool(screen.diagnosis.sites)
            ),
        )
        await pilot.pause()
        assert "<->" in screen.query_one("#editor", TextArea).text
        assert _verdict(app).startswith("✓") and "idx_messages_embedding_hnsw" in _verdict(app)
        # Raw plan: text, then JSON.
        await pilot.press("f8")
        await pilot.pause()
        assert screen.query_one("#raw", TextArea).text.lstrip().startswith("[")
        await pilot.press("f8")
        await pilot.pause()
        assert screen.query_one("#raw", TextArea).text.startswith("Limit")
        assert load_history()[0].startswith("SELECT id FROM messages ORDER BY embedding <->")


async def test_bad_input_and_refused_write(demo_db: Database) -> None:
    app = VecscopeApp(demo_db.target)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        await _explain(pilot, "hello world")
        assert "not a SQL query" in _verdict(app)
        with demo_db.connect() as c:
            before = c.execute("SELECT count(*) FROM atoms").fetchone()
        await _explain(pilot, "DELETE FROM atoms", key="f6")
        assert "EXPLAIN ANALYZE would execute this statement" in _verdict(app)
        with demo_db.connect() as c:
            assert c.execute("SELECT count(*) FROM atoms").fetchone() == before


async def test_analyze_refuses_a_volatile_function(demo_db: Database) -> None:
    """F6 gets the core's refusal (issue #13.8), shown as any other error."""
    stats = "SELECT stats_reset FROM pg_stat_database WHERE datname = current_database()"
    with demo_db.connect() as c:
        before = c.execute(stats).fetchone()
    app = VecscopeApp(demo_db.target)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        screen = await _explain(pilot, "SELECT pg_stat_reset()", key="f6")
        verdict = _verdict(app)
        assert verdict.startswith("✗ EXPLAIN ANALYZE refused: pg_stat_reset() is volatile")
        assert screen.diagnosis is None
    with demo_db.connect() as c:
        assert c.execute(stats).fetchone() == before


async def test_from_the_indexes_screen(demo_db: Database) -> None:
    app = VecscopeApp(demo_db.target)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        table = app.screen.query_one(InventoryTable)
        table.focus()
        table.move_cursor(row=table.get_row_index("col:public.articles.embedding"))
        await pilot.press("e")
        await wait_until(
            pilot,
            lambda: isinstance(app.screen, ExplainScreen) and app.screen.diagnosis is not None,
        )
        screen = app.screen
        assert isinstance(screen, ExplainScreen) and screen.diagnosis is not None
        assert '"public"."articles"' in screen.query_one("#editor", TextArea).text
        assert screen.diagnosis.findings[0].rule == "no-index"


async def test_live_queries_without_pg_stat_statements(bare_demo_db: Database) -> None:
    app = VecscopeApp(bare_demo_db.target)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        await pilot.press("f3")
        await wait_until(pilot, lambda: isinstance(app.screen, ExplainScreen))
        await app.workers.wait_for_complete()
        await pilot.pause()
        status = str(app.screen.query_one("#live-statements-status", Static).render())
        assert "pg_stat_statements" in status and "shared_preload_libraries" in status


@pytest.mark.parametrize("entries", [2])
async def test_history_loads_a_query(demo_db: Database, entries: int) -> None:
    app = VecscopeApp(demo_db.target)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        await _explain(pilot, "SELECT 1")
        screen = await _explain(pilot, MISMATCH)
        history = screen.query_one("#history", OptionList)
        assert history.option_count == entries
        history.focus()
        history.highlighted = 1
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.query_one("#editor", TextArea).text == "SELECT 1")
