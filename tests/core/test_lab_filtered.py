"""The lab under the application's own WHERE (issue #16): recall and rows returned against
the exact filtered answer, the plan that served, iterative scans in the sweep, and the
fixes where no setting serves the filter. On a real server, pgvector 0.8 and older."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from pgvector.psycopg import register_vector
from psycopg import sql

from tests.conftest import Database
from tests.core.cli_helpers import assert_one_line_error, vecscope
from vecscope.cli import main as cli
from vecscope.core.connection import connected
from vecscope.core.errors import BadInputError
from vecscope.core.lab.filtered import EXACT
from vecscope.core.lab.filters import parse_filter
from vecscope.core.lab.session import LabSession
from vecscope.core.lab.stats import bootstrap_ci, recall_each
from vecscope.core.migrate import journal as jn
from vecscope.core.migrate.verify import load_queries as load_saved
from vecscope.core.pgvector import has_feature

TABLE = "filtered_docs"
ROWS = 6000
DIMS = 24
#: Category 1 holds 15% of the rows: an HNSW scan at ef_search 40 hands back ~40
#: candidates, of which ~6 pass the filter, for a LIMIT of 20.
HOT_SHARE = 0.15


@pytest.fixture(scope="module")
def filtered(db: Database) -> Database:
    rng = np.random.default_rng(16)
    centers = rng.normal(size=(30, DIMS))
    vecs = centers[rng.integers(0, 30, ROWS)] + 0.6 * rng.normal(size=(ROWS, DIMS))
    category = np.where(rng.random(ROWS) < HOT_SHARE, 1, rng.integers(2, 40, ROWS))
    with db.connect() as conn:
        register_vector(conn)
        conn.execute(
            sql.SQL(
                "CREATE TABLE {} (id bigint PRIMARY KEY, category int NOT NULL, "
                "tag text, embedding vector({}))"
            ).format(sql.Identifier(TABLE), sql.Literal(DIMS))
        )
        with (
            conn.cursor() as cur,
            cur.copy(
                sql.SQL("COPY {} (id, category, tag, embedding) FROM STDIN (FORMAT BINARY)").format(
                    sql.Identifier(TABLE)
                )
            ) as copy,
        ):
            copy.set_types(["int8", "int4", "text", "vector"])
            for i in range(ROWS):
                copy.write_row((i + 1, int(category[i]), f"t{i % 7}", vecs[i].astype(np.float32)))
        conn.execute(
            sql.SQL(
                "CREATE INDEX ON {} USING hnsw (embedding vector_l2_ops) "
                "WITH (m = 8, ef_construction = 32)"
            ).format(sql.Identifier(TABLE))
        )
        conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(TABLE)))
    return db


def _prepare(db: Database, where: str, queries: int = 60, k: int = 20) -> LabSession:
    with connected(db.target) as conn:
        return LabSession.prepare(
            conn, db.target, "public", TABLE, "embedding", queries=queries, k=k, where=where
        )


def test_recall_of_a_query_with_fewer_rows_than_k() -> None:
    inf = np.inf
    truth = np.array([[0.1, 0.2, inf, inf], [0.1, 0.2, 0.3, 0.4], [inf, inf, inf, inf]])
    got = [[0.1, 0.2], [0.1, 0.2], []]
    # All 2 of 2 existing rows: 1.0; 2 of 4: 0.5; nothing to find: 1.0.
    assert recall_each(got, truth, 4).tolist() == [1.0, 0.5, 1.0]


def test_bootstrap_interval_is_seeded_and_brackets_the_mean() -> None:
    values = np.array([1.0] * 60 + [0.0] * 40)
    low, high = bootstrap_ci(values)
    assert low < 0.6 < high and high - low > 0.1
    assert bootstrap_ci(values) == (low, high)
    assert bootstrap_ci(np.ones(10)) == (1.0, 1.0)


def test_filter_placeholders_are_columns_and_parameters() -> None:
    flt = parse_filter("category = {category} AND tag LIKE 't%'", ["id", "category", "tag"], "t")
    assert flt.columns == ("category",) and flt.per_query
    text = flt.composed().as_string(None)
    assert text == "category = %(f0)s AND tag LIKE 't%%'"
    with pytest.raises(BadInputError, match="names no column"):
        parse_filter("tenant = {tenant}", ["id"], "public.t")
    with pytest.raises(BadInputError, match="without ';'"):
        parse_filter("true; DROP TABLE t", ["id"], "public.t")


def test_the_post_filter_shortfall_is_measured(filtered: Database) -> None:
    lab = _prepare(filtered, "category = 1")
    assert lab.queries.filter is not None and lab.queries.source.endswith("where category = 1")
    # The exact answer: 20 rows of category 1 for every query.
    assert np.isfinite(lab.gt.distances).all()
    m = lab.measure({"hnsw.ef_search": "40"}, k=20)
    assert "filter after" in m.plan, m.plan
    assert m.returned_mean < 15 and m.short_share > 0.5
    assert m.recall < 0.8 and m.recall_low <= m.recall <= m.recall_high
    assert m.judged_recall == 0.0  # short rows: it meets no target
    exact = lab.measure(EXACT, k=20)
    assert exact.index is None and "sort" in exact.plan
    assert exact.recall == 1.0 and exact.short_share == 0.0 and exact.returned_mean == 20


def test_the_sweep_recommends_what_removes_the_shortfall(filtered: Database) -> None:
    lab = _prepare(filtered, "category = 1")
    grid = lab.grid()
    iterative = has_feature(lab.pgvector, "iterative_scan")
    modes = {s.get("hnsw.iterative_scan") for s in grid}
    assert modes == ({None, "relaxed_order", "strict_order"} if iterative else {None})
    assert EXACT in grid
    result = lab.sweep(grid, k=20, target_recall=0.95)
    assert result.recommendation is not None
    best = result.measurements[result.recommendation]
    assert best.short_share <= 0.01 and best.recall_low >= 0.95
    # Nothing that came back short of rows was recommended, whatever its speed.
    short = [m for m in result.measurements if m.short_share > 0.01]
    assert short and best not in short
    with connected(filtered.target) as conn:
        fixes = lab.fixes(conn)
    assert any("USING hnsw" in f.sql and "WHERE category = 1" in f.sql for f in fixes)


def test_per_query_values_come_from_each_query_row(filtered: Database) -> None:
    lab = _prepare(filtered, "category = {category}", queries=40, k=5)
    values = lab.queries.filter_values
    assert values is not None and len(values) == 40
    with filtered.connect() as conn:
        ids = [int(i) for i in lab.queries.self_ids[:5]]  # type: ignore[index]
        own: dict[int, int] = dict(
            conn.execute(f"SELECT id, category FROM {TABLE} WHERE id = ANY(%s)", (ids,)).fetchall()
        )
    assert [v[0] for v in values[:5]] == [own[i] for i in ids]
    # Every exact answer lies in the query's own category.
    with filtered.connect() as conn:
        for qi in range(5):
            answer = [int(x) for x in lab.gt.ids[qi] if x >= 0]
            cats = {
                r[0]
                for r in conn.execute(
                    f"SELECT category FROM {TABLE} WHERE id = ANY(%s)", (answer,)
                ).fetchall()
            }
            assert cats == {values[qi][0]}
    m = lab.measure({"hnsw.ef_search": "40"}, k=5)
    assert 0 <= m.recall <= 1 and m.plan
    with connected(filtered.target) as conn:
        fixes = lab.fixes(conn)
    # No index leads with category: the B-tree is offered, beside the partial index.
    assert any(f.sql.endswith('("category");') for f in fixes)


def test_a_volatile_or_broken_filter_is_refused(filtered: Database) -> None:
    with filtered.connect() as conn:
        conn.execute("CREATE SEQUENCE IF NOT EXISTS filtered_seq")
    with pytest.raises(BadInputError, match="--where refused: .*nextval"):
        _prepare(filtered, "nextval('filtered_seq') > 0")
    with pytest.raises(BadInputError, match="^--where: "):
        _prepare(filtered, "no_such_column = 1")
    with filtered.connect() as conn:
        row = conn.execute("SELECT last_value, is_called FROM filtered_seq").fetchone()
    assert row == (1, False)  # never called


def test_bench_where_cli(filtered: Database) -> None:
    result = vecscope(
        "bench", "--dsn", filtered.dsn, "--table", f"public.{TABLE}", "--column", "embedding",
        "--where", "category = 1", "--k", "20", "--queries", "40", "--ef-search", "40,400",
        "--json",
    )  # fmt: skip
    doc = json.loads(result.out)
    assert result.code in (0, 3), result.err
    assert doc["where"] == "category = 1"
    assert 0.1 < doc["filter_selectivity"] < 0.2
    first = doc["results"][0]
    assert first["settings"] == {"hnsw.ef_search": "40"}
    assert first["short_share"] > 0.5 and first["rows_returned_mean"] < 15
    low, high = first["recall_ci95"]
    assert low <= first["recall"] <= high
    assert doc["structural_fixes"]
    assert_one_line_error(
        vecscope(
            "bench",
            "--dsn",
            filtered.dsn,
            "--table",
            f"public.{TABLE}",
            "--column",
            "embedding",
            "--where",
            "category = {nope}",
        ),  # fmt: skip
        "names no column",
    )


def test_weighted_values_share_the_queries(filtered: Database) -> None:
    with connected(filtered.target) as conn:
        lab = LabSession.prepare(
            conn, filtered.target, "public", TABLE, "embedding", queries=40, k=5,
            where="category = {category}", where_values=[("1", 3.0), ("5", 1.0)],
        )  # fmt: skip
    values = lab.queries.filter_values
    assert values is not None
    assert values.count(("1",)) == 30 and values.count(("5",)) == 10
    # Each query is a row of its own value, and its exact answer lies in that category.
    with filtered.connect() as conn:
        ids = [int(i) for i in lab.queries.self_ids]  # type: ignore[union-attr]
        cats: dict[int, int] = dict(
            conn.execute(f"SELECT id, category FROM {TABLE} WHERE id = ANY(%s)", (ids,)).fetchall()
        )
        for qi, own in enumerate(ids):
            assert str(cats[own]) == values[qi][0]
        answer = [int(x) for x in lab.gt.ids[35] if x >= 0]
        found = conn.execute(
            f"SELECT DISTINCT category FROM {TABLE} WHERE id = ANY(%s)", (answer,)
        ).fetchall()
    assert found == [(5,)]
    assert "(1 x30, 5 x10)" in lab.queries.source


def test_where_values_bad_input(filtered: Database) -> None:
    base = ("bench", "--dsn", filtered.dsn, "--table", f"public.{TABLE}", "--column", "embedding")
    assert_one_line_error(
        vecscope(*base, "--where", "category = {category}", "--where-values", "1:x"),
        "is not a number",
    )
    assert_one_line_error(
        vecscope(*base, "--where", "category = 1", "--where-values", "1:2"),
        "needs a --where with a {column} placeholder",
    )
    assert_one_line_error(
        vecscope(*base, "--where", "category = {category}", "--where-values", "9999"),
        "matches no row",
    )


def test_a_migration_verifies_under_the_applications_filter(
    filtered: Database, tmp_path: Path
) -> None:
    """`migrate run --where`: baseline and verify sample the same filtered queries (saved
    with their values beside the journal) and judge rows returned as well as recall. Here
    the new HNSW index (ef_search 40) post-filters away more rows than the IVFFlat did for
    the small categories, and verify says so: the old index stays."""
    with filtered.connect() as conn:
        conn.execute(f"CREATE TABLE mig AS SELECT * FROM {TABLE}")
        conn.execute("ALTER TABLE mig ADD PRIMARY KEY (id)")
        conn.execute(
            "CREATE INDEX mig_ivf ON mig USING ivfflat (embedding vector_l2_ops) WITH (lists = 20)"
        )
        conn.execute("ANALYZE mig")
    journal = tmp_path / "j.jsonl"
    out = io.StringIO()
    code = cli.run(
        cli.parse(
            [
                "migrate", "run", "--dsn", filtered.dsn, "--index", "public.mig_ivf",
                "--where", "category = {category}", "--queries", "40", "--k", "5",
                "--backup", "confirmed:test", "--yes", "--journal", str(journal),
                "--no-cutover",
            ]
        ),
        out,
    )  # fmt: skip
    text = out.getvalue()
    state = jn.read(journal)
    result = state.data("verify")["result"]
    before, after = result["old"], result["new"]
    assert before["short_share"] is not None and after["short_share"] is not None, text
    assert after["rows_returned"] > 0
    assert "rows," in text and "short" in text
    if after["short_share"] > max(0.01, before["short_share"]):
        assert not state.done("verify") and code != 0
        assert any("returned fewer rows than exist" in r for r in result["reasons"])
    # The queries verify asked are those the baseline saved, filter values and all.
    saved = next(p for p in journal.parent.rglob("*.npz"))
    queries = load_saved(saved)
    assert queries.filter is not None and queries.filter.text == "category = {category}"
    assert queries.filter_values is not None and len(queries.filter_values) == len(queries)
