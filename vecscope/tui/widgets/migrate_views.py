"""What the Migrate screen knows of its migration, and how each part of it is shown.

:class:`Board` is the screen's state (the plan, the journaled migration, the results and
logs of the steps run in this session, the live build progress); the functions turn it
into the checklist's marks and notes, the top line, and the panel's :class:`StepView`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from textual.content import Content

from vecscope.core.fmt import human_bytes
from vecscope.core.migrate import engine as eng
from vecscope.core.migrate.backup import BackupRecord
from vecscope.core.migrate.build import BuildOutcome, BuildProgress
from vecscope.core.migrate.engine import Migration
from vecscope.core.migrate.plan import (
    KIND_REBUILD,
    MigrationSpec,
    Statement,
    describe,
    rollback_statements,
)
from vecscope.core.migrate.plan import steps as plan_steps
from vecscope.core.migrate.preflight import Preflight
from vecscope.core.migrate.verify import Figures, Verification
from vecscope.tui.migrate_steps import STEP_KEYS, TITLES, StepResult, display_status, remaining
from vecscope.tui.widgets.migrate_step import StepView
from vecscope.tui.widgets.step_results import build_progress_lines, kv, muted, result_lines

ROLLBACK_ACTIONS = (
    "stops any build of this table that an interrupted run left behind",
    "before cutover: drops the new index; the old one was never touched",
    "after cutover: recreates the old index from its recorded definition, then drops the new",
)


@dataclass
class Board:
    """The Migrate screen's state; only the screen's message handlers change it."""

    spec: MigrationSpec | None = None
    mig: Migration | None = None
    results: dict[str, StepResult | list[str] | None] = field(default_factory=dict)
    logs: dict[str, list[str]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    progress: BuildProgress | None = None
    #: The build's last percentage (waiting phases count nothing: the bar stays put).
    percent: float = 0.0
    #: The step a worker runs now (also "rollback" and "reconcile").
    running: str | None = None
    plan_error: str | None = None

    def reset(self, spec: MigrationSpec | None, mig: Migration | None = None) -> None:
        self.spec, self.mig = spec, mig
        self.results, self.logs, self.errors = {}, {}, {}
        self.progress, self.percent = None, 0.0

    def status(self, key: str) -> str:
        if self.running == key:
            return eng.RUNNING
        if self.mig is None and key == "cutover" and self.spec and self.spec.kind != KIND_REBUILD:
            return eng.NOT_NEEDED
        return display_status(self.mig, self.spec is not None, key)

    def blocked(self, key: str) -> str | None:
        """Why ``key`` cannot run now; the engine decides once a journal exists."""
        if self.mig is not None:
            return self.mig.blocked_reason(key)
        if self.spec is None:
            return "plan first: pick the index to migrate"
        if key == "cutover" and self.spec.kind != KIND_REBUILD:
            return "nothing to cut over: no old index is dropped"
        return (
            None if key in ("plan", "preflight") else "run preflight first (it starts the journal)"
        )

    def in_progress(self) -> bool:
        """A journaled migration that changed, or may have changed, the database."""
        mig = self.mig
        if mig is None or mig.finished:
            return False
        return mig.status("build") != eng.PENDING or mig.state.interrupted is not None

    def to_run(self) -> tuple[str, ...]:
        """What "run all remaining" runs, in order."""
        if self.spec is None:
            return ()
        if self.mig is not None:
            return remaining(self.mig)
        return tuple(k for k in eng.ORDER[1:] if k != "cutover" or self.spec.kind == KIND_REBUILD)

    def may_force_cutover(self) -> bool:
        """Verification did not pass, and the user may still cut over (typing the name)."""
        mig = self.mig
        return (
            mig is not None
            and mig.spec.kind == KIND_REBUILD
            and mig.status("verify") == eng.FAILED
            and not mig.state.done("cutover")
            and not mig.rolled_back
        )

    def preflight_data(self) -> dict[str, Any]:
        return dict(self.mig.state.data("preflight")) if self.mig is not None else {}


def _note(key: str, result: StepResult | list[str] | None) -> str:
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


def notes(board: Board) -> dict[str, str]:
    """Short notes beside the checklist's steps."""
    out = {key: _note(key, board.results.get(key)) for key in STEP_KEYS}
    spec = board.spec
    if spec is not None:
        out["plan"] = f"-> {spec.method}" if spec.kind != "reindex" else "reindex"
    if board.running == "build" and board.progress is not None:
        p = board.progress
        out["build"] = f"{p.percent:.0f}%" if p.percent is not None else p.phase[:14]
    return out


def states(board: Board) -> dict[str, str]:
    return {key: board.status(key) for key in STEP_KEYS}


def top_line(board: Board) -> Content:
    spec, mig = board.spec, board.mig
    if spec is None:
        return muted(
            "Pick the index to migrate: m on the Indexes screen (F2), or the source in the "
            "plan form below"
        )
    if board.running:
        where = (f"{TITLES.get(board.running, board.running)} running", "$warning bold")
    elif mig is None:
        where = ("planned", "$text-muted")
    elif mig.rolled_back:
        where = ("rolled back", "$warning bold")
    elif mig.finished:
        where = ("finished", "$success bold")
    else:
        nxt = mig.next_step()
        where = (f"next: {TITLES.get(nxt or '', nxt or 'nothing')}", "$text-muted")
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


def _hint(board: Board, key: str, state: str) -> Content:
    spec = board.spec
    if key == "plan":
        text = "change a field and press enter (or Plan); tab moves between fields"
    elif state == eng.RUNNING:
        text = (
            "c cancels the build: the server stops it, its invalid index is dropped"
            if key == "build"
            else "running…"
        )
    elif key == "rollback":
        table = spec.table if spec else "the table"
        text = (
            "rolled back: plan a new migration"
            if state == eng.DONE
            else f"x (or enter) shows the rollback's SQL; you type {table} to run it"
        )
    elif state == eng.DONE:
        text = "done · x rolls the whole migration back"
    elif state == eng.NOT_NEEDED:
        text = ""
    elif key == "cutover" and spec is not None and spec.old_name:
        text = f"enter asks you to type {spec.old_name}, then drops it · a runs all remaining"
    elif key == "backup":
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
    if spec.kind == KIND_REBUILD:
        lines.append(kv("the old index", f"{spec.old_name} serves every query until cutover"))
    return lines


def step_view(board: Board, key: str) -> StepView:
    """The panel's view of step ``key``."""
    spec, mig = board.spec, board.mig
    state = board.status(key)
    error = board.errors.get(key)
    if mig is not None and state == eng.FAILED:
        error = str(mig.state.data(key).get("error") or error or "") or None
    base = StepView(
        key=key,
        title=TITLES[key],
        state=state,
        blocked=board.blocked(key) if key not in ("plan", "rollback") else None,
        log=tuple(board.logs.get(key, ())),
        error=error,
        hint=_hint(board, key, state),
    )
    if key == "plan":
        return replace(
            base,
            result=tuple(_plan_lines(board)),
            statements=tuple(rollback_statements(spec, after_cutover=False) if spec else ()),
            sql_title="Rollback before cutover (x)",
        )
    if key == "rollback":
        sql: list[Statement] = []
        if mig is not None:
            sql = [Statement(s) for s in mig.rollback_plan()]
        elif spec is not None:
            sql = rollback_statements(spec, after_cutover=False)
        done = result_lines(key, board.results.get(key), spec, {}) if spec else []
        return replace(
            base,
            statements=tuple(sql),
            actions=ROLLBACK_ACTIONS,
            result=tuple(done),
            sql_title="Rollback runs",
        )
    if spec is None:
        return base
    step = next((s for s in (mig.steps() if mig else plan_steps(spec)) if s.key == key), None)
    preflight = board.preflight_data()
    percent: float | None = None
    if key == "build" and state == eng.RUNNING:
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
    )


def _live_build(board: Board, spec: MigrationSpec, preflight: dict[str, Any]) -> list[Content]:
    if board.progress is None:
        return [muted("starting…")]
    predicted = preflight.get("predicted_seconds")
    graph = preflight.get("predicted_graph_bytes")
    return build_progress_lines(
        board.progress,
        spec,
        float(predicted) if isinstance(predicted, int | float) else None,
        int(graph) if isinstance(graph, int) else None,
    )
