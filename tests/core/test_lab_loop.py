"""The lab's timed loop (issue #16): prepared once, parameters dumped once, the rows read
in binary straight from libpq, and exactly what the plain query returns. On a real
server: vector and halfvec columns, with and without the application's filter."""

from __future__ import annotations

from typing import Any

import numpy as np
import psycopg
import pytest
from pgvector.psycopg import register_vector
from psycopg import sql

from tests.conftest import Database
from vecscope.core.lab import groundtruth
from vecscope.core.lab.filters import parse_filter
from vecscope.core.lab.measure import (
    DumpCache,
    QuerySet,
    TimedQueries,
    ground_truth,
    knn_sql,
    make_target,
    open_session,
    run_one,
)
from vecscope.core.lab.target import LabTarget
from vecscope.core.pgvector import has_feature

ROWS = 800
DIMS = 12
QUERIES = 40


@pytest.fixture(scope="module")
def loop_db(db: Database) -> Database:
    rng = np.random.default_rng(1616)
    vecs = rng.normal(size=(ROWS, DIMS)).astype(np.float32)
    with db.connect() as conn:
        register_vector(conn)
        half = _has_halfvec(db)
        conn.execute(
            f"CREATE TABLE loop_items (id bigint PRIMARY KEY, category int NOT NULL, "
            f"tag text NOT NULL, embedding vector({DIMS})"
            + (f", half halfvec({DIMS}))" if half else ")")
        )
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY loop_items (id, category, tag, embedding) FROM STDIN (FORMAT BINARY)"
            ) as copy,
        ):
            copy.set_types(["int8", "int4", "text", "vector"])
            for i in range(ROWS):
                # Categories past int2's range: psycopg dumps those ints as int4, the
                # small ones as int2, so one statement is prepared for each.
                category = int(i % 5) if i % 3 else 40_000 + int(i % 2)
                copy.write_row((i + 1, category, f"t{i % 4}", vecs[i]))
        if half:
            conn.execute("UPDATE loop_items SET half = embedding::halfvec")
            conn.execute("UPDATE loop_items SET half = NULL WHERE id = 7")
            conn.execute("CREATE INDEX ON loop_items USING hnsw (half halfvec_cosine_ops)")
        conn.execute("UPDATE loop_items SET embedding = NULL WHERE id = 7")
        conn.execute("CREATE INDEX ON loop_items USING hnsw (embedding vector_l2_ops)")
        conn.execute("ANALYZE loop_items")
    return db


def _has_halfvec(db: Database) -> bool:
    with db.connect() as conn:
        row = conn.execute(
            "SELECT extversion FROM pg_extension WHERE extname = 'vector'"
        ).fetchone()
    return has_feature(row[0] if row else None, "halfvec")


def _target(db: Database, column: str, column_type: str, operator: str) -> LabTarget:
    with db.connect() as conn:
        return make_target(conn, "public", "loop_items", column, column_type, DIMS, operator, None)


def _queries(db: Database, where: str | None) -> QuerySet:
    with db.connect() as conn:
        rows = conn.execute(
            "SELECT id, category, tag, embedding::text FROM loop_items "
            "WHERE embedding IS NOT NULL ORDER BY id LIMIT %s",
            (QUERIES,),
        ).fetchall()
    vectors = np.array(
        [np.array(r[3].strip("[]").split(","), dtype=np.float32) for r in rows], dtype=np.float32
    )
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    if where is None:
        return QuerySet(vectors, ids, "test")
    flt = parse_filter(where, ["id", "category", "tag"], "loop_items")
    by_column = {"category": 1, "tag": 2}
    values = tuple(tuple(r[by_column[c]] for c in flt.columns) for r in rows)
    return QuerySet(vectors, ids, "test", flt, values)


@pytest.mark.parametrize(
    ("column", "column_type", "operator"),
    [("embedding", "vector", "<->"), ("half", "halfvec", "<=>")],
)
@pytest.mark.parametrize(
    "where",
    [None, "category = {category}", "category = {category} AND tag <> {tag}", "tag LIKE 't%'"],
)
def test_timed_loop_returns_exactly_what_the_plain_query_returns(
    loop_db: Database, column: str, column_type: str, operator: str, where: str | None
) -> None:
    if column_type == "halfvec" and not _has_halfvec(loop_db):
        pytest.skip("pgvector < 0.7 has no halfvec")
    target = _target(loop_db, column, column_type, operator)
    queries = _queries(loop_db, where)
    conn = open_session(loop_db.target, {"hnsw.ef_search": "100"})
    plain = psycopg.connect(loop_db.dsn, autocommit=True)
    try:
        register_vector(plain)
        # The same settings on both sessions: under a filter, ef_search decides how many
        # candidates survive it.
        plain.execute("SET hnsw.ef_search = 100")
        stmt = knn_sql(target, 10, 1, queries.filter).as_bytes(conn)
        dumps: DumpCache = {}
        timed = TimedQueries(conn, stmt, queries, dumps)
        again = TimedQueries(conn, stmt, queries, dumps)  # same session: nothing prepared twice
        for i in range(len(queries)):
            ms, rows = timed.run(i)
            assert ms > 0
            params = queries.filter_params(i)
            # The plain form on another session: psycopg's cursor, rows in text.
            _, expected = run_one(plain, stmt, queries.vectors[i], params)
            assert rows == expected, i
            assert again.run(i)[1] == expected
            assert rows and all(type(k) is int and type(d) is float for k, d in rows)
        names = {
            r[0]
            for r in conn.execute("SELECT name FROM pg_prepared_statements").fetchall()
            if r[0].startswith("vecscope_lab_")
        }
        # One statement per distinct parameter types (int2 and int4 categories).
        assert len(names) == (2 if where and "category" in where else 1)
    finally:
        conn.close()
        plain.close()


def test_timed_loop_raises_psycopgs_errors(loop_db: Database) -> None:
    target = _target(loop_db, "embedding", "vector", "<->")
    queries = _queries(loop_db, None)
    with loop_db.connect() as conn:
        conn.execute("CREATE TABLE loop_gone AS SELECT * FROM loop_items LIMIT 20")
        conn.execute("ALTER TABLE loop_gone ADD PRIMARY KEY (id)")
        gone = make_target(conn, "public", "loop_gone", "embedding", "vector", DIMS, "<->", None)
    session = open_session(loop_db.target, {})
    try:
        timed = TimedQueries(session, knn_sql(gone, 5, 0), queries)
        assert len(timed.run(0)[1]) == 5
        with loop_db.connect() as conn:
            conn.execute("DROP TABLE loop_gone")
        with pytest.raises(psycopg.errors.UndefinedTable):
            timed.run(1)
        # The session is still usable after the failed query.
        assert len(TimedQueries(session, knn_sql(target, 3, 0), queries).run(2)[1]) == 3
        with loop_db.connect() as conn:
            conn.execute("SELECT pg_terminate_backend(%s, 10000)", (session.info.backend_pid,))
        with pytest.raises(psycopg.OperationalError):
            timed.run(3)
    finally:
        session.close()


def test_a_statement_the_fast_path_cannot_take_runs_the_plain_way(loop_db: Database) -> None:
    """A statement psycopg would read differently (a positional placeholder) is left to
    psycopg's cursor: same answers, nothing prepared by the loop."""
    target = _target(loop_db, "embedding", "vector", "<->")
    queries = _queries(loop_db, None)
    session = open_session(loop_db.target, {})
    try:
        stmt = sql.SQL(
            "SELECT id::int8, (embedding <-> %(q)s::vector)::float8 FROM loop_items "
            "WHERE id > %s ORDER BY 2 LIMIT 3"
        ).as_bytes(session)
        timed = TimedQueries(session, stmt, queries)
        with pytest.raises(psycopg.ProgrammingError):
            timed.run(0)  # psycopg's own complaint: it mixes named and positional
        names = session.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'vecscope_lab_%'"
        ).fetchone()
        assert names == (0,)
        plain = TimedQueries(session, knn_sql(target, 4, 0), queries)
        assert len(plain.run(0)[1]) == 4
    finally:
        session.close()


@pytest.mark.parametrize("operator", ["<=>", "<->"])
def test_faiss_truth_searching_while_the_copy_streams_is_exact(
    loop_db: Database, monkeypatch: pytest.MonkeyPatch, operator: str
) -> None:
    """The unfiltered faiss path searches each run of rows as the COPY delivers it: the
    merged answer is the one searched whole, and PostgreSQL's exact scan agrees."""
    rows, dims = 6000, 96  # about 2.4 MB of COPY: a few blocks, so a few runs
    rng = np.random.default_rng(1617)
    with loop_db.connect() as conn:
        register_vector(conn)
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS loop_truth (id bigint PRIMARY KEY, e vector({dims}))"
        )
        if conn.execute("SELECT count(*) FROM loop_truth").fetchone() == (0,):
            with (
                conn.cursor() as cur,
                cur.copy("COPY loop_truth (id, e) FROM STDIN (FORMAT BINARY)") as copy,
            ):
                copy.set_types(["int8", "vector"])
                for i, v in enumerate(rng.normal(size=(rows, dims)).astype(np.float32)):
                    copy.write_row((i + 1, v))
        target = make_target(conn, "public", "loop_truth", "e", "vector", dims, operator, None)
        picked = conn.execute("SELECT id, e FROM loop_truth ORDER BY id LIMIT 25").fetchall()
        queries = QuerySet(
            np.array([r[1].to_numpy() for r in picked], dtype=np.float32),
            np.array([r[0] for r in picked], dtype=np.int64),
            "test",
        )
        searched: list[int] = []
        search = groundtruth._search

        def counted(q: Any, base: Any, op: str, kk: int) -> Any:
            searched.append(len(base))
            return search(q, base, op, kk)

        monkeypatch.setattr(groundtruth, "_search", counted)
        monkeypatch.setattr(groundtruth, "OVERLAP_ROWS", 1)  # every block its own run
        runs = ground_truth(conn, target, queries, 10, use_cache=False, method="faiss")
        assert len(searched) > 1 and sum(searched) == rows
        monkeypatch.setattr(groundtruth, "OVERLAP_ROWS", 10**9)  # searched whole
        whole = ground_truth(conn, target, queries, 10, use_cache=False, method="faiss")
        exact = ground_truth(conn, target, queries, 10, use_cache=False, method="postgres")
    assert np.array_equal(runs.ids, whole.ids)
    np.testing.assert_allclose(runs.distances, whole.distances, rtol=1e-6, atol=1e-7)
    assert np.array_equal(runs.ids, exact.ids)
    np.testing.assert_allclose(runs.distances, exact.distances, rtol=1e-4, atol=1e-5)
