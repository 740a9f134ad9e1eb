"""The latency and recall lab: measure a vector column's nearest-neighbour queries honestly.

Query vectors are sampled from the table (each query's own row excluded from its answer)
or read from a ``.npy``. Every measured query is a prepared statement on its own session
with the settings under test applied to that session only; a warm-up precedes the timed
queries; percentiles come from all samples. Ground truth is exact: faiss over vectors
fetched once with binary COPY when they fit the memory budget, otherwise exact scans in
PostgreSQL with index scans disabled in a local transaction. It is cached per table,
sample and k, and invalidated when the table changes.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import platformdirs
import psycopg
from pgvector.psycopg import register_vector
from psycopg import sql
from psycopg.rows import TupleRow

from vecscope.core.connection import ConnectionTarget, connect
from vecscope.core.errors import BadInputError, ConnectError, QueryError, first_line
from vecscope.core.lab.stats import (
    Percentiles,
    cheapest_meeting,
    pareto_front,
    percentiles,
    recall_at_k,
)
from vecscope.core.models import Inventory, VectorIndex
from vecscope.core.vectors_io import fetch_vectors

Conn = psycopg.Connection[TupleRow]
DEFAULT_MEMORY_BUDGET = 2 * 1024**3
#: Per-query statement_timeout of the measuring sessions.
QUERY_TIMEOUT_MS = 60_000


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
    if col.type not in ("vector", "halfvec") or col.dims is None:
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
    """
    key_row = conn.execute(
        """SELECT a.attname::text, format_type(a.atttypid, a.atttypmod)
             FROM pg_index i JOIN pg_attribute a
               ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
            WHERE i.indrelid = %s::regclass AND i.indisprimary AND i.indnatts = 1""",
        (sql.Identifier(schema, table).as_string(conn),),
    ).fetchone()
    if key_row is None or key_row[1] not in ("bigint", "integer", "smallint"):
        raise BadInputError(
            f"{schema}.{table} needs an integer primary key for the lab to tell results apart"
        )
    count = conn.execute(
        sql.SQL("SELECT count(*) FROM {} WHERE {} IS NOT NULL").format(
            sql.Identifier(schema, table), sql.Identifier(column)
        )
    ).fetchone()
    rows = int(count[0]) if count else 0
    if rows == 0:
        raise BadInputError(f"{schema}.{table}.{column} holds no vectors")
    return LabTarget(schema, table, column, column_type, dims, key_row[0], operator, rows, index)


# --- query vectors -------------------------------------------------------------------


@dataclass(frozen=True)
class QuerySet:
    vectors: npt.NDArray[np.float32]
    #: Keys of the rows the vectors were sampled from (excluded from their own answers).
    self_ids: npt.NDArray[np.int64] | None
    source: str

    def __len__(self) -> int:
        return int(self.vectors.shape[0])

    def digest(self) -> str:
        h = hashlib.sha256(np.ascontiguousarray(self.vectors).tobytes())
        if self.self_ids is not None:
            h.update(self.self_ids.tobytes())
        return h.hexdigest()[:16]


def sample_queries(conn: Conn, target: LabTarget, n: int, seed: int = 7) -> QuerySet:
    """``n`` rows of the table, chosen deterministically by a hash of their key."""
    if n < 1:
        raise BadInputError("--queries must be at least 1")
    stmt = sql.SQL(
        "SELECT {key}::int8, {col}::vector FROM {tbl} WHERE {col} IS NOT NULL "
        "ORDER BY md5({key}::text || %s) LIMIT %s"
    ).format(
        key=sql.Identifier(target.key),
        col=sql.Identifier(target.column),
        tbl=sql.Identifier(target.schema, target.table),
    )
    register_vector(conn)
    rows = conn.execute(stmt, (str(seed), n)).fetchall()
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    vecs = np.array([_as_array(r[1]) for r in rows], dtype=np.float32)
    return QuerySet(
        vecs.reshape(len(rows), target.dims),
        ids,
        f"{len(rows)} rows sampled from {target.schema}.{target.table}",
    )


def _as_array(value: object) -> npt.NDArray[np.float32]:
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


# --- ground truth ------------------------------------------------------------------


@dataclass(frozen=True)
class GroundTruth:
    ids: npt.NDArray[np.int64]
    distances: npt.NDArray[np.float64]
    method: str
    seconds: float


def _table_signature(conn: Conn, target: LabTarget) -> str:
    row = conn.execute(
        # Storage identity and size, the live row count, and the write counters: any of
        # them moving means the table changed and cached ground truth is stale.
        """SELECT c.relfilenode, pg_relation_size(c.oid),
                  (SELECT count(*) FROM ONLY TABLE_NAME),
                  coalesce(s.n_tup_ins, 0), coalesce(s.n_tup_upd, 0), coalesce(s.n_tup_del, 0)
             FROM pg_class c LEFT JOIN pg_stat_all_tables s ON s.relid = c.oid
            WHERE c.oid = %s::regclass""".replace(
            "TABLE_NAME", sql.Identifier(target.schema, target.table).as_string(conn)
        ),
        (sql.Identifier(target.schema, target.table).as_string(conn),),
    ).fetchone()
    return ":".join(str(x) for x in row) if row else "?"


def _cache_path(conn: Conn, target: LabTarget, queries: QuerySet, k: int) -> Path:
    info = conn.info
    ident = f"{info.host}:{info.port}/{info.dbname}/{target.label}/{k}/{queries.digest()}"
    name = hashlib.sha256(ident.encode()).hexdigest()[:24]
    return platformdirs.user_cache_path("vecscope") / "groundtruth" / f"{name}.npz"


def _faiss_truth(
    conn: Conn, target: LabTarget, queries: QuerySet, want: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    import faiss

    keys, base = fetch_vectors(
        conn, target.schema, target.table, target.column, target.key, target.dims
    )
    q = np.ascontiguousarray(queries.vectors, dtype=np.float32)
    op = target.operator
    kk = min(want, len(keys))
    if op == "<=>":
        # In place, norms by einsum: no temporary the size of the vectors, so memory
        # stays one copy of them (np.linalg.norm would square them all first).
        norms = np.sqrt(np.einsum("ij,ij->i", base, base))
        base /= np.maximum(norms, 1e-30)[:, None]
        q = (q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), 1e-30)).astype(np.float32)
    if op in ("<=>", "<#>"):
        dist, pos = faiss.knn(q, base, kk, metric=faiss.METRIC_INNER_PRODUCT)
    elif op == "<->":
        dist, pos = faiss.knn(q, base, kk, metric=faiss.METRIC_L2)
    elif op == "<+>":
        index = faiss.IndexFlat(target.dims, faiss.METRIC_L1)
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
    return keys[pos], d


def _postgres_truth(
    conn: Conn, target: LabTarget, queries: QuerySet, want: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    register_vector(conn)
    stmt = sql.SQL(
        "SELECT {key}::int8, ({col} {op} %s::vector)::float8 AS d FROM {tbl} "
        "WHERE {col} IS NOT NULL ORDER BY {col} {op} %s::vector LIMIT %s"
    ).format(
        key=sql.Identifier(target.key),
        col=sql.Identifier(target.column),
        op=sql.SQL(target.operator),
        tbl=sql.Identifier(target.schema, target.table),
    )
    ids = np.zeros((len(queries), want), dtype=np.int64)
    dist = np.full((len(queries), want), np.inf, dtype=np.float64)
    with conn.transaction():
        # Exact: no index may answer, for this transaction only.
        conn.execute("SET LOCAL enable_indexscan = off")
        conn.execute("SET LOCAL enable_bitmapscan = off")
        conn.execute("SET LOCAL statement_timeout = 0")
        for i, vec in enumerate(queries.vectors):
            rows = conn.execute(stmt, (vec, vec, want)).fetchall()
            ids[i, : len(rows)] = [r[0] for r in rows]
            dist[i, : len(rows)] = [r[1] for r in rows]
    return ids, dist


def ground_truth(
    conn: Conn,
    target: LabTarget,
    queries: QuerySet,
    k: int,
    *,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    use_cache: bool = True,
    method: str | None = None,
) -> GroundTruth:
    """Exact top-k for every query (the query's own row excluded), cached.

    Args:
        method: ``"faiss"`` or ``"postgres"``; ``None`` picks faiss when the vectors fit
            ``memory_budget``.
    """
    if k < 1:
        raise BadInputError("k must be at least 1")
    if k + (1 if queries.self_ids is not None else 0) > target.rows:
        raise BadInputError(f"k = {k} is larger than the {target.rows} vectors in the table")
    want = k + (1 if queries.self_ids is not None else 0)
    if method is None:
        fits = target.rows * target.dims * 4 * 2 <= memory_budget
        method = (
            "faiss" if fits and target.operator in ("<->", "<=>", "<#>", "<+>") else ("postgres")
        )
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
    try:
        if method == "faiss":
            ids, dist = _faiss_truth(conn, target, queries, want)
        else:
            ids, dist = _postgres_truth(conn, target, queries, want)
    except psycopg.Error as e:
        raise QueryError(f"ground truth failed: {first_line(e)}") from e
    if queries.self_ids is not None:
        ids, dist = _drop_self(ids, dist, queries.self_ids, k)
    else:
        ids, dist = ids[:, :k], dist[:, :k]
    seconds = time.perf_counter() - started
    if not use_cache:
        return GroundTruth(ids, dist, method, seconds)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, ids=ids, distances=dist, method=method, seconds=seconds, signature=signature)
    except OSError:
        pass  # a cache is a convenience
    return GroundTruth(ids, dist, method, seconds)


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


# --- measuring ---------------------------------------------------------------------


Settings = Mapping[str, str]


@dataclass(frozen=True)
class Measurement:
    """What one batch of timed queries measured, and exactly under which conditions."""

    settings: dict[str, str]
    k: int
    queries: int
    concurrency: int
    latency: Percentiles
    qps: float
    recall: float
    index: str | None
    latencies_ms: npt.NDArray[np.float64] = field(repr=False, compare=False)

    @property
    def p50_ms(self) -> float:
        return self.latency.p50_ms

    @property
    def p95_ms(self) -> float:
        return self.latency.p95_ms

    @property
    def p99_ms(self) -> float:
        return self.latency.p99_ms


def knn_sql(target: LabTarget, k: int, extra: int) -> sql.Composed:
    return sql.SQL(
        # One parameter used twice: the vector is sent (and converted) once per query.
        "SELECT {key}::int8, ({col} {op} %(q)s::vector)::float8 FROM {tbl} "
        "ORDER BY {col} {op} %(q)s::vector LIMIT {limit}"
    ).format(
        key=sql.Identifier(target.key),
        col=sql.Identifier(target.column),
        op=sql.SQL(target.operator),
        tbl=sql.Identifier(target.schema, target.table),
        limit=sql.Literal(k + extra),
    )


def open_session(conn_target: ConnectionTarget, settings: Settings) -> Conn:
    """A measuring session: our own connection, the settings applied to it alone."""
    conn = connect(conn_target, statement_timeout_ms=QUERY_TIMEOUT_MS)
    register_vector(conn)
    apply_settings(conn, settings)
    return conn


def apply_settings(conn: Conn, settings: Settings) -> None:
    for name, value in settings.items():
        try:
            conn.execute(
                sql.SQL("SELECT set_config({}, {}, false)").format(
                    sql.Literal(name), sql.Literal(str(value))
                )
            )
        except psycopg.Error as e:
            raise BadInputError(f"cannot set {name} = {value}: {first_line(e)}") from e


def serving_index(
    conn: Conn, target: LabTarget, vector: npt.NDArray[np.float32], k: int
) -> str | None:
    """The index EXPLAIN says serves the lab's query on this session, or None (Seq Scan)."""
    stmt = sql.SQL("EXPLAIN (FORMAT JSON) {}").format(knn_sql(target, k, 0))
    rows = conn.execute(stmt, {"q": vector}).fetchone()
    plan = rows[0][0]["Plan"] if rows else {}
    stack = [plan]
    while stack:
        node = stack.pop()
        if node.get("Order By") and node.get("Index Name"):
            return str(node["Index Name"])
        stack.extend(node.get("Plans", []))
    return None


def run_one(
    conn: Conn, stmt: bytes | sql.Composed, vec: npt.NDArray[np.float32]
) -> tuple[float, list[tuple[int, float]]]:
    """One timed query: only the round trip and fetching the rows are inside the timer."""
    t0 = time.perf_counter_ns()
    rows = conn.execute(stmt, {"q": vec}, prepare=True).fetchall()
    elapsed = (time.perf_counter_ns() - t0) / 1e6
    return elapsed, [(int(r[0]), float(r[1])) for r in rows]


def run_parallel(work: Callable[[int], None], n: int) -> float:
    """Run ``work(0..n-1)`` on ``n`` threads (one per session); return the wall seconds.

    The first exception any thread raised is raised here, after all have stopped.
    """
    errors: list[BaseException] = []

    def guarded(w: int) -> None:
        try:
            work(w)
        except BaseException as e:  # noqa: BLE001 - handed to the caller below
            errors.append(e)

    started = time.perf_counter()
    threads = [threading.Thread(target=guarded, args=(w,)) for w in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    if errors:
        raise errors[0]
    return wall


def judge(
    results: Sequence[list[tuple[int, float]]],
    queries: QuerySet,
    gt: GroundTruth,
    k: int,
    order: Sequence[int],
) -> float:
    returned: list[list[float]] = []
    truths = []
    for qi, rows in zip(order, results, strict=True):
        own = int(queries.self_ids[qi]) if queries.self_ids is not None else None
        dists = [d for key, d in rows if key != own][:k]
        returned.append(dists)
        truths.append(gt.distances[qi])
    return recall_at_k(returned, np.asarray(truths), k)


def measure(
    conn_target: ConnectionTarget,
    target: LabTarget,
    queries: QuerySet,
    gt: GroundTruth,
    k: int,
    settings: Settings,
    *,
    concurrency: int = 1,
    warmup: int | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> Measurement:
    """Time every query once on ``concurrency`` sessions, after a warm-up."""
    if concurrency < 1:
        raise BadInputError("concurrency must be at least 1")
    extra = 1 if queries.self_ids is not None else 0
    sessions = [open_session(conn_target, settings) for _ in range(concurrency)]
    try:
        # Rendered once: composing the statement on every call would be timed too.
        stmt = knn_sql(target, k, extra).as_bytes(sessions[0])
        index = serving_index(sessions[0], target, queries.vectors[0], k + extra)
        warm = len(queries) if warmup is None else warmup
        for i in range(min(warm, len(queries))):
            run_one(sessions[i % concurrency], stmt, queries.vectors[i])
        latencies = np.zeros(len(queries), dtype=np.float64)
        results: list[list[tuple[int, float]]] = [[] for _ in range(len(queries))]

        def worker(w: int) -> None:
            for i in range(w, len(queries), concurrency):
                if should_stop():
                    return
                latencies[i], results[i] = run_one(sessions[w], stmt, queries.vectors[i])

        wall = run_parallel(worker, concurrency)
    except psycopg.OperationalError as e:
        raise ConnectError(f"connection lost during the measurement: {first_line(e)}") from e
    except psycopg.Error as e:
        raise QueryError(f"measurement failed: {first_line(e)}") from e
    finally:
        for s in sessions:
            s.close()
    done = [i for i in range(len(queries)) if results[i]]
    recall = judge([results[i] for i in done], queries, gt, k, done)
    return Measurement(
        dict(settings),
        k,
        len(done),
        concurrency,
        percentiles(latencies[done]),
        len(done) / wall if wall else 0.0,
        recall,
        index,
        latencies[done],
    )


# --- sweeps ------------------------------------------------------------------------


@dataclass(frozen=True)
class Sweep:
    measurements: tuple[Measurement, ...]
    pareto: tuple[int, ...]
    recommendation: int | None
    target_recall: float


def knob_for(target: LabTarget) -> str:
    return (
        "ivfflat.probes"
        if target.index and target.index.method == "ivfflat"
        else ("hnsw.ef_search")
    )


def default_values(target: LabTarget) -> list[int]:
    if knob_for(target) == "ivfflat.probes":
        lists = int(target.index.params.get("lists", 100)) if target.index else 100
        return sorted({v for v in (1, 2, 5, 10, 20, 50, lists) if v <= lists})
    return [10, 20, 40, 80, 160, 320]


def sweep(
    conn_target: ConnectionTarget,
    target: LabTarget,
    queries: QuerySet,
    gt: GroundTruth,
    k: int,
    grid: Sequence[Settings],
    *,
    concurrency: int = 1,
    target_recall: float = 0.95,
    on_result: Callable[[Measurement], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> Sweep:
    """Measure each setting of ``grid``; mark the Pareto front and the recommendation."""
    results: list[Measurement] = []
    for settings in grid:
        if should_stop():
            break
        m = measure(
            conn_target,
            target,
            queries,
            gt,
            k,
            settings,
            concurrency=concurrency,
            should_stop=should_stop,
        )
        if should_stop():
            break
        results.append(m)
        if on_result is not None:
            on_result(m)
    points = [(m.p50_ms, m.recall) for m in results]
    return Sweep(
        tuple(results),
        tuple(pareto_front(points)),
        cheapest_meeting(points, target_recall),
        target_recall,
    )


# --- A/B ---------------------------------------------------------------------------


def steering_settings(indexes: Sequence[VectorIndex], want: VectorIndex) -> dict[str, str]:
    """Session settings that make ``want`` the planner's choice over the other indexes.

    pgvector's maintainers suggest making an IVFFlat index unattractive with
    ``ivfflat.probes`` at its ``lists`` (its scan then costs as much as reading every
    list); that is the only lever that touches the planner per session. EXPLAIN, run by
    :func:`measure`, confirms which index actually served.
    """
    settings: dict[str, str] = {}
    for ix in indexes:
        if ix.name != want.name and ix.method == "ivfflat" and want.method != "ivfflat":
            settings["ivfflat.probes"] = str(int(ix.params.get("lists", 100)))
    return settings


@dataclass(frozen=True)
class ABResult:
    a: Measurement
    b: Measurement
    a_label: str
    b_label: str

    @property
    def confirmed(self) -> bool:
        """Each side was served by the index it meant to measure (for index A/B)."""
        return self.a.index is not None and self.b.index is not None


def measure_ab(
    conn_target: ConnectionTarget,
    target: LabTarget,
    queries: QuerySet,
    gt: GroundTruth,
    k: int,
    a: Settings,
    b: Settings,
    *,
    a_label: str,
    b_label: str,
    concurrency: int = 1,
) -> ABResult:
    """The same queries under two settings (or steered to two indexes), one after another."""
    first = measure(conn_target, target, queries, gt, k, a, concurrency=concurrency)
    second = measure(conn_target, target, queries, gt, k, b, concurrency=concurrency)
    return ABResult(first, second, a_label, b_label)
