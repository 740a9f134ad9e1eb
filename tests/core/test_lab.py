"""The latency and recall lab on a real server: honest figures and every bad input."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import psycopg
import pytest

from tests.conftest import Database
from tests.core.cli_helpers import assert_one_line_error, vecscope
from vecscope.core.catalog.inventory import fetch_inventory
from vecscope.core.connection import connected
from vecscope.core.errors import BadInputError, ConnectError
from vecscope.core.lab.measure import (
    Knob,
    LabTarget,
    QuerySet,
    ground_truth,
    load_queries,
    measure,
    resolve_target,
    sample_queries,
    sweep,
)
from vecscope.core.lab.runner import LiveLab
from vecscope.core.lab.session import (
    ConnectionRoom,
    LabSession,
    capped_concurrency,
    connection_room,
    live_truth_k,
)
from vecscope.core.lab.stats import (
    cheapest_meeting,
    pareto_front,
    percentiles,
    recall_at_k,
    recommend,
)


def test_recall_counts_ties_at_the_kth_distance() -> None:
    truth = np.array([[0.1, 0.2, 0.3, 0.3]])
    # A different item at exactly the k-th distance is not a miss.
    assert recall_at_k([[0.1, 0.2, 0.3]], truth, 3) == 1.0
    assert recall_at_k([[0.1, 0.2, 0.31]], truth, 3) == pytest.approx(2 / 3)
    assert recall_at_k([[0.1]], truth, 3) == pytest.approx(1 / 3)


def test_percentiles_pareto_and_recommendation() -> None:
    p = percentiles(list(range(1, 101)))
    assert p.p50_ms == 50.5 and p.p95_ms == pytest.approx(95.05)
    assert p.p99_ms == pytest.approx(99.01) and p.count == 100
    points = [(1.0, 0.5), (2.0, 0.9), (3.0, 0.8), (4.0, 0.99)]
    assert pareto_front(points) == [0, 1, 3]
    assert cheapest_meeting(points, 0.95) == 3
    assert cheapest_meeting(points, 0.999) is None


def test_recommendation_meets_both_targets_or_says_which_cannot_be() -> None:
    """The sweep of issue #15: with 20 ms set, probes=50 at p50 33 ms is no answer."""
    # (p50 ms, recall): probes 1, 5, 10, 20, 50, 100.
    points = [(0.4, 0.57), (1.5, 0.80), (2.8, 0.88), (6.3, 0.938), (33.0, 0.992), (60, 0.998)]
    no_limit = recommend(points, 0.95)
    assert no_limit.index == 4 and no_limit.unmet is None
    within = recommend(points, 0.95, 40.0)
    assert within.index == 4
    over = recommend(points, 0.95, 20.0)
    assert over.index is None and over.unmet == "latency"
    assert over.nearest == 4  # the cheapest reaching the recall: how far over it is
    assert over.within_latency == 3  # the best recall within 20 ms
    short = recommend(points, 0.999, 100.0)
    assert short.index is None and short.unmet == "recall" and short.nearest == 5
    neither = recommend(points, 0.999, 0.1)
    assert neither.unmet == "both" and neither.within_latency is None
    # The cheapest of several meeting both, not the first.
    assert recommend([(9.0, 0.97), (3.0, 0.96), (5.0, 0.99)], 0.95, 10.0).index == 1


def test_concurrency_capped_by_the_servers_room() -> None:
    room = ConnectionRoom(max_connections=100, reserved=3, in_use=7)
    assert room.free == 90
    assert capped_concurrency(room, 8) == (8, None)
    capped, line = capped_concurrency(room, 500)
    assert capped == 90 and line is not None and "\n" not in line
    assert "max_connections 100, 3 reserved, 7 in use" in line and "measuring with 90" in line
    with pytest.raises(BadInputError, match="no free connection"):
        capped_concurrency(ConnectionRoom(10, 3, 7), 2)


@pytest.fixture(scope="module")
def doc_target(demo_db: Database) -> tuple[LabTarget, QuerySet]:
    with connected(demo_db.target) as conn:
        target = resolve_target(conn, fetch_inventory(conn), "public", "doc_chunks", "embedding")
        return target, sample_queries(conn, target, 60)


def test_ground_truth_faiss_equals_postgres(
    demo_db: Database, doc_target: tuple[LabTarget, QuerySet]
) -> None:
    target, queries = doc_target
    with connected(demo_db.target) as conn:
        fast = ground_truth(conn, target, queries, 10, method="faiss", use_cache=False)
        exact = ground_truth(conn, target, queries, 10, method="postgres", use_cache=False)
    assert fast.method == "faiss" and exact.method == "postgres"
    assert (fast.ids == exact.ids).mean() > 0.99
    assert np.allclose(fast.distances, exact.distances, atol=1e-4)
    # The query's own row is never its own neighbour.
    assert queries.self_ids is not None
    assert not any(int(s) in row for s, row in zip(queries.self_ids, fast.ids, strict=True))


def test_recall_rises_with_probes(
    demo_db: Database, doc_target: tuple[LabTarget, QuerySet]
) -> None:
    target, queries = doc_target
    with connected(demo_db.target) as conn:
        gt = ground_truth(conn, target, queries, 10)
    grid = [{"ivfflat.probes": str(p)} for p in (1, 10, 100)]
    result = sweep(demo_db.target, target, queries, gt, 10, grid, target_recall=0.95)
    recalls = [m.recall for m in result.measurements]
    assert recalls[0] < recalls[1] <= recalls[2]
    assert recalls[2] > 0.99
    assert result.measurements[0].index == "idx_doc_chunks_embedding"
    assert result.recommendation is not None
    assert result.measurements[result.recommendation].recall >= 0.95
    m = result.measurements[0]
    assert m.queries == 60 and m.latency.count == 60 and m.qps > 0
    assert m.p50_ms <= m.p95_ms <= m.p99_ms


def test_ground_truth_cache_is_invalidated_by_writes(
    demo_db: Database, doc_target: tuple[LabTarget, QuerySet]
) -> None:
    target, queries = doc_target
    with connected(demo_db.target) as conn:
        first = ground_truth(conn, target, queries, 5)
        again = ground_truth(conn, target, queries, 5)
        assert "cached" in again.method
        conn.execute(
            "INSERT INTO doc_chunks (id, tenant_id, text, embedding) "
            "SELECT 10000000, 'tenant-01', 'x', embedding FROM doc_chunks WHERE id = 1"
        )
        try:
            fresh = ground_truth(conn, target, queries, 5)
            assert "cached" not in fresh.method
        finally:
            conn.execute("DELETE FROM doc_chunks WHERE id = 10000000")
    assert first.ids.shape == (len(queries), 5)


def test_concurrency_and_settings_stay_in_their_sessions(
    demo_db: Database, doc_target: tuple[LabTarget, QuerySet]
) -> None:
    target, queries = doc_target
    with connected(demo_db.target) as conn:
        gt = ground_truth(conn, target, queries, 10)
        m = measure(demo_db.target, target, queries, gt, 10, {"ivfflat.probes": "7"}, concurrency=3)
        assert m.concurrency == 3 and m.queries == len(queries)
        # Nothing leaked to other sessions or the server.
        assert conn.execute("SHOW ivfflat.probes").fetchone() == ("1",)


def test_live_lab_windows(demo_db: Database, doc_target: tuple[LabTarget, QuerySet]) -> None:
    target, queries = doc_target
    with connected(demo_db.target) as conn:
        gt = ground_truth(conn, target, queries, 20)
    lab = LiveLab(
        demo_db.target, target, queries, gt, k=10, window_s=0.3, settings={"ivfflat.probes": "1"}
    )
    try:
        low = lab.run_window()
        lab.set_setting("ivfflat.probes", "50")
        lab.set_concurrency(2)
        high = lab.run_window()
    finally:
        lab.close()
    assert low.queries > 0 and high.queries > 0
    assert high.recall > low.recall
    assert high.concurrency == 2 and ("ivfflat.probes", "50") in high.settings
    assert len(lab.samples) == 2


def test_live_lab_lost_session_is_a_core_error(
    demo_db: Database, doc_target: tuple[LabTarget, QuerySet]
) -> None:
    """A measuring session killed on the server: run_window says so as a ConnectError."""
    target, queries = doc_target
    with connected(demo_db.target) as conn:
        gt = ground_truth(conn, target, queries, 10)
        lab = LiveLab(demo_db.target, target, queries, gt, k=10, window_s=0.2)
        try:
            lab.run_window()
            pids = [session.info.backend_pid for session in lab._sessions]
            conn.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", (pids,))
            with pytest.raises(ConnectError, match="connection lost during the lab"):
                lab.run_window()
        finally:
            lab.close()


def test_lab_session_prepares_once_for_both_front_ends(demo_db: Database) -> None:
    with connected(demo_db.target) as conn:
        lab = LabSession.prepare(
            conn, demo_db.target, "public", "doc_chunks", "embedding", queries=20
        )
    assert lab.knob == Knob.PROBES and str(lab.knob) == "ivfflat.probes"
    assert len(lab.queries) == 20 and lab.gt.distances.shape == (20, live_truth_k(lab.target))
    assert [ix.name for ix in lab.indexes] == ["idx_doc_chunks_embedding"]
    swept = lab.sweep(lab.grid([1, 50]), k=10)
    assert [m.settings for m in swept.measurements] == [
        {"ivfflat.probes": "1"},
        {"ivfflat.probes": "50"},
    ]
    live = lab.live()
    try:
        assert ("ivfflat.probes", "1") in live.run_window().settings
    finally:
        live.close()


def test_bad_inputs(demo_db: Database, tmp_path: Path) -> None:
    with connected(demo_db.target) as conn:
        inv = fetch_inventory(conn)
        with pytest.raises(BadInputError, match="no vector column"):
            resolve_target(conn, inv, "public", "doc_chunks", "text")
        with pytest.raises(BadInputError, match="no usable vector index"):
            resolve_target(conn, inv, "public", "articles", "embedding")
        atoms = resolve_target(conn, inv, "public", "atoms", "embedding")
        queries = sample_queries(conn, atoms, 5)
        with pytest.raises(BadInputError, match="larger than the 200 vectors"):
            ground_truth(conn, atoms, queries, 500)
        bad = tmp_path / "q.npy"
        np.save(bad, np.zeros((3, 7), dtype=np.float32))
        with pytest.raises(BadInputError, match=r"needs \(n, 384\)"):
            load_queries(bad, atoms)
        conn.execute("CREATE TABLE empty_vecs (id int PRIMARY KEY, e vector(3))")
        conn.execute("CREATE INDEX ON empty_vecs USING hnsw (e vector_l2_ops)")
        try:
            with pytest.raises(BadInputError, match="holds no vectors"):
                resolve_target(conn, fetch_inventory(conn), "public", "empty_vecs", "e")
        finally:
            conn.execute("DROP TABLE empty_vecs")


def test_dropped_connection_mid_run(
    demo_db: Database, doc_target: tuple[LabTarget, QuerySet]
) -> None:
    target, queries = doc_target
    with connected(demo_db.target) as conn:
        gt = ground_truth(conn, target, queries, 10)
    assert queries.self_ids is not None
    many = QuerySet(
        np.repeat(queries.vectors, 200, axis=0), np.repeat(queries.self_ids, 200), "repeated"
    )

    def kill() -> None:
        time.sleep(0.5)
        with demo_db.connect() as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = 'vecscope' AND pid <> pg_backend_pid() "
                "AND datname = current_database()"
            )

    killer = threading.Thread(target=kill)
    killer.start()
    with pytest.raises(ConnectError, match="connection lost"):
        measure(demo_db.target, target, many, gt, 10, {"ivfflat.probes": "20"}, warmup=0)
    killer.join()
    # The table is untouched and usable afterwards.
    with psycopg.connect(demo_db.dsn) as c:
        assert c.execute("SELECT count(*) > 0 FROM doc_chunks").fetchone() == (True,)


def test_cli_json(demo_db: Database) -> None:
    r = vecscope(
        "bench",
        "--dsn",
        demo_db.dsn,
        "--table",
        "public.doc_chunks",
        "--column",
        "embedding",
        "--queries",
        "40",
        "--probes",
        "1,20,100",
        "--json",
    )
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    for row in doc["results"]:
        assert {"p50_ms", "p95_ms", "p99_ms", "qps", "recall", "index"} <= set(row)
    assert doc["recommendation"]["recall"] >= 0.95
    assert doc["ground_truth"]["method"].startswith("faiss")


def test_cli_bad_input(demo_db: Database) -> None:
    r = vecscope(
        "bench", "--dsn", demo_db.dsn, "--table", "public.articles", "--column", "embedding"
    )
    assert_one_line_error(r, "no usable vector index")
    r = vecscope(
        "bench",
        "--dsn",
        demo_db.dsn,
        "--table",
        "public.doc_chunks",
        "--column",
        "embedding",
        "--ef-search",
        "10,20",
    )
    assert_one_line_error(r, "use --probes")
    r = vecscope("bench", "--dsn", demo_db.dsn, "--table", "no.such.thing", "--column", "e")
    assert_one_line_error(r, "SCHEMA.TABLE")


def test_ab_two_indexes_on_one_column(db: Database) -> None:
    """As during a migration: the same queries against the old and the new index."""
    from vecscope.core.lab.measure import measure_ab, steering_settings

    with db.connect() as c:
        c.execute("CREATE TABLE ab (id int PRIMARY KEY, e vector(16))")
        c.execute(
            "INSERT INTO ab SELECT i, (SELECT array_agg(sin(i * k + k))::real[]::vector "
            "FROM generate_series(1, 16) k) FROM generate_series(1, 4000) i"
        )
        c.execute("CREATE INDEX ab_ivf ON ab USING ivfflat (e vector_l2_ops) WITH (lists = 20)")
        c.execute("CREATE INDEX ab_hnsw ON ab USING hnsw (e vector_l2_ops)")
        c.execute("ANALYZE ab")
    with connected(db.target) as conn:
        inv = fetch_inventory(conn)
        target = resolve_target(conn, inv, "public", "ab", "e")
        queries = sample_queries(conn, target, 30)
        gt = ground_truth(conn, target, queries, 10)
    indexes = [ix for ix in inv.indexes if ix.table == "ab"]
    hnsw = next(ix for ix in indexes if ix.name == "ab_hnsw")
    ivf = next(ix for ix in indexes if ix.name == "ab_ivf")
    steer = steering_settings(indexes, hnsw)
    assert steer == {"ivfflat.probes": "20"}
    assert steering_settings(indexes, ivf) == {}
    result = measure_ab(db.target, target, queries, gt, 10, {}, steer, a_label="old", b_label="new")
    # EXPLAIN confirms the steered side was served by the new index.
    assert result.b.index == "ab_hnsw"
    assert result.a.index in ("ab_ivf", "ab_hnsw")
    assert result.b.recall >= 0.9


def test_iterative_scan_setting_where_pgvector_has_it(demo_db: Database) -> None:
    from vecscope.core.pgvector import has_feature

    with connected(demo_db.target) as conn:
        inv = fetch_inventory(conn)
        if not has_feature(inv.server.pgvector, "iterative_scan"):
            pytest.skip("pgvector < 0.8 has no iterative scans")
        target = resolve_target(conn, inv, "public", "messages", "embedding")
        queries = sample_queries(conn, target, 20)
        gt = ground_truth(conn, target, queries, 10)
    m = measure(
        demo_db.target,
        target,
        queries,
        gt,
        10,
        {"hnsw.iterative_scan": "relaxed_order", "hnsw.ef_search": "20"},
    )
    assert m.settings["hnsw.iterative_scan"] == "relaxed_order"
    assert m.index == "idx_messages_embedding_hnsw" and m.recall > 0.5


def test_cli_latency_target_the_sweep_cannot_meet(demo_db: Database) -> None:
    """Every setting is slower than 1 µs: no recommendation, and the verdict says the
    latency target is what cannot be met (text and JSON), exit status 3."""
    args = ["bench", "--dsn", demo_db.dsn, "--table", "public.doc_chunks", "--column"]
    args += ["embedding", "--queries", "30", "--probes", "1,100", "--target-latency-ms"]
    r = vecscope(*args, "0.001", "--json")
    assert r.code == 3, r.err
    doc = json.loads(r.out)
    assert doc["recommendation"] is None and doc["unmet"] == "latency"
    assert doc["target_latency_ms"] == 0.001
    assert doc["nearest"] == {"ivfflat.probes": "100"} and doc["best_within_latency"] is None
    assert doc["verdict"].startswith("The latency target cannot be met")
    text = vecscope(*args, "0.001")
    assert text.code == 3, text.err
    assert "The latency target cannot be met: the cheapest setting reaching recall@10" in text.out
    assert "ivfflat.probes = 100" in text.out and "p50 over 0.001 ms" in text.out
    # A target every setting meets: the cheapest meeting the recall, as without one.
    ok = vecscope(*args, "100000", "--json")
    assert ok.code == 0, ok.err
    assert json.loads(ok.out)["recommendation"]["settings"] == {"ivfflat.probes": "100"}


def test_cli_says_no_such_table_and_checks_k_first(demo_db: Database) -> None:
    r = vecscope("bench", "--dsn", demo_db.dsn, "--table", "public.nosuch", "--column", "embedding")
    assert_one_line_error(r, "no such table: public.nosuch")
    r = vecscope(
        "bench", "--dsn", demo_db.dsn, "--table", "public.doc_chunks", "--column", "nosuch"
    )
    assert_one_line_error(r, "public.doc_chunks has no column 'nosuch'", "embedding")
    # Refused before anything is sampled or computed: one line, no progress before it.
    for k, fragment in (("100000", "--k must be between 1 and 1,000"), ("0", "--k must be")):
        r = vecscope(
            "bench", "--dsn", demo_db.dsn, "--table", "public.doc_chunks", "--column",
            "embedding", "--k", k,
        )  # fmt: skip
        assert_one_line_error(r, fragment)
    r = vecscope(
        "bench", "--dsn", demo_db.dsn, "--table", "public.atoms", "--column", "embedding",
        "--k", "500",
    )  # fmt: skip
    assert_one_line_error(r, "k = 500 is larger than the 199 rows")
    assert "ground truth" not in r.err


def test_cli_caps_concurrency_by_free_connections(demo_db: Database) -> None:
    with connected(demo_db.target) as conn:
        room = connection_room(conn)
    assert room.max_connections > room.in_use >= 1
    r = vecscope(
        "bench", "--dsn", demo_db.dsn, "--table", "public.doc_chunks", "--column", "embedding",
        "--queries", "20", "--probes", "5", "--concurrency", "500", "--json",
    )  # fmt: skip
    assert r.code in (0, 3), r.err
    notes = [line for line in r.err.splitlines() if "concurrency 500" in line]
    assert len(notes) == 1 and "more than the server has room for" in notes[0]
    assert f"max_connections {room.max_connections}" in notes[0]
    doc = json.loads(r.out)
    assert doc["concurrency"] < 500 and doc["concurrency"] <= room.free
    assert doc["concurrency_capped"] == notes[0]
    assert doc["results"][0]["concurrency"] == doc["concurrency"]
