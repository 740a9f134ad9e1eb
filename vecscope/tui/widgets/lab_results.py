"""The latency lab's results: a sweep (one row per setting) or an A/B side by side."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.content import Content

from vecscope.core.fmt import human_count, params_text
from vecscope.core.lab.filtered import EXACT
from vecscope.core.lab.measure import Measurement, Sweep
from vecscope.core.lab.runner import LiveLab
from vecscope.core.lab.session import LabSession, unmet_text
from vecscope.tui.widgets.latency_plots import SweepPlot
from vecscope.tui.widgets.sized_table import SizedTable

#: A/B rows: label, value, format, and whether lower is better.
AB_ROWS: tuple[tuple[str, Callable[[Measurement], float], str, bool], ...] = (
    ("p50 ms", lambda m: m.p50_ms, ",.2f", True),
    ("p95 ms", lambda m: m.p95_ms, ",.2f", True),
    ("p99 ms", lambda m: m.p99_ms, ",.2f", True),
    ("QPS", lambda m: m.qps, ",.0f", False),
)
#: ★ the Pareto front, ✓ the recommendation: both left of the figures, where 80 columns
#: show them.
SWEEP_COLUMNS = ("", "", "setting", "p50 ms", "p95 ms", "p99 ms", "QPS", "recall", "index")
#: Index names in the A/B table (each side's column is as wide as its longest cell).
INDEX_WIDTH = 20


def setting_label(settings: Mapping[str, str], knob: str) -> str:
    """``probes=5``, plus any other setting that is not at its "off" default (the exact
    plan of a filtered sweep, ``enable_indexscan=off``, has no knob)."""
    if dict(settings) == EXACT:
        return "exact plan"
    parts = [f"{knob.split('.')[-1]}={settings[knob]}"] if knob in settings else []
    parts += [
        f"{name.split('.')[-1]}={value}"
        for name, value in settings.items()
        if name != knob and value != "off"
    ]
    return " ".join(parts)


def _num(value: float, fmt: str = ",.2f", style: Style | None = None) -> Text:
    return Text(format(value, fmt), justify="right", style=style or Style())


class LabResults(SizedTable):
    """Shows either a sweep or an A/B comparison; colours come from the running theme.

    Filled through :meth:`SizedTable.fill`, so its columns are as wide as their cells
    from the first frame (a table filled while hidden kept its label-wide columns).
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="none", zebra_stripes=True)

    def _style(self, name: str, *, bold: bool = False) -> Style:
        return Style(color=self.app.theme_variables.get(name), bold=bold)

    def _index(self, index: str | None, width: int | None = None) -> Text:
        if index is None:
            return Text("Seq Scan!", style=self._style("error", bold=True))
        if width is not None and len(index) > width:
            index = index[: width - 1] + "…"
        return Text(index)

    def show_sweep(
        self,
        measurements: Sequence[Measurement],
        knob: str,
        *,
        pareto: frozenset[int] = frozenset(),
        recommended: int | None = None,
        target_recall: float = 0.95,
        target_latency_ms: float | None = None,
        filtered: bool = False,
    ) -> None:
        """One row per measured setting; ★ marks the Pareto front, ✓ the recommendation,
        a p50 over the latency target is in the error colour. Under a filter: the plan
        that served instead of the index, and the rows returned and the short share."""
        self.clear(columns=True)
        labels = SWEEP_COLUMNS + (("rows", "short") if filtered else ())
        for n, label in enumerate(labels):
            self.add_column(
                label if label != "recall" else f"recall@{_k(measurements)}", key=str(n)
            )
        rows: list[tuple[str, tuple[Text, ...]]] = []
        for i, m in enumerate(measurements):
            meets = m.judged_recall >= target_recall
            recall_style = self._style("success" if meets else "warning")
            slow = target_latency_ms is not None and m.p50_ms > target_latency_ms
            cells: tuple[Text, ...] = (
                Text("★" if i in pareto else "", style=self._style("primary", bold=True)),
                Text("✓" if i == recommended else "", style=self._style("success", bold=True)),
                Text(
                    setting_label(m.settings, knob),
                    style=self._style("success", bold=True) if i == recommended else "",
                ),
                _num(m.p50_ms, style=self._style("error", bold=True) if slow else None),
                _num(m.p95_ms),
                _num(m.p99_ms),
                _num(m.qps, ",.0f"),
                Text(
                    f"{m.recall:.3f} [{m.recall_low:.2f}-{m.recall_high:.2f}]",
                    justify="right",
                    style=recall_style,
                ),
                Text(m.plan) if filtered else self._index(m.index),
            )
            if filtered:
                short = self._style("warning" if m.short_share > 0.01 else "success")
                cells += (_num(m.returned_mean, ".1f"), _num(m.short_share, ".0%", short))
            rows.append((str(i), cells))
        self.fill(rows)

    def show_ab(self, a: Measurement, b: Measurement, knob: str) -> None:
        """A and B side by side, with B's change against A."""
        self.clear(columns=True)
        for label in ("", "A", "B", "B vs A"):
            self.add_column(label, key=label or "metric")
        better, worse = self._style("success"), self._style("warning")

        def change(get: Callable[[Measurement], float], lower_is_better: bool) -> Text:
            before, after = get(a), get(b)
            if not before:
                return Text("")
            pct = (after - before) / before * 100
            good = (pct < 0) == lower_is_better
            return Text(f"{pct:+.0f}%", justify="right", style=better if good else worse)

        muted = self._style("foreground-darken-3")
        rows: list[tuple[str, tuple[Text, ...]]] = [
            (
                "setting",
                (
                    Text("setting", style=muted),
                    Text(setting_label(a.settings, knob)),
                    Text(setting_label(b.settings, knob)),
                    Text(""),
                ),
            )
        ]
        for name, get, fmt, lower in AB_ROWS:
            rows.append(
                (
                    name,
                    (
                        Text(name, style=muted),
                        _num(get(a), fmt),
                        _num(get(b), fmt),
                        change(get, lower),
                    ),
                )
            )
        rows.append(
            (
                "recall",
                (
                    Text(f"recall@{a.k}", style=muted),
                    _num(a.recall, ".3f"),
                    _num(b.recall, ".3f"),
                    Text(
                        f"{b.recall - a.recall:+.3f}",
                        justify="right",
                        style=better if b.recall >= a.recall else worse,
                    ),
                ),
            )
        )
        # Names cut short so that B stays on screen at 80 columns; the status line under
        # the knobs names both in full.
        rows.append(
            (
                "served",
                (
                    Text("served by", style=muted),
                    self._index(a.index, INDEX_WIDTH),
                    self._index(b.index, INDEX_WIDTH),
                    Text(""),
                ),
            )
        )
        self.fill(rows)


def _k(measurements: Sequence[Measurement]) -> str:
    return str(measurements[0].k) if measurements else "k"


class LabBench(Horizontal):
    """A sweep or an A/B: the table beside the recall/latency scatter, and its verdict."""

    def __init__(self, *, target_recall: float, id: str | None = None) -> None:
        super().__init__(id=id)
        self.target_recall = target_recall
        self.target_latency_ms: float | None = None
        self.knob = ""
        self.measured: list[Measurement] = []
        #: The sweep runs under the application's filter.
        self.filtered = False

    def compose(self) -> ComposeResult:
        yield LabResults(id="lab-table")
        yield SweepPlot(id="lab-sweep-plot")

    def show_waiting(self) -> None:
        """Nothing measured yet (an A/B under way): no stale sweep on show."""
        self.measured = []
        self.query_one(LabResults).clear(columns=True)
        self.query_one(SweepPlot).show((), ())

    def start_sweep(
        self, knob: str, target_latency_ms: float | None = None, *, filtered: bool = False
    ) -> None:
        self.knob = knob
        self.filtered = filtered
        self.target_latency_ms = target_latency_ms
        self.measured = []
        self._show_sweep(frozenset(), None)

    def add_measurement(self, m: Measurement) -> None:
        """One more setting of a sweep under way."""
        self.measured.append(m)
        self._show_sweep(frozenset(), None)

    def finish_sweep(self, sweep: Sweep) -> Content:
        """Mark the Pareto front and the recommendation; the verdict in one line."""
        self.measured = list(sweep.measurements)
        self.target_latency_ms = sweep.verdict.target_latency_ms
        self._show_sweep(frozenset(sweep.pareto), sweep.recommendation)
        unmet = unmet_text(sweep, self.knob)
        if unmet is not None or sweep.recommendation is None:
            return Content.styled(f"Sweep done. {unmet}", "$warning bold")
        k = self.measured[0].k
        best = sweep.measurements[sweep.recommendation]
        within = (
            f" and p50 ≤ {self.target_latency_ms:g} ms"
            if self.target_latency_ms is not None
            else ""
        )
        return Content.assemble(
            ("✓ Sweep done: recommended ", "$success"),
            (setting_label(best.settings, self.knob), "$success bold"),
            (
                f", the cheapest with recall@{k} ≥ {sweep.target_recall:g} (its 95% interval)"
                + (", no query short of rows" if self.filtered else "")
                + f"{within} (recall {best.recall:.3f}, p50 {best.p50_ms:,.2f} ms); "
                "★ = Pareto front",
                "$success",
            ),
        )

    def _show_sweep(self, pareto: frozenset[int], recommended: int | None) -> None:
        self.query_one(LabResults).show_sweep(
            self.measured,
            self.knob,
            pareto=pareto,
            recommended=recommended,
            target_recall=self.target_recall,
            target_latency_ms=self.target_latency_ms,
            filtered=self.filtered,
        )
        self.query_one(SweepPlot).show(
            self.measured,
            [m.settings.get(self.knob, "exact") for m in self.measured],
            pareto=pareto,
            recommended=recommended,
            target_recall=self.target_recall,
            target_latency_ms=self.target_latency_ms,
        )

    def show_ab(self, a: Measurement, b: Measurement, knob: str) -> Content:
        """A and B side by side; the verdict says whether the same index served both."""
        self.query_one(LabResults).show_ab(a, b, knob)
        labels = [f"A {a.settings.get(knob)}", f"B {b.settings.get(knob)}"]
        self.query_one(SweepPlot).show([a, b], labels, target_recall=self.target_recall)
        if a.index == b.index:
            return Content.assemble(
                ("✓ A/B done", "$success bold"),
                (f" · both served by {a.index or 'a Seq Scan'}", "$text-muted"),
            )
        return Content.assemble(
            ("✓ A/B done", "$success bold"),
            (
                f" · different plans: A by {a.index or 'Seq Scan'}, B by {b.index or 'Seq Scan'}",
                "$warning bold",
            ),
        )


def prepared_line(lab: LabSession) -> Content:
    """What was prepared: the column, its index, the sample and the exact ground truth."""
    target, queries, gt = lab.target, lab.queries, lab.gt
    ix = target.index
    index = f"{ix.name} ({ix.method} {params_text(ix.params, ix.params_explicit)})" if ix else "?"
    sep = (" │ ", "$text-muted")
    where: tuple[Content | str | tuple[str, str], ...] = ()
    if queries.filter is not None:
        where = (sep, ("where ", "$text-muted"), (queries.filter.text, "$accent"))
    return Content.assemble(
        ("✓ ", "$success bold"),
        (target.label, "bold"),
        *where,
        sep,
        index,
        sep,
        f"{human_count(target.rows)} rows, {len(queries)} queries",
        sep,
        f"exact top-{gt.distances.shape[1]}: {gt.method} {gt.seconds:,.2f} s",
    )


def sweep_started(knob: str, values: int, k: int, concurrency: int, lab: LiveLab) -> Content:
    return Content.styled(
        f"Sweeping {knob} over {values} values at k={k}, "
        f"concurrency {concurrency} ({len(lab.queries)} queries each, after "
        "a warm-up; the live run is stopped)… Escape cancels",
        "$text-muted",
    )


def ab_started(a: str, b: str, k: int, indexes: bool) -> Content:
    """The status of an A/B of two indexes (``indexes``) or two settings."""
    if indexes:
        return Content.styled(
            f"A/B: index {a} then {b} at k={k}… Escape cancels "
            "(EXPLAIN shows which index served each side)",
            "$text-muted",
        )
    return Content.styled(
        f"A/B: measuring {a} then {b} at k={k}… Escape cancels",
        "$text-muted",
    )
