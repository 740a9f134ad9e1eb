"""A ready-made nearest-neighbour query for a column, with the operator the application uses.

The plan doctor is asked about a column (``e`` on the Indexes screen) more often than about
a query. A query written with the operator the column's index serves would hide the most
common problem, an application ordering by ``<=>`` against a ``vector_l2_ops`` index. So
the operator comes from the application's own queries where ``pg_stat_statements`` has
them (the operator of the most frequent shapes on that column), then from the column's
usable index, and ``<=>`` (cosine, what most embedding models are compared with) last.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from vecscope.core import db
from vecscope.core.catalog.activity import statements_status
from vecscope.core.doctor.diagnose import knn_query_for
from vecscope.core.doctor.explain import resolve_vector_column
from vecscope.core.doctor.rules_common import orderings
from vecscope.core.models import Inventory
from vecscope.core.pgvector import OPERATOR_NAME
from vecscope.core.sqltext import display_ident

#: Where the operator came from.
OperatorSource = Literal["pg_stat_statements", "index", "default"]


@dataclass(frozen=True, slots=True)
class ColumnQuery:
    """The query written for a column, and why it uses its operator."""

    sql: str
    operator: str
    source: OperatorSource
    #: One line for the user: where the operator came from.
    reason: str


def application_operators(
    conn: psycopg.Connection[TupleRow], inventory: Inventory, schema: str, table: str, column: str
) -> dict[str, int]:
    """Calls per distance operator of the application's orderings on one column.

    Read from ``pg_stat_statements``; empty where it is not installed or not readable.
    """
    view, _missing, _sees_all = statements_status(conn)
    if view is None:
        return {}
    with db.mapped_errors("reading query shapes from pg_stat_statements", conn):
        shapes = db.rows(
            conn,
            "doctor_statement_shapes",
            statements=sql.Identifier(view, "pg_stat_statements"),
        )
    calls: dict[str, int] = {}
    for shape in shapes:
        for o in orderings(shape["query"]):
            col = resolve_vector_column(o.column, shape["query"], inventory)
            if col is not None and (col.schema, col.table, col.column) == (schema, table, column):
                calls[o.operator] = calls.get(o.operator, 0) + int(shape["calls"])
    return calls


def column_query(
    conn: psycopg.Connection[TupleRow], inventory: Inventory, schema: str, table: str, column: str
) -> ColumnQuery:
    """A nearest-neighbour query on ``schema.table.column`` with the application's operator.

    Args:
        conn: Any connection to the database (``pg_stat_statements`` is read if present).
        inventory: The vector columns and indexes (for the index's operator).
        schema: The column's schema.
        table: Its table.
        column: The vector column.

    Returns:
        The query, its operator, and where that operator came from.
    """
    where = display_ident(schema, table, column)
    used = application_operators(conn, inventory, schema, table, column)
    if used:
        operator = max(used, key=lambda op: used[op])
        reason = (
            f"{operator} ({OPERATOR_NAME.get(operator, operator)}) is the operator the "
            f"application uses on {where}: {used[operator]:,} calls in pg_stat_statements"
        )
        return ColumnQuery(
            knn_query_for(schema, table, column, operator), operator, "pg_stat_statements", reason
        )
    usable = [
        ix
        for ix in inventory.indexes
        if (ix.schema, ix.table, ix.column) == (schema, table, column) and ix.usable and ix.operator
    ]
    if usable and usable[0].operator:
        operator = usable[0].operator.split()[0]
        reason = (
            f"{operator} is the operator {display_ident(usable[0].name)} serves (no application "
            f"query on {where} in pg_stat_statements to take it from)"
        )
        return ColumnQuery(
            knn_query_for(schema, table, column, operator), operator, "index", reason
        )
    reason = (
        f"<=> (cosine distance), the usual one for embeddings: no index or known query on {where}"
    )
    return ColumnQuery(knn_query_for(schema, table, column, "<=>"), "<=>", "default", reason)
