"""The Latency mode driven with Pilot on the real demo database."""

from __future__ import annotations

import html
import itertools
import re
from dataclasses import dataclass, replace
from typing import Any

import pytest
from textual.app import App, ComposeResult
from textual.widgets import Static

from tests.conftest import Database
from tests.tui.helpers import open_lab, screen_text, wait_loaded, wait_until
from vecscope.tui.app import VecscopeApp
from vecscope.tui.screens.latency import LatencyScreen
from vecscope.tui.widgets.latency_plots import SweepPlot

SIZE = (160, 45)


def plain(app: Any) -> str:
    """The screen's text, as a person reads it."""
    return html.unescape(re.sub(r"<[^>]+>", "", screen_text(app))).replace("\xa0", " ")


async def test_live_run_and_knobs(demo_db: Database) -> None:
    app = VecscopeApp(demo_db.target)
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_lab(pilot, "col:public.doc_chunks.embedding")
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
        screen = await open_lab(pilot, "col:public.messages.embedding")
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
            screen = await open_lab(pilot, "col:public.doc_chunks.embedding")
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


class _PlotApp(App[None]):
    CSS = "SweepPlot { width: 50; height: 12; }"

    def compose(self) -> ComposeResult:
        yield SweepPlot()


@dataclass(frozen=True)
class _Point:
    p50_ms: float
    recall: float


#: The sweep of issue #15 (doc_chunks, probes 1 to 100): 0.898 and 0.948 are under the
#: 0.95 target, 0.992 and 1.0 over it; two points close together at the top right.
ISSUE_POINTS = [
    _Point(0.40, 0.565),
    _Point(0.64, 0.713),
    _Point(1.47, 0.802),
    _Point(2.76, 0.877),
    _Point(6.25, 0.898),
    _Point(15.2, 0.948),
    _Point(34.3, 0.992),
    _Point(40.0, 1.0),
]


def _rows(plot: SweepPlot) -> tuple[int, dict[str, int]]:
    """The rendered row of the target line, and of each point's label."""
    lines = plot.render().plain.splitlines()
    line = next(n for n, text in enumerate(lines) if text.startswith("0.950┼"))
    found: dict[str, int] = {}
    for n, text in enumerate(lines):
        for label in re.findall(r"●(p\d)|(p\d)●", text):
            found["".join(label)] = n
    return line, found


@pytest.mark.parametrize("height", [12, 9, 7])
async def test_sweep_plot_draws_each_point_on_its_side_of_the_target(height: int) -> None:
    app = _PlotApp()
    async with app.run_test(size=(60, 20)) as pilot:
        plot = app.query_one(SweepPlot)
        plot.styles.height = height
        labels = [f"p{i}" for i in range(len(ISSUE_POINTS))]
        plot.show(ISSUE_POINTS, labels, recommended=6, target_recall=0.95, target_latency_ms=20)
        await pilot.pause()
        line, rows = _rows(plot)
        assert sorted(rows) == labels  # every measured point is drawn, with its label
        for label, point in zip(labels, ISSUE_POINTS, strict=True):
            if point.recall < 0.95:
                assert rows[label] > line, (label, point)
            else:
                assert rows[label] < line, (label, point)
        # Higher recall is never drawn lower, on either side of the line.
        by_recall = sorted(zip(ISSUE_POINTS, labels, strict=True), key=lambda pl: pl[0].recall)
        assert all(rows[a] >= rows[b] for (_, a), (_, b) in itertools.pairwise(by_recall))
        # The latency target is a vertical line right of the 15 ms point, left of 34 ms.
        assert plot.drawn is not None and plot.drawn.latency_col is not None
        placed = plot.drawn.placed
        assert placed[5].col < plot.drawn.latency_col < placed[6].col


async def test_sweep_with_a_latency_target_none_meets(demo_db: Database) -> None:
    """The recommendation meets the recall and the p50 target, or the status says which
    one no setting meets; `t` judges the same sweep again. Laid out for 80x24."""
    app = VecscopeApp(demo_db.target)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_lab(pilot, "col:public.messages.embedding")
        assert screen.knobs is not None
        screen._set_knobs(replace(screen.knobs, threshold_ms=0.001))
        await pilot.press("s")
        await wait_until(pilot, lambda: screen.sweep_result is not None, timeout=120)
        result = screen.sweep_result
        assert result is not None and result.recommendation is None
        assert result.verdict.unmet == "latency"
        status = " ".join(str(screen.query_one("#lab-status", Static).render()).split())
        assert "The latency target cannot be met" in status and "over 0.001 ms" in status
        # The table fills the width at 80 columns; the scatter is the next view (`v`).
        table, scatter = screen.query_one("#lab-table"), screen.query_one(SweepPlot)
        assert table.display and not scatter.display and table.region.right <= 80
        await pilot.press("v")
        assert scatter.display and not table.display
        assert scatter.drawn is not None and len(scatter.drawn.placed) == len(result.measurements)
        await pilot.press("v")
        # `t`: the next target (5 ms); the same measurements judged again.
        await pilot.press("t")
        await pilot.pause()
        rejudged = screen.sweep_result
        assert rejudged is not None and rejudged.measurements == result.measurements
        assert rejudged.recommendation is not None
        best = rejudged.measurements[rejudged.recommendation]
        assert best.p50_ms <= 5 and best.recall >= 0.95
        assert "✓ Sweep done: recommended" in str(screen.query_one("#lab-status", Static).render())
        assert "✓" in plain(app)  # the recommended row's mark, within 80 columns


async def test_ab_layout_at_three_sizes(demo_db: Database) -> None:
    """A and B both on screen at 80x24, 100x30 (where B was hidden) and 160x48, and a
    footer whose own keys all fit."""
    app = VecscopeApp(demo_db.target)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_lab(pilot, "col:public.doc_chunks.embedding")
        await pilot.press("a")
        await wait_until(pilot, lambda: screen.ab_result is not None, timeout=120)
        for size in ((80, 24), (100, 30), (160, 48)):
            await pilot.resize_terminal(*size)
            await pilot.pause()
            await pilot.pause()
            text = plain(app)
            assert "B vs A" in text and "probes=1" in text and "probes=2" in text, size
            assert "served by" in text and "A/B done" in text, size
            assert "Sweep" in text and "A/B" in text and "q Quit" in text, size
            table = screen.query_one("#lab-table")
            assert table.region.right <= size[0], size
            # The knobs bar says which keys turn what the footer has no room for.
            assert "target p50" in text and "concurrency" in text, size
