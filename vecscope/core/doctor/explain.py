"""Run EXPLAIN without harm: plain EXPLAIN always, EXPLAIN ANALYZE only for reads.

Every EXPLAIN runs in a transaction that is rolled back. ANALYZE executes the query, so
it runs only for statements that read, inside ``BEGIN READ ONLY`` under a
``statement_timeout``, and only when nothing it calls may have side effects that READ ONLY
does not stop and no rollback undoes (:mod:`.side_effects`). Queries with
``$1`` parameters are planned with ``EXPLAIN (GENERIC_PLAN)`` where the server has it
(PostgreSQL 16+); otherwise (and for ANALYZE, which needs values) a real vector taken
from the table stands in for each query-vector parameter, and the result says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from vecscope.core import db, sqlscan
from vecscope.core.doctor.plan import Plan, parse_plan
from vecscope.core.doctor.side_effects import refuse_side_effects
from vecscope.core.errors import BadInputError, ConnectError, QueryError, first_line
from vecscope.core.models import Inventory, VectorColumn

DEFAULT_TIMEOUT_MS = 30_000
#: The session settings the doctor judges a plan with.
QUERY_SETTINGS = (
    "hnsw.ef_search",
    "hnsw.iterative_scan",
    "hnsw.max_scan_tuples",
    "ivfflat.probes",
    "ivfflat.iterative_scan",
    "ivfflat.max_probes",
    "enable_seqscan",
    "enable_indexscan",
    "enable_bitmapscan",
    "enable_sort",
    "work_mem",
)


@dataclass(frozen=True, slots=True)
class TableIndex:
    """An index of any access method on a table the plan scans (B-trees included)."""

    schema: str
    table: str
    name: str
    method: str
    #: Key columns in order; None for an expression.
    columns: tuple[str | None, ...]
    usable: bool
    predicate: str | None


@dataclass(frozen=True, slots=True)
class ExplainResult:
    """A plan and everything needed to judge it honestly."""

    #: What the user asked about.
    original_sql: str
    #: What was actually explained (parameters substituted where needed).
    sql: str
    plan: Plan
    analyzed: bool
    generic: bool
    #: The session's pgvector and planner settings when the plan was made.
    settings: dict[str, str]
    #: Things the user must know about how the plan was obtained.
    notes: tuple[str, ...]
    server_version_num: int
    #: Settings the run was made with for "try the fix" (``SET LOCAL``, that run only).
    tried_settings: tuple[tuple[str, str], ...] = ()
    #: Every index on the tables the plan scans, so no rule suggests one that exists.
    table_indexes: tuple[TableIndex, ...] = field(default=(), repr=False)

    def indexes_on(self, schema: str | None, table: str | None) -> tuple[TableIndex, ...]:
        return tuple(ix for ix in self.table_indexes if (ix.schema, ix.table) == (schema, table))


def resolve_vector_column(
    column_text: str, query: str, inventory: Inventory
) -> VectorColumn | None:
    """The vector column a ``col <op> $n`` ordering reads, by name and tables mentioned."""
    tokens = sqlscan.tokenize(column_text.split("::", 1)[0])
    names = [
        t.text.strip('"') if t.kind == "ident" else t.text.lower()
        for t in tokens
        if t.kind in ("word", "ident")
    ]
    if not names:
        return None
    col_name = names[-1]
    mentioned = {
        t.text.strip('"') if t.kind == "ident" else t.text.lower()
        for t in sqlscan.tokenize(query)
        if t.kind in ("word", "ident")
    }
    candidates = [
        c
        for c in inventory.columns
        if c.column == col_name and c.table in mentioned and c.can_select
    ]
    if len(names) >= 2:
        narrowed = [c for c in candidates if c.table == names[-2]]
        candidates = narrowed or candidates
    return candidates[0] if candidates else None


def substitute_parameters(
    conn: psycopg.Connection[TupleRow], query: str, inventory: Inventory
) -> tuple[str, tuple[str, ...]]:
    """Replace each query-vector ``$n`` with a real vector from its column.

    Raises:
        BadInputError: a parameter is not a query vector, or its column cannot be found.
    """
    info = sqlscan.classify(query)
    if info.params == 0:
        return query, ()
    values: dict[str, str] = {}
    notes: list[str] = []
    for ordering in sqlscan.knn_orderings(query):
        arg = ordering.argument.strip()
        param = arg.split("::", 1)[0].strip()
        if not param.startswith("$") or param in values:
            continue
        col = resolve_vector_column(ordering.column, query, inventory)
        if col is None:
            raise BadInputError(
                f"cannot tell which vector column {param} is compared with; replace it with "
                "a vector literal"
            )
        with db.mapped_errors(f"sampling a vector for {param}", conn):
            row = conn.execute(
                db.statement(
                    "doctor_sample_vector",
                    column=sql.Identifier(col.column),
                    table=sql.Identifier(col.schema, col.table),
                )
            ).fetchone()
        if row is None:
            raise BadInputError(f"{col.schema}.{col.table} has no vectors to stand in for {param}")
        values[param] = f"'{row[0]}'::{col.type}"
        notes.append(
            f"{param} replaced by a real vector sampled from {col.schema}.{col.table}.{col.column}"
        )
    missing = sorted(
        {f"${i}" for i in range(1, info.params + 1)} - set(values), key=lambda p: int(p[1:])
    )
    if missing:
        raise BadInputError(
            f"{', '.join(missing)} need values to plan here: write them into the query "
            "(only query-vector parameters are filled in automatically)"
        )
    out: list[str] = []
    for tok in sqlscan.tokenize(query):
        out.append(values.get(tok.text, tok.text) if tok.kind == "param" else tok.text)
    return "".join(out), tuple(notes)


def explain(
    conn: psycopg.Connection[TupleRow],
    query: str,
    inventory: Inventory,
    *,
    analyze: bool = False,
    timeout_ms: int = DEFAULT_TIMEOUT_MS,
    allow_generic: bool = True,
    settings: Mapping[str, str] | None = None,
) -> ExplainResult:
    """EXPLAIN ``query`` safely and return the parsed plan with the session's settings.

    Args:
        conn: An autocommit connection; nothing is left changed on it.
        query: One statement; a leading ``EXPLAIN [ANALYZE]`` is understood.
        inventory: Vector columns, to sample stand-in vectors for ``$n`` parameters.
        analyze: Execute the query (reads only) to get actual rows and times.
        timeout_ms: ``statement_timeout`` for the EXPLAIN.
        allow_generic: Use ``GENERIC_PLAN`` for parameters where the server has it.
        settings: Planner settings to run with (``SET LOCAL``: this run only), as
            "try the fix" does with a finding's settings.

    Raises:
        BadInputError: not SQL, several statements, a write or a volatile function (one
            with side effects) with ``analyze``, an unknown table or column, missing
            parameter values.
    """
    stripped, asked_analyze = sqlscan.strip_explain(query.strip())
    analyze = analyze or asked_analyze
    info = sqlscan.classify(stripped)
    if analyze and not info.read_only:
        raise BadInputError(
            f"EXPLAIN ANALYZE would execute this statement ({', '.join(info.writes)}): "
            "refused; run it without --analyze to see the plan"
        )
    body = stripped.rstrip().rstrip(";").rstrip()
    version = conn.info.server_version
    generic = info.params > 0 and not analyze and allow_generic and version >= 160000
    notes: list[str] = []
    tried = tuple((settings or {}).items())
    if tried:
        notes.append(
            "run with "
            + ", ".join(f"{k} = {v}" for k, v in tried)
            + " (SET LOCAL: for this run only)"
        )
    if info.params and not generic:
        body, substituted = substitute_parameters(conn, body, inventory)
        notes.extend(substituted)
    options = ["FORMAT JSON", "VERBOSE", "SETTINGS"]
    if analyze:
        options += ["ANALYZE", "BUFFERS"]
    if generic:
        options.append("GENERIC_PLAN")
        notes.append("planned as a generic plan (EXPLAIN GENERIC_PLAN): parameters unknown")
    statement = db.statement(
        "doctor_explain",
        options=sql.SQL(", ").join(sql.SQL(o) for o in options),
        query=sql.SQL(body),  # the user's statement, as written: never formatted
    )
    try:
        db.execute(conn, "doctor_begin_read_only" if analyze else "doctor_begin")
        try:
            db.execute(conn, "doctor_statement_timeout", {"ms": int(timeout_ms)})
            for name, value in tried:
                db.execute(conn, "doctor_set_local", {"name": name, "value": value})
            if analyze:
                refuse_side_effects(conn, body)
            # Never prepared: psycopg prepares a statement run five times, and a prepared
            # GENERIC_PLAN statement then wants values for its $n ("bind message supplies 0
            # parameters"): the sixth EXPLAIN of the same query on a session would fail.
            row = conn.execute(statement, prepare=False).fetchone()
            session: dict[str, str | None] = {
                r["name"]: r["value"]
                for r in db.rows(conn, "doctor_query_settings", {"names": list(QUERY_SETTINGS)})
            }
            plan = parse_plan(row[0]) if row is not None else None
            table_indexes = _table_indexes(conn, plan) if plan is not None else ()
        finally:
            if not conn.closed and not conn.broken:
                db.execute(conn, "doctor_rollback")
    except psycopg.errors.QueryCanceled as e:
        raise QueryError(
            f"EXPLAIN{' ANALYZE' if analyze else ''} stopped by statement_timeout ({timeout_ms} ms)"
        ) from e
    except psycopg.errors.ReadOnlySqlTransaction as e:
        raise BadInputError(
            f"refused: the query tried to write inside EXPLAIN ANALYZE ({first_line(e)})"
        ) from e
    except psycopg.OperationalError as e:
        if conn.broken:
            raise ConnectError(f"connection lost: {first_line(e)}") from e
        raise QueryError(first_line(e)) from e
    except psycopg.Error as e:
        # Syntax errors, unknown tables and columns: the server's own words, one line.
        raise BadInputError(first_line(e)) from e
    if plan is None:
        raise QueryError("EXPLAIN returned nothing")
    return ExplainResult(
        original_sql=query,
        sql=body,
        plan=plan,
        analyzed=analyze,
        generic=generic,
        settings={k: v for k, v in session.items() if v is not None},
        notes=tuple(notes),
        server_version_num=version,
        tried_settings=tried,
        table_indexes=table_indexes,
    )


def _table_indexes(conn: psycopg.Connection[TupleRow], plan: Plan) -> tuple[TableIndex, ...]:
    tables = sorted({(n.schema, n.relation) for n in plan.nodes() if n.schema and n.relation})
    if not tables:
        return ()
    found = db.rows(
        conn,
        "doctor_table_indexes",
        {"schemas": [s for s, _ in tables], "tables": [t for _, t in tables]},
    )
    return tuple(
        TableIndex(
            schema=r["schema"],
            table=r["table"],
            name=r["name"],
            method=r["method"],
            columns=tuple(r["columns"]),
            usable=bool(r["usable"]),
            predicate=r["predicate"],
        )
        for r in found
    )
