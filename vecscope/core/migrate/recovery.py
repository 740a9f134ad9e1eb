"""What a migration does when it goes back: the rollback from wherever it stands, and the
reconciliation of the journal with the database after an interruption (what ``resume``
does first). Called through :class:`core.migrate.engine.Migration`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from vecscope.core.connection import connect
from vecscope.core.errors import MigrationError, VecscopeError
from vecscope.core.migrate import journal as jn
from vecscope.core.migrate.ddl import (
    drop_if_invalid,
    index_state,
    invalid_copies,
    open_ddl_session,
    stop_orphans,
    with_retries,
)
from vecscope.core.migrate.plan import MigrationSpec
from vecscope.core.migrate.render import drop_sql, recreate_old_sql, rename_sql
from vecscope.core.migrate.states import Kind, Status, Step

if TYPE_CHECKING:
    from vecscope.core.migrate.engine import Migration

Say = Callable[[str], None]

#: Steps an interruption leaves nothing half-done by: they are marked failed, run again.
_SIMPLE = (Step.PREFLIGHT, Step.BACKUP, Step.BASELINE, Step.VERIFY, Step.CLEANUP)


def rollback(mig: Migration, say: Say) -> list[str]:
    """Undo the migration from wherever it is; returns what was done."""
    spec = mig.spec
    done: list[str] = []
    after = mig.state.done(Step.CUTOVER) or _old_gone(mig)
    mig.record(Step.ROLLBACK, jn.INTENT, after_cutover=after)
    conn, _ = open_ddl_session(mig.target, spec, build=after)
    try:
        stop_orphans(conn, spec, say)
        if spec.kind == Kind.REINDEX:
            assert spec.old_name
            for name in invalid_copies(conn, spec, spec.old_name):
                drop_if_invalid(conn, spec, name, say)
                done.append(f"dropped {name}")
        elif not after or spec.kind == Kind.CREATE:
            if index_state(conn, spec.schema, spec.new_name) is not None:
                with_retries(conn, drop_sql(spec, spec.new_name), spec, say=say)
                done.append(f"dropped {spec.new_name}")
        else:
            assert spec.old_name
            if spec.rename and index_state(conn, spec.schema, spec.new_name) is None:
                with_retries(conn, rename_sql(spec, spec.old_name, spec.new_name), spec, say=say)
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
        mig.record(Step.ROLLBACK, jn.FAILED, error=e.message)
        raise
    finally:
        conn.close()
    mig.record(Step.ROLLBACK, jn.DONE, actions=done)
    return done


def _old_gone(mig: Migration) -> bool:
    if mig.spec.kind != Kind.REBUILD or not mig.spec.old_name:
        return False
    with connect(mig.target) as conn:
        state = index_state(conn, mig.spec.schema, mig.spec.old_name)
    # Renamed: the old name now belongs to the new index.
    return state is None or (mig.spec.rename and mig.state.done(Step.CUTOVER))


def reconcile(mig: Migration, say: Say) -> list[str]:
    """Compare the journal with the database after an interruption; fix what is half-done."""
    spec = mig.spec
    found: list[str] = []

    def note(text: str) -> None:
        found.append(text)
        say(text)

    conn, _ = open_ddl_session(mig.target, spec, build=False)
    try:
        stop_orphans(conn, spec, note)
        running = mig.state.interrupted
        if running:
            note(f"the journal stops during {running}")
        if running == Step.BUILD or (mig.status(Step.BUILD) == Status.FAILED):
            name = spec.old_name if spec.kind == Kind.REINDEX else spec.new_name
            assert name is not None
            state = index_state(conn, spec.schema, name)
            if spec.kind == Kind.REINDEX:
                for left in invalid_copies(conn, spec, name):
                    drop_if_invalid(conn, spec, left, note)
                if running == Step.BUILD:
                    mig.record(Step.BUILD, jn.FAILED, error="interrupted; leftovers dropped")
            elif state == (True, True) and running == Step.BUILD:
                note(f"{name} was finished by the server before the interruption: kept")
                mig.record(Step.BUILD, jn.DONE, recovered=True)
            elif state is not None and state != (True, True):
                drop_if_invalid(conn, spec, name, note)
                mig.record(Step.BUILD, jn.FAILED, error="interrupted; invalid index dropped")
            elif running == Step.BUILD:
                mig.record(Step.BUILD, jn.FAILED, error="interrupted before the index existed")
        elif running == Step.CUTOVER:
            assert spec.old_name
            old = index_state(conn, spec.schema, spec.old_name)
            if old is not None and old != (True, True) and not spec.rename:
                note(f"{spec.old_name} was left half-dropped: dropping it again")
            mig.record(Step.CUTOVER, jn.FAILED, error="interrupted")
        elif running in _SIMPLE:
            mig.record(running, jn.FAILED, error="interrupted")
        elif running == Step.ROLLBACK:
            note("the rollback was interrupted: it will be run again")
    finally:
        conn.close()
    return found


def _drop_quietly(conn: Any, spec: MigrationSpec, name: str, say: Say) -> None:
    drop_if_invalid(conn, spec, name, say)
