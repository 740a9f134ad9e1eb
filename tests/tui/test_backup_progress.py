"""The Migrate panel shows a running dump: what it does, how far (a bar against the
estimate), how long, instead of a bare "running"."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import ProgressBar, Static

from vecscope.core.migrate.backup import PHASE_DONE, PHASE_DUMPING, BackupProgress
from vecscope.core.migrate.states import Status, Step
from vecscope.tui.widgets.migrate_step import StepPanel, StepView, bar_percent, body_lines

MB = 1024 * 1024
DUMPING = BackupProgress(PHASE_DUMPING, "public.doc_chunks", 41 * MB, 120 * MB, True, 12.0)


class _Panel(App[None]):
    def compose(self) -> ComposeResult:
        yield StepPanel(id="migrate-step")


def _view(backup: BackupProgress | None, state: Status = Status.RUNNING) -> StepView:
    return StepView(key=Step.BACKUP, title="Backup", state=state, backup=backup)


def test_the_body_says_what_the_dump_does() -> None:
    lines = [str(c) for c in body_lines(_view(DUMPING))]
    assert lines[0] == "dumping public.doc_chunks: 41.0 MB of about 120.0 MB, 12 s"
    assert "about" in lines[1]  # why the total is an estimate
    assert bar_percent(_view(DUMPING)) == 100.0 * 41 / 120
    # Once the step is over, the result shows, not the last progress.
    assert body_lines(_view(DUMPING, Status.DONE)) == []
    assert bar_percent(_view(DUMPING, Status.DONE)) is None
    unknown = BackupProgress(PHASE_DUMPING, "the database", MB, None, True, 3.0)
    assert bar_percent(_view(unknown)) is None
    done = BackupProgress(PHASE_DONE, "public.doc_chunks", 80 * MB, 80 * MB, False, 30.0)
    assert bar_percent(_view(done)) == 100.0


async def test_the_panel_draws_the_bar_and_the_line() -> None:
    app = _Panel()
    async with app.run_test(size=(100, 30)) as pilot:
        panel = app.query_one(StepPanel)
        panel.show(_view(None))
        await pilot.pause()
        bar = panel.query_one("#build-bar", ProgressBar)
        assert not bar.display
        panel.show(_view(DUMPING))
        await pilot.pause()
        assert bar.display
        assert bar.progress == 100.0 * 41 / 120
        body = str(panel.query_one("#step-body", Static).render())
        assert "dumping public.doc_chunks: 41.0 MB of about 120.0 MB, 12 s" in body
