"""The wizard's engine: runs the steps in order, journals them, resumes and rolls back.

The CLI and the Migrate screen both drive a :class:`Migration` and ask it rather than
decide: a migration exists from the moment it is planned (no journal yet; the first step
writes it, :meth:`Migration.begin`), and every rule of the wizard is here. Each step
checks that the steps it depends on are done (nothing is built before a verified backup
exists, the old index is dropped only after the new one is proven), writes its intent to
the journal, runs, and writes its outcome. :meth:`Migration.reconcile` is what ``resume``
does first: it compares the journal with the database and puts both back in a known state.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

from vecscope.core import failpoints
from vecscope.core.catalog.inventory import fetch_inventory
from vecscope.core.connection import ConnectionTarget, connect
from vecscope.core.errors import BadInputError, MigrationError, VecscopeError
from vecscope.core.migrate import backup as bk
from vecscope.core.migrate import build as bld
from vecscope.core.migrate import journal as jn
from vecscope.core.migrate import preflight as pf
from vecscope.core.migrate import recovery
from vecscope.core.migrate import verify as vf
from vecscope.core.migrate.ddl import (
    drop_if_invalid,
    drop_index,
    open_ddl_session,
    require_own_sessions,
    stop_orphans,
    with_retries,
)
from vecscope.core.migrate.observe import look
from vecscope.core.migrate.plan import MigrationSpec, Statement, StepPlan
from vecscope.core.migrate.records import (
    BackupChoice,
    CutoverResult,
    PreflightSummary,
    RunOptions,
    StepResult,
    build_json,
    journaled_results,
)
from vecscope.core.migrate.render import (
    build_statement,
    rename_sql,
    rollback_statements,
    steps,
)
from vecscope.core.migrate.states import BACKUP_KINDS, ORDER, Kind, Status, Step

__all__ = ["CutoverResult", "Migration"]

Say = Callable[[str], None]

_STATUS_OF = {jn.INTENT: Status.RUNNING, jn.DONE: Status.DONE, jn.FAILED: Status.FAILED}


class Migration:
    """One migration: planned (no journal yet) or journaled; see the module docstring.

    Every rule of the wizard is decided here: a step's status, whether it may run and
    what blocks it, what "run all" runs next, whether a cutover may be forced, what a
    rollback undoes from each state. The CLI and the Migrate screen ask and show.
    """

    def __init__(
        self,
        target: ConnectionTarget,
        journal: jn.Journal | None,
        *,
        spec: MigrationSpec | None = None,
        options: RunOptions | None = None,
    ) -> None:
        self.target = target
        self._journal = journal
        if journal is not None:
            self.state = journal.read()
        else:
            assert spec is not None, "a migration without a journal needs its spec"
            self.state = jn.JournalState.planned(spec)
        self._options = options

    # --- opening --------------------------------------------------------------------

    @classmethod
    def planned(
        cls, target: ConnectionTarget, spec: MigrationSpec, options: RunOptions | None = None
    ) -> Migration:
        """A migration planned, not journaled: nothing is written, nothing can run but
        :meth:`begin` (the first step begins it)."""
        return cls(target, None, spec=spec, options=options or RunOptions())

    @classmethod
    def start(
        cls,
        target: ConnectionTarget,
        spec: MigrationSpec,
        *,
        journal_path: Path | None = None,
        options: RunOptions | None = None,
    ) -> Migration:
        """Write the journal's header and the plan; nothing touches the database.

        Raises:
            BadInputError: ``target`` goes through a transaction pooler (nothing written).
        """
        require_own_sessions(target)
        with connect(target) as conn:
            server = f"{target.describe()} (PostgreSQL {conn.info.server_version})"
        journal = jn.Journal.create(spec, target, server, journal_path)
        journal.record(Step.PLAN, jn.DONE, options=(options or RunOptions()).to_json())
        return cls(target, journal)

    def begin(self, journal_path: Path | None = None) -> Migration:
        """The journaled migration this plan becomes (itself when already journaled)."""
        if self.journaled:
            return self
        return Migration.start(
            self.target, self.spec, journal_path=journal_path, options=self.options
        )

    @classmethod
    def open(cls, path: Path, target: ConnectionTarget | None = None) -> Migration:
        """Open a journal to resume or roll back; the connection defaults to the journal's."""
        state = jn.read(path)
        if target is None or not (target.dsn or target.host or target.dbname):
            target = ConnectionTarget(dsn=state.conninfo)
        return cls(target, jn.Journal(path))

    # --- state ----------------------------------------------------------------------

    @property
    def journaled(self) -> bool:
        return self._journal is not None

    @property
    def journal(self) -> jn.Journal:
        """The journal (a planned migration has none yet: :meth:`begin` writes it)."""
        if self._journal is None:
            raise BadInputError("the migration is only planned: no journal yet")
        return self._journal

    @property
    def spec(self) -> MigrationSpec:
        return self.state.spec

    @property
    def path(self) -> Path:
        return self.state.path

    @property
    def queries_path(self) -> Path:
        return self.path.with_suffix(".queries.npz")

    @property
    def backup_dir(self) -> Path:
        """Where the dump goes: ``--backup-dir``, else ``backups/`` beside the journal."""
        chosen = self.options.backup_dir
        return Path(chosen) if chosen else self.path.parent / "backups"

    def backup_dirs_used(self) -> set[Path]:
        """Every folder a backup of this migration was started in (the journal says)."""
        return {
            Path(str(e["data"]["dir"]))
            for e in self.state.events
            if e.get("step") == Step.BACKUP
            and isinstance(e.get("data"), dict)
            and e["data"].get("dir")
        }

    @property
    def options(self) -> RunOptions:
        """How the run goes (``--backup``, ``--max-memory``…), as planned or journaled."""
        if self._options is not None:
            return self._options
        return RunOptions.from_json(self.state.data(Step.PLAN).get("options"))

    def steps(self) -> tuple[StepPlan, ...]:
        return steps(self.spec)

    def step(self, key: Step) -> StepPlan | None:
        return next((s for s in self.steps() if s.key == key), None)

    def record(self, step: Step, mark: jn.Mark, **data: Any) -> None:
        """Write one step event to the journal and read the state back."""
        self.journal.record(step, mark, **data)
        self.state = self.journal.read()

    def status(self, key: Step) -> Status:
        if key == Step.CUTOVER and self.spec.kind != Kind.REBUILD:
            return Status.NOT_NEEDED
        if key == Step.PLAN and not self.journaled:
            return Status.DONE
        rec = self.state.steps.get(key)
        if rec is None:
            return Status.PENDING
        return _STATUS_OF.get(rec.state, Status.PENDING)

    def shown_status(self, key: Step) -> Status:
        """:meth:`status`, with a preflight that recorded failed checks shown failed."""
        status = self.status(key)
        if key == Step.PREFLIGHT and status == Status.DONE:
            summary = self.preflight_summary()
            if summary is not None and summary.failed:
                return Status.FAILED
        return status

    @property
    def rolled_back(self) -> bool:
        return self.state.done(Step.ROLLBACK)

    @property
    def finished(self) -> bool:
        last = Step.CUTOVER if self.spec.kind == Kind.REBUILD else Step.VERIFY
        return self.rolled_back or self.state.done(last)

    @property
    def may_roll_back(self) -> bool:
        """Something was journaled and not rolled back yet."""
        return self.journaled and not self.rolled_back

    @property
    def in_progress(self) -> bool:
        """Journaled, unfinished, and the database changed or may have (a build began)."""
        if not self.journaled or self.finished:
            return False
        return self.status(Step.BUILD) != Status.PENDING or self.state.interrupted is not None

    def blocked_reason(self, key: Step) -> str | None:
        """Why ``key`` cannot run now (``None``: it can)."""
        kind = self.spec.kind
        if not self.journaled:
            if key == Step.CUTOVER and kind != Kind.REBUILD:
                return "nothing to cut over: no old index is dropped"
            if key in (Step.PLAN, Step.PREFLIGHT):
                return None
            return "run preflight first (it starts the journal)"
        if self.rolled_back:
            return "the migration was rolled back; plan a new one"
        if key == Step.PREFLIGHT:
            return (
                "the build is done: preflight is behind us" if self.state.done(Step.BUILD) else None
            )
        if key == Step.BACKUP:
            if not self.state.done(Step.PREFLIGHT):
                return "run preflight first"
            summary = self.preflight_summary()
            if summary is not None and summary.failed:
                return "preflight failed: fix what it lists and run it again"
            return None
        if key in (Step.BASELINE, Step.BUILD) and not self.state.done(Step.BACKUP):
            return "no verified backup yet: the backup step comes first"
        if key == Step.BUILD and self.state.done(Step.BUILD):
            return "already built"
        if key == Step.VERIFY and not self.state.done(Step.BUILD):
            return "nothing built yet"
        if key == Step.CUTOVER:
            if kind != Kind.REBUILD:
                return "nothing to cut over: no old index is dropped"
            if not self.state.done(Step.VERIFY):
                return "verify first: the old index is dropped only after the new one is proven"
            if self.state.done(Step.CUTOVER):
                return "already cut over"
        return None

    def may_force_cutover(self) -> bool:
        """Verification did not pass, and the user may still cut over (confirming it)."""
        return (
            self.spec.kind == Kind.REBUILD
            and self.status(Step.VERIFY) == Status.FAILED
            and not self.state.done(Step.CUTOVER)
            and not self.rolled_back
        )

    def _require(self, key: Step) -> None:
        reason = self.blocked_reason(key)
        if reason:
            raise BadInputError(f"{key}: {reason}")

    def next_step(self) -> Step | None:
        """The next step a resumed run should take (``None``: nothing left)."""
        if self.state.interrupted == Step.ROLLBACK or self.status(Step.ROLLBACK) == Status.FAILED:
            return Step.ROLLBACK
        if self.finished:
            return None
        for key in ORDER[1:]:
            if self.status(key) in (Status.DONE, Status.NOT_NEEDED):
                continue
            return key
        return None

    def remaining(self) -> tuple[Step, ...]:
        """The steps a "run all" takes from here, in order (rollback never)."""
        if self.finished or self.next_step() == Step.ROLLBACK:
            return ()
        return tuple(k for k in ORDER[1:] if self.status(k) not in (Status.DONE, Status.NOT_NEEDED))

    # --- what the journal says, typed -----------------------------------------------

    def error(self, key: Step) -> str | None:
        """The error the journal recorded for ``key``'s last failure."""
        return str(self.state.data(key).get("error") or "") or None

    def preflight_summary(self) -> PreflightSummary | None:
        if Step.PREFLIGHT not in self.state.steps:
            return None
        return PreflightSummary.from_json(self.state.data(Step.PREFLIGHT))

    def baseline_note(self) -> str:
        """Why the baseline measured nothing (its step is done with no figures)."""
        return str(self.state.data(Step.BASELINE).get("note", "not measured"))

    def results(self) -> dict[Step, StepResult | None]:
        """What the journal knows of each finished step (a resumed migration shows it)."""
        return journaled_results(self.state)

    # --- steps ----------------------------------------------------------------------

    def preflight_as_planned(self) -> pf.Preflight:
        """Preflight with the run's options (memory cap, maintenance_work_mem, cores)."""
        options = self.options
        return self.preflight(
            cores=options.server_cores,
            memory_cap_kb=options.memory_cap_kb,
            maintenance_work_mem_kb=options.maintenance_work_mem_kb,
            backup_kind=options.backup_choice.kind,
            backup_dir=self.backup_dir,
        )

    def backup_as_planned(
        self, choice: BackupChoice | None = None, *, on_progress: bk.OnProgress | None = None
    ) -> bk.BackupRecord:
        """The backup the run asked for (``choice`` overrides it), in its folder."""
        choice = choice or self.options.backup_choice
        return self.backup(choice.kind, self.backup_dir, choice.identifier, on_progress=on_progress)

    def preflight(self, **options: Any) -> pf.Preflight:
        self._require(Step.PREFLIGHT)
        self.record(Step.PREFLIGHT, jn.INTENT)
        try:
            with connect(self.target, statement_timeout_ms=None) as conn:
                inventory = fetch_inventory(conn)
                result = pf.run(conn, self.spec, inventory, **options)
        except VecscopeError as e:
            self.record(Step.PREFLIGHT, jn.FAILED, error=e.message)
            raise
        self.journal.update_spec(result.spec)
        self.record(Step.PREFLIGHT, jn.DONE, **PreflightSummary.of(result).to_json())
        return result

    def drop_leftovers(self, names: list[str], say: Say = lambda _: None) -> list[str]:
        """Drop invalid leftovers preflight found (only invalid ones; never a valid index)."""
        dropped = []
        conn, _ = open_ddl_session(self.target, self.spec, build=False)
        try:
            stop_orphans(conn, self.spec, say)
            for name in names:
                self.record(Step.CLEANUP, jn.INTENT, index=name)
                try:
                    if drop_if_invalid(conn, self.spec, name, say):
                        dropped.append(name)
                except VecscopeError as e:
                    self.record(Step.CLEANUP, jn.FAILED, index=name, error=e.message)
                    raise
                self.record(Step.CLEANUP, jn.DONE, index=name)
        finally:
            conn.close()
        return dropped

    def backup(
        self,
        kind: str,
        backup_dir: Path | None = None,
        identifier: str | None = None,
        *,
        on_progress: bk.OnProgress | None = None,
    ) -> bk.BackupRecord:
        self._require(Step.BACKUP)
        if kind not in BACKUP_KINDS:
            raise BadInputError("--backup must be table, database or confirmed:ID")
        directory = backup_dir or self.backup_dir
        self.record(Step.BACKUP, jn.INTENT, kind=kind, dir=str(directory))
        try:
            if kind == "confirmed":
                record = bk.confirmed(identifier or "")
            else:
                with connect(self.target) as conn:
                    version = conn.info.server_version
                label = bk.label_for(self.state.id, self.spec.table)
                record = bk.dump(
                    jn.safe_conninfo(self.target),
                    self.target.password(),
                    kind=kind,
                    schema=self.spec.schema,
                    table=self.spec.table,
                    backup_dir=directory,
                    server_version_num=version,
                    label=label,
                    partitions=self.spec.partition_tables,
                    on_progress=on_progress,
                )
        except VecscopeError as e:
            self.record(Step.BACKUP, jn.FAILED, error=e.message)
            raise
        self.record(Step.BACKUP, jn.DONE, record=record.to_json())
        return record

    def baseline(self) -> vf.Figures | None:
        self._require(Step.BASELINE)
        self.record(Step.BASELINE, jn.INTENT)
        try:
            figures = vf.baseline(self.target, self.spec, self.queries_path)
        except BadInputError as e:
            # A table the lab cannot measure still migrates; verify says what it could not.
            self.record(Step.BASELINE, jn.DONE, figures=None, note=e.message)
            return None
        except VecscopeError as e:
            self.record(Step.BASELINE, jn.FAILED, error=e.message)
            raise
        self.record(Step.BASELINE, jn.DONE, figures=figures.to_json())
        return figures

    def build(
        self,
        *,
        on_progress: Callable[[bld.BuildProgress], None] = lambda _: None,
        should_cancel: Callable[[], bool] = lambda: False,
        say: Say = lambda _: None,
    ) -> bld.BuildOutcome:
        self._require(Step.BUILD)
        summary = self.preflight_summary()
        predicted = summary.predicted_seconds if summary else None
        self.record(Step.BUILD, jn.INTENT, statement=build_statement(self.spec))
        try:
            outcome = bld.run(
                self.target,
                self.spec,
                on_progress=on_progress,
                should_cancel=should_cancel,
                say=say,
                predicted_s=predicted,
            )
        except VecscopeError as e:
            self.record(Step.BUILD, jn.FAILED, error=e.message)
            raise
        if outcome.cancelled:
            self.record(Step.BUILD, jn.FAILED, error="cancelled; the invalid index was dropped")
            return outcome
        self.record(Step.BUILD, jn.DONE, **build_json(outcome))
        return outcome

    def verify(self) -> vf.Verification:
        self._require(Step.VERIFY)
        self.record(Step.VERIFY, jn.INTENT)
        before = vf.Figures.from_json(self.state.data(Step.BASELINE).get("figures"))
        try:
            result = vf.verify(
                self.target,
                self.spec,
                before,
                self.queries_path if self.queries_path.exists() else None,
            )
        except VecscopeError as e:
            self.record(Step.VERIFY, jn.FAILED, error=e.message)
            raise
        self.record(Step.VERIFY, jn.DONE if result.passed else jn.FAILED, result=result.to_json())
        return result

    def cutover(self, *, force: bool = False, say: Say = lambda _: None) -> CutoverResult:
        """Drop the old index concurrently (with retries), rename, then a final EXPLAIN.

        Decided from the catalog, so a cutover interrupted anywhere (a drop that gave up
        and left the old index invalid, a kill after the rename) is finished by running it
        again. ``force`` cuts over after a verification that did not pass (confirmed).
        """
        spec = self.spec
        reason = self.blocked_reason(Step.CUTOVER)
        if reason and not (force and self.may_force_cutover()):
            raise BadInputError(f"cutover: {reason}")
        assert spec.old_name is not None
        self.record(Step.CUTOVER, jn.INTENT, drop=spec.old_name, rename=spec.rename)
        try:
            attempts = self._cut_over(say)
            failpoints.point("cutover.before_final_check")
            serving, verdict = vf.final_check(self.target, spec)
        except VecscopeError as e:
            self.record(Step.CUTOVER, jn.FAILED, error=e.message)
            raise
        except psycopg.Error as e:
            err = MigrationError(f"the cutover stopped: {e}")
            self.record(Step.CUTOVER, jn.FAILED, error=err.message)
            raise err from e
        result = CutoverResult(attempts, spec.rename, serving, verdict)
        self.record(Step.CUTOVER, jn.DONE, **result.to_json())
        return result

    def _cut_over(self, say: Say) -> int:
        """The cutover's statements, from where the catalog stands; returns drop attempts
        (0: the old index was already gone)."""
        spec = self.spec
        assert spec.old_name is not None
        conn, _ = open_ddl_session(self.target, spec, build=False)
        try:
            seen = look(conn, spec)
            if seen.stranger is not None:
                raise MigrationError(
                    f"{spec.old_name} is now an index vecscope did not make: refusing to drop it"
                )
            if seen.new is None or not seen.new.usable:
                raise MigrationError(
                    f"{spec.new_name} is not valid: refusing to drop the old index"
                )
            if seen.renamed:
                say(f"{spec.old_name} is already the new index: only the final check remains")
                return 0
            attempts = 0
            if seen.old is not None:
                if not seen.old.usable:
                    say(f"{spec.old_name} was left half-dropped: finishing the drop")
                failpoints.point("cutover.before_drop")
                attempts = drop_index(conn, spec, spec.old_name, say=say)
            failpoints.point("cutover.after_drop")
            if spec.rename:
                with_retries(conn, rename_sql(spec, spec.new_name, spec.old_name), spec, say=say)
                failpoints.point("cutover.after_rename")
            return attempts
        finally:
            conn.close()

    # --- rollback and resume --------------------------------------------------------

    def rollback_statements(self) -> list[Statement]:
        """What a rollback would run, judged from the journal alone (no connection: for
        display while nothing runs). :meth:`rollback_plan` asks the catalog."""
        after = self.status(Step.CUTOVER) in (Status.DONE, Status.RUNNING, Status.FAILED)
        return rollback_statements(self.spec, after_cutover=after)

    def rollback_plan(self) -> list[str]:
        """Exactly the statements :meth:`rollback` would run now, from the catalog."""
        return [st.sql for st in recovery.planned_rollback(self)]

    def rollback(self, say: Say = lambda _: None) -> list[str]:
        """Undo the migration from wherever it is; returns what was done."""
        return recovery.rollback(self, say)

    def remove_temporary_files(self, say: Say = lambda _: None) -> None:
        """Remove what a killed run left half-written (a dump's ``.part``, queries)."""
        recovery.remove_temporary_files(self, say)

    def reconcile(self, say: Say = lambda _: None) -> list[str]:
        """Compare the journal with the database after an interruption; fix what is half-done."""
        return recovery.reconcile(self, say)
