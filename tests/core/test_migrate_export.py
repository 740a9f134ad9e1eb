"""Exports of a migration: the psql script lints clean, the Alembic revision runs for real.

Each Alembic test writes an environment and the generated revision into its own
directory and runs ``alembic upgrade`` and ``downgrade`` against the embedded server,
then reads the result back from pg_index. Each test keeps its own version table, so
they share the module's database without seeing each other's history.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from sqlalchemy.engine import URL

from tests.conftest import Database
from tests.core.test_migrate_lint import CREATE, EXPRESSION, QUOTED, REBUILD, REINDEX
from vecscope.core.errors import BadInputError
from vecscope.core.migrate import plan, render
from vecscope.core.migrate.export import (
    alembic_revision,
    new_revision_id,
    pgvector_minimum,
    sql_script,
)
from vecscope.core.migrate.lint import lint, lint_statements
from vecscope.core.migrate.states import Kind

ENV_PY = """\
from alembic import context
from sqlalchemy import create_engine, pool

config = context.config
engine = create_engine(config.attributes["url"], poolclass=pool.NullPool)
with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=None,
        transactional_ddl=True,
        version_table=config.attributes["version_table"],
    )
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
"""

INDEXES = """
SELECT c.relname, am.amname, i.indisvalid AND i.indisready,
       (SELECT opcname FROM pg_opclass WHERE oid = i.indclass[0]),
       pg_get_indexdef(i.indexrelid), pg_relation_filenode(i.indexrelid)
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_am am ON am.oid = c.relam
WHERE i.indrelid = %s::regclass AND NOT i.indisprimary
"""


def _indexes(db: Database, table: str) -> dict[str, tuple[Any, ...]]:
    """Vector indexes of ``table``: name -> (method, valid, opclass, definition, filenode)."""
    with db.connect() as conn:
        rows = conn.execute(INDEXES, (table,)).fetchall()
    return {row[0]: tuple(row[1:]) for row in rows}


def _make_table(
    db: Database, schema: str, table: str, column: str, *, index: str, predicate: str = ""
) -> str:
    """A small table with an ivfflat index on its vector column; the index's definition."""
    qualified = sql.Identifier(schema, table)
    with db.connect() as conn:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(qualified))
        conn.execute(
            sql.SQL('CREATE TABLE {} (id bigint PRIMARY KEY, {} vector(3), "Kind" text)').format(
                qualified, sql.Identifier(column)
            )
        )
        conn.execute(
            sql.SQL(
                "INSERT INTO {} SELECT g, ARRAY[g % 7 + 1, g % 5 + 1, g % 3 + 1]::vector(3),"
                " CASE WHEN g % 4 = 0 THEN 'draft :tmp 100%' ELSE 'live' END"
                " FROM generate_series(1, 200) g"
            ).format(qualified)
        )
        conn.execute(
            sql.SQL(
                "CREATE INDEX {} ON {} USING ivfflat ({} vector_cosine_ops) WITH (lists = 1)"
                + predicate
            ).format(sql.Identifier(index), qualified, sql.Identifier(column))
        )
        row = conn.execute("SELECT pg_get_indexdef(%s::regclass)", (sql_name(schema, index),))
        definition = row.fetchone()
    assert definition is not None
    return str(definition[0])


def sql_name(*parts: str) -> str:
    return sql.Identifier(*parts).as_string(None)


def _spec(
    schema: str, table: str, column: str, definition: str, **changes: Any
) -> plan.MigrationSpec:
    return replace(
        REBUILD,
        schema=schema,
        table=table,
        column=column,
        dims=3,
        rows=200,
        new_name=f"{table}_{column}_hnsw_idx",
        old_name=f"{table}_{column}_idx",
        old_definition=definition,
        maintenance_work_mem_kb=65_536,
        parallel_workers=0,
        **changes,
    )


def _alembic(db: Database, where: Path, source: str, *, revision: str) -> Config:
    """An Alembic environment in ``where`` holding one revision, aimed at ``db``."""
    scripts = where / "migrations"
    (scripts / "versions").mkdir(parents=True)
    (scripts / "env.py").write_text(ENV_PY)
    (scripts / "versions" / f"{revision}_vecscope.py").write_text(source)
    params = conninfo_to_dict(db.dsn)
    cfg = Config()
    cfg.set_main_option("script_location", str(scripts))
    # The embedded server listens on a Unix socket only: libpq's host= names its directory.
    cfg.attributes["url"] = URL.create(
        "postgresql+psycopg",
        username=str(params["user"]),
        database=str(params["dbname"]),
        query={"host": str(params["host"])},
    )
    cfg.attributes["version_table"] = f"alembic_version_{where.name[:40]}".lower()
    return cfg


def _version_table_exists(db: Database, cfg: Config) -> bool:
    with db.connect() as conn:
        row = conn.execute("SELECT to_regclass(%s)", (cfg.attributes["version_table"],))
        found = row.fetchone()
    return found is not None and found[0] is not None


# --- the psql script ---------------------------------------------------------------------


@pytest.mark.parametrize("spec", [REBUILD, QUOTED, EXPRESSION, CREATE, REINDEX])
def test_sql_script_lints_clean(spec: plan.MigrationSpec) -> None:
    assert lint(sql_script(spec)) == ()


def test_sql_script_writes_both_rollbacks_as_comments() -> None:
    text = sql_script(QUOTED)
    after = text.index("-- Rollback after cutover")
    before = text.index("-- Rollback before cutover")
    assert text.startswith(render.script(QUOTED))
    drop_new = "-- " + render.drop_sql(QUOTED, QUOTED.new_name)
    assert drop_new in text[before:]
    assert "-- CREATE INDEX CONCURRENTLY IF NOT EXISTS" in text[after:before]
    # Uncommented, each rollback lints clean too.
    for section in (text[after:before], text[before:]):
        statements = [line[3:] for line in section.splitlines()[1:] if line.startswith("-- ")]
        assert statements
        assert lint_statements(statements) == ()


# --- the Alembic revision, as text -------------------------------------------------------


def _executed(source: str, function: str) -> list[str]:
    """The SQL each ``op.execute(sa.text(...))`` in ``function`` sends, in order."""
    tree = ast.parse(source)
    body = next(f for f in tree.body if isinstance(f, ast.FunctionDef) and f.name == function)
    calls = [
        node
        for node in ast.walk(body)
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "sa.text"
    ]
    calls.sort(key=lambda node: (node.lineno, node.col_offset))  # ast.walk is breadth-first
    return [re.sub(r"\\(:\w*)", r"\1", ast.literal_eval(node.args[0])) for node in calls]


#: An expression with no space to break a line at.
LONG = replace(CREATE, expression="(" + "+".join(["embedding"] * 12) + ")")


@pytest.mark.parametrize("spec", [REBUILD, QUOTED, EXPRESSION, CREATE, REINDEX, LONG])
def test_revision_is_valid_python_that_ruff_accepts(
    spec: plan.MigrationSpec, tmp_path: Path
) -> None:
    source = alembic_revision(
        spec, revision="1a2b3c4d5e6f", down_revision="0123456789ab", created=datetime(2025, 1, 2)
    )
    compile(source, "revision.py", "exec")
    path = tmp_path / "revision.py"
    path.write_text(source)
    ruff = [sys.executable, "-m", "ruff"]
    common = ["--isolated", "--target-version", "py311", "--no-cache"]
    rules = ["--select", "E,F,I,B,UP,SIM,W"]
    checked = subprocess.run(
        [*ruff, "check", *common, *rules, str(path)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout
    formatted = subprocess.run(
        [*ruff, "format", *common, "--diff", str(path)], capture_output=True, text=True
    )
    assert formatted.returncode == 0, formatted.stdout
    # What upgrade() sends is the plan's own SQL, and lints clean.
    upgrade = _executed(source, "upgrade")
    assert render.build_statements(spec)[-1].sql in upgrade
    assert lint_statements(upgrade) == ()
    assert lint_statements(_executed(source, "downgrade")) == ()


def test_revision_names_its_revisions_and_pgvector_floor() -> None:
    source = alembic_revision(
        EXPRESSION, revision="1a2b3c4d5e6f", down_revision=None, message='Say "hi" \\o/'
    )
    module = ast.parse(source)
    assert str(ast.get_docstring(module)).startswith('Say "hi" \\o/')
    assigned = {
        ast.unparse(node.target): ast.literal_eval(node.value)
        for node in module.body
        if isinstance(node, ast.AnnAssign) and node.value is not None
    }
    assert assigned["revision"] == "1a2b3c4d5e6f"
    assert assigned["down_revision"] is None
    assert "PGVECTOR_MIN = (0, 7, 0)" in source  # halfvec


def test_pgvector_minimum() -> None:
    assert pgvector_minimum(REBUILD) == "0.5.0"
    assert pgvector_minimum(REINDEX) == "0.1.0"  # ivfflat on vector
    assert pgvector_minimum(EXPRESSION) == "0.7.0"  # halfvec
    assert pgvector_minimum(replace(REINDEX, opclass="bit_hamming_ops")) == "0.7.0"


def test_revision_refuses_what_it_cannot_write() -> None:
    with pytest.raises(BadInputError, match="pgvector_min"):
        alembic_revision(REBUILD, revision="a", down_revision=None, pgvector_min="latest")
    with pytest.raises(BadInputError, match="recorded definition"):
        alembic_revision(replace(REBUILD, old_definition=None), revision="a", down_revision=None)
    with pytest.raises(BadInputError, match="kind"):
        alembic_revision(replace(REBUILD, kind="swap"), revision="a", down_revision=None)  # type: ignore[arg-type]
    odd = replace(CREATE, predicate="(note <> 'a\\:b')")
    with pytest.raises(BadInputError, match="colon"):
        alembic_revision(odd, revision="a", down_revision=None)


def test_new_revision_id() -> None:
    ids = {new_revision_id() for _ in range(50)}
    assert len(ids) == 50
    assert all(re.fullmatch(r"[0-9a-f]{12}", i) for i in ids)


# --- the Alembic revision, run for real --------------------------------------------------


def test_alembic_rebuild_upgrade_and_downgrade(db: Database, tmp_path: Path) -> None:
    definition = _make_table(
        db, "public", "doc_chunks", "embedding", index="doc_chunks_embedding_idx"
    )
    spec = _spec("public", "doc_chunks", "embedding", definition)
    revision = new_revision_id()
    source = alembic_revision(spec, revision=revision, down_revision=None)
    cfg = _alembic(db, tmp_path, source, revision=revision)
    before = _indexes(db, "doc_chunks")
    assert before["doc_chunks_embedding_idx"][:2] == ("ivfflat", True)

    command.upgrade(cfg, "head")
    after = _indexes(db, "doc_chunks")
    assert set(after) == {"doc_chunks_embedding_hnsw_idx"}
    method, valid, opclass, built, _ = after["doc_chunks_embedding_hnsw_idx"]
    assert (method, valid, opclass) == ("hnsw", True, "vector_cosine_ops")
    assert "WITH (m='16', ef_construction='64')" in built

    command.downgrade(cfg, "base")
    back = _indexes(db, "doc_chunks")
    assert set(back) == {"doc_chunks_embedding_idx"}
    assert back["doc_chunks_embedding_idx"][:4] == (
        "ivfflat",
        True,
        "vector_cosine_ops",
        definition,
    )


def test_alembic_with_quoted_names_a_predicate_and_a_rename(db: Database, tmp_path: Path) -> None:
    table = "Product Embeddings"
    predicate = " WHERE \"Kind\" <> 'draft :tmp 100%'"
    old = f"{table}_Embedding_idx"
    definition = _make_table(db, "search", table, "Embedding", index=old, predicate=predicate)
    with db.connect() as conn:
        row = conn.execute(
            "SELECT pg_get_expr(indpred, indrelid) FROM pg_index WHERE indexrelid = %s::regclass",
            (sql_name("search", old),),
        ).fetchone()
    assert row is not None
    spec = _spec("search", table, "Embedding", definition, predicate=row[0], rename=True)
    revision = new_revision_id()
    source = alembic_revision(spec, revision=revision, down_revision=None)
    assert "\\\\:tmp" in source  # a colon sqlalchemy.text() would take for a parameter
    cfg = _alembic(db, tmp_path, source, revision=revision)
    qualified = sql_name("search", table)

    command.upgrade(cfg, "head")
    after = _indexes(db, qualified)
    # The new index took the old one's name.
    assert set(after) == {old}
    method, valid, opclass, built, _ = after[old]
    assert (method, valid, opclass) == ("hnsw", True, "vector_cosine_ops")
    assert built.endswith("WHERE (\"Kind\" <> 'draft :tmp 100%'::text)")

    command.downgrade(cfg, "base")
    back = _indexes(db, qualified)
    assert set(back) == {old}
    assert back[old][:4] == ("ivfflat", True, "vector_cosine_ops", definition)


def test_alembic_refuses_an_older_pgvector(db: Database, tmp_path: Path) -> None:
    definition = _make_table(db, "public", "refused", "embedding", index="refused_embedding_idx")
    spec = _spec("public", "refused", "embedding", definition)
    revision = new_revision_id()
    source = alembic_revision(spec, revision=revision, down_revision=None, pgvector_min="99.0")
    cfg = _alembic(db, tmp_path, source, revision=revision)
    before = _indexes(db, "refused")

    with pytest.raises(RuntimeError, match=r"needs pgvector 99\.0\.0 or later; the database has"):
        command.upgrade(cfg, "head")
    assert _indexes(db, "refused") == before
    # The check ran inside Alembic's transaction: not even the version table was kept.
    assert not _version_table_exists(db, cfg)


def test_alembic_create_replaces_an_invalid_leftover(db: Database, tmp_path: Path) -> None:
    _make_table(db, "public", "leftover", "embedding", index="leftover_embedding_idx")
    name = "leftover_embedding_hnsw_idx"
    with db.connect() as conn:
        conn.execute("DROP INDEX leftover_embedding_idx")
        conn.execute(f"CREATE INDEX {name} ON leftover USING hnsw (embedding vector_l2_ops)")
        # What a cancelled CREATE INDEX CONCURRENTLY leaves behind.
        conn.execute(
            "UPDATE pg_index SET indisvalid = false WHERE indexrelid = %s::regclass", (name,)
        )
    assert _indexes(db, "leftover")[name][:3] == ("hnsw", False, "vector_l2_ops")
    spec = replace(
        _spec("public", "leftover", "embedding", ""),
        kind=Kind.CREATE,
        old_name=None,
        old_method=None,
        old_definition=None,
    )
    revision = new_revision_id()
    source = alembic_revision(spec, revision=revision, down_revision=None)
    cfg = _alembic(db, tmp_path, source, revision=revision)

    command.upgrade(cfg, "head")
    after = _indexes(db, "leftover")
    assert set(after) == {name}
    assert after[name][:3] == ("hnsw", True, "vector_cosine_ops")

    command.downgrade(cfg, "base")
    assert _indexes(db, "leftover") == {}


def test_alembic_reindex(db: Database, tmp_path: Path) -> None:
    definition = _make_table(db, "public", "drifted", "embedding", index="drifted_embedding_idx")
    spec = replace(
        _spec("public", "drifted", "embedding", definition),
        kind=Kind.REINDEX,
        method="ivfflat",
        params={"lists": 1},
        new_name="drifted_embedding_idx",
    )
    revision = new_revision_id()
    source = alembic_revision(spec, revision=revision, down_revision=None)
    assert "Nothing to undo" in source
    cfg = _alembic(db, tmp_path, source, revision=revision)
    before = _indexes(db, "drifted")["drifted_embedding_idx"]

    command.upgrade(cfg, "head")
    after = _indexes(db, "drifted")["drifted_embedding_idx"]
    assert after[:4] == before[:4]
    assert after[4] != before[4]  # rebuilt: a new file on disk

    command.downgrade(cfg, "base")
    assert _indexes(db, "drifted")["drifted_embedding_idx"] == after
