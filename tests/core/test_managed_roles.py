"""vecscope as a managed server's application role, made for real on the tests' server.

The role ``vs_managed`` logs in without superuser, is in neither pg_read_all_stats nor
pg_read_all_settings, owns two of the demo's tables and may only read two others; pgvector
lives in schema ``extensions`` (on its search_path), and pg_stat_statements is absent from
the database, then installed in a schema ``monitoring``. Every command runs as that role
through the real command line: each works, or says what it lacks in one line.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import conninfo as pg_conninfo
from psycopg import sql

from tests.conftest import (
    DEMO_TEST_ROWS,
    Database,
    _drop_database,
    _fresh_database,
    has_pg_stat_statements,
)
from tests.core.cli_helpers import Result, assert_one_line_error, vecscope
from vecscope.core.demo.seed import seed
from vecscope.core.embedded import EmbeddedServer

NAME = "t_managed_roles"
ROLE = "vs_managed"
OWNED = ("doc_chunks", "messages")
READ_ONLY = ("articles", "atoms")


@pytest.fixture(scope="module")
def admin(pg: EmbeddedServer) -> Iterator[Database]:
    """The demo with pgvector in schema ``extensions``, the role and its grants (as the
    superuser: what the provider's admin and the application's owner did)."""
    database = _fresh_database(pg, NAME, extension=False)
    with database.connect() as conn:
        conn.execute("CREATE SCHEMA extensions")
        conn.execute("CREATE EXTENSION vector SCHEMA extensions")
        conn.execute(
            sql.SQL("ALTER DATABASE {} SET search_path = public, extensions").format(
                sql.Identifier(NAME)
            )
        )
    seed(database.dsn, DEMO_TEST_ROWS, progress=lambda _: None)
    with database.connect() as conn:
        # The demo installs pg_stat_statements where the server preloads it: absent here.
        conn.execute("DROP EXTENSION IF EXISTS pg_stat_statements")
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(ROLE)))
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(ROLE)))
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA extensions TO {}").format(sql.Identifier(ROLE)))
        for table in OWNED:
            conn.execute(
                sql.SQL("ALTER TABLE {} OWNER TO {}").format(
                    sql.Identifier("public", table), sql.Identifier(ROLE)
                )
            )
        for table in READ_ONLY:
            conn.execute(
                sql.SQL("GRANT SELECT ON {} TO {}").format(
                    sql.Identifier("public", table), sql.Identifier(ROLE)
                )
            )
    yield database
    _drop_database(pg, NAME)
    with psycopg.connect(pg.conninfo(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(ROLE)))


@pytest.fixture(scope="module")
def dsn(admin: Database) -> str:
    """The application role's connection string."""
    return pg_conninfo.make_conninfo(admin.dsn, user=ROLE)


def _json_lines(r: Result) -> list[dict[str, object]]:
    return [json.loads(line) for line in r.out.splitlines() if line.strip()]


def test_the_role_is_really_unprivileged(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        row = conn.execute(
            "SELECT rolsuper, pg_has_role(current_user, 'pg_read_all_stats', 'MEMBER'), "
            "pg_has_role(current_user, 'pg_read_all_settings', 'MEMBER'), "
            "current_setting('search_path') FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
        assert row == (False, False, False, "public, extensions")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SHOW data_directory")
        installed = conn.execute(
            "SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'vector'"
        ).fetchone()
        assert installed == ("extensions",)


def test_indexes(dsn: str) -> None:
    r = vecscope("indexes", "--json", "--dsn", dsn)
    assert r.code == 0 and r.err == "", r.err
    doc = json.loads(r.out)
    assert doc["server"]["current_user"] == ROLE and doc["server"]["pgvector"]
    columns = {c["table"]: c for c in doc["columns"]}
    assert all(columns[t]["can_create_index"] for t in OWNED)
    assert not any(columns[t]["can_create_index"] for t in READ_ONLY)
    assert all(columns[t]["can_select"] for t in OWNED + READ_ONLY)
    # A table it may not read is listed from the catalog, with what it lacks.
    assert not columns["Product Embeddings"]["can_select"]
    assert any(p["kind"] == "no-select" for p in doc["problems"])
    assert {"idx_doc_chunks_embedding", "idx_messages_embedding_hnsw"} <= {
        ix["name"] for ix in doc["indexes"]
    }


def test_explain_a_knn_query(dsn: str) -> None:
    query = (
        "SELECT id FROM messages ORDER BY embedding <-> "
        "(SELECT embedding FROM messages WHERE id = 42) LIMIT 10"
    )
    for extra in ([], ["--analyze"]):
        r = vecscope("explain", "--dsn", dsn, "--json", *extra, query)
        assert r.code == 0, r.err
        assert json.loads(r.out)["uses_vector_index"] is True


@pytest.mark.parametrize(("table", "knob"), [("messages", "--ef-search"), ("atoms", "--ef-search")])
def test_bench_on_tables_it_owns_and_only_reads(dsn: str, table: str, knob: str) -> None:
    for truth in ("faiss", "postgres"):
        r = vecscope(
            "bench", "--dsn", dsn, "--table", f"public.{table}", "--column", "embedding",
            "--queries", "20", knob, "10,80", "--ground-truth", truth, "--json",
        )  # fmt: skip
        assert r.code == 0, r.err
        results = json.loads(r.out)["results"]
        assert len(results) == 2 and max(row["recall"] for row in results) >= 0.9


def test_live_without_pg_stat_statements_says_so_once(dsn: str) -> None:
    r = vecscope(
        "live", "--dsn", dsn, "--json", "--interval", "0.5", "--duration", "2s", timeout=60
    )
    assert r.code == 0, r.err
    lines = _json_lines(r)
    assert len(lines) >= 3
    assert not any("error" in line for line in lines)  # no error per poll
    missing = {line["statements_missing"] for line in lines}
    assert len(missing) == 1 and "CREATE EXTENSION pg_stat_statements" in str(missing.pop())
    assert len(r.err.strip().splitlines()) <= 1
    # Other roles' queries are hidden from it, and the polls say so rather than fail.
    assert not any(line["sees_all_sessions"] for line in lines)
    indexes = lines[-1]["indexes"]
    assert isinstance(indexes, list)
    assert any(ix["index"] == "public.idx_messages_embedding_hnsw" for ix in indexes)


def test_live_with_pg_stat_statements_in_another_schema(
    pg: EmbeddedServer, admin: Database, dsn: str
) -> None:
    if not has_pg_stat_statements(pg):
        pytest.skip(f"{pg.flavor} has no pg_stat_statements")
    with admin.connect() as conn:
        conn.execute("CREATE SCHEMA monitoring")
        conn.execute("CREATE EXTENSION pg_stat_statements SCHEMA monitoring")
    try:
        # Installed where the role may not look: one line saying which grant is missing.
        r = vecscope("live", "--dsn", dsn, "--json", "--interval", "0.5", "--duration", "1s")
        assert r.code == 0, r.err
        lines = _json_lines(r)
        assert not any("error" in line for line in lines)
        assert {line["statements_missing"] for line in lines} == {
            "pg_stat_statements is installed in schema monitoring, which this role may not "
            f"use: GRANT USAGE ON SCHEMA monitoring TO {ROLE};"
        }
        with admin.connect() as conn:
            conn.execute(sql.SQL("GRANT USAGE ON SCHEMA monitoring TO {}").format(
                sql.Identifier(ROLE)
            ))  # fmt: skip
        with psycopg.connect(dsn, autocommit=True) as conn:
            for _ in range(3):
                conn.execute(
                    "SELECT id FROM messages ORDER BY embedding <-> "
                    "(SELECT embedding FROM messages WHERE id = 7) LIMIT 5"
                ).fetchall()
        r = vecscope("live", "--dsn", dsn, "--json", "--interval", "0.5", "--duration", "1s")
        assert r.code == 0, r.err
        lines = _json_lines(r)
        assert all(line["statements_missing"] is None for line in lines)
        shapes = lines[-1]["shapes"]
        assert isinstance(shapes, list)
        assert any("messages" in str(s["query"]) for s in shapes)
    finally:
        with admin.connect() as conn:
            conn.execute("DROP EXTENSION IF EXISTS pg_stat_statements")
            conn.execute("DROP SCHEMA IF EXISTS monitoring")


def test_migrate_plan(dsn: str) -> None:
    r = vecscope(
        "migrate", "plan", "--dsn", dsn, "--index", "public.idx_doc_chunks_embedding",
        "--to", "hnsw", "--json",
    )  # fmt: skip
    assert r.code == 0, r.err
    assert json.loads(r.out)["lint"] == []


def test_migrate_needs_create_on_the_schema_and_says_so_before_the_dump(
    dsn: str, tmp_path: Path
) -> None:
    """CREATE INDEX needs CREATE on the table's schema even for its owner, and PostgreSQL
    15+ gives nobody that on public: preflight fails, before any dump is taken."""
    backups = tmp_path / "backups"
    r = vecscope(
        "migrate", "run", "--dsn", dsn, "--index", "public.idx_doc_chunks_embedding",
        "--to", "hnsw", "--backup-dir", str(backups), "--journal", str(tmp_path / "j.jsonl"),
        "--yes",
    )  # fmt: skip
    assert_one_line_error(r, f"{ROLE} may not create in schema public")
    assert f"fix: GRANT CREATE ON SCHEMA public TO {ROLE};" in r.out
    assert not backups.exists() or not any(backups.iterdir())


def test_migrate_run_as_the_role(admin: Database, dsn: str, tmp_path: Path) -> None:
    with admin.connect() as conn:
        conn.execute(sql.SQL("GRANT CREATE ON SCHEMA public TO {}").format(sql.Identifier(ROLE)))
    backups = tmp_path / "backups"
    r = vecscope(
        "migrate", "run", "--dsn", dsn, "--index", "public.idx_doc_chunks_embedding",
        "--to", "hnsw", "--backup-dir", str(backups), "--journal", str(tmp_path / "j.jsonl"),
        "--yes", timeout=600,
    )  # fmt: skip
    assert r.code == 0, (r.out, r.err)
    # Preflight says what it could not see, and why, instead of failing.
    assert "free space unknown (this role may not read data_directory)" in r.out
    assert f"ok   {ROLE} owns the table" in r.out
    # pg_dump ran as the role, and its dump was verified.
    (dump,) = backups.glob("*.dump")
    assert dump.stat().st_size > 0 and "verified" in r.out
    assert "PASSED" in r.out and "dropped idx_doc_chunks_embedding" in r.out
    with admin.connect() as conn:
        rows = conn.execute(
            "SELECT c.relname::text, am.amname::text, c.relowner::regrole::text "
            "FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid "
            "JOIN pg_am am ON am.oid = c.relam "
            "WHERE x.indrelid = 'public.doc_chunks'::regclass AND am.amname <> 'btree'"
        ).fetchall()
    assert rows == [("doc_chunks_embedding_hnsw_idx", "hnsw", ROLE)]
