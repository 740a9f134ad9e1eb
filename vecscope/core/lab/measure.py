"""The latency and recall lab: measure a vector column's nearest-neighbour queries honestly.

Every measured query is a prepared statement on its own session with the settings under
test applied to that session only; a warm-up precedes the timed queries; percentiles come
from all samples; recall is judged against exact answers (:mod:`.groundtruth`) of the
query vectors (:mod:`.sampling`) of a column (:mod:`.target`). A sweep measures each
setting of a knob; an A/B two settings (or two indexes) one after the other.
:class:`~vecscope.core.lab.session.LabSession` is the entry both front ends call.
"""

from __future__ import annotations

import contextlib
import itertools
import re
import struct
import threading
import time
import weakref
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import psycopg
from pgvector.psycopg import register_vector
from psycopg import pq, sql
from psycopg.abc import Buffer
from psycopg.adapt import PyFormat, Transformer

from vecscope.core import db
from vecscope.core.connection import ConnectionTarget, connect, pooling_of
from vecscope.core.errors import BadInputError, ConnectError, QueryError, first_line
from vecscope.core.lab.filters import RowFilter
from vecscope.core.lab.groundtruth import (
    DEFAULT_MEMORY_BUDGET,
    GroundTruth,
    TruthMethod,
    ground_truth,
)
from vecscope.core.lab.sampling import QuerySet, load_queries, sample_queries
from vecscope.core.lab.stats import (
    Percentiles,
    Recommendation,
    bootstrap_ci,
    expected_rows,
    pareto_front,
    percentiles,
    recall_each,
    recommend,
)
from vecscope.core.lab.target import Conn, LabTarget, make_target, resolve_target
from vecscope.core.models import VectorIndex

#: Per-query statement_timeout of the measuring sessions.
QUERY_TIMEOUT_MS = 60_000

__all__ = [
    "DEFAULT_MEMORY_BUDGET",
    "ABResult",
    "Conn",
    "DumpCache",
    "GroundTruth",
    "Knob",
    "LabTarget",
    "Measurement",
    "QuerySet",
    "RawRows",
    "Sweep",
    "TimedQueries",
    "TruthMethod",
    "apply_settings",
    "default_values",
    "ground_truth",
    "judge",
    "knn_sql",
    "knob_for",
    "load_queries",
    "make_target",
    "measure",
    "measure_ab",
    "open_session",
    "resolve_target",
    "run_one",
    "run_parallel",
    "sample_queries",
    "serving_index",
    "steering_settings",
    "sweep",
]


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
    #: The 95% confidence interval of the recall (bootstrap over the queries).
    recall_low: float = float("nan")
    recall_high: float = float("nan")
    #: Rows returned per query, on average, and the share of queries that returned fewer
    #: rows than they could (k, or what their filter matches): the *shortfall*.
    returned_mean: float = float("nan")
    short_share: float = 0.0
    #: The 95% confidence interval of the short share (bootstrap over the queries).
    short_low: float = 0.0
    short_high: float = 0.0
    #: How the plan served the query (see :func:`serving_plan`).
    plan: str = ""

    @property
    def judged_recall(self) -> float:
        """The recall a target is held against: the interval's low end, and none at all
        when more than :data:`SHORT_TOLERANCE` of the queries come back short."""
        if self.short_share > SHORT_TOLERANCE:
            return 0.0
        low = self.recall_low
        return self.recall if np.isnan(low) else low

    @property
    def p50_ms(self) -> float:
        return self.latency.p50_ms

    @property
    def p95_ms(self) -> float:
        return self.latency.p95_ms

    @property
    def p99_ms(self) -> float:
        return self.latency.p99_ms


#: The share of queries that may return fewer rows than they could before a setting is
#: said not to meet the targets (one query in a hundred).
SHORT_TOLERANCE = 0.01


def knn_sql(
    target: LabTarget, k: int, extra: int, row_filter: RowFilter | None = None
) -> sql.Composed:
    """The measured query, ``k + extra`` rows (``extra``: the query's own row), under the
    application's filter when there is one."""
    if row_filter is not None:
        return db.statement(
            "lab_knn_filtered",
            key=sql.Identifier(target.key),
            column=sql.Identifier(target.column),
            operator=sql.SQL(target.operator),
            table=sql.Identifier(target.schema, target.table),
            filter=row_filter.composed(),
            limit=sql.Literal(k + extra),
        )
    return db.statement(
        "lab_knn",
        key=sql.Identifier(target.key),
        column=sql.Identifier(target.column),
        operator=sql.SQL(target.operator),
        table=sql.Identifier(target.schema, target.table),
        limit=sql.Literal(k + extra),
    )


#: Measuring sessions behind a transaction pooler, with the settings each query's own
#: transaction must set (weak: a closed session is forgotten).
_local: weakref.WeakKeyDictionary[Conn, dict[str, str]] = weakref.WeakKeyDictionary()


def open_session(conn_target: ConnectionTarget, settings: Settings) -> Conn:
    """A measuring session: our own connection, the settings applied to it alone.

    Behind a transaction pooler (:func:`~vecscope.core.connection.pooling_of`) a session
    setting would land on whichever server session ran the SET, so there the settings go
    into every measured query's own transaction instead (``set_config(..., true)``), and
    are read back once with ``current_setting`` in such a transaction to prove it.
    """
    conn = connect(conn_target, statement_timeout_ms=QUERY_TIMEOUT_MS)
    register_vector(conn)
    if pooling_of(conn_target).transaction_pooled:
        _local[conn] = {}
    apply_settings(conn, settings)
    return conn


def apply_settings(conn: Conn, settings: Settings) -> None:
    if conn in _local:
        wanted = {str(k): str(v) for k, v in settings.items()}
        _local[conn] = wanted
        _verify_local(conn, wanted)
        return
    for name, value in settings.items():
        try:
            db.execute(conn, "lab_set_config", {"name": str(name), "value": str(value)})
        except psycopg.Error as e:
            raise BadInputError(f"cannot set {name} = {value}: {first_line(e)}") from e


def _set_local(conn: Conn, settings: Mapping[str, str]) -> None:
    for name, value in settings.items():
        db.execute(conn, "lab_set_local", {"name": name, "value": value})


def _verify_local(conn: Conn, settings: Mapping[str, str]) -> None:
    """In one transaction: set, then read back, every setting (a pooled session)."""
    try:
        with conn.transaction():
            _set_local(conn, settings)
            for name, value in settings.items():
                row = db.row(conn, "lab_current_setting", {"name": name})
                got = str(row["value"]) if row else None
                if got != value:
                    raise QueryError(
                        f"{name} is {got} in the measuring transaction, not {value}: "
                        "the lab will not measure a setting it cannot prove"
                    )
    except psycopg.Error as e:
        raise BadInputError(f"cannot set {', '.join(settings)}: {first_line(e)}") from e


@contextlib.contextmanager
def _settings_applied(conn: Conn) -> Iterator[None]:
    """The measured statement's transaction: its settings first when pooled."""
    local = _local.get(conn)
    if local is None:
        yield
        return
    with conn.transaction():
        _set_local(conn, local)
        yield


def serving_index(
    conn: Conn,
    target: LabTarget,
    vector: npt.NDArray[np.float32],
    k: int,
    row_filter: RowFilter | None = None,
    params: Mapping[str, object] | None = None,
) -> str | None:
    """The index EXPLAIN says serves the lab's query on this session, or None (Seq Scan)."""
    return serving_plan(conn, target, vector, k, row_filter, params)[0]


def serving_plan(
    conn: Conn,
    target: LabTarget,
    vector: npt.NDArray[np.float32],
    k: int,
    row_filter: RowFilter | None = None,
    params: Mapping[str, object] | None = None,
) -> tuple[str | None, str]:
    """The vector index EXPLAIN says serves the query on this session (None: none), and
    how the plan serves it: ``index scan``, ``index scan, filter after`` (candidates
    filtered after the index hands them back), ``iterative index scan, filter after``,
    ``<index> + sort`` (a B-tree or bitmap scan on the filter, then an exact sort), or
    ``seq scan + sort``."""
    stmt = db.statement("lab_explain", query=knn_sql(target, k, 0, row_filter))
    with _settings_applied(conn):
        rows = conn.execute(stmt, {"q": vector, **(params or {})}).fetchone()
        iterative = _iterative(conn, target)
    plan = rows[0][0]["Plan"] if rows else {}
    stack = [plan]
    scans: list[dict[str, Any]] = []
    while stack:
        node = stack.pop()
        if node.get("Order By") and node.get("Index Name"):
            how = "index scan"
            if node.get("Filter"):
                how = ("iterative " if iterative else "") + "index scan, filter after"
            return str(node["Index Name"]), how
        if str(node.get("Node Type", "")).endswith("Scan"):
            scans.append(node)
        stack.extend(node.get("Plans", []))
    for node in scans:
        if node.get("Index Name"):
            return None, f"{node['Index Name']} + sort"
    return None, "seq scan + sort"


#: Distinct filters whose plans are asked for (the most frequent among the queries).
PLANNED_FILTERS = 8


def _plans(conn: Conn, target: LabTarget, queries: QuerySet, k: int) -> tuple[str | None, str]:
    """The serving index and plan; under a filter whose values differ per query, the
    plans of the most frequent filters (the planner may choose the vector index for a
    big tenant and a B-tree and a sort for a small one), e.g. ``index scan, filter after
    (5 of 8 filters); doc_chunks_tenant_id_idx + sort (3 of 8)``."""
    flt = queries.filter
    if flt is None or not flt.per_query or queries.filter_values is None:
        return serving_plan(conn, target, queries.vectors[0], k, flt, queries.filter_params(0))
    first: dict[tuple[object, ...], int] = {}
    for i, values in enumerate(queries.filter_values):
        first.setdefault(values, i)
    counts = Counter(queries.filter_values)
    asked = sorted(first, key=lambda v: -counts[v])[:PLANNED_FILTERS]
    found = [
        serving_plan(
            conn, target, queries.vectors[first[v]], k, flt, queries.filter_params(first[v])
        )
        for v in asked
    ]
    kinds = Counter(plan for _, plan in found)
    index = next((ix for ix, _ in found if ix is not None), None)
    if len(kinds) == 1:
        return index, found[0][1]
    return index, "; ".join(
        f"{plan} ({n} of {len(found)} filters)" for plan, n in kinds.most_common()
    )


def _iterative(conn: Conn, target: LabTarget) -> bool:
    """Whether this session's iterative scan setting for the target's method is on."""
    method = target.index.method if target.index else "hnsw"
    row = db.row(conn, "lab_current_setting", {"name": f"{method}.iterative_scan"})
    value = row["value"] if row is not None else None
    return value is not None and str(value) != "off"


def run_one(
    conn: Conn,
    stmt: bytes | sql.Composed,
    vec: npt.NDArray[np.float32],
    params: Mapping[str, object] | None = None,
) -> tuple[float, list[tuple[int, float]]]:
    """One timed query: only the round trip and fetching the rows are inside the timer.

    Behind a transaction pooler the query runs unprepared in its own transaction with the
    settings set first, all sent in one pipeline (one round trip, as a prepared query is).
    The lab's own loops use :class:`TimedQueries`, which dumps each query's parameters
    once and runs the prepared statement through libpq directly; this is the plain form
    (psycopg's cursor, the parameters adapted on every call) and the pooled path.
    """
    local = _local.get(conn)
    if local is not None:
        t0 = time.perf_counter_ns()
        with conn.pipeline(), conn.transaction():
            _set_local(conn, local)
            cur = conn.execute(stmt, {"q": vec, **params} if params else {"q": vec})
        rows = cur.fetchall()
        elapsed = (time.perf_counter_ns() - t0) / 1e6
        return elapsed, [(int(r[0]), float(r[1])) for r in rows]
    t0 = time.perf_counter_ns()
    args = {"q": vec, **params} if params else {"q": vec}
    rows = conn.execute(stmt, args, prepare=True).fetchall()
    elapsed = (time.perf_counter_ns() - t0) / 1e6
    return elapsed, [(int(r[0]), float(r[1])) for r in rows]


# --- the timed loop ----------------------------------------------------------------
#
# psycopg's cursor costs tens of microseconds of Python per query (building the
# parameters, adapting the vector, looking the prepared statement up, loading the rows),
# about a fifth of a 0.4 ms query, all of it on the timed path of a single client. The
# lab's loops therefore dump each query's parameters once, exactly as psycopg would send
# them (same bytes, same types, same formats, by psycopg's own Transformer), prepare the
# statement once per session, and time only libpq's PQexecPrepared (GIL released), with
# the rows asked for in binary (an int8 and a float8) and kept as libpq's result until
# the loop is over: then decoded, one struct call a row, to the very values psycopg's
# text loaders give. Measured on a tiny table (client CPU per query): ~90 us through
# psycopg's cursor, ~16 us this way, ~15 us for PQexecPrepared alone.

#: The measured statement's placeholders: ``%(name)s`` (and ``%%``), as psycopg reads them.
_PLACEHOLDER = re.compile(rb"%(?:\(([^)]+)\)(.)|(.))", re.DOTALL)
#: A result row in binary: the key as int8, the distance as float8.
_ROW = struct.Struct(">qd")
_INT8 = struct.Struct(">q")
_FLOAT8 = struct.Struct(">d")
_INT8_OID = 20
_FLOAT8_OID = 701
_BINARY = pq.Format.BINARY
_TUPLES_OK = pq.ExecStatus.TUPLES_OK
_statement_names = itertools.count(1)


def _server_form(stmt: bytes) -> tuple[bytes, tuple[str, ...]] | None:
    """``stmt`` with ``$n`` for its named placeholders (one number per name, as psycopg
    numbers them) and the names in order; None when it holds anything else (positional
    or non-``s`` placeholders), which the plain path then runs."""
    names: list[str] = []
    out: list[bytes] = []
    at = 0
    for m in _PLACEHOLDER.finditer(stmt):
        out.append(stmt[at : m.start()])
        at = m.end()
        if m.group(3) == b"%":
            out.append(b"%")
            continue
        if m.group(1) is None or m.group(2) != b"s":
            return None
        name = m.group(1).decode()
        if name not in names:
            names.append(name)
        out.append(b"$%d" % (names.index(name) + 1))
    out.append(stmt[at:])
    return b"".join(out), tuple(names)


@dataclass(frozen=True, slots=True)
class _Dumped:
    """One query's parameters as psycopg sends them."""

    values: tuple[Buffer, ...]
    types: tuple[int, ...]
    formats: tuple[pq.Format, ...]


#: Each query's dumped parameters by placeholder names (shared by a run's sessions).
DumpCache = dict[tuple[str, ...], list[_Dumped]]


def _dump_all(conn: Conn, queries: QuerySet, names: tuple[str, ...]) -> list[_Dumped] | None:
    """Every query's parameters in ``names`` order, dumped by psycopg's own adapters
    (``register_vector``'s for the vector); None when a name has no value."""
    dumped: list[_Dumped] = []
    autos = [PyFormat.AUTO] * len(names)
    for i in range(len(queries)):
        given: dict[str, object] = {"q": queries.vectors[i], **queries.filter_params(i)}
        if any(n not in given for n in names):
            return None
        tx = Transformer.from_context(conn)
        values = tx.dump_sequence([given[n] for n in names], autos)
        # libpq sends None as NULL (its wrapper's annotation leaves that out).
        sent = cast("tuple[Buffer, ...]", tuple(values))
        dumped.append(_Dumped(sent, tuple(tx.types or ()), tuple(tx.formats or ())))
    return dumped


#: Statements prepared by :class:`TimedQueries`, per session: (query, types) -> name.
_prepared: weakref.WeakKeyDictionary[Conn, dict[tuple[bytes, tuple[int, ...]], bytes]] = (
    weakref.WeakKeyDictionary()
)


def _prepare(conn: Conn, query: bytes, types: tuple[int, ...]) -> bytes:
    known = _prepared.setdefault(conn, {})
    name = known.get((query, types))
    if name is not None:
        return name
    name = b"vecscope_lab_%d" % next(_statement_names)
    with conn.lock:
        res = conn.pgconn.prepare(name, query, types)
        _check(conn, res, pq.ExecStatus.COMMAND_OK)
        desc = conn.pgconn.describe_prepared(name)
        _check(conn, desc, pq.ExecStatus.COMMAND_OK)
    if desc.nfields != 2 or (desc.ftype(0), desc.ftype(1)) != (_INT8_OID, _FLOAT8_OID):
        raise QueryError("the measured statement must return an int8 key and a float8 distance")
    known[(query, types)] = name
    return name


def _check(conn: Conn, res: pq.abc.PGresult, want: pq.ExecStatus) -> None:
    """psycopg's exception for a failed result, as its cursor would raise it."""
    if res.status == want:
        return
    if conn.pgconn.status != pq.ConnStatus.OK:
        raise psycopg.OperationalError(
            res.get_error_message(conn.info.encoding) or "the connection was lost"
        )
    raise psycopg.errors.error_from_result(res, encoding=conn.info.encoding)


def _rows(res: pq.abc.PGresult) -> list[tuple[int, float]]:
    get = res.get_value
    try:
        return [_ROW.unpack(get(j, 0) + get(j, 1)) for j in range(res.ntuples)]  # type: ignore[operator]
    except TypeError:  # a NULL: a row without a vector (it sorts last) has no distance
        return [
            (
                _INT8.unpack(get(j, 0) or bytes(8))[0],
                _FLOAT8.unpack(d)[0] if (d := get(j, 1)) is not None else float("nan"),
            )
            for j in range(res.ntuples)
        ]


#: What :meth:`TimedQueries.run_raw` hands back: libpq's result, undecoded (the fast path),
#: or the rows already decoded (the plain path).
RawRows = pq.abc.PGresult | list[tuple[int, float]]


class TimedQueries:
    """The measured statement on one session, ready to time any query of ``queries``.

    Built outside the timed loop: the statement is prepared on the session (once per
    session and statement), and every query's parameters are dumped once (``dumps``,
    shared between a run's sessions). :meth:`run_raw` then times only the round trip and
    keeps libpq's result as it is; :meth:`rows` decodes it, after the loop. Behind a
    transaction pooler, or for a statement the fast path cannot take, it is
    :func:`run_one`.
    """

    def __init__(
        self,
        conn: Conn,
        stmt: bytes | sql.Composed,
        queries: QuerySet,
        dumps: DumpCache | None = None,
    ) -> None:
        self.conn = conn
        self.stmt = stmt.as_bytes(conn) if isinstance(stmt, sql.Composed) else stmt
        self.queries = queries
        #: Each query's (statement name, parameter values, formats); None: the plain path.
        self._calls: list[tuple[bytes, tuple[Buffer, ...], tuple[pq.Format, ...]]] | None = None
        # Pooled sessions never prepare (their statement may meet another server session).
        pooled = conn in _local or conn.prepare_threshold is None
        form = None if pooled else _server_form(self.stmt)
        if form is None:
            return
        query, names = form
        cache = dumps if dumps is not None else {}
        dumped = cache.get(names)
        if dumped is None:
            dumped = _dump_all(conn, queries, names)
            if dumped is None:
                return
            cache[names] = dumped
        prepared = {types: _prepare(conn, query, types) for types in {d.types for d in dumped}}
        self._calls = [(prepared[d.types], d.values, d.formats) for d in dumped]

    def run(self, i: int) -> tuple[float, list[tuple[int, float]]]:
        """Query ``i``, timed: (milliseconds, its (key, distance) rows)."""
        ms, raw = self.run_raw(i)
        return ms, self.rows(raw)

    def run_raw(self, i: int) -> tuple[float, RawRows]:
        """Query ``i``, timed: (milliseconds, its rows for :meth:`rows`).

        Nothing is allocated or decoded on the timed path but libpq's own result.

        Raises:
            psycopg.Error: as psycopg's cursor raises it (OperationalError for a lost
                connection, the SQLSTATE's class for a failed query).
        """
        calls = self._calls
        if calls is None:
            return run_one(
                self.conn, self.stmt, self.queries.vectors[i], self.queries.filter_params(i)
            )
        name, values, formats = calls[i]
        conn = self.conn
        with conn.lock:
            t0 = time.perf_counter_ns()
            res = conn.pgconn.exec_prepared(name, values, formats, _BINARY)
            t1 = time.perf_counter_ns()
        if res.status != _TUPLES_OK:
            _check(conn, res, _TUPLES_OK)
        return (t1 - t0) / 1e6, res

    @staticmethod
    def rows(raw: RawRows) -> list[tuple[int, float]]:
        """The (key, distance) rows of :meth:`run_raw`'s result."""
        return raw if isinstance(raw, list) else _rows(raw)


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


@dataclass(frozen=True)
class Judged:
    """Each query's recall and rows, against its exact answer."""

    recalls: npt.NDArray[np.float64]
    #: Rows each query returned (its own row left out).
    returned: npt.NDArray[np.int64]
    #: Whether each query returned fewer rows than it could (k, or what exists).
    short: npt.NDArray[np.bool_]

    @property
    def recall(self) -> float:
        return float(self.recalls.mean()) if self.recalls.size else float("nan")

    def ci(self) -> tuple[float, float]:
        return bootstrap_ci(self.recalls)


def judge_each(
    results: Sequence[list[tuple[int, float]]],
    queries: QuerySet,
    gt: GroundTruth,
    k: int,
    order: Sequence[int],
) -> Judged:
    returned: list[list[float]] = []
    truths = []
    counts = []
    short = []
    for qi, rows in zip(order, results, strict=True):
        own = int(queries.self_ids[qi]) if queries.self_ids is not None else None
        dists = [d for key, d in rows if key != own][:k]
        returned.append(dists)
        truths.append(gt.distances[qi])
        counts.append(len(dists))
        short.append(len(dists) < expected_rows(gt.distances[qi], k))
    truth = np.asarray(truths) if truths else np.zeros((0, k))
    return Judged(
        recall_each(returned, truth, k),
        np.asarray(counts, dtype=np.int64),
        np.asarray(short, dtype=np.bool_),
    )


def judge(
    results: Sequence[list[tuple[int, float]]],
    queries: QuerySet,
    gt: GroundTruth,
    k: int,
    order: Sequence[int],
) -> float:
    """Mean recall@k of ``results`` (see :func:`judge_each`)."""
    return judge_each(results, queries, gt, k, order).recall


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
    flt = queries.filter
    sessions = [open_session(conn_target, settings) for _ in range(concurrency)]
    try:
        # Rendered, prepared and the parameters dumped once, outside the timed loop.
        stmt = knn_sql(target, k, extra, flt).as_bytes(sessions[0])
        dumps: DumpCache = {}
        timed = [TimedQueries(s, stmt, queries, dumps) for s in sessions]
        index, plan = _plans(sessions[0], target, queries, k + extra)
        warm = len(queries) if warmup is None else warmup
        for i in range(min(warm, len(queries))):
            timed[i % concurrency].run(i)
        latencies = np.zeros(len(queries), dtype=np.float64)
        raws: list[RawRows] = [[] for _ in range(len(queries))]
        ran = np.zeros(len(queries), dtype=np.bool_)

        def worker(w: int) -> None:
            run = timed[w].run_raw
            for i in range(w, len(queries), concurrency):
                if should_stop():
                    return
                latencies[i], raws[i] = run(i)
                ran[i] = True

        wall = run_parallel(worker, concurrency)
    except psycopg.OperationalError as e:
        raise ConnectError(f"connection lost during the measurement: {first_line(e)}") from e
    except psycopg.Error as e:
        raise QueryError(f"measurement failed: {first_line(e)}") from e
    finally:
        for s in sessions:
            s.close()
    # A query that ran may have returned nothing (a filter, a truncated scan): it counts.
    done = [i for i in range(len(queries)) if ran[i]]
    # Decoded after the clock: the timed loop kept libpq's results as they came.
    judged = judge_each([TimedQueries.rows(raws[i]) for i in done], queries, gt, k, done)
    low, high = judged.ci()
    short_ci = bootstrap_ci(judged.short.astype(np.float64)) if done else (0.0, 0.0)
    return Measurement(
        dict(settings),
        k,
        len(done),
        concurrency,
        percentiles(latencies[done]),
        len(done) / wall if wall else 0.0,
        judged.recall,
        index,
        latencies[done],
        recall_low=low,
        recall_high=high,
        returned_mean=float(judged.returned.mean()) if done else float("nan"),
        short_share=float(judged.short.mean()) if done else 0.0,
        short_low=short_ci[0],
        short_high=short_ci[1],
        plan=plan,
    )


# --- sweeps ------------------------------------------------------------------------


@dataclass(frozen=True)
class Sweep:
    measurements: tuple[Measurement, ...]
    pareto: tuple[int, ...]
    #: The cheapest setting meeting the recall and latency targets, or which none meets.
    verdict: Recommendation

    @property
    def recommendation(self) -> int | None:
        return self.verdict.index

    @property
    def target_recall(self) -> float:
        return self.verdict.target_recall


class Knob(StrEnum):
    """The query-time setting the lab turns: the serving index's recall/speed knob."""

    EF_SEARCH = "hnsw.ef_search"
    PROBES = "ivfflat.probes"


def knob_for(target: LabTarget) -> Knob:
    return Knob.PROBES if target.index and target.index.method == "ivfflat" else Knob.EF_SEARCH


def default_values(target: LabTarget) -> list[int]:
    if knob_for(target) == Knob.PROBES:
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
    target_latency_ms: float | None = None,
    on_result: Callable[[Measurement], None] | None = None,
    should_stop: Callable[[], bool] = lambda: False,
) -> Sweep:
    """Measure each setting of ``grid``; mark the Pareto front and the recommendation
    (the cheapest setting whose recall and p50 meet both targets, see :func:`recommend`)."""
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
    points = [(m.p50_ms, m.judged_recall) for m in results]
    return Sweep(
        tuple(results),
        tuple(pareto_front(points)),
        recommend(points, target_recall, target_latency_ms),
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
