"""The Latency mode under the application's filter (`w`), on the real demo database: the
column is prepared again under it, the sweep measures iterative scans and the exact plan,
and shows the rows each setting returns and how often queries come back short."""

from __future__ import annotations

from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Static

from tests.conftest import Database
from tests.tui.helpers import open_lab, wait_until
from vecscope.tui.app import VecscopeApp
from vecscope.tui.screens.latency import LatencyScreen
from vecscope.tui.widgets.lab_results import LabResults


def _status(screen: LatencyScreen) -> str:
    return str(screen.query_one("#lab-status", Static).render())


async def _where(pilot: Pilot[Any], screen: LatencyScreen, text: str) -> None:
    await pilot.press("w")
    await wait_until(pilot, lambda: bool(screen.query("#lab-where")))
    box = screen.query_one("#lab-where", Input)
    box.value = text
    await pilot.press("enter")


@pytest.mark.parametrize("size", [(80, 24), (160, 45)], ids=["80x24", "160x45"])
async def test_where_prepares_the_filtered_lab_and_sweeps_it(
    demo_db: Database, size: tuple[int, int]
) -> None:
    app = VecscopeApp(demo_db.target)
    async with app.run_test(size=size) as pilot:
        screen = await open_lab(pilot, "col:public.doc_chunks.embedding")
        unfiltered = screen.bench
        await _where(pilot, screen, "tenant_id = {tenant_id}")

        def filtered() -> bool:
            return screen.bench is not unfiltered and screen.bench is not None

        await wait_until(pilot, filtered, timeout=120)
        bench = screen.bench
        assert bench is not None and bench.queries.filter is not None
        assert "where tenant_id = {tenant_id}" in _status(screen)
        await pilot.press("s")
        await wait_until(pilot, lambda: screen.sweep_result is not None, timeout=300)
        result = screen.sweep_result
        assert result is not None
        # The exact plan is in the sweep, and returns every row, exactly.
        exact = [m for m in result.measurements if m.settings == {"enable_indexscan": "off"}]
        assert exact and exact[0].recall == 1.0 and exact[0].short_share == 0.0
        table = screen.query_one(LabResults)
        labels = [str(c.label) for c in table.ordered_columns]
        assert labels[-2:] == ["rows", "short"]
        assert "95% interval" in _status(screen) or "cannot be met" in _status(screen)
        assert "recommended ," not in _status(screen)
        # An empty filter clears it: the column is prepared again, unfiltered.
        before = screen.bench
        await _where(pilot, screen, "")
        await wait_until(pilot, lambda: screen.bench is not before and screen.bench is not None)
        assert screen.bench is not None and screen.bench.queries.filter is None


async def test_a_bad_filter_says_why_in_one_line(demo_db: Database) -> None:
    app = VecscopeApp(demo_db.target)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_lab(pilot, "col:public.doc_chunks.embedding")
        await _where(pilot, screen, "tenant = {tenant}")
        await wait_until(pilot, lambda: "names no column" in _status(screen), timeout=60)
        await _where(pilot, screen, "no_such_column = 1")
        await wait_until(pilot, lambda: "--where:" in _status(screen), timeout=60)
        assert screen.bench is None
