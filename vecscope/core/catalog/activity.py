"""Where the plan doctor's live queries come from: what runs now, and what costs most.

``pg_stat_activity`` lists the vector queries running now; ``pg_stat_statements``, where
it is installed, ranks vector query shapes by total and mean time. When it is missing,
or the role may not read other sessions, the result says exactly what to do instead of
failing.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from vecscope.core import db
from vecscope.core.sqltext import display_ident


@dataclass(frozen=True, slots=True)
class RunningQuery:
    pid: int
    duration_s: float | None
    state: str | None
    wait_event_type: str | None
    wait_event: str | None
    usename: str | None
    application_name: str | None
    query: str


@dataclass(frozen=True, slots=True)
class StatementStat:
    queryid: int | None
    calls: int
    total_ms: float
    mean_ms: float
    rows: int
    query: str


@dataclass(frozen=True, slots=True)
class LiveQueries:
    running: tuple[RunningQuery, ...]
    top: tuple[StatementStat, ...]
    #: None when pg_stat_statements was read; otherwise how to enable it.
    statements_missing: str | None
    #: False when other roles' query texts are hidden from this role.
    sees_all: bool


def statements_status(conn: psycopg.Connection[TupleRow]) -> tuple[str | None, str | None, bool]:
    """(schema of pg_stat_statements or None, how to enable it or None, sees all roles)."""
    row = db.row(conn, "statements_status")
    assert row is not None
    sees_all = bool(row["read_all_stats"])
    if row["schema"] is not None and row["schema_usable"]:
        return row["schema"], None, sees_all
    if row["schema"] is not None:
        schema, role = display_ident(row["schema"]), display_ident(row["role"])
        return (
            None,
            f"pg_stat_statements is installed in schema {row['schema']}, which this role may "
            f"not use: GRANT USAGE ON SCHEMA {schema} TO {role};",
            sees_all,
        )
    if not row["available"]:
        how = (
            "pg_stat_statements is not available on this server: install PostgreSQL's "
            "contrib modules, add it to shared_preload_libraries, restart, then "
            "CREATE EXTENSION pg_stat_statements;"
        )
    elif row["preloaded"] is None:
        how = (
            "pg_stat_statements is not installed in this database, and this role may not "
            "read shared_preload_libraries: CREATE EXTENSION pg_stat_statements; (if it "
            "is not loaded, add it to shared_preload_libraries and restart)"
        )
    elif not row["preloaded"]:
        how = (
            "pg_stat_statements is not loaded: add it to shared_preload_libraries "
            "(needs a restart), then CREATE EXTENSION pg_stat_statements;"
        )
    else:
        how = (
            "pg_stat_statements is loaded but not installed in this database: "
            "CREATE EXTENSION pg_stat_statements;"
        )
    return None, how, sees_all


def fetch_live_queries(conn: psycopg.Connection[TupleRow]) -> LiveQueries:
    """The vector queries running now and, where possible, the costliest ones overall."""
    with db.mapped_errors("reading live queries"):
        schema, missing, sees_all = statements_status(conn)
        running = tuple(db.records(conn, "activity", RunningQuery))
        top: tuple[StatementStat, ...] = ()
        if schema is not None:
            top = tuple(
                db.records(
                    conn,
                    "statements",
                    StatementStat,
                    statements=sql.Identifier(schema, "pg_stat_statements"),
                )
            )
    return LiveQueries(running, top, missing, sees_all)
