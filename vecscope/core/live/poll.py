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

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow, dict_row

from vecscope.core import db
from vecscope.core.catalog.activity import statements_status
from vecscope.core.connection import ConnectionTarget, connect, redact
from vecscope.core.doctor.explain import QUERY_SETTINGS
from vecscope.core.errors import first_line
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
        self._statements: sql.Composed | None = None
        self._reset: sql.Composed | None = None
        self._missing: str | None = None
        #: pg_stat_statements failed to read once: left out for the rest of the run (as
        #: pg_activity does), so a broken view does not write a server-log error per poll.
        self._statements_failed = False
        self._sees_all = False
        self._probe_statements()

    def _probe_statements(self) -> None:
        """Where pg_stat_statements is, and which of its columns this version has."""
        with db.mapped_errors("reading pg_stat_statements' status"):
            schema, missing, self._sees_all = statements_status(self.conn)
            self._missing = missing
            self._statements = self._reset = None
            if schema is None:
                return
            view = sql.Identifier(schema, "pg_stat_statements")
            info = sql.Identifier(schema, "pg_stat_statements_info")
            found = db.row(
                self.conn,
                "live_statements_columns",
                {"view": view.as_string(self.conn), "info": info.as_string(self.conn)},
            )
        assert found is not None
        since = "min(stats_since)" if found["has_since"] else "NULL::timestamptz"
        self._statements = db.statement("live_statements", statements=view, since=sql.SQL(since))
        if found["has_info"]:
            self._reset = db.statement("live_statements_reset", info=info)

    def poll(self) -> Snapshot:
        """Read one snapshot.

        Raises:
            QueryError: When the server cannot answer the basic reads (clock, activity,
                indexes); pg_stat_statements failing only sets ``statements_missing``.
        """
        started = time.perf_counter()
        if self._statements is None and not self._statements_failed:
            self._probe_statements()  # it may have been installed since the last poll
        with db.mapped_errors("polling the server"):
            clock = db.row(self.conn, "live_server")
            assert clock is not None
            statements, reset = self._read_statements()
            running = tuple(db.records(self.conn, "live_activity", Running))
            indexes = tuple(db.records(self.conn, "live_indexes", IndexCounters))
            settings = tuple(
                db.records(self.conn, "live_settings", Setting, {"names": list(WATCHED_SETTINGS)})
            )
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
        self,
    ) -> tuple[tuple[StatementCounters, ...] | None, datetime | None]:
        if self._statements is None:
            return None, None
        try:
            with self.conn.cursor(row_factory=dict_row) as cur:
                rows = cur.execute(self._statements).fetchall()
                reset_row = cur.execute(self._reset).fetchone() if self._reset else None
        except psycopg.errors.QueryCanceled:
            raise
        except psycopg.Error as e:
            # Created but not preloaded, or not allowed: said once, left out from now on.
            self._missing = f"pg_stat_statements cannot be read: {first_line(e)}"
            self._statements = None
            self._statements_failed = True
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
