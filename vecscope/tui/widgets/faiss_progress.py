"""A FAISS job's progress: what runs, how far, for how long; then how it ended, in full.

While a conversion or a tuning runs, the top row is a bar (a pulse while FAISS cannot say
how far) with a spinner and the phase's elapsed time that move on their own, so a phase
that reports nothing for minutes (an OPQ rotation training) still visibly runs. Below it,
the step: phase, counts (vectors added, OPQ or k-means iterations, settings measured) and
FAISS's detail, wrapped. Once the job ends, one message says how, wrapped whole: an error
is never cut off.
"""

from __future__ import annotations

import time

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.timer import Timer
from textual.widgets import ProgressBar, Static

from vecscope.core.faissidx.progress import Step, elapsed

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


class FaissJobLine(Vertical):
    """The running job's bar, clock and step, or the outcome of the last one."""

    DEFAULT_CSS = """
    FaissJobLine {
        height: auto;
    }
    FaissJobLine > .job-running {
        height: 1;
    }
    FaissJobLine ProgressBar {
        width: auto;
        margin-right: 1;
    }
    FaissJobLine ProgressBar Bar {
        width: 16;
    }
    FaissJobLine .job-clock {
        width: 1fr;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    FaissJobLine .job-text {
        height: auto;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.job_title = ""
        self.step: Step | None = None
        #: When the phase on show began, by this widget's clock (a step may come late).
        self._since = time.monotonic()
        self._frame = 0
        self._timer: Timer | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(classes="job-running"):
            yield ProgressBar(total=100, show_eta=False)
            yield Static(classes="job-clock")
        yield Static(classes="job-text")

    def on_mount(self) -> None:
        self.query_one(".job-running").display = False
        self._timer = self.set_interval(0.2, self._tick, pause=True)

    @property
    def running(self) -> bool:
        return bool(self.query_one(".job-running").display)

    @property
    def text(self) -> str:
        """What the widget says now (the step or the outcome), as plain text."""
        return str(self.query_one(".job-text", Static).render())

    @property
    def clock(self) -> str:
        return str(self.query_one(".job-clock", Static).render())

    def start(self, title: str, phase: str) -> None:
        """A job starts: ``title`` names it ("ivf.index → ivf.hnsw32.index")."""
        self.job_title = title
        self.step = None
        self.query_one(".job-running").display = True
        self.show_step(Step(phase))
        if self._timer is not None:
            self._timer.resume()

    def show_step(self, step: Step) -> None:
        """The job moved on (a new phase, more vectors, another iteration)."""
        if self.step is None or step.phase != self.step.phase:
            self._since = time.monotonic()
        self.step = step
        bar = self.query_one(ProgressBar)
        fraction = step.fraction
        if fraction is None:
            bar.update(total=None)  # a pulse: FAISS says nothing of how far
        else:
            bar.update(total=100, progress=fraction * 100)
        head = f"{self.job_title}: {step.phase}" if self.job_title else step.phase
        counts = (
            f" · {step.done:,} / {step.total:,} {step.unit}".rstrip()
            if step.done is not None and step.total
            else ""
        )
        parts: list[Content | str | tuple[str, str]] = [(head, "bold"), counts]
        if step.detail:
            parts += ["\n", (step.detail, "$text-muted")]
        self.query_one(".job-text", Static).update(Content.assemble(*parts))
        self._tick()

    def _tick(self) -> None:
        self._frame += 1
        self.query_one(".job-clock", Static).update(
            Content.assemble(
                (SPINNER[self._frame % len(SPINNER)], "$accent bold"),
                f" {elapsed(time.monotonic() - self._since)}",
                ("  · esc cancels", "$text-muted"),
            )
        )

    def say(self, line: Content) -> None:
        """Not running: how the job ended (or what to do), wrapped whole."""
        if self._timer is not None:
            self._timer.pause()
        self.step = None
        self.query_one(".job-running").display = False
        self.query_one(".job-text", Static).update(line)
