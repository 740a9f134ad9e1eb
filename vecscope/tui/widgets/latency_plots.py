"""The latency lab's charts, and the line of figures under them.

One PlotextPlot per chart, each drawing only the data handed to it (the ring buffer of
samples lives in ``core.live_lab``). Each keeps the last data it was given and redraws
it when the theme changes, so series colours always come from the theme's variables.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

from textual.color import Color
from textual.content import Content
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
        plt.title(f"Latency per window, ms ({target})")
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
        plt.title("QPS (left) · recall@k (right, 0..1)")
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


class SweepPlot(LabPlot):
    """Recall against p50 latency, one point per measured setting."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.measurements: Sequence[RecallPoint] = ()
        self.labels: Sequence[str] = ()
        self.pareto: frozenset[int] = frozenset()
        self.recommended: int | None = None
        self.target_recall = 0.95

    def show(
        self,
        measurements: Sequence[RecallPoint],
        labels: Sequence[str],
        *,
        pareto: frozenset[int] = frozenset(),
        recommended: int | None = None,
        target_recall: float = 0.95,
    ) -> None:
        self.measurements = measurements
        self.labels = labels
        self.pareto = pareto
        self.recommended = recommended
        self.target_recall = target_recall
        self._redraw()

    def draw(self) -> None:
        plt = self.plt
        plt.title("Recall against p50 latency")
        plt.xlabel("p50 ms (log scale)")
        points = [
            (i, m.p50_ms, m.recall)
            for i, m in enumerate(self.measurements)
            if math.isfinite(m.p50_ms) and m.p50_ms > 0 and math.isfinite(m.recall)
        ]
        if not points:
            return
        # Latencies span decades (probes 1 against 100), so x is log10(p50). The log is taken
        # here: plotext's own log scale re-applies itself to text on every render.
        plt.hline(self.target_recall, self.colour("warning"))
        for i, x, y in points:
            role = (
                "success"
                if i == self.recommended
                else "primary"
                if i in self.pareto
                else "foreground-darken-3"
            )
            # The label is the marker: a dot then the setting, starting at the point.
            plt.text(
                f"●{self.labels[i]}",
                x=math.log10(x),
                y=y,
                color=self.colour(role),
                background=self.colour("surface"),
            )
        low = min(min(y for _, _, y in points), self.target_recall)
        plt.ylim(max(0.0, low - 0.05), 1.02)
        # The right margin leaves room for the last label.
        left = min(x for _, x, _ in points) / 1.2
        right = max(x for _, x, _ in points) * 3
        ticks = log_ticks(left, right)
        plt.xticks([math.log10(v) for v in ticks], [f"{v:g}" for v in ticks])
        plt.xlim(math.log10(left), math.log10(right))


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
                Content.styled(
                    f"k {s.k} · concurrency {s.concurrency} · {settings}", "$text-muted"
                ),
                sep,
                served,
            )
        )
