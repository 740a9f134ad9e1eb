"""Predict an index build's graph memory, size and time from a short calibration build.

pgvector builds an HNSW graph in ``maintenance_work_mem`` and says, in a NOTICE, after how
many tuples it no longer fit. Building a sample with the smallest ``maintenance_work_mem``
(1 MB) therefore *measures* pgvector's own bytes per element on this server, for these
dimensions and this ``m``. The sample's build time (the fastest of three, since the
server may be busy) is extrapolated to the table with a fixed growth exponent and divided
by the parallel speed-up; the sample index's size gives bytes per row on disk. The
sample lives in a temporary table of vecscope's own session: nothing of it outlives the
connection, and the user's table is only read.

A prediction is a point and a range. The range is honest about what a sample cannot
know: how noisy the server is (the spread of the sample's builds), how far the growth
exponent may be off at this scale, and whether the parallel workers find free cores (from
no speed-up at all on a busy server to the full one on an idle server).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from vecscope.core import db
from vecscope.core.errors import QueryError, first_line
from vecscope.core.migrate.plan import MigrationSpec

Conn = psycopg.Connection[TupleRow]

#: Rows in the timed calibration sample.
SAMPLE_ROWS = 4_000
#: pgvector's smallest maintenance_work_mem (PostgreSQL's floor is 1 MB).
MIN_MWM_KB = 1024
#: Timed builds of the sample; the fastest is the point estimate (a shared server is
#: noisy), the slowest bounds the range.
SAMPLE_BUILDS = 3
#: Build time ~ rows ** exponent, the exponent from the sample's size to the table's at
#: GROWTH_REFERENCE_SCALE (4,000 -> 1,000,000 rows). For HNSW each insert searches a graph
#: that grows (n log n in theory), so the exponent fitted from a small sample falls as the
#: table grows: GROWTH_CURVATURE per e-fold of scale. Measured (384-d, m 16,
#: ef_construction 64, serial, graph in memory, pgvector 0.8.6, PostgreSQL 18, shared
#: 2-core machine; bench/scale.py --growth): from 4,000 rows (1.2 s) to 20,000 1.265,
#: 50,000 1.227, 100,000 1.172 (200,000: 1.26 on a machine at load 3.5, discounted);
#: earlier bench/migrate.py runs 1.20-1.24 to 100,000 rows. At 1,000,000 rows the old
#: 1.2 predicted 1.48-1.74x too long: measured builds fit 1.10-1.13. So 1.13 at 250x,
#: rising by 0.03 per e-fold below it (1.20 at 25x, 1.25 at 5x, matching the above).
#: Checked since: bench/migrate.py at 50,000 rows, serial build 0.99x its prediction
#: (fitted 1.225, model 1.22); bench/scale.py at 1,000,000 rows, 797 s against 765 s
#: predicted (0.96x; its worker gave ~nothing on the loaded machine: fitted 1.138).
#: IVFFlat's k-means works on a fixed sample; assignment is linear.
GROWTH_EXPONENT = {"hnsw": 1.13, "ivfflat": 1.0}
GROWTH_REFERENCE_SCALE = 250.0
GROWTH_CURVATURE = {"hnsw": 0.03}
#: How far the exponent may be off either way: the range of the prediction widens by
#: (rows / sample) ** this.
GROWTH_UNCERTAINTY = {"hnsw": 0.04, "ivfflat": 0.03}
#: How much of each extra parallel process turns into speed on an idle server (graph
#: inserts share locks; bench/migrate.py measured 1.5-1.9x for one worker plus the leader
#: on 2 cores). On a busy server the workers find no free core and it is nearer 1x.
PARALLEL_EFFICIENCY = 0.65
#: How much of the speed-up a fully busy server (at preflight) takes off the point
#: estimate. Not all of it: the load at preflight says little about the load during a
#: build minutes long. Measured on the shared 2-core machine, both with the load average
#: above the cores at preflight: 50,000 rows, the worker gave 1.62x (the serial build was
#: predicted 0.99x); 1,000,000 rows, it gave ~1.0x (797 s against 765 s predicted serial).
#: Half the speed-up puts both within 30%; the range holds both extremes anyway.
BUSY_DISCOUNT = 0.5
#: Headroom above the predicted graph when choosing maintenance_work_mem.
MWM_HEADROOM = 1.25

_FITS = re.compile(r"no longer fits into maintenance_work_mem after (\d+) tuples")
_WORKERS = re.compile(r"using (\d+) parallel workers?\b")
_WORKER_DONE = re.compile(r"^worker processed \d+ tuples")
_LEADER_DONE = re.compile(r"^leader processed \d+ tuples")
_BUILDING = re.compile(r'^building index ".*" on table ".*"')
_SERIALLY = re.compile(r"\bserially\b")


@dataclass(frozen=True, slots=True)
class Calibration:
    sample_rows: int
    #: Seconds to build the sample (serial, graph in memory), the fastest of a few builds.
    seconds: float
    #: pgvector's own accounting: bytes of graph per element (None: not measurable).
    graph_bytes_per_row: float | None
    index_bytes_per_row: float
    #: True when the bytes per element came from the NOTICE, not the formula.
    memory_measured: bool
    #: Every timed build of the sample, in order (``seconds`` is the fastest).
    times: tuple[float, ...] = ()

    @property
    def slowest(self) -> float:
        """The slowest timed build of the sample (``seconds`` when only one was kept)."""
        return max(self.times, default=self.seconds)


@dataclass(frozen=True, slots=True)
class Prediction:
    rows: int
    graph_bytes: int | None
    index_bytes: int
    serial_seconds: float
    seconds: float
    workers: int
    maintenance_work_mem_kb: int
    #: True when the graph will fit in the chosen maintenance_work_mem.
    fits: bool
    calibration: Calibration | None
    #: The range the build should fall in (0 without a calibration): see :func:`predict`.
    low_seconds: float = 0.0
    high_seconds: float = 0.0
    #: The speed-up ``seconds`` counts on from the workers (1.0: none).
    speedup: float = 1.0

    @property
    def range_text(self) -> str:
        """``"~17 s (range 11-34 s)"``; ``""`` without a calibration."""
        if not self.seconds:
            return ""
        return f"~{_secs(self.seconds)} (range {_span(self.low_seconds, self.high_seconds)})"

    @property
    def workers_text(self) -> str:
        """What the workers promise, worded as what they are: a possibility."""
        return workers_text(self.workers)


def _secs(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds >= 10 else f"{seconds:.1f} s"


def _span(low: float, high: float) -> str:
    fmt = ".0f" if low >= 10 else ".1f"
    return f"{low:{fmt}}-{_secs(high)}"


def workers_text(workers: int) -> str:
    """``"up to 1 parallel worker plus the leader, if the server has them free"``."""
    if workers <= 0:
        return "0 parallel worker(s): the leader builds alone"
    noun = "worker" if workers == 1 else "workers"
    return f"up to {workers} parallel {noun} plus the leader, if the server has them free"


def formula_graph_bytes_per_row(spec: MigrationSpec) -> float:
    """pgvector's in-memory element, roughly: value, element header and neighbour lists."""
    dims = spec.dims or 0
    value = {"halfvec": 2 * dims, "bit": dims / 8}.get(spec.column_type, 4 * dims) + 8
    m = int(spec.params.get("m", 16))
    # Level 0 keeps 2m neighbours; on average 1/(m-1) more levels keep m each.
    neighbours = 2 * m + m / max(1, m - 1)
    return value + 160 + neighbours * 16


def _exec(conn: Conn, query: sql.Composed) -> None:
    try:
        conn.execute(query)
    except psycopg.Error as e:
        raise QueryError(f"calibration failed: {first_line(e)}") from e


def _index_sql(spec: MigrationSpec, table: str) -> sql.Composed:
    params = sql.SQL(", ").join(
        sql.SQL("{} = {}").format(sql.SQL(k), sql.Literal(int(v))) for k, v in spec.params.items()
    )
    return db.statement(
        "migrate_calibration_index",
        tbl=sql.Identifier(table),
        method=sql.SQL(spec.method),
        opclass=sql.SQL(spec.opclass),
        params=params,
    )


def _count(conn: Conn) -> int:
    got = db.row(conn, "migrate_calibration_count")
    return int(got["n"]) if got else 0


def _memory(kb: int) -> sql.Composed:
    return db.statement("migrate_calibration_memory", mwm=sql.Literal(f"{kb}kB"))


def calibrate(conn: Conn, spec: MigrationSpec, sample_rows: int = SAMPLE_ROWS) -> Calibration:
    """Build the target index on a sample in a temporary table and measure it.

    The connection must be in autocommit; everything happens in one transaction that is
    rolled back, so the temporary tables disappear even before the session ends.
    """
    notices: list[str] = []

    def keep(diag: psycopg.errors.Diagnostic) -> None:
        if diag.message_primary:
            notices.append(diag.message_primary)

    expr = sql.SQL(spec.expression) if spec.expression else sql.Identifier(spec.column)
    rows = max(spec.rows, 1)
    percent = min(100.0, 100.0 * sample_rows * 1.5 / rows)
    conn.add_notice_handler(keep)
    try:
        with conn.transaction(force_rollback=True):
            _exec(conn, db.statement("migrate_calibration_no_timeout"))
            _exec(conn, db.statement("migrate_calibration_serial"))
            _exec(
                conn,
                db.statement(
                    "migrate_calibration_sample",
                    expr=expr,
                    tbl=sql.Identifier(spec.schema, spec.table),
                    pct=sql.Literal(percent),
                    n=sql.Literal(sample_rows),
                ),
            )
            n = _count(conn)
            if n < 50:
                _exec(conn, db.statement("migrate_calibration_truncate"))
                _exec(
                    conn,
                    db.statement(
                        "migrate_calibration_fill",
                        expr=expr,
                        tbl=sql.Identifier(spec.schema, spec.table),
                        n=sql.Literal(sample_rows),
                    ),
                )
                n = _count(conn)
            if n == 0:
                raise QueryError("calibration failed: the column holds no vectors")
            roomy = max(MIN_MWM_KB, int(n * formula_graph_bytes_per_row(spec) * 2 / 1024))
            _exec(conn, _memory(roomy))
            times = []
            index_bytes = 0
            for _ in range(SAMPLE_BUILDS):
                times.append(_timed(conn, _index_sql(spec, "vecscope_calibration")))
                size = db.row(conn, "migrate_calibration_index_size")
                if size:
                    index_bytes = int(size["bytes"])
                    _exec(
                        conn,
                        db.statement("migrate_calibration_drop_index", index=sql.SQL(size["name"])),
                    )
            per_row: float | None = None
            measured = False
            if spec.method == "hnsw":
                formula = formula_graph_bytes_per_row(spec)
                per_row = formula
                if n * formula > MIN_MWM_KB * 1024 * 1.2:
                    fit_rows = min(n, int(MIN_MWM_KB * 1024 * 1.5 / formula) + 50)
                    _exec(
                        conn,
                        db.statement("migrate_calibration_fit_sample", n=sql.Literal(fit_rows)),
                    )
                    _exec(conn, _memory(MIN_MWM_KB))
                    notices.clear()
                    _exec(conn, _index_sql(spec, "vecscope_memory"))
                    for text in notices:
                        found = _FITS.search(text)
                        if found and int(found.group(1)) > 0:
                            per_row = MIN_MWM_KB * 1024 / int(found.group(1))
                            measured = True
    finally:
        conn.remove_notice_handler(keep)
    return Calibration(n, min(times), per_row, index_bytes / n, measured, tuple(times))


def _timed(conn: Conn, statement: sql.Composed) -> float:
    t0 = time.perf_counter()
    _exec(conn, statement)
    return time.perf_counter() - t0


def growth_exponent(method: str, scale: float | None = None) -> float:
    """How build time grows with rows for an access method (see :data:`GROWTH_EXPONENT`),
    from a sample to ``scale`` times its rows (None: at the reference scale)."""
    base = GROWTH_EXPONENT.get(method, 1.0)
    if scale is None or scale <= 1.0:
        return base
    bend = GROWTH_CURVATURE.get(method, 0.0) * math.log(GROWTH_REFERENCE_SCALE / scale)
    return max(1.0, base + bend)


def predict(
    spec: MigrationSpec,
    cal: Calibration | None,
    *,
    workers: int,
    maintenance_work_mem_kb: int,
    busy: float | None = None,
    slowed: float = 1.0,
) -> Prediction:
    """Extrapolate the calibration to the whole table with the chosen session settings.

    ``busy``: the share of the server's cores other work keeps busy (0..1; the load
    average over the cores), when known. The point estimate counts on the workers'
    speed-up, less :data:`BUSY_DISCOUNT` of it on a fully busy server; the range goes from
    the full speed-up on the fastest sample build with the exponent
    ``GROWTH_UNCERTAINTY`` lower, to no speed-up at all on the slowest sample build with
    the exponent that much higher.

    ``slowed``: how much other work slowed the sample's builds (>= 1; see
    :func:`calibration_slowdown`): a build on a server that has quietened since could be
    that much faster, so the range's low end is divided by it.
    """
    rows = max(spec.rows, 1)
    if cal is None:
        graph = formula_graph_bytes_per_row(spec) * rows if spec.method == "hnsw" else None
        return Prediction(
            rows,
            int(graph) if graph else None,
            0,
            0.0,
            0.0,
            workers,
            maintenance_work_mem_kb,
            True,
            None,
        )
    per_row = cal.graph_bytes_per_row
    graph = int(per_row * rows) if per_row is not None else None
    scale = max(1.0, rows / max(1, cal.sample_rows))
    exponent = growth_exponent(spec.method, scale)
    spread = GROWTH_UNCERTAINTY.get(spec.method, 0.03)
    serial = cal.seconds * scale**exponent
    full = parallel_speedup(workers)
    free = 1.0 if busy is None else 1.0 - BUSY_DISCOUNT * min(1.0, max(0.0, busy))
    speedup = 1.0 + (full - 1.0) * free
    low = cal.seconds * scale ** (exponent - spread) / full / max(1.0, slowed)
    high = cal.slowest * scale ** (exponent + spread)
    fits = graph is None or graph <= maintenance_work_mem_kb * 1024
    seconds = serial / speedup
    return Prediction(
        rows=rows,
        graph_bytes=graph,
        index_bytes=int(cal.index_bytes_per_row * rows),
        serial_seconds=serial,
        seconds=seconds,
        workers=workers,
        maintenance_work_mem_kb=maintenance_work_mem_kb,
        fits=fits,
        calibration=cal,
        low_seconds=min(low, seconds),
        high_seconds=max(high, seconds),
        speedup=speedup,
    )


def parallel_speedup(workers: int) -> float:
    """The speed-up ``workers`` parallel workers plus the leader give on an idle server."""
    return 1.0 + PARALLEL_EFFICIENCY * max(0, workers)


def calibration_slowdown(load_average: float, cores: int | None, own: float = 0.0) -> float:
    """How much other work slowed a serial build: with L other runnable processes on C
    cores one process gets C / (L + 1) of a core when that is below one (1.0: not slowed,
    or the cores unknown). Measured: a 4,000-row sample took 1.49 s at load ~2.5 and
    4.77 s at load ~5.5 on 2 cores; the formula says 1.7x and 3.2x."""
    if not cores or cores <= 0:
        return 1.0
    others = max(0.0, load_average - own)
    return max(1.0, (others + 1.0) / cores)


def busy_share(load_average: float, cores: int | None, own: float = 0.0) -> float | None:
    """The share of ``cores`` other work keeps busy, from the 1-minute load average less
    ``own`` (what vecscope's own calibration added); None when the cores are unknown."""
    if not cores or cores <= 0:
        return None
    return min(1.0, max(0.0, (load_average - own) / cores))


def choose_memory_kb(graph_bytes: int | None, current_kb: int, cap_kb: int) -> int:
    """The session's maintenance_work_mem: room for the graph, never above the cap."""
    if graph_bytes is None:
        return current_kb
    wanted = int(math.ceil(graph_bytes * MWM_HEADROOM / 1024 / 1024)) * 1024
    return max(current_kb, min(wanted, cap_kb))


def memory_to_fit_kb(spec: MigrationSpec, notices: Sequence[str], graph_bytes: int | None) -> int:
    """maintenance_work_mem that would have held the whole graph (0: cannot say).

    The prediction, or, when the graph spilled after N tuples, what pgvector's own
    accounting says: the session's maintenance_work_mem times rows / N (whichever is more).
    """
    wanted = graph_bytes or 0
    spilled = graph_fit_rows(list(notices))
    if spilled and spec.maintenance_work_mem_kb:
        wanted = max(wanted, spec.maintenance_work_mem_kb * 1024 * spec.rows // spilled)
    if not wanted:
        return 0
    return int(math.ceil(wanted * MWM_HEADROOM / 1024 / 1024)) * 1024


def ivfflat_memory_bytes(spec: MigrationSpec) -> int:
    """IVFFlat's k-means needs its samples (50 per list) and centers in maintenance_work_mem."""
    dims = spec.dims or 0
    lists = int(spec.params.get("lists", 100))
    vec = 4 * dims + 8
    samples = min(spec.rows, lists * 50)
    return samples * vec + 2 * lists * vec


def workers_used(notices: Sequence[str]) -> int | None:
    """Parallel workers that really took part in the build, from every notice that says.

    pgvector says ``using N parallel workers`` (DEBUG1) when it launched them, and each
    participant says ``leader processed N tuples`` or ``worker processed N tuples`` when it
    is done; PostgreSQL's own ``building index ... serially`` only means PostgreSQL itself
    planned no workers (pgvector plans its own), so it counts only when nothing else says.
    Builds are told apart by PostgreSQL's ``building index`` notice at each start (a
    partitioned table's partitions each build): the most any build used. None when no
    notice says anything about workers.
    """
    best: int | None = None
    launched: int | None = None
    reported = 0
    serial = False

    def settle() -> None:
        nonlocal best
        used = max(launched or 0, reported)
        if launched is not None or reported or serial:
            best = max(best or 0, used)

    for text in notices:
        if _BUILDING.search(text):
            settle()
            launched, reported = None, 0
            serial = bool(_SERIALLY.search(text))
            continue
        found = _WORKERS.search(text)
        if found:
            launched = max(launched or 0, int(found.group(1)))
        elif _WORKER_DONE.search(text):
            reported += 1
        elif _LEADER_DONE.search(text) and launched is None:
            launched = 0
        elif _SERIALLY.search(text):
            serial = True
    settle()
    return best


def workers_used_text(workers: int) -> str:
    """What :func:`workers_used` found, in words."""
    if workers <= 0:
        return "built serially (no parallel worker took part)"
    noun = "worker" if workers == 1 else "workers"
    return f"{workers} parallel {noun} plus the leader took part"


def is_workers_notice(text: str) -> bool:
    """A notice :func:`workers_used` reads (shown as its conclusion, not as itself)."""
    return any(p.search(text) for p in (_WORKERS, _WORKER_DONE, _LEADER_DONE, _BUILDING, _SERIALLY))


def graph_fit_rows(notices: list[str]) -> int | None:
    """Rows after which the graph stopped fitting, from pgvector's NOTICE."""
    for text in notices:
        found = _FITS.search(text)
        if found:
            return int(found.group(1))
    return None
