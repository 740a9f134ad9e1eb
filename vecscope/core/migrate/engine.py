"""The wizard's engine: runs the steps in order, journals them, resumes and rolls back.

The CLI and the Migrate screen both drive a :class:`Migration`. Each step checks that
the steps it depends on are done (nothing is built before a verified backup exists, the
old index is dropped only after the new one is proven), writes its intent to the journal,
runs, and writes its outcome. :meth:`Migration.reconcile` is what ``resume`` does first:
it compares the journal with the database and puts both back in a known state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vecscope.core.catalog.inventory import fetch_inventory
from vecscope.core.connection import ConnectionTarget, connect
from vecscope.core.errors import BadInputError, VecscopeError
from vecscope.core.migrate import backup as bk
from vecscope.core.migrate import build as bld
from vecscope.core.migrate import journal as jn
from vecscope.core.migrate import preflight as pf
from vecscope.core.migrate import verify as vf
from vecscope.core.migrate.ddl import (
    MigrationError,
    drop_if_invalid,
    index_state,
    invalid_copies,
    open_ddl_session,
    stop_orphans,
    with_retries,
)
from vecscope.core.migrate.plan import (
    KIND_CREATE,
    KIND_REBUILD,
    KIND_REINDEX,
    MigrationSpec,
    StepPlan,
    drop_sql,
    recreate_old_sql,
    rename_sql,
    rollback_statements,
    steps,
)

Say = Callable[[str], None]

#: Step keys in order; "rollback" may run after any of them.
ORDER = ("plan", "preflight", "backup", "baseline", "build", "verify", "cutover")
PENDING = "pending"
RUNNING = "running"
DONE = "done"
FAILED = "failed"
NOT_NEEDED = "not needed"


@dataclass(frozen=True, slots=True)
class CutoverResult:
    attempts: int
    renamed: bool
    served_by: str | None
    verdict: str


class Migration:
    """One migration, journaled; see the module docstring."""

    def __init__(self, target: ConnectionTarget, journal: jn.Journal) -> None:
        self.target = target
        self.journal = journal
        self.state = journal.read()

    # --- opening --------------------------------------------------------------------

    @classmethod
    def start(
        cls,
        target: ConnectionTarget,
        spec: MigrationSpec,
        *,
        journal_path: Path | None = None,
        options: dict[str, Any] | None = None,
    ) -> Migration:
        """Write the journal's header and the plan; nothing touches the database."""
        with connect(target) as conn:
            server = f"{target.describe()} (PostgreSQL {conn.info.server_version})"
        journal = jn.Journal.create(spec, target, server, journal_path)
        journal.record("plan", jn.DONE, options=options or {})
        return cls(target, journal)

    @classmethod
    def open(cls, path: Path, target: ConnectionTarget | None = None) -> Migration:
        """Open a journal to resume or roll back; the connection defaults to the journal's."""
        state = jn.read(path)
        if target is None or not (target.dsn or target.host or target.dbname):
            target = ConnectionTarget(dsn=state.conninfo)
        return cls(target, jn.Journal(path))

    # --- state ----------------------------------------------------------------------

    @property
    def spec(self) -> MigrationSpec:
        return self.state.spec

    @property
    def path(self) -> Path:
        return self.journal.path

    @property
    def queries_path(self) -> Path:
        return self.path.with_suffix(".queries.npz")

    def steps(self) -> tuple[StepPlan, ...]:
        return steps(self.spec)

    def _record(self, step: str, state: str, **data: Any) -> None:
        self.journal.record(step, state, **data)
        self.state = self.journal.read()

    def status(self, key: str) -> str:
        if key == "cutover" and self.spec.kind != KIND_REBUILD:
            return NOT_NEEDED
        rec = self.state.steps.get(key)
        if rec is None:
            return PENDING
        return {jn.INTENT: RUNNING, jn.DONE: DONE, jn.FAILED: FAILED}.get(rec.state, PENDING)

    @property
    def rolled_back(self) -> bool:
        return self.state.done("rollback")

    @property
    def finished(self) -> bool:
        last = "cutover" if self.spec.kind == KIND_REBUILD else "verify"
        return self.rolled_back or self.state.done(last)

    def blocked_reason(self, key: str) -> str | None:
        """Why ``key`` cannot run now (``None``: it can)."""
        if self.rolled_back:
            return "the migration was rolled back; plan a new one"
        if key == "preflight":
            return "the build is done: preflight is behind us" if self.state.done("build") else None
        if key == "backup":
            if not self.state.done("preflight"):
                return "run preflight first"
            if self.state.data("preflight").get("failed"):
                return "preflight failed: fix what it lists and run it again"
            return None
        if key in ("baseline", "build") and not self.state.done("backup"):
            return "no verified backup yet: the backup step comes first"
        if key == "build" and self.state.done("build"):
            return "already built"
        if key == "verify" and not self.state.done("build"):
            return "nothing built yet"
        if key == "cutover":
            if self.spec.kind != KIND_REBUILD:
                return "nothing to cut over: no old index is dropped"
            if not self.state.done("verify"):
                return "verify first: the old index is dropped only after the new one is proven"
            if self.state.done("cutover"):
                return "already cut over"
        return None

    def _require(self, key: str) -> None:
        reason = self.blocked_reason(key)
        if reason:
            raise BadInputError(f"{key}: {reason}")

    # --- steps ----------------------------------------------------------------------

    def preflight(self, **options: Any) -> pf.Preflight:
        self._require("preflight")
        self._record("preflight", jn.INTENT)
        try:
            with connect(self.target, statement_timeout_ms=None) as conn:
                inventory = fetch_inventory(conn)
                result = pf.run(conn, self.spec, inventory, **options)
        except VecscopeError as e:
            self._record("preflight", jn.FAILED, error=e.message)
            raise
        self.journal.update_spec(result.spec)
        pred = result.prediction
        self._record(
            "preflight",
            jn.DONE,
            failed=[c.title for c in result.failed],
            leftovers=list(result.leftovers),
            predicted_seconds=pred.seconds if pred else None,
            predicted_graph_bytes=pred.graph_bytes if pred else None,
            predicted_index_bytes=pred.index_bytes if pred else None,
            maintenance_work_mem_kb=result.spec.maintenance_work_mem_kb,
            workers=result.spec.parallel_workers,
        )
        return result

    def drop_leftovers(self, names: list[str], say: Say = lambda _: None) -> list[str]:
        """Drop invalid leftovers preflight found (only invalid ones; never a valid index)."""
        dropped = []
        conn, _ = open_ddl_session(self.target, self.spec, build=False)
        try:
            stop_orphans(conn, self.spec, say)
            for name in names:
                self._record("cleanup", jn.INTENT, index=name)
                if drop_if_invalid(conn, self.spec, name, say):
                    dropped.append(name)
                self._record("cleanup", jn.DONE, index=name)
        finally:
            conn.close()
        return dropped

    def backup(
        self, kind: str, backup_dir: Path | None = None, identifier: str | None = None
    ) -> bk.BackupRecord:
        self._require("backup")
        if kind not in ("table", "database", "confirmed"):
            raise BadInputError("--backup must be table, database or confirmed:ID")
        self._record("backup", jn.INTENT, kind=kind)
        try:
            if kind == "confirmed":
                record = bk.confirmed(identifier or "")
            else:
                directory = backup_dir or self.path.parent / "backups"
                with connect(self.target) as conn:
                    version = conn.info.server_version
                label = f"vecscope-{self.state.id}-{self.spec.table[:40]}"
                record = bk.dump(
                    jn.safe_conninfo(self.target),
                    self.target.password(),
                    kind=kind,
                    schema=self.spec.schema,
                    table=self.spec.table,
                    backup_dir=directory,
                    server_version_num=version,
                    label=label,
                )
        except VecscopeError as e:
            self._record("backup", jn.FAILED, error=e.message)
            raise
        self._record("backup", jn.DONE, record=record.to_json())
        return record

    def baseline(self) -> vf.Figures | None:
        self._require("baseline")
        self._record("baseline", jn.INTENT)
        try:
            figures = vf.baseline(self.target, self.spec, self.queries_path)
        except BadInputError as e:
            # A table the lab cannot measure still migrates; verify says what it could not.
            self._record("baseline", jn.DONE, figures=None, note=e.message)
            return None
        except VecscopeError as e:
            self._record("baseline", jn.FAILED, error=e.message)
            raise
        self._record("baseline", jn.DONE, figures=figures.to_json())
        return figures

    def build(
        self,
        *,
        on_progress: Callable[[bld.BuildProgress], None] = lambda _: None,
        should_cancel: Callable[[], bool] = lambda: False,
        say: Say = lambda _: None,
    ) -> bld.BuildOutcome:
        self._require("build")
        predicted = self.state.data("preflight").get("predicted_seconds")
        self._record("build", jn.INTENT, statement=self.steps()[4].statements[-1].sql)
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
            self._record("build", jn.FAILED, error=e.message)
            raise
        if outcome.cancelled:
            self._record("build", jn.FAILED, error="cancelled; the invalid index was dropped")
            return outcome
        self._record(
            "build",
            jn.DONE,
            seconds=round(outcome.seconds, 2),
            attempts=outcome.attempts,
            workers=outcome.workers,
            spilled_after=outcome.spilled_after,
            index_bytes=outcome.index_bytes,
            notices=[n for n in outcome.notices if "parallel" not in n][:20],
        )
        return outcome

    def verify(self) -> vf.Verification:
        self._require("verify")
        self._record("verify", jn.INTENT)
        before = vf.Figures.from_json(self.state.data("baseline").get("figures"))
        try:
            result = vf.verify(
                self.target,
                self.spec,
                before,
                self.queries_path if self.queries_path.exists() else None,
            )
        except VecscopeError as e:
            self._record("verify", jn.FAILED, error=e.message)
            raise
        self._record("verify", jn.DONE if result.passed else jn.FAILED, result=result.to_json())
        return result

    def cutover(self, *, force: bool = False, say: Say = lambda _: None) -> CutoverResult:
        """Drop the old index concurrently (with retries), rename, then a final EXPLAIN.

        ``force`` cuts over after a verification that did not pass (the user confirmed).
        """
        spec = self.spec
        reason = self.blocked_reason("cutover")
        unverified = self.status("verify") == FAILED and not self.state.done("cutover")
        if reason and not (force and unverified and spec.kind == KIND_REBUILD):
            raise BadInputError(f"cutover: {reason}")
        assert spec.old_name is not None
        self._record("cutover", jn.INTENT, drop=spec.old_name, rename=spec.rename)
        conn, _ = open_ddl_session(self.target, spec, build=False)
        try:
            if index_state(conn, spec.schema, spec.new_name) != (True, True):
                raise MigrationError(
                    f"{spec.new_name} is not valid: refusing to drop the old index"
                )
            attempts = with_retries(conn, drop_sql(spec, spec.old_name), spec, say=say)
            renamed = False
            if spec.rename:
                with_retries(conn, rename_sql(spec, spec.new_name, spec.old_name), spec, say=say)
                renamed = True
        except VecscopeError as e:
            self._record("cutover", jn.FAILED, error=e.message)
            raise
        finally:
            conn.close()
        serving, verdict = vf.final_check(self.target, spec)
        self._record("cutover", jn.DONE, attempts=attempts, renamed=renamed, served_by=serving)
        return CutoverResult(attempts, renamed, serving, verdict)

    # --- rollback and resume --------------------------------------------------------

    def rollback_plan(self) -> list[str]:
        after = self.state.done("cutover") or self.status("cutover") == RUNNING
        return [st.sql for st in rollback_statements(self.spec, after_cutover=after)]

    def rollback(self, say: Say = lambda _: None) -> list[str]:
        """Undo the migration from wherever it is; returns what was done."""
        spec = self.spec
        done: list[str] = []
        after = self.state.done("cutover") or self._old_gone()
        self._record("rollback", jn.INTENT, after_cutover=after)
        conn, _ = open_ddl_session(self.target, spec, build=after)
        try:
            stop_orphans(conn, spec, say)
            if spec.kind == KIND_REINDEX:
                assert spec.old_name
                for name in invalid_copies(conn, spec, spec.old_name):
                    drop_if_invalid(conn, spec, name, say)
                    done.append(f"dropped {name}")
            elif not after or spec.kind == KIND_CREATE:
                if index_state(conn, spec.schema, spec.new_name) is not None:
                    with_retries(conn, drop_sql(spec, spec.new_name), spec, say=say)
                    done.append(f"dropped {spec.new_name}")
            else:
                assert spec.old_name
                if spec.rename and index_state(conn, spec.schema, spec.new_name) is None:
                    with_retries(
                        conn, rename_sql(spec, spec.old_name, spec.new_name), spec, say=say
                    )
                    done.append(f"renamed {spec.old_name} back to {spec.new_name}")
                drop_if_invalid(conn, spec, spec.old_name, say)
                old_sql = recreate_old_sql(spec)
                assert old_sql
                say(f"recreating {spec.old_name} from its recorded definition")
                with_retries(
                    conn,
                    old_sql,
                    spec,
                    say=say,
                    before_retry=lambda: _drop_quietly(conn, spec, spec.old_name or "", say),
                )
                if index_state(conn, spec.schema, spec.old_name) != (True, True):
                    raise MigrationError(f"{spec.old_name} was recreated but is not valid")
                done.append(f"recreated {spec.old_name}")
                with_retries(conn, drop_sql(spec, spec.new_name), spec, say=say)
                done.append(f"dropped {spec.new_name}")
        except VecscopeError as e:
            self._record("rollback", jn.FAILED, error=e.message)
            raise
        finally:
            conn.close()
        self._record("rollback", jn.DONE, actions=done)
        return done

    def _old_gone(self) -> bool:
        if self.spec.kind != KIND_REBUILD or not self.spec.old_name:
            return False
        with connect(self.target) as conn:
            state = index_state(conn, self.spec.schema, self.spec.old_name)
        # Renamed: the old name now belongs to the new index.
        return state is None or (self.spec.rename and self.state.done("cutover"))

    def reconcile(self, say: Say = lambda _: None) -> list[str]:
        """Compare the journal with the database after an interruption; fix what is half-done."""
        spec = self.spec
        found: list[str] = []

        def note(text: str) -> None:
            found.append(text)
            say(text)

        conn, _ = open_ddl_session(self.target, spec, build=False)
        try:
            stop_orphans(conn, spec, note)
            running = self.state.interrupted
            if running:
                note(f"the journal stops during {running}")
            if running == "build" or (self.status("build") == FAILED):
                name = spec.old_name if spec.kind == KIND_REINDEX else spec.new_name
                assert name is not None
                state = index_state(conn, spec.schema, name)
                if spec.kind == KIND_REINDEX:
                    for left in invalid_copies(conn, spec, name):
                        drop_if_invalid(conn, spec, left, note)
                    if running == "build":
                        self._record("build", jn.FAILED, error="interrupted; leftovers dropped")
                elif state == (True, True) and running == "build":
                    note(f"{name} was finished by the server before the interruption: kept")
                    self._record("build", jn.DONE, recovered=True)
                elif state is not None and state != (True, True):
                    drop_if_invalid(conn, spec, name, note)
                    self._record("build", jn.FAILED, error="interrupted; invalid index dropped")
                elif running == "build":
                    self._record("build", jn.FAILED, error="interrupted before the index existed")
            elif running == "cutover":
                assert spec.old_name
                old = index_state(conn, spec.schema, spec.old_name)
                if old is not None and old != (True, True) and not spec.rename:
                    note(f"{spec.old_name} was left half-dropped: dropping it again")
                self._record("cutover", jn.FAILED, error="interrupted")
            elif running in ("preflight", "backup", "baseline", "verify", "cleanup"):
                self._record(running, jn.FAILED, error="interrupted")
            elif running == "rollback":
                note("the rollback was interrupted: it will be run again")
        finally:
            conn.close()
        return found

    def next_step(self) -> str | None:
        """The next step a resumed run should take (``None``: nothing left)."""
        if self.state.interrupted == "rollback" or self.status("rollback") == FAILED:
            return "rollback"
        if self.finished:
            return None
        for key in ORDER[1:]:
            if self.status(key) in (DONE, NOT_NEEDED):
                continue
            return key
        return None

    def options(self) -> dict[str, Any]:
        return dict(self.state.data("plan").get("options") or {})


def usable_index(target: ConnectionTarget, spec: MigrationSpec) -> list[str]:
    """Valid, ready vector indexes on the column: what a query can use right now."""
    with connect(target) as conn:
        rows = conn.execute(
            """SELECT i.relname::text FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
                 JOIN pg_am am ON am.oid = i.relam
                WHERE x.indrelid = %s::regclass AND x.indisvalid AND x.indisready
                  AND am.amname IN ('hnsw', 'ivfflat')""",
            (spec.qualified_table,),
        ).fetchall()
    return [str(r[0]) for r in rows]


def _drop_quietly(conn: Any, spec: MigrationSpec, name: str, say: Say) -> None:
    drop_if_invalid(conn, spec, name, say)
