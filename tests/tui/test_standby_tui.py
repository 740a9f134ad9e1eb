"""The TUI on a real streaming hot standby: every screen's header says so, and the Migrate
mode says why it cannot run there before anything is filled in."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Button, Input, Select, Static

from tests.conftest import Database
from tests.standby import demo_pair
from tests.tui.helpers import capture_notes, wait_loaded, wait_until
from vecscope.core.embedded import EmbeddedServer
from vecscope.core.migrate.refusal import STANDBY
from vecscope.tui.app import VecscopeApp
from vecscope.tui.screens.migrate import MigrateScreen
from vecscope.tui.widgets.inventory_table import InventoryTable
from vecscope.tui.widgets.plan_form import PlanForm

SIZES = [(80, 24), (120, 40)]
MODES = ("indexes", "explain", "latency", "migrate", "faiss", "live")


@pytest.fixture(scope="module")
def pair(
    pg: EmbeddedServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Database, Database]]:
    with demo_pair(pg, tmp_path_factory.mktemp("standby"), "t_standby_tui") as both:
        yield both


def header_line(app: Any) -> str:
    """The header's row as drawn (cut to the terminal's width)."""
    return str(app.screen._compositor.render_strips()[0].text)


async def _refused(pilot: Pilot[Any]) -> MigrateScreen:
    """Until the Migrate mode has heard from the server whether it may migrate."""
    app = pilot.app

    def refused() -> bool:
        return isinstance(app.screen, MigrateScreen) and app.screen.board.refused is not None

    await wait_until(pilot, refused, timeout=60)
    await pilot.pause()
    screen = app.screen
    assert isinstance(screen, MigrateScreen)
    return screen


@pytest.mark.parametrize("size", SIZES)
async def test_every_screen_says_hot_standby(
    pair: tuple[Database, Database], size: tuple[int, int]
) -> None:
    _, standby = pair
    app = VecscopeApp(standby.target)
    async with app.run_test(size=size) as pilot:
        await wait_loaded(pilot)
        assert app.sub_title.startswith("HOT STANDBY · ")
        for mode in MODES:
            await app.switch_mode(mode)
            await pilot.pause()
            line = header_line(app)
            assert len(line) == size[0]
            assert "HOT STANDBY" in line, (mode, line)


@pytest.mark.parametrize("size", SIZES)
async def test_the_header_says_it_when_another_mode_opens_first(
    pair: tuple[Database, Database], size: tuple[int, int]
) -> None:
    """``vecscope live`` opens on the Live mode, which polls on connections of its own."""
    _, standby = pair
    app = VecscopeApp(standby.target, start_mode="live")
    async with app.run_test(size=size) as pilot:
        await wait_until(pilot, lambda: "HOT STANDBY" in app.sub_title)
        await pilot.pause()
        assert "HOT STANDBY" in header_line(app)


@pytest.mark.parametrize("size", SIZES)
async def test_migrate_says_why_before_the_form_is_filled(
    pair: tuple[Database, Database], size: tuple[int, int]
) -> None:
    _, standby = pair
    app = VecscopeApp(standby.target)
    async with app.run_test(size=size) as pilot:
        await wait_loaded(pilot)
        await pilot.press("f5")
        screen = await _refused(pilot)
        assert screen.board.refused == STANDBY
        # The top line says it, in full, before any field was touched.
        bar = str(screen.query_one("#migrate-bar", Static).render())
        assert bar == f"✗ cannot migrate here: {STANDBY}"
        form = screen.query_one(PlanForm)
        assert str(form.query_one("#plan-error", Static).render()) == f"✗ {STANDBY}"
        # The form cannot be used: the Plan button and every field are disabled.
        assert form.query_one("#plan-go", Button).disabled
        assert form.query_one("#plan-source", Select).disabled
        assert all(box.disabled for box in form.query(Input))
        assert screen.board.spec is None


async def test_m_on_an_index_of_the_standby_shows_the_refusal(
    pair: tuple[Database, Database],
) -> None:
    """``m`` on the Indexes screen opens the mode on the index; nothing gets planned."""
    _, standby = pair
    app = VecscopeApp(standby.target)
    notes = capture_notes(app)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(pilot)
        table = app.screen.query_one(InventoryTable)
        table.focus()
        table.move_cursor(row=table.get_row_index("ix:public.idx_doc_chunks_embedding"))
        await pilot.press("m")
        screen = await _refused(pilot)
        await wait_until(pilot, lambda: any(STANDBY in n for n in notes))
        assert screen.board.spec is None and screen.board.plan is None
        assert f"Cannot migrate here: {STANDBY}" in notes


async def test_the_primary_is_not_refused(pair: tuple[Database, Database]) -> None:
    primary, _ = pair
    app = VecscopeApp(primary.target)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_loaded(pilot)
        assert "HOT STANDBY" not in app.sub_title
        await pilot.press("f5")
        screen = app.screen
        assert isinstance(screen, MigrateScreen)
        form = screen.query_one(PlanForm)
        await wait_until(pilot, lambda: form.inventory is not None, timeout=60)
        await pilot.pause()
        assert screen.board.refused is None
        assert not form.query_one("#plan-go", Button).disabled
        assert "cannot migrate" not in str(screen.query_one("#migrate-bar", Static).render())
