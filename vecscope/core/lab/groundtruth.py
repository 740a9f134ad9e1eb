"""Exact answers for the lab's queries (ground truth), cached per table, sample and k.

faiss over the vectors fetched once with binary COPY: all at once when they fit the
memory budget, otherwise streamed through in chunks that do (each chunk's top k merged),
so memory stays within the budget whatever the table's size; exact scans in PostgreSQL
with index scans disabled in a local transaction for operators faiss has no metric for.
The cache is invalidated when the table changes (its storage, size, rows or write
counters move). On a hot standby, a read that replay cancels ("conflict with recovery")
is run again: each exact scan has its own short transaction, so only that scan is lost.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import platformdirs
import psycopg
from pgvector.psycopg import register_vector
from psycopg import sql

from vecscope.core import db
from vecscope.core.errors import BadInputError
from vecscope.core.lab.filters import group_queries
from vecscope.core.lab.sampling import QuerySet, as_array
from vecscope.core.lab.target import Conn, LabTarget
from vecscope.core.recovery_conflicts import retry_recovery_conflicts
from vecscope.core.vectors_io import fetch_vectors, fill_vectors, iter_vectors

DEFAULT_MEMORY_BUDGET = 2 * 1024**3
#: Vectors held at once when they are streamed (larger chunks are no faster).
STREAM_CHUNK_BYTES = 128 * 1024**2
#: Rows read before the faiss path searches them while the COPY goes on (about 48 MiB of
#: 384-d vectors: a few searches per table, each big enough for BLAS).
OVERLAP_ROWS = 32_768
#: Operators the faiss path has a metric for.
FAISS_OPERATORS = frozenset({"<->", "<=>", "<#>", "<+>"})


class TruthMethod(StrEnum):
    """How exact answers are computed."""

    FAISS = "faiss"
    POSTGRES = "postgres"


@dataclass(frozen=True)
class GroundTruth:
    ids: npt.NDArray[np.int64]
    distances: npt.NDArray[np.float64]
    method: str
    seconds: float
    #: Reads a hot standby cancelled for its replay and that were run again.
    conflicts_retried: int = 0


def _table_signature(conn: Conn, target: LabTarget) -> str:
    name = sql.Identifier(target.schema, target.table)
    row = conn.execute(
        db.statement("lab_table_signature", table=name), {"table": name.as_string(conn)}
    ).fetchone()
    return ":".join(str(x) for x in row) if row else "?"


def _cache_path(conn: Conn, target: LabTarget, queries: QuerySet, k: int) -> Path:
    info = conn.info
    ident = f"{info.host}:{info.port}/{info.dbname}/{target.label}/{k}/{queries.digest()}"
    name = hashlib.sha256(ident.encode()).hexdigest()[:24]
    return platformdirs.user_cache_path("vecscope") / "groundtruth" / f"{name}.npz"


def _query_matrix(vectors: npt.NDArray[np.float32], op: str) -> npt.NDArray[np.float32]:
    """The query vectors as faiss takes them: contiguous float32, normalised for ``<=>``
    (the base vectors are normalised by :func:`_search`)."""
    q = np.ascontiguousarray(vectors, dtype=np.float32)
    if op == "<=>":
        q = (q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-30)).astype(np.float32)
    return q


def _search(
    q: npt.NDArray[np.float32], base: npt.NDArray[np.float32], op: str, kk: int
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float64]]:
    """Positions in ``base`` of each query's ``kk`` nearest, and pgvector's distances.

    ``q`` is normalised already for ``<=>``; ``base`` is normalised here, in place.
    """
    import faiss

    if op == "<=>":
        # In place, norms by einsum: no temporary the size of the vectors, so memory
        # stays one copy of them (np.linalg.norm would square them all first).
        norms = np.sqrt(np.einsum("ij,ij->i", base, base))
        base /= np.maximum(norms, 1e-30)[:, None]
    if op in ("<=>", "<#>"):
        dist, pos = faiss.knn(q, base, kk, metric=faiss.METRIC_INNER_PRODUCT)
    elif op == "<->":
        dist, pos = faiss.knn(q, base, kk, metric=faiss.METRIC_L2)
    elif op == "<+>":
        index = faiss.IndexFlat(base.shape[1], faiss.METRIC_L1)
        index.add(base)
        dist, pos = index.search(q, kk)
    else:
        raise BadInputError(f"the faiss path has no metric for {op}")
    d = dist.astype(np.float64)
    if op == "<=>":
        d = 1.0 - d
    elif op == "<#>":
        d = -d
    elif op == "<->":
        d = np.sqrt(np.maximum(d, 0.0))
    return pos, d


def _run_part(
    q: npt.NDArray[np.float32],
    base: npt.NDArray[np.float32],
    op: str,
    kk: int,
    streaming: threading.Event,
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float64]]:
    """:func:`_search` for one run of rows, on the search thread: while the COPY still
    streams, faiss leaves a core to the server sending it and one to the parsing thread
    (OpenMP threads spinning against them cost far more than they compute); after it,
    faiss has every core. The setting is this thread's own (OpenMP's is per thread)."""
    import faiss

    cores = os.cpu_count() or 1
    faiss.omp_set_num_threads(max(1, cores - 2) if streaming.is_set() else cores)
    return _search(q, base, op, kk)


def _fits(target: LabTarget, memory_budget: int) -> bool:
    """Whether all the vectors fit the budget at once (with room for the work around them)."""
    return target.rows * target.dims * 4 * 2 <= memory_budget


def _faiss_truth(
    conn: Conn,
    target: LabTarget,
    queries: QuerySet,
    want: int,
    retried: Callable[[psycopg.Error], None],
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """faiss over the vectors: all at once when they fit ``memory_budget``, else streamed
    through in chunks that fit it, each chunk's top ``want`` merged into the answer."""
    if target.operator not in FAISS_OPERATORS:
        raise BadInputError(f"the faiss path has no metric for {target.operator}")
    op = target.operator
    q = _query_matrix(queries.vectors, op)

    def whole() -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        # The search overlaps the COPY: each run of rows read is searched on another
        # thread (faiss and numpy let go of the GIL) while the next rows arrive, in place
        # in the one array the COPY fills; the runs' top ``want`` are merged at the end.
        parts: list[Future[tuple[npt.NDArray[np.intp], npt.NDArray[np.float64]]]] = []
        starts: list[int] = []
        last = (np.empty(0, dtype=np.int64), np.empty((0, target.dims), dtype=np.float32), 0)
        done = 0
        streaming = threading.Event()
        streaming.set()
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="vecscope-truth") as pool:

            def search(base: npt.NDArray[np.float32], start: int, stop: int) -> None:
                starts.append(start)
                rows = base[start:stop]  # a view: normalised in place by _search
                parts.append(
                    pool.submit(_run_part, q, rows, op, min(want, stop - start), streaming)
                )

            for last in fill_vectors(
                conn, target.schema, target.table, target.column, target.key, target.dims
            ):
                if last[2] - done >= OVERLAP_ROWS:
                    search(last[1], done, last[2])
                    done = last[2]
            streaming.clear()  # the rest of the search may have every core
            keys, base, filled = last
            if filled > done or not parts:
                search(base, done, filled)
            found = [part.result() for part in parts]
        keys = keys[:filled]
        if len(found) == 1:
            return keys[found[0][0]], found[0][1]
        pos = np.concatenate(
            [p + start for (p, _), start in zip(found, starts, strict=True)], axis=1
        )
        dist = np.concatenate([d for _, d in found], axis=1)
        best = np.argsort(dist, axis=1, kind="stable")[:, : min(want, filled)]
        return keys[np.take_along_axis(pos, best, axis=1)], np.take_along_axis(dist, best, axis=1)

    def streamed() -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        ids = np.full((len(q), want), -1, dtype=np.int64)
        dist = np.full((len(q), want), np.inf, dtype=np.float64)
        seen = 0
        chunk_bytes = min(memory_budget // 2, STREAM_CHUNK_BYTES)
        chunk_rows = max(want, chunk_bytes // (target.dims * 4))
        for keys, base in iter_vectors(
            conn,
            target.schema,
            target.table,
            target.column,
            target.key,
            target.dims,
            chunk_rows=chunk_rows,
        ):
            seen += len(keys)
            pos, d = _search(q, base, op, min(want, len(keys)))
            both_d = np.concatenate([dist, d], axis=1)
            both_ids = np.concatenate([ids, keys[pos]], axis=1)
            best = np.argsort(both_d, axis=1, kind="stable")[:, :want]
            dist = np.take_along_axis(both_d, best, axis=1)
            ids = np.take_along_axis(both_ids, best, axis=1)
        return ids[:, : min(want, seen)], dist[:, : min(want, seen)]

    compute = whole if _fits(target, memory_budget) else streamed

    def read() -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        # One COPY of the whole table takes longer than a probe's statement timeout on a
        # large one (the front ends' sessions have one): none for this transaction only,
        # as for the exact scans.
        with conn.transaction():
            db.execute(conn, "lab_exact_settings")
            return compute()

    return retry_recovery_conflicts(conn, read, retried=retried)


def _postgres_truth(
    conn: Conn,
    target: LabTarget,
    queries: QuerySet,
    want: int,
    retried: Callable[[psycopg.Error], None],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    register_vector(conn)
    stmt = db.statement(
        "lab_exact_knn",
        key=sql.Identifier(target.key),
        column=sql.Identifier(target.column),
        operator=sql.SQL(target.operator),
        table=sql.Identifier(target.schema, target.table),
    )
    ids = np.zeros((len(queries), want), dtype=np.int64)
    dist = np.full((len(queries), want), np.inf, dtype=np.float64)

    # The settings and the scan in one simple-protocol message: PostgreSQL runs it as one
    # implicit transaction that never waits on this client between its statements (a
    # standby terminates a session idle in a transaction when replay needs its lock, but
    # only cancels a running statement), and an error ends that transaction at once, so
    # the connection is ready for the retry.
    whole = sql.SQL("; ").join([db.statement("lab_exact_settings"), stmt])

    def exact(vec: npt.NDArray[np.float32]) -> list[tuple[Any, ...]]:
        outer = contextlib.nullcontext() if conn.autocommit else conn.transaction()
        with outer, psycopg.ClientCursor(conn) as cur:
            # Exact: no index may answer, for this transaction only.
            cur.execute(whole, {"q": vec, "limit": want})
            while cur.nextset():
                pass  # the scan's rows are the last result
            return cur.fetchall()

    for i, vec in enumerate(queries.vectors):
        rows = retry_recovery_conflicts(conn, partial(exact, vec), retried=retried)
        ids[i, : len(rows)] = [r[0] for r in rows]
        dist[i, : len(rows)] = [r[1] for r in rows]
    return ids, dist


def _filtered_truth(
    conn: Conn,
    target: LabTarget,
    queries: QuerySet,
    want: int,
    retried: Callable[[psycopg.Error], None],
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """The exact top ``want`` of each query among the rows its filter matches.

    Where the vectors fit ``memory_budget`` they are read once (binary COPY), and each
    distinct filter (each tenant, say) reads only the keys it matches: faiss then
    searches that subset for every query sharing the filter. Otherwise each distinct
    filter reads its rows; operators faiss has no metric for get PostgreSQL's own exact
    scans. A filter matching fewer than ``want`` rows leaves the rest of the row as
    -1 / +inf: those queries can find no more.
    """
    assert queries.filter is not None and queries.filter_values is not None
    register_vector(conn)
    ids = np.full((len(queries), want), -1, dtype=np.int64)
    dist = np.full((len(queries), want), np.inf, dtype=np.float64)
    op = target.operator
    names = {
        "key": sql.Identifier(target.key),
        "column": sql.Identifier(target.column),
        "table": sql.Identifier(target.schema, target.table),
        "filter": queries.filter.composed(),
    }
    if op in FAISS_OPERATORS and _fits(target, memory_budget):
        return _subset_truth(conn, target, queries, want, retried, names)
    rows_stmt = db.statement("lab_filtered_rows", **names)
    exact_stmt = db.statement(
        "lab_knn_filtered", operator=sql.SQL(op), limit=sql.SQL("%(limit)s"), **names
    )
    for values, members in group_queries(queries.filter_values).items():
        params = queries.filter.params(values)
        if op in FAISS_OPERATORS:

            def read(params: dict[str, Any] = params) -> list[tuple[Any, ...]]:
                # Any index may find the rows (a B-tree on the filter is exact).
                with conn.pipeline(), conn.transaction():
                    db.execute(conn, "lab_no_timeout")
                    cur = conn.execute(rows_stmt, params)
                return cur.fetchall()

            rows = retry_recovery_conflicts(conn, read, retried=retried)
            if not rows:
                continue
            keys = np.array([r[0] for r in rows], dtype=np.int64)
            base = np.array([as_array(r[1]) for r in rows], dtype=np.float32)
            q = _query_matrix(queries.vectors[members], op)
            n = min(want, len(keys))
            pos, d = _search(q, base, op, n)
            ids[members, :n] = keys[pos]
            dist[members, :n] = d
            continue
        for i in members:

            def exact(i: int = i, params: dict[str, Any] = params) -> list[tuple[Any, ...]]:
                with conn.pipeline(), conn.transaction():
                    db.execute(conn, "lab_exact_settings")
                    cur = conn.execute(
                        exact_stmt, {"q": queries.vectors[i], "limit": want, **params}
                    )
                return cur.fetchall()

            found = retry_recovery_conflicts(conn, exact, retried=retried)
            ids[i, : len(found)] = [r[0] for r in found]
            dist[i, : len(found)] = [r[1] for r in found]
    return ids, dist


def _subset_truth(
    conn: Conn,
    target: LabTarget,
    queries: QuerySet,
    want: int,
    retried: Callable[[psycopg.Error], None],
    names: dict[str, sql.Composable],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """:func:`_filtered_truth` with every vector in memory: one COPY, keys per filter."""
    assert queries.filter is not None and queries.filter_values is not None
    op = target.operator

    def read_all() -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        with conn.transaction():
            db.execute(conn, "lab_no_timeout")
            return fetch_vectors(
                conn, target.schema, target.table, target.column, target.key, target.dims
            )

    keys, base = retry_recovery_conflicts(conn, read_all, retried=retried)
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    keys_stmt = db.statement("lab_filtered_keys", **names)
    ids = np.full((len(queries), want), -1, dtype=np.int64)
    dist = np.full((len(queries), want), np.inf, dtype=np.float64)
    q_all = _query_matrix(queries.vectors, op)
    for values, members in group_queries(queries.filter_values).items():
        params = queries.filter.params(values)

        def matching(params: dict[str, Any] = params) -> list[tuple[Any, ...]]:
            with conn.pipeline(), conn.transaction():
                db.execute(conn, "lab_no_timeout")
                cur = conn.execute(keys_stmt, params)
            return cur.fetchall()

        wanted = np.array([r[0] for r in retry_recovery_conflicts(conn, matching, retried=retried)])
        if wanted.size == 0:
            continue
        at = np.searchsorted(sorted_keys, wanted)
        at = at[
            (at < sorted_keys.size) & (sorted_keys[np.minimum(at, sorted_keys.size - 1)] == wanted)
        ]
        if at.size == 0:
            continue  # rows written since the COPY
        rows = order[at]
        subset = base[rows]  # a copy: _search may normalise it in place
        n = min(want, subset.shape[0])
        pos, d = _search(q_all[members], subset, op, n)
        ids[members, :n] = keys[rows][pos]
        dist[members, :n] = d
    return ids, dist


def ground_truth(
    conn: Conn,
    target: LabTarget,
    queries: QuerySet,
    k: int,
    *,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    use_cache: bool = True,
    method: TruthMethod | str | None = None,
) -> GroundTruth:
    """Exact top-k for every query (the query's own row excluded), cached.

    Args:
        method: ``"faiss"`` or ``"postgres"``; ``None`` picks faiss for the operators it
            has a metric for (streamed when the vectors do not fit ``memory_budget``).
    """
    if k < 1:
        raise BadInputError("k must be at least 1")
    if queries.filter is None and k + (1 if queries.self_ids is not None else 0) > target.rows:
        raise BadInputError(f"k = {k} is larger than the {target.rows} vectors in the table")
    want = k + (1 if queries.self_ids is not None else 0)
    if method is None:
        # faiss whatever the size: vectors that do not fit the budget are streamed.
        method = TruthMethod.FAISS if target.operator in FAISS_OPERATORS else TruthMethod.POSTGRES
    method = TruthMethod(method)
    with db.mapped_errors("ground truth", conn):
        signature = _table_signature(conn, target)
    path = _cache_path(conn, target, queries, k)
    if use_cache and path.exists():
        try:
            cached = np.load(path, allow_pickle=False)
            if str(cached["signature"]) == signature:
                return GroundTruth(
                    cached["ids"],
                    cached["distances"],
                    f"{cached['method']} (cached)",
                    float(cached["seconds"]),
                )
        except (OSError, ValueError, KeyError):
            pass
    started = time.perf_counter()
    conflicts: list[psycopg.Error] = []
    with db.mapped_errors("ground truth", conn):
        if queries.filter is not None:
            ids, dist = _filtered_truth(
                conn, target, queries, want, conflicts.append, memory_budget
            )
        elif method == TruthMethod.FAISS:
            ids, dist = _faiss_truth(conn, target, queries, want, conflicts.append, memory_budget)
        else:
            ids, dist = _postgres_truth(conn, target, queries, want, conflicts.append)
    if queries.self_ids is not None:
        ids, dist = _drop_self(ids, dist, queries.self_ids, k)
    else:
        ids, dist = ids[:, :k], dist[:, :k]
    seconds = time.perf_counter() - started
    if not use_cache:
        return GroundTruth(ids, dist, str(method), seconds, len(conflicts))
    # Whole or not at all: another vecscope may read the cache while this one writes.
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(
            tmp, ids=ids, distances=dist, method=str(method), seconds=seconds, signature=signature
        )
        tmp.replace(path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
    return GroundTruth(ids, dist, str(method), seconds, len(conflicts))


def _drop_self(
    ids: npt.NDArray[np.int64],
    dist: npt.NDArray[np.float64],
    self_ids: npt.NDArray[np.int64],
    k: int,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    out_ids = np.zeros((ids.shape[0], k), dtype=np.int64)
    out_d = np.zeros((ids.shape[0], k), dtype=np.float64)
    for i in range(ids.shape[0]):
        keep = ids[i] != self_ids[i]
        out_ids[i] = ids[i][keep][:k]
        out_d[i] = dist[i][keep][:k]
    return out_ids, out_d
