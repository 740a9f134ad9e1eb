"""One poll of a production database: read counters, add no load.

A poll runs five small catalog statements on its own autocommit connection under a short
``statement_timeout``: the server's clock, vector query shapes from ``pg_stat_statements``,
vector queries running now, the scan counters of every pgvector index, and the settings
that change vector plans. Nothing is written and no query of the application is re-run.

A part the role cannot read (no ``pg_stat_statements``, no privilege) is left out with a
line saying how to enable it; the rest of the poll goes on.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow, dict_row

from vecscope.core import queries
from vecscope.core.catalog.activity import statements_status
from vecscope.core.connection import ConnectionTarget, connect, redact
from vecscope.core.doctor.explain import QUERY_SETTINGS
from vecscope.core.errors import QueryError, first_line
from vecscope.core.live.model import IndexCounters, Running, Setting, Snapshot, StatementCounters

#: Settings that change how vector queries are planned or how many results they return:
#: the plan doctor's, and the server-wide ones a DBA changes in an incident.
WATCHED_SETTINGS = tuple(
    dict.fromkeys(
        (
            *QUERY_SETTINGS,
            "maintenance_work_mem",
            "effective_cache_size",
            "random_page_cost",
            "seq_page_cost",
            "jit",
            "max_parallel_workers_per_gather",
            "plan_cache_mode",
            "statement_timeout",
        )
    )
)

#: A poll statement that takes longer than this is cancelled (a sick server must not
#: be made sicker by its monitor).
POLL_TIMEOUT_MS = 1_000


def poll_timeout_ms(interval_s: float) -> int:
    """Half the interval, at most :data:`POLL_TIMEOUT_MS`, so polls never pile up."""
    return max(100, min(POLL_TIMEOUT_MS, int(interval_s * 500)))


def open_poll_connection(
    target: ConnectionTarget, interval_s: float
) -> psycopg.Connection[TupleRow]:
    """An autocommit connection (every statement sees fresh statistics)."""
    return connect(target, statement_timeout_ms=poll_timeout_ms(interval_s))


class Poller:
    """Reads :class:`Snapshot`\\ s on one connection; not thread-safe (one poll at a time)."""

    def __init__(self, conn: psycopg.Connection[TupleRow]) -> None:
        self.conn = conn
        self._seq = 0
        self._statements_sql: bytes | None = None
        self._reset_sql: bytes | None = None
        self._missing: str | None = None
        self._sees_all = False
        self._probe_statements()

    def _probe_statements(self) -> None:
        """Where pg_stat_statements is, and which of its columns this version has."""
        try:
            schema, missing, self._sees_all = statements_status(self.conn)
        except psycopg.Error as e:
            raise QueryError(f"reading pg_stat_statements' status failed: {first_line(e)}") from e
        self._missing = missing
        self._statements_sql = self._reset_sql = None
        if schema is None:
            return
        with self.conn.cursor() as cur:
            has_since = cur.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = %s::regclass"
                " AND attname = 'stats_since' AND NOT attisdropped)",
                (sql.Identifier(schema, "pg_stat_statements").as_string(self.conn),),
            ).fetchone()
            has_info = cur.execute(
                "SELECT to_regclass(%s) IS NOT NULL",
                (sql.Identifier(schema, "pg_stat_statements_info").as_string(self.conn),),
            ).fetchone()
        view = sql.Identifier(schema, "pg_stat_statements").as_string(self.conn)
        since = "min(stats_since)" if has_since and has_since[0] else "NULL::timestamptz"
        text = queries.load("live_statements").replace("STATEMENTS", view)
        self._statements_sql = text.replace("SINCE", since).encode()
        if has_info and has_info[0]:
            info = sql.Identifier(schema, "pg_stat_statements_info").as_string(self.conn)
            self._reset_sql = f"SELECT stats_reset FROM {info}".encode()

    def poll(self) -> Snapshot:
        """Read one snapshot.

        Raises:
            QueryError: When the server cannot answer the basic reads (clock, activity,
                indexes); pg_stat_statements failing only sets ``statements_missing``.
        """
        started = time.perf_counter()
        if self._statements_sql is None:
            self._probe_statements()  # it may have been installed since the last poll
        try:
            with self.conn.cursor(row_factory=dict_row) as cur:
                clock = cur.execute(queries.load("live_server").encode()).fetchone()
                assert clock is not None
                statements, reset = self._read_statements(cur)
                running = tuple(
                    Running(**r) for r in cur.execute(queries.load("live_activity").encode())
                )
                indexes = tuple(
                    IndexCounters(**r) for r in cur.execute(queries.load("live_indexes").encode())
                )
                settings = tuple(
                    Setting(**r)
                    for r in cur.execute(
                        queries.load("live_settings").encode(), {"names": list(WATCHED_SETTINGS)}
                    )
                )
        except psycopg.Error as e:
            raise QueryError(f"polling the server failed: {first_line(e)}") from e
        self._seq += 1
        return Snapshot(
            seq=self._seq,
            at=clock["at"],
            server_started=clock["started"],
            statements_reset=reset,
            statements=statements,
            statements_missing=self._missing,
            sees_all=self._sees_all,
            running=running,
            indexes=indexes,
            settings=settings,
            poll_ms=(time.perf_counter() - started) * 1000,
        )

    def _read_statements(
        self, cur: psycopg.Cursor[dict[str, Any]]
    ) -> tuple[tuple[StatementCounters, ...] | None, datetime | None]:
        if self._statements_sql is None:
            return None, None
        try:
            rows = cur.execute(self._statements_sql).fetchall()
            reset_row = cur.execute(self._reset_sql).fetchone() if self._reset_sql else None
        except psycopg.errors.QueryCanceled:
            raise
        except psycopg.Error as e:
            # Created but not preloaded, or not allowed: say so once and poll the rest.
            self._missing = f"pg_stat_statements cannot be read: {first_line(e)}"
            self._statements_sql = None
            return None, None
        statements = tuple(
            StatementCounters(
                queryid=int(r["queryid"]),
                calls=int(r["calls"]),
                total_ms=float(r["total_ms"]),
                rows=int(r["rows"]),
                query=redact(str(r["query"]), None),
                since=r["since"],
            )
            for r in rows
        )
        reset = reset_row["stats_reset"] if reset_row else None
        return statements, reset
