"""Benchmark: the server time of one Live poll, on 5,000 statements and 1,000 indexes.

What it measures, on its own embedded PostgreSQL (``pg_stat_statements`` preloaded, and
pgvector; started in a fresh temporary directory on a Unix socket only, and stopped and
removed at the end, ^C included, unless ``--keep``):

* a large database of ``--indexes`` (default 1,000) pgvector indexes: small tables
  ``t0000``, ``t0001``, ... (a primary key, a few columns, ``embedding vector(8)``, 4
  rows), each with an HNSW index (``vector_l2_ops``) and an IVFFlat index
  (``vector_cosine_ops``, ``lists = 1``); and ``--statements`` (default 5,000) distinct
  statement shapes in ``pg_stat_statements``, ``--vector-statements`` (default 500) of
  them vector queries (``ORDER BY embedding <-> / <=> / <#> ... LIMIT``) so the poll's
  vector-shape filter has real matches, the rest ordinary SELECT / UPDATE / DELETE;
  shapes differ by table, template and ``IN`` list length (constants are normalised
  away, so varied literals would not make new shapes); checked in
  ``pg_stat_statements`` before measuring;
* a small database on the same server as the baseline: ``--small-statements`` (10) and
  ``--small-indexes`` (10), with the same share of vector shapes (at least one);
* on each database, ``Poller(conn).poll()`` on an ``open_poll_connection`` (autocommit,
  the live view's ``statement_timeout``) as a monitoring role (``pg_monitor``), the way
  ``vecscope live`` polls: ``--warmup`` untimed polls, then ``--polls`` rounds of one poll
  on each database, the order alternating, so drift in the machine's load hits both;
* the server time of each poll: the ``total_exec_time + total_plan_time`` deltas, in
  ``pg_stat_statements`` (``track_planning = on``), of the statements the monitoring
  role ran during that poll, read by a separate superuser session before and after it
  (the poll's own statements are tracked like any other; each is named by its text);
  and the client-side wall time of the poll (``Snapshot.poll_ms``: round trips and
  decoding included). Medians (min..max) over the polls, per statement and in total;
* a profile: ``EXPLAIN (ANALYZE, FORMAT JSON)`` of each statement the poll runs, on the
  poll's connection after the rounds, ``--explain-runs`` times; median planning +
  execution time and the plan node that costs the most.

Why ratios: milliseconds on a shared 2-core machine say as much about the machine as about
the SQL. The small database's poll, on the same server in the same run, is the baseline:
``large / small`` (medians) is how much 1,000 indexes and 5,000 statements add to a poll,
comparable between runs where raw milliseconds are not. Note that ``pg_stat_statements``
is server-wide: the small database's poll reads all of the server's entries too (the
``dbid`` filter applies after the view has produced them), so the ratio is the part that
grows with the database; the per-statement table shows where the rest goes. The target
stays the absolute one the feature promises: the server time of one poll on the large
database under 50 ms.

The throwaway server runs with ``fsync = off`` (the build of 1,000 indexes is then
quick); the poll only reads, so its figures do not depend on it.

Run from the project root: ``python bench/live_poll.py``.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import psycopg
from common import BenchError
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg.rows import TupleRow

from vecscope.core import db, embedded
from vecscope.core.connection import ConnectionTarget
from vecscope.core.errors import VecscopeError
from vecscope.core.live.model import Snapshot
from vecscope.core.live.poll import WATCHED_SETTINGS, Poller, open_poll_connection, poll_timeout_ms

Conn = psycopg.Connection[TupleRow]
#: (dbid, queryid, toplevel) -> (calls, total_exec_time, total_plan_time)
Counters = dict[tuple[int, int, bool], tuple[int, float, float]]

PORT = 5477
LARGE_DB = "bench_live"
SMALL_DB = "bench_live_small"
POLL_ROLE = "vecscope_live"
TARGET_MS = 50.0
ROWS_PER_TABLE = 4
DIMS = 8
#: Tables created per transaction (keeps the lock table small).
BATCH = 50
#: The live view's default interval (``vecscope live --interval``).
INTERVAL_S = 2.0

#: Vector query shapes; ``{extra}`` makes more shapes per table once every (table,
#: template) pair is used: ``id IN (1, ..., n) AND``.
VECTOR_TEMPLATES: tuple[str, ...] = (
    "SELECT id FROM {t} WHERE {extra}tenant_id = 1 ORDER BY embedding <-> '{q}' LIMIT 5",
    "SELECT id, title FROM {t} WHERE {extra}title IS NOT NULL "
    "ORDER BY embedding <=> '{q}' LIMIT 10",
    "SELECT id, embedding <#> '{q}' AS score FROM {t} WHERE {extra}body IS NOT NULL "
    "ORDER BY 2 LIMIT 5",
    "SELECT id, title, created_at FROM {t} WHERE {extra}created_at > now() - interval "
    "'1 day' ORDER BY embedding <-> '{q}' LIMIT 20",
)
#: Ordinary query shapes, the bulk of a production pg_stat_statements.
PLAIN_TEMPLATES: tuple[str, ...] = (
    "SELECT id, title FROM {t} WHERE {extra}tenant_id = 1",
    "SELECT count(*) FROM {t} WHERE {extra}tenant_id = 2",
    "SELECT id, title, body, created_at FROM {t} WHERE {extra}tenant_id = 3 "
    "ORDER BY created_at DESC LIMIT 20",
    "SELECT max(created_at) FROM {t} WHERE {extra}title IS NOT NULL",
    "SELECT id FROM {t} WHERE {extra}title LIKE 'title 1%'",
    "SELECT tenant_id, count(*) FROM {t} WHERE {extra}created_at > now() - interval "
    "'1 hour' GROUP BY tenant_id",
    "UPDATE {t} SET title = 'renamed' WHERE {extra}id < 0",
    "DELETE FROM {t} WHERE {extra}id < 0",
    "SELECT id, body FROM {t} WHERE {extra}body IS NULL LIMIT 1",
)

#: The poll's statements, named by a fragment of their text (first match wins).
LABELS: tuple[tuple[str, str], ...] = (
    ("pg_postmaster_start_time", "server clock (live_server)"),
    ("sum(calls)", "shapes (live_statements)"),
    ("stats_reset", "statements reset (pg_stat_statements_info)"),
    ("pg_stat_activity", "running (live_activity)"),
    ("pg_stat_get_numscans", "indexes (live_indexes)"),
    ("pg_db_role_setting", "settings (live_settings)"),
)
OTHER = "other"


# -- the server -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Server:
    root: Path
    embedded: embedded.EmbeddedServer

    def conninfo(self, dbname: str = "postgres", user: str = "postgres") -> str:
        return make_conninfo(self.embedded.conninfo(dbname), user=user)


def start_server(root: Path, pgss_max: int) -> Server:
    """The embedded server in ``root``, with pg_stat_statements sized and timing plans."""
    server = embedded.start(root / "pgdata")
    settings = {
        "pg_stat_statements.max": str(pgss_max),
        "pg_stat_statements.track_planning": "on",
        "fsync": "off",
        "full_page_writes": "off",
        "synchronous_commit": "off",
    }
    with psycopg.connect(server.conninfo(), autocommit=True) as admin:
        for name, value in settings.items():
            admin.execute(
                sql.SQL("ALTER SYSTEM SET {} = {}").format(
                    sql.Identifier(*name.split(".")), sql.Literal(value)
                )
            )
    embedded.restart(server)  # pg_stat_statements.max needs one
    return Server(root, server)


def stop_server(server: Server) -> None:
    try:
        embedded.stop(server.embedded.pgdata)
    except VecscopeError as e:
        print(f"note: stopping the server: {e}", file=sys.stderr)


# -- the databases ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Layout:
    dbname: str
    indexes: int
    statements: int
    vector_statements: int

    @property
    def tables(self) -> int:
        return math.ceil(self.indexes / 2)


def table_name(i: int) -> str:
    return f"t{i:04d}"


def _vector_literal(i: int) -> str:
    return "[" + ",".join(f"{((i * 7 + d) % 10) / 10 + 0.05:.2f}" for d in range(DIMS)) + "]"


def shape(templates: Sequence[str], k: int, tables: int) -> str:
    """The ``k``-th distinct shape: template, then table, then the ``IN`` list's length."""
    per_round = len(templates) * tables
    n = k // per_round
    template = templates[k % len(templates)]
    table = (k // len(templates)) % tables
    extra = f"id IN ({', '.join(str(x) for x in range(1, n + 1))}) AND " if n else ""
    return template.format(t=table_name(table), extra=extra, q=_vector_literal(k))


def workload(layout: Layout) -> list[str]:
    vector = [shape(VECTOR_TEMPLATES, k, layout.tables) for k in range(layout.vector_statements)]
    plain = [
        shape(PLAIN_TEMPLATES, k, layout.tables)
        for k in range(layout.statements - layout.vector_statements)
    ]
    # Interleaved, as an application would send them.
    out: list[str] = []
    step = max(1, len(plain) // max(1, len(vector)))
    for i, statement in enumerate(vector):
        out.extend(plain[i * step : (i + 1) * step])
        out.append(statement)
    out.extend(plain[len(vector) * step :])
    return out


def build_database(server: Server, layout: Layout) -> float:
    """The tables and their pgvector indexes, VACUUM (ANALYZE); seconds taken."""
    started = time.perf_counter()
    with psycopg.connect(server.conninfo(), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(layout.dbname)))
    with psycopg.connect(server.conninfo(layout.dbname), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION vector")
        conn.execute("CREATE EXTENSION pg_stat_statements")
        made = 0
        for start in range(0, layout.tables, BATCH):
            with conn.transaction():
                for i in range(start, min(start + BATCH, layout.tables)):
                    table = sql.Identifier(table_name(i))
                    conn.execute(
                        sql.SQL(
                            "CREATE TABLE {} (id bigint PRIMARY KEY, tenant_id integer NOT NULL, "
                            "title text, body text, created_at timestamptz NOT NULL DEFAULT "
                            "now(), embedding vector({}))"
                        ).format(table, sql.Literal(DIMS))
                    )
                    conn.execute(
                        sql.SQL(
                            "INSERT INTO {} (id, tenant_id, title, body, embedding) "
                            "SELECT g, g % 3, 'title ' || g, repeat('x', 40), "
                            "array_fill((g + {})::real / 10, ARRAY[{}])::vector "
                            "FROM generate_series(1, {}) g"
                        ).format(
                            table,
                            sql.Literal(i % 5),
                            sql.Literal(DIMS),
                            sql.Literal(ROWS_PER_TABLE),
                        )
                    )
                    for method, opclass, with_ in (
                        ("hnsw", "vector_l2_ops", ""),
                        ("ivfflat", "vector_cosine_ops", " WITH (lists = 1)"),
                    ):
                        if made == layout.indexes:
                            break
                        conn.execute(
                            sql.SQL("CREATE INDEX {} ON {} USING {} (embedding {}){}").format(
                                sql.Identifier(f"{table_name(i)}_embedding_{method}"),
                                table,
                                sql.SQL(method),
                                sql.SQL(opclass),
                                sql.SQL(with_),
                            )
                        )
                        made += 1
        # Else autovacuum analyzes the fresh tables a minute later, inside the rounds.
        conn.execute("VACUUM (ANALYZE)")
    return time.perf_counter() - started


def run_workload(server: Server, layout: Layout) -> None:
    with psycopg.connect(server.conninfo(layout.dbname), autocommit=True) as conn:
        for statement in workload(layout):
            conn.execute(statement.encode(), prepare=False)


# -- measuring --------------------------------------------------------------------------


def label_of(query: str) -> str:
    return next((name for fragment, name in LABELS if fragment in query), OTHER)


@dataclass
class Side:
    """One database's poller and what its polls measured."""

    layout: Layout
    conn: Conn
    poller: Poller
    server_ms: list[float] = field(default_factory=list)
    client_ms: list[float] = field(default_factory=list)
    per_statement: dict[str, list[float]] = field(default_factory=dict)
    calls: list[int] = field(default_factory=list)
    last: Snapshot | None = None

    @property
    def name(self) -> str:
        return "large" if self.layout.dbname == LARGE_DB else "small"


class Observer:
    """A superuser session in ``postgres`` that reads the monitoring role's counters."""

    def __init__(self, server: Server) -> None:
        self.conn: Conn = psycopg.connect(server.conninfo(), autocommit=True)
        row = self.conn.execute(
            "SELECT oid::bigint FROM pg_roles WHERE rolname = %s", (POLL_ROLE,)
        ).fetchone()
        if row is None:
            raise BenchError(f"role {POLL_ROLE} is missing")
        self.role_oid = int(row[0])
        self.labels: dict[int, str] = {}

    def counters(self) -> Counters:
        rows = self.conn.execute(
            "SELECT dbid::bigint, queryid, toplevel, calls, total_exec_time, total_plan_time "
            "FROM pg_stat_statements(false) WHERE userid = %s::oid",
            (self.role_oid,),
        ).fetchall()
        return {
            (int(d), int(q), bool(t)): (int(c), float(e), float(p)) for d, q, t, c, e, p in rows
        }

    def learn_labels(self) -> None:
        for queryid, query in self.conn.execute(
            "SELECT queryid, query FROM pg_stat_statements WHERE userid = %s::oid",
            (self.role_oid,),
        ):
            self.labels[int(queryid)] = label_of(str(query))

    def close(self) -> None:
        self.conn.close()


def poll_once(side: Side, observer: Observer) -> None:
    before = observer.counters()
    snap = side.poller.poll()
    after = observer.counters()
    total = 0.0
    calls = 0
    per: dict[str, float] = {}
    for key, (c1, e1, p1) in after.items():
        c0, e0, p0 = before.get(key, (0, 0.0, 0.0))
        if c1 == c0:
            continue
        ms = (e1 - e0) + (p1 - p0)
        label = observer.labels.get(key[1], OTHER)
        per[label] = per.get(label, 0.0) + ms
        total += ms
        calls += c1 - c0
    side.server_ms.append(total)
    side.client_ms.append(snap.poll_ms)
    side.calls.append(calls)
    for label, ms in per.items():
        side.per_statement.setdefault(label, []).append(ms)
    side.last = snap


@dataclass(frozen=True, slots=True)
class Explained:
    label: str
    planning_ms: float
    execution_ms: float
    top_node: str
    top_node_ms: float


def poll_statements(poller: Poller) -> list[tuple[str, bytes, dict[str, Any] | None]]:
    """The statements one poll runs, as it runs them (the Poller's own texts)."""

    def text(name: str) -> bytes:
        return db.statement(name).as_bytes(poller.conn)

    out: list[tuple[str, bytes, dict[str, Any] | None]] = [
        (label_of(text("live_server").decode()), text("live_server"), None)
    ]
    # Private, but exactly what poll() sends (the view's schema and version resolved).
    for composed in (poller._statements, poller._reset):
        if composed is not None:
            raw = composed.as_bytes(poller.conn)
            out.append((label_of(raw.decode()), raw, None))
    for name in ("live_activity", "live_indexes"):
        out.append((label_of(text(name).decode()), text(name), None))
    out.append(
        (
            label_of(text("live_settings").decode()),
            text("live_settings"),
            {"names": list(WATCHED_SETTINGS)},
        )
    )
    return out


def _costliest_node(plan: dict[str, Any]) -> tuple[str, float]:
    """The node with the largest exclusive time (its time minus its children's)."""

    def total(node: dict[str, Any]) -> float:
        return float(node.get("Actual Total Time", 0.0)) * float(node.get("Actual Loops", 1))

    best = ("", -1.0)
    stack = [plan]
    while stack:
        node = stack.pop()
        children: list[dict[str, Any]] = node.get("Plans", [])
        own = total(node) - sum(total(child) for child in children)
        if own > best[1]:
            target = node.get("Function Name") or node.get("Relation Name") or ""
            best = (f"{node['Node Type']}{' on ' + target if target else ''}", own)
        stack.extend(children)
    return best


def explain(side: Side, runs: int) -> list[Explained]:
    out = []
    for label, text, params in poll_statements(side.poller):
        planning, execution, tops = [], [], []
        for _ in range(runs):
            row = side.conn.execute(b"EXPLAIN (ANALYZE, FORMAT JSON) " + text, params).fetchone()
            if row is None:
                raise BenchError(f"EXPLAIN of {label} returned nothing")
            doc: dict[str, Any] = row[0][0]
            planning.append(float(doc["Planning Time"]))
            execution.append(float(doc["Execution Time"]))
            tops.append(_costliest_node(doc["Plan"]))
        names = [t[0] for t in tops]
        node = max(names, key=names.count)  # the usual one, should runs disagree
        node_ms = median([t[1] for t in tops if t[0] == node])
        out.append(Explained(label, median(planning), median(execution), node, node_ms))
    return out


# -- reporting --------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def spread(values: Sequence[float]) -> str:
    if not values:
        return "-"
    return f"{median(values):7.2f} ({min(values):.2f}..{max(values):.2f})"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _one(conn: Conn, query: str) -> str:
    row = conn.execute(query.encode()).fetchone()
    return str(row[0]) if row else "?"


def check_statements(conn: Conn, large: Layout, small: Layout) -> int:
    """The workload's shapes are in pg_stat_statements; the server-wide count."""
    rows = conn.execute(
        "SELECT d.datname::text, count(*), "
        "count(*) FILTER (WHERE s.query ~ '(<->|<=>|<#>|<\\+>|<~>|<%>)') "
        "FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid GROUP BY 1"
    ).fetchall()
    by_db = {str(name): (int(n), int(v)) for name, n, v in rows}
    total = sum(n for n, _ in by_db.values())
    for layout in (large, small):
        n, v = by_db.get(layout.dbname, (0, 0))
        if n < layout.statements or v < layout.vector_statements:
            raise BenchError(
                f"pg_stat_statements holds {n} statements ({v} vector) in {layout.dbname}, "
                f"expected {layout.statements} ({layout.vector_statements}): shapes collided "
                "or were evicted"
            )
    big_n, big_v = by_db[large.dbname]
    small_n, small_v = by_db[small.dbname]
    print(
        f"pg_stat_statements: {total:,} entries server-wide; {big_n:,} in {large.dbname} "
        f"({big_v:,} vector shapes), {small_n:,} in {small.dbname} ({small_v} vector)"
    )
    return total


def check_snapshot(side: Side) -> None:
    snap = side.last
    if snap is None:
        raise BenchError(f"no poll of {side.layout.dbname}")
    shapes = len(snap.statements) if snap.statements is not None else 0
    if snap.statements is None:
        raise BenchError(
            f"the poll of {side.layout.dbname} read no pg_stat_statements: "
            f"{snap.statements_missing}"
        )
    if shapes != side.layout.vector_statements or len(snap.indexes) != side.layout.indexes:
        raise BenchError(
            f"the poll of {side.layout.dbname} read {shapes} shapes and {len(snap.indexes)} "
            f"indexes, expected {side.layout.vector_statements} and {side.layout.indexes}"
        )


def summarize(large: Side, small: Side, polls: int, profile: dict[str, list[Explained]]) -> int:
    labels = [name for _, name in LABELS]
    labels += sorted((set(large.per_statement) | set(small.per_statement)) - set(labels))
    print()
    print(f"server time per poll statement, ms: median (min..max) over {polls} polls")
    print(f"  {'statement':<44} {'large':>24} {'small':>24}")
    for label in labels:
        lv, sv = large.per_statement.get(label, []), small.per_statement.get(label, [])
        if lv or sv:
            print(f"  {label:<44} {spread(lv):>24} {spread(sv):>24}")
    big_server, small_server = median(large.server_ms), median(small.server_ms)
    big_client, small_client = median(large.client_ms), median(small.client_ms)
    print(
        f"  {'server time of one poll (sum)':<44} {spread(large.server_ms):>24} "
        f"{spread(small.server_ms):>24}"
    )
    print(
        f"  {'client wall time of one poll (poll_ms)':<44} {spread(large.client_ms):>24} "
        f"{spread(small.client_ms):>24}"
    )
    print(
        f"  {'statements per poll':<44} {median(large.calls):>7.0f}{'':17} "
        f"{median(small.calls):>7.0f}"
    )
    print()
    for side in (large, small):
        snap = side.last
        assert snap is not None
        shapes = len(snap.statements) if snap.statements is not None else 0
        print(
            f"{side.name} database, last poll read: vector shapes {shapes:,}, pgvector "
            f"indexes {len(snap.indexes):,}, running queries {len(snap.running)}, settings "
            f"{len(snap.settings)}"
        )
    print()
    for name in ("large", "small"):
        rows = profile.get(name, [])
        if not rows:
            continue
        print(f"EXPLAIN (ANALYZE) on the {name} database, ms: median of the runs")
        print(f"  {'statement':<44} {'plan':>7} {'exec':>7}  costliest node (exclusive ms)")
        for e in rows:
            print(
                f"  {e.label:<44} {e.planning_ms:7.2f} {e.execution_ms:7.2f}  "
                f"{e.top_node} ({e.top_node_ms:.2f})"
            )
        print()
    print(
        f"ratio large / small (medians): server time {big_server / small_server:.2f}x, "
        f"client wall time {big_client / small_client:.2f}x\n"
        f"client minus server time (round trips, decoding): {big_client - big_server:.1f} ms "
        f"large, {small_client - small_server:.1f} ms small"
    )
    passed = big_server < TARGET_MS
    print(
        f"target: server time of one poll on the large database under {TARGET_MS:g} ms -> "
        f"{big_server:.2f} ms  {verdict(passed)}"
    )
    return 0 if passed else 1


# -- the run ----------------------------------------------------------------------------


def bench(server: Server, args: argparse.Namespace) -> int:
    large = Layout(LARGE_DB, args.indexes, args.statements, args.vector_statements)
    small_vector = max(1, round(args.small_statements * args.vector_statements / args.statements))
    small = Layout(SMALL_DB, args.small_indexes, args.small_statements, small_vector)
    for layout in (large, small):
        seconds = build_database(server, layout)
        print(
            f"built {layout.dbname}: {layout.tables:,} tables, {layout.indexes:,} pgvector "
            f"indexes (HNSW, IVFFlat), VACUUM (ANALYZE): {seconds:.1f} s",
            flush=True,
        )
    with psycopg.connect(server.conninfo(), autocommit=True) as admin:
        admin.execute("CREATE EXTENSION pg_stat_statements")  # the observer reads it here
        admin.execute("CHECKPOINT")
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(POLL_ROLE)))
        admin.execute(sql.SQL("GRANT pg_monitor TO {}").format(sql.Identifier(POLL_ROLE)))
        # Only the workload's shapes from here on (the build's DDL is tracked too).
        admin.execute("SELECT pg_stat_statements_reset()")
        started = time.perf_counter()
        for layout in (large, small):
            run_workload(server, layout)
        print(
            f"workload: {large.statements:,} distinct statements ({large.vector_statements:,} "
            f"vector) in {large.dbname}, {small.statements} ({small.vector_statements}) in "
            f"{small.dbname}, in {time.perf_counter() - started:.1f} s"
        )
        check_statements(admin, large, small)
        version = _one(admin, "SHOW server_version")
        pgvector = _one(
            admin, "SELECT default_version FROM pg_available_extensions WHERE name = 'vector'"
        )
        pgss = _one(
            admin, "SELECT extversion FROM pg_extension WHERE extname = 'pg_stat_statements'"
        )
        print(
            f"PostgreSQL {version}; pgvector {pgvector}; Python {sys.version.split()[0]}; "
            f"{os.cpu_count()} CPUs\npg_stat_statements {pgss}: max "
            f"{_one(admin, 'SHOW pg_stat_statements.max')}, track all, track_planning on"
        )
    print(
        f"polling as {POLL_ROLE} (pg_monitor), statement_timeout "
        f"{poll_timeout_ms(args.interval)} ms; {args.warmup} warm-up poll(s) per database, "
        f"then {args.polls} rounds of one poll each, order alternating"
    )
    print()

    observer = Observer(server)
    sides: list[Side] = []
    try:
        for layout in (large, small):
            target = ConnectionTarget(dsn=server.conninfo(layout.dbname, POLL_ROLE))
            conn = open_poll_connection(target, args.interval)
            sides.append(Side(layout, conn, Poller(conn)))
        big, little = sides
        for side in sides:
            for _ in range(args.warmup):
                side.poller.poll()
        observer.learn_labels()
        for r in range(1, args.polls + 1):
            for side in sides if r % 2 == 1 else reversed(sides):
                poll_once(side, observer)
            print(
                f"round {r:>3}/{args.polls}  server ms: large {big.server_ms[-1]:6.2f} small "
                f"{little.server_ms[-1]:6.2f} ({big.server_ms[-1] / little.server_ms[-1]:.2f}x)"
                f"  client ms: large {big.client_ms[-1]:6.2f} small "
                f"{little.client_ms[-1]:6.2f}",
                flush=True,
            )
        for side in sides:
            check_snapshot(side)
        unknown = {label for side in sides for label in side.per_statement} - {
            name for _, name in LABELS
        }
        if unknown:
            print(f"note: the polls ran statements not named here: {', '.join(sorted(unknown))}")
        profile = {side.name: explain(side, args.explain_runs) for side in sides}
        return summarize(big, little, args.polls, profile)
    finally:
        for side in sides:
            side.conn.close()
        observer.close()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument(
        "--statements", type=int, default=5_000, help="distinct statements (default 5000)"
    )
    p.add_argument(
        "--vector-statements",
        type=int,
        default=500,
        help="of which vector queries (default 500)",
    )
    p.add_argument("--indexes", type=int, default=1_000, help="pgvector indexes (default 1000)")
    p.add_argument(
        "--small-statements", type=int, default=10, help="baseline's statements (default 10)"
    )
    p.add_argument("--small-indexes", type=int, default=10, help="baseline's indexes (default 10)")
    p.add_argument("--polls", type=int, default=30, help="measured polls per database (default 30)")
    p.add_argument("--warmup", type=int, default=3, help="untimed polls first (default 3)")
    p.add_argument(
        "--explain-runs", type=int, default=5, help="EXPLAIN ANALYZE runs (default 5; 0: none)"
    )
    p.add_argument(
        "--interval",
        type=float,
        default=INTERVAL_S,
        help=f"live view interval: sets the statement_timeout (default {INTERVAL_S:g})",
    )
    p.add_argument("--port", type=int, default=PORT, help=f"server port (default {PORT})")
    p.add_argument(
        "--keep",
        action="store_true",
        help="leave the server running and its directory in place for inspection",
    )
    args = p.parse_args(argv)
    if min(args.statements, args.indexes, args.small_statements, args.small_indexes) < 1:
        p.error("--statements, --indexes and their --small- forms must be at least 1")
    if not 1 <= args.vector_statements <= args.statements:
        p.error("--vector-statements must be between 1 and --statements")
    if args.polls < 1 or args.warmup < 1 or args.explain_runs < 0:
        p.error("--polls and --warmup must be at least 1, --explain-runs not negative")
    return args


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main() -> int:
    args = parse_args()
    # ^C and kill both unwind through the clean-up below (also when started in the
    # background, where the shell ignores SIGINT).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    root = Path(tempfile.mkdtemp(prefix="vecscope-bench-live-"))
    server: Server | None = None
    pgss_max = max(10_000, 2 * (args.statements + args.small_statements + 100))
    try:
        server = start_server(root, pgss_max)
        return bench(server, args)
    except (BenchError, VecscopeError, psycopg.Error) as e:
        print(f"bench failed: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        if args.keep and server is not None:
            print(
                f'kept: psql "{server.conninfo(LARGE_DB)}"; stop with: kill -INT '
                f"$(head -1 {server.embedded.pgdata}/postmaster.pid) && rm -rf {root}"
            )
        else:
            # A second ^C must not leave the server behind.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            try:
                if server is not None:
                    stop_server(server)
            finally:
                shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
