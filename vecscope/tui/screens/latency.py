"""The Latency mode: run a column's nearest-neighbour workload live and tune it.

For the engineer turning ``hnsw.ef_search`` / ``ivfflat.probes``: a live loop measures one
window after another while the knobs move; a sweep measures every value of the knob and
marks the Pareto front; an A/B measures two settings one after the other. Only one of
them touches the server at a time (``_bench``), so no measurement skews another.
"""

from __future__ import annotations

import threading
from typing import Any, ClassVar, Literal

from textual import events, on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.content import Content
from textual.message import Message
from textual.widgets import Footer, Header, Input, Static
from textual.worker import Worker, get_current_worker

from vecscope.core.errors import ConnectError, ExtensionMissingError, VecscopeError
from vecscope.core.lab.defaults import DEFAULT_K, SAMPLE_QUERIES, TARGET_RECALL
from vecscope.core.lab.measure import Measurement, Sweep
from vecscope.core.lab.runner import LatencySample, LiveLab
from vecscope.core.lab.session import LabSession, rejudged
from vecscope.core.models import VectorIndex
from vecscope.core.pgvector import has_feature
from vecscope.tui.context import session_of
from vecscope.tui.screens.base import VecscopeScreen
from vecscope.tui.widgets.knobs import KnobsBar, KnobState
from vecscope.tui.widgets.lab_results import (
    LabBench,
    ab_started,
    prepared_line,
    setting_label,
    sweep_started,
)
from vecscope.tui.widgets.latency_plots import FiguresLine, LatencyPlot, ThroughputPlot

#: Actions that need a prepared column; the footer shows them disabled until then.
LAB_ACTIONS = frozenset({"toggle_run", "knob", "concurrency", "k", "threshold", "sweep", "ab"})
#: What the main area shows: the live plots, the bench's table, or its scatter.
View = Literal["live", "table", "plot"]
VIEWS: tuple[View, ...] = ("live", "table", "plot")
#: From this many columns the bench's table and scatter sit side by side.
WIDE = 120
#: From this many rows the live plots and the bench are shown together.
TALL = 36
KNOB_KEYS = Binding.Group("Knob", compact=True)


class _Stopped(Exception):
    """Raised from a sweep's progress callback to end it after a cancel."""


def failure_message(error: VecscopeError) -> str:
    """The one line to show for a failed lab job; connection trouble goes to the app."""
    if isinstance(error, ConnectError | ExtensionMissingError):
        raise error
    return error.message


class LatencyScreen(VecscopeScreen):
    """Live latency, QPS and recall of one column while its query-time knobs move."""

    CSS_PATH = "../styles/latency.tcss"
    #: Designed for 80x24 (latency.tcss): larger terminals show more views at once.
    HORIZONTAL_BREAKPOINTS = [
        (0, "-narrow"),
        (WIDE, "-wide"),
    ]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (TALL, "-tall")]

    # The footer shows what fits 80 columns; the other knobs' keys are on the knobs bar.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "toggle_run", "Run"),
        Binding("plus,equals_sign", "knob(1)", "Knob up", key_display="+", group=KNOB_KEYS),
        Binding("minus", "knob(-1)", "Knob down", key_display="-", group=KNOB_KEYS),
        Binding(
            "right_square_bracket", "concurrency(1)", "Concurrency up", key_display="]", show=False
        ),
        Binding(
            "left_square_bracket",
            "concurrency(-1)",
            "Concurrency down",
            key_display="[",
            show=False,
        ),
        Binding("K", "k(1)", "k up", show=False),
        Binding("k", "k(-1)", "k down", show=False),
        Binding("t", "threshold", "Latency target (p50)", show=False),
        Binding("i", "iterative", "Iterative scan", show=False),
        Binding("w", "where", "Where", tooltip="The application's filter (WHERE ...)"),
        Binding("s", "sweep", "Sweep"),
        Binding("a", "ab", "A/B"),
        Binding("v", "view", "View"),
        Binding("escape", "cancel", "Cancel sweep/A-B", show=False),
    ]

    class Prepared(Message):
        """The column's queries and ground truth are ready."""

        def __init__(self, prepared: LabSession) -> None:
            super().__init__()
            self.prepared = prepared

    class LabFailed(Message):
        """A lab job failed with an error worth one status line."""

        def __init__(self, message: str) -> None:
            super().__init__()
            self.message = message

    class WindowMeasured(Message):
        """The live loop measured one window; a burst collapses to the newest."""

        def __init__(self, lab: LiveLab, sample: LatencySample) -> None:
            super().__init__()
            self.lab = lab
            self.sample = sample

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, LatencyScreen.WindowMeasured)

    class RunStopped(Message):
        """The live loop of ``worker`` ended (and closed its sessions)."""

        def __init__(self, worker: Worker[Any], error: str | None) -> None:
            super().__init__()
            self.worker = worker
            self.error = error

    class SweepProgressed(Message):
        def __init__(self, measurement: Measurement) -> None:
            super().__init__()
            self.measurement = measurement

    class SweepFinished(Message):
        def __init__(self, sweep: Sweep) -> None:
            super().__init__()
            self.sweep = sweep

    class Compared(Message):
        def __init__(self, a: Measurement, b: Measurement) -> None:
            super().__init__()
            self.a = a
            self.b = b

    def __init__(self) -> None:
        super().__init__()
        self.sweep_result: Sweep | None = None
        self.indexes: tuple[VectorIndex, ...] = ()
        self.ab_result: tuple[Measurement, Measurement] | None = None
        self.lab: LiveLab | None = None
        #: The prepared column the sweeps and A/Bs measure (the live loop is ``lab``).
        self.bench: LabSession | None = None
        self.knobs: KnobState | None = None
        #: The main area's view where not everything fits (see latency.tcss).
        self.view: View = "live"
        #: A sweep or an A/B was started on this column: the bench has something to show.
        self.benched = False
        self._runner: Worker[None] | None = None
        self._pending: tuple[str, str, str] | None = None
        #: The column asked for last: a slower, earlier preparation must not win.
        self._wanted: tuple[str, str, str] | None = None
        # Held by whichever job measures: the live loop, a sweep or an A/B.
        self._bench = threading.Lock()
        #: The application's filter the lab measures under (``w``), or None.
        self.where: str | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield KnobsBar(id="lab-knobs")
        yield Static(id="lab-status")
        with Horizontal(id="lab-plots"):
            yield LatencyPlot(id="lab-latency-plot")
            yield ThroughputPlot(id="lab-throughput-plot")
        yield FiguresLine(id="lab-figures")
        yield LabBench(target_recall=TARGET_RECALL, id="lab-results")
        yield Footer()

    def on_resize(self, event: events.Resize) -> None:
        # After Screen's own handler, which sets the breakpoint classes.
        self.call_after_refresh(self._resized)

    def _resized(self) -> None:
        self._show_panels()

    def on_mount(self) -> None:
        self._show_panels()
        self._show_knobs()
        if self._pending is not None:
            self._open(*self._pending)
            self._pending = None
        else:
            self._status(
                Content.assemble(
                    "Pick a column: press ",
                    ("l", "$accent bold"),
                    " on the Indexes screen (F2) to measure its nearest-neighbour queries here",
                )
            )

    def on_unmount(self) -> None:
        self.workers.cancel_node(self)
        # A running loop closes its own sessions; otherwise nothing holds them.
        if self.lab is not None and self._bench.acquire(blocking=False):
            try:
                self.lab.close()
            finally:
                self._bench.release()

    def on_screen_suspend(self) -> None:
        # Leaving the mode stops the workload: it is real load on the server.
        if self._runner is not None and not self._runner.is_cancelled:
            self._stop_run()
            self.app.notify("Latency lab: live run stopped on leaving the mode", timeout=3)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "iterative":
            return self.knobs is not None and self.knobs.iterative is not None
        if action in LAB_ACTIONS and self.lab is None:
            return None
        if action == "view":
            return True if len(self._views()) > 1 else None
        return True

    # --- preparing -------------------------------------------------------------------

    def open_target(self, schema: str, table: str, column: str) -> None:
        """Prepare ``schema.table.column``: sample queries, compute the exact ground truth."""
        if self.is_mounted:
            self._open(schema, table, column)
        else:
            self._pending = (schema, table, column)

    def _open(self, schema: str, table: str, column: str) -> None:
        self._wanted = (schema, table, column)
        self._stop_run()
        self.workers.cancel_group(self, "lab-bench")
        self.lab, self.bench, self.knobs = None, None, None
        self.sweep_result, self.ab_result = None, None
        self.benched, self.view = False, "live"
        self.refresh_bindings()
        self._show_knobs()
        self.query_one(LatencyPlot).show((), 20)
        self.query_one(ThroughputPlot).show((), TARGET_RECALL)
        self.query_one(FiguresLine).update("")
        self._show_panels()
        self._status(
            Content.styled(
                f"Preparing {schema}.{table}.{column}: sampling {SAMPLE_QUERIES} queries and "
                "computing the exact ground truth…",
                "$text-muted",
            )
        )
        self.prepare(schema, table, column)

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="lab-prepare",
        description="Preparing the latency lab",
    )
    def prepare(self, schema: str, table: str, column: str) -> None:
        session = session_of(self.app)
        where = self.where
        try:
            prepared = session.run(
                lambda conn: LabSession.prepare(
                    conn, session.target, schema, table, column, where=where
                )
            )
        except VecscopeError as e:
            self.post_message(self.LabFailed(failure_message(e)))
            return
        if not get_current_worker().is_cancelled:
            self.post_message(self.Prepared(prepared))

    @on(Prepared)
    def prepared(self, event: Prepared) -> None:
        prepared = event.prepared
        target = prepared.target
        if (target.schema, target.table, target.column) != self._wanted:
            return
        self.bench = prepared
        self.lab = lab = prepared.live(k=DEFAULT_K)
        self.indexes = prepared.indexes
        iterative = has_feature(prepared.pgvector, "iterative_scan")
        self.knobs = KnobState.for_target(lab.target, lab.max_k, iterative=iterative)
        self._apply_knobs()
        self.refresh_bindings()
        self._status(prepared_line(prepared))
        self._show_panels()
        self.query_one(FiguresLine).update(
            Content.styled(
                "space starts the live run · s sweeps the knob · a runs an A/B", "$text-muted"
            )
        )

    @on(LabFailed)
    def lab_failed(self, event: LabFailed) -> None:
        self._failed(event.message)

    # --- the application's filter ------------------------------------------------------

    async def action_where(self) -> None:
        """Ask for the filter; the column is prepared again under it (its exact answers
        are the filtered ones)."""
        if self._wanted is None:
            return
        box = next(self.query("#lab-where").results(Input), None)
        if box is None:
            # Mounted on first use, as the Indexes screen's filter (a Textual race).
            box = Input(
                value=self.where or "",
                placeholder="WHERE, e.g. tenant_id = {tenant_id} · enter applies, empty clears",
                id="lab-where",
            )
            await self.mount(box, before=self.query_one(Footer))
        box.focus()

    @on(Input.Submitted, "#lab-where")
    async def where_submitted(self, event: Input.Submitted) -> None:
        self.where = event.value.strip() or None
        await event.input.remove()
        if self._wanted is not None:
            self._open(*self._wanted)

    def check_where_escape(self) -> bool:
        box = next(self.query("#lab-where").results(Input), None)
        if box is not None and box.has_focus:
            self.call_later(box.remove)
            return True
        return False

    # --- the live loop ---------------------------------------------------------------

    def action_toggle_run(self) -> None:
        if self.lab is None:
            return
        if self._runner is not None and not self._runner.is_cancelled:
            self._stop_run()
            self.notify("Stopping after this window", timeout=2)
            return
        if self._bench_busy():
            self.notify("The live run starts when the sweep or A/B ends (Escape cancels it)")
        self._runner = self.run_live(self.lab)
        self._show_knobs()
        if self.has_class("-short"):
            self.view = "live"  # one view at a time: the one just asked for
            self._show_panels()

    def _stop_run(self) -> None:
        if self._runner is not None:
            self._runner.cancel()
        self._show_knobs()

    def _acquire(self, worker: Worker[Any]) -> bool:
        """Wait for the bench (another job may finish its window); False when cancelled."""
        while not self._bench.acquire(timeout=0.1):
            if worker.is_cancelled:
                return False
        if worker.is_cancelled:
            self._bench.release()
            return False
        return True

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="lab-run",
        description="Running the live workload",
    )
    def run_live(self, lab: LiveLab) -> None:
        worker = get_current_worker()
        if not self._acquire(worker):
            self.post_message(self.RunStopped(worker, None))
            return
        error: str | None = None
        try:
            while not worker.is_cancelled:
                self.post_message(self.WindowMeasured(lab, lab.run_window()))
        except VecscopeError as e:
            error = failure_message(e)
        finally:
            lab.close()
            self._bench.release()
            self.post_message(self.RunStopped(worker, error))

    @on(WindowMeasured)
    def window_measured(self, event: WindowMeasured) -> None:
        if event.lab is not self.lab or self.knobs is None:
            return
        self._show_panels()
        self._replot()
        self.query_one(FiguresLine).show(event.sample, self.knobs.threshold_ms, TARGET_RECALL)

    @on(RunStopped)
    def run_stopped(self, event: RunStopped) -> None:
        if event.worker is self._runner:
            self._runner = None
        self._show_knobs()
        if event.error is not None:
            self._failed(event.error)

    def _replot(self) -> None:
        if self.lab is None or self.knobs is None:
            return
        samples = self.lab.samples.items()
        self.query_one(LatencyPlot).show(samples, self.knobs.threshold_ms)
        self.query_one(ThroughputPlot).show(samples, TARGET_RECALL)

    # --- knobs -----------------------------------------------------------------------

    def action_knob(self, direction: int) -> None:
        if self.knobs is not None:
            self._set_knobs(self.knobs.stepped_value(direction))

    def action_concurrency(self, direction: int) -> None:
        if self.knobs is not None:
            self._set_knobs(self.knobs.stepped_concurrency(direction))

    def action_k(self, direction: int) -> None:
        if self.knobs is not None:
            self._set_knobs(self.knobs.stepped_k(direction))

    def action_threshold(self) -> None:
        if self.knobs is not None:
            self._set_knobs(self.knobs.next_threshold())
            self._replot()
            if self.sweep_result is not None and not self._bench_busy():
                # The sweep's measurements judged again: no setting is measured twice.
                self.sweep_result = rejudged(self.sweep_result, self.knobs.threshold_ms)
                self._status(self.query_one(LabBench).finish_sweep(self.sweep_result))

    def action_iterative(self) -> None:
        if self.knobs is not None:
            self._set_knobs(self.knobs.toggled_iterative())

    def _set_knobs(self, knobs: KnobState) -> None:
        self.knobs = knobs
        self._apply_knobs()

    def _apply_knobs(self) -> None:
        """Hand the knobs to the lab (they take effect next window) and show them."""
        if self.lab is not None and self.knobs is not None:
            for name, value in self.knobs.settings().items():
                self.lab.set_setting(name, value)
            self.lab.set_concurrency(self.knobs.concurrency)
            self.lab.set_k(self.knobs.k)
        self._show_knobs()

    def _show_knobs(self) -> None:
        running = self._runner is not None and not self._runner.is_cancelled
        self.query_one(KnobsBar).show(self.knobs, running=running)

    # --- sweep and A/B ---------------------------------------------------------------

    def action_sweep(self) -> None:
        if self.lab is None or self.bench is None or self.knobs is None:
            return
        self._stop_run()
        knobs = self.knobs
        # Under a filter the sweep adds iterative scans and the exact plan.
        grid = (
            self.bench.grid()
            if self.bench.queries.filter is not None
            else [knobs.settings(v) for v in self.bench.default_values()]
        )
        self.benched, self.view = True, "table"
        self._show_panels()
        self.query_one(LabBench).start_sweep(
            knobs.knob, knobs.threshold_ms, filtered=self.bench.queries.filter is not None
        )
        self._status(sweep_started(knobs.knob, len(grid), knobs.k, knobs.concurrency, self.lab))
        self.run_sweep(self.bench, grid, knobs.k, knobs.concurrency, knobs.threshold_ms)

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="lab-bench",
        description="Sweeping the query-time knob",
    )
    def run_sweep(
        self,
        bench: LabSession,
        grid: list[dict[str, str]],
        k: int,
        concurrency: int,
        target_latency_ms: float,
    ) -> None:
        worker = get_current_worker()
        if not self._acquire(worker):
            return

        def progressed(m: Measurement) -> None:
            if worker.is_cancelled:
                raise _Stopped
            self.post_message(self.SweepProgressed(m))

        try:
            result = bench.sweep(
                grid,
                k=k,
                concurrency=concurrency,
                target_recall=TARGET_RECALL,
                target_latency_ms=target_latency_ms,
                on_result=progressed,
                should_stop=lambda: worker.is_cancelled,
            )
        except _Stopped:
            return
        except VecscopeError as e:
            self.post_message(self.LabFailed(failure_message(e)))
            return
        finally:
            self._bench.release()
        if not worker.is_cancelled:
            self.post_message(self.SweepFinished(result))

    @on(SweepProgressed)
    def sweep_progressed(self, event: SweepProgressed) -> None:
        self.query_one(LabBench).add_measurement(event.measurement)

    @on(SweepFinished)
    def sweep_finished(self, event: SweepFinished) -> None:
        self.sweep_result = event.sweep
        self._status(self.query_one(LabBench).finish_sweep(event.sweep))

    def action_ab(self) -> None:
        if self.lab is None or self.bench is None or self.knobs is None:
            return
        knobs = self.knobs
        steered = self.bench.index_ab(knobs.settings())
        if steered is not None:
            # Two indexes on the column: compare them, each session steered to one.
            self._stop_run()
            self._bench_view()
            self._status(ab_started(self.indexes[0].name, self.indexes[1].name, knobs.k, True))
            self.run_ab(self.bench, *steered, knobs.k, knobs.concurrency)
            return
        other = knobs.stepped_value(1).value
        if other == knobs.value:
            other = knobs.stepped_value(-1).value
        if other == knobs.value:
            self.notify(f"{knobs.knob} has a single value here: nothing to compare", timeout=3)
            return
        self._stop_run()
        self._bench_view()
        a, b = knobs.settings(), knobs.settings(other)
        label_a, label_b = setting_label(a, knobs.knob), setting_label(b, knobs.knob)
        self._status(ab_started(label_a, label_b, knobs.k, False))
        self.run_ab(self.bench, a, b, knobs.k, knobs.concurrency)

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="lab-bench",
        description="Measuring settings A and B",
    )
    def run_ab(
        self, bench: LabSession, a: dict[str, str], b: dict[str, str], k: int, concurrency: int
    ) -> None:
        worker = get_current_worker()
        if not self._acquire(worker):
            return
        try:
            result = bench.ab(
                a, b, k=k, concurrency=concurrency, should_stop=lambda: worker.is_cancelled
            )
        except VecscopeError as e:
            self.post_message(self.LabFailed(failure_message(e)))
            return
        finally:
            self._bench.release()
        if not worker.is_cancelled:
            self.post_message(self.Compared(result.a, result.b))

    @on(Compared)
    def compared(self, event: Compared) -> None:
        self.ab_result = (event.a, event.b)
        self.sweep_result = None  # the bench shows the A/B now
        if self.knobs is not None:
            self._status(self.query_one(LabBench).show_ab(event.a, event.b, self.knobs.knob))

    def _bench_busy(self) -> bool:
        """A sweep or an A/B is measuring."""
        return any(w.node is self and w.group == "lab-bench" and w.is_running for w in self.workers)

    def action_cancel(self) -> None:
        if self.check_where_escape():
            return
        if self._bench_busy():
            self.workers.cancel_group(self, "lab-bench")
            self._status(Content.styled("Cancelled after the current measurement.", "$warning"))

    # --- helpers ---------------------------------------------------------------------

    def _bench_view(self) -> None:
        """A sweep or an A/B starts: the main area shows the bench's table."""
        self.benched, self.view = True, "table"
        self.query_one(LabBench).show_waiting()
        self._show_panels()

    def _views(self) -> list[View]:
        """The views there is something to show in (the scatter has one of its own only
        where the bench is too narrow for it beside the table)."""
        views: list[View] = []
        if self.lab is not None and len(self.lab.samples) > 0:
            views.append("live")
        if self.benched:
            views.append("table")
            if self.has_class("-narrow"):
                views.append("plot")
        return views

    def _shown_view(self, views: list[View]) -> View:
        """The view asked for if it has something to show, else the next best."""
        if self.view in views:
            return self.view
        if self.view == "plot" and "table" in views:
            return "table"  # the scatter is beside the table now
        return views[0] if views else "live"

    def action_view(self) -> None:
        """The next view of the main area (live plots, the bench's table, its scatter)."""
        views = self._views()
        if len(views) > 1:
            self.view = views[(views.index(self._shown_view(views)) + 1) % len(views)]
            self._show_panels()

    def _show_panels(self) -> None:
        """No empty frames: plots once there are samples, the bench once it has something;
        which of them show is latency.tcss's to say, by the view and the size. The view
        asked for is kept while it has nothing yet (the live run's first window)."""
        views = self._views()
        shown = self._shown_view(views)
        self.set_class("live" not in views, "-no-plots")
        self.set_class(not self.benched, "-no-results")
        for view in VIEWS:
            self.set_class(shown == view, f"-view-{view}")
        self.query_one(FiguresLine).display = self.lab is not None
        self.refresh_bindings()

    def _failed(self, message: str) -> None:
        self._status(Content.assemble(("✗ ", "$error bold"), (message, "$error")))

    def _status(self, content: Content) -> None:
        self.query_one("#lab-status", Static).update(content)
