"""What a migration does when it goes back or picks up again, decided from the catalog.

The journal says what vecscope meant to do; the catalog says what is. After a SIGKILL,
a full disk, a lost connection or a lock that never let go, the two can disagree, so
both ``rollback`` and ``resume`` (its first act, :func:`reconcile`) look at the catalog
(:mod:`core.migrate.observe`) and decide from that:

- :func:`rollback_actions` lists, from the state the catalog shows, exactly the statements
  that give back the original index (its recorded ``pg_get_indexdef``, valid) and remove
  the new one; :func:`rollback` runs that very list, so what was shown is what runs. Run
  twice, the second finds nothing to do.
- :func:`reconcile` brings the journal in line with the catalog (a build the server
  finished is recorded done, an invalid build dropped, a half-done cutover marked for
  the resumed run to finish) and removes what a killed run left on disk.

Journal writes during recovery are best-effort: a full disk must not stop a rollback
(the catalog, not the journal, says what remains to do; running it again is safe).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg

from vecscope.core import db, failpoints
from vecscope.core.errors import JournalError, MigrationError, VecscopeError
from vecscope.core.migrate import journal as jn
from vecscope.core.migrate.ddl import (
    drop_if_invalid,
    index_state,
    open_ddl_session,
    stop_orphans,
    with_retries,
)
from vecscope.core.migrate.observe import Phase, Seen, look
from vecscope.core.migrate.plan import MigrationSpec, Statement
from vecscope.core.migrate.render import (
    attach_sql,
    drop_partitioned_statements,
    drop_sql,
    recreate_old_partition_sql,
    recreate_old_sql,
    rename_sql,
    session_settings,
)
from vecscope.core.migrate.states import Kind, Status, Step

if TYPE_CHECKING:
    from vecscope.core.migrate.engine import Migration

Say = Callable[[str], None]
Conn = psycopg.Connection[Any]

#: Steps an interruption leaves nothing half-done by: they are marked failed, run again.
_SIMPLE = (Step.PREFLIGHT, Step.BACKUP, Step.BASELINE, Step.VERIFY, Step.CLEANUP)


class Act(StrEnum):
    """One thing a rollback does."""

    RENAME_BACK = "rename back"
    DROP_HALF_DROPPED = "drop the half-dropped old index"
    RECREATE_OLD = "recreate the old index"
    DROP_NEW = "drop the new index"
    DROP_COPY = "drop a REINDEX leftover"
    #: On a partitioned table:
    RECREATE_OLD_PART = "recreate a partition's old index"
    ATTACH = "attach a partition's index"
    DROP_PART = "drop a partition's unattached or invalid index"
    LOCK_TIMEOUT = "shorten lock_timeout for a partitioned index's drop"


@dataclass(frozen=True, slots=True)
class Action:
    act: Act
    statement: Statement
    #: The index the statement is about.
    index: str


def _journal(mig: Migration, step: Step, mark: jn.Mark, say: Say, **data: Any) -> None:
    """Record, but never let a journal that cannot be written stop a recovery."""
    try:
        mig.record(step, mark, **data)
    except JournalError as e:
        say(f"{e.message}: going on, the catalog says what remains")


def rollback_actions(spec: MigrationSpec, seen: Seen) -> list[Action]:
    """Exactly what a rollback runs from the state ``seen`` (empty: nothing to undo).

    Raises:
        MigrationError: The old index's name holds an index vecscope did not make: a
            person must choose what to keep.
    """
    out: list[Action] = []
    if spec.kind == Kind.REINDEX:
        for name in seen.copies:
            out.append(
                Action(
                    Act.DROP_COPY,
                    Statement(drop_sql(spec, name), "an interrupted REINDEX left this copy"),
                    name,
                )
            )
        return out
    if seen.stranger is not None:
        raise MigrationError(
            f"{seen.stranger.name} is now an index vecscope did not make "
            f"({seen.stranger.definition}): rename or drop it, then roll back again"
        )
    if spec.partitioned:
        return _partitioned_actions(spec, seen)
    if spec.kind == Kind.REBUILD:
        assert spec.old_name
        old_sql = recreate_old_sql(spec)
        if old_sql is None:
            raise MigrationError("the journal has no definition of the old index to recreate")
        if seen.renamed:
            out.append(
                Action(
                    Act.RENAME_BACK,
                    Statement(
                        rename_sql(spec, spec.old_name, spec.new_name),
                        "the new index gives the old name back",
                    ),
                    spec.old_name,
                )
            )
        if seen.old is not None and not seen.old.usable:
            out.append(
                Action(
                    Act.DROP_HALF_DROPPED,
                    Statement(
                        drop_sql(spec, spec.old_name),
                        "left invalid by an unfinished DROP INDEX CONCURRENTLY",
                    ),
                    spec.old_name,
                )
            )
        if seen.old is None or not seen.old.usable:
            out.append(
                Action(
                    Act.RECREATE_OLD,
                    Statement(old_sql, "the old index, from its recorded definition"),
                    spec.old_name,
                )
            )
    if seen.new is not None:
        note = (
            "once the old index is valid again"
            if any(a.act == Act.RECREATE_OLD for a in out)
            else "the old index is untouched"
        )
        out.append(
            Action(Act.DROP_NEW, Statement(drop_sql(spec, spec.new_name), note), spec.new_name)
        )
    return out


def _partitioned_actions(spec: MigrationSpec, seen: Seen) -> list[Action]:
    """:func:`rollback_actions` on a partitioned table: the old partitioned index ``ON
    ONLY`` the parent, each partition's old index recreated concurrently and attached
    (the ones still there and attached are kept), then the new partitioned index dropped
    (its attached partitions' indexes with it) and any partition's index left unattached."""
    out: list[Action] = []
    if spec.kind == Kind.REBUILD:
        assert spec.old_name
        if seen.renamed:
            rename = rename_sql(spec, spec.old_name, spec.new_name)
            back = Statement(rename, "give the old name back")
            out.append(Action(Act.RENAME_BACK, back, spec.old_name))
        if seen.old is None or not seen.old.usable:
            out += _recreate_old_partitions(spec, seen)
    if seen.new is not None:
        setting, drop = drop_partitioned_statements(
            spec, spec.new_name, "the new partitioned index, each partition's attached with it"
        )
        out += [Action(Act.LOCK_TIMEOUT, setting, ""), Action(Act.DROP_NEW, drop, spec.new_name)]
    attached_to = seen.new.name if seen.new is not None else None
    for ps in seen.parts:
        if ps.new is not None and (attached_to is None or ps.new.parent != attached_to):
            why = "a partition's index an interrupted build left unattached"
            name = ps.plan.new_name
            out.append(Action(Act.DROP_PART, Statement(drop_sql(spec, name), why), name))
    return out


def _recreate_old_partitions(spec: MigrationSpec, seen: Seen) -> list[Action]:
    assert spec.old_name
    out: list[Action] = []
    if seen.old is None:
        parent = recreate_old_sql(spec)
        if parent is None:
            raise MigrationError("the journal has no definition of the old index to recreate")
        note = "the old partitioned index ON ONLY the parent (catalog only; valid once attached)"
        out.append(Action(Act.RECREATE_OLD, Statement(parent, note), spec.old_name))
    for ps in seen.parts:
        part = ps.plan
        again = recreate_old_partition_sql(spec, part)
        if again is None or part.old_name is None:
            raise MigrationError(f"the journal has no definition of {part.table}'s old index")
        if ps.done(ps.old, spec.old_name):
            continue
        if ps.old is not None and not ps.old.usable:
            why = "left invalid by an interrupted recreation"
            out.append(
                Action(Act.DROP_PART, Statement(drop_sql(spec, part.old_name), why), part.old_name)
            )
        if ps.old is None or not ps.old.usable:
            why = f"{part.table}'s old index, from its recorded definition"
            out.append(Action(Act.RECREATE_OLD_PART, Statement(again, why), part.old_name))
        attach = attach_sql(spec, spec.old_name, part.old_name)
        out.append(Action(Act.ATTACH, Statement(attach, "attached again"), part.old_name))
    return out


def planned_rollback(mig: Migration) -> list[Statement]:
    """The statements a rollback would run now, session settings first."""
    conn, _ = open_ddl_session(mig.target, mig.spec, build=False)
    try:
        actions = rollback_actions(mig.spec, look(conn, mig.spec))
    finally:
        conn.close()
    if not actions:
        return []
    return [*session_settings(mig.spec, build=_builds(actions)), *(a.statement for a in actions)]


def _builds(actions: list[Action]) -> bool:
    """The rollback builds an index (its session gets the build's settings)."""
    return any(a.act in (Act.RECREATE_OLD, Act.RECREATE_OLD_PART) for a in actions)


def rollback(mig: Migration, say: Say) -> list[str]:
    """Undo the migration from wherever the catalog says it is; returns what was done.

    Idempotent: each action is decided from the catalog, so a rollback interrupted at any
    point (or run twice) finishes the same way. At its end the old index is back with its
    recorded definition, valid, and the new one is gone.
    """
    spec = mig.spec
    done: list[str] = []
    probe, _ = open_ddl_session(mig.target, spec, build=False)
    try:
        seen = look(probe, spec)
        actions = rollback_actions(spec, seen)
    finally:
        probe.close()
    recreate = _builds(actions)
    _journal(
        mig,
        Step.ROLLBACK,
        jn.INTENT,
        say,
        phase=str(seen.phase),
        actions=[a.statement.sql for a in actions],
    )
    conn: Conn | None = None
    try:
        conn, _ = open_ddl_session(mig.target, spec, build=recreate)
        stop_orphans(conn, spec, say)
        for action in actions:
            failpoints.point(f"rollback.before_{action.act.name.lower()}")
            _run(conn, spec, action, say)
            if said := _said(action):
                done.append(said)
        _check_restored(conn, spec)
    except VecscopeError as e:
        _journal(mig, Step.ROLLBACK, jn.FAILED, say, error=e.message)
        raise
    except psycopg.Error as e:
        err = MigrationError(f"the rollback stopped: {e}")
        _journal(mig, Step.ROLLBACK, jn.FAILED, say, error=err.message)
        raise err from e
    finally:
        if conn is not None:
            conn.close()
    _journal(mig, Step.ROLLBACK, jn.DONE, say, actions=done)
    return done


def _said(action: Action) -> str:
    return {
        Act.RENAME_BACK: f"renamed {action.index} back",
        Act.DROP_HALF_DROPPED: f"dropped the half-dropped {action.index}",
        Act.RECREATE_OLD: f"recreated {action.index}",
        Act.DROP_NEW: f"dropped {action.index}",
        Act.DROP_COPY: f"dropped {action.index}",
        Act.RECREATE_OLD_PART: f"recreated {action.index}",
        Act.ATTACH: f"attached {action.index}",
        Act.DROP_PART: f"dropped {action.index}",
        Act.LOCK_TIMEOUT: "",
    }[action.act]


def _run(conn: Conn, spec: MigrationSpec, action: Action, say: Say) -> None:
    if action.act == Act.LOCK_TIMEOUT:
        conn.execute(action.statement.sql.rstrip(";"))
        return
    if action.act == Act.RECREATE_OLD_PART:
        say(f"recreating {action.index} from its recorded definition")

        def drop_part_attempt() -> None:
            drop_if_invalid(conn, spec, action.index, say)

        with_retries(conn, action.statement.sql, spec, say=say, before_retry=drop_part_attempt)
        if index_state(conn, spec.schema, action.index) != (True, True):
            drop_if_invalid(conn, spec, action.index, say)
            raise MigrationError(f"{action.index} was recreated but is not valid")
        return
    if action.act == Act.RECREATE_OLD and spec.partitioned:
        # ON ONLY the parent: catalog only, all or nothing; valid once every partition's
        # index is attached.
        with_retries(conn, action.statement.sql, spec, say=say)
        return
    if action.act == Act.RECREATE_OLD:
        say(f"recreating {action.index} from its recorded definition")

        # A recreation that lock_timeout stopped leaves an invalid index under the name
        # (IF NOT EXISTS would then skip it): drop that before each retry.
        def drop_attempt() -> None:
            drop_if_invalid(conn, spec, action.index, say)

        with_retries(conn, action.statement.sql, spec, say=say, before_retry=drop_attempt)
        seen = look(conn, spec)
        if seen.old is None or not seen.old.usable:
            # The build itself failed after creating the entry (no lock_timeout involved).
            drop_if_invalid(conn, spec, action.index, say)
            raise MigrationError(f"{action.index} was recreated but is not valid")
        return
    with_retries(conn, action.statement.sql, spec, say=say)


def _check_restored(conn: Conn, spec: MigrationSpec) -> None:
    """The end state of a rollback, checked in the catalog, not assumed."""
    seen = look(conn, spec)
    if spec.kind == Kind.REBUILD and (seen.old is None or not seen.old.usable):
        raise MigrationError(f"{spec.old_name} is not back as it was")
    if spec.kind != Kind.REINDEX and seen.new is not None:
        raise MigrationError(f"{spec.new_name} is still there")
    if seen.copies:
        raise MigrationError(f"REINDEX leftovers remain: {', '.join(seen.copies)}")
    for ps in seen.parts:
        if spec.kind == Kind.REBUILD and not ps.done(ps.old, spec.old_name):
            raise MigrationError(f"{ps.plan.table}'s {ps.plan.old_name} is not back as it was")
        if ps.new is not None:
            raise MigrationError(f"{ps.plan.new_name} is still there")


# --- resume ----------------------------------------------------------------------------


def temporary_files(mig: Migration) -> list[Path]:
    """Files a killed run of this migration left half-written (a dump's ``.part``, the
    baseline's ``.tmp.npz``); a finished file never matches."""
    found: list[Path] = []
    tmp = mig.queries_path.with_suffix(".tmp.npz")
    if tmp.exists():
        found.append(tmp)
    for directory in {mig.backup_dir, *mig.backup_dirs_used()}:
        with contextlib.suppress(OSError):
            found.extend(sorted(directory.glob(f".vecscope-{mig.state.id}-*.part")))
    return found


def remove_temporary_files(mig: Migration, say: Say) -> None:
    for path in temporary_files(mig):
        try:
            path.unlink()
            say(f"removed {path.name}, left half-written by an interrupted run")
        except OSError as e:
            say(f"could not remove {path}: {e.strerror or e}")


def reconcile(mig: Migration, say: Say) -> list[str]:
    """Bring the journal in line with the catalog after an interruption; clean up.

    Changes nothing the user would miss: it cancels a build a killed vecscope left running
    on the server, drops an invalid new index (never a valid one, never the old one) and
    removes half-written files. What remains is for the resumed steps.
    """
    spec = mig.spec
    found: list[str] = []

    def note(text: str) -> None:
        found.append(text)
        say(text)

    remove_temporary_files(mig, note)
    conn, _ = open_ddl_session(mig.target, spec, build=False)
    try:
        stop_orphans(conn, spec, note)
        running = mig.state.interrupted
        if mig.state.torn:
            note(f"the journal had {mig.state.torn} torn record(s): skipped")
        if running:
            note(f"the journal stops during {running}")
        if (
            mig.rolled_back
            or running == Step.ROLLBACK
            or mig.status(Step.ROLLBACK) == Status.FAILED
        ):
            if not mig.rolled_back:
                note("the rollback did not finish: it will be run again")
            return found
        seen = look(conn, spec)
        if spec.kind == Kind.REINDEX:
            for left in seen.copies:
                drop_if_invalid(conn, spec, left, note)
            if running == Step.BUILD:
                _journal(mig, Step.BUILD, jn.FAILED, note, error="interrupted; leftovers dropped")
        else:
            _reconcile_build(mig, conn, seen, running, note)
            if spec.kind == Kind.REBUILD:
                _reconcile_cutover(mig, look(conn, spec), running, note)
        if running in _SIMPLE:
            _journal(mig, running, jn.FAILED, note, error="interrupted")
    finally:
        conn.close()
    return found


def _reconcile_build(
    mig: Migration, conn: Conn, seen: Seen, running: Step | None, note: Say
) -> None:
    spec = mig.spec
    build = mig.status(Step.BUILD)
    if seen.new is None:
        if build == Status.DONE:
            note(f"{spec.new_name} is not in the catalog any more: it will be built again")
            _journal(mig, Step.BUILD, jn.FAILED, note, error="the new index is gone")
            _forget_verification(mig, note)
        elif build == Status.RUNNING:
            _journal(mig, Step.BUILD, jn.FAILED, note, error="interrupted before the index existed")
        return
    if not seen.new.usable:
        if seen.renamed:
            return  # cannot be: a rename needs a valid index; leave it to a person
        error = "interrupted; invalid index dropped"
        if spec.partitioned:
            # The partitioned index stays (dropping it would drop the partitions' indexes
            # already built and attached): only a partition's invalid index goes.
            for ps in seen.parts:
                if ps.new is not None and not ps.new.usable:
                    drop_if_invalid(conn, spec, ps.plan.new_name, note)
            done = sum(ps.done(ps.new, spec.new_name) for ps in seen.parts)
            error = (
                f"interrupted with {done} of {len(seen.parts)} partitions built; "
                "resume builds the rest"
            )
        else:
            drop_if_invalid(conn, spec, spec.new_name, note)
        if build in (Status.RUNNING, Status.DONE):
            _journal(mig, Step.BUILD, jn.FAILED, note, error=error)
        _forget_verification(mig, note)
        return
    if build != Status.DONE:
        note(f"{seen.new.name} was finished by the server before the interruption: kept")
        size = db.row(conn, "migrate_index_size", {"schema": spec.schema, "name": seen.new.name})
        _journal(
            mig,
            Step.BUILD,
            jn.DONE,
            note,
            recovered=True,
            index_bytes=int(size["bytes"]) if size else 0,
        )


def _forget_verification(mig: Migration, note: Say) -> None:
    """A verification of an index that is no longer there proves nothing."""
    if mig.status(Step.VERIFY) in (Status.DONE, Status.RUNNING):
        _journal(mig, Step.VERIFY, jn.FAILED, note, error="the index it verified is gone")


def _reconcile_cutover(mig: Migration, seen: Seen, running: Step | None, note: Say) -> None:
    spec = mig.spec
    if running != Step.CUTOVER and mig.status(Step.CUTOVER) != Status.FAILED:
        return
    phase = seen.phase
    if phase == Phase.OLD_HALF_DROPPED:
        note(
            f"{spec.old_name} was left half-dropped (invalid): resume finishes dropping it, "
            "rollback recreates it"
        )
    elif phase == Phase.OLD_DROPPED:
        note(f"{spec.old_name} is dropped" + ("; the rename remains" if spec.rename else ""))
    elif phase == Phase.RENAMED:
        note(f"{spec.new_name} already carries the name {spec.old_name}: the final check remains")
    elif phase == Phase.BUILT:
        note(f"{spec.old_name} was not dropped yet")
    if running == Step.CUTOVER:
        _journal(mig, Step.CUTOVER, jn.FAILED, note, error=f"interrupted ({phase})")
