"""A squawk-like linter for index migrations: what locks, what cannot be re-run, what is slow.

Hand-written vector index migrations repeat the same mistakes: a plain ``CREATE INDEX``
that blocks writes for the whole HNSW build, a ``DROP INDEX`` that queues every read,
no ``lock_timeout``, ``CONCURRENTLY`` inside a transaction block, and no operator class,
so pgvector builds an L2 index that cosine queries cannot use. This module finds them in
any SQL text (a pasted migration, an exported script) and says how to fix each one. It
reads statements with :func:`core.sqlscan.tokenize`, so keywords inside strings, comments
and dollar quotes never count, and it follows the session as it goes (transaction blocks,
``SET``, ``SET LOCAL``, ``RESET``), as PostgreSQL would run the text.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from vecscope.core.migrate.lint_sql import Ddl, ScannedStatement, Session, ddl_of, split
from vecscope.core.models import Severity

CONCURRENT_CREATION = "require-concurrent-index-creation"
CONCURRENT_DELETION = "require-concurrent-index-deletion"
ROBUST_STATEMENTS = "prefer-robust-stmts"
LOCK_TIMEOUT = "require-lock-timeout"
CONCURRENT_IN_TRANSACTION = "ban-concurrent-index-creation-in-transaction"
EXPLICIT_OPCLASS = "require-explicit-opclass"
STATEMENT_TIMEOUT_OFF = "require-statement-timeout-off"

#: Every rule and how bad breaking it is, in the order findings are reported.
RULES: dict[str, Severity] = {
    CONCURRENT_CREATION: Severity.ERROR,
    CONCURRENT_DELETION: Severity.ERROR,
    ROBUST_STATEMENTS: Severity.WARNING,
    LOCK_TIMEOUT: Severity.ERROR,
    CONCURRENT_IN_TRANSACTION: Severity.ERROR,
    EXPLICIT_OPCLASS: Severity.ERROR,
    STATEMENT_TIMEOUT_OFF: Severity.WARNING,
}


@dataclass(frozen=True, slots=True)
class LintFinding:
    """One broken rule in one statement."""

    rule: str
    severity: Severity
    #: The offending statement as written, without surrounding blanks or its ``;``.
    statement: str
    message: str
    fix: str


# --- rules -------------------------------------------------------------------------------


def _check(st: ScannedStatement, ddl: Ddl, session: Session) -> list[LintFinding]:
    found: list[LintFinding] = []

    def add(rule: str, message: str, fix: str) -> None:
        found.append(LintFinding(rule, RULES[rule], st.text, message, fix))

    table = f" on {ddl.table}" if ddl.table else ""
    if (
        ddl.what == "CREATE INDEX"
        and not ddl.concurrently
        and not ddl.only
        and ddl.table not in session.new_tables
    ):
        add(
            CONCURRENT_CREATION,
            f"CREATE INDEX without CONCURRENTLY holds a SHARE lock{table} for the whole build:"
            " every INSERT, UPDATE and DELETE waits until the index is done.",
            "Use CREATE INDEX CONCURRENTLY, outside any transaction block.",
        )
    if ddl.what == "DROP INDEX" and not ddl.concurrently and ddl.name not in session.partitioned:
        add(
            CONCURRENT_DELETION,
            "DROP INDEX without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on the table:"
            " every query on it, reads included, queues behind it.",
            "Use DROP INDEX CONCURRENTLY (one index per statement), outside any transaction block.",
        )
    if ddl.what == "CREATE INDEX" and not ddl.named:
        add(
            ROBUST_STATEMENTS,
            "An unnamed CREATE INDEX builds one more index each time the migration is re-run.",
            "Name the index and write CREATE INDEX CONCURRENTLY IF NOT EXISTS name ...",
        )
    elif ddl.what == "CREATE INDEX" and not ddl.guarded:
        add(
            ROBUST_STATEMENTS,
            "CREATE INDEX without IF NOT EXISTS fails when the migration is re-run after a"
            " partial failure.",
            "Write CREATE INDEX CONCURRENTLY IF NOT EXISTS, and first drop an invalid leftover"
            " of an interrupted build (pg_index.indisvalid), which IF NOT EXISTS would keep.",
        )
    if ddl.what == "DROP INDEX" and not ddl.guarded:
        add(
            ROBUST_STATEMENTS,
            "DROP INDEX without IF EXISTS fails when the migration is re-run.",
            "Write DROP INDEX CONCURRENTLY IF EXISTS.",
        )
    if ddl.what == "ALTER INDEX" and ddl.rename and not ddl.guarded:
        add(
            ROBUST_STATEMENTS,
            "ALTER INDEX ... RENAME without IF EXISTS fails when the migration is re-run.",
            "Write ALTER INDEX IF EXISTS ... RENAME TO ...",
        )
    if not session.has("lock_timeout"):
        add(
            LOCK_TIMEOUT,
            f"{ddl.what} waits for its lock with no lock_timeout: queued behind one long"
            " transaction, it blocks every query on the table that comes after it.",
            "Put SET lock_timeout = '5s' (say) before it, and retry the statement when it"
            " times out.",
        )
    if ddl.concurrently and session.block:
        add(
            CONCURRENT_IN_TRANSACTION,
            f"{ddl.what} CONCURRENTLY cannot run inside a transaction block: PostgreSQL"
            " refuses it and the migration fails.",
            "Run it outside BEGIN ... COMMIT (in Alembic, inside"
            " op.get_context().autocommit_block()).",
        )
    if ddl.what == "CREATE INDEX" and ddl.bare_keys:
        keys = ", ".join(ddl.bare_keys)
        add(
            EXPLICIT_OPCLASS,
            f"USING {ddl.method} ({keys}) names no operator class: pgvector builds it for L2"
            " distance (vector_l2_ops), and queries ordering by <=> (cosine) or <#> (inner"
            " product) cannot use it.",
            f"Name the operator class of the distance your queries use, e.g."
            f" ({ddl.bare_keys[0]} vector_cosine_ops) for <=>; vector_ip_ops for <#>,"
            " vector_l2_ops for <-> (halfvec_..., bit_... for other column types).",
        )
    if (
        ddl.concurrently
        and ddl.what in ("CREATE INDEX", "REINDEX")
        and not session.has("statement_timeout")
    ):
        add(
            STATEMENT_TIMEOUT_OFF,
            f"{ddl.what} CONCURRENTLY runs under the session's statement_timeout: if a server"
            " or role default cancels the build, it leaves an INVALID index behind that every"
            " write still has to maintain.",
            "Put SET statement_timeout = 0 before it (this session only).",
        )
    return found


def _lint(
    statements: Iterable[ScannedStatement], partitioned: Iterable[str]
) -> tuple[LintFinding, ...]:
    session = Session()
    session.partitioned.update(partitioned)
    found: list[LintFinding] = []
    for st in statements:
        ddl = ddl_of(st)
        if ddl is not None:
            if ddl.name and (ddl.only or ddl.attach):
                session.partitioned.add(ddl.name)
            found += _check(st, ddl, session)
        session.apply(st)
    return tuple(found)


# --- public API --------------------------------------------------------------------------


def lint(sql_text: str, *, partitioned: Iterable[str] = ()) -> tuple[LintFinding, ...]:
    """Check migration SQL for statements that lock, cannot be re-run, or build the wrong index.

    Statements are read in order as one session would run them: a ``SET lock_timeout``
    counts for the statements after it, ``SET LOCAL`` until the end of its transaction
    block, a ``ROLLBACK`` undoes the ``SET`` commands made in its block. psql
    meta-commands on their own line (``\\d t``) are skipped.

    Partitioned tables: ``CREATE INDEX ... ON ONLY`` builds nothing (an empty index on the
    parent alone; on a plain table ``ONLY`` would change nothing, so it is taken to mean a
    partitioned one), and a partitioned index cannot be dropped concurrently: a plain
    ``DROP INDEX`` of one made ``ON ONLY`` or attached to in the text, or named in
    ``partitioned``, is not reported (it still needs ``lock_timeout``).

    Args:
        sql_text: Any number of SQL statements, with comments, strings and dollar quotes.
        partitioned: Names of partitioned indexes the text drops (unqualified, as
            PostgreSQL folds them).

    Returns:
        The findings in statement order, and within a statement in the order of
        :data:`RULES`; empty when the text is clean.

    Raises:
        BadInputError: The text does not lex as SQL (an unterminated string, say).
    """
    return _lint(split(sql_text), partitioned)


def lint_statements(
    statements: Sequence[str], *, partitioned: Iterable[str] = ()
) -> tuple[LintFinding, ...]:
    """Like :func:`lint` for statements kept apart (a plan's), run in order in one session.

    Args:
        statements: SQL texts, each holding one statement or several.
        partitioned: As for :func:`lint`.

    Returns:
        The findings, as :func:`lint` returns them.

    Raises:
        BadInputError: One of the texts does not lex as SQL.
    """
    return _lint((st for text in statements for st in split(text)), partitioned)
