"""The live poll on real servers: the embedded server with pg_stat_statements and the demo
application's traffic, and a server where pg_stat_statements is not loaded."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg.rows import TupleRow

from tests.conftest import Database
from vecscope.core import embedded
from vecscope.core.connection import ConnectionTarget
from vecscope.core.demo.workload import DemoWorkload
from vecscope.core.embedded import EmbeddedServer
from vecscope.core.errors import QueryError
from vecscope.core.live.model import IndexRate, LivePoint, ShapeRate
from vecscope.core.live.poll import Poller, open_poll_connection, poll_timeout_ms
from vecscope.core.live.rates import LiveTracker
from vecscope.core.live.session import LiveSession

#: Served by idx_messages_embedding_hnsw (l2 index, l2 operator).
SERVED = (
    "SELECT id FROM messages ORDER BY embedding <-> "
    "(SELECT embedding FROM messages WHERE id = %s) LIMIT 10"
)
SERVED_TEXT = "FROM messages ORDER BY embedding <->"
#: The demo application's shapes, as pg_stat_statements normalises them.
APP_SHAPES = {
    "docs": "FROM public.doc_chunks ORDER BY embedding <=>",
    "messages": "FROM public.messages ORDER BY embedding <=>",
    # The tenant-scoped search (the filtered-search trap), a tenth of the workload.
    "messages_tenant": "FROM public.messages WHERE tenant_id = $1 ORDER BY embedding <->",
    "atoms": "FROM public.atoms ORDER BY embedding <->",
    "products_before": 'FROM search."Product Embeddings" ORDER BY "Embedding" <#>',
    "products_after": 'FROM search."Product Embeddings" ORDER BY "Embedding" <=>',
}
SLEEPER = (
    "SELECT pg_sleep(30), id FROM doc_chunks "
    "ORDER BY embedding <=> (SELECT embedding FROM doc_chunks WHERE id = 3) LIMIT 1"
)
DEADLINE_S = 60.0


def live_session(dsn: str, stall_seconds: float = 0.5) -> LiveSession:
    session = LiveSession(ConnectionTarget(dsn=dsn), 0.5)
    session.tracker = LiveTracker(stall_seconds=stall_seconds)
    return session


def poll_until(
    step: Callable[[], LivePoint], done: Callable[[LivePoint], bool], what: str
) -> LivePoint:
    """Poll every half second until ``done`` (statistics reach the view asynchronously)."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        point = step()
        if done(point):
            return point
        assert time.monotonic() < deadline, f"never saw: {what}; last point: {point}"
        time.sleep(0.5)


def shape(point: LivePoint, fragment: str) -> ShapeRate | None:
    return next((s for s in point.shapes if s.query and fragment in s.query), None)


def index(point: LivePoint, key: str) -> IndexRate:
    return next(i for i in point.indexes if i.key == key)


def no_negative_rates(point: LivePoint) -> None:
    for s in point.shapes:
        assert s.calls >= 0 and not s.calls_per_s < 0, s
    for i in point.indexes:
        assert i.scans >= 0 and i.seq_scans >= 0 and not i.scans_per_s < 0, i


def run_served(dsn: str, times: int) -> None:
    """Run the served query ``times`` times; its statistics are flushed on return."""
    with psycopg.connect(dsn, autocommit=True) as c:
        for i in range(times):
            c.execute(SERVED, (i + 1,)).fetchall()
        c.execute("SELECT pg_stat_force_next_flush()")


@contextmanager
def sleeping_vector_query(dsn: str) -> Iterator[None]:
    """A vector query running (sleeping) in another session until the block ends."""
    conn = psycopg.connect(dsn, autocommit=True)
    pid = conn.info.backend_pid
    thread = threading.Thread(target=lambda: _expect_cancel(conn), daemon=True)
    thread.start()
    try:
        yield
    finally:
        with psycopg.connect(dsn, autocommit=True) as c:
            c.execute("SELECT pg_cancel_backend(%s)", (pid,))
        thread.join(timeout=30)
        conn.close()


def _expect_cancel(conn: psycopg.Connection[TupleRow]) -> None:
    with suppress(psycopg.errors.QueryCanceled):
        conn.execute(SLEEPER)


def test_ddl_mentioning_operators_is_no_query_shape(pgss_server: EmbeddedServer) -> None:
    name = "t_live_poll_ddl"
    drop = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
    with psycopg.connect(pgss_server.conninfo(), autocommit=True) as admin:
        admin.execute(drop)
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        with psycopg.connect(pgss_server.conninfo(name), autocommit=True) as c:
            c.execute("CREATE EXTENSION pg_stat_statements")
            c.execute("CREATE EXTENSION vector")  # its script defines <->, <=>, <#> ...
            c.execute("CREATE TABLE t (id int, e vector(2))")
            c.execute("CREATE VIEW near AS SELECT id FROM t ORDER BY e <-> '[1,1]' LIMIT 1")
            c.execute(
                "-- first a comment\nCREATE VIEW far AS SELECT id FROM t ORDER BY e <=> '[1,1]'"
            )
            for i in range(3):
                c.execute("SELECT id FROM t ORDER BY e <-> %s::vector LIMIT 1", (f"[{i},0]",))
            (ddl,) = c.execute(
                "SELECT count(*) FROM pg_stat_statements WHERE query ~ '<->|<=>'"
                " AND query ~ 'CREATE (OPERATOR|VIEW)'"
            ).fetchone() or (0,)
        assert ddl >= 3, "pg_stat_statements must hold the DDL for this test to mean anything"
        poller = Poller(open_poll_connection(ConnectionTarget(dsn=pgss_server.conninfo(name)), 2))
        snap = poller.poll()
        poller.conn.close()
        assert snap.statements is not None
        assert [(s.query, s.calls) for s in snap.statements] == [
            ("SELECT id FROM t ORDER BY e <-> $1::vector LIMIT $2", 3)
        ]
    finally:
        with psycopg.connect(pgss_server.conninfo(), autocommit=True) as admin:
            admin.execute(drop)


def test_demo_workload_seen_live(pgss_demo_db: Database) -> None:
    db = pgss_demo_db
    numscans = "SELECT pg_stat_get_numscans('public.doc_chunks'::regclass)"
    with db.connect() as c:
        (before,) = c.execute(numscans).fetchone() or (0,)
    # The deploy is triggered below, once the product index was seen in use.
    workload = DemoWorkload(db.dsn, clients=2, switch_after_s=None, progress=lambda _: None)
    thread = threading.Thread(target=workload.run, args=(300,), daemon=True)
    thread.start()
    live = live_session(db.dsn)
    points: list[LivePoint] = []

    def step() -> LivePoint:
        points.append(live.step())
        return points[-1]

    try:
        # The workload's start reads sample vectors with one sequential scan per table;
        # the run starts once that is counted, so doc_chunks sees only index scans.
        deadline = time.monotonic() + DEADLINE_S
        with db.connect() as c:
            while (c.execute(numscans).fetchone() or (0,))[0] <= before:
                assert time.monotonic() < deadline and thread.is_alive()
                time.sleep(0.1)

        def app_busy(p: LivePoint) -> bool:
            shapes = [shape(p, APP_SHAPES[k]) for k in ("docs", "messages", "products_before")]
            return (
                all(s is not None and s.calls_per_s > 0 and s.mean_ms > 0 for s in shapes)
                and index(p, "public.idx_doc_chunks_embedding").scans > 0
                and index(p, "search.Product Embeddings_hnsw").scans > 0
            )

        step()
        point = poll_until(step, app_busy, "the demo's shapes and index scans")
        messages = shape(point, APP_SHAPES["messages"])
        assert messages is not None and messages.rows_per_call == 10.0
        assert index(point, "public.idx_doc_chunks_embedding").scans_per_s > 0

        workload.switch_after_s = 0.0  # deploy now
        flagged = poll_until(
            step,
            lambda p: index(p, "search.Product Embeddings_hnsw").flag is not None,
            "the product index flagged after the deploy",
        )
        flag = index(flagged, "search.Product Embeddings_hnsw").flag
        assert flag is not None and "Product Embeddings had" in flag and "sequential" in flag
        poll_until(
            step, lambda p: shape(p, APP_SHAPES["products_after"]) is not None, "the new shape"
        )
        assert workload.stats.deployed and workload.stats.errors == 0
        workload.stop()
        thread.join(timeout=30)
        poll_until(step, lambda p: bool(p.changes), "the deploy's setting undone")
    finally:
        workload.stop()
        thread.join(timeout=30)
        live.close()

    assert all(index(p, "public.idx_doc_chunks_embedding").flag is None for p in points)
    changes = [(c.scope, c.name, c.old, c.new) for c in live.tracker.changes]
    scope = f"database {db.name}"
    assert changes == [(scope, "ivfflat.probes", None, "10"), (scope, "ivfflat.probes", "10", None)]
    # Only the application's shapes: no DDL, and none of the poll's own statements.
    allowed = [*APP_SHAPES.values(), SERVED_TEXT]  # SERVED: if other tests ran first
    seen = {s.query for p in points for s in p.shapes}
    assert seen and all(any(f in str(q) for f in allowed) for q in seen), seen
    invalid = index(points[0], "search.Product Embeddings_cosine_idx")
    assert invalid.flag is not None and invalid.flag.startswith("INVALID")


def test_full_reset_between_polls(pgss_demo_db: Database) -> None:
    poller = Poller(open_poll_connection(ConnectionTarget(dsn=pgss_demo_db.dsn), 2.0))
    tracker = LiveTracker()
    run_served(pgss_demo_db.dsn, 5)
    tracker.feed(poller.poll())
    with pgss_demo_db.connect() as c:
        c.execute("SELECT pg_stat_statements_reset()")
    run_served(pgss_demo_db.dsn, 3)
    point = tracker.feed(poller.poll())
    poller.conn.close()
    assert any(r.startswith("pg_stat_statements was reset at") for r in point.resets)
    served = shape(point, SERVED_TEXT)
    assert served is not None and (served.calls, served.restarted) == (3, True)
    # Counted since the reset, which is less than the interval ago.
    assert point.interval_s is not None and served.calls_per_s >= 3 / point.interval_s
    no_negative_rates(point)


def test_server_restart_between_polls(pgss_server: EmbeddedServer, pgss_demo_db: Database) -> None:
    live = live_session(pgss_demo_db.dsn)
    live.step()
    run_served(pgss_demo_db.dsn, 5)
    embedded.restart(pgss_server)
    run_served(pgss_demo_db.dsn, 3)
    try:
        point = live.step()
    except QueryError:
        point = live.step()  # the old connection died with the server: opened again
    live.close()
    assert any(r.startswith("the server restarted at") for r in point.resets), point.resets
    # A clean shutdown saved every counter: the interval holds the 8 queries, no spike.
    served = shape(point, SERVED_TEXT)
    assert served is not None and (served.calls, served.restarted) == (8, False)
    assert index(point, "public.idx_messages_embedding_hnsw").scans == 8
    assert not any("pg_stat_statements was reset" in r for r in point.resets)
    no_negative_rates(point)


def test_one_shape_reset_leaves_the_view(pgss_demo_db: Database) -> None:
    dsn = pgss_demo_db.dsn
    poller = Poller(open_poll_connection(ConnectionTarget(dsn=dsn), 2.0))
    tracker = LiveTracker()
    run_served(dsn, 4)
    served = shape(tracker.feed(poller.poll()), SERVED_TEXT)
    assert served is not None
    reset_one = "SELECT pg_stat_statements_reset(0, 0, %s)"
    with pgss_demo_db.connect() as c:
        c.execute(reset_one, (served.queryid,))
    point = tracker.feed(poller.poll())
    assert point.gone == (served.queryid,) and shape(point, SERVED_TEXT) is None
    assert point.resets == ()
    run_served(dsn, 2)
    back = tracker.feed(poller.poll())
    again = shape(back, SERVED_TEXT)
    assert back.gone == () and again is not None
    assert (again.queryid, again.calls, again.restarted) == (served.queryid, 2, False)
    # Reset and run once between two polls: fewer calls than before, counted again.
    with pgss_demo_db.connect() as c:
        c.execute(reset_one, (served.queryid,))
    run_served(dsn, 1)
    point = tracker.feed(poller.poll())
    poller.conn.close()
    once = shape(point, SERVED_TEXT)
    assert once is not None and (once.calls, once.restarted) == (1, True)
    assert any(r.startswith("1 query shape(s) counted again") for r in point.resets)
    no_negative_rates(point)


def test_without_pg_stat_statements_the_rest_works(bare_demo_db: Database) -> None:
    demo_db = bare_demo_db
    live = live_session(demo_db.dsn)
    first = live.step()
    missing = first.statements_missing
    assert missing is not None
    assert (
        "shared_preload_libraries" in missing and "CREATE EXTENSION pg_stat_statements" in missing
    )
    assert first.shapes == () and first.sees_all
    run_served(demo_db.dsn, 3)
    point = live.step()
    assert point.shapes == () and point.statements_missing == missing
    assert index(point, "public.idx_messages_embedding_hnsw").scans == 3
    with sleeping_vector_query(demo_db.dsn):
        busy = poll_until(live.step, lambda p: p.activity.running > 0, "the sleeping vector query")
    live.close()
    assert busy.activity.longest_query is not None and "pg_sleep(30)" in busy.activity.longest_query
    assert busy.activity.hidden == 0 and busy.activity.longest_s is not None


def test_role_without_pg_read_all_stats(pgss_demo_db: Database) -> None:
    role = "vs_live_reader"
    reader_dsn = make_conninfo(pgss_demo_db.dsn, user=role)
    with pgss_demo_db.connect() as c:
        c.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
        c.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    try:
        run_served(pgss_demo_db.dsn, 2)  # a shape of postgres's
        reader = live_session(reader_dsn)
        with sleeping_vector_query(pgss_demo_db.dsn):
            point = poll_until(reader.step, lambda p: p.activity.hidden > 0, "a hidden session")
            assert not point.sees_all and point.statements_missing is None
            assert point.activity.running == 0 and point.activity.longest_query is None
            # Other roles' shapes have no text or queryid for this role: not shown.
            assert point.shapes == ()
            reader.close()
            with pgss_demo_db.connect() as c:
                c.execute(sql.SQL("GRANT pg_read_all_stats TO {}").format(sql.Identifier(role)))
            reader = live_session(reader_dsn)
            seen = poll_until(reader.step, lambda p: p.activity.running > 0, "the query")
            reader.close()
        assert seen.sees_all and seen.activity.hidden == 0
        assert "pg_sleep(30)" in str(seen.activity.longest_query)
        assert shape(seen, SERVED_TEXT) is not None
    finally:
        with pgss_demo_db.connect() as c:
            c.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


@pytest.mark.parametrize(
    ("interval", "ms", "shown"), [(2.0, 1000, "1s"), (0.5, 250, "250ms"), (60.0, 1000, "1s")]
)
def test_poll_connection_has_a_short_statement_timeout(
    demo_db: Database, interval: float, ms: int, shown: str
) -> None:
    with open_poll_connection(ConnectionTarget(dsn=demo_db.dsn), interval) as conn:
        assert conn.execute("SHOW statement_timeout").fetchone() == (shown,)
        assert conn.autocommit
    assert poll_timeout_ms(interval) == ms


def test_stuck_catalog_cancels_the_poll_and_the_next_one_works(demo_db: Database) -> None:
    poller = Poller(open_poll_connection(ConnectionTarget(dsn=demo_db.dsn), 0.5))
    with demo_db.connect() as locker:
        locker.execute("BEGIN")
        locker.execute("LOCK TABLE pg_class IN ACCESS EXCLUSIVE MODE")
        with pytest.raises(QueryError, match="statement timeout"):
            poller.poll()
        locker.execute("ROLLBACK")
    assert poller.poll().indexes
    poller.conn.close()


def test_unloadable_pg_stat_statements_is_said_once_and_left_out(
    bare_pg: EmbeddedServer, bare_demo_db: Database
) -> None:
    """Created but not preloaded: the first poll says why it cannot be read; later polls
    do not read it again (one server-log error, not one per poll), the rest goes on."""
    with bare_demo_db.connect() as c:
        available = c.execute(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'pg_stat_statements'"
        ).fetchone()
        if available is None:
            pytest.skip(f"{bare_pg.flavor} does not ship pg_stat_statements")
        c.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    log = bare_pg.pgdata / "log"
    marker = "must be loaded via"
    before = log.read_text(errors="replace").count(marker)
    try:
        poller = Poller(open_poll_connection(ConnectionTarget(dsn=bare_demo_db.dsn), 2))
        snaps = [poller.poll() for _ in range(4)]
        poller.conn.close()
    finally:
        with bare_demo_db.connect() as c:
            c.execute("DROP EXTENSION pg_stat_statements")
    missing = {s.statements_missing for s in snaps}
    assert len(missing) == 1
    (text,) = missing
    assert text is not None and "pg_stat_statements cannot be read" in text
    assert all(s.statements is None and s.indexes for s in snaps)
    deadline = time.monotonic() + 5
    while log.read_text(errors="replace").count(marker) - before < 1:
        assert time.monotonic() < deadline, "the server logged the failed read"
        time.sleep(0.1)
    assert log.read_text(errors="replace").count(marker) - before == 1


def test_index_never_used_under_seq_scan_load_is_flagged(db: Database) -> None:
    """Real traffic: cosine searches on tables whose HNSW indexes are built for l2 (the
    demo's ``messages``), so every search is a sequential scan. The big table's index is
    flagged as never used; the small table's (rightly scanned whole) is not."""
    with db.connect() as c:
        for name, rows in (("unused_big", 2_000), ("unused_small", 200)):
            c.execute(
                sql.SQL(
                    "CREATE TABLE {t} AS SELECT i AS id, (SELECT array_agg(sin(i * k))::real[]"
                    "::vector(8) FROM generate_series(1, 8) k) AS e "
                    "FROM generate_series(1, %s) i"
                ).format(t=sql.Identifier(name)),
                (rows,),
            )
            c.execute(
                sql.SQL("CREATE INDEX {i} ON {t} USING hnsw (e vector_l2_ops)").format(
                    i=sql.Identifier(f"{name}_hnsw"), t=sql.Identifier(name)
                )
            )
            c.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(name)))
    stop = threading.Event()

    def searches() -> None:
        with psycopg.connect(db.dsn, autocommit=True) as c:
            while not stop.is_set():
                for name in ("unused_big", "unused_small"):
                    c.execute(
                        sql.SQL(
                            "SELECT id FROM {t} ORDER BY e <=> (SELECT e FROM {t} LIMIT 1) LIMIT 5"
                        ).format(t=sql.Identifier(name))
                    ).fetchall()
                c.execute("SELECT pg_stat_force_next_flush()")
                stop.wait(0.05)

    thread = threading.Thread(target=searches, daemon=True)
    live = live_session(db.dsn, stall_seconds=2)
    try:
        thread.start()
        live.step()
        point = poll_until(
            live.step,
            lambda p: index(p, "public.unused_big_hnsw").flag is not None,
            "the never-used index flagged",
        )
    finally:
        stop.set()
        thread.join(timeout=30)
        live.close()
        with db.connect() as c:
            c.execute("DROP TABLE IF EXISTS unused_big, unused_small")
    flag = index(point, "public.unused_big_hnsw").flag
    assert flag is not None and flag.startswith("never used: no index scan at all")
    assert "unused_big had" in flag and "sequential scans" in flag
    assert index(point, "public.unused_small_hnsw").flag is None
    assert index(point, "public.unused_big_hnsw").seq_scans_per_s >= 1.0
