"""The FAISS mode's tuning: recall against latency for every setting, and what to deploy.

The form takes the queries (a .npy, or by default a sample of the index's own vectors),
the recall target, and the original vectors for a lossy index. The screen runs
:func:`core.faissidx.tune.tune` and hands the result here: the latency lab's scatter
(:class:`~tui.widgets.latency_plots.SweepPlot`: log p50, the Pareto front, the
recommendation, the target as a line), a table of the points, and the deployment
snippet in a read-only text area the screen copies with ``y``.
"""

from __future__ import annotations

from pathlib import Path

from rich.style import Style
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Container, Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widgets import Button, DataTable, Input, Label, Static, TextArea

from vecscope.core.faissidx.progress import Step
from vecscope.core.faissidx.tune import Point, Tuning
from vecscope.core.faissidx.workload import SAMPLE_QUERIES, TARGET_RECALL, deployment_text
from vecscope.core.fmt import human_bytes
from vecscope.tui.faiss_jobs import path_of, point_label
from vecscope.tui.widgets.faiss_progress import FaissJobLine
from vecscope.tui.widgets.latency_plots import SweepPlot


def verdict(tuning: Tuning, name: str, *, stopped: bool = False) -> Content:
    """One line: the recommendation, or that no setting met the target."""
    cut = (" (stopped early: the settings measured so far)", "$warning") if stopped else ""
    best = tuning.best
    if best is None:
        return Content.assemble(
            ("✗ ", "$warning bold"),
            (f"{name}: no setting reaches recall@{tuning.k} ≥ {tuning.target_recall}", "$warning"),
            cut,
        )
    return Content.assemble(
        ("✓ ", "$success bold"),
        f"{name}: recommended ",
        (best.setting, "$success bold"),
        f"  ·  recall@{tuning.k} {best.recall:.3f} ≥ {tuning.target_recall}  ·  "
        f"p50 {best.p50_ms:,.3f} ms, {best.qps:,.0f} QPS on one thread",
        cut,
    )


def point_detail(tuning: Tuning, point: Point) -> Content:
    """Everything about one measured setting, for the line under the table."""
    good = point.recall >= tuning.target_recall
    return Content.assemble(
        (point.setting, "bold"),
        ("  recall@", "$text-muted"),
        (f"{tuning.k} ", "$text-muted"),
        (f"{point.recall:.3f}", "$success" if good else "$warning"),
        ("  p50 ", "$text-muted"),
        f"{point.p50_ms:,.3f} ms",
        ("  p99 ", "$text-muted"),
        f"{point.p99_ms:,.3f} ms",
        ("  ", ""),
        f"{point.qps:,.0f} QPS",
    )


class TunePoints(DataTable[Text]):
    """One row per measured setting, the columns that decide first: the mark (★ on the
    Pareto front, ✓ recommended), the setting, its recall and p50; p99 and QPS after
    them, and whole for the highlighted row in the line under the table."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)

    def _style(self, name: str, *, bold: bool = False) -> Style:
        return Style(color=self.app.theme_variables.get(name), bold=bold)

    def show(self, tuning: Tuning | None) -> None:
        self.clear(columns=True)
        if tuning is None:
            return
        k = tuning.k
        for label in ("", "setting", f"recall@{k}", "p50 ms", "p99 ms", "QPS"):
            self.add_column(label)
        for i, p in enumerate(tuning.points):
            good = p.recall >= tuning.target_recall
            mark = ("✓" if i == tuning.recommendation else "") + ("★" if i in tuning.pareto else "")
            self.add_row(
                Text(
                    mark,
                    style=self._style(
                        "success" if i == tuning.recommendation else "primary", bold=True
                    ),
                ),
                Text(p.setting, style=Style(bold=i == tuning.recommendation)),
                Text(
                    f"{p.recall:.3f}",
                    justify="right",
                    style=self._style("success" if good else "warning"),
                ),
                Text(f"{p.p50_ms:,.3f}", justify="right"),
                Text(f"{p.p99_ms:,.3f}", justify="right"),
                Text(f"{p.qps:,.0f}", justify="right"),
            )
        if tuning.recommendation is not None:
            self.move_cursor(row=tuning.recommendation, animate=False)


class TunePanel(VerticalScroll):
    """Queries, target, originals; progress; the plot, the points and the deployment.

    A scroll: on a small terminal the plot, the points and the deployment stack up.
    """

    class TuneRequested(Message):
        """Tune the selected file: queries and vectors from these files, or its own."""

        def __init__(self, queries: Path | None, target: float, vectors: Path | None) -> None:
            super().__init__()
            self.queries = queries
            self.target = target
            self.vectors = vectors

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        #: The selected file (the form's relative paths are relative to its folder).
        self.source: Path | None = None
        #: The deployment snippet on show (what ``y`` copies), if any.
        self.deployment: str | None = None
        #: The tuning on show, if any.
        self.tuning: Tuning | None = None

    def compose(self) -> ComposeResult:
        with Container(classes="faiss-form", id="tune-form"):
            yield Label("queries", classes="form-label")
            yield Input(
                id="tune-queries",
                placeholder=f"empty: {SAMPLE_QUERIES} of its vectors",
                compact=True,
            )
            yield Label("target recall", classes="form-label")
            yield Input(str(TARGET_RECALL), id="tune-target", type="number", compact=True)
            yield Label("vectors", classes="form-label")
            yield Input(id="tune-vectors", placeholder="originals (lossy only)", compact=True)
            yield Button("Tune", id="tune-go", variant="primary", compact=True)
        yield FaissJobLine(id="tune-progress")
        with Horizontal(id="tune-results"):
            yield SweepPlot(id="tune-plot")
            with Vertical(id="tune-side"):
                yield TunePoints(id="tune-table")
                yield Static(id="tune-point")
                yield TextArea(id="tune-deploy", read_only=True, soft_wrap=False, show_cursor=False)

    def on_mount(self) -> None:
        self.query_one("#tune-deploy", TextArea).border_title = "Deploy it  (y copies)"
        self.clear()

    @on(Input.Submitted)
    @on(Button.Pressed, "#tune-go")
    def request(self) -> None:
        """Ask the screen to tune with the form's values."""
        if self.source is None:
            self.app.notify("Pick a readable FAISS file first", severity="warning", timeout=3)
            return
        try:
            target = float(self.query_one("#tune-target", Input).value)
        except ValueError:
            target = -1.0
        if not 0.0 < target <= 1.0:
            self.app.notify("The target recall is a number in (0, 1]", severity="warning")
            return
        folder = self.source.parent
        self.post_message(
            self.TuneRequested(
                path_of(self.query_one("#tune-queries", Input).value, folder),
                target,
                path_of(self.query_one("#tune-vectors", Input).value, folder),
            )
        )

    def not_tuned(self, path: Path) -> None:
        """``path`` is selected and has no tuning yet."""
        self.source = path
        self.clear(
            Content.assemble(
                (f"{path.name} is not tuned yet: ", "$text-muted"),
                ("t", "$accent bold"),
                (" measures every setting of its query-time knobs", "$text-muted"),
            )
        )

    def started(self, name: str) -> None:
        """A tuning starts: what is on show is of an earlier one, and goes."""
        self.show_tuning(None)
        self.query_one(FaissJobLine).start(name, "starting")

    def progress(self, step: Step) -> None:
        self.query_one(FaissJobLine).show_step(step)

    def say(self, line: Content) -> None:
        self.query_one(FaissJobLine).say(line)

    @on(DataTable.RowHighlighted, "#tune-table")
    def _point_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_point(event.cursor_row)

    def _show_point(self, row: int) -> None:
        line = self.query_one("#tune-point", Static)
        tuning = self.tuning
        if tuning is None or not 0 <= row < len(tuning.points):
            line.update("")
            return
        line.update(point_detail(tuning, tuning.points[row]))

    def clear(self, hint: Content | None = None) -> None:
        """No tuning on show (the selected file has none yet)."""
        self.show_tuning(None)
        self.say(hint or Content.styled("Pick a FAISS file to tune", "$text-muted"))

    def show_tuning(
        self, tuning: Tuning | None, line: Content | None = None, described: str = ""
    ) -> None:
        """Plot, table and deployment of ``tuning``; ``described``: its queries and vectors."""
        self.tuning = tuning
        self.query_one(TunePoints).border_title = described
        plot = self.query_one(SweepPlot)
        if tuning is None:
            plot.show((), ())
        else:
            plot.show(
                tuning.points,
                [point_label(p) for p in tuning.points],
                pareto=frozenset(tuning.pareto),
                recommended=tuning.recommendation,
                target_recall=tuning.target_recall,
            )
        self.query_one(TunePoints).show(tuning)
        self._show_point(
            tuning.recommendation if tuning and tuning.recommendation is not None else 0
        )
        self.deployment = deployment_text(tuning) if tuning is not None else None
        area = self.query_one("#tune-deploy", TextArea)
        if tuning is None:
            area.load_text("")
        elif self.deployment is None:
            area.load_text(
                f"# No setting reached recall@{tuning.k} {tuning.target_recall}: "
                "nothing to deploy.\n# Lower the target, or convert to a bigger graph."
            )
        else:
            area.load_text(
                f"# {tuning.label or tuning.factory}, {human_bytes(tuning.memory_bytes)}\n"
                + self.deployment
            )
        if line is not None:
            self.say(line)
