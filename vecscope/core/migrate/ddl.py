"""Running the wizard's DDL safely: its own session, lock_timeout, bounded retries.

Concurrent DDL cannot run in a transaction block, so these sessions are in autocommit.
When ``lock_timeout`` strikes the statement is retried after a growing pause, so a write
is never blocked longer than ``lock_timeout`` and a busy table still gets its index.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from vecscope.core import db
from vecscope.core.connection import ConnectionTarget, connect
from vecscope.core.errors import BadInputError, MigrationError, QueryError, first_line
from vecscope.core.migrate.plan import MigrationSpec, Statement
from vecscope.core.migrate.refusal import pooled
from vecscope.core.migrate.render import drop_partitioned_statements, drop_sql, session_settings

Conn = psycopg.Connection[TupleRow]
Say = Callable[[str], None]


def require_own_sessions(target: ConnectionTarget) -> None:
    """The wizard needs one server session for a whole statement sequence (``SET
    lock_timeout`` then ``CREATE INDEX CONCURRENTLY`` on the same session, a build that
    must not be pooled away): refuse a transaction pooler, naming it.

    Raises:
        BadInputError: ``target`` goes through a transaction pooler.
    """
    reason = pooled(target)
    if reason is not None:
        raise BadInputError(f"{target.describe()}: {reason}")


def direct_target(pooled: ConnectionTarget, direct_dsn: str) -> ConnectionTarget:
    """The direct connection given beside a pooled one, checked to reach the same database.

    Raises:
        BadInputError: it goes through a transaction pooler too, or reaches another
            server or database.
    """
    direct = ConnectionTarget(dsn=direct_dsn)
    require_own_sessions(direct)
    with connect(pooled) as a, connect(direct) as b:
        one = db.row(a, "migrate_same_server")
        two = db.row(b, "migrate_same_server")
    if one != two:
        raise BadInputError(
            f"--direct-dsn reaches {direct.describe()}, not the database "
            f"{pooled.describe()} reaches (another server or database)"
        )
    return direct


def open_ddl_session(
    target: ConnectionTarget, spec: MigrationSpec, *, build: bool
) -> tuple[Conn, list[Statement]]:
    """A session for the wizard's DDL with its settings applied; returns what was set.

    Raises:
        BadInputError: ``target`` goes through a transaction pooler.
    """
    require_own_sessions(target)
    conn = connect(target, statement_timeout_ms=None)
    applied = session_settings(spec, build=build)
    for st in applied:
        conn.execute(st.sql.rstrip(";"))
    if conn.info.server_version >= 140000:
        # If vecscope dies mid-build the server notices within seconds and stops the build,
        # instead of finishing an index nobody will mark as done.
        db.execute(conn, "migrate_check_interval")
    return conn, applied


def with_retries(
    conn: Conn,
    statement: str,
    spec: MigrationSpec,
    *,
    say: Say = lambda _: None,
    before_retry: Callable[[], None] = lambda: None,
) -> int:
    """Run ``statement``; on lock_timeout wait and retry, at most ``spec.retries`` times.

    Returns:
        The number of attempts it took.

    Raises:
        MigrationError: still locked out after every retry, or another failure.
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            conn.execute(statement.rstrip(";"))
            return attempt
        except psycopg.errors.LockNotAvailable as e:
            if attempt > spec.retries:
                raise MigrationError(
                    f"gave up after {attempt} attempts: another session kept a conflicting "
                    f"lock for longer than lock_timeout ({spec.lock_timeout_ms} ms) each time "
                    f"({first_line(e)})"
                ) from e
            pause = min(30.0, 0.5 * 2 ** (attempt - 1))
            say(
                f"lock_timeout after {spec.lock_timeout_ms} ms (attempt {attempt} of "
                f"{spec.retries + 1}): nobody was blocked; retrying in {pause:.1f} s"
            )
            before_retry()
            time.sleep(pause)
        except psycopg.errors.QueryCanceled:
            raise
        except psycopg.OperationalError as e:
            raise MigrationError(f"connection lost: {first_line(e)}") from e
        except psycopg.Error as e:
            raise MigrationError(first_line(e)) from e


def index_state(conn: Conn, schema: str, name: str) -> tuple[bool, bool] | None:
    """``(valid, ready)`` of an index, or ``None`` when there is none of that name."""
    row = db.row(conn, "migrate_index_state", {"schema": schema, "name": name})
    return (bool(row["valid"]), bool(row["ready"])) if row else None


def invalid_copies(conn: Conn, spec: MigrationSpec, name: str) -> list[str]:
    """``name_ccnew``/``name_ccold`` leftovers of an interrupted REINDEX CONCURRENTLY."""
    rows = db.rows(
        conn,
        "migrate_invalid_copies",
        {"schema": spec.schema, "ccnew": name[:57] + "_ccnew%", "ccold": name[:57] + "_ccold%"},
    )
    return [str(r["name"]) for r in rows]


def drop_if_invalid(conn: Conn, spec: MigrationSpec, name: str, say: Say) -> bool:
    """Drop ``name`` when it exists and is not valid; True if it was dropped."""
    state = index_state(conn, spec.schema, name)
    if state is None or (state[0] and state[1]):
        return False
    say(f"dropping the invalid leftover {name}")
    drop_index(conn, spec, name, say=say)
    return True


def is_partitioned(conn: Conn, spec: MigrationSpec, name: str) -> bool:
    """Whether ``name`` is a partitioned index (one on a partitioned table's parent)."""
    row = db.row(conn, "migrate_index_state", {"schema": spec.schema, "name": name})
    return bool(row and row["partitioned"])


def drop_index(conn: Conn, spec: MigrationSpec, name: str, *, say: Say = lambda _: None) -> int:
    """Drop an index, concurrently, or, when the catalog says it is partitioned (which
    refuses CONCURRENTLY), as :func:`~core.migrate.render.drop_partitioned_statements`
    shows it (the session keeps that shorter lock_timeout); returns the attempts."""
    if not is_partitioned(conn, spec, name):
        return with_retries(conn, drop_sql(spec, name), spec, say=say)
    setting, drop = drop_partitioned_statements(spec, name, "")
    conn.execute(setting.sql.rstrip(";"))
    return with_retries(conn, drop.sql, spec, say=say)


def orphan_builders(conn: Conn, spec: MigrationSpec) -> list[int]:
    """Backends still running a CREATE INDEX on the table (a killed vecscope's build)."""
    rows = db.rows(
        conn,
        "migrate_orphan_builders",
        {"table": spec.qualified_table, "application": "vecscope"},
    )
    return [int(r["pid"]) for r in rows]


def stop_orphans(conn: Conn, spec: MigrationSpec, say: Say, timeout_s: float = 30.0) -> None:
    """Cancel builds a killed vecscope left running, and wait until they are gone."""
    pids = orphan_builders(conn, spec)
    if not pids:
        return
    say(f"cancelling the build a previous run left on the server (pid {', '.join(map(str, pids))})")
    for pid in pids:
        db.execute(conn, "migrate_cancel_backend", {"pid": pid})
    deadline = time.monotonic() + timeout_s
    while orphan_builders(conn, spec):
        if time.monotonic() > deadline:
            raise QueryError("a previous build is still running on the server and did not stop")
        time.sleep(0.2)


def analyze(conn: Conn, spec: MigrationSpec) -> None:
    db.execute(conn, "migrate_analyze", table=sql.Identifier(spec.schema, spec.table))
