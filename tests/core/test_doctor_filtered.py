"""Issue #16: a filter that made the planner sort exactly is said as what it is.

``WHERE c = 7 ORDER BY v <-> q LIMIT 20`` with 1% of the rows matching: pgvector 0.8
costs the post-filter shortfall of an HNSW scan in, and PostgreSQL 18 reads the table
and sorts the matching rows exactly. That plan returns the right rows: no error, but its
cost now and as the table grows, and the fixes (iterative scan, partial index, B-tree).
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from psycopg.rows import TupleRow

from tests.conftest import Database
from vecscope.core.catalog.inventory import fetch_inventory
from vecscope.core.connection import connected
from vecscope.core.doctor.diagnose import Diagnosis, diagnose, try_fix
from vecscope.core.doctor.explain import explain
from vecscope.core.models import Finding, Severity
from vecscope.core.pgvector import has_feature

QUERY = "SELECT id FROM f WHERE c = 7 ORDER BY v <-> (SELECT v FROM f WHERE id = 1) LIMIT 20"


@pytest.fixture(scope="module")
def filtered(db: Database) -> Database:
    """20,000 rows, c = 7 on 1% of them (200), an HNSW index on v and none on c."""
    with db.connect() as c:
        c.execute("CREATE TABLE f (id int PRIMARY KEY, c int, v vector(8))")
        c.execute(
            "INSERT INTO f SELECT i, CASE WHEN i % 100 = 0 THEN 7 ELSE i % 97 + 8 END, "
            "ARRAY[sin(i), cos(i), sin(3 * i), cos(3 * i), sin(5 * i), cos(5 * i), "
            "sin(7 * i), cos(7 * i)]::real[]::vector FROM generate_series(1, 20000) i"
        )
        c.execute("CREATE INDEX f_hnsw ON f USING hnsw (v vector_l2_ops)")
        c.execute("ANALYZE f")
    return db


@pytest.fixture(scope="module")
def conn(filtered: Database) -> Iterator[psycopg.Connection[TupleRow]]:
    with connected(filtered.target) as c:
        yield c


def run(conn: psycopg.Connection[TupleRow], sql: str, *, analyze: bool = False) -> Diagnosis:
    inventory = fetch_inventory(conn)
    return diagnose(explain(conn, sql, inventory, analyze=analyze), inventory)


def exact_or_skip(d: Diagnosis) -> list[Finding]:
    """The filter-chose-exact findings; skipped where the planner scans the vector index
    (pgvector before 0.8 does not cost the post-filter in: the post-filter rule speaks)."""
    if d.sites and d.sites[0].served:
        pytest.skip("this pgvector costs the HNSW scan cheaper: a post-filter, not an exact sort")
    return [f for f in d.findings if f.rule == "filter-chose-exact"]


def test_a_filter_that_chose_the_seq_scan_is_no_error(
    conn: psycopg.Connection[TupleRow],
) -> None:
    d = run(conn, QUERY)
    found = exact_or_skip(d)
    scan = d.result.plan.node(d.sites[0].scan_node_id or 0)
    assert scan.node_type == "Seq Scan" and scan.filter == "(f.c = 7)"
    assert "seq-scan-chosen" not in {f.rule for f in d.findings}
    assert not d.has_error and d.exit_code == 0
    main = found[0]
    assert main.severity == Severity.WARNING and main.node_id == scan.id
    # What it is, why the planner chose it, what an index scan would return.
    assert "keeps ~200 of ~20,000 rows (1.0%)" in main.message
    assert 'an exact sort over "f_hnsw", and this plan returns the right rows' in main.message
    assert "hnsw.ef_search = 40 candidates after the scan, leaving ~0.4 rows of LIMIT 20" in (
        main.message
    )
    # What it costs now (estimated without ANALYZE), at 10x and 100x the table.
    assert "now: cost " in main.message and "reading all ~20,000 rows" in main.message
    assert "at 10x (200,000 rows)" in main.message and "at 100x (2,000,000 rows)" in main.message
    assert "right rows" in d.verdict
    # Each fix on its own: a partial index for the hot value and a B-tree (none exists).
    partial = next(f for f in found if f.index_sql and "USING hnsw" in f.index_sql)
    assert partial.index_sql == (
        'CREATE INDEX CONCURRENTLY IF NOT EXISTS "f_v_c_hnsw_idx" ON "public"."f" '
        'USING hnsw ("v" vector_l2_ops) WHERE (c = 7);'
    )
    btree = next(f for f in found if f.index_sql and "USING" not in f.index_sql)
    assert btree.index_sql == (
        'CREATE INDEX CONCURRENTLY IF NOT EXISTS "f_c_btree_idx" ON "public"."f" ("c");'
    )
    assert "~200 matching rows" in btree.message


def test_analysed_it_says_the_time_and_rows_read(conn: psycopg.Connection[TupleRow]) -> None:
    d = run(conn, QUERY, analyze=True)
    main = exact_or_skip(d)[0]
    assert " ms reading all ~20,000 rows" in main.message
    assert " ms at 10x (200,000 rows)" in main.message
    # The Seq Scan's removed rows are this finding's, not a second warning.
    assert "rows-removed" not in {f.rule for f in d.findings}


def test_trying_the_iterative_scan(conn: psycopg.Connection[TupleRow]) -> None:
    d = run(conn, QUERY, analyze=True)
    main = exact_or_skip(d)[0]
    if not has_feature(fetch_inventory(conn).server.pgvector, "iterative_scan"):
        assert "upgrade pgvector to 0.8+" in (main.fix or "") and not main.settings
        return
    assert main.settings == (("hnsw.iterative_scan", "relaxed_order"), ("enable_seqscan", "off"))
    fixed = try_fix(conn, d, fetch_inventory(conn))
    assert fixed is not None and fixed.tried == main
    assert fixed.knn_served and fixed.fix_worked
    # The iterative scan returned the LIMIT: no post-filter loss.
    post = next(f for f in fixed.findings if f.rule == "post-filter")
    assert post.severity == Severity.INFO
    assert fixed.result.plan.root.actual_rows == 20


def test_an_existing_btree_is_used_not_suggested(
    filtered: Database, conn: psycopg.Connection[TupleRow]
) -> None:
    with filtered.connect() as c:
        c.execute("CREATE INDEX f_c_idx ON f (c)")
        c.execute("ANALYZE f")
    try:
        d = run(conn, QUERY)
        found = exact_or_skip(d)
        scan = d.result.plan.node(d.sites[0].scan_node_id or 0)
        assert scan.node_type in ("Bitmap Heap Scan", "Index Scan")
        assert found[0].severity == Severity.INFO and d.exit_code == 0
        assert "B-tree path grows with the matching rows, not the table" in found[0].message
        assert not any(f.index_sql and '("c")' in f.index_sql for f in d.findings)
    finally:
        with filtered.connect() as c:
            c.execute("DROP INDEX f_c_idx")
            c.execute("ANALYZE f")


def test_a_parameter_gets_no_partial_index(conn: psycopg.Connection[TupleRow]) -> None:
    """A partial index's WHERE needs the value: with c = $2 there is none to write."""
    d = run(conn, "SELECT id FROM f WHERE c = $2 ORDER BY v <-> $1 LIMIT 20")
    if not d.sites or d.sites[0].served:
        pytest.skip("the generic plan scans the vector index here")
    found = exact_or_skip(d)
    assert not any(f.index_sql and "USING hnsw" in f.index_sql for f in found)


def test_the_demos_small_tenant(demo_db: Database) -> None:
    """doc_chunks: a small tenant is read through doc_chunks_tenant_id_idx and sorted
    exactly; no B-tree on tenant_id is suggested (it exists)."""
    sql = (
        "SELECT id FROM doc_chunks WHERE tenant_id = 'tenant-30' "
        "ORDER BY embedding <=> (SELECT embedding FROM doc_chunks LIMIT 1) LIMIT 20"
    )
    with connected(demo_db.target) as c:
        d = run(c, sql, analyze=True)
    found = exact_or_skip(d)
    scan = d.result.plan.node(d.sites[0].scan_node_id or 0)
    assert scan.node_type == "Bitmap Heap Scan"
    assert found[0].severity == Severity.INFO and d.exit_code == 0
    assert "ivfflat.probes = 1 of 100 lists" in found[0].message
    assert "reading the ~" in found[0].message and "matching rows" in found[0].message
    assert not any(f.index_sql and '("tenant_id")' in f.index_sql for f in d.findings)
    partial = next(f for f in found if f.index_sql)
    assert "WHERE (tenant_id = 'tenant-30'::text);" in (partial.index_sql or "")
