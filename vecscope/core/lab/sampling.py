"""The lab's query vectors: sampled from the table, or read from a ``.npy``."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from pgvector.psycopg import register_vector
from psycopg import sql

from vecscope.core import db
from vecscope.core.errors import BadInputError
from vecscope.core.lab.filters import RowFilter
from vecscope.core.lab.target import Conn, LabTarget

#: The seed of the deterministic sample (the same rows every run on the same table).
SEED = 7


@dataclass(frozen=True)
class QuerySet:
    vectors: npt.NDArray[np.float32]
    #: Keys of the rows the vectors were sampled from (excluded from their own answers).
    self_ids: npt.NDArray[np.int64] | None
    source: str
    #: The application's filter, if the workload has one.
    filter: RowFilter | None = None
    #: Each query's values for the filter's placeholders (``()`` for a fixed filter).
    filter_values: tuple[tuple[Any, ...], ...] | None = None

    def __len__(self) -> int:
        return int(self.vectors.shape[0])

    def filter_params(self, i: int) -> dict[str, Any]:
        """Query ``i``'s bind parameters for the filter (none without one)."""
        if self.filter is None or self.filter_values is None:
            return {}
        return self.filter.params(self.filter_values[i])

    def digest(self) -> str:
        h = hashlib.sha256(np.ascontiguousarray(self.vectors).tobytes())
        if self.self_ids is not None:
            h.update(self.self_ids.tobytes())
        if self.filter is not None:
            h.update(self.filter.text.encode())
            h.update(repr(self.filter_values).encode())
        return h.hexdigest()[:16]


def sample_queries(
    conn: Conn,
    target: LabTarget,
    n: int,
    seed: int = SEED,
    row_filter: RowFilter | None = None,
    weighted: Sequence[tuple[str, float]] | None = None,
) -> QuerySet:
    """``n`` rows of the table, chosen deterministically by a hash of their key (among the
    rows a fixed ``row_filter`` matches; with placeholders, with their values).

    ``weighted``: values for a one-placeholder filter with their weights (the
    application's own mix of tenants, say): each value gets its share of the ``n`` queries,
    sampled from the rows it matches.
    """
    if n < 1:
        raise BadInputError("--queries must be at least 1")
    register_vector(conn)
    if row_filter is not None and weighted:
        return _sample_weighted(conn, target, n, seed, row_filter, weighted)
    if row_filter is not None:
        return _sample_filtered(conn, target, n, seed, row_filter)
    with db.mapped_errors("sampling query vectors", conn):
        rows = conn.execute(
            db.statement(
                "lab_sample",
                key=sql.Identifier(target.key),
                column=sql.Identifier(target.column),
                table=sql.Identifier(target.schema, target.table),
            ),
            {"seed": str(seed), "n": n},
        ).fetchall()
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    vecs = np.array([as_array(r[1]) for r in rows], dtype=np.float32)
    return QuerySet(
        vecs.reshape(len(rows), target.dims),
        ids,
        f"{len(rows)} rows sampled from {target.schema}.{target.table}",
    )


def _sample_weighted(
    conn: Conn,
    target: LabTarget,
    n: int,
    seed: int,
    row_filter: RowFilter,
    weighted: Sequence[tuple[str, float]],
) -> QuerySet:
    if len(row_filter.columns) != 1:
        raise BadInputError("--where-values needs a --where with exactly one {column}")
    total = sum(w for _, w in weighted)
    parts: list[QuerySet] = []
    for value, weight in weighted:
        share = max(1, round(n * weight / total))
        part = _sample_filtered(conn, target, share, seed, row_filter, fixed=(value,))
        parts.append(part)
    names = ", ".join(f"{v} x{len(p)}" for (v, _), p in zip(weighted, parts, strict=True))
    values = tuple(v for p in parts for v in (p.filter_values or ()))
    return QuerySet(
        np.concatenate([p.vectors for p in parts]),
        np.concatenate([p.self_ids for p in parts if p.self_ids is not None]),
        f"{len(values)} rows sampled from {target.schema}.{target.table} where "
        f"{row_filter.text} ({names})",
        row_filter,
        values,
    )


def _sample_filtered(
    conn: Conn,
    target: LabTarget,
    n: int,
    seed: int,
    row_filter: RowFilter,
    fixed: tuple[Any, ...] | None = None,
) -> QuerySet:
    """Rows the filter matches: with ``fixed`` values for its placeholders, rows matching
    them (each query then has those values); else every row, with its own values."""
    values = sql.SQL("").join(sql.SQL(", {}").format(sql.Identifier(c)) for c in row_filter.columns)
    where = sql.SQL("true") if row_filter.per_query and fixed is None else row_filter.composed()
    params: dict[str, Any] = {"seed": str(seed), "n": n}
    if fixed is not None:
        params.update(row_filter.params(fixed))
    with db.mapped_errors("sampling query vectors under --where", conn):
        rows = conn.execute(
            db.statement(
                "lab_sample_filtered",
                key=sql.Identifier(target.key),
                column=sql.Identifier(target.column),
                table=sql.Identifier(target.schema, target.table),
                values=values,
                filter=where,
            ),
            params,
        ).fetchall()
    if not rows:
        what = f" for {', '.join(map(str, fixed))}" if fixed is not None else ""
        raise BadInputError(
            f"--where matches no row of {target.schema}.{target.table} with a vector{what}"
        )
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    vecs = np.array([as_array(r[1]) for r in rows], dtype=np.float32)
    return QuerySet(
        vecs.reshape(len(rows), target.dims),
        ids,
        f"{len(rows)} rows sampled from {target.schema}.{target.table} where {row_filter.text}",
        row_filter,
        tuple(fixed if fixed is not None else tuple(r[2:]) for r in rows),
    )


def as_array(value: object) -> npt.NDArray[np.float32]:
    # pgvector's loader returns a Vector (0.3+) or an ndarray (older releases).
    to_numpy = getattr(value, "to_numpy", None)
    return np.asarray(to_numpy() if to_numpy else value, dtype=np.float32)


def load_queries(path: Path, target: LabTarget) -> QuerySet:
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise BadInputError(f"cannot read {path} as a .npy array: {e}") from e
    if arr.ndim != 2 or arr.shape[1] != target.dims or arr.shape[0] == 0:
        raise BadInputError(
            f"{path} holds an array of shape {arr.shape}; the column needs (n, {target.dims})"
        )
    return QuerySet(arr.astype(np.float32), None, f"{arr.shape[0]} vectors from {path.name}")
