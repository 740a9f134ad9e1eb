"""Predict an index build's graph memory, size and time from a short calibration build.

pgvector builds an HNSW graph in ``maintenance_work_mem`` and says, in a NOTICE, after how
many tuples it no longer fit. Building a sample with the smallest ``maintenance_work_mem``
(1 MB) therefore *measures* pgvector's own bytes per element on this server, for these
dimensions and this ``m``. The sample's build time (the fastest of three, since the
server may be busy) is extrapolated to the table with a fixed growth exponent and divided
by the parallel speed-up; the sample index's size gives bytes per row on disk. The
sample lives in a temporary table of vecscope's own session: nothing of it outlives the
connection, and the user's table is only read.
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
#: Timed builds of the sample; the fastest counts (a shared server is noisy).
SAMPLE_BUILDS = 3
#: Build time ~ rows ** exponent. For HNSW each insert searches a graph that grows
#: (n log n in theory); bench/migrate.py measured 1.20-1.24 from 4,000 to 100,000 rows of
#: 384-d vectors on pgvector 0.6 and 0.8, where fitting it from two sample sizes swung from
#: 1.0 to 1.35 run to run. IVFFlat's k-means works on a fixed sample; assignment is linear.
GROWTH_EXPONENT = {"hnsw": 1.2, "ivfflat": 1.0}
#: How much of each extra parallel process turns into speed (graph inserts share locks;
#: bench/migrate.py measured 1.5-1.9x for one worker plus the leader on 2 cores).
PARALLEL_EFFICIENCY = 0.65
#: Headroom above the predicted graph when choosing maintenance_work_mem.
MWM_HEADROOM = 1.25

_FITS = re.compile(r"no longer fits into maintenance_work_mem after (\d+) tuples")
_WORKERS = re.compile(r"using (\d+) parallel workers")


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
    return Calibration(n, min(times), per_row, index_bytes / n, measured)


def _timed(conn: Conn, statement: sql.Composed) -> float:
    t0 = time.perf_counter()
    _exec(conn, statement)
    return time.perf_counter() - t0


def growth_exponent(method: str) -> float:
    """How build time grows with rows for an access method (see :data:`GROWTH_EXPONENT`)."""
    return GROWTH_EXPONENT.get(method, 1.0)


def predict(
    spec: MigrationSpec,
    cal: Calibration | None,
    *,
    workers: int,
    maintenance_work_mem_kb: int,
) -> Prediction:
    """Extrapolate the calibration to the whole table with the chosen session settings."""
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
    scale = rows / max(1, cal.sample_rows)
    serial = cal.seconds * scale ** growth_exponent(spec.method)
    speedup = 1.0 + PARALLEL_EFFICIENCY * max(0, workers)
    fits = graph is None or graph <= maintenance_work_mem_kb * 1024
    return Prediction(
        rows=rows,
        graph_bytes=graph,
        index_bytes=int(cal.index_bytes_per_row * rows),
        serial_seconds=serial,
        seconds=serial / speedup,
        workers=workers,
        maintenance_work_mem_kb=maintenance_work_mem_kb,
        fits=fits,
        calibration=cal,
    )


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


def workers_used(notices: list[str]) -> int | None:
    """Parallel workers PostgreSQL reported launching (DEBUG1 'using N parallel workers')."""
    for text in notices:
        found = _WORKERS.search(text)
        if found:
            return int(found.group(1))
    return None


def graph_fit_rows(notices: list[str]) -> int | None:
    """Rows after which the graph stopped fitting, from pgvector's NOTICE."""
    for text in notices:
        found = _FITS.search(text)
        if found:
            return int(found.group(1))
    return None
