"""The panel beside the checklist: the highlighted step, what it runs, and what it found.

The screen hands it a :class:`StepView` (plain data) and the panel lays it out: a heading
with the step's state or why it cannot run, the plan form on the Plan step, the progress
bar during a build or a dump, the result, the step's log, then its SQL and what it does
besides SQL.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import ProgressBar, Static

from vecscope.core.migrate.backup import PHASE_DUMPING, BackupProgress
from vecscope.core.migrate.plan import Statement
from vecscope.core.migrate.states import Status, Step
from vecscope.tui.widgets.checklist import STATE_MARK
from vecscope.tui.widgets.plan_form import PlanForm
from vecscope.tui.widgets.step_results import bad, muted, statement_lines

#: What the heading says of each state.
STATE_WORDS: dict[Status, str] = {
    Status.PENDING: "not run yet",
    Status.RUNNING: "running",
    Status.DONE: "done",
    Status.FAILED: "failed",
    Status.NOT_NEEDED: "not needed for this migration",
}


@dataclass(frozen=True, slots=True)
class StepView:
    """Everything the panel shows of one step."""

    key: Step
    title: str
    state: Status
    #: Why the step cannot run now (``None``: it can).
    blocked: str | None = None
    statements: tuple[Statement, ...] = ()
    actions: tuple[str, ...] = ()
    #: The result's lines (live during a build).
    result: tuple[Content, ...] = ()
    log: tuple[str, ...] = ()
    error: str | None = None
    #: 0..100 while building, else ``None`` (no bar).
    percent: float | None = None
    #: The dump's progress while the backup step runs (a bar and a line).
    backup: BackupProgress | None = None
    #: The keys that apply, one line.
    hint: Content = field(default_factory=Content)
    #: Heading of the SQL section.
    sql_title: str = "SQL"


def _section(title: str) -> Content:
    return Content.styled(title, "bold $text-primary")


def backup_progress_lines(p: BackupProgress) -> list[Content]:
    """The running dump: what it does and how far, e.g. ``dumping public.doc_chunks:
    41.0 MB of about 120.0 MB, 12 s``; the sizes are estimates while pg_dump writes."""
    lines = [Content.styled(p.text(), "bold")]
    if p.phase == PHASE_DUMPING and p.estimated and p.bytes_total:
        lines.append(muted("  about: the table's data in the catalog; the dump is compressed text"))
    return [*lines, Content("")]


def bar_percent(view: StepView) -> float | None:
    """Where the bar stands (0..100), or ``None`` when no bar shows."""
    if view.percent is not None:
        return view.percent
    if view.backup is not None and view.state == Status.RUNNING:
        fraction = view.backup.fraction
        return None if fraction is None else 100.0 * fraction
    return None


def body_lines(view: StepView) -> list[Content]:
    """The panel's text below the heading (and below the form or the bar)."""
    lines: list[Content] = []
    if view.backup is not None and view.state == Status.RUNNING:
        lines += backup_progress_lines(view.backup)
    if view.error and view.state in (Status.FAILED, Status.PENDING):
        lines += [bad(view.error), Content("")]
    if view.result:
        lines += [*view.result, Content("")]
    if view.log:
        lines += [_section("Log"), *(muted(f"  {line}") for line in view.log[-12:]), Content("")]
    if view.statements:
        lines += [_section(view.sql_title), *statement_lines(view.statements), Content("")]
    if view.actions:
        lines += [_section("What it does"), *(Content(f"  · {a}") for a in view.actions)]
    return lines


def head_line(view: StepView) -> Content:
    mark, style = STATE_MARK.get(view.state, ("?", ""))
    parts: list[Content | str | tuple[str, str]] = [
        (f"{mark} {view.title}", f"bold {style}"),
        ("  ", ""),
        (STATE_WORDS.get(view.state, view.state), "$text-muted"),
    ]
    if view.blocked and view.state not in (Status.DONE, Status.RUNNING, Status.NOT_NEEDED):
        parts += [("  ·  ", "$text-muted"), (f"waits: {view.blocked}", "$warning")]
    lines = [Content.assemble(*parts)]
    if view.hint:
        lines.append(view.hint)
    return Content("\n").join(lines)


class StepPanel(VerticalScroll):
    """Scrollable; :meth:`show` lays out a :class:`StepView`."""

    def compose(self) -> ComposeResult:
        yield Static(id="step-head")
        yield PlanForm(id="plan-form")
        yield ProgressBar(total=100, show_eta=False, id="build-bar")
        yield Static(id="step-body")

    def show(self, view: StepView) -> None:
        self.query_one("#step-head", Static).update(head_line(view))
        self.query_one(PlanForm).display = view.key == Step.PLAN
        bar = self.query_one("#build-bar", ProgressBar)
        percent = bar_percent(view)
        bar.display = percent is not None
        if percent is not None:
            bar.update(progress=percent)
        self.query_one("#step-body", Static).update(Content("\n").join(body_lines(view)))
