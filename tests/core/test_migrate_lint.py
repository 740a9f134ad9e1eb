"""The migration linter: the plan's own scripts are clean, hand-written migrations are not.

No database: text in, findings out. The hand-written statements are the ones real
projects shipped (see /work/shared/seeds), kept here as literals.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from vecscope.core.errors import BadInputError
from vecscope.core.migrate import plan, render
from vecscope.core.migrate.lint import (
    CONCURRENT_CREATION,
    CONCURRENT_DELETION,
    CONCURRENT_IN_TRANSACTION,
    EXPLICIT_OPCLASS,
    LOCK_TIMEOUT,
    ROBUST_STATEMENTS,
    RULES,
    STATEMENT_TIMEOUT_OFF,
    LintFinding,
    lint,
    lint_statements,
)
from vecscope.core.migrate.states import Kind
from vecscope.core.models import Severity

#: What the plan writes before every build: the linter's preconditions.
SAFE = "SET lock_timeout = '5s'; SET statement_timeout = 0;\n"
GOOD_CREATE = (
    "CREATE INDEX CONCURRENTLY IF NOT EXISTS doc_chunks_embedding_hnsw_idx ON doc_chunks"
    " USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64)"
)
GOOD_DROP = "DROP INDEX CONCURRENTLY IF EXISTS doc_chunks_embedding_idx"

REBUILD = plan.MigrationSpec(
    kind=Kind.REBUILD,
    schema="public",
    table="doc_chunks",
    column="embedding",
    column_type="vector",
    dims=384,
    rows=5000,
    method="hnsw",
    opclass="vector_cosine_ops",
    params={"m": 16, "ef_construction": 64},
    new_name="doc_chunks_embedding_hnsw_idx",
    old_name="doc_chunks_embedding_idx",
    old_method="ivfflat",
    old_definition=(
        "CREATE INDEX doc_chunks_embedding_idx ON public.doc_chunks USING ivfflat"
        " (embedding vector_cosine_ops) WITH (lists='100')"
    ),
    maintenance_work_mem_kb=262_144,
    parallel_workers=2,
)
QUOTED = replace(
    REBUILD,
    schema="search",
    table="Product Embeddings",
    column="Embedding",
    new_name="Product Embeddings_Embedding_hnsw_idx",
    old_name="Product Embeddings_Embedding_idx",
    old_definition=(
        'CREATE INDEX "Product Embeddings_Embedding_idx" ON search."Product Embeddings"'
        " USING ivfflat (\"Embedding\" vector_cosine_ops) WITH (lists='100')"
        " WHERE (\"Kind\" <> 'draft; CREATE INDEX x ON t (e)'::text)"
    ),
    predicate="(\"Kind\" <> 'draft; CREATE INDEX x ON t (e)'::text)",
    old_tablespace="fast space",
    rename=True,
)
EXPRESSION = replace(
    REBUILD,
    column_type="halfvec",
    opclass="halfvec_cosine_ops",
    expression="(embedding::halfvec(384))",
    maintenance_work_mem_kb=None,
    parallel_workers=None,
)
CREATE = replace(REBUILD, kind=Kind.CREATE, old_name=None, old_method=None, old_definition=None)
REINDEX = replace(
    REBUILD,
    kind=Kind.REINDEX,
    method="ivfflat",
    params={"lists": 100},
    new_name="doc_chunks_embedding_idx",
)
SPECS = {"rebuild": REBUILD, "quoted": QUOTED, "expression": EXPRESSION}
SPECS |= {"create": CREATE, "reindex": REINDEX}


def _rules(sql: str) -> list[str]:
    return [f.rule for f in lint(sql)]


def _by_statement(findings: tuple[LintFinding, ...]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for f in findings:
        out.setdefault(" ".join(f.statement.split()), set()).add(f.rule)
    return out


# --- the plan's own SQL is clean ---------------------------------------------------------


@pytest.mark.parametrize("name", SPECS)
def test_the_plans_script_lints_clean(name: str) -> None:
    text = render.script(SPECS[name])
    assert "CONCURRENTLY" in text
    assert lint(text) == ()


@pytest.mark.parametrize("name", ["rebuild", "quoted", "expression", "create"])
@pytest.mark.parametrize("after_cutover", [False, True])
def test_the_plans_rollbacks_lint_clean(name: str, after_cutover: bool) -> None:
    statements = render.rollback_statements(SPECS[name], after_cutover=after_cutover)
    assert lint_statements([st.sql for st in statements]) == ()


def test_every_step_of_the_plan_lints_clean_statement_by_statement() -> None:
    statements = [st.sql for step in render.steps(QUOTED) for st in step.statements]
    assert any("RENAME" in sql for sql in statements)
    assert lint_statements(statements) == ()


# --- what real hand-written migrations get ---------------------------------------------

# Seed 000: "Run migration SQL" in psql, \d included, with its rollback.
SEED_PSQL = """
-- Drop old IVFFlat index
DROP INDEX IF EXISTS idx_doc_chunks_embedding;

-- Create new HNSW index
CREATE INDEX idx_doc_chunks_embedding ON doc_chunks
USING hnsw (embedding vector_cosine_ops)
WITH (m = 16, ef_construction = 64);

-- Verify
\\d doc_chunks
"""
# Seed 001 (and the two statements of seed 003's Alembic upgrade).
SEED_IF_NOT_EXISTS = """
CREATE INDEX IF NOT EXISTS articles_embedding_hnsw_idx
ON articles
USING hnsw (embedding vector_cosine_ops)
WITH (m = 16, ef_construction = 64);
"""
# Seed 004's rollback: back to IVFFlat.
SEED_ROLLBACK = """
DROP INDEX ix_chunks_embedding_hnsw;
CREATE INDEX chunks_embedding_idx
  ON chunks USING ivfflat (embedding vector_cosine_ops)
  WITH (lists = 100);
"""


def test_seed_psql_migration_is_flagged() -> None:
    found = _by_statement(lint(SEED_PSQL))
    assert found == {
        "DROP INDEX IF EXISTS idx_doc_chunks_embedding": {CONCURRENT_DELETION, LOCK_TIMEOUT},
        (
            "CREATE INDEX idx_doc_chunks_embedding ON doc_chunks USING hnsw"
            " (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64)"
        ): {CONCURRENT_CREATION, ROBUST_STATEMENTS, LOCK_TIMEOUT},
    }


def test_seed_if_not_exists_migration_is_still_blocking() -> None:
    assert _rules(SEED_IF_NOT_EXISTS) == [CONCURRENT_CREATION, LOCK_TIMEOUT]
    assert _rules("DROP INDEX IF EXISTS idx_atoms_embedding_hnsw") == [
        CONCURRENT_DELETION,
        LOCK_TIMEOUT,
    ]


def test_seed_rollback_is_flagged_on_both_statements() -> None:
    found = lint(SEED_ROLLBACK)
    assert [(f.rule, f.statement.split()[0]) for f in found] == [
        (CONCURRENT_DELETION, "DROP"),
        (ROBUST_STATEMENTS, "DROP"),
        (LOCK_TIMEOUT, "DROP"),
        (CONCURRENT_CREATION, "CREATE"),
        (ROBUST_STATEMENTS, "CREATE"),
        (LOCK_TIMEOUT, "CREATE"),
    ]


def test_findings_carry_the_trimmed_statement_severity_and_a_fix() -> None:
    first = lint("  -- note\n  DROP INDEX ix_chunks_embedding_hnsw ;  ")[0]
    assert first == LintFinding(
        CONCURRENT_DELETION,
        Severity.ERROR,
        "DROP INDEX ix_chunks_embedding_hnsw",
        first.message,
        first.fix,
    )
    assert "ACCESS EXCLUSIVE" in first.message
    assert "CONCURRENTLY" in first.fix
    assert all(f.severity == RULES[f.rule] for f in lint(SEED_PSQL + SEED_ROLLBACK))


# --- one test per rule -------------------------------------------------------------------


def test_require_concurrent_index_creation() -> None:
    assert CONCURRENT_CREATION in _rules(SAFE + GOOD_CREATE.replace(" CONCURRENTLY", ""))
    assert CONCURRENT_CREATION in _rules(SAFE + "CREATE UNIQUE INDEX IF NOT EXISTS u ON t (a)")
    assert _rules(SAFE + GOOD_CREATE) == []


def test_a_table_created_by_the_same_text_needs_no_concurrent_build() -> None:
    fresh = SAFE + "CREATE TABLE items (id int, e vector(3)); "
    index = "CREATE INDEX IF NOT EXISTS items_e ON items USING hnsw (e vector_cosine_ops)"
    assert _rules(fresh + index) == []
    # With IF NOT EXISTS the table may have existed all along, full of rows.
    maybe_old = fresh.replace("TABLE items", "TABLE IF NOT EXISTS items")
    assert _rules(maybe_old + index) == [CONCURRENT_CREATION]


def test_require_concurrent_index_deletion() -> None:
    assert _rules(SAFE + GOOD_DROP.replace(" CONCURRENTLY", "")) == [CONCURRENT_DELETION]
    assert _rules(SAFE + GOOD_DROP) == []


@pytest.mark.parametrize(
    ("fragile", "robust"),
    [
        (GOOD_CREATE.replace(" IF NOT EXISTS", ""), GOOD_CREATE),
        (GOOD_DROP.replace(" IF EXISTS", ""), GOOD_DROP),
        ("ALTER INDEX a RENAME TO b", "ALTER INDEX IF EXISTS a RENAME TO b"),
        ("CREATE INDEX CONCURRENTLY ON t USING hnsw (e vector_cosine_ops)", GOOD_CREATE),
    ],
)
def test_prefer_robust_stmts(fragile: str, robust: str) -> None:
    assert _rules(SAFE + fragile) == [ROBUST_STATEMENTS]
    assert _rules(SAFE + robust) == []


def test_robust_stmts_leaves_other_alter_index_alone() -> None:
    assert _rules(SAFE + "ALTER INDEX i SET (fastupdate = off)") == []


@pytest.mark.parametrize(
    "ddl",
    [
        GOOD_CREATE,
        GOOD_DROP,
        "ALTER INDEX IF EXISTS a RENAME TO b",
        "ALTER TABLE doc_chunks ALTER COLUMN embedding TYPE vector(768)",
        "REINDEX INDEX CONCURRENTLY doc_chunks_embedding_idx",
    ],
)
def test_require_lock_timeout(ddl: str) -> None:
    untimed = "SET statement_timeout = 0;\n"
    assert _rules(untimed + ddl) == [LOCK_TIMEOUT]
    assert _rules(untimed + "SET lock_timeout TO '2s';\n" + ddl) == []
    assert _rules(untimed + ddl + ";\nSET lock_timeout = '2s'") == [LOCK_TIMEOUT]


@pytest.mark.parametrize(
    ("setting", "counts"),
    [
        ("SET lock_timeout = 5000", True),
        ("SET SESSION lock_timeout = '5s'", True),
        ("SELECT set_config('lock_timeout', '5s', false)", True),
        ("SET lock_timeout = 0", False),  # 0 turns the timeout off
        ("SET lock_timeout = '0ms'", False),
        ("SET lock_timeout TO DEFAULT", False),
        ("SET lock_timeout = '5s'; RESET lock_timeout", False),
        ("SET lock_timeout = '5s'; RESET ALL", False),
        ("ALTER ROLE app SET lock_timeout = '5s'", False),  # later sessions, not this one
        ("SET LOCAL lock_timeout = '5s'", False),  # no effect outside a transaction block
        ("BEGIN; SET lock_timeout = '5s'; ROLLBACK", False),  # the ROLLBACK undoes it
        ("BEGIN; SET lock_timeout = '5s'; COMMIT", True),
        ("BEGIN; SET LOCAL lock_timeout = '5s'; COMMIT", False),  # ends with its block
        ("-- SET lock_timeout = '5s'\nSELECT 'SET lock_timeout = 1'", False),
    ],
)
def test_what_counts_as_a_lock_timeout(setting: str, counts: bool) -> None:
    found = _rules(f"{setting};\nALTER TABLE t ADD COLUMN c int")
    assert found == ([] if counts else [LOCK_TIMEOUT])


def test_set_local_lock_timeout_counts_inside_its_block() -> None:
    block = "BEGIN;\nSET LOCAL lock_timeout = '5s';\nALTER TABLE t ADD COLUMN c int;\nCOMMIT;"
    assert _rules(block) == []
    also = "BEGIN; SELECT set_config('lock_timeout', '5s', true); ALTER TABLE t ADD c int;"
    assert _rules(also) == []


@pytest.mark.parametrize(
    "statement",
    [
        GOOD_CREATE,
        GOOD_DROP,
        "REINDEX INDEX CONCURRENTLY doc_chunks_embedding_idx",
        "REINDEX (CONCURRENTLY) INDEX doc_chunks_embedding_idx",
    ],
)
@pytest.mark.parametrize(
    "begin", ["BEGIN", "START TRANSACTION", "BEGIN ISOLATION LEVEL SERIALIZABLE"]
)
def test_ban_concurrent_index_creation_in_transaction(statement: str, begin: str) -> None:
    assert _rules(f"{SAFE}{begin};\n{statement};\nCOMMIT;") == [CONCURRENT_IN_TRANSACTION]
    assert _rules(f"{SAFE}{begin};\nCOMMIT;\n{statement};") == []


@pytest.mark.parametrize(
    ("between", "in_block"),
    [
        ("COMMIT", False),
        ("END", False),
        ("ROLLBACK", False),
        ("ABORT", False),
        ("SAVEPOINT s; ROLLBACK TO SAVEPOINT s", True),
        ("COMMIT AND CHAIN", True),
        ("COMMIT AND NO CHAIN", False),
        ("/* COMMIT; */ SELECT 1", True),
        ("SELECT 'COMMIT'", True),
    ],
)
def test_where_a_transaction_block_ends(between: str, in_block: bool) -> None:
    found = _rules(f"{SAFE}BEGIN; {between}; {GOOD_CREATE};")
    assert found == ([CONCURRENT_IN_TRANSACTION] if in_block else [])


@pytest.mark.parametrize(
    ("bare", "explicit"),
    [
        ("(embedding)", "(embedding vector_cosine_ops)"),
        ('("Embedding")', '("Embedding" public.vector_cosine_ops)'),
        ("((embedding::halfvec(384)))", "((embedding::halfvec(384)) halfvec_cosine_ops)"),
        ("(binary_quantize(embedding))", "((binary_quantize(embedding)::bit(3)) bit_hamming_ops)"),
        ('(embedding COLLATE "C")', '(embedding COLLATE "C" vector_ip_ops)'),
    ],
)
@pytest.mark.parametrize("method", ["hnsw", "ivfflat", "HNSW"])
def test_require_explicit_opclass(bare: str, explicit: str, method: str) -> None:
    head = f"{SAFE}CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t USING {method} "
    found = lint(head + bare)
    assert [f.rule for f in found] == [EXPLICIT_OPCLASS]
    assert bare[1:-1] in found[0].message
    assert "vector_l2_ops" in found[0].message
    assert _rules(head + explicit) == []


def test_explicit_opclass_is_only_asked_of_pgvector_methods() -> None:
    assert _rules(SAFE + "CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t (created_at)") == []
    assert _rules(SAFE + "CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON t USING gin (tags)") == []


@pytest.mark.parametrize(
    "statement",
    [
        GOOD_CREATE,
        "REINDEX INDEX CONCURRENTLY doc_chunks_embedding_idx",
        "REINDEX TABLE CONCURRENTLY doc_chunks",
    ],
)
def test_require_statement_timeout_off(statement: str) -> None:
    locked = "SET lock_timeout = '5s';\n"
    assert _rules(locked + statement) == [STATEMENT_TIMEOUT_OFF]
    assert _rules(locked + "SET statement_timeout = '1h';\n" + statement) == [STATEMENT_TIMEOUT_OFF]
    assert _rules(locked + "SET statement_timeout TO '0';\n" + statement) == []
    off = "SELECT set_config('statement_timeout', '0', false);\n"
    assert _rules(locked + off + statement) == []


def test_statement_timeout_is_not_asked_of_quick_or_blocking_statements() -> None:
    locked = "SET lock_timeout = '5s';\n"
    assert _rules(locked + GOOD_DROP) == []
    assert _rules(locked + "REINDEX INDEX doc_chunks_embedding_idx") == []


# --- strings, comments and dollar quotes -------------------------------------------------


def test_keywords_in_strings_comments_and_dollar_quotes_never_count() -> None:
    text = """
    -- DROP INDEX old_idx; CREATE INDEX new_idx ON t USING hnsw (e);
    /* BEGIN; CREATE INDEX CONCURRENTLY x ON t USING hnsw (e); /* nested */ COMMIT; */
    SELECT 'DROP INDEX old_idx; ALTER TABLE t ADD c int' AS "CREATE INDEX";
    COMMENT ON INDEX some_idx IS 'CREATE INDEX without CONCURRENTLY; REINDEX';
    DO $body$
    BEGIN
        EXECUTE 'CREATE INDEX i ON t USING hnsw (e)';
        DROP INDEX IF EXISTS j;
    END
    $body$;
    SELECT $$ DROP INDEX k $$, E'it\\'s; DROP INDEX l';
    """
    assert lint(text) == ()


def test_a_sql_function_body_is_one_statement() -> None:
    text = (
        "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC\n"
        "  SELECT CASE WHEN true THEN 1 END; SELECT 2;\nEND;\n"
        f"BEGIN; {SAFE}\n{GOOD_CREATE};"
    )
    assert _rules(text) == [CONCURRENT_IN_TRANSACTION]


def test_lint_statements_runs_them_in_one_session() -> None:
    assert lint_statements([SAFE, GOOD_CREATE, GOOD_DROP]) == ()
    assert [f.rule for f in lint_statements([GOOD_DROP, SAFE])] == [LOCK_TIMEOUT]
    # A trailing line comment cannot swallow the next statement.
    assert lint_statements(["SET lock_timeout = '5s' -- for the drop", GOOD_DROP]) == ()


def test_text_that_does_not_lex_is_refused() -> None:
    with pytest.raises(BadInputError, match="unterminated"):
        lint("DROP INDEX 'oops")
