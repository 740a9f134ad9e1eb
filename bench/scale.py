"""Benchmark: vecscope at scale (issue #14): 1,000,000 rows of 384-d vectors.

What it measures, on its own embedded PostgreSQL + pgvector (in a temporary directory, or
in ``--data-dir`` so that the tables, which take minutes to load, are kept between runs):

* **load**: ``public.items (id bigint PRIMARY KEY, embedding vector(384))`` with
  ``--rows`` (default 1,000,000) clustered unit vectors (``core.demo.embeddings``, the
  demo's MiniLM-like topics), generated ``CHUNK`` rows at a time and streamed through
  binary COPY, so the bench's own memory stays bounded (its peak RSS is printed), then an
  IVFFlat index (``vector_cosine_ops``, ``lists = rows / 1000``), VACUUM (ANALYZE) and
  CHECKPOINT. The same on a ``--baseline-rows`` (default 10,000) table, each in a
  database of its own (``scale_<rows>``), kept in ``--data-dir`` once complete;
* **interactive**: in ``--rounds`` (default 5) rounds whose order alternates between the
  baseline and the large table, the core calls the front ends make: the Indexes screen's
  inventory (``fetch_inventory``, on an open probe connection), the plan doctor
  (``PlanDoctor.examine`` of ``SELECT id FROM public.items ORDER BY embedding <=> $1
  LIMIT 10``, plain and ``analyze=True``); in ``--lab-rounds`` (default 3) rounds, the
  lab's sampled recall: ``LabSession.prepare`` (``--queries`` sampled queries, exact top
  10, ground truth "auto", the default memory budget) then ``measure`` at
  ``ivfflat.probes`` 1 and 10, each round in a child process of its own (the ground-truth
  cache cleared first) on a connection opened as the front ends open theirs, with its
  5 s statement timeout; a round that fails so is run again without the timeout, and both
  are reported. Medians; the large table's figure as a ratio of the baseline's;
* **memory**: the peak RSS (VmHWM) of such a child above what it had before ``prepare``
  (its imports and connection), for the ground truth with the default memory budget (the
  lab rounds above: faiss over the vectors streamed through in chunks), with
  ``--memory-budget`` (default 64 MiB), with a budget they all fit at once (faiss over
  one array of all of them) and by exact scans in PostgreSQL, against the raw vectors'
  size ``rows * dims * 4``;
* **build**: the migration wizard on the ``--build-rows`` table's IVFFlat (default
  1,000,000, the large table itself: a 100,000-row build took 54-116 s on this shared
  2-core machine, 400,000 rows 178-264 s, 1,000,000 rows 313-738 s, so about 10 minutes),
  driven as ``vecscope migrate run`` drives it (``Migration``: preflight with its
  calibration, a recorded ``confirmed:`` backup instead of a dump, then the real
  ``CREATE INDEX CONCURRENTLY ... USING hnsw``; baseline is skipped, the build does not
  need it), the predicted build time and graph memory against the build's time and
  pgvector's own accounting: its "no longer fits into maintenance_work_mem after N
  tuples" NOTICE when the build spilled, else a serial probe build with a small
  ``maintenance_work_mem`` on the same table, cancelled at its NOTICE (bytes per element
  = maintenance_work_mem / N, as ``bench/migrate.py`` does). The serial prediction and
  the load average are printed beside it: on a loaded machine the parallel worker the
  wizard counts on adds little. The prediction's range is printed as ratios of the
  build's time too, with whether the build fell inside it. The new index is dropped
  afterwards, so a kept ``--data-dir`` stays as it was. ``--build-only`` runs just this;
* **growth** (``--growth 4000,20000,...``, optional): serial HNSW builds, graph in memory,
  of tables of the first N rows of the large one, in ``--growth-rounds`` alternating
  rounds: the fastest time of each size as a ratio of the smallest size's, and the growth
  exponent each implies (what ``predict.GROWTH_EXPONENT`` models). ``--growth-only``
  stops after it.

Why ratios: the machine is shared and its speed moves twofold within an hour; the
baseline runs in the same rounds, so ``1M / 10k`` says what the scale costs. The targets
are absolute: the inventory and the doctor well under a second (1 s), the lab's recall
within tens of seconds (60 s), the prediction within 30%.

Run from the project root, niced on a shared machine:
``nice -n 10 python bench/scale.py --data-dir /var/tmp/vecscope-scale`` (the first run
loads the tables in about 4 minutes; a run takes 15 to 30 minutes with the build).
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import resource
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from vecscope.core import embedded
from vecscope.core.connection import ConnectionTarget, connect
from vecscope.core.demo.embeddings import sample, topic_model
from vecscope.core.errors import VecscopeError
from vecscope.core.fmt import human_bytes
from vecscope.core.lab.groundtruth import DEFAULT_MEMORY_BUDGET as DEFAULT_BUDGET
from vecscope.core.migrate import plan, predict
from vecscope.core.migrate.build import BuildProgress
from vecscope.core.migrate.engine import Migration
from vecscope.core.vectors_io import row_dtype

Conn = psycopg.Connection[TupleRow]

SCHEMA = "public"
TABLE = "items"
COLUMN = "embedding"
OLD_INDEX = "items_embedding_ivfflat"
PROBE_INDEX = "items_embedding_memory_probe"
OPCLASS = "vector_cosine_ops"
DIMS = 384
SEED = 20251027
#: Rows generated and sent per COPY chunk (about 31 MB of vectors).
CHUNK = 20_000
#: The front ends' query, as the Indexes screen's ``e`` writes it.
KNN = f"SELECT id FROM {SCHEMA}.{TABLE} ORDER BY {COLUMN} <=> $1 LIMIT 10"
K = 10
PROBES = (1, 10)
#: maintenance_work_mem of the memory probe: small, so the graph overflows early.
PROBE_MWM_KB = 16 * 1024
#: "Interactive": the inventory and the doctor well under this; the lab within LAB_TARGET_S.
INTERACTIVE_S = 1.0
LAB_TARGET_S = 60.0
WITHIN = 0.30
MIB = 1024 * 1024
#: A memory budget the large table's vectors fit at once (the faiss path's one-piece read).
WHOLE_BUDGET = 8 * 1024 * MIB
#: The wizard's build: 5 to 12 minutes here (see the module docstring).
DEFAULT_BUILD_ROWS = 1_000_000
COMPLETE = "vecscope bench/scale.py: complete"


class BenchError(Exception):
    """A bench's own check failed (not a vecscope error)."""


def peak_rss() -> int:
    """This process's peak resident set size so far, in bytes.

    VmHWM, not ``getrusage``: a spawned child's ``ru_maxrss`` keeps the peak of the
    forked copy of its parent from before its ``exec``; VmHWM belongs to its own memory.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


# --- loading ------------------------------------------------------------------------------


def copy_chunk(first_id: int, vecs: npt.NDArray[np.float32]) -> bytes:
    """Rows ``first_id..`` in binary COPY format, built by numpy in one go."""
    n, dims = vecs.shape
    rows = np.empty(n, dtype=row_dtype(dims))  # the layout the lab reads back
    rows["fields"] = 2
    rows["len_id"] = 8
    rows["id"] = np.arange(first_id, first_id + n, dtype=np.int64)
    rows["len_vec"] = 4 + 4 * dims
    rows["dim"] = dims
    rows["unused"] = 0
    rows["v"] = vecs
    return rows.tobytes()


@dataclass(frozen=True, slots=True)
class Loaded:
    rows: int
    dbname: str
    #: None when the table was already there (``--data-dir`` reused).
    copy_s: float | None = None
    index_s: float | None = None
    #: The bench process's peak RSS when the load ended.
    rss: int | None = None
    heap_bytes: int = 0


def dbname_for(rows: int) -> str:
    return f"scale_{rows}"


def _complete(admin: Conn, dbname: str, conninfo: str) -> bool:
    if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone():
        return False
    with psycopg.connect(conninfo, autocommit=True) as conn:
        row = conn.execute(
            "SELECT obj_description(c.oid, 'pg_class') FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s "
            "AND c.relname = %s",
            (SCHEMA, TABLE),
        ).fetchone()
    return bool(row and row[0] == COMPLETE)


def heap_bytes(conninfo: str) -> int:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        row = conn.execute("SELECT pg_table_size(%s::regclass)", (f"{SCHEMA}.{TABLE}",)).fetchone()
    return int(row[0]) if row else 0


def ensure_table(server: embedded.EmbeddedServer, rows: int) -> Loaded:
    """``scale_<rows>`` with ``public.items`` and its IVFFlat: reused when complete."""
    dbname = dbname_for(rows)
    conninfo = server.conninfo(dbname)
    with psycopg.connect(server.conninfo(), autocommit=True) as admin:
        if _complete(admin, dbname, conninfo):
            return Loaded(rows, dbname, heap_bytes=heap_bytes(conninfo))
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(dbname)))
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    table = sql.Identifier(SCHEMA, TABLE)
    model = topic_model(SEED, dims=DIMS)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION vector")
        conn.execute(
            sql.SQL("CREATE TABLE {} (id bigint PRIMARY KEY, {} vector({}))").format(
                table, sql.Identifier(COLUMN), sql.Literal(DIMS)
            )
        )
        started = time.perf_counter()
        copy_stmt = sql.SQL("COPY {} (id, {}) FROM STDIN (FORMAT BINARY)").format(
            table, sql.Identifier(COLUMN)
        )
        with conn.cursor() as cur, cur.copy(copy_stmt) as copy:
            copy.write(b"PGCOPY\n\xff\r\n\x00" + bytes(8))  # signature, flags, no extension
            for first in range(0, rows, CHUNK):
                n = min(CHUNK, rows - first)
                # Each chunk has its own seed: the same topics, new points.
                vecs, _topics = sample(model, n, SEED + 1 + first // CHUNK)
                copy.write(copy_chunk(first, vecs))
                if first and first % (10 * CHUNK) == 0:
                    rate = first / (time.perf_counter() - started)
                    print(f"  {dbname}: {first:,} rows ({rate:,.0f}/s)", flush=True)
            copy.write(b"\xff\xff")  # the trailer
        copy_s = time.perf_counter() - started
        started = time.perf_counter()
        conn.execute("SET maintenance_work_mem = '512MB'")
        conn.execute("SET max_parallel_maintenance_workers = 1")
        conn.execute(
            sql.SQL("CREATE INDEX {} ON {} USING ivfflat ({} {}) WITH (lists = {})").format(
                sql.Identifier(OLD_INDEX),
                table,
                sql.Identifier(COLUMN),
                sql.SQL(OPCLASS),
                sql.Literal(max(1, rows // 1000)),
            )
        )
        # VACUUM: else the insert-triggered autovacuum lands inside a measurement; and a
        # CHECKPOINT, so the build's dirty pages are written now.
        conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(table))
        conn.execute("CHECKPOINT")
        conn.execute(sql.SQL("COMMENT ON TABLE {} IS {}").format(table, sql.Literal(COMPLETE)))
        index_s = time.perf_counter() - started
    return Loaded(rows, dbname, copy_s, index_s, peak_rss(), heap_bytes(conninfo))


# --- the interactive calls ----------------------------------------------------------------


def timed(fn: Callable[..., object], *args: object, **kwargs: object) -> float:
    t0 = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - t0


@dataclass(frozen=True, slots=True)
class LabRun:
    """One child's ``LabSession.prepare`` and two measurements (or the error)."""

    prepare_s: float
    truth_method: str
    truth_s: float
    measure_s: float
    recalls: tuple[float, ...]
    p50_ms: tuple[float, ...]
    served: tuple[str, ...]
    rss_before: int
    rss_peak: int
    error: str | None = None

    @property
    def total_s(self) -> float:
        return self.prepare_s + self.measure_s


def lab_child(
    dsn: str,
    cache_dir: str,
    queries: int,
    method: str | None,
    memory_budget: int,
    front_end_timeout: bool,
) -> LabRun:
    """In a child process: the lab as the front ends prepare it, with a cold cache."""
    import faiss  # noqa: F401 - imported before the baseline RSS, as the lab imports it

    from vecscope.core.lab.session import LabSession

    shutil.rmtree(cache_dir, ignore_errors=True)
    os.environ["XDG_CACHE_HOME"] = cache_dir
    target = ConnectionTarget(dsn=dsn)
    # connect(target) is what the CLI's and the TUI's sessions open: a 5 s statement timeout.
    conn = connect(target) if front_end_timeout else connect(target, statement_timeout_ms=None)
    rss_before = peak_rss()
    t0 = time.perf_counter()
    try:
        lab = LabSession.prepare(
            conn,
            target,
            SCHEMA,
            TABLE,
            COLUMN,
            queries=queries,
            k=K,
            method=method,
            memory_budget=memory_budget,
        )
    except VecscopeError as e:
        failed_s = time.perf_counter() - t0
        return LabRun(failed_s, "-", 0.0, 0.0, (), (), (), rss_before, peak_rss(), e.message)
    finally:
        conn.close()
    prepare_s = time.perf_counter() - t0
    rss_peak = peak_rss()
    t0 = time.perf_counter()
    ms = [lab.measure({"ivfflat.probes": str(p)}, k=K) for p in PROBES]
    measure_s = time.perf_counter() - t0
    return LabRun(
        prepare_s,
        lab.gt.method,
        lab.gt.seconds,
        measure_s,
        tuple(m.recall for m in ms),
        tuple(m.p50_ms for m in ms),
        tuple(m.index or "Seq Scan" for m in ms),
        rss_before,
        rss_peak,
    )


@dataclass(slots=True)
class Side:
    """One table's figures over the rounds."""

    rows: int
    dsn: str
    inventory: list[float]
    doctor: list[float]
    doctor_analyze: list[float]
    first_inventory: float = 0.0
    first_doctor: float = 0.0
    verdict: str = ""
    served: bool = False
    labs: list[LabRun] | None = None
    #: The same rounds without the statement timeout, when the front ends' failed.
    labs_untimed: list[LabRun] | None = None


class Children:
    """A fresh spawned process per task, so each one's peak RSS is its own."""

    def __init__(self, cache_dir: Path, queries: int) -> None:
        self.cache_dir = cache_dir
        self.queries = queries
        self.pool = ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("spawn"), max_tasks_per_child=1
        )

    def lab(
        self,
        dsn: str,
        *,
        method: str | None = None,
        memory_budget: int = DEFAULT_BUDGET,
        front_end_timeout: bool = True,
    ) -> LabRun:
        future = self.pool.submit(
            lab_child,
            dsn,
            str(self.cache_dir),
            self.queries,
            method,
            memory_budget,
            front_end_timeout,
        )
        return future.result()

    def close(self) -> None:
        self.pool.shutdown(cancel_futures=True)


def interactive(sides: Sequence[Side], rounds: int) -> None:
    """The inventory and the doctor on each side, in rounds of alternating order."""
    from vecscope.core.catalog.inventory import fetch_inventory
    from vecscope.core.doctor.doctor import PlanDoctor

    conns = {s.rows: connect(ConnectionTarget(dsn=s.dsn)) for s in sides}
    doctors = {s.rows: PlanDoctor(ConnectionTarget(dsn=s.dsn)) for s in sides}
    try:
        for s in sides:
            conn, doctor = conns[s.rows], doctors[s.rows]
            s.first_inventory = timed(fetch_inventory, conn)
            t0 = time.perf_counter()
            exam = doctor.examine(KNN)
            s.first_doctor = time.perf_counter() - t0
            s.verdict = exam.diagnosis.verdict
            s.served = exam.diagnosis.uses_vector_index
        for r in range(rounds):
            for s in sides if r % 2 == 0 else tuple(reversed(sides)):
                conn, doctor = conns[s.rows], doctors[s.rows]
                s.inventory.append(timed(fetch_inventory, conn))
                s.doctor.append(timed(doctor.examine, KNN))
                s.doctor_analyze.append(timed(doctor.examine, KNN, analyze=True))
            print(
                f"round {r + 1}/{rounds}: "
                + "; ".join(
                    f"{s.rows:,} rows inventory {s.inventory[-1] * 1000:.0f} ms, doctor "
                    f"{s.doctor[-1] * 1000:.0f} ms, analyze {s.doctor_analyze[-1] * 1000:.0f} ms"
                    for s in sides
                ),
                flush=True,
            )
    finally:
        for c in conns.values():
            c.close()
        for d in doctors.values():
            d.close()


def show_lab(label: str, run: LabRun) -> None:
    if run.error:
        print(f"  {label}: FAILED after {run.prepare_s:.1f} s: {run.error}", flush=True)
        return
    figures = ", ".join(
        f"probes {p}: recall@{K} {r:.3f} p50 {ms:.2f} ms ({ix})"
        for p, r, ms, ix in zip(PROBES, run.recalls, run.p50_ms, run.served, strict=True)
    )
    print(
        f"  {label}: prepare {run.prepare_s:.1f} s (ground truth {run.truth_method} "
        f"{run.truth_s:.1f} s), measure {run.measure_s:.1f} s; {figures}; RSS "
        f"{human_bytes(run.rss_before)} -> peak {human_bytes(run.rss_peak)}",
        flush=True,
    )


def lab_rounds(sides: Sequence[Side], children: Children, rounds: int) -> None:
    for s in sides:
        s.labs, s.labs_untimed = [], []
    for r in range(rounds):
        for s in sides if r % 2 == 0 else tuple(reversed(sides)):
            assert s.labs is not None and s.labs_untimed is not None
            run = children.lab(s.dsn)
            s.labs.append(run)
            show_lab(f"lab round {r + 1}/{rounds}, {s.rows:,} rows", run)
            if run.error:
                again = children.lab(s.dsn, front_end_timeout=False)
                s.labs_untimed.append(again)
                show_lab(f"  the same without the statement timeout, {s.rows:,} rows", again)


# --- the wizard's prediction --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BuildResult:
    rows: int
    preflight_s: float
    predicted_s: float
    predicted_serial_s: float
    workers: int
    mwm_kb: int
    predicted_graph: int
    predicted_index: int
    calibration: str
    actual_s: float
    workers_launched: int | None
    index_bytes: int
    #: Graph bytes by pgvector's accounting, and where that came from.
    measured_graph: int
    graph_source: str
    #: The machine's 1-minute load average when the build started and ended.
    load: tuple[float, float] = (0.0, 0.0)
    predicted_low: float = 0.0
    predicted_high: float = 0.0
    #: The speed-up the point estimate counted on.
    speedup: float = 1.0


def drop_index(conninfo: str, name: str) -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(SCHEMA, name)))


def relation_size(conninfo: str, name: str) -> int:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        row = conn.execute(
            "SELECT pg_relation_size(%s::regclass)", (sql.Identifier(SCHEMA, name).as_string(),)
        ).fetchone()
    return int(row[0]) if row else 0


def probe_memory(conninfo: str, mwm_kb: int, params: dict[str, int]) -> int:
    """Tuples after which pgvector's graph stopped fitting in ``mwm_kb`` on the table.

    A serial plain build with a small ``maintenance_work_mem``, cancelled as soon as the
    NOTICE arrives: the rest of the build (on disk, slow) would tell nothing more.
    """
    fitted = threading.Event()
    notices: list[str] = []
    errors: list[BaseException] = []

    def keep(diag: psycopg.errors.Diagnostic) -> None:
        if diag.message_primary:
            notices.append(diag.message_primary)
            if predict.graph_fit_rows([diag.message_primary]) is not None:
                fitted.set()

    statement = sql.SQL("CREATE INDEX {} ON {} USING hnsw ({} {}) WITH ({})").format(
        sql.Identifier(PROBE_INDEX),
        sql.Identifier(SCHEMA, TABLE),
        sql.Identifier(COLUMN),
        sql.SQL(OPCLASS),
        sql.SQL(", ").join(
            sql.SQL("{} = {}").format(sql.SQL(k), sql.Literal(int(v))) for k, v in params.items()
        ),
    )
    with psycopg.connect(conninfo, autocommit=True, application_name="vecscope-bench") as conn:
        conn.execute(sql.SQL("SET maintenance_work_mem = {}").format(sql.Literal(f"{mwm_kb}kB")))
        conn.execute("SET max_parallel_maintenance_workers = 0")
        conn.add_notice_handler(keep)

        def run() -> None:
            try:
                conn.execute(statement)
            except psycopg.errors.QueryCanceled:
                pass
            except BaseException as e:  # noqa: BLE001 - raised in the main thread below
                errors.append(e)

        runner = threading.Thread(target=run, name="bench-memory-probe", daemon=True)
        runner.start()
        while runner.is_alive() and not fitted.wait(0.1):
            pass
        if runner.is_alive():
            conn.cancel_safe()
        runner.join()
    drop_index(conninfo, PROBE_INDEX)
    if errors:
        raise BenchError(f"memory probe failed: {errors[0]}")
    rows = predict.graph_fit_rows(notices)
    if rows is None or rows <= 0:
        raise BenchError("the memory probe's graph fitted: no NOTICE to measure by")
    return rows


def wizard_build(server: embedded.EmbeddedServer, rows: int, workdir: Path) -> BuildResult:
    """Preflight (calibrated), a recorded backup, then the real concurrent HNSW build."""
    from vecscope.core.catalog.inventory import fetch_inventory

    dbname = dbname_for(rows)
    conninfo = server.conninfo(dbname)
    target = ConnectionTarget(dsn=server.uri(dbname))
    with connect(target) as conn:
        spec = plan.choose(fetch_inventory(conn), index=f"{SCHEMA}.{OLD_INDEX}")
    drop_index(conninfo, spec.new_name)  # a killed earlier run's leftover
    mig = Migration.start(target, spec, journal_path=workdir / f"scale-{rows}.jsonl")
    t0 = time.perf_counter()
    pf = mig.preflight(calibrate=True)
    preflight_s = time.perf_counter() - t0
    pred = pf.prediction
    if pred is None or pred.calibration is None or pred.graph_bytes is None:
        raise BenchError(f"preflight made no calibrated prediction: {'; '.join(pf.notes)}")
    for check in pf.checks:
        print(f"  preflight [{check.status:>4}] {check.title}")
    cal = pred.calibration
    spec = pf.spec
    mwm_kb = spec.maintenance_work_mem_kb or pf.current_mwm_kb
    calibration = (
        f"{cal.sample_rows:,}-row sample in {cal.seconds:.2f} s, graph "
        f"{cal.graph_bytes_per_row or 0:.0f} B/row "
        f"({'measured' if cal.memory_measured else 'formula'}), index "
        f"{cal.index_bytes_per_row:.0f} B/row"
    )
    print(
        f"  prediction: {pred.range_text} ({pred.serial_seconds:.0f} s serial, "
        f"{pred.workers_text}; speed-up counted {pred.speedup:.2f}); sample builds "
        f"{', '.join(f'{t:.2f}' for t in cal.times)} s; "
        f"graph {human_bytes(pred.graph_bytes)}, index "
        f"{human_bytes(pred.index_bytes)}; maintenance_work_mem {human_bytes(mwm_kb * 1024)}; "
        f"calibration {calibration}; preflight {preflight_s:.1f} s",
        flush=True,
    )
    # The bench measures the build, not pg_dump: a backup is recorded, not taken (the
    # wizard's --backup confirmed:ID). Baseline is skipped: the build does not need it.
    mig.backup("confirmed", identifier="bench/scale.py (no dump)")
    load_before = os.getloadavg()[0]
    phases: dict[str, float] = {}

    def progress(p: BuildProgress) -> None:
        phases.setdefault(p.phase, p.elapsed_s)

    try:
        outcome = mig.build(on_progress=progress)
        if outcome.cancelled:
            raise BenchError("the wizard's build was cancelled")
        size = relation_size(conninfo, spec.new_name)
        load_after = os.getloadavg()[0]
        print(
            "  phases first seen (polled): "
            + ", ".join(f"{phase} @{t:.0f} s" for phase, t in phases.items()),
            flush=True,
        )
        print(
            f"  built in {outcome.seconds:.0f} s, {human_bytes(size)} (the wizard reported "
            f"{human_bytes(outcome.index_bytes)}), workers "
            f"{outcome.workers if outcome.workers is not None else '-'}; "
            + (
                f"graph spilled after {outcome.spilled_after:,} tuples"
                if outcome.spilled_after
                else "graph fitted"
            ),
            flush=True,
        )
    finally:
        drop_index(conninfo, spec.new_name)
    if outcome.spilled_after:
        measured = mwm_kb * 1024 * rows // outcome.spilled_after
        source = f"the build's NOTICE (spilled after {outcome.spilled_after:,} tuples)"
    else:
        fit = probe_memory(conninfo, PROBE_MWM_KB, {k: int(v) for k, v in spec.params.items()})
        measured = PROBE_MWM_KB * 1024 * rows // fit
        source = (
            f"probe NOTICE: {human_bytes(PROBE_MWM_KB * 1024)} full after {fit:,} tuples "
            f"= {PROBE_MWM_KB * 1024 / fit:.0f} B/element"
        )
    return BuildResult(
        rows,
        preflight_s,
        pred.seconds,
        pred.serial_seconds,
        pred.workers,
        mwm_kb,
        pred.graph_bytes,
        pred.index_bytes,
        calibration,
        outcome.seconds,
        outcome.workers,
        size,
        measured,
        source,
        (load_before, load_after),
        pred.low_seconds,
        pred.high_seconds,
        pred.speedup,
    )


# --- the growth exponent -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GrowthPoint:
    rows: int
    #: Every timed serial build of a table of ``rows`` rows.
    seconds: tuple[float, ...]

    @property
    def best(self) -> float:
        return min(self.seconds)


def growth(
    server: embedded.EmbeddedServer, source_rows: int, sizes: Sequence[int], rounds: int
) -> list[GrowthPoint]:
    """Serial HNSW builds (graph in memory) of the first N rows of the large table, for
    each N in ``sizes``, in ``rounds`` rounds whose order alternates: how build time grows
    with rows, which is what ``predict.GROWTH_EXPONENT`` models."""
    conninfo = server.conninfo(dbname_for(source_rows))
    times: dict[int, list[float]] = {n: [] for n in sizes}
    params = sql.SQL("m = 16, ef_construction = 64")
    with psycopg.connect(conninfo, autocommit=True, application_name="vecscope-bench") as conn:
        conn.execute("SET maintenance_work_mem = '2GB'")
        conn.execute("SET max_parallel_maintenance_workers = 0")
        for n in sizes:
            tbl = sql.Identifier(SCHEMA, f"growth_{n}")
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(tbl))
            conn.execute(
                sql.SQL("CREATE TABLE {} AS SELECT id, {} FROM {} WHERE id < {}").format(
                    tbl, sql.Identifier(COLUMN), sql.Identifier(SCHEMA, TABLE), sql.Literal(n)
                )
            )
            conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(tbl))
        conn.execute("CHECKPOINT")
        try:
            for r in range(rounds):
                for n in sizes if r % 2 == 0 else list(reversed(sizes)):
                    tbl = sql.Identifier(SCHEMA, f"growth_{n}")
                    t0 = time.perf_counter()
                    conn.execute(
                        sql.SQL(
                            "CREATE INDEX growth_idx ON {} USING hnsw ({} {}) WITH ({})"
                        ).format(tbl, sql.Identifier(COLUMN), sql.SQL(OPCLASS), params)
                    )
                    times[n].append(time.perf_counter() - t0)
                    conn.execute(
                        sql.SQL("DROP INDEX {}").format(sql.Identifier(SCHEMA, "growth_idx"))
                    )
                    print(
                        f"  growth round {r + 1}/{rounds}: {n:,} rows in {times[n][-1]:.1f} s "
                        f"(load average {os.getloadavg()[0]:.1f})",
                        flush=True,
                    )
        finally:
            for n in sizes:
                conn.execute(
                    sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(SCHEMA, f"growth_{n}"))
                )
    return [GrowthPoint(n, tuple(times[n])) for n in sizes]


def show_growth(points: Sequence[GrowthPoint]) -> None:
    """Times as ratios of the smallest table's, and the exponents they imply."""
    base = points[0]
    print(
        f"\ngrowth: serial HNSW builds (m 16, ef_construction 64, graph in memory), fastest of "
        f"{len(base.seconds)}; ratios against {base.rows:,} rows, same run"
    )
    print(f"  {'rows':>10} {'x rows':>8} {'x time':>9} {'exponent from smallest':>24} {'local':>7}")
    prev = base
    for p in points:
        scale = p.rows / base.rows
        ratio = p.best / base.best
        overall = math.log(ratio) / math.log(scale) if scale > 1 else float("nan")
        local = (
            math.log(p.best / prev.best) / math.log(p.rows / prev.rows)
            if p.rows > prev.rows
            else float("nan")
        )
        spread = max(p.seconds) / p.best
        print(
            f"  {p.rows:>10,} {scale:>7.1f}x {ratio:>8.2f}x {overall:>24.3f} {local:>7.3f}"
            f"   (slowest / fastest {spread:.2f}x)"
        )
        prev = p
    if len(points) >= 2:
        xs = [math.log(p.rows) for p in points]
        ys = [math.log(p.best) for p in points]
        mx, my = statistics.fmean(xs), statistics.fmean(ys)
        slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
            (x - mx) ** 2 for x in xs
        )
        print(
            f"  least-squares exponent over all sizes {slope:.3f}; the model's "
            f"{predict.growth_exponent('hnsw'):.2f} +/- {predict.GROWTH_UNCERTAINTY['hnsw']:.2f}"
        )


# --- the report ---------------------------------------------------------------------------


def yes(ok: bool) -> str:
    return "yes" if ok else "NO"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


def summary(
    small: Side,
    big: Side,
    loads: Sequence[Loaded],
    memory: Sequence[tuple[str, LabRun]],
    build: BuildResult | None,
) -> int:
    """The final table; 0 when every target is met."""
    ok = True
    print()
    print(f"summary: medians; ratio = {big.rows:,} rows / {small.rows:,} rows, same run")
    head = f"  {'':<44} {f'{small.rows:,} rows':>12} {f'{big.rows:,} rows':>12} {'ratio':>8}"
    print(head + "   target")
    print("  " + "-" * (len(head) + 20))

    def line(label: str, a: float, b: float, target: str = "", met: bool | None = None) -> None:
        verdict = "" if met is None else f"  {yes(met)}"
        print(f"  {label:<44} {ms(a):>12} {ms(b):>12} {b / a:>7.2f}x   {target}{verdict}")

    for label, a_runs, b_runs in (
        ("Indexes screen: fetch_inventory", small.inventory, big.inventory),
        ("plan doctor: examine (EXPLAIN)", small.doctor, big.doctor),
        ("plan doctor: examine(analyze=True)", small.doctor_analyze, big.doctor_analyze),
    ):
        met = median(b_runs) < INTERACTIVE_S
        ok = ok and met
        line(label, median(a_runs), median(b_runs), f"< {INTERACTIVE_S:g} s", met)
    line("  first call (connect, load pgvector)", small.first_inventory, big.first_inventory)
    line("  doctor's first examine", small.first_doctor, big.first_doctor)
    if not big.served:
        print(f"  the doctor did not see the index serve the query: {big.verdict}")

    def lab_line(label: str, a: Sequence[LabRun], b: Sequence[LabRun], target: bool) -> None:
        nonlocal ok
        good_a, good_b = [r for r in a if not r.error], [r for r in b if not r.error]
        if not good_a or not good_b:
            print(
                f"  {label:<44} {'failed' if not good_a else '':>12} "
                f"{'failed' if not good_b else '':>12}"
            )
            ok = ok and not target
            return
        for what, field in (
            ("prepare (sample + ground truth)", "prepare_s"),
            ("  of which ground truth", "truth_s"),
            ("measure (probes 1 and 10)", "measure_s"),
        ):
            line(
                f"{label} {what}",
                median([float(getattr(r, field)) for r in good_a]),
                median([float(getattr(r, field)) for r in good_b]),
            )
        met = median([r.total_s for r in good_b]) < LAB_TARGET_S
        if target:
            ok = ok and met
        line(
            f"{label} total",
            median([r.total_s for r in good_a]),
            median([r.total_s for r in good_b]),
            f"< {LAB_TARGET_S:g} s",
            met,
        )
        print(
            f"  {'  ground truth method':<44} {good_a[0].truth_method:>12} "
            f"{good_b[0].truth_method:>12}"
        )
        for i, p in enumerate(PROBES):
            print(
                f"  {f'  recall@{K} at probes {p}':<44} "
                f"{median([r.recalls[i] for r in good_a]):>12.3f} "
                f"{median([r.recalls[i] for r in good_b]):>12.3f}"
            )

    assert small.labs is not None and big.labs is not None
    failed = [r for r in big.labs if r.error]
    lab_line("lab:", small.labs, big.labs, target=True)
    if failed:
        print(
            f"  lab at {big.rows:,} rows failed {len(failed)}/{len(big.labs)} times as the front "
            f"ends run it (5 s statement timeout): {failed[0].error}"
        )
        if big.labs_untimed:
            lab_line("lab, no timeout:", small.labs, big.labs_untimed, target=False)

    print()
    vectors = big.rows * DIMS * 4
    print(
        f"  memory at {big.rows:,} rows (raw vectors {human_bytes(vectors)}): peak RSS above "
        "the child's own before prepare"
    )
    for label, run in memory:
        extra = f", failed: {run.error}" if run.error else f", {run.truth_method}"
        grown = run.rss_peak - run.rss_before
        print(
            f"    {label:<42} {human_bytes(grown):>12} ({grown / vectors:.2f}x the vectors"
            f"{extra}; {run.prepare_s:.1f} s)"
        )
    for ld in loads:
        if ld.copy_s is not None and ld.rss is not None:
            print(
                f"    {f'bench load of {ld.rows:,} rows (whole process)':<42} "
                f"{human_bytes(ld.rss):>12} (COPY {ld.copy_s:.0f} s, IVFFlat + VACUUM "
                f"{ld.index_s or 0:.0f} s; heap {human_bytes(ld.heap_bytes)})"
            )
        else:
            print(
                f"    {f'table of {ld.rows:,} rows':<42} reused from --data-dir (heap "
                f"{human_bytes(ld.heap_bytes)})"
            )

    if build is not None:
        ok = build_summary(build) and ok
    print()
    print(f"all targets met: {yes(ok)}")
    return 0 if ok else 1


def build_summary(build: BuildResult) -> bool:
    """The prediction against the build, as ratios; True when within the targets."""
    print()
    t_ok = abs(build.predicted_s - build.actual_s) <= WITHIN * build.actual_s
    g_ok = abs(build.predicted_graph - build.measured_graph) <= WITHIN * build.measured_graph
    in_range = build.predicted_low <= build.actual_s <= build.predicted_high
    launched = build.workers_launched if build.workers_launched is not None else "-"
    print(
        f"  wizard at {build.rows:,} rows (HNSW m/ef_construction as planned, "
        f"maintenance_work_mem {human_bytes(build.mwm_kb * 1024)}, up to {build.workers} "
        f"worker(s), used {launched})"
    )
    print(
        f"    build time predicted / actual            {build.predicted_s:.0f} s / "
        f"{build.actual_s:.0f} s = {build.predicted_s / build.actual_s:.2f}x   within "
        f"{WITHIN:.0%}: {yes(t_ok)}"
    )
    print(
        f"    predicted range / actual                 {build.predicted_low / build.actual_s:.2f}x"
        f" - {build.predicted_high / build.actual_s:.2f}x   the build inside it: {yes(in_range)}"
    )
    print(
        f"    graph memory predicted / pgvector's       "
        f"{human_bytes(build.predicted_graph)} / {human_bytes(build.measured_graph)} = "
        f"{build.predicted_graph / build.measured_graph:.2f}x   within {WITHIN:.0%}: "
        f"{yes(g_ok)}"
    )
    print(f"      (pgvector's by {build.graph_source})")
    print(
        f"    serial prediction / actual               {build.predicted_serial_s:.0f} s / "
        f"{build.actual_s:.0f} s = {build.predicted_serial_s / build.actual_s:.2f}x   "
        f"informational (the point divides by {build.speedup:.2f}: 1 + "
        f"{predict.PARALLEL_EFFICIENCY} per worker, as far as cores are free); load "
        f"average {build.load[0]:.1f} -> {build.load[1]:.1f} on {os.cpu_count()} CPUs"
    )
    print(
        f"    index size predicted / actual             {human_bytes(build.predicted_index)} "
        f"/ {human_bytes(build.index_bytes)} = "
        f"{build.predicted_index / max(1, build.index_bytes):.2f}x   informational"
    )
    print(f"    calibration: {build.calibration}; preflight {build.preflight_s:.1f} s")
    return t_ok and g_ok


# --- main ---------------------------------------------------------------------------------


def server_settings(conninfo: str) -> str:
    names = (
        "server_version",
        "shared_buffers",
        "work_mem",
        "maintenance_work_mem",
        "max_parallel_workers_per_gather",
        "max_parallel_maintenance_workers",
    )
    with psycopg.connect(conninfo, autocommit=True) as conn:
        values = [
            str(
                (conn.execute(sql.SQL("SHOW {}").format(sql.Identifier(n))).fetchone() or ("?",))[0]
            )
            for n in names
        ]
        pgv = conn.execute(
            "SELECT default_version FROM pg_available_extensions WHERE name = 'vector'"
        ).fetchone()
    return (
        ", ".join(f"{n} {v}" for n, v in zip(names, values, strict=True))
        + f"; pgvector {pgv[0] if pgv else '?'}"
    )


def bench(server: embedded.EmbeddedServer, args: argparse.Namespace, workdir: Path) -> int:
    print(f"server: {server_settings(server.conninfo())}; {os.cpu_count()} CPUs", flush=True)
    wanted = sorted(
        {args.baseline_rows, args.rows} | ({args.build_rows} if args.build_rows else set())
    )
    loads = []
    for rows in wanted:
        t0 = time.perf_counter()
        loaded = ensure_table(server, rows)
        loads.append(loaded)
        state = "reused" if loaded.copy_s is None else "loaded"
        print(
            f"{loaded.dbname}: {state} in {time.perf_counter() - t0:.0f} s, heap "
            f"{human_bytes(loaded.heap_bytes)}; bench peak RSS {human_bytes(peak_rss())}",
            flush=True,
        )
    if args.load_only:
        return 0
    if args.growth:
        show_growth(growth(server, args.rows, sorted(set(args.growth)), args.growth_rounds))
    if args.build_only or args.growth_only:
        build = None
        if args.build_rows and not args.growth_only:
            print(f"\nthe wizard on {args.build_rows:,} rows", flush=True)
            build = wizard_build(server, args.build_rows, workdir)
            build_summary(build)
        return 0
    small, big = (
        Side(rows, server.uri(dbname_for(rows)), [], [], [])
        for rows in (args.baseline_rows, args.rows)
    )
    print(f"\n{KNN}", flush=True)
    interactive((small, big), args.rounds)
    children = Children(workdir / "cache", args.queries)
    try:
        print(
            f"\nthe lab: {args.queries} sampled queries, exact top {K}, probes {PROBES}", flush=True
        )
        lab_rounds((small, big), children, args.lab_rounds)
        memory: list[tuple[str, LabRun]] = []
        if big.labs:
            memory.append(
                (
                    f"ground truth, default budget ({human_bytes(DEFAULT_BUDGET)})",
                    big.labs[0]
                    if not big.labs[0].error or not big.labs_untimed
                    else big.labs_untimed[0],
                )
            )
        if not args.skip_memory:
            budget = args.memory_budget * MIB
            for label, method, b in (
                (f"ground truth, --memory-budget {human_bytes(budget)}", None, budget),
                (f"faiss, all at once (budget {human_bytes(WHOLE_BUDGET)})", "faiss", WHOLE_BUDGET),
                ("exact scans in PostgreSQL (postgres)", "postgres", DEFAULT_BUDGET),
            ):
                run = children.lab(big.dsn, method=method, memory_budget=b, front_end_timeout=False)
                show_lab(label, run)
                memory.append((label, run))
    finally:
        children.close()
    build = None
    if args.build_rows:
        print(f"\nthe wizard on {args.build_rows:,} rows", flush=True)
        build = wizard_build(server, args.build_rows, workdir)
    return summary(small, big, loads, memory, build)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--rows", type=int, default=1_000_000, help="large table (default 1000000)")
    p.add_argument("--baseline-rows", type=int, default=10_000, help="baseline (default 10000)")
    p.add_argument(
        "--build-rows",
        type=int,
        default=DEFAULT_BUILD_ROWS,
        help=f"rows of the wizard's build, 0 to skip it (default {DEFAULT_BUILD_ROWS})",
    )
    p.add_argument("--data-dir", type=Path, help="keep the server and its tables here")
    p.add_argument("--rounds", type=int, default=5, help="inventory/doctor rounds (default 5)")
    p.add_argument("--lab-rounds", type=int, default=3, help="lab rounds (default 3)")
    p.add_argument("--queries", type=int, default=100, help="lab queries (default 100)")
    p.add_argument(
        "--memory-budget", type=int, default=64, help="MiB, the small budget (default 64)"
    )
    p.add_argument("--skip-memory", action="store_true", help="skip the extra ground truths")
    p.add_argument("--load-only", action="store_true", help="load the tables and stop")
    p.add_argument(
        "--build-only",
        action="store_true",
        help="only the wizard's build and its prediction (no inventory, doctor or lab)",
    )
    p.add_argument(
        "--growth",
        type=lambda v: [int(x) for x in v.split(",")],
        default=[],
        help="comma-separated table sizes (at most --rows) for serial builds that measure how "
        "build time grows with rows, e.g. 4000,20000,50000,100000,200000",
    )
    p.add_argument("--growth-rounds", type=int, default=2, help="rounds of --growth (default 2)")
    p.add_argument("--growth-only", action="store_true", help="only --growth, then stop")
    args = p.parse_args(argv)
    if min(args.rows, args.baseline_rows, args.rounds, args.lab_rounds, args.queries) < 1:
        p.error("--rows, --baseline-rows, --rounds, --lab-rounds, --queries must be positive")
    if args.build_rows and args.build_rows < 10_000:
        p.error("--build-rows must be at least 10000 (or 0)")
    if any(n < 1_000 or n > args.rows for n in args.growth) or args.growth_rounds < 1:
        p.error("--growth sizes must be between 1000 and --rows; --growth-rounds positive")
    return args


def main() -> int:
    args = parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="vecscope-bench-scale-"))
    # The lab's ground-truth cache goes here, never to the user's cache.
    os.environ["XDG_CACHE_HOME"] = str(workdir / "cache")
    data_dir = args.data_dir.resolve() if args.data_dir else workdir
    server: embedded.EmbeddedServer | None = None
    try:
        server = embedded.start(data_dir / "pgdata", preload=False)
        return bench(server, args, workdir)
    except (BenchError, VecscopeError) as e:
        print(f"bench failed: {e}", file=sys.stderr)
        return 1
    finally:
        try:
            if server is not None:
                server.stop()
        finally:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
