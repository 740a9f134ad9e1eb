"""The latency lab's charts, and the line of figures under them.

One PlotextPlot per chart, each drawing only the data handed to it (the ring buffer of
samples lives in ``core.live_lab``). Each keeps the last data it was given and redraws
it when the theme changes, so series colours always come from the theme's variables.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from textual.color import Color
from textual.content import Content
from textual.widget import Widget
from textual.widgets import Static
from textual_plotext import PlotextPlot

from vecscope.core.lab.runner import LatencySample

RGB = tuple[int, int, int]
#: Quadrant blocks: twice the cells' resolution, and in every terminal font.
MARKER = "hd"


class LabPlot(PlotextPlot):
    """A plot with its own ``plt``, theme="auto", redrawn on theme changes."""

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._redraw())
        self._redraw()

    def colour(self, name: str) -> RGB:
        """A colour of the running theme, as plotext wants it."""
        return Color.parse(self.app.theme_variables.get(name, "white")).rgb

    def _redraw(self) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        self.draw()
        self.refresh()

    def draw(self) -> None:
        raise NotImplementedError


def _changes(samples: Sequence[LatencySample]) -> list[float]:
    """Times at which k, concurrency or the settings changed (knob moves)."""
    return [
        b.t
        for a, b in zip(samples, samples[1:], strict=False)
        if (a.k, a.concurrency, a.settings) != (b.k, b.concurrency, b.settings)
    ]


class LatencyPlot(LabPlot):
    """p50/p95/p99 per window, and the latency target as a horizontal line."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.samples: Sequence[LatencySample] = ()
        self.threshold_ms = 20.0

    def show(self, samples: Sequence[LatencySample], threshold_ms: float) -> None:
        self.samples = samples
        self.threshold_ms = threshold_ms
        self._redraw()

    def draw(self) -> None:
        plt = self.plt
        plt.xlabel("seconds")
        worst = max((s.p99_ms for s in self.samples if math.isfinite(s.p99_ms)), default=0.0)
        # A target far above every window would flatten the lines: name it instead.
        far = worst > 0 and self.threshold_ms > 3 * worst
        target = f"target {self.threshold_ms:g} ms" + (", far above" if far else ": the rule")
        # On the border, where a narrow chart keeps it (plotext drops a title too wide).
        self.border_title = f"Latency per window, ms ({target})"
        if not self.samples:
            return
        t = [s.t for s in self.samples]
        for t_change in _changes(self.samples):
            plt.vline(t_change, self.colour("panel-lighten-2"))
        if not far:
            plt.hline(self.threshold_ms, self.colour("foreground"))
        for name, values, colour in (
            ("p99", [s.p99_ms for s in self.samples], "error"),
            ("p95", [s.p95_ms for s in self.samples], "accent"),
            ("p50", [s.p50_ms for s in self.samples], "primary"),
        ):
            plt.plot(t, values, marker=MARKER, color=self.colour(colour), label=name)
        plt.ylim(0, (worst if far else max(worst, self.threshold_ms)) * 1.1 or 1.0)


class ThroughputPlot(LabPlot):
    """QPS (left axis) and recall@k on 0..1 (right axis) per window."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.samples: Sequence[LatencySample] = ()
        self.target_recall = 0.95

    def show(self, samples: Sequence[LatencySample], target_recall: float) -> None:
        self.samples = samples
        self.target_recall = target_recall
        self._redraw()

    def draw(self) -> None:
        plt = self.plt
        self.border_title = "QPS (left) · recall@k (right, 0..1)"
        plt.xlabel("seconds")
        if not self.samples:
            return
        t = [s.t for s in self.samples]
        for t_change in _changes(self.samples):
            plt.vline(t_change, self.colour("panel-lighten-2"))
        # plotext 5.3 draws hline(yside="right") against the left axis: plot it instead.
        plt.plot(
            [t[0], t[-1]],
            [self.target_recall] * 2,
            marker=MARKER,
            color=self.colour("warning"),
            yside="right",
        )
        qps = [s.qps for s in self.samples]
        plt.plot(t, qps, marker=MARKER, color=self.colour("primary"), label="QPS")
        recall = [s.recall for s in self.samples]
        plt.plot(
            t,
            recall,
            marker=MARKER,
            color=self.colour("success"),
            label="recall",
            yside="right",
        )
        plt.ylim(0, max(qps) * 1.1 or 1.0)
        # textual-plotext's stub types yside as a float; plotext takes "left"/"right".
        plt.ylim(0, 1.0, yside="right")  # type: ignore[arg-type]


class RecallPoint(Protocol):
    """What the scatter needs of a measured setting: the lab's and FAISS tuning's both."""

    @property
    def p50_ms(self) -> float: ...

    @property
    def recall(self) -> float: ...


#: Characters of the y axis' labels ("0.950") and of the axis itself.
GUTTER = 6


@dataclass(frozen=True, slots=True)
class Placed:
    """Where a point's dot went, and its label (None: no room for it anywhere near)."""

    row: int
    col: int
    label_start: int | None
    label: str

    @property
    def cells(self) -> list[tuple[int, str]]:
        """``(column, character)`` of the dot and its label."""
        out = [(self.col, "●")]
        if self.label_start is not None:
            out += [(self.label_start + n, ch) for n, ch in enumerate(self.label)]
        return out


@dataclass(frozen=True, slots=True)
class ScatterLayout:
    """The cells of a recall/latency scatter: rows top down, columns after the gutter."""

    rows: int
    cols: int
    #: The row of the recall target line.
    target_row: int
    #: The column of the latency target line, if it falls on the plot.
    latency_col: int | None
    #: Recall shown at the top row, the target row and the bottom row.
    top: float
    bottom: float
    #: The log10 range of the columns.
    x_range: tuple[float, float]
    placed: dict[int, Placed]


def _side_rows(
    values: Sequence[float], target: float, rows: int
) -> tuple[int, float, Callable[[float], int]]:
    """The target row, the bottom value, and each recall's row on its side of the target.

    Above the line is ``[target, 1]``, below it ``[bottom, target)``, each side linear on
    rows of its own: a recall under the target is always drawn under the line, however
    few rows there are (plotext rounds text onto its canvas, which put 0.948 on 0.95).
    """
    below = [v for v in values if v < target]
    bottom = min(below) if below else max(0.0, target - 0.05)
    span = max(1.0 - bottom, 1e-9)
    # Rows by the range each side covers, but at least a row per point (up to half the
    # plot) on either side, so points above a narrow band are not piled on one row.
    half = (rows - 1) // 2
    least_above = max(1, min(len(values) - len(below), half))
    least_below = max(1, min(len(below), half))
    above_rows = round((1.0 - target) / span * (rows - 1))
    above_rows = max(least_above, min(rows - 1 - least_below, above_rows))
    below_rows = rows - 1 - above_rows

    def row(v: float) -> int:
        if v >= target:
            frac = (1.0 - min(v, 1.0)) / (1.0 - target) if target < 1.0 else 0.0
            return min(above_rows - 1, round(frac * (above_rows - 1)))
        frac = (target - v) / (target - bottom) if target > bottom else 1.0
        return above_rows + 1 + min(below_rows - 1, round(frac * (below_rows - 1)))

    return above_rows, bottom, row


def layout_scatter(
    points: Sequence[tuple[float, float]],
    labels: Sequence[str],
    *,
    target_recall: float,
    target_latency_ms: float | None,
    width: int,
    height: int,
    order: Sequence[int] | None = None,
) -> ScatterLayout | None:
    """Place every ``(p50 ms, recall)`` point and its label on a ``width`` x ``height``
    plot area (the gutter excluded), or None when it is too small or has no point.

    Args:
        order: The points placed first keep their own cell (the recommendation first);
            later ones move a row away, on their side of the target, if it is taken.
    """
    rows, cols = height, width
    finite = [
        (i, x, y)
        for i, (x, y) in enumerate(points)
        if math.isfinite(x) and x > 0 and math.isfinite(y)
    ]
    if rows < 3 or cols < 8 or not finite:
        return None
    target_row, bottom, row_of = _side_rows([y for _, _, y in finite], target_recall, rows)
    xs = [math.log10(x) for _, x, _ in finite]
    lo, hi = min(xs), max(xs)
    if target_latency_ms is not None and target_latency_ms > 0:
        t = math.log10(target_latency_ms)
        if lo - 1 <= t <= hi + 1:  # within a decade: worth the room it takes
            lo, hi = min(lo, t), max(hi, t)
    if hi - lo < 1.0:
        # At least a decade, so that the axis has 1-2-5 ticks to read positions by.
        middle = (lo + hi) / 2
        lo, hi = middle - 0.5, middle + 0.5
    else:
        pad = (hi - lo) * 0.04
        lo, hi = lo - pad, hi + pad

    def col_of(x: float) -> int:
        return max(0, min(cols - 1, round((math.log10(x) - lo) / (hi - lo) * (cols - 1))))

    latency_col = (
        col_of(target_latency_ms)
        if target_latency_ms is not None
        and target_latency_ms > 0
        and lo <= math.log10(target_latency_ms) <= hi
        else None
    )
    taken = [[False] * cols for _ in range(rows)]
    by_index = {i: (x, y) for i, x, y in finite}
    sequence = [i for i in (order or ()) if i in by_index]
    sequence += [i for i, _, _ in sorted(finite, key=lambda p: p[1]) if i not in sequence]
    # Dots first, each on its own cell (a row away, on its side of the target, when two
    # fall on one cell); then each label right of its dot, or left of it, where free.
    dots: dict[int, tuple[int, int]] = {}
    for i in sequence:
        x, y = by_index[i]
        home, col = row_of(y), col_of(x)
        side = range(0, target_row) if y >= target_recall else range(target_row + 1, rows)
        row = next(
            (r for r in sorted(side, key=lambda r: (abs(r - home), r)) if not taken[r][col]),
            home,
        )
        taken[row][col] = True
        dots[i] = (row, col)
    placed: dict[int, Placed] = {}
    for i in sequence:
        row, col = dots[i]
        text = labels[i]
        start = next(
            (
                s
                for s in (col + 1, col - len(text))
                if s >= 0 and s + len(text) <= cols and not any(taken[row][s : s + len(text)])
            ),
            None,
        )
        if start is not None:
            for c in range(start, start + len(text)):
                taken[row][c] = True
        placed[i] = Placed(row, col, start, text)
    return ScatterLayout(rows, cols, target_row, latency_col, 1.0, bottom, (lo, hi), placed)


class SweepPlot(Widget):
    """Recall against p50 latency, one labelled point per measured setting.

    Laid out cell by cell (:func:`layout_scatter`) rather than with plotext: plotext
    rounds each text's position on its own canvas, which drew points under the recall
    target on its line, and let one label hide another. Here a point under the target
    is always under the line, every point is drawn, and the latency target is a
    vertical line: the recommendation lies above one line and left of the other.
    """

    DEFAULT_CSS = """
    SweepPlot { height: 1fr; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.measurements: Sequence[RecallPoint] = ()
        self.labels: Sequence[str] = ()
        self.pareto: frozenset[int] = frozenset()
        self.recommended: int | None = None
        self.target_recall = 0.95
        self.target_latency_ms: float | None = None
        #: What the last render drew (for tests and for a reader of the code).
        self.drawn: ScatterLayout | None = None

    def show(
        self,
        measurements: Sequence[RecallPoint],
        labels: Sequence[str],
        *,
        pareto: frozenset[int] = frozenset(),
        recommended: int | None = None,
        target_recall: float = 0.95,
        target_latency_ms: float | None = None,
    ) -> None:
        self.measurements = measurements
        self.labels = labels
        self.pareto = pareto
        self.recommended = recommended
        self.target_recall = target_recall
        self.target_latency_ms = target_latency_ms
        self.refresh()

    def _role(self, i: int) -> str:
        if i == self.recommended:
            return "$success bold"
        return "$primary bold" if i in self.pareto else "$text-muted"

    def render(self) -> Content:
        width, height = self.size
        title = "Recall against p50 ms (log)"
        if self.target_latency_ms is not None:
            title += f" · target {self.target_latency_ms:g} ms"
        lines: list[Content] = [Content.styled(title[:width], "bold")]
        first = self.recommended
        layout = layout_scatter(
            [(m.p50_ms, m.recall) for m in self.measurements],
            self.labels,
            target_recall=self.target_recall,
            target_latency_ms=self.target_latency_ms,
            width=width - GUTTER,
            height=height - 3,
            order=[first] if first is not None else (),
        )
        self.drawn = layout
        if layout is None:
            if self.measurements:
                lines.append(Content.styled("(too small to plot)", "$text-muted"))
            return Content("\n").join(lines)
        cells: list[list[tuple[str, str]]] = [[(" ", "")] * layout.cols for _ in range(layout.rows)]
        for c in range(layout.cols):
            cells[layout.target_row][c] = ("─", "$warning")
        if layout.latency_col is not None:
            for r in range(layout.rows):
                cross = r == layout.target_row
                cells[r][layout.latency_col] = ("┼" if cross else "│", "$error")
        for i, spot in layout.placed.items():
            for c, ch in spot.cells:
                cells[spot.row][c] = (ch, self._role(i))
        marks = {
            0: layout.top,
            layout.target_row: self.target_recall,
            layout.rows - 1: layout.bottom,
        }
        for r in range(layout.rows):
            label = f"{marks[r]:.3f}" if r in marks else ""
            axis = "┼" if r == layout.target_row else ("┤" if r in marks else "│")
            row = [Content.styled(f"{label:>{GUTTER - 1}}{axis}", "$text-muted")]
            row += [Content.styled(ch, style) if style else Content(ch) for ch, style in cells[r]]
            lines.append(Content.assemble(*row))
        lines += self._x_axis(layout)
        return Content("\n").join(lines)

    def _x_axis(self, layout: ScatterLayout) -> list[Content]:
        lo, hi = layout.x_range
        ticks = log_ticks(10**lo, 10**hi)
        axis = ["─"] * layout.cols
        text = [" "] * (layout.cols + GUTTER)
        for v in ticks:
            c = round((math.log10(v) - lo) / (hi - lo) * (layout.cols - 1))
            axis[c] = "┬"
            name = f"{v:g}"
            start = GUTTER + c - len(name) // 2
            if (
                start >= 0
                and start + len(name) <= len(text)
                and all(ch == " " for ch in text[max(0, start - 1) : start + len(name) + 1])
            ):
                text[start : start + len(name)] = list(name)
        return [
            Content.styled(" " * (GUTTER - 1) + "└" + "".join(axis), "$text-muted"),
            Content.styled("".join(text).rstrip(), "$text-muted"),
        ]


def log_ticks(low: float, high: float) -> list[float]:
    """1-2-5 steps between ``low`` and ``high`` (both > 0), for a log10 axis."""
    ticks = []
    for decade in range(math.floor(math.log10(low)), math.ceil(math.log10(high)) + 1):
        ticks += [m * 10.0**decade for m in (1, 2, 5) if low <= m * 10.0**decade <= high]
    return ticks


class FiguresLine(Static):
    """The last window in numbers, and which index served it (EXPLAIN on the lab session)."""

    def show(self, s: LatencySample, threshold_ms: float, target_recall: float) -> None:
        def ms(label: str, value: float) -> tuple[Content, ...]:
            over = value > threshold_ms
            return (
                Content.styled(f"{label} ", "$text-muted"),
                Content.styled(f"{value:,.2f}", "$error bold" if over else "bold"),
                Content("  "),
            )

        sep = Content.styled(" │ ", "$text-muted")
        settings = " ".join(f"{name}={value}" for name, value in s.settings)
        served = (
            Content.styled("Seq Scan!", "$error bold")
            if s.index is None
            else Content.assemble(Content.styled("served by ", "$text-muted"), s.index)
        )
        self.update(
            Content.assemble(
                Content.styled("last window  ", "$text-muted"),
                *ms("p50", s.p50_ms),
                *ms("p95", s.p95_ms),
                *ms("p99", s.p99_ms),
                Content.styled("ms", "$text-muted"),
                sep,
                Content.styled(f"{s.qps:,.0f}", "bold"),
                Content.styled(" QPS", "$text-muted"),
                sep,
                Content.styled(f"recall@{s.k} ", "$text-muted"),
                Content.styled(
                    f"{s.recall:.3f}",
                    "$success bold" if s.recall >= target_recall else "$warning bold",
                ),
                sep,
                served,
                sep,
                Content.styled(
                    f"k {s.k} · concurrency {s.concurrency} · {settings}", "$text-muted"
                ),
            )
        )
