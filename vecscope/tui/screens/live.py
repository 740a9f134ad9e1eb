"""The Live mode: the application's own vector queries, live or from a recording.

Live, a thread worker polls once (``core.live.LiveSession.step``) and the next poll is
armed only when that one has finished, so polls never overlap; polling goes on while
you look at other modes, so a recording has no gap while you explain a query. From a
recording (``vecscope replay FILE``), the same views show any poll: step, seek, play.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import ClassVar

from textual import events, on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Footer, Header, Static

from vecscope.core.errors import VecscopeError
from vecscope.core.lab.runner import RingBuffer
from vecscope.core.live.model import LivePoint
from vecscope.core.live.rates import LiveTracker
from vecscope.core.live.recording import (
    Recording,
    RecordingInfo,
    new_recording_path,
    recordings_dir,
)
from vecscope.core.live.session import LiveSession
from vecscope.tui.context import LiveOptions, live_options_of, session_of
from vecscope.tui.messages import ExplainQuery
from vecscope.tui.screens.base import VecscopeScreen
from vecscope.tui.widgets.live_views import (
    ActivityPanel,
    IndexesTable,
    IndexScansPlot,
    ShapesPlot,
    ShapesTable,
    shape_order,
)

#: Points on the charts: the last ten minutes at the default interval.
WINDOW = 300
INTERVALS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0)
#: Seconds between polls shown when a replay plays.
PLAY_STEP_S = 0.25
#: From this many columns the detail pane sits beside the tables.
WIDE = 120
#: From this many rows the charts are shown above the tables.
TALL = 36
INTERVAL_KEYS = Binding.Group("Poll", compact=True)


def _sep() -> Content:
    return Content.styled(" │ ", "$text-muted")


def _running(point: LivePoint) -> Content:
    """What runs now, in a few words (the detail pane has the rest)."""
    a = point.activity
    if not a.running:
        return Content.styled("no vector query running", "$text-muted")
    longest = f", longest {a.longest_s:,.2f} s" if a.longest_s is not None else ""
    slow = a.longest_s is not None and a.longest_s >= 1.0
    return Content.styled(f"{a.running} running{longest}", "$error bold" if slow else "bold")


class LiveScreen(VecscopeScreen):
    """Rates of the application's vector query shapes, indexes, activity and settings."""

    CSS_PATH = "../styles/live.tcss"
    #: Designed for 80x24: the charts need height, the detail pane width (live.tcss).
    HORIZONTAL_BREAKPOINTS = [
        (0, "-narrow"),
        (WIDE, "-wide"),
    ]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (TALL, "-tall")]

    # In a replay the arrows, PgUp/PgDn, Home and End move in time even with a table
    # focused (priority); live, they are off and reach the tables.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "pause", "Pause"),
        Binding("r", "record", "Rec"),
        Binding("plus,equals_sign", "interval(1)", "Slower", key_display="+", group=INTERVAL_KEYS),
        Binding("minus", "interval(-1)", "Faster", key_display="-", group=INTERVAL_KEYS),
        Binding("e", "explain", "Explain"),
        Binding("d", "details", "Details"),
        Binding("left", "step(-1)", "Step back", show=False, priority=True),
        Binding("right", "step(1)", "Step", show=False, priority=True),
        Binding("pageup", "step(-30)", "Seek back", show=False, priority=True),
        Binding("pagedown", "step(30)", "Seek", show=False, priority=True),
        Binding("home", "seek_to(0)", "First poll", show=False, priority=True),
        Binding("end", "seek_to(-1)", "Last poll", show=False, priority=True),
    ]

    class Polled(Message):
        def __init__(self, point: LivePoint | None, error: str | None, took_s: float) -> None:
            super().__init__()
            self.point = point
            self.error = error
            self.took_s = took_s

    class Replayed(Message):
        def __init__(self, info: RecordingInfo, history: RingBuffer[LivePoint]) -> None:
            super().__init__()
            self.info = info
            self.history = history

    def __init__(self, replay: Path | None = None) -> None:
        super().__init__()
        self.replay = replay
        self.options = LiveOptions()
        self.interval_s = self.options.interval_s
        #: The points to show: the live tracker's own (the last 1,800 polls), or every
        #: poll of the recording.
        self._history: RingBuffer[LivePoint] | None = None
        #: The poll looked at (replay), or None for the newest.
        self.position: int | None = None
        self.paused = False
        self.error: str | None = None
        self.info: RecordingInfo | None = None
        self.live: LiveSession | None = None
        self._timer: Timer | None = None
        self._polling = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="live-status")
        yield Static("", id="live-notes")
        with Horizontal(id="live-charts"):
            yield ShapesPlot("calls_per_s", id="live-calls", classes="shape-chart")
            yield ShapesPlot("mean_ms", id="live-mean", classes="shape-chart")
            yield ShapesPlot("rows_per_call", id="live-rows", classes="shape-chart")
            yield IndexScansPlot(id="live-index-plot")
        with Horizontal(id="live-bottom"):
            with Vertical(id="live-tables"):
                yield ShapesTable(id="live-shapes")
                yield IndexesTable(id="live-indexes")
            yield ActivityPanel(id="live-activity")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(ShapesTable).border_title = "Vector query shapes (pg_stat_statements)"
        self.query_one(ShapesTable).border_subtitle = "means per call: no percentiles in it"
        self.query_one(IndexesTable).border_title = "pgvector indexes (pg_stat_user_indexes)"
        self.query_one(ActivityPanel).border_title = "Now (pg_stat_activity) · settings"
        self.query_one(ActivityPanel).border_subtitle = "d hides"
        if self.replay is not None:
            self.sub_title = f"replay of {self.replay.name}"
            self.load_recording(self.replay)
        else:
            options = live_options_of(self.app)
            if options is not None:
                self.options = options
                self.interval_s = options.interval_s
            self.live = LiveSession(session_of(self.app).target, self.interval_s)
            self._history = self.live.tracker.history
            if self.options.record is not None:
                self._start_recording(self.options.record)
            self.poll()
        self.render_views()

    def on_unmount(self) -> None:
        if self.live is not None:
            self.live.close()

    def on_resize(self, event: events.Resize) -> None:
        # After Screen's own handler, which sets the breakpoint classes.
        self.call_after_refresh(self._resized)

    def _resized(self) -> None:
        self.render_views()

    # --- polling ---------------------------------------------------------------------

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="live-poll",
        description="Polling the server",
    )
    def poll(self) -> None:
        assert self.live is not None
        started = time.monotonic()
        try:
            point, error = self.live.step(), None
        except VecscopeError as e:
            point, error = None, e.message
        self.post_message(self.Polled(point, error, time.monotonic() - started))

    @on(Polled)
    def polled(self, event: Polled) -> None:
        self.error = event.error
        if event.point is not None:
            points = self.points  # the tracker has the new point already
            self._tell(event.point, points[-2] if len(points) > 1 else None)
        self.render_views()
        if not self.paused:
            # Re-armed after the poll ended: a slow poll delays the next, never stacks.
            self._timer = self.set_timer(max(0.05, self.interval_s - event.took_s), self.poll)

    def _tell(self, point: LivePoint, before: LivePoint | None) -> None:
        """A toast for what an on-call must not miss: a setting changed, an index flagged."""
        for c in point.changes:
            self.notify(
                f"{c.name}: {c.old or 'unset'} → {c.new or 'unset'} ({c.scope})",
                title="Setting changed",
                severity="warning",
                timeout=8,
            )
        was = {ix.key for ix in before.indexes if ix.flag} if before is not None else set()
        for ix in point.indexes:
            if ix.flag and ix.valid and ix.key not in was and before is not None:
                self.notify(f"{ix.key}: {ix.flag}", title="Index flagged", severity="error")

    # --- replay ----------------------------------------------------------------------

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="live-replay",
        description="Reading the recording",
    )
    def load_recording(self, path: Path) -> None:
        recording = Recording(path)
        try:
            info = recording.info()
            tracker = LiveTracker(capacity=max(1, info.polls))
            for snap in recording.snapshots():
                tracker.feed(snap)
        finally:
            recording.close()
        self.post_message(self.Replayed(info, tracker.history))

    @on(Replayed)
    def replayed(self, event: Replayed) -> None:
        self.info = event.info
        # The server goes in the header: 80 columns keep the status to two lines.
        info = event.info
        self.sub_title = f"replay of {info.path.name} · {info.server} · {info.server_version}"
        self._history = event.history
        self.position = self._count() - 1 if self._count() else None
        self.paused = True
        self.render_views()

    def _play(self) -> None:
        if self.paused or self.position is None:
            return
        if self.position >= self._count() - 1:
            self.paused = True
            self.render_views()
            return
        self.position += 1
        self.render_views()
        self._timer = self.set_timer(PLAY_STEP_S, self._play)

    # --- actions ---------------------------------------------------------------------

    @property
    def points(self) -> list[LivePoint]:
        """Every point kept, oldest first (a copy: the poll worker appends meanwhile)."""
        return self._history.items() if self._history is not None else []

    def _count(self) -> int:
        return len(self._history) if self._history is not None else 0

    def action_pause(self) -> None:
        self.paused = not self.paused
        if self._timer is not None:
            self._timer.stop()
        if not self.paused:
            if self.replay is not None:
                if self.position is not None and self.position >= self._count() - 1:
                    self.position = 0
                self._play()
            elif not self._running_poll():
                self.poll()
        self.render_views()

    def _running_poll(self) -> bool:
        return any(w.group == "live-poll" and w.is_running for w in self.workers)

    def action_interval(self, direction: int) -> None:
        if self.replay is not None:
            return
        slower = [i for i in INTERVALS if i > self.interval_s]
        faster = [i for i in INTERVALS if i < self.interval_s]
        if direction > 0 and slower:
            self.interval_s = slower[0]
        elif direction < 0 and faster:
            self.interval_s = faster[-1]
        if self.live is not None:
            self.live.interval_s = self.interval_s
        self.render_views()

    def action_step(self, delta: int) -> None:
        if self.replay is None or not self._count():
            return
        self.paused = True
        current = self.position if self.position is not None else self._count() - 1
        self.position = max(0, min(self._count() - 1, current + delta))
        self.render_views()

    def action_seek_to(self, where: int) -> None:
        if self.replay is None or not self._count():
            return
        self.paused = True
        self.position = where if where >= 0 else self._count() - 1
        self.render_views()

    def action_record_without_text(self) -> None:
        """Record with no query text in the file (for sharing)."""
        if self.live is not None and self.live.recorder is None:
            self.options = LiveOptions(self.options.interval_s, None, query_text=False)
        self.action_record()

    def action_record(self) -> None:
        if self.live is None:
            self.notify("This is a recording already.", severity="warning")
            return
        if self.live.recorder is not None:
            recorder = self.live.stop_recording()
            if recorder is not None:
                self.notify(f"{recorder.polls} polls in {recorder.path}", title="Recording saved")
        else:
            path = new_recording_path(self.live.database, datetime.now())
            self._start_recording(path)
        self.render_views()

    def _start_recording(self, path: Path) -> None:
        assert self.live is not None
        try:
            if path.parent == recordings_dir():
                path.parent.mkdir(parents=True, exist_ok=True)
            recorder = self.live.start_recording(path, query_text=self.options.query_text)
            self.notify(
                f"every poll goes to {recorder.path}"
                + ("" if recorder.query_text else " (no query texts)"),
                title="Recording",
            )
        except VecscopeError as e:
            self.notify(e.message, title="Cannot record", severity="error")

    def action_explain(self) -> None:
        point = self.window()[1]
        if point is not None and point.statements_missing:
            # Shapes can never appear: say why, not "not yet".
            self.notify(
                f"No query shapes to explain: {point.statements_missing}",
                title="pg_stat_statements",
                severity="warning",
                timeout=10,
            )
            return
        shape = self.query_one(ShapesTable).current()
        if shape is None:
            self.notify("No query shape here yet.", severity="warning")
            return
        self._explain(shape.query)

    def action_details(self) -> None:
        """The detail pane: beside the tables when wide, in their place when narrow."""
        if self.has_class("-narrow"):
            self.toggle_class("-details")
            if self.has_class("-details"):
                self.query_one(ActivityPanel).focus()
        else:
            self.toggle_class("-no-details")

    @on(ShapesTable.ShapePicked)
    def shape_picked(self, event: ShapesTable.ShapePicked) -> None:
        self._explain(event.shape.query)

    def _explain(self, query: str | None) -> None:
        if query is None:
            self.notify("This recording has no query texts (--no-query-text).", severity="warning")
            return
        if self.replay is not None:
            self.app.copy_to_clipboard(query)
            self.notify("No database in a replay: the query text is copied.", title="Copied")
            return
        self.post_message(ExplainQuery(query))

    def palette_commands(self) -> Iterable[SystemCommand]:
        yield SystemCommand(
            "Live: record or stop recording", "Keep every poll in a file", self.action_record
        )
        yield SystemCommand(
            "Live: record without query texts",
            "A recording to share: shapes named by queryid, no SQL text",
            self.action_record_without_text,
        )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        replay_only = {"step", "seek_to"}
        live_only = {"record", "interval"}
        if action in replay_only:
            return self.replay is not None
        if action in live_only:
            return self.replay is None
        return True

    # --- drawing ---------------------------------------------------------------------

    def window(self) -> tuple[list[LivePoint], LivePoint | None]:
        """The points up to the position looked at (the charts' window), and that one."""
        points = self.points
        if not points:
            return [], None
        end = len(points) if self.position is None else self.position + 1
        shown = points[max(0, end - WINDOW) : end]
        return shown, shown[-1]

    def render_views(self) -> None:
        shown, point = self.window()
        order = shape_order(shown)
        self.set_class(point is not None and point.statements_missing is not None, "-no-statements")
        self.query_one("#live-status", Static).update(self._status(point))
        self.query_one("#live-notes", Static).update(self._notes(point))
        self.query_one("#live-calls", ShapesPlot).show(shown, order)
        self.query_one("#live-mean", ShapesPlot).show(shown, order)
        self.query_one("#live-rows", ShapesPlot).show(shown, order)
        self.query_one(IndexScansPlot).show(shown)
        self.query_one(ShapesTable).show(point, order)
        self.query_one(IndexesTable).show(point)
        self.query_one(ActivityPanel).show(point, shown)

    def _status(self, point: LivePoint | None) -> Content:
        parts: list[Content] = []
        if self.replay is not None:
            info = self.info
            if info is None:
                return Content.styled("reading the recording…", "$text-muted")
            if not self._count():
                return Content.styled(f"{info.path.name} holds no poll", "$warning")
            playing = "paused" if self.paused else "playing"
            parts += [
                Content.styled("REPLAY ", "$accent bold"),
                Content(f"poll {(self.position or 0) + 1:,}/{self._count():,} ({playing})"),
            ]
            if point is not None:
                total = self.points[-1].t
                parts += [
                    _sep(),
                    Content(f"{point.at:%Y-%m-%d %H:%M:%S} +{point.t:,.0f}/{total:,.0f} s"),
                    _sep(),
                    _running(point),
                ]
            parts += [_sep(), Content.styled("←/→ step · PgUp/PgDn seek · Home/End", "$text-muted")]
            return Content.assemble(*parts)
        state = ("PAUSED", "$warning bold") if self.paused else ("LIVE", "$success bold")
        parts += [Content.styled(state[0], state[1]), Content(f" every {self.interval_s:g} s")]
        if point is not None:
            parts += [
                _sep(),
                Content(f"poll {point.seq:,} at {point.at:%H:%M:%S}"),
                Content.styled(f" ({point.poll_ms:,.1f} ms)", "$text-muted"),
                _sep(),
                _running(point),
            ]
        recorder = self.live.recorder if self.live is not None else None
        if recorder is not None:
            parts += [
                _sep(),
                Content.styled("● REC ", "$error bold"),
                Content(f"{recorder.path.name} ({recorder.polls:,} polls)"),
            ]
            if not recorder.query_text:
                parts.append(Content.styled(" no query texts", "$text-muted"))
        if self.error:
            parts += [_sep(), Content.styled(f"poll failed: {self.error}", "$error")]
        return Content.assemble(*parts)

    def _notes(self, point: LivePoint | None) -> Content:
        if point is None:
            return Content("")
        notes: list[Content] = []
        if point.statements_missing:
            # One line: what is missing and how to enable it; the shapes' charts and
            # table are hidden meanwhile (live.tcss), the rest shows as usual.
            notes.append(
                Content.styled(f"⚠ No query shapes: {point.statements_missing}", "$warning")
            )
        if not point.sees_all:
            notes.append(
                Content.styled(
                    "  ⚠ other roles' query texts are hidden: GRANT pg_read_all_stats TO "
                    "this role to see them.",
                    "$warning",
                )
            )
        if not notes:
            shapes, indexes = len(point.shapes), len(point.indexes)
            flagged = sum(1 for ix in point.indexes if ix.flag)
            notes.append(
                Content.styled(
                    f"{shapes} vector query shape{'' if shapes == 1 else 's'} · {indexes} "
                    f"pgvector index{'' if indexes == 1 else 'es'}, {flagged} flagged"
                    + (" (d: why)" if flagged and self.has_class("-narrow") else ""),
                    "$text-muted",
                )
            )
        return Content.assemble(*notes)
