"""What the lab measures: a vector column, its operator, its key and its serving index."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from vecscope.core import db
from vecscope.core.errors import BadInputError
from vecscope.core.models import Inventory, VectorIndex

Conn = psycopg.Connection[TupleRow]
#: Key types the lab can tell results apart by.
INTEGER_KEYS = frozenset({"bigint", "integer", "smallint"})
#: Column types the lab measures.
MEASURED_TYPES = frozenset({"vector", "halfvec"})


@dataclass(frozen=True, slots=True)
class LabTarget:
    schema: str
    table: str
    column: str
    type: str
    dims: int
    key: str
    operator: str
    rows: int
    index: VectorIndex | None

    @property
    def label(self) -> str:
        return f"{self.schema}.{self.table}.{self.column} {self.operator}"


@dataclass(frozen=True, slots=True)
class _Key:
    name: str
    type: str


@dataclass(frozen=True, slots=True)
class _Count:
    n: int


def serving_indexes(inventory: Inventory, target: LabTarget) -> tuple[VectorIndex, ...]:
    """Every usable plain index on the column serving the target's operator (two of them
    during a migration: an A/B then compares the indexes themselves)."""
    return tuple(
        ix
        for ix in inventory.indexes
        if (ix.schema, ix.table, ix.column) == (target.schema, target.table, target.column)
        and ix.usable
        and ix.expression is None
        and target.operator in (ix.operator or "").split()
    )


def resolve_target(
    conn: Conn,
    inventory: Inventory,
    schema: str,
    table: str,
    column: str,
    operator: str | None = None,
) -> LabTarget:
    """Check the column can be measured and pick its operator and key.

    Raises:
        BadInputError: not a vector column, no vector index, no integer key, empty table.
    """
    col = next(
        (c for c in inventory.columns if (c.schema, c.table, c.column) == (schema, table, column)),
        None,
    )
    if col is None:
        raise BadInputError(
            f"{schema}.{table} has no vector column {column!r} (see vecscope indexes)"
        )
    if col.type not in MEASURED_TYPES or col.dims is None:
        raise BadInputError(
            f"{schema}.{table}.{column} is {col.type}"
            f"{'' if col.dims else ' without dimensions'}: the lab measures "
            "vector and halfvec columns with dimensions"
        )
    if not col.can_select:
        raise BadInputError(f"no SELECT privilege on {schema}.{table}")
    usable = [ix for ix in inventory.indexes_on(col) if ix.usable and ix.expression is None]
    if operator is None:
        operator = usable[0].operator.split()[0] if usable and usable[0].operator else None
    if not usable:
        raise BadInputError(
            f"{schema}.{table}.{column} has no usable vector index: every query is an exact "
            "scan (recall 1.0), nothing to tune; build one first (vecscope explain shows how)"
        )
    assert operator is not None
    index = next((ix for ix in usable if operator in (ix.operator or "").split()), None)
    if index is None:
        raise BadInputError(f"no index on {schema}.{table}.{column} serves {operator}")
    return make_target(conn, schema, table, column, col.type, col.dims, operator, index)


def make_target(
    conn: Conn,
    schema: str,
    table: str,
    column: str,
    column_type: str,
    dims: int,
    operator: str,
    index: VectorIndex | None,
) -> LabTarget:
    """A target for a column whose checks were made elsewhere: finds its key and rows.

    ``index`` may be ``None`` (no index yet: every query is an exact scan).

    Raises:
        BadInputError: no integer primary key, or an empty column.
        QueryError, ConnectError: the catalog could not be read.
    """
    name = sql.Identifier(schema, table)
    with db.mapped_errors(f"reading {schema}.{table}", conn):
        key = db.record(conn, "lab_primary_key", _Key, {"table": name.as_string(conn)})
        if key is None or key.type not in INTEGER_KEYS:
            raise BadInputError(
                f"{schema}.{table} needs an integer primary key for the lab to tell results apart"
            )
        count = db.record(
            conn, "lab_vector_count", _Count, table=name, column=sql.Identifier(column)
        )
    rows = count.n if count else 0
    if rows == 0:
        raise BadInputError(f"{schema}.{table}.{column} holds no vectors")
    return LabTarget(schema, table, column, column_type, dims, key.name, operator, rows, index)
