"""The plan doctor on a real server: each rule proven by a plan that shows it."""

from __future__ import annotations

import re
from collections.abc import Iterator

import psycopg
import pytest
from psycopg.rows import TupleRow

from tests.conftest import Database
from vecscope.core.catalog.inventory import fetch_inventory
from vecscope.core.connection import connected
from vecscope.core.doctor.diagnose import Diagnosis, diagnose, try_fix
from vecscope.core.doctor.explain import explain
from vecscope.core.doctor.plan import plan_text
from vecscope.core.models import Severity
from vecscope.core.pgvector import has_feature


@pytest.fixture(scope="module")
def conn(demo_db: Database) -> Iterator[psycopg.Connection[TupleRow]]:
    with connected(demo_db.target) as c:
        yield c


@pytest.fixture(scope="module")
def qvec(demo_db: Database) -> str:
    """A real query vector, as an application would send it."""
    with demo_db.connect() as c:
        row = c.execute("SELECT embedding::text FROM doc_chunks WHERE id = 7").fetchone()
    assert row is not None
    return f"'{row[0]}'"


def run(conn: psycopg.Connection[TupleRow], sql: str, *, analyze: bool = False) -> Diagnosis:
    inventory = fetch_inventory(conn)
    return diagnose(explain(conn, sql, inventory, analyze=analyze), inventory)


def rules(d: Diagnosis) -> dict[str, Severity]:
    return {f.rule: f.severity for f in d.findings}


def test_served_knn(conn: psycopg.Connection[TupleRow], qvec: str) -> None:
    d = run(conn, f"SELECT id FROM doc_chunks ORDER BY embedding <=> {qvec} LIMIT 10")
    assert d.knn_served and d.uses_vector_index
    assert d.sites[0].index is not None and d.sites[0].index.name == "idx_doc_chunks_embedding"
    assert "served by idx_doc_chunks_embedding" in d.verdict
    assert d.exit_code == 0
    # Rule 9: ivfflat.probes = 1 (the default) is low recall.
    assert rules(d).get("probes-low") == Severity.WARNING


def test_no_limit(conn: psycopg.Connection[TupleRow], qvec: str) -> None:
    d = run(conn, f"SELECT id FROM doc_chunks ORDER BY embedding <=> {qvec}")
    assert rules(d)["no-limit"] == Severity.ERROR
    assert d.exit_code == 3


def test_no_order_by(conn: psycopg.Connection[TupleRow], qvec: str) -> None:
    d = run(conn, f"SELECT id FROM doc_chunks WHERE embedding <=> {qvec} < 0.3")
    assert not d.sites
    assert rules(d)["no-order-by"] == Severity.WARNING
    assert "ORDER BY the distance with a LIMIT" in (d.findings[0].fix or "")


def test_desc_order_and_its_fix(conn: psycopg.Connection[TupleRow], qvec: str) -> None:
    d = run(conn, f"SELECT id FROM doc_chunks ORDER BY embedding <=> {qvec} DESC LIMIT 10")
    assert not d.knn_served
    finding = next(f for f in d.findings if f.rule == "desc-order")
    assert finding.severity == Severity.ERROR
    assert finding.rewritten_sql is not None and "DESC" not in finding.rewritten_sql
    fixed = try_fix(conn, d, fetch_inventory(conn))
    assert fixed is not None and fixed.knn_served and fixed.uses_vector_index


@pytest.mark.parametrize(
    "order",
    ["ORDER BY 1 - (embedding <=> {q}) DESC", "ORDER BY similarity DESC"],
)
def test_expression_order(conn: psycopg.Connection[TupleRow], qvec: str, order: str) -> None:
    sql = (
        f"SELECT id, 1 - (embedding <=> {qvec}) AS similarity FROM doc_chunks "
        f"{order.format(q=qvec)} LIMIT 10"
    )
    d = run(conn, sql)
    finding = next(f for f in d.findings if f.rule == "expression-order")
    assert finding.severity == Severity.ERROR
    assert d.sites[0].bare is False
    fixed = try_fix(conn, d, fetch_inventory(conn))
    assert fixed is not None and fixed.knn_served


def test_operator_mismatch_on_messages(conn: psycopg.Connection[TupleRow], qvec: str) -> None:
    d = run(conn, f"SELECT id FROM messages ORDER BY embedding <=> {qvec} LIMIT 10")
    finding = next(f for f in d.findings if f.rule == "operator-mismatch")
    assert finding.severity == Severity.ERROR
    assert "vector_l2_ops" in finding.message
    # Both fixes: the matching operator, or an index with the matching opclass.
    assert finding.rewritten_sql is not None and "<->" in finding.rewritten_sql
    assert finding.index_sql == (
        'CREATE INDEX CONCURRENTLY IF NOT EXISTS "messages_embedding_hnsw_idx" ON '
        '"public"."messages" USING hnsw ("embedding" vector_cosine_ops);'
    )
    assert "Seq Scan on" in d.verdict and '"public"."messages"' in d.verdict
    fixed = try_fix(conn, d, fetch_inventory(conn))
    assert fixed is not None and fixed.knn_served
    assert fixed.sites[0].index is not None
    assert fixed.sites[0].index.name == "idx_messages_embedding_hnsw"


def test_no_index_and_the_fix_works(
    conn: psycopg.Connection[TupleRow], demo_db: Database, qvec: str
) -> None:
    sql = f"SELECT id FROM articles ORDER BY embedding <=> {qvec} LIMIT 10"
    d = run(conn, sql)
    finding = next(f for f in d.findings if f.rule == "no-index")
    assert finding.severity == Severity.ERROR and finding.index_sql
    with demo_db.connect() as admin:
        admin.execute(finding.index_sql)
    try:
        assert run(conn, sql).knn_served
    finally:
        with demo_db.connect() as admin:
            admin.execute(
                'DROP INDEX CONCURRENTLY IF EXISTS "public"."articles_embedding_hnsw_idx"'
            )


def test_invalid_index(conn: psycopg.Connection[TupleRow], qvec: str) -> None:
    d = run(
        conn, f'SELECT 1 FROM search."Product Embeddings" ORDER BY "Embedding" <=> {qvec} LIMIT 10'
    )
    finding = next(f for f in d.findings if f.rule == "invalid-index")
    assert finding.severity == Severity.ERROR
    assert '"Product Embeddings_cosine_idx"' in finding.message
    assert 'DROP INDEX CONCURRENTLY IF EXISTS "search"."Product Embeddings_cosine_idx"' in (
        finding.fix or ""
    )


def test_quoted_names_served(conn: psycopg.Connection[TupleRow], qvec: str) -> None:
    d = run(
        conn,
        f'SELECT "Product ID" FROM search."Product Embeddings" p '
        f'ORDER BY p."Embedding" <#> {qvec} LIMIT 5',
    )
    assert d.knn_served
    assert d.sites[0].index is not None and d.sites[0].index.name == "Product Embeddings_hnsw"


def test_small_table_is_information(conn: psycopg.Connection[TupleRow], qvec: str) -> None:
    d = run(conn, f"SELECT id FROM atoms ORDER BY embedding <=> {qvec} LIMIT 10")
    assert rules(d)["small-table"] == Severity.INFO
    assert not d.has_error and d.exit_code == 0


def test_ef_search_below_limit(conn: psycopg.Connection[TupleRow], qvec: str) -> None:
    conn.execute("SET hnsw.ef_search = 10")
    try:
        d = run(conn, f"SELECT id FROM messages ORDER BY embedding <-> {qvec} LIMIT 20")
    finally:
        conn.execute("RESET hnsw.ef_search")
    assert d.knn_served
    assert rules(d)["ef-search-below-limit"] == Severity.WARNING


def test_probes_at_lists(conn: psycopg.Connection[TupleRow], qvec: str) -> None:
    conn.execute("SET ivfflat.probes = 100")
    try:
        d = run(conn, f"SELECT id FROM doc_chunks ORDER BY embedding <=> {qvec} LIMIT 10")
    finally:
        conn.execute("RESET ivfflat.probes")
    assert "probes-all-lists" in rules(d)


def test_enable_indexscan_off(conn: psycopg.Connection[TupleRow], qvec: str) -> None:
    conn.execute("SET enable_indexscan = off")
    try:
        d = run(conn, f"SELECT id FROM doc_chunks ORDER BY embedding <=> {qvec} LIMIT 10")
    finally:
        conn.execute("RESET enable_indexscan")
    assert rules(d)["planner-setting"] == Severity.ERROR
    assert d.exit_code == 3


def test_disabled_node_cost(conn: psycopg.Connection[TupleRow], qvec: str) -> None:
    conn.execute("SET enable_seqscan = off")
    try:
        d = run(conn, f"SELECT id FROM articles ORDER BY embedding <=> {qvec} LIMIT 10")
    finally:
        conn.execute("RESET enable_seqscan")
    assert rules(d)["disabled-node"] == Severity.WARNING
    assert rules(d)["planner-setting"] == Severity.WARNING


def test_parameters_use_a_generic_plan(conn: psycopg.Connection[TupleRow]) -> None:
    d = run(conn, "SELECT id FROM doc_chunks ORDER BY embedding <=> $1 LIMIT 10")
    assert d.result.generic and d.knn_served


def test_parameters_substituted_with_a_real_vector(conn: psycopg.Connection[TupleRow]) -> None:
    inventory = fetch_inventory(conn)
    sql = "SELECT id FROM doc_chunks ORDER BY embedding <=> $1 LIMIT 10"
    result = explain(conn, sql, inventory, allow_generic=False)
    assert not result.generic
    assert any("sampled from public.doc_chunks.embedding" in n for n in result.notes)
    assert "$1" not in result.sql
    assert diagnose(result, inventory).knn_served


def test_cte_subquery_and_join(conn: psycopg.Connection[TupleRow], qvec: str) -> None:
    d = run(
        conn,
        f"WITH near AS (SELECT id FROM doc_chunks ORDER BY embedding <=> {qvec} "
        "LIMIT 10) SELECT n.id, d.tenant_id FROM near n JOIN doc_chunks d USING (id)",
    )
    assert d.knn_served and len(d.sites) == 1
    d = run(
        conn,
        "SELECT d.id FROM doc_chunks d, (SELECT embedding AS v FROM doc_chunks "
        "WHERE id = 1) q ORDER BY d.embedding <=> q.v LIMIT 5",
    )
    assert not d.knn_served
    assert rules(d)["query-vector-from-join"] == Severity.ERROR


def test_lateral_top_k(conn: psycopg.Connection[TupleRow]) -> None:
    d = run(
        conn,
        "SELECT q.id, n.id FROM (SELECT id, embedding FROM doc_chunks LIMIT 3) q "
        "CROSS JOIN LATERAL (SELECT d.id FROM doc_chunks d "
        "ORDER BY d.embedding <=> q.embedding LIMIT 5) n",
    )
    assert d.knn_served and d.sites


@pytest.fixture(scope="module")
def custom(db: Database) -> Database:
    """Tables built for one rule each: post-filter, expression index, partitions, stats."""
    with db.connect() as c:
        c.execute("CREATE TABLE items (id int PRIMARY KEY, category int, embedding vector(8))")
        # Half the rows in each category, but the two categories live far apart: the
        # neighbours of a category-1 row are all category 1 (tenant data is clustered).
        c.execute(
            "INSERT INTO items SELECT i, i % 2, ARRAY[(i % 2) * 10, sin(i), cos(i), sin(3 * i), "
            "cos(3 * i), sin(5 * i), cos(5 * i), sin(7 * i)]::real[]::vector "
            "FROM generate_series(1, 5000) i"
        )
        c.execute("CREATE INDEX items_hnsw ON items USING hnsw (embedding vector_l2_ops)")
        c.execute("CREATE TABLE loose (id int PRIMARY KEY, v vector)")
        c.execute(
            "INSERT INTO loose SELECT i, ARRAY[i % 17, i % 5, 1]::real[]::vector "
            "FROM generate_series(1, 3000) i"
        )
        c.execute("CREATE INDEX loose_expr ON loose USING hnsw ((v::vector(3)) vector_l2_ops)")
        c.execute(
            "CREATE TABLE parts (id int, region int, embedding vector(4)) "
            "PARTITION BY LIST (region)"
        )
        c.execute("CREATE TABLE parts_1 PARTITION OF parts FOR VALUES IN (1)")
        c.execute("CREATE TABLE parts_2 PARTITION OF parts FOR VALUES IN (2)")
        c.execute(
            "INSERT INTO parts SELECT i, 1 + i % 2, ARRAY[i % 13, i % 7, i % 3, 1]::real[]"
            "::vector FROM generate_series(1, 6000) i"
        )
        c.execute("CREATE INDEX parts_hnsw ON parts USING hnsw (embedding vector_l2_ops)")
        c.execute("CREATE TABLE corr (a int, b int)")
        c.execute("INSERT INTO corr SELECT i % 100, i % 100 FROM generate_series(1, 20000) i")
        c.execute("ANALYZE")
    return db


@pytest.fixture(scope="module")
def cconn(custom: Database) -> Iterator[psycopg.Connection[TupleRow]]:
    with connected(custom.target) as c:
        yield c


def test_post_filter_with_actual_rows(cconn: psycopg.Connection[TupleRow]) -> None:
    sql = (
        "SELECT id FROM items WHERE category = 0 "
        "ORDER BY embedding <-> (SELECT embedding FROM items WHERE id = 1) LIMIT 10"
    )
    plain = run(cconn, sql)
    assert rules(plain)["post-filter"] == Severity.WARNING
    analysed = run(cconn, sql, analyze=True)
    finding = next(f for f in analysed.findings if f.rule == "post-filter")
    assert finding.severity == Severity.ERROR and "of LIMIT 10 rows" in finding.message
    pgvector = fetch_inventory(cconn).server.pgvector
    if has_feature(pgvector, "iterative_scan"):
        assert "hnsw.iterative_scan = relaxed_order" in (finding.fix or "")
    else:
        assert "upgrade pgvector to 0.8+" in (finding.fix or "")
    assert "B-tree" in (finding.fix or "")
    if has_feature(pgvector, "iterative_scan"):
        assert finding.settings == (("hnsw.iterative_scan", "relaxed_order"),)


def test_expression_index_not_repeated(cconn: psycopg.Connection[TupleRow]) -> None:
    d = run(cconn, "SELECT id FROM loose ORDER BY v <-> '[1,2,1]' LIMIT 5")
    finding = next(f for f in d.findings if f.rule == "expression-index-mismatch")
    assert finding.severity == Severity.ERROR
    assert finding.rewritten_sql is not None and "::vector(3)" in finding.rewritten_sql
    fixed = try_fix(cconn, d, fetch_inventory(cconn))
    assert fixed is not None and fixed.knn_served


def test_partitioned_table(cconn: psycopg.Connection[TupleRow]) -> None:
    d = run(cconn, "SELECT id FROM parts ORDER BY embedding <-> '[1,2,3,1]' LIMIT 5")
    assert d.knn_served and len(d.sites) == 2
    assert {s.relation for s in d.sites} == {"parts_1", "parts_2"}


def test_general_warnings(cconn: psycopg.Connection[TupleRow]) -> None:
    d = run(cconn, "SELECT * FROM corr WHERE a = 1 AND b = 1", analyze=True)
    found = rules(d)
    assert found["row-misestimate"] == Severity.WARNING
    assert found["rows-removed"] == Severity.WARNING
    assert found["slowest-node"] == Severity.INFO
    cconn.execute("SET work_mem = '64kB'")
    try:
        d = run(cconn, "SELECT * FROM corr ORDER BY a, b DESC", analyze=True)
    finally:
        cconn.execute("RESET work_mem")
    assert rules(d)["sort-spill"] == Severity.WARNING


def test_selective_filter_sorted_exactly_is_fine(
    conn: psycopg.Connection[TupleRow], qvec: str
) -> None:
    d = run(
        conn,
        f"SELECT id FROM doc_chunks WHERE tenant_id = 'tenant-40' "
        f"ORDER BY embedding <=> {qvec} LIMIT 10",
    )
    site = d.sites[0]
    if site.served:
        # pgvector 0.6 costs the ivfflat scan cheaper: then the filter runs after it.
        assert rules(d)["post-filter"] == Severity.WARNING
    else:
        # pgvector 0.8 weighs the filter: the B-tree on tenant_id first, then an exact sort.
        scan = d.result.plan.node(site.scan_node_id or 0)
        assert scan.node_type == "Bitmap Heap Scan"
        # issue #16: said as what it is, the filter chose the exact plan (was small-table).
        assert rules(d)["filter-chose-exact"] == Severity.INFO
        assert d.exit_code == 0


def test_plan_doctor_is_the_one_entry(demo_db: Database, qvec: str) -> None:
    """Query in, diagnosis out, with the try-the-fix path: what both front ends call."""
    from vecscope.core.doctor.doctor import PlanDoctor

    sql = f"SELECT id FROM doc_chunks ORDER BY embedding <=> {qvec} DESC LIMIT 10"
    with PlanDoctor(demo_db.target) as doctor:
        plain = doctor.examine(sql)
        assert not plain.fix_tried and plain.fixed is None and plain.exit_code == 3
        tried = doctor.examine(sql, try_the_fix=True)
        assert tried.fix_tried and tried.fixed is not None and tried.fixed.knn_served
        again = doctor.try_fix(plain.diagnosis)
        assert again is not None and again.knn_served
        served = doctor.examine(f"SELECT id FROM messages ORDER BY embedding <-> {qvec} LIMIT 5")
        assert not served.diagnosis.findings
        assert doctor.try_fix(served.diagnosis) is None


# --- issue #15 ------------------------------------------------------------------------


def test_plan_text_shows_startup_and_total_time(
    conn: psycopg.Connection[TupleRow], qvec: str
) -> None:
    """As EXPLAIN ANALYZE prints it: "actual time=0.512..0.935", never "..0.935"."""
    d = run(conn, f"SELECT id FROM doc_chunks ORDER BY embedding <=> {qvec} LIMIT 10", analyze=True)
    text = plan_text(d.result.plan)
    assert "time=.." not in text
    assert re.search(
        r"^Limit .*\(actual time=\d+\.\d{3}\.\.\d+\.\d{3} rows=10 loops=1\)$", text, re.M
    )
    limit = d.result.plan.root
    assert limit.actual_startup_ms is not None and limit.actual_total_ms is not None
    assert limit.actual_startup_ms <= limit.actual_total_ms


def test_try_fix_applies_a_setting_for_that_run(
    conn: psycopg.Connection[TupleRow], qvec: str
) -> None:
    """probes-low's fix is a setting: trying it runs the query with it (SET LOCAL)."""
    d = run(conn, f"SELECT id FROM doc_chunks ORDER BY embedding <=> {qvec} LIMIT 10")
    probes = next(f for f in d.findings if f.rule == "probes-low")
    assert probes.settings and probes.settings[0][0] == "ivfflat.probes"
    assert f"SET ivfflat.probes = {probes.settings[0][1]};" in (probes.fix or "")
    fixed = try_fix(conn, d, fetch_inventory(conn))
    assert fixed is not None and fixed.tried == probes and fixed.fix_worked
    assert fixed.result.tried_settings == probes.settings
    assert fixed.result.settings["ivfflat.probes"] == probes.settings[0][1]
    assert fixed.knn_served and "probes-low" not in rules(fixed)
    assert any("ivfflat.probes" in n and "this run only" in n for n in fixed.result.notes)
    # For that run only: the session keeps its own setting.
    assert conn.execute("SELECT current_setting('ivfflat.probes')").fetchone() == ("1",)


def test_post_filter_never_suggests_an_index_that_exists(
    custom: Database, cconn: psycopg.Connection[TupleRow]
) -> None:
    sql = (
        "SELECT id FROM items WHERE category = 0 "
        "ORDER BY embedding <-> (SELECT embedding FROM items WHERE id = 1) LIMIT 10"
    )
    btree = 'CREATE INDEX CONCURRENTLY IF NOT EXISTS "items_category_btree_idx" ON "public"."items"'
    fix = next(f for f in run(cconn, sql).findings if f.rule == "post-filter").fix or ""
    assert f'{btree} ("category");' in fix
    with custom.connect() as c:
        c.execute("CREATE INDEX items_category_idx ON items (category)")
    try:
        d = run(cconn, sql)
        assert d.knn_served  # half the rows match: the planner still scans the vector index
        fix = next(f for f in d.findings if f.rule == "post-filter").fix or ""
        assert btree not in fix
        assert 'no new index: "items_category_idx" (btree on category) exists' in fix
        assert "MATERIALIZED" in fix
    finally:
        with custom.connect() as c:
            c.execute("DROP INDEX items_category_idx")


def test_the_new_index_name_is_free(custom: Database, cconn: psycopg.Connection[TupleRow]) -> None:
    """IF NOT EXISTS would skip a build whose name another index has: pick a free one."""
    with custom.connect() as c:
        c.execute(
            "CREATE INDEX items_embedding_hnsw_idx ON items USING hnsw (embedding vector_l2_ops)"
        )
    try:
        d = run(cconn, "SELECT id FROM items ORDER BY embedding <=> '[1,2,3,4,5,6,7,8]' LIMIT 5")
        finding = next(f for f in d.findings if f.rule == "operator-mismatch")
        assert finding.index_sql is not None
        assert '"items_embedding_cosine_hnsw_idx"' in finding.index_sql
    finally:
        with custom.connect() as c:
            c.execute("DROP INDEX items_embedding_hnsw_idx")


def test_column_query_takes_the_applications_operator(pgss_demo_db: Database) -> None:
    """The demo's application orders messages by <=> (its l2 index serves <->)."""
    from vecscope.core import db
    from vecscope.core.demo.workload import MESSAGES
    from vecscope.core.doctor.column_query import column_query

    with connected(pgss_demo_db.target) as c:
        inventory = fetch_inventory(c)
        before = column_query(c, inventory, "public", "messages", "embedding")
        assert (before.operator, before.source) == ("<->", "index")
        vector = c.execute("SELECT embedding::text FROM messages LIMIT 1").fetchone()
        assert vector is not None
        for _ in range(3):
            db.execute(c, MESSAGES, {"vector": vector[0]})
        after = column_query(c, inventory, "public", "messages", "embedding")
        assert (after.operator, after.source) == ("<=>", "pg_stat_statements")
        assert 'ORDER BY "embedding" <=> (SELECT' in after.sql
        assert "3 calls in pg_stat_statements" in after.reason
        d = diagnose(explain(c, after.sql, inventory), inventory)
        assert d.findings[0].rule == "operator-mismatch"
        # No index, no application query: cosine distance.
        none = column_query(c, inventory, "public", "articles", "embedding")
        assert (none.operator, none.source) == ("<=>", "default")


def test_the_demos_tenant_filter(conn: psycopg.Connection[TupleRow], qvec: str) -> None:
    """doc_chunks_tenant_id_idx exists: the post-filter fix says so instead of suggesting a
    B-tree on tenant_id; trying the fix runs the query with the iterative scan."""
    sql = (
        "SELECT id FROM doc_chunks WHERE tenant_id = 'tenant-01' "
        f"ORDER BY embedding <=> {qvec} LIMIT 10"
    )
    d = run(conn, sql, analyze=True)
    if not d.knn_served:
        pytest.skip("this planner filters first with the B-tree: no post-filter")
    finding = next(f for f in d.findings if f.rule == "post-filter")
    assert 'no new index: "doc_chunks_tenant_id_idx" (btree on tenant_id) exists' in (
        finding.fix or ""
    )
    assert 'ON "public"."doc_chunks" ("tenant_id")' not in (finding.fix or "")
    if not has_feature(fetch_inventory(conn).server.pgvector, "iterative_scan"):
        return
    fixed = try_fix(conn, d, fetch_inventory(conn))
    assert fixed is not None and fixed.tried == finding
    assert fixed.result.tried_settings == (("ivfflat.iterative_scan", "relaxed_order"),)
    assert rules(fixed)["post-filter"] == Severity.INFO and fixed.fix_worked
    # The next fix (probes-low) is tried with the first one's setting still on.
    again = try_fix(conn, fixed, fetch_inventory(conn))
    assert again is not None and again.tried is not None and again.tried.rule == "probes-low"
    assert dict(again.result.tried_settings) == {
        "ivfflat.iterative_scan": "relaxed_order",
        "ivfflat.probes": "10",
    }
    assert again.fix_worked and rules(again)["post-filter"] == Severity.INFO
