"""Read a vector column fast: binary COPY, parsed in bulk with numpy, streamed in chunks.

Each row arrives as ``(key::int8, column::vector)``: both fields have a fixed size, so a
numpy structured dtype reads thousands of rows per call instead of one Python object per
row. halfvec columns are cast to vector on the server. Rows go straight into arrays
allocated once, so memory is the vectors themselves (:func:`fetch_vectors`), or one chunk
of them whatever the table's size (:func:`iter_vectors`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import numpy.typing as npt
import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from vecscope.core import db
from vecscope.core.errors import QueryError, first_line

_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"


def row_dtype(dims: int) -> np.dtype[np.void]:
    """One row of binary COPY of ``(int8 key, vector)``: the field count, the key with its
    length, and pgvector's ``vector`` (length, dim, unused, the floats), big-endian."""
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


def _row_blocks(
    conn: psycopg.Connection[TupleRow], stmt: sql.Composed, where: str, dims: int
) -> Iterator[npt.NDArray[np.void]]:
    """Every row of the binary COPY ``stmt``, in blocks of about a MiB (views, read-only)."""
    dtype = row_dtype(dims)
    pending: list[bytes] = []
    pending_bytes = 0
    header_done = False

    def rows_of(data: bytes) -> tuple[npt.NDArray[np.void] | None, bytes]:
        """The whole rows in ``data``, and the bytes of an unfinished one."""
        rows = len(data) // dtype.itemsize
        if rows <= 0:
            return None, data
        block = np.frombuffer(data, dtype=dtype, count=rows)
        if np.any(block["dim"] != dims):
            raise QueryError(f"{where} holds vectors that are not {dims}-dimensional")
        return block, data[rows * dtype.itemsize :]

    try:
        with conn.cursor() as cur, cur.copy(stmt) as copy:
            # The server sends one message per row: gather about a MiB before parsing, so
            # numpy reads thousands of rows per call.
            for chunk in copy:
                pending.append(bytes(chunk))
                pending_bytes += len(chunk)
                if pending_bytes < (1 << 20):
                    continue
                data = b"".join(pending)
                if not header_done:
                    data = _skip_header(data)
                    header_done = True
                block, tail = rows_of(data)
                pending, pending_bytes = [tail], len(tail)
                if block is not None:
                    yield block
            data = b"".join(pending)
            if not header_done and data:
                data = _skip_header(data)
            # The trailer (two bytes) is shorter than a row: never taken for one.
            block, _ = rows_of(data)
            if block is not None:
                yield block
    except psycopg.Error as e:
        raise QueryError(f"reading vectors failed: {first_line(e)}") from e


def _copy_statement(table: sql.Identifier, column: sql.Identifier, key: str) -> sql.Composed:
    return db.statement("lab_copy_vectors", key=sql.Identifier(key), column=column, table=table)


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
    last = (np.empty(0, dtype=np.int64), np.empty((0, dims), dtype=np.float32), 0)
    for last in fill_vectors(conn, schema, table, column, key, dims):
        if progress is not None:
            progress(last[2])
    ids, vecs, filled = last
    # Deleted rows shrink it.
    return ids[:filled], vecs[:filled]


def fill_vectors(
    conn: psycopg.Connection[TupleRow],
    schema: str,
    table: str,
    column: str,
    key: str,
    dims: int,
) -> Iterator[tuple[npt.NDArray[np.int64], npt.NDArray[np.float32], int]]:
    """:func:`fetch_vectors` as it goes: after each block read, the arrays (allocated once,
    for every row counted before the COPY) and how many rows of them are filled, so a
    consumer can work on the rows read so far while the rest arrive. Rows already filled
    are never written again; the consumer may change them in place.

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
    filled = 0
    where = f"{schema}.{table}.{column}"
    for block in _row_blocks(conn, _copy_statement(tbl, col, key), where, dims):
        rows = min(len(block), n - filled)
        if rows <= 0:
            continue  # rows inserted between the count and the COPY are ignored
        ids[filled : filled + rows] = block["id"][:rows]
        vecs[filled : filled + rows] = block["v"][:rows]
        filled += rows
        yield ids, vecs, filled


def iter_vectors(
    conn: psycopg.Connection[TupleRow],
    schema: str,
    table: str,
    column: str,
    key: str,
    dims: int,
    *,
    chunk_rows: int,
) -> Iterator[tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]]:
    """Every non-NULL vector with its key, ``chunk_rows`` at a time, in one COPY.

    Memory stays one chunk whatever the table's size: each chunk is yielded in the same
    arrays, overwritten by the next (copy what must outlive the iteration step). The
    consumer may change the vectors in place.

    Raises:
        QueryError: the COPY failed, or a vector had other dimensions than ``dims``.
    """
    chunk_rows = max(1, chunk_rows)
    ids = np.empty(chunk_rows, dtype=np.int64)
    vecs = np.empty((chunk_rows, dims), dtype=np.float32)
    filled = 0
    tbl = sql.Identifier(schema, table)
    where = f"{schema}.{table}.{column}"
    for block in _row_blocks(conn, _copy_statement(tbl, sql.Identifier(column), key), where, dims):
        done = 0
        while done < len(block):
            rows = min(len(block) - done, chunk_rows - filled)
            ids[filled : filled + rows] = block["id"][done : done + rows]
            vecs[filled : filled + rows] = block["v"][done : done + rows]
            filled += rows
            done += rows
            if filled == chunk_rows:
                yield ids, vecs
                filled = 0
    if filled:
        yield ids[:filled], vecs[:filled]
