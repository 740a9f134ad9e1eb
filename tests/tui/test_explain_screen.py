"""The Explain mode driven with Pilot on the real demo database."""

from __future__ import annotations

from typing import Any

import pytest
from textual.app import App
from textual.pilot import Pilot
from textual.widgets import OptionList, Static, TabbedContent, TextArea

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
        # Raw plan: F8 shows it as text, then switches to JSON and back.
        await pilot.press("f8")
        await pilot.pause()
        assert screen.query_one(TabbedContent).active == "tab-raw"
        assert screen.query_one("#raw", TextArea).text.startswith("Limit")
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
        screen = await _explain_column(pilot, "public.articles.embedding")
        assert screen.diagnosis is not None
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


# --- issue #15: nothing stale, the keys, the layout -------------------------------------

DOCS = (
    "SELECT id FROM doc_chunks ORDER BY embedding <=> "
    "(SELECT embedding FROM doc_chunks WHERE id = 7) LIMIT 10"
)


async def _explain_column(pilot: Pilot[Any], column: str) -> ExplainScreen:
    """``e`` on ``column`` (``schema.table.column``) in the Indexes screen, then wait for
    the Explain screen's diagnosis of the query it wrote."""
    app = pilot.app
    table = app.screen.query_one(InventoryTable)
    table.focus()
    table.move_cursor(row=table.get_row_index(f"col:{column}"))
    await pilot.press("e")
    await wait_until(
        pilot,
        lambda: isinstance(app.screen, ExplainScreen) and app.screen.diagnosis is not None,
    )
    screen = app.screen
    assert isinstance(screen, ExplainScreen) and screen.diagnosis is not None
    return screen


def _detail(app: App[Any]) -> str:
    return str(app.screen.query_one("#node-detail", Static).render())


async def test_e_on_a_column_replaces_the_last_query_everywhere(demo_db: Database) -> None:
    """After `e` on messages, nothing of the doc_chunks query is left (issue #15.3)."""
    app = VecscopeApp(demo_db.target)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        indexes = app.screen
        table = indexes.query_one(InventoryTable)
        screen = await _explain_column(pilot, "public.doc_chunks.embedding")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "doc_chunks" in _detail(app)
        # The same query shape on messages: its plan node lands on the same tree line.
        await pilot.press("escape", "f2")
        await wait_until(pilot, lambda: app.screen is indexes)
        table.focus()
        table.move_cursor(row=table.get_row_index("col:public.messages.embedding"))
        await pilot.press("e")

        def messages_explained() -> bool:
            d = screen.diagnosis
            return d is not None and any(s.relation == "messages" for s in d.sites)

        # From the moment the screen is back, and while the new query runs, too.
        await wait_until(pilot, lambda: app.screen is screen)
        while not messages_explained():
            assert "doc_chunks" not in _detail(app)
            assert not screen.query_one(FindingsList).findings or messages_explained()
            await pilot.pause(0.01)
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "doc_chunks" not in _detail(app) and "messages" in _detail(app)
        assert all(f.rule != "probes-low" for f in screen.query_one(FindingsList).findings)
        assert "doc_chunks" not in screen.query_one("#raw", TextArea).text


async def test_an_error_clears_the_last_results(demo_db: Database) -> None:
    app = VecscopeApp(demo_db.target)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        screen = await _explain(pilot, MISMATCH)
        assert screen.query_one(FindingsList).findings
        await _explain(pilot, "SELECT no_such_column FROM messages")
        assert _verdict(app).startswith("✗") and "no_such_column" in _verdict(app)
        assert screen.diagnosis is None
        assert screen.query_one(FindingsList).option_count == 0
        assert not screen.query_one(PlanTree).root.children
        assert "Sort" not in _detail(app)
        assert screen.query_one("#raw", TextArea).text == ""


async def test_analyze_refreshes_the_selected_nodes_detail(demo_db: Database) -> None:
    """F6 after F5: the node under the cursor shows its actual figures at once."""
    app = VecscopeApp(demo_db.target)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        screen = await _explain(pilot, MISMATCH)
        assert "actual rows" not in _detail(app)
        await _explain(pilot, MISMATCH, key="f6")
        assert screen.diagnosis is not None and screen.diagnosis.result.analyzed
        detail = _detail(app)
        assert "actual rows" in detail and "ms total" in detail


async def test_f9_and_ctrl_r_reach_live_and_history(demo_db: Database) -> None:
    app = VecscopeApp(demo_db.target)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        screen = await _explain(pilot, "SELECT 1")
        side = screen.query_one(TabbedContent)
        await pilot.press("f9")
        await pilot.pause()
        assert side.active == "tab-live"
        assert app.focused is screen.query_one("#live-running")
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert side.active == "tab-history"
        assert app.focused is screen.query_one("#history")


async def test_help_lists_each_key_once(demo_db: Database) -> None:
    """f5-f7 mean Explain, Analyze and Try the fix here; the app's modes are not listed."""
    from textual.widgets import DataTable

    from vecscope.tui.screens.help import HelpScreen

    app = VecscopeApp(demo_db.target)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        await pilot.press("f3")
        await wait_until(pilot, lambda: isinstance(app.screen, ExplainScreen))
        await pilot.press("escape", "f1")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))
        table = app.screen.query_one(DataTable)
        rows = [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]
        keys = [r[0] for r in rows]
        assert len(keys) == len(set(keys)), keys
        actions = {r[0]: r[1] for r in rows}
        assert actions["f5"] == "Explain" and actions["f7"] == "Try the fix"
        assert actions["f9"] == "Live" and actions["ctrl+r"] == "History of queries"


async def test_f7_tries_a_setting_for_that_run(demo_db: Database) -> None:
    """probes-low's fix is a setting: F7 runs the query with it (issue #15.12)."""
    app = VecscopeApp(demo_db.target)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        screen = await _explain(pilot, DOCS)
        assert screen.diagnosis is not None
        assert screen.diagnosis.findings[0].rule == "probes-low"
        await _explain(pilot, DOCS, key="f7")
        d = screen.diagnosis
        assert d is not None and d.tried is not None and d.tried.rule == "probes-low"
        assert d.fix_worked and d.knn_served
        assert screen.query_one("#editor", TextArea).text == DOCS
        assert "note: run with ivfflat.probes = 10 (SET LOCAL" in _verdict(app)


async def test_e_writes_the_operator_the_application_uses(pgss_demo_db: Database) -> None:
    """The demo's application orders messages by <=>: `e` writes that, and the doctor
    finds the operator-class mismatch at once (issue #15.12)."""
    from vecscope.core import db
    from vecscope.core.demo.workload import MESSAGES

    with pgss_demo_db.connect() as c:
        vector = c.execute("SELECT embedding::text FROM messages LIMIT 1").fetchone()
        assert vector is not None
        for _ in range(3):
            db.execute(c, MESSAGES, {"vector": vector[0]})
    app = VecscopeApp(pgss_demo_db.target)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        screen = await _explain_column(pilot, "public.messages.embedding")
        assert screen.diagnosis is not None
        assert "<=>" in screen.query_one("#editor", TextArea).text
        assert screen.diagnosis.findings[0].rule == "operator-mismatch"
        assert "the operator the application uses" in _verdict(app)


@pytest.mark.parametrize("size", [(80, 24), (100, 30), (160, 48)])
async def test_layout_fits(demo_db: Database, size: tuple[int, int]) -> None:
    """Plan and findings usable from 80x24; the footer fits and lists F5-F9 and Help."""
    from textual.widgets._footer import FooterKey

    width, height = size
    app = VecscopeApp(demo_db.target)
    async with app.run_test(size=size) as pilot:
        await wait_loaded(pilot)
        screen = await _explain(pilot, MISMATCH)
        plan, findings = screen.query_one(PlanTree), screen.query_one(FindingsList)
        assert plan.region.width >= width * 0.55, plan.region
        assert plan.region.height >= 6 and findings.region.height >= 5
        assert findings.region.width == plan.region.width
        assert screen.query_one("#verdict").region.height >= 2
        keys = [k for k in screen.query(FooterKey) if not k.has_class("-command-palette")]
        palette = screen.query_one(".-command-palette", FooterKey)
        assert {k.key_display for k in keys} >= {"f5", "f6", "f7", "f8", "f9", "?"}
        assert max(k.region.right for k in keys) <= palette.region.x <= width
        side = screen.query_one("#explain-side")
        if width < 100:
            # The side panel takes the results' place on demand, and esc brings them back.
            assert not side.display
            await pilot.press("f9")
            await pilot.pause()
            assert side.region.width == width and not plan.region.area
            await pilot.press("escape")
            await pilot.pause()
            assert not side.region.area and plan.region.area
            assert app.focused is plan
        else:
            assert side.region.width >= 40 and side.region.height >= height - 3
