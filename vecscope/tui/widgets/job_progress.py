"""A long job's line: a progress bar while it runs, then the one line of how it ended."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.content import Content
from textual.widgets import ProgressBar, Static


class JobProgress(Horizontal):
    """The bar (shown only while running) beside the stage or the outcome."""

    DEFAULT_CSS = """
    JobProgress {
        height: 1;
    }
    JobProgress ProgressBar {
        width: auto;
        margin-right: 2;
    }
    JobProgress .job-stage {
        width: 1fr;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    def compose(self) -> ComposeResult:
        yield ProgressBar(total=100, show_eta=False)
        yield Static(classes="job-stage")

    def on_mount(self) -> None:
        self.query_one(ProgressBar).display = False

    def progress(self, stage: str, fraction: float) -> None:
        """Running: ``stage`` at ``fraction`` (0..1) done."""
        bar = self.query_one(ProgressBar)
        bar.display = True
        bar.update(progress=max(0.0, min(1.0, fraction)) * 100)
        self.query_one(".job-stage", Static).update(
            Content.assemble((stage, ""), ("  · Esc cancels", "$text-muted"))
        )

    def say(self, line: Content) -> None:
        """Not running: how the job ended, or what to do."""
        self.query_one(ProgressBar).display = False
        self.query_one(".job-stage", Static).update(line)
