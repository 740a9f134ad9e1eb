"""The bridge to pgvector: a vector column exported to a FAISS file, to tune offline.

Vectors are read with binary COPY (:func:`core.vectors_io.fetch_vectors`, parsed in
bulk) and keyed by the table's integer primary key, so ids in FAISS are the rows' keys.
The metric follows the operator the column's index serves: cosine distance becomes inner
product over normalised vectors, as FAISS does cosine.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import faiss
import psycopg
from psycopg.rows import TupleRow

from vecscope.core.catalog.inventory import fetch_inventory
from vecscope.core.errors import BadInputError
from vecscope.core.faissidx.convert import check_destination, write_atomically
from vecscope.core.lab.measure import make_target
from vecscope.core.pgvector import DEFAULT_OPERATOR
from vecscope.core.vectors_io import fetch_vectors

Conn = psycopg.Connection[TupleRow]
METRIC_OF = {"<->": "L2", "<#>": "IP", "<=>": "IP (cosine: vectors normalised)"}


@dataclass(frozen=True, slots=True)
class Exported:
    path: str
    table: str
    column: str
    rows: int
    d: int
    operator: str
    metric: str
    bytes: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def export_column(conn: Conn, schema: str, table: str, column: str, out: Path) -> Exported:
    """Write ``IDMap2,Flat`` holding every vector of the column, ids = primary keys.

    Raises:
        BadInputError: no such vector column, no integer key, an unsupported operator,
            an existing output file or a missing folder (checked before any vector is
            read), a file that cannot be written (nothing is left behind).
    """
    check_destination(out)
    inventory = fetch_inventory(conn)
    col = next(
        (c for c in inventory.columns if (c.schema, c.table, c.column) == (schema, table, column)),
        None,
    )
    if col is None:
        raise BadInputError(f"{schema}.{table} has no vector column {column!r}")
    if col.type not in ("vector", "halfvec") or col.dims is None:
        raise BadInputError(f"{schema}.{table}.{column} is {col.type}: export needs vector(n)")
    served = [ix.operator.split()[0] for ix in inventory.indexes_on(col) if ix.operator]
    operator = served[0] if served else DEFAULT_OPERATOR.get(col.type, "<=>")
    if operator not in METRIC_OF:
        raise BadInputError(f"FAISS has no metric for {operator}")
    target = make_target(conn, schema, table, column, col.type, col.dims, operator, None)
    keys, vecs = fetch_vectors(conn, schema, table, column, target.key, col.dims)
    if operator == "<=>":
        faiss.normalize_L2(vecs)
    metric = faiss.METRIC_L2 if operator == "<->" else faiss.METRIC_INNER_PRODUCT
    index = faiss.IndexIDMap2(faiss.IndexFlat(col.dims, metric))
    for start in range(0, len(keys), 50_000):
        index.add_with_ids(vecs[start : start + 50_000], keys[start : start + 50_000])
    del vecs
    write_atomically(index, out)
    return Exported(
        str(out),
        f"{schema}.{table}",
        column,
        int(len(keys)),
        col.dims,
        operator,
        METRIC_OF[operator],
        out.stat().st_size,
    )
