"""The Live mode's charts, tables and panels; they only draw the points handed to them.

Points come from ``core.live`` (a live run or a recording): each widget shows the points
up to the position being looked at, so a replay and a live run draw the same way.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from rich.text import Text
from textual.content import Content
from textual.coordinate import Coordinate
from textual.message import Message
from textual.widgets import DataTable, Static

from vecscope.core.doctor.plan import shorten_vectors
from vecscope.core.live.model import LivePoint, ShapeRate
from vecscope.core.live.rates import top_shapes
from vecscope.tui.widgets.latency_plots import MARKER, LabPlot
from vecscope.tui.widgets.sized_table import SizedTable

TITLES = {
    "calls_per_s": "Calls per second per shape",
    "mean_ms": "Mean ms per call",
    "rows_per_call": "Rows per call",
}
#: The query shape's text in the table (the whole text is what `e` explains).
QUERY_WIDTH = 120
#: Theme variables for the series, in the order of the shapes' ``#`` numbers.
SERIES = ("primary", "accent", "success", "warning", "secondary")


def one_line(sql: str | None, width: int = 200) -> str:
    if sql is None:
        return "(query text not recorded)"
    text = " ".join(shorten_vectors(sql).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _fmt(value: float, digits: int = 2) -> str:
    return "-" if math.isnan(value) else f"{value:,.{digits}f}"


def _marks(points: Sequence[LivePoint]) -> list[float]:
    """Times of settings changes and counter resets: vertical lines on every chart."""
    return [p.t for p in points if p.changes or p.resets]


class ShapesPlot(LabPlot):
    """Calls per second, or mean time per call, of the busiest query shapes."""

    def __init__(self, metric: str, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.metric = metric
        # On the border, not plotext's own title: plotext drops a title wider than the
        # chart, and at 100 columns four charts are 25 wide.
        self.border_title = TITLES[metric]
        self.points: Sequence[LivePoint] = ()
        self.order: list[int] = []

    def show(self, points: Sequence[LivePoint], order: list[int]) -> None:
        self.points = points
        self.order = order
        self._redraw()

    def draw(self) -> None:
        plt = self.plt
        per_s = self.metric == "calls_per_s"
        plt.xlabel("seconds")
        rated = [p for p in self.points if p.interval_s is not None]
        if not rated or not self.order:
            return
        for t in _marks(rated):
            plt.vline(t, self.colour("panel-lighten-2"))
        top = 0.0
        for n, queryid in enumerate(self.order[: len(SERIES)]):
            times: list[float] = []
            values: list[float] = []
            for p in rated:
                shape = next((s for s in p.shapes if s.queryid == queryid), None)
                value = getattr(shape, self.metric) if shape is not None else math.nan
                if per_s and shape is None:
                    value = 0.0
                if not math.isnan(value):
                    times.append(p.t)
                    values.append(value)
            if values:
                top = max(top, *values)
                plt.plot(
                    times, values, marker=MARKER, color=self.colour(SERIES[n]), label=f"#{n + 1}"
                )
        plt.ylim(0, top * 1.15 or 1.0)


class IndexScansPlot(LabPlot):
    """Index scans per second of the busiest indexes; flagged ones in the error colour."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.points: Sequence[LivePoint] = ()
        self.border_title = "Index scans/s (red: flagged)"

    def show(self, points: Sequence[LivePoint]) -> None:
        self.points = points
        self._redraw()

    def draw(self) -> None:
        plt = self.plt
        plt.xlabel("seconds")
        rated = [p for p in self.points if p.interval_s is not None]
        if not rated:
            return
        for t in _marks(rated):
            plt.vline(t, self.colour("panel-lighten-2"))
        busy: dict[str, int] = {}
        for p in rated:
            for ix in p.indexes:
                busy[ix.key] = busy.get(ix.key, 0) + ix.scans
        flagged = {ix.key for ix in rated[-1].indexes if ix.flag and ix.valid}
        keys = sorted(flagged) + [
            k for k, n in sorted(busy.items(), key=lambda kv: -kv[1]) if n and k not in flagged
        ]
        top = 0.0
        for n, key in enumerate(keys[:5]):
            values = [
                next((ix.scans_per_s for ix in p.indexes if ix.key == key), 0.0) for p in rated
            ]
            values = [0.0 if math.isnan(v) else v for v in values]
            top = max(top, *values)
            colour = "error" if key in flagged else SERIES[n % len(SERIES)]
            label = key.split(".", 1)[1]
            plt.plot(
                [p.t for p in rated], values, marker=MARKER, color=self.colour(colour), label=label
            )
        plt.ylim(0, top * 1.15 or 1.0)


class ShapesTable(SizedTable):
    """Query shapes at the position looked at; enter picks one for the plan doctor."""

    class ShapePicked(Message):
        def __init__(self, shape: ShapeRate) -> None:
            super().__init__()
            self.shape = shape

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.zebra_stripes = True
        # What matters first on the left, so that 80 columns show it: the rates and the
        # query; the totals and the queryid are after the text, a scroll away.
        for label, key in (
            ("#", "n"),
            ("calls/s", "cps"),
            ("mean ms", "mean"),
            ("rows/call", "rows"),
            ("query shape", "query"),
            ("calls", "total"),
            ("queryid", "qid"),
        ):
            self.add_column(label, key=key)
        self._shapes: dict[str, ShapeRate] = {}

    def show(self, point: LivePoint | None, order: list[int]) -> None:
        current = self.cursor_row
        keep = self._key_at(current)
        self._shapes = {}
        rows: list[tuple[str, tuple[Text, ...]]] = []
        numbers = {q: i + 1 for i, q in enumerate(order[: len(SERIES)])}
        for s in point.shapes if point is not None else ():
            key = str(s.queryid)
            self._shapes[key] = s
            n = numbers.get(s.queryid)
            mark = Text(f"#{n}", style=f"bold {self._series_colour(n)}") if n else Text("")
            rows.append(
                (
                    key,
                    (
                        mark,
                        Text(_fmt(s.calls_per_s, 1), justify="right"),
                        Text(_fmt(s.mean_ms, 3), justify="right"),
                        Text(_fmt(s.rows_per_call, 1), justify="right"),
                        self._query_cell(s),
                        Text(f"{s.total_calls:,}", justify="right"),
                        Text(str(s.queryid), style="dim"),
                    ),
                )
            )
        self.fill(rows)
        if keep is not None and keep in self._shapes:
            self.move_cursor(row=self.get_row_index(keep))

    def _query_cell(self, s: ShapeRate) -> Text:
        """The text, after the shape's flag in short (``LIMIT > ef_search``), if any."""
        if not s.flag:
            return Text(one_line(s.query, QUERY_WIDTH))
        note = "⚠ " + s.flag.split(":")[0]
        warning = str(self.app.theme_variables.get("warning", "yellow"))
        return Text.assemble(
            (note, f"bold {warning}"), " ", one_line(s.query, QUERY_WIDTH - len(note) - 1)
        )

    def _series_colour(self, n: int | None) -> str:
        if n is None:
            return ""
        return str(self.app.theme_variables.get(SERIES[n - 1], ""))

    def _key_at(self, row: int) -> str | None:
        try:
            return str(self.coordinate_to_cell_key(Coordinate(row, 0)).row_key.value)
        except Exception:  # noqa: BLE001 - an empty table has no cell there
            return None

    def current(self) -> ShapeRate | None:
        key = self._key_at(self.cursor_row)
        return self._shapes.get(key) if key is not None else None

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        shape = self._shapes.get(str(event.row_key.value))
        if shape is not None:
            self.post_message(self.ShapePicked(shape))


class IndexesTable(SizedTable):
    """Every pgvector index: scans and its table's sequential scans; flags first."""

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.zebra_stripes = True
        # The flag's short note next to the name (80 columns show both); the detail pane
        # (`d`) has the flag in full.
        for label, key in (
            ("", "mark"),
            ("index", "index"),
            ("note", "note"),
            ("scans/s", "scans/s"),
            ("table seq/s", "seq/s"),
            ("scans", "scans"),
            ("method", "method"),
        ):
            self.add_column(label, key=key)

    def show(self, point: LivePoint | None) -> None:
        error = str(self.app.theme_variables.get("error", "red"))
        self.fill(
            [
                (
                    ix.key,
                    (
                        Text("✗", style=f"bold {error}") if ix.flag else Text(""),
                        Text(ix.key),
                        Text(short_flag(ix.flag), style=error if ix.flag else ""),
                        Text(_fmt(ix.scans_per_s, 1), justify="right"),
                        Text(_fmt(ix.seq_scans_per_s, 1), justify="right"),
                        Text(f"{ix.total_scans:,}", justify="right"),
                        Text(ix.method),
                    ),
                )
                for ix in (point.indexes if point is not None else ())
            ]
        )


def short_flag(flag: str | None) -> str:
    """The table's note: the flag in a word or two (the detail pane has it in full)."""
    if not flag:
        return ""
    idle = re.search(r"last (\d+) s", flag)
    if flag.startswith("stopped") and idle:
        return f"stopped, idle {idle.group(1)} s"
    return flag.split(":")[0]


class ActivityPanel(Static):
    """Vector queries running now, the longest, what they wait on; settings and resets."""

    def show(self, point: LivePoint | None, changes: Sequence[LivePoint]) -> None:
        if point is None:
            self.update(Content.styled("waiting for the first poll…", "$text-muted"))
            return
        a = point.activity
        parts: list[Content] = [
            Content.styled("Running now  ", "bold"),
            Content.styled(f"{a.running}", "bold"),
            Content(" vector query" if a.running == 1 else " vector queries"),
        ]
        if a.hidden:
            parts.append(Content.styled(f" (+{a.hidden} of other roles, hidden)", "$warning"))
        if a.longest_s is not None:
            slow = a.longest_s >= 1.0
            parts += [
                Content("\nlongest  "),
                Content.styled(f"{a.longest_s:,.2f} s", "$error bold" if slow else "bold"),
                Content(f"  pid {a.longest_pid}\n"),
                Content.styled(one_line(a.longest_query, 120), "$text-muted"),
            ]
        if a.waits:
            waits = ", ".join(f"{w} ×{n}" for w, n in a.waits)
            parts += [Content("\nwaiting on  "), Content(waits)]
        flagged = [ix for ix in point.indexes if ix.flag]
        if flagged:
            parts.append(Content.styled("\n\nFlagged indexes", "$error bold"))
            for ix in flagged:
                parts += [Content.styled(f"\n{ix.key}", "bold"), Content(f": {ix.flag}")]
        parts.append(Content.styled("\n\nSettings changes", "bold"))
        events = [(p, c) for p in changes for c in p.changes]
        if not events:
            parts.append(Content.styled("\nnone seen", "$text-muted"))
        for p, c in events[-6:]:
            parts += [
                Content.styled(f"\n{p.at:%H:%M:%S} ", "$text-muted"),
                Content.styled(f"{c.name}", "$warning bold"),
                Content(f" {c.old or 'unset'} → {c.new or 'unset'} "),
                Content.styled(f"({c.scope})", "$text-muted"),
            ]
        resets = [(p, r) for p in changes for r in p.resets]
        if resets:
            parts.append(Content.styled("\n\nCounter resets", "bold"))
            for p, r in resets[-3:]:
                parts += [Content.styled(f"\n{p.at:%H:%M:%S} ", "$text-muted"), Content(r)]
        self.update(Content.assemble(*parts))


def shape_order(points: Sequence[LivePoint]) -> list[int]:
    """The shapes numbered ``#1``… on the charts and in the table (most time first)."""
    return top_shapes(points, len(SERIES))
