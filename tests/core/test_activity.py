"""Live queries: pg_stat_activity and pg_stat_statements on the embedded server."""

from __future__ import annotations

import threading
import time

import psycopg

from tests.conftest import Database
from vecscope.core.catalog.activity import fetch_live_queries
from vecscope.core.embedded import EmbeddedServer


def test_running_vector_query_is_listed(bare_demo_db: Database) -> None:
    demo_db = bare_demo_db
    sql = (
        "SELECT pg_sleep(3), id FROM doc_chunks "
        "ORDER BY embedding <=> (SELECT embedding FROM doc_chunks WHERE id = 3) LIMIT 1"
    )
    thread = threading.Thread(target=lambda: demo_db.connect().execute(sql))
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while True:
            with demo_db.connect() as c:
                live = fetch_live_queries(c)
            if any("pg_sleep(3)" in q.query for q in live.running):
                break
            assert time.monotonic() < deadline, live
            time.sleep(0.1)
        running = next(q for q in live.running if "pg_sleep(3)" in q.query)
        assert running.state == "active" and running.duration_s is not None
        assert live.sees_all
        assert live.statements_missing is not None
        assert "shared_preload_libraries" in live.statements_missing
        assert live.top == ()
    finally:
        thread.join()


def test_top_queries_from_pg_stat_statements(pgss_server: EmbeddedServer) -> None:
    with psycopg.connect(pgss_server.conninfo(), autocommit=True) as c:
        c.execute("SELECT pg_stat_statements_reset()")
        # PostgreSQL's own point distance operator <-> makes the same shape of query
        # for the ranking logic, in a database without pgvector.
        for i in range(5):
            c.execute(
                "SELECT p <-> point(%s, 0) AS d FROM (SELECT point(g, g) AS p "
                "FROM generate_series(1, 2000) g) s ORDER BY d LIMIT 3",
                (i,),
            )
        c.execute("SELECT count(*) FROM generate_series(1, 10)")
        live = fetch_live_queries(c)
    assert live.statements_missing is None
    shapes = [s for s in live.top if "<->" in s.query]
    assert len(shapes) == 1 and shapes[0].calls == 5
    assert shapes[0].total_ms >= shapes[0].mean_ms > 0
    assert not any("count(*)" in s.query for s in live.top)
