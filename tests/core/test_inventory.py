"""The inventory on the demo database: every table and index as the issue describes it."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import psycopg
import pytest
from psycopg import sql

from tests.conftest import DEMO_TEST_ROWS, LIMITED_ROLE, Database
from vecscope.core.catalog.inventory import fetch_inventory, inventory_to_json
from vecscope.core.connection import ConnectionTarget, connected
from vecscope.core.demo.seed import EVENT_MONTHS, DemoSizes
from vecscope.core.pgvector import has_feature


def _cli_json(*args: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "vecscope.cli.launch", "indexes", "--json", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    loaded: dict[str, Any] = json.loads(proc.stdout)
    return loaded


@pytest.fixture(scope="module")
def demo_json(demo_db: Database) -> dict[str, Any]:
    return _cli_json("--dsn", demo_db.dsn)


def _index(doc: dict[str, Any], name: str) -> dict[str, Any]:
    matches = [ix for ix in doc["indexes"] if ix["name"] == name]
    assert len(matches) == 1, [ix["name"] for ix in doc["indexes"]]
    found: dict[str, Any] = matches[0]
    return found


def test_server_facts(demo_json: dict[str, Any], demo_db: Database) -> None:
    server = demo_json["server"]
    with demo_db.connect() as conn:
        row = conn.execute(
            "SELECT current_setting('server_version'), extversion FROM pg_extension "
            "WHERE extname = 'vector'"
        ).fetchone()
    assert row is not None
    assert server["version"] == row[0]
    assert server["pgvector"] == row[1]
    assert server["in_recovery"] is False
    for name in (
        "maintenance_work_mem",
        "max_parallel_maintenance_workers",
        "hnsw.ef_search",
        "ivfflat.probes",
        "shared_buffers",
        "work_mem",
    ):
        assert server["settings"][name], name
    assert server["settings"]["hnsw.ef_search"] == "40"
    assert server["settings"]["ivfflat.probes"] == "1"


def test_every_demo_column(demo_json: dict[str, Any]) -> None:
    cols = {(c["schema"], c["table"], c["column"]): c for c in demo_json["columns"]}
    assert set(cols) == {
        ("public", "doc_chunks", "embedding"),
        ("public", "messages", "embedding"),
        ("public", "articles", "embedding"),
        ("public", "atoms", "embedding"),
        ("public", "events", "embedding"),
        *(("public", f"events_{month}", "embedding") for month in EVENT_MONTHS),
        ("search", "Product Embeddings", "Embedding"),
    }
    for c in cols.values():
        assert c["type"] == "vector"
        assert c["dims"] == 384
        assert c["can_create_index"] is True
        assert c["can_select"] is True
        assert c["table_bytes"] > 0
    assert cols[("public", "doc_chunks", "embedding")]["rows"] == DEMO_TEST_ROWS
    assert cols[("public", "atoms", "embedding")]["rows"] == 200
    assert cols[("public", "articles", "embedding")]["indexes"] == []


def test_partitioned_events(demo_json: dict[str, Any]) -> None:
    """The partitioned table, its partitions, and its index attached on each."""
    cols = {c["table"]: c for c in demo_json["columns"] if c["table"].startswith("events")}
    parent = cols.pop("events")
    assert (parent["relkind"], parent["partition_of"]) == ("p", None)
    assert parent["indexes"] == ["idx_events_embedding"]
    assert (
        parent["rows"]
        == sum(c["rows"] for c in cols.values())
        == DemoSizes.scaled(DEMO_TEST_ROWS).events
    )
    assert {c["partition_of"] for c in cols.values()} == {"public.events"}
    ix = _index(demo_json, "idx_events_embedding")
    assert (ix["method"], ix["valid"], ix["parent_index"]) == ("ivfflat", True, None)
    assert "ON ONLY public.events" in ix["definition"]
    parts = [i for i in demo_json["indexes"] if i["parent_index"] == "idx_events_embedding"]
    assert sorted(i["table"] for i in parts) == sorted(cols)
    # A partitioned index has no storage of its own: its size is its partitions'.
    assert ix["size_bytes"] > 0


def test_ivfflat_on_doc_chunks(demo_json: dict[str, Any]) -> None:
    ix = _index(demo_json, "idx_doc_chunks_embedding")
    assert (ix["schema"], ix["table"], ix["column"]) == ("public", "doc_chunks", "embedding")
    assert ix["method"] == "ivfflat"
    assert ix["opclass"] == "vector_cosine_ops"
    assert ix["operator"] == "<=>"
    assert ix["params"] == {"lists": 100}
    assert ix["params_explicit"] == ["lists"]
    assert ix["valid"] is True
    assert ix["size_bytes"] > 0
    assert ix["scans"] == 0


def test_l2_hnsw_on_messages(demo_json: dict[str, Any]) -> None:
    ix = _index(demo_json, "idx_messages_embedding_hnsw")
    assert ix["method"] == "hnsw"
    assert ix["opclass"] == "vector_l2_ops"
    assert ix["operator"] == "<->"
    assert ix["params"] == {"m": 16, "ef_construction": 64}


def test_small_atoms_index(demo_json: dict[str, Any]) -> None:
    ix = _index(demo_json, "idx_atoms_embedding_hnsw")
    assert (ix["method"], ix["opclass"], ix["operator"]) == ("hnsw", "vector_cosine_ops", "<=>")
    kinds = {p["kind"] for p in demo_json["problems"] if p["index"] == ix["name"]}
    assert "small-table" in kinds


def test_quoted_names_and_defaults(demo_json: dict[str, Any]) -> None:
    ix = _index(demo_json, "Product Embeddings_hnsw")
    assert (ix["schema"], ix["table"], ix["column"]) == (
        "search",
        "Product Embeddings",
        "Embedding",
    )
    assert (ix["opclass"], ix["operator"]) == ("vector_ip_ops", "<#>")
    # No WITH clause: pgvector's defaults are filled in and marked as such.
    assert ix["params"] == {"m": 16, "ef_construction": 64}
    assert ix["params_explicit"] == []
    assert '"Product Embeddings_hnsw"' in ix["definition"]


def test_invalid_index_from_a_real_failed_build(demo_json: dict[str, Any]) -> None:
    ix = _index(demo_json, "Product Embeddings_cosine_idx")
    assert ix["valid"] is False
    assert ix["ready"] is True  # cancelled after its build: maintained, never used
    problems = [p for p in demo_json["problems"] if p["index"] == ix["name"]]
    assert [p["kind"] for p in problems] == ["invalid-index"]
    assert problems[0]["severity"] == "error"
    assert (
        'DROP INDEX CONCURRENTLY IF EXISTS "search"."Product Embeddings_cosine_idx"'
        in (problems[0]["fix"])
    )


def test_articles_has_no_index(demo_json: dict[str, Any]) -> None:
    problems = [p for p in demo_json["problems"] if p["table"] == "articles"]
    assert [p["kind"] for p in problems] == ["no-index"]
    assert "CREATE INDEX CONCURRENTLY IF NOT EXISTS" in problems[0]["fix"]
    assert '"public"."articles"' in problems[0]["fix"]


def test_halfvec_expression_index_where_supported(demo_json: dict[str, Any]) -> None:
    if not has_feature(demo_json["server"]["pgvector"], "halfvec"):
        assert not [
            ix for ix in demo_json["indexes"] if ix["name"] == "Product Embeddings_half_idx"
        ]
        pytest.skip("pgvector < 0.7 has no halfvec")
    ix = _index(demo_json, "Product Embeddings_half_idx")
    assert ix["column"] == "Embedding"  # found through the expression's dependencies
    assert ix["expression"] is not None and "halfvec" in ix["expression"]
    assert (ix["opclass"], ix["operator"]) == ("halfvec_cosine_ops", "<=>")


def test_table_output_mentions_every_index(demo_db: Database) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "vecscope.cli.launch", "indexes", "--dsn", demo_db.dsn],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    for text in (
        "idx_doc_chunks_embedding",
        "idx_messages_embedding_hnsw",
        "Product Embeddings_cosine_idx",
        "INVALID",
        "no vector index",
    ):
        assert text in proc.stdout


@pytest.fixture(scope="module")
def odd_catalog(db: Database) -> Database:
    """Partial, expression, untyped, sparse and duplicate indexes: the awkward cases."""
    with db.connect() as conn:
        conn.execute('CREATE SCHEMA "Odd Schema"')
        conn.execute(
            'CREATE TABLE "Odd Schema"."Mixed Case" (id bigint PRIMARY KEY, tenant int, '
            '"Vec" vector(3), loose vector, flags bit(8))'
        )
        conn.execute(
            'INSERT INTO "Odd Schema"."Mixed Case" SELECT i, i % 3, '
            "ARRAY[i, i + 1, i + 2]::real[]::vector, ARRAY[i, 1]::real[]::vector, B'10101010' "
            "FROM generate_series(1, 50) i"
        )
        conn.execute(
            'CREATE INDEX partial_idx ON "Odd Schema"."Mixed Case" '
            'USING hnsw ("Vec" vector_l2_ops) '
            "WITH (m = 8) WHERE tenant = 1"
        )
        conn.execute(
            'CREATE INDEX expr_idx ON "Odd Schema"."Mixed Case" USING hnsw '
            "((loose::vector(2)) vector_cosine_ops)"
        )
        conn.execute(
            'CREATE INDEX dup_a ON "Odd Schema"."Mixed Case" USING ivfflat ("Vec") '
            "WITH (lists = 10)"
        )
        conn.execute(
            'CREATE INDEX dup_b ON "Odd Schema"."Mixed Case" USING ivfflat ("Vec") '
            "WITH (lists = 10)"
        )
        conn.execute("ANALYZE")
    return db


def test_awkward_indexes(odd_catalog: Database) -> None:
    with connected(odd_catalog.target) as conn:
        inv = fetch_inventory(conn)
    doc = inventory_to_json(inv)
    cols = {c["column"]: c for c in doc["columns"]}
    assert cols["loose"]["dims"] is None
    assert cols["flags"]["type"] == "bit" and cols["flags"]["dims"] == 8
    partial = _index(doc, "partial_idx")
    assert partial["partial"] is True and partial["predicate"] == "(tenant = 1)"
    assert partial["params"] == {"m": 8, "ef_construction": 64}
    assert partial["params_explicit"] == ["m"]
    expr = _index(doc, "expr_idx")
    assert expr["column"] == "loose" and expr["expression"] is not None
    # ivfflat's default opclass is vector_l2_ops.
    assert _index(doc, "dup_a")["opclass"] == "vector_l2_ops"
    kinds = {(p["kind"], p["index"] or p["column"]) for p in doc["problems"]}
    assert ("duplicate-index", "dup_b") in kinds
    assert ("untyped-dims", "loose") in kinds
    assert ("ivfflat-few-rows", "dup_a") in kinds


def _count_statements(target: ConnectionTarget) -> int:
    calls = 0
    original = psycopg.Cursor.execute

    def counting(self: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return original(self, *args, **kwargs)

    with connected(target) as conn:
        psycopg.Cursor.execute = counting  # type: ignore[method-assign]
        try:
            fetch_inventory(conn)
        finally:
            psycopg.Cursor.execute = original  # type: ignore[method-assign]
    return calls


def test_constant_number_of_catalog_queries(db: Database) -> None:
    with db.connect() as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS many")
        for i in range(3):
            conn.execute(
                sql.SQL("CREATE TABLE {} (e vector(4))").format(sql.Identifier("many", f"t{i}"))
            )
            conn.execute(
                sql.SQL("CREATE INDEX ON {} USING hnsw (e vector_l2_ops)").format(
                    sql.Identifier("many", f"t{i}")
                )
            )
    few = _count_statements(db.target)
    with db.connect() as conn:
        for i in range(3, 40):
            conn.execute(
                sql.SQL("CREATE TABLE {} (e vector(4))").format(sql.Identifier("many", f"t{i}"))
            )
            conn.execute(
                sql.SQL("CREATE INDEX ON {} USING hnsw (e vector_l2_ops)").format(
                    sql.Identifier("many", f"t{i}")
                )
            )
    many = _count_statements(db.target)
    assert few == many
    assert many <= 6


def test_limited_role_sees_columns_but_is_marked(demo_db: Database) -> None:
    with demo_db.connect() as conn:
        conn.execute(
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                sql.Identifier(demo_db.name), sql.Identifier(LIMITED_ROLE)
            )
        )
        conn.execute(
            sql.SQL("GRANT USAGE ON SCHEMA search TO {}").format(sql.Identifier(LIMITED_ROLE))
        )
        conn.execute(
            sql.SQL("GRANT SELECT ON public.doc_chunks TO {}").format(sql.Identifier(LIMITED_ROLE))
        )
    doc = _cli_json("--dsn", demo_db.dsn, "-U", LIMITED_ROLE)
    cols = {(c["table"]): c for c in doc["columns"]}
    assert cols["doc_chunks"]["can_select"] is True
    assert cols["doc_chunks"]["can_create_index"] is False
    assert cols["messages"]["can_select"] is False
    assert ("no-select", "messages") in {(p["kind"], p["table"]) for p in doc["problems"]}
    # Indexes stay visible from the catalog, as psql's \di shows them.
    assert len(doc["indexes"]) >= 5


def test_diskann_index_where_vectorscale_exists(db: Database) -> None:
    with db.connect() as conn:
        available = conn.execute(
            "SELECT 1 FROM pg_available_extensions WHERE name = 'vectorscale'"
        ).fetchone()
        if available is None:
            pytest.skip("this server has no pgvectorscale")
        conn.execute("CREATE EXTENSION IF NOT EXISTS vectorscale CASCADE")
        conn.execute("CREATE TABLE scaled (id int PRIMARY KEY, e vector(8))")
        conn.execute(
            "INSERT INTO scaled SELECT i, array_fill(i::real, ARRAY[8])::vector "
            "FROM generate_series(1, 100) i"
        )
        conn.execute("CREATE INDEX scaled_diskann ON scaled USING diskann (e vector_cosine_ops)")
    with connected(db.target) as conn:
        doc = inventory_to_json(fetch_inventory(conn))
    assert doc["server"]["pgvectorscale"]
    ix = _index(doc, "scaled_diskann")
    assert (ix["method"], ix["opclass"], ix["operator"], ix["column"]) == (
        "diskann",
        "vector_cosine_ops",
        "<=>",
        "e",
    )
    assert ix["params"]["num_neighbors"] == 50 and ix["params_explicit"] == []


def test_indexes_json_reports_the_servers_statement_timeout_not_vecscopes(
    db: Database,
) -> None:
    """vecscope's own 5 s probe timeout is a SET in its session, not the server's setting
    (issue #15, point 17): the inventory reports what the session began with."""
    from tests.core.cli_helpers import vecscope as run_vecscope

    with db.connect() as conn:
        conn.execute(f"ALTER DATABASE \"{db.name}\" SET statement_timeout = '17s'")
    try:
        result = run_vecscope("indexes", "--json", "--dsn", db.dsn)
        assert result.code == 0, result.err
        settings = json.loads(result.out)["server"]["settings"]
        assert settings["statement_timeout"] == "17000ms", settings
    finally:
        with db.connect() as conn:
            conn.execute(f'ALTER DATABASE "{db.name}" RESET statement_timeout')
