"""Read a vector column fast: binary COPY, parsed in bulk with numpy, streamed in chunks.

Each row arrives as ``(key::int8, column::vector)``: both fields have a fixed size, so a
numpy structured dtype reads thousands of rows per call instead of one Python object per
row. halfvec columns are cast to vector on the server. Rows go straight into arrays
allocated once, so memory is the vectors themselves.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from vecscope.core import db
from vecscope.core.errors import QueryError, first_line

_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"


def _row_dtype(dims: int) -> np.dtype[np.void]:
    return np.dtype(
        [
            ("fields", ">i2"),
            ("len_id", ">i4"),
            ("id", ">i8"),
            ("len_vec", ">i4"),
            ("dim", ">i2"),
            ("unused", ">i2"),
            ("v", ">f4", (dims,)),
        ]
    )


def _skip_header(data: bytes) -> bytes:
    if data[:11] != _SIGNATURE:
        raise QueryError("unexpected COPY header from the server")
    ext = int.from_bytes(data[15:19], "big")
    return data[19 + ext :]


def fetch_vectors(
    conn: psycopg.Connection[TupleRow],
    schema: str,
    table: str,
    column: str,
    key: str,
    dims: int,
    *,
    progress: Callable[[int], None] | None = None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """Every non-NULL vector of ``schema.table.column`` with its integer key.

    Raises:
        QueryError: the COPY failed, or a vector had other dimensions than ``dims``.
    """
    tbl = sql.Identifier(schema, table)
    col = sql.Identifier(column)
    with db.mapped_errors("reading vectors", conn):
        count_row = conn.execute(db.statement("lab_vector_count", table=tbl, column=col)).fetchone()
    n = int(count_row[0]) if count_row else 0
    ids = np.empty(n, dtype=np.int64)
    vecs = np.empty((n, dims), dtype=np.float32)
    dtype = _row_dtype(dims)
    stmt = db.statement("lab_copy_vectors", key=sql.Identifier(key), column=col, table=tbl)
    pending: list[bytes] = []
    pending_bytes = 0
    tail = b""
    filled = 0
    header_done = False

    def parse(data: bytes) -> bytes:
        """Parse every whole row in ``data``; return the bytes of an unfinished row."""
        nonlocal filled
        rows = min(len(data) // dtype.itemsize, n - filled)
        if rows <= 0:
            return data
        block = np.frombuffer(data, dtype=dtype, count=rows)
        if np.any(block["dim"] != dims):
            raise QueryError(
                f"{schema}.{table}.{column} holds vectors that are not {dims}-dimensional"
            )
        ids[filled : filled + rows] = block["id"]
        vecs[filled : filled + rows] = block["v"]
        filled += rows
        if progress is not None:
            progress(filled)
        return data[rows * dtype.itemsize :]

    try:
        with conn.cursor() as cur, cur.copy(stmt) as copy:
            # The server sends one message per row: gather about a MiB before parsing, so
            # numpy reads thousands of rows per call.
            for chunk in copy:
                pending.append(bytes(chunk))
                pending_bytes += len(chunk)
                if pending_bytes < (1 << 20):
                    continue
                data = tail + b"".join(pending)
                pending, pending_bytes = [], 0
                if not header_done:
                    data = _skip_header(data)
                    header_done = True
                tail = parse(data)
            data = tail + b"".join(pending)
            if not header_done and data:
                data = _skip_header(data)
            parse(data)
    except psycopg.Error as e:
        raise QueryError(f"reading vectors failed: {first_line(e)}") from e
    # Rows inserted between the count and the COPY are ignored; deleted ones shrink it.
    return ids[:filled], vecs[:filled]
