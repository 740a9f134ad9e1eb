"""The Migrate mode: one index migration, step by step, each step's SQL and result beside it.

The checklist is the engine's steps in order (:class:`core.migrate.engine.Migration`);
the panel shows the highlighted one. Steps run one at a time in a thread worker (group
``migrate``), in the order and with the stops of ``vecscope migrate run``; the questions a
step needs (the backup's kind, a typed name before an index is dropped) are asked first,
in an async worker that awaits the modals. A build goes on when the user leaves the mode;
quitting during one asks first (:meth:`tui.app.VecscopeApp.action_quit`).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import ClassVar

import psycopg
from textual import events, on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Footer, Header, Select, Static
from textual.worker import Worker, WorkerState, get_current_worker

from vecscope.core.errors import VecscopeError, first_line
from vecscope.core.migrate import journal as jn
from vecscope.core.migrate.backup import BackupProgress
from vecscope.core.migrate.build import BuildProgress
from vecscope.core.migrate.engine import Migration
from vecscope.core.migrate.journals import journal_entries
from vecscope.core.migrate.observe import Phase, look
from vecscope.core.migrate.preflight import Preflight
from vecscope.core.migrate.runner import Answers, Hooks, run_step, stops_after
from vecscope.core.migrate.states import Status, Step, title
from vecscope.tui.context import session_of
from vecscope.tui.screens.backup_choice import BackupChoiceScreen
from vecscope.tui.screens.base import VecscopeScreen
from vecscope.tui.screens.journals import JournalsScreen
from vecscope.tui.screens.migrate_messages import (
    BackupProgressed,
    BuildProgressed,
    JournalsListed,
    MigrationOpened,
    Said,
    StepFinished,
    StepStarted,
)
from vecscope.tui.screens.migrate_questions import (
    cutover_question,
    drop_question,
    resume_question,
    rollback_question,
)
from vecscope.tui.widgets.checklist import Checklist
from vecscope.tui.widgets.migrate_step import StepPanel
from vecscope.tui.widgets.migrate_views import (
    Board,
    Job,
    journal_text,
    notes,
    states,
    step_view,
    top_line,
)
from vecscope.tui.widgets.plan_form import PlanForm


class CatalogSeen(Message):
    """Where ``mig`` stands in the catalog, read after a rollback ran."""

    def __init__(self, mig: Migration, phase: Phase) -> None:
        super().__init__()
        self.mig = mig
        self.phase = phase


class MigrateScreen(VecscopeScreen):
    """The migration wizard; see the module docstring."""

    #: Designed for 80x24 first. Under 100 columns (-narrow) the checklist column is
    #: narrower and the plan form has one field a row (the panel scrolls; a focused field
    #: is scrolled into view); from 100 (-wide) two fields a row.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]

    # These rules belong with the Migrate section of styles/app.tcss; scoped here (so they
    # win over its older rules for these ids) until they move there.
    CSS = """
    MigrateScreen #migrate-left {
        width: 30%;
        min-width: 30;
        max-width: 42;
    }
    MigrateScreen #plan-fields {
        layout: grid;
        grid-size: 4;
        grid-columns: auto 1fr auto 1fr;
        grid-rows: 1;
        grid-gutter: 0 1;
        height: auto;
    }
    MigrateScreen.-narrow #plan-fields {
        grid-size: 2;
        grid-columns: auto 1fr;
    }
    MigrateScreen #plan-form .form-label {
        width: auto;
        padding: 0;
    }
    MigrateScreen #plan-form Input, MigrateScreen #plan-form Select {
        width: 1fr;
        min-width: 6;
        margin: 0;
    }
    MigrateScreen #plan-form #plan-source, MigrateScreen #plan-form #plan-rename {
        column-span: 3;
        width: 1fr;
    }
    MigrateScreen.-narrow #plan-form #plan-source {
        column-span: 1;
    }
    MigrateScreen.-narrow #plan-form #plan-rename,
    MigrateScreen.-narrow #plan-form #plan-go {
        column-span: 2;
    }
    MigrateScreen #plan-form #plan-go {
        width: auto;
        min-width: 8;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "run", "Run step", key_display="⏎/r"),
        Binding("a", "run_all", "Run all remaining"),
        Binding("c", "cancel", "Cancel build"),
        Binding("x", "rollback", "Rollback"),
        Binding("o", "open_journal", "Open journal"),
        Binding("d", "drop_leftovers", "Drop leftovers"),
        Binding("p", "plan", "Plan", show=False),
        Binding("escape", "focus_checklist", "Checklist", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.board = Board()
        self._cancel = threading.Event()
        self._quit_after = False

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="migrate-bar")
        with Horizontal(id="migrate-main"):
            with Vertical(id="migrate-left"):
                yield Checklist(id="checklist")
                yield Static(id="journal-path")
            yield StepPanel(id="migrate-step")
        yield Footer()

    def on_mount(self) -> None:
        self.show()
        self.query_one(Checklist).focus()
        self.list_journals(offer=True)

    def on_resize(self, event: events.Resize) -> None:
        # The journal's folder is shortened to the column's width, which follows the
        # terminal's (VecscopeScreen's handler runs too: Textual calls each class's).
        self.call_after_refresh(self.show)

    def on_screen_suspend(self) -> None:
        # Another mode now (a modal above this screen suspends it too): the step goes on.
        if self.running is not None and self.app.current_mode != "migrate":
            self.app.notify(
                f"Migrate: {title(self.running)} keeps running; F5 shows it",
                timeout=4,
            )

    def on_unmount(self) -> None:
        self._cancel.set()  # the app is closing: a build stops and drops its invalid index

    @property
    def running(self) -> Job | None:
        """The step a worker runs now, if any."""
        return self.board.running

    def palette_commands(self) -> Iterable[SystemCommand]:
        yield SystemCommand(
            "Migrate: open a journal",
            "Resume an interrupted migration of this database",
            self.action_open_journal,
        )
        yield SystemCommand(
            "Migrate: run all remaining steps", "In order, as the CLI does", self.action_run_all
        )
        yield SystemCommand(
            "Migrate: roll back", "Undo the migration from wherever it is", self.action_rollback
        )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        board = self.board
        if action == "cancel":
            return True if board.running == Step.BUILD else None
        if action == "drop_leftovers":
            return bool(self._leftovers())
        if action == "run_all":
            return board.spec is not None or None
        if action == "rollback":
            return (board.plan is not None and board.plan.may_roll_back) or None
        return True

    # --- choosing what to migrate ----------------------------------------------------

    def open_source(self, source: str) -> None:
        """Plan ``index:SCHEMA.NAME`` or ``column:SCHEMA.TABLE.COLUMN`` (the Indexes screen's m)."""
        if self.board.in_progress() or self.running is not None:
            self.app.notify(
                "A migration is in progress here: finish it or roll it back (x) first",
                severity="warning",
                timeout=5,
            )
            return
        self.query_one(PlanForm).open_source(source)
        self.query_one(Checklist).select_key(Step.PLAN)

    def action_plan(self) -> None:
        self.query_one(Checklist).select_key(Step.PLAN)
        self.query_one("#plan-source", Select).focus()

    @on(PlanForm.RefusalChecked)
    def refusal_checked(self, event: PlanForm.RefusalChecked) -> None:
        self.board.refused = event.reason
        self.show()

    @on(PlanForm.Planned)
    def planned(self, event: PlanForm.Planned) -> None:
        if self.board.in_progress() or self.running is not None:
            return
        mig = self.board.mig
        if mig is not None and not mig.finished:
            self.app.notify(
                f"The earlier plan's journal stays in {mig.path.parent} (nothing was built)",
                timeout=4,
            )
        spec, target = event.spec, session_of(self.app).target
        self.board.reset(
            Migration.planned(target, spec, event.choice.options()) if spec is not None else None
        )
        self.board.plan_error = event.error or None
        self.query_one(PlanForm).show_spec(event.spec, self.board.plan_error)
        self.show()

    # --- running steps ---------------------------------------------------------------

    def _busy(self) -> bool:
        if self.running is None:
            return False
        what = title(self.running)
        self.app.notify(f"{what} is running (c cancels a build)", severity="warning", timeout=3)
        return True

    def action_run(self) -> None:
        self._run_key(self.query_one(Checklist).selected_key)

    @on(Checklist.StepChosen)
    def step_chosen(self, event: Checklist.StepChosen) -> None:
        self._run_key(event.key)

    def _run_key(self, key: Step) -> None:
        if key == Step.PLAN:
            self.action_plan()
            return
        if key == Step.ROLLBACK:
            self.action_rollback()
            return
        if self._busy():
            return
        reason = self.board.blocked(key)
        force = key == Step.CUTOVER and self.board.may_force_cutover()
        if reason and not force:
            self.app.notify(f"{title(key)}: {reason}", severity="warning", timeout=5)
            return
        self.ask_and_run((key,), force)

    def action_run_all(self) -> None:
        if self._busy() or self.board.spec is None:
            return
        keys = self.board.to_run()
        if not keys:
            self.app.notify("Nothing left to run", timeout=3)
            return
        self.ask_and_run(keys, False)

    @work(
        exclusive=True,
        exit_on_error=False,
        group="migrate-ask",
        description="Asking before a migration step",
    )
    async def ask_and_run(self, keys: tuple[Step, ...], force: bool) -> None:
        """Ask what the steps need (modals), then start them in the thread worker."""
        plan = self.board.plan
        assert plan is not None
        spec = plan.spec
        answers = Answers()
        if Step.BACKUP in keys:
            table = f"{spec.schema}.{spec.table}"
            choice = await self.app.push_screen_wait(BackupChoiceScreen(table, plan.options.backup))
            if choice is None:
                return
            answers = replace(answers, backup=choice)
        if Step.CUTOVER in keys and spec.old_name:
            question = cutover_question(spec, force=force, before_verify=Step.VERIFY in keys)
            if not await self.app.push_screen_wait(question):
                return
            answers = replace(answers, cutover=True, force_cutover=force)
        if self.running is None:
            self._start(keys, answers)

    def _start(self, keys: tuple[Step, ...], answers: Answers, drop: tuple[str, ...] = ()) -> None:
        plan = self.board.plan
        assert plan is not None
        self._cancel.clear()
        self.board.running = keys[0]
        self.run_steps(plan, keys, answers, drop)
        self.show()

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="migrate",
        description="Running migration steps",
    )
    def run_steps(
        self,
        mig: Migration,
        keys: tuple[Step, ...],
        answers: Answers,
        drop: tuple[str, ...],
    ) -> None:
        worker = get_current_worker()
        if not mig.journaled:
            mig = mig.begin()
            self.post_message(MigrationOpened(mig, {}, [], resumed=False))

        def say(key: Step, text: str) -> None:
            self.post_message(Said(key, text))

        def progress(p: BuildProgress) -> None:
            self.post_message(BuildProgressed(p))

        def backup_progress(p: BackupProgress) -> None:
            self.post_message(BackupProgressed(p))

        hooks = Hooks(
            say=say,
            progress=progress,
            backup_progress=backup_progress,
            should_cancel=lambda: self._cancel.is_set() or worker.is_cancelled,
        )
        if drop:
            for name in mig.drop_leftovers(list(drop), lambda t: hooks.say(Step.PREFLIGHT, t)):
                hooks.say(Step.PREFLIGHT, f"dropped the invalid leftover {name}")
        for key in keys:
            if worker.is_cancelled or self._cancel.is_set():
                return  # quitting, or a cancel: no further step starts
            self.post_message(StepStarted(key))
            result = run_step(mig, key, answers, hooks)
            self.post_message(StepFinished(key, result))
            if stops_after(result):
                return

    @on(MigrationOpened)
    def migration_opened(self, event: MigrationOpened) -> None:
        running = self.board.running
        if self.board.mig is not event.mig:
            self.board.reset(event.mig)
            self.board.results.update(event.results)
        self.board.running = running
        if event.found:
            self.board.logs[Step.PLAN] = [f"reconcile: {line}" for line in event.found]
        if event.resumed:
            self.query_one(Checklist).select_key(event.mig.next_step() or Step.PLAN)
            nxt = event.mig.next_step()
            self.app.notify(
                f"Journal reconciled; next: {title(nxt)} (enter runs it, a runs all)"
                if nxt
                else "Journal reconciled: nothing left to run",
                timeout=5,
            )
        self.show()

    @on(StepStarted)
    def step_started(self, event: StepStarted) -> None:
        board = self.board
        board.running = event.key
        board.results.pop(event.key, None)
        board.errors.pop(event.key, None)
        board.progress, board.percent, board.backup_progress = None, 0.0, None
        board.logs.setdefault(event.key, [])
        self.query_one(Checklist).select_key(event.key)
        self.show()

    @on(CatalogSeen)
    def catalog_seen(self, event: CatalogSeen) -> None:
        if self.board.mig is event.mig:
            self.board.seen = event.phase
            self.show()

    @on(StepFinished)
    def step_finished(self, event: StepFinished) -> None:
        self.board.results[event.key] = event.result
        self.show()

    @on(BuildProgressed)
    def build_progressed(self, event: BuildProgressed) -> None:
        self.board.progress = event.progress
        if event.progress.percent is not None:
            self.board.percent = event.progress.percent
        self.show()

    @on(BackupProgressed)
    def backup_progressed(self, event: BackupProgressed) -> None:
        self.board.backup_progress = event.progress
        self.show()

    @on(Said)
    def said(self, event: Said) -> None:
        self.board.logs.setdefault(event.key, []).append(event.text)
        self.show()

    @on(Worker.StateChanged)
    def job_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "migrate" or not event.worker.is_finished:
            return
        board = self.board
        if event.state == WorkerState.ERROR and board.running is not None:
            error = event.worker.error
            board.errors[board.running] = (
                error.message
                if isinstance(error, VecscopeError)
                else first_line(error or Exception())
            )
        board.running = None
        board.progress, board.percent, board.backup_progress = None, 0.0, None
        self.show()
        self.query_one(PlanForm).reload()
        if self._quit_after:
            self.app.exit()

    def action_cancel(self) -> None:
        if self.running != Step.BUILD:
            self.app.notify("Only a running build can be cancelled", timeout=3)
            return
        self._cancel.set()
        self.app.notify(
            "Cancelling the build: the server stops it and its invalid index is dropped",
            timeout=4,
        )

    def stop_and_quit(self) -> None:
        """Quit once the running step ends (a build is cancelled cleanly first)."""
        self._quit_after = True
        self._cancel.set()
        self.app.notify("Quitting when the running step has stopped…", timeout=10)

    # --- rollback, leftovers, journals -----------------------------------------------

    def action_rollback(self) -> None:
        if self._busy():
            return
        mig = self.board.mig
        if mig is None:
            self.app.notify("Nothing to roll back: no step has run", timeout=3)
            return
        if mig.rolled_back:
            self.app.notify("Already rolled back", timeout=3)
            return
        self.ask_rollback(mig)

    @work(
        exclusive=True,
        exit_on_error=False,
        group="migrate-ask",
        description="Asking before a rollback",
    )
    async def ask_rollback(self, mig: Migration) -> None:
        # The exact statements come from the catalog (a connection): off the event loop.
        try:
            statements = await asyncio.to_thread(mig.rollback_plan)
        except VecscopeError as e:
            self.app.notify(e.message, title="Cannot roll back", severity="error", timeout=8)
            return
        confirmed = await self.app.push_screen_wait(rollback_question(mig, statements))
        if confirmed and self.running is None:
            self.board.running = Step.ROLLBACK
            self.run_rollback(mig)
            self.show()

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="migrate",
        description="Rolling the migration back",
    )
    def run_rollback(self, mig: Migration) -> None:
        def say(text: str) -> None:
            self.post_message(Said(Step.ROLLBACK, text))

        self.post_message(StepStarted(Step.ROLLBACK))
        mig.remove_temporary_files(say)
        try:
            done = mig.rollback(say)
        finally:
            self._look(mig, say)  # finished or not: what the catalog holds now
        self.post_message(StepFinished(Step.ROLLBACK, done))

    def _look(self, mig: Migration, say: Callable[[str], None]) -> None:
        """Read where ``mig`` stands off the catalog (in a thread worker): the checklist
        shows that after a rollback, not the steps the journal once recorded done."""
        try:
            seen = session_of(self.app).run(lambda conn: look(conn, mig.spec))
        except (VecscopeError, psycopg.Error) as e:
            say(f"could not read the indexes back from the catalog: {first_line(e)}")
            return
        self.post_message(CatalogSeen(mig, seen.phase))

    def _leftovers(self) -> tuple[str, ...]:
        result = self.board.results.get(Step.PREFLIGHT)
        return result.leftovers if isinstance(result, Preflight) else ()

    def action_drop_leftovers(self) -> None:
        names = self._leftovers()
        if not names or self._busy():
            return
        self.ask_drop(names)

    @work(
        exclusive=True,
        exit_on_error=False,
        group="migrate-ask",
        description="Asking before dropping leftovers",
    )
    async def ask_drop(self, names: tuple[str, ...]) -> None:
        ok = await self.app.push_screen_wait(drop_question(names))
        if ok and self.running is None:
            self._start((Step.PREFLIGHT,), Answers(), drop=names)

    def action_open_journal(self) -> None:
        if not self._busy():
            self.list_journals(offer=False)

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="migrate-journals",
        description="Reading the migration journals",
    )
    def list_journals(self, offer: bool) -> None:
        entries = journal_entries(session_of(self.app).target, newest_unfinished=offer)
        self.post_message(JournalsListed(entries, offer))

    @on(JournalsListed)
    def journals_listed(self, event: JournalsListed) -> None:
        if event.offer:
            if event.entries and self.board.mig is None and self.running is None:
                path, line, _ = event.entries[0]
                screen = resume_question(path, line)
                self.app.push_screen(screen, lambda yes: self._resume(path) if yes else None)
            return
        if not event.entries:
            self.app.notify(f"No migration journal of this database in {jn.migrations_dir()}")
            return
        self.app.push_screen(JournalsScreen(event.entries), self._resume)

    def _resume(self, path: Path | None) -> None:
        if path is None or self._busy():
            return
        self.board.running = "reconcile"
        self.open_journal(path)
        self.show()

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="migrate",
        description="Opening and reconciling a migration journal",
    )
    def open_journal(self, path: Path) -> None:
        mig = Migration.open(path, session_of(self.app).target)
        found = mig.reconcile()
        self.post_message(MigrationOpened(mig, mig.results(), found, resumed=True))
        if mig.status(Step.ROLLBACK) != Status.PENDING:

            def say(text: str) -> None:
                self.post_message(Said(Step.ROLLBACK, text))

            self._look(mig, say)

    # --- showing ---------------------------------------------------------------------

    @on(Checklist.StepHighlighted)
    def step_highlighted(self) -> None:
        self.show()

    def action_focus_checklist(self) -> None:
        self.query_one(Checklist).focus()

    def show(self) -> None:
        """Bring every part of the screen up to date with the board."""
        board = self.board
        checklist = self.query_one(Checklist)
        checklist.show(states(board), notes(board))
        self.query_one("#migrate-bar", Static).update(top_line(board))
        journal = self.query_one("#journal-path", Static)
        journal.update(journal_text(board, journal.content_size.width or 40))
        self.query_one(PlanForm).set_locked(board.in_progress() or board.running is not None)
        self.query_one(StepPanel).show(step_view(board, checklist.selected_key))
        self.refresh_bindings()
