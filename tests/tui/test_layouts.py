"""Screens laid out for 80x24 first, then for larger terminals (issue: "every screen usable
at 80x24 and 100x30"): the Indexes table's columns, the detail pane, and the one footer
mechanism every screen shares."""

from __future__ import annotations

import pytest
from textual.widgets import Footer, Static
from textual.widgets._footer import FooterKey

from tests.conftest import Database
from tests.tui.helpers import wait_loaded, wait_until
from vecscope.tui.app import VecscopeApp
from vecscope.tui.screens.fitted import footer_width
from vecscope.tui.widgets.detail import DetailPane
from vecscope.tui.widgets.inventory_table import COLUMNS, InventoryTable, fit_columns

SIZES = [(80, 24), (100, 30), (120, 36), (160, 48)]


def test_fit_columns_keeps_the_name_and_drops_by_rank() -> None:
    natural = {c.key: 10 for c in COLUMNS} | {"mark": 1, "name": 40}
    every, name = fit_columns(natural, 400)
    assert set(every) == {c.key for c in COLUMNS} and name == 40
    narrow, name = fit_columns(natural, 60)
    # mark (1+2) + state (12) + type (12) + name: the rest leave, the name keeps 24+.
    assert set(narrow) == {"mark", "name", "state", "type"}
    assert name >= 24
    # Columns leave from the end of the order, never from the middle.
    ranks = sorted(c.rank for c in COLUMNS if c.key in fit_columns(natural, 110)[0])
    assert ranks == sorted(c.rank for c in COLUMNS if c.rank <= max(ranks))


def _footer_keys(app: VecscopeApp) -> list[str]:
    footer = app.screen.query_one(Footer)
    return [k.key for k in footer.query(FooterKey) if not k.has_class("-command-palette")]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
async def test_indexes_fits_every_size(demo_db: Database, size: tuple[int, int]) -> None:
    app = VecscopeApp(demo_db.target)
    async with app.run_test(size=size) as pilot:
        await wait_loaded(pilot)
        screen = app.screen
        table = screen.query_one(InventoryTable)
        shown = [str(c.key.value) for c in table.ordered_columns]
        # The columns that matter first, whatever the width.
        assert shown[:4] == ["mark", "name", "state", "type"]
        # No column runs past the table: nothing to scroll sideways to.
        assert table.virtual_size.width <= table.size.width
        name = table.ordered_columns[1]
        assert name.width >= 24
        detail = screen.query_one(DetailPane)
        assert detail.region.width >= 40 and detail.region.height >= 5
        if size[0] < 120:
            # Under the table, the table keeps the whole width.
            assert detail.region.y > table.region.y and table.region.width >= size[0] - 1
        else:
            assert detail.region.x > table.region.x
        if size[0] >= 160:
            assert {"size", "rows", "scans"} <= set(shown)
        # The footer fits: its keys end before the palette key, Help and Quit always in it.
        bindings = screen.active_bindings
        assert footer_width(screen, bindings) <= size[0]
        keys = _footer_keys(app)
        assert "question_mark" in keys and "q" in keys
        if size[0] >= 160:
            assert {"f2", "f7"} <= set(keys)


async def test_mode_keys_leave_the_footer_not_the_keyboard(demo_db: Database) -> None:
    app = VecscopeApp(demo_db.target)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_loaded(pilot)
        assert "f7" not in _footer_keys(app)
        await pilot.press("f7")
        await wait_until(pilot, lambda: app.current_mode == "live")
        # The screen's own keys come first, in the order it declares them.
        live_keys = _footer_keys(app)
        assert live_keys[0] == "space"
        await pilot.press("f2")
        await wait_until(pilot, lambda: app.current_mode == "indexes")
        await pilot.resize_terminal(170, 40)
        await wait_until(pilot, lambda: "f7" in _footer_keys(app))


async def test_filter_without_match_leaves_no_stale_detail(demo_db: Database) -> None:
    app = VecscopeApp(demo_db.target)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(pilot)
        body = app.screen.query_one("#detail-body", Static)
        assert "public.articles.embedding" in str(body.render())
        await pilot.press("slash", *"nosuchthing")
        await wait_until(pilot, lambda: app.screen.query_one(InventoryTable).row_count == 0)
        await pilot.pause()
        text = str(body.render())
        assert "articles" not in text
        assert "No vector column matches 'nosuchthing'" in text
        await pilot.press("escape")
        await wait_until(pilot, lambda: app.screen.query_one(InventoryTable).row_count > 0)
        await wait_until(pilot, lambda: "public.articles.embedding" in str(body.render()))


@pytest.mark.parametrize("size", [(80, 24), (100, 30)], ids=lambda s: f"{s[0]}x{s[1]}")
async def test_every_mode_footer_fits(demo_db: Database, size: tuple[int, int]) -> None:
    app = VecscopeApp(demo_db.target)
    async with app.run_test(size=size) as pilot:
        await wait_loaded(pilot)
        for key, mode in [
            ("f3", "explain"),
            ("f4", "latency"),
            ("f5", "migrate"),
            ("f6", "faiss"),
            ("f7", "live"),
            ("f2", "indexes"),
        ]:
            await pilot.press(key)
            await wait_until(pilot, lambda m=mode: app.current_mode == m)
            # A mode shown for the first time composes its footer after its first frame.
            await wait_until(pilot, lambda: bool(_footer_keys(app)))
            screen = app.screen
            assert footer_width(screen, screen.active_bindings) <= size[0], mode
            keys = _footer_keys(app)
            # Help, as ? or (where an editor takes ? as text) f1.
            assert {"question_mark", "f1"} & set(keys), (mode, keys)
            # Nothing drawn past the right edge: every key lies within the screen.
            footer = screen.query_one(Footer)
            for widget in footer.query(FooterKey):
                assert widget.region.right <= size[0], (mode, widget.key)
