"""What the Migrate screen knows of its migration, and how each part of it is shown.

:class:`Board` is the screen's state (the plan, the journaled migration, the results and
logs of the steps run in this session, the live build progress); the functions turn it
into the checklist's marks and notes, the top line, and the panel's :class:`StepView`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from textual.content import Content

from vecscope.core.fmt import human_bytes
from vecscope.core.migrate.backup import BackupProgress, BackupRecord
from vecscope.core.migrate.build import BuildOutcome, BuildProgress
from vecscope.core.migrate.engine import Migration
from vecscope.core.migrate.observe import Phase
from vecscope.core.migrate.plan import MigrationSpec, Statement, describe
from vecscope.core.migrate.preflight import Preflight
from vecscope.core.migrate.records import PreflightSummary, StepResult
from vecscope.core.migrate.render import rollback_statements
from vecscope.core.migrate.states import CHECKLIST, NOT_PLANNED, Kind, Status, Step, title
from vecscope.core.migrate.verify import Figures, Verification
from vecscope.tui.widgets.migrate_step import StepView
from vecscope.tui.widgets.step_results import build_progress_lines, kv, muted, result_lines

ROLLBACK_ACTIONS = (
    "stops any build of this table that an interrupted run left behind",
    "before cutover: drops the new index; the old one was never touched",
    "after cutover: recreates the old index from its recorded definition, then drops the new",
)

#: What a worker runs: a step, or the reconciliation of an opened journal.
Job = Step | Literal["reconcile"]


@dataclass
class Board:
    """The Migrate screen's state; only the screen's message handlers change it.

    The migration itself (planned or journaled) decides every status and what may run;
    the board adds what this session saw: results, logs, errors, the live build.
    """

    plan: Migration | None = None
    results: dict[Step, StepResult | list[str] | None] = field(default_factory=dict)
    logs: dict[Step, list[str]] = field(default_factory=dict)
    errors: dict[Job, str] = field(default_factory=dict)
    progress: BuildProgress | None = None
    #: The dump's progress while the backup step runs.
    backup_progress: BackupProgress | None = None
    #: The build's last percentage (waiting phases count nothing: the bar stays put).
    percent: float = 0.0
    #: What a worker runs now.
    running: Job | None = None
    plan_error: str | None = None
    #: Why no migration can run on this connection at all (a hot standby, read only).
    refused: str | None = None
    #: Where the catalog says the migration stands, read after a rollback ran (done or
    #: not): the checklist shows what the database holds, not what the journal once did.
    seen: Phase | None = None

    @property
    def spec(self) -> MigrationSpec | None:
        return self.plan.spec if self.plan is not None else None

    @property
    def mig(self) -> Migration | None:
        """The journaled migration (``None`` while it is only planned)."""
        return self.plan if self.plan is not None and self.plan.journaled else None

    def reset(self, plan: Migration | None) -> None:
        self.plan = plan
        self.results, self.logs, self.errors = {}, {}, {}
        self.progress, self.percent, self.backup_progress = None, 0.0, None
        self.seen = None

    def status(self, key: Step) -> Status:
        if self.running == key:
            return Status.RUNNING
        if self.plan is None:
            return Status.PENDING
        status = self.plan.shown_status(key)
        if key in self.undone():
            return Status.PENDING
        return _IN_EFFECT.get((self.seen, key), status) if self._after_rollback() else status

    def _after_rollback(self) -> bool:
        """A rollback ran on this migration (finished or not)."""
        mig = self.mig
        return mig is not None and (mig.rolled_back or mig.status(Step.ROLLBACK) == Status.FAILED)

    def undone(self) -> frozenset[Step]:
        """Steps a rollback took back: the journal says they ran, the catalog shows none
        of what they made (the new index gone, the old one whole again).

        After a finished rollback, without a look at the catalog: the rollback checked the
        old index is back and the new one gone before it recorded itself done.
        """
        mig = self.mig
        if mig is None or mig.spec.kind == Kind.REINDEX or not self._after_rollback():
            return frozenset()  # a REINDEX is not undone: the index was rebuilt in place
        seen = self.seen
        if seen is None:
            seen = Phase.BEFORE_BUILD if mig.rolled_back else None
        gone = _UNDONE.get(seen, ()) if seen is not None else ()
        ran = (Status.DONE, Status.FAILED, Status.RUNNING)
        return frozenset(k for k in gone if mig.status(k) in ran)

    def blocked(self, key: Step) -> str | None:
        """Why ``key`` cannot run now (the migration decides)."""
        return self.plan.blocked_reason(key) if self.plan is not None else NOT_PLANNED

    def in_progress(self) -> bool:
        """A journaled migration that changed, or may have changed, the database."""
        return self.plan is not None and self.plan.in_progress

    def to_run(self) -> tuple[Step, ...]:
        """What "run all remaining" runs, in order."""
        return self.plan.remaining() if self.plan is not None else ()

    def may_force_cutover(self) -> bool:
        """Verification did not pass, and the user may still cut over (typing the name)."""
        return self.plan is not None and self.plan.may_force_cutover()

    def preflight(self) -> PreflightSummary | None:
        return self.plan.preflight_summary() if self.plan is not None else None


#: What a rollback leaves undone, by where the catalog says the migration stands after it.
_UNDONE: dict[Phase, tuple[Step, ...]] = {
    Phase.BEFORE_BUILD: (Step.BUILD, Step.VERIFY, Step.CUTOVER),
    Phase.BUILD_UNFINISHED: (Step.VERIFY, Step.CUTOVER),
    Phase.BUILT: (Step.CUTOVER,),
}
#: After a rollback that stopped half way, what the catalog shows in effect, whatever the
#: journal says: the new index there but invalid, or valid; the old index half-dropped.
_IN_EFFECT: dict[tuple[Phase | None, Step], Status] = {
    (Phase.BUILD_UNFINISHED, Step.BUILD): Status.FAILED,
    (Phase.BUILT, Step.BUILD): Status.DONE,
    (Phase.OLD_HALF_DROPPED, Step.BUILD): Status.DONE,
    (Phase.OLD_HALF_DROPPED, Step.CUTOVER): Status.FAILED,
}


def _note(key: Step, result: StepResult | list[str] | None) -> str:
    if isinstance(result, Preflight):
        failed = len(result.failed)
        return f"{failed} FAIL" if failed else "passed"
    if isinstance(result, BackupRecord):
        return result.kind + (f", {human_bytes(result.bytes)}" if result.bytes else "")
    if isinstance(result, Figures):
        return f"recall {result.recall:.3f}"
    if isinstance(result, BuildOutcome):
        return "cancelled" if result.cancelled else f"{result.seconds:.1f} s"
    if isinstance(result, Verification):
        return "PASSED" if result.passed else "NOT PASSED"
    return ""


def notes(board: Board) -> dict[Step, str]:
    """Short notes beside the checklist's steps."""
    out = {key: _note(key, board.results.get(key)) for key in CHECKLIST}
    for key in board.undone():
        out[key] = "undone"
    spec = board.spec
    if spec is not None:
        out[Step.PLAN] = f"-> {spec.method}" if spec.kind != Kind.REINDEX else "reindex"
    if board.running == Step.BUILD and board.progress is not None:
        p = board.progress
        out[Step.BUILD] = f"{p.percent:.0f}%" if p.percent is not None else p.phase[:14]
        if p.partition is not None:
            out[Step.BUILD] = f"{p.partition_number}/{p.partitions} {out[Step.BUILD]}"
    return out


def states(board: Board) -> dict[Step, Status]:
    return {key: board.status(key) for key in CHECKLIST}


def top_line(board: Board) -> Content:
    spec, mig = board.spec, board.mig
    if board.refused is not None and board.running is None:
        return Content.assemble(
            ("✗ cannot migrate here: ", "$error bold"), (board.refused, "$error")
        )
    if spec is None:
        return muted(
            "Pick the index to migrate: m on the Indexes screen (F2), or the source in the "
            "plan form below"
        )
    if board.running:
        where = (f"{title(board.running)} running", "$warning bold")
    elif mig is None:
        where = ("planned", "$text-muted")
    elif mig.rolled_back:
        where = ("rolled back", "$warning bold")
    elif mig.finished:
        where = ("finished", "$success bold")
    else:
        nxt = mig.next_step()
        where = (f"next: {title(nxt) if nxt else 'nothing'}", "$text-muted")
    return Content.assemble(
        where,
        ("  │  ", "$text-muted"),
        (f"{spec.schema}.{spec.table}  ", "bold"),
        describe(spec),
    )


def journal_text(board: Board, width: int = 40) -> Content:
    """The journal's file name, and its folder shortened to fit the column."""
    if board.mig is None:
        return muted("journal: written when the first step runs")
    path = board.mig.path
    folder = str(path.parent)
    home = str(Path.home())
    if folder == home or folder.startswith(home + "/"):
        folder = "~" + folder[len(home) :]
    if len(folder) > width - 3:
        folder = "…" + folder[-(width - 4) :]
    return Content.assemble(
        ("journal\n", "$text-muted"), path.name, (f"\nin {folder}", "$text-muted")
    )


def _hint(board: Board, key: Step, state: Status) -> Content:
    spec = board.spec
    if key == Step.PLAN and board.refused is not None:
        text = "planning is disabled on this connection: the reason is above"
    elif key == Step.PLAN:
        text = "change a field and press enter (or Plan); tab moves between fields"
    elif key in board.undone():
        text = "undone by the rollback: the database is as it was before this step"
    elif state == Status.RUNNING and key == Step.BUILD:
        text = "c cancels the build: the server stops it, its invalid index is dropped"
    elif state == Status.RUNNING and key == Step.BACKUP and board.backup_progress is not None:
        text = "pg_dump runs; the bar follows the bytes written against the catalog's size"
    elif state == Status.RUNNING:
        text = "running…"
    elif key == Step.ROLLBACK:
        table = spec.table if spec else "the table"
        text = (
            "rolled back: plan a new migration"
            if state == Status.DONE
            else f"x (or enter) shows the rollback's SQL; you type {table} to run it"
        )
    elif state == Status.DONE:
        text = "done · x rolls the whole migration back"
    elif state == Status.NOT_NEEDED:
        text = ""
    elif key == Step.CUTOVER and spec is not None and spec.old_name:
        text = f"enter asks you to type {spec.old_name}, then drops it · a runs all remaining"
    elif key == Step.BACKUP:
        text = "enter asks: dump the table, dump the database, or name a backup you have"
    else:
        text = "enter (or r) runs this step · a runs all remaining steps"
    return muted(text)


def _plan_lines(board: Board) -> list[Content]:
    spec = board.spec
    if spec is None:
        return []
    lines = [
        kv("migration", describe(spec)),
        kv(
            "column",
            f"{spec.schema}.{spec.table}.{spec.column} ({spec.column_type}"
            + (f", {spec.dims} dims)" if spec.dims else ")"),
        ),
        kv("rows", f"~{spec.rows:,} (planner estimate)"),
        kv("lock_timeout", f"{spec.lock_timeout_ms} ms, {spec.retries} retries"),
    ]
    if spec.kind == Kind.REBUILD:
        lines.append(kv("the old index", f"{spec.old_name} serves every query until cutover"))
    return lines


def step_view(board: Board, key: Step) -> StepView:
    """The panel's view of step ``key``."""
    spec, mig, plan = board.spec, board.mig, board.plan
    state = board.status(key)
    error = board.errors.get(key)
    if mig is not None and state == Status.FAILED:
        error = mig.error(key) or error or None
    base = StepView(
        key=key,
        title=title(key),
        state=state,
        blocked=board.blocked(key) if key not in (Step.PLAN, Step.ROLLBACK) else None,
        log=tuple(board.logs.get(key, ())),
        error=error,
        hint=_hint(board, key, state),
    )
    if key == Step.PLAN:
        return replace(
            base,
            result=tuple(_plan_lines(board)),
            statements=tuple(rollback_statements(spec, after_cutover=False) if spec else ()),
            sql_title="Rollback before cutover (x)",
        )
    if key == Step.ROLLBACK:
        sql = plan.rollback_statements() if plan is not None else []
        if mig is not None:
            sql = [Statement(st.sql) for st in sql]
        done = result_lines(key, board.results.get(key), spec, None) if spec else []
        return replace(
            base,
            statements=tuple(sql),
            actions=ROLLBACK_ACTIONS,
            result=tuple(done),
            sql_title="Rollback runs",
        )
    if plan is None or spec is None:
        return base
    step = plan.step(key)
    preflight = board.preflight()
    percent: float | None = None
    if key == Step.BUILD and state == Status.RUNNING:
        percent = board.percent
        result = _live_build(board, spec, preflight)
    else:
        result = result_lines(key, board.results.get(key), spec, preflight)
    return replace(
        base,
        statements=step.statements if step else (),
        actions=step.actions if step else (),
        result=tuple(result),
        percent=percent,
        backup=board.backup_progress if key == Step.BACKUP and state == Status.RUNNING else None,
    )


def _live_build(
    board: Board, spec: MigrationSpec, preflight: PreflightSummary | None
) -> list[Content]:
    if board.progress is None:
        return [muted("starting…")]
    return build_progress_lines(
        board.progress,
        spec,
        preflight.predicted_seconds if preflight else None,
        preflight.predicted_graph_bytes if preflight else None,
    )
