"""Benchmark: the migration wizard's HNSW build against the seeds' plain ``CREATE INDEX``.

What it measures, on its own embedded PostgreSQL + pgvector (started in a fresh temporary
directory, stopped and removed at the end):

* a table of ``--rows`` (default 100,000) 384-d unit vectors from ``core.embeddings`` (the
  MiniLM-like topic clusters) with an integer primary key, loaded with binary COPY, whose
  "old" index is an IVFFlat (``vector_cosine_ops``, ``lists = rows / 1000``), then VACUUM
  (ANALYZE) and CHECKPOINT;
* the seeds' build: ``CREATE INDEX ... USING hnsw (embedding vector_cosine_ops) WITH
  (m = 16, ef_construction = 64)`` on a fresh session with the server's defaults
  (``maintenance_work_mem`` 64 MB, the default parallel maintenance workers), timed, with
  pgvector's "graph no longer fits into maintenance_work_mem after N tuples" NOTICE;
* the wizard's build: ``plan.choose`` on the IVFFlat, ``preflight.run`` (which calibrates
  on a sample and chooses ``maintenance_work_mem`` and the workers), then
  ``core.migrate.build.run``: ``CREATE INDEX CONCURRENTLY`` with those session settings,
  timed (the preflight's own time is printed beside it);
* in ``--rounds`` (default 3) rounds whose order alternates (seeds first, then wizard
  first), with a CHECKPOINT before every timed build, so neither drift in the machine's
  load nor the previous build's dirty pages favour one side; medians are reported;
* recall@10 of every built index on the same ``--queries`` (default 1,000) sampled queries
  with the same ``--ef-search`` (default 40, pgvector's), measured right after the build
  while it is the only HNSW index, the IVFFlat kept out of the way with
  ``ivfflat.probes`` (``core.lab.steering_settings``) and EXPLAIN confirming which index
  served;
* the prediction against what happened: build time against the wizard's median, graph
  memory against pgvector's own accounting on the real table (a serial build with a
  small ``maintenance_work_mem``, cancelled as soon as its NOTICE says after how many
  tuples the graph stopped fitting: bytes per element = maintenance_work_mem / N), index
  size against ``pg_relation_size``;
* in each round (unless ``--no-serial``), the wizard's build with the same
  ``maintenance_work_mem`` and no parallel workers, to tell the prediction's serial time
  from its parallel speed-up; and the wizard's calibration repeated ``--calibrations``
  times (default 5), to show how much its extrapolation moves from one sample to the next.

Why ratios: an index build's seconds say as much about the machine as about the settings.
Both builds run on the same data, server and machine in the same run, so ``seeds /
wizard`` (medians) is comparable between runs and machines where raw seconds are not.
The targets: the wizard at least 2x faster with the same recall@10 (within 0.01), and the
prediction's build time and graph memory within 30% of the measured ones.

Run from the project root: ``python bench/migrate.py``.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

import psycopg
from common import COLUMN, SCHEMA, TABLE, BenchError, build_table, run_with_server
from psycopg import sql
from psycopg.rows import TupleRow

from vecscope.core import embedded
from vecscope.core.catalog.inventory import fetch_inventory
from vecscope.core.connection import ConnectionTarget, connected
from vecscope.core.fmt import human_bytes
from vecscope.core.lab import measure as lab
from vecscope.core.migrate import build, plan, predict, preflight
from vecscope.core.migrate.build import BuildProgress
from vecscope.core.migrate.plan import MigrationSpec

Conn = psycopg.Connection[TupleRow]

BENCH_DB = "bench_migrate"
OLD_INDEX = "items_embedding_ivfflat"
SEED_INDEX = "items_embedding_seed_hnsw"
PROBE_INDEX = "items_embedding_memory_probe"
OPCLASS = "vector_cosine_ops"
OPERATOR = "<=>"
M = 16
EF_CONSTRUCTION = 64
K = 10
#: Queries the recall is measured on (the lab's sample of the table).
QUERIES = 1000
#: pgvector's default, set explicitly so that both indexes are searched alike.
EF_SEARCH = 40
#: maintenance_work_mem of the memory probe: small, so the graph overflows early.
PROBE_MWM_KB = 16 * 1024
TARGET_SPEEDUP = 2.0
TARGET_RECALL_DIFF = 0.01
TARGET_WITHIN = 0.30

SEEDS = "seeds"
WIZARD = "wizard"
SERIAL = "wizard serial"


@dataclass(frozen=True, slots=True)
class BuildRun:
    """One timed build and what was measured on the index it left."""

    label: str
    index: str
    seconds: float
    index_bytes: int
    #: Tuples after which pgvector said the graph stopped fitting (None: it fitted).
    fit_rows: int | None
    #: Parallel workers launched, when the server said (DEBUG1).
    workers: int | None
    recall: float
    #: (phase, elapsed seconds when first seen), for the wizard's concurrent builds.
    phases: tuple[tuple[str, float], ...] = ()


def _one(conn: Conn, query: str) -> str:
    row = conn.execute(query).fetchone()
    return str(row[0]) if row else "?"


def prepare(server: embedded.EmbeddedServer, rows: int) -> int:
    """The table, its IVFFlat as the old index, VACUUM (ANALYZE) and CHECKPOINT; dims."""
    started = time.perf_counter()
    built = build_table(server.conninfo("postgres"), server.conninfo(BENCH_DB), BENCH_DB, rows)
    print(
        f"generated {rows:,} x {built.dims} vectors in {built.generate_s:.1f} s, binary COPY "
        f"{built.copy_s:.1f} s; build_table's own HNSW index (1 GB, 2 workers) + VACUUM + "
        f"CHECKPOINT {built.index_s:.1f} s (not measured: dropped)"
    )
    lists = max(1, rows // 1000)
    with psycopg.connect(server.conninfo(BENCH_DB), autocommit=True) as conn:
        for (name,) in conn.execute(
            "SELECT c.relname::text FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid "
            "JOIN pg_am a ON a.oid = c.relam WHERE x.indrelid = %s::regclass "
            "AND a.amname = 'hnsw'",
            (sql.Identifier(SCHEMA, TABLE).as_string(conn),),
        ).fetchall():
            conn.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(SCHEMA, name)))
        t0 = time.perf_counter()
        conn.execute("SET maintenance_work_mem = '256MB'")
        conn.execute(
            sql.SQL("CREATE INDEX {} ON {} USING ivfflat ({} {}) WITH (lists = {})").format(
                sql.Identifier(OLD_INDEX),
                sql.Identifier(SCHEMA, TABLE),
                sql.Identifier(COLUMN),
                sql.SQL(OPCLASS),
                sql.Literal(lists),
            )
        )
        ivf_s = time.perf_counter() - t0
        conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(SCHEMA, TABLE)))
        conn.execute("CHECKPOINT")
    print(
        f"old index {OLD_INDEX}: ivfflat ({OPCLASS}) lists = {lists} in {ivf_s:.1f} s; "
        f"VACUUM (ANALYZE), CHECKPOINT; total {time.perf_counter() - started:.1f} s"
    )
    return built.dims


def checkpoint(conninfo: str) -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("CHECKPOINT")


def drop_index(conninfo: str, name: str) -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(SCHEMA, name)))


def index_bytes(conninfo: str, name: str) -> int:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        row = conn.execute(
            "SELECT pg_relation_size(%s::regclass)",
            (sql.Identifier(SCHEMA, name).as_string(conn),),
        ).fetchone()
    return int(row[0]) if row else 0


def plain_hnsw(name: str) -> sql.Composed:
    """The seeds' statement, as they wrote it: plain, blocking, pgvector's parameters."""
    return sql.SQL(
        "CREATE INDEX {} ON {} USING hnsw ({} {}) WITH (m = {}, ef_construction = {})"
    ).format(
        sql.Identifier(name),
        sql.Identifier(SCHEMA, TABLE),
        sql.Identifier(COLUMN),
        sql.SQL(OPCLASS),
        sql.Literal(M),
        sql.Literal(EF_CONSTRUCTION),
    )


def seed_build(conninfo: str) -> tuple[float, list[str]]:
    """The seeds' build on a fresh session with the server's defaults; seconds and notices.

    ``client_min_messages = debug1`` is the only change: it makes the server say how many
    parallel workers it launched, and changes nothing in the build.
    """
    notices: list[str] = []

    def keep(diag: psycopg.errors.Diagnostic) -> None:
        if diag.message_primary:
            notices.append(diag.message_primary)

    with psycopg.connect(conninfo, autocommit=True, application_name="vecscope-bench") as conn:
        conn.execute("SET client_min_messages = debug1")
        conn.add_notice_handler(keep)
        t0 = time.perf_counter()
        conn.execute(plain_hnsw(SEED_INDEX))
        return time.perf_counter() - t0, notices


def server_defaults(conninfo: str) -> str:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        return (
            f"maintenance_work_mem = {_one(conn, 'SHOW maintenance_work_mem')}, "
            "max_parallel_maintenance_workers = "
            f"{_one(conn, 'SHOW max_parallel_maintenance_workers')}, max_parallel_workers = "
            f"{_one(conn, 'SHOW max_parallel_workers')}, max_worker_processes = "
            f"{_one(conn, 'SHOW max_worker_processes')}, shared_buffers = "
            f"{_one(conn, 'SHOW shared_buffers')}"
        )


def default_mwm_kb(conninfo: str) -> int:
    """The server's maintenance_work_mem in kB: what the seeds' build gets."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        return int(
            _one(conn, "SELECT setting FROM pg_settings WHERE name = 'maintenance_work_mem'")
        )


def wizard_build(
    conn_target: ConnectionTarget, spec: MigrationSpec, predicted_s: float | None
) -> tuple[build.BuildOutcome, tuple[tuple[str, float], ...]]:
    """``core.migrate.build.run`` as the wizard calls it; the outcome and the phases seen."""
    first_seen: dict[str, float] = {}

    def progress(p: BuildProgress) -> None:
        first_seen.setdefault(p.phase, p.elapsed_s)

    outcome = build.run(conn_target, spec, on_progress=progress, predicted_s=predicted_s)
    if outcome.cancelled:
        raise BenchError("the wizard's build was cancelled")
    return outcome, tuple(first_seen.items())


def loading_seconds(phases: Sequence[tuple[str, float]], total: float) -> float:
    """When the concurrent build left its "building index" phase (polled: +-0.5 s)."""
    building = [t for phase, t in phases if phase.startswith("building")]
    if not building:
        return total
    after = [t for phase, t in phases if not phase.startswith("building") and t > building[0]]
    return min(after) if after else total


def recall_of(
    conn_target: ConnectionTarget,
    target: lab.LabTarget,
    queries: lab.QuerySet,
    gt: lab.GroundTruth,
    name: str,
    ef_search: int,
) -> float:
    """recall@K of ``name`` (the only HNSW index now), the IVFFlat steered away."""
    with connected(conn_target) as conn:
        inventory = fetch_inventory(conn)
    siblings = [
        ix
        for ix in inventory.indexes
        if (ix.schema, ix.table, ix.column) == (SCHEMA, TABLE, COLUMN) and ix.usable
    ]
    want = next((ix for ix in siblings if ix.name == name), None)
    if want is None:
        raise BenchError(f"{name} is not a usable index after its build")
    others = [ix.name for ix in siblings if ix.method == "hnsw" and ix.name != name]
    if others:
        raise BenchError(f"{name} is not the only HNSW index: {', '.join(others)}")
    settings = {**lab.steering_settings(siblings, want), "hnsw.ef_search": str(ef_search)}
    m = lab.measure(conn_target, target, queries, gt, K, settings)
    if m.index != name:
        served = m.index or "a Seq Scan"
        raise BenchError(f"the queries meant for {name} were served by {served} ({settings})")
    return m.recall


def probe_memory(conninfo: str, mwm_kb: int) -> tuple[int, float]:
    """pgvector's bytes per element on the real table: (tuples that fitted, seconds).

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

    statement = plain_hnsw(PROBE_INDEX)
    with psycopg.connect(conninfo, autocommit=True, application_name="vecscope-bench") as conn:
        conn.execute(
            sql.SQL("SET maintenance_work_mem = {}").format(sql.Literal(f"{int(mwm_kb)}kB"))
        )
        conn.execute("SET max_parallel_maintenance_workers = 0")
        conn.add_notice_handler(keep)

        def run() -> None:
            try:
                conn.execute(statement)
            except psycopg.errors.QueryCanceled:
                pass
            except BaseException as e:  # noqa: BLE001 - raised in the main thread below
                errors.append(e)

        t0 = time.perf_counter()
        runner = threading.Thread(target=run, name="bench-memory-probe", daemon=True)
        runner.start()
        while runner.is_alive() and not fitted.wait(0.1):
            pass
        seconds = time.perf_counter() - t0
        if runner.is_alive():
            conn.cancel_safe()
        runner.join()
    drop_index(conninfo, PROBE_INDEX)  # in case the graph fitted and the build finished
    if errors:
        raise BenchError(f"memory probe failed: {errors[0]}")
    rows = predict.graph_fit_rows(notices)
    if rows is None or rows <= 0:
        raise BenchError(
            f"the memory probe's graph fitted in {human_bytes(mwm_kb * 1024)}: no NOTICE "
            "to measure by (use more rows)"
        )
    return rows, seconds


def within(predicted: float, measured: float) -> bool:
    return measured > 0 and abs(predicted - measured) <= TARGET_WITHIN * measured


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def bench(server: embedded.EmbeddedServer, args: argparse.Namespace) -> int:
    dims = prepare(server, args.rows)
    conninfo = server.conninfo(BENCH_DB)
    conn_target = ConnectionTarget(dsn=server.uri(BENCH_DB))
    defaults = server_defaults(conninfo)

    with connected(conn_target, statement_timeout_ms=None) as conn:
        pgvector = _one(conn, "SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        print(
            f"PostgreSQL {_one(conn, 'SHOW server_version')}, pgvector {pgvector} "
            f"({server.flavor}); Python {sys.version.split()[0]}; {os.cpu_count()} CPUs"
        )
        print(f"server defaults: {defaults}")
        inventory = fetch_inventory(conn)
        old = next(ix for ix in inventory.indexes if ix.name == OLD_INDEX)
        target = lab.make_target(conn, SCHEMA, TABLE, COLUMN, "vector", dims, OPERATOR, old)
        queries = lab.sample_queries(conn, target, args.queries)
        gt = lab.ground_truth(conn, target, queries, K)
        print(
            f"recall@{K}: {queries.source}, exact top {K} by {gt.method} in {gt.seconds:.1f} s; "
            f"every index searched with hnsw.ef_search = {args.ef_search}"
        )
        spec = plan.choose(inventory, index=f"{SCHEMA}.{OLD_INDEX}")
        t0 = time.perf_counter()
        pf = preflight.run(conn, spec, inventory)
        preflight_s = time.perf_counter() - t0
    spec = pf.spec
    pred = pf.prediction
    if pred is None or pred.calibration is None:
        raise BenchError(f"preflight made no calibrated prediction: {'; '.join(pf.notes)}")
    cal = pred.calibration
    if spec.params != {"m": M, "ef_construction": EF_CONSTRUCTION}:
        raise BenchError(f"the wizard chose {spec.params}, not the seeds' m/ef_construction")
    mwm_kb = spec.maintenance_work_mem_kb or pf.current_mwm_kb
    exponent = predict.growth_exponent(spec.method, spec.rows / max(1, cal.sample_rows))
    print()
    print(f"wizard plan: {plan.describe(spec)} ({spec.rows:,} rows by the catalog)")
    for check in pf.checks:
        print(f"  preflight [{check.status:>4}] {check.title}")
    for note in pf.notes:
        print(f"  preflight note: {note}")
    print(
        f"calibration: {cal.sample_rows:,} rows built in {cal.seconds:.2f} s (fastest of "
        f"{predict.SAMPLE_BUILDS}; growth exponent {exponent:.2f}); graph "
        f"{cal.graph_bytes_per_row or 0:.0f} bytes/row "
        f"({'measured' if cal.memory_measured else 'formula'}); index "
        f"{cal.index_bytes_per_row:.0f} bytes/row; preflight took {preflight_s:.1f} s"
    )
    print(
        f"prediction: {pred.range_text}; serial {pred.serial_seconds:.1f} s, "
        f"{pred.workers_text} (speed-up counted {pred.speedup:.2f}); sample builds "
        f"{', '.join(f'{t:.2f}' for t in cal.times)} s; "
        f"graph {human_bytes(pred.graph_bytes)}; index "
        f"{human_bytes(pred.index_bytes)}; maintenance_work_mem {human_bytes(mwm_kb * 1024)} "
        f"({'fits' if pred.fits else 'does NOT fit'})"
    )
    print()

    serial_spec = replace(spec, parallel_workers=0)
    sides = (SEEDS, WIZARD) if args.no_serial else (SEEDS, WIZARD, SERIAL)
    runs: dict[str, list[BuildRun]] = {side: [] for side in sides}

    def run_seeds() -> BuildRun:
        checkpoint(conninfo)
        seconds, notices = seed_build(conninfo)
        result = BuildRun(
            SEEDS,
            SEED_INDEX,
            seconds,
            index_bytes(conninfo, SEED_INDEX),
            predict.graph_fit_rows(notices),
            predict.workers_used(notices),
            recall_of(conn_target, target, queries, gt, SEED_INDEX, args.ef_search),
        )
        drop_index(conninfo, SEED_INDEX)
        return result

    def run_wizard(label: str, wspec: MigrationSpec, predicted_s: float) -> BuildRun:
        checkpoint(conninfo)
        outcome, phases = wizard_build(conn_target, wspec, predicted_s)
        result = BuildRun(
            label,
            wspec.new_name,
            outcome.seconds,
            outcome.index_bytes,
            outcome.spilled_after,
            outcome.workers,
            recall_of(conn_target, target, queries, gt, wspec.new_name, args.ef_search),
            phases,
        )
        drop_index(conninfo, wspec.new_name)
        return result

    for r in range(1, args.rounds + 1):
        # Alternate the order, so drift in the machine's load hits every side alike.
        for side in sides if r % 2 == 1 else tuple(reversed(sides)):
            if side == SEEDS:
                result = run_seeds()
            elif side == WIZARD:
                result = run_wizard(WIZARD, spec, pred.seconds)
            else:
                result = run_wizard(SERIAL, serial_spec, pred.serial_seconds)
            runs[side].append(result)
            show_run(f"round {r}/{args.rounds}", result)
        print(
            f"round {r}/{args.rounds}  ratio seeds / wizard "
            f"{runs[SEEDS][-1].seconds / runs[WIZARD][-1].seconds:.2f}x",
            flush=True,
        )

    recalibrated: list[predict.Calibration] = []
    with connected(conn_target, statement_timeout_ms=None) as conn:
        for _ in range(args.calibrations):
            recalibrated.append(predict.calibrate(conn, spec))
    if recalibrated:
        print(
            f"calibration repeated {len(recalibrated)} times: sample build "
            f"{spread([c.seconds for c in recalibrated], '.2f')} s; predicted wizard build "
            f"{spread([_seconds(spec, c) for c in recalibrated], '.1f')} s"
        )

    checkpoint(conninfo)
    probe_rows, probe_s = probe_memory(conninfo, PROBE_MWM_KB)
    per_element = PROBE_MWM_KB * 1024 / probe_rows
    print(
        f"memory probe: serial plain build, maintenance_work_mem = "
        f"{human_bytes(PROBE_MWM_KB * 1024)}: graph stopped fitting after {probe_rows:,} "
        f"tuples ({probe_s:.1f} s, then cancelled) -> {per_element:.0f} bytes/element"
    )
    print()
    return summarize(
        args.rounds, spec, pred, preflight_s, runs, per_element, default_mwm_kb(conninfo)
    )


def _seconds(spec: MigrationSpec, cal: predict.Calibration) -> float:
    """The wizard's predicted build time had preflight's calibration measured ``cal``."""
    return predict.predict(
        spec,
        cal,
        workers=spec.parallel_workers or 0,
        maintenance_work_mem_kb=spec.maintenance_work_mem_kb or 0,
    ).seconds


def show_run(where: str, run: BuildRun) -> None:
    spill = f"graph spilled after {run.fit_rows:,} tuples" if run.fit_rows else "graph fitted"
    extra = ""
    if run.phases:
        extra = f"; loading tuples until ~{loading_seconds(run.phases, run.seconds):.1f} s"
        later = [f"{p} @{t:.1f}" for p, t in run.phases if not p.startswith("building")]
        extra += f" ({', '.join(later)})" if later else ""
    workers = run.workers if run.workers is not None else "-"
    print(
        f"{where}  {run.label:<13} {run.seconds:7.1f} s  workers {workers}  {spill}  "
        f"index {human_bytes(run.index_bytes)}  recall@{K} {run.recall:.4f}{extra}",
        flush=True,
    )


def spread(values: Sequence[float], fmt: str) -> str:
    """``median (min..max)`` of a side's rounds."""
    if len(values) == 1:
        return format(values[0], fmt)
    return f"{format(median(values), fmt)} ({format(min(values), fmt)}..{format(max(values), fmt)})"


def summarize(
    rounds: int,
    spec: MigrationSpec,
    pred: predict.Prediction,
    preflight_s: float,
    runs: dict[str, list[BuildRun]],
    per_element: float,
    seeds_mwm_kb: int,
) -> int:
    """Print the figures against their targets; 0 when every target is met."""
    cal = pred.calibration
    assert cal is not None
    seeds, wizard, serial = runs[SEEDS], runs[WIZARD], runs.get(SERIAL, [])
    seeds_s = median([b.seconds for b in seeds])
    wizard_s = median([b.seconds for b in wizard])
    speedup = seeds_s / wizard_s
    seeds_recall = median([b.recall for b in seeds])
    wizard_recall = median([b.recall for b in wizard])
    recall_diff = wizard_recall - seeds_recall
    wizard_bytes = int(median([b.index_bytes for b in wizard]))
    measured_graph = per_element * spec.rows
    seed_fit = [b.fit_rows for b in seeds if b.fit_rows]
    exponent = predict.growth_exponent(spec.method, spec.rows / max(1, cal.sample_rows))
    mwm_kb = spec.maintenance_work_mem_kb or pred.maintenance_work_mem_kb

    fast = speedup >= TARGET_SPEEDUP
    same_recall = abs(recall_diff) <= TARGET_RECALL_DIFF + 1e-9
    time_ok = within(pred.seconds, wizard_s)
    in_range = [pred.low_seconds <= b.seconds <= pred.high_seconds for b in wizard]
    graph_ok = pred.graph_bytes is not None and within(pred.graph_bytes, measured_graph)

    print(f"summary: medians (min..max) over {rounds} round(s), {spec.rows:,} rows")
    print(f"  seeds' build (server defaults)     {spread([b.seconds for b in seeds], '.1f')} s")
    print(
        f"  wizard's build (CONCURRENTLY)      {spread([b.seconds for b in wizard], '.1f')} s"
        f"   (+ preflight {preflight_s:.1f} s: {seeds_s / (wizard_s + preflight_s):.2f}x "
        "with it)"
    )
    print(
        f"  ratio seeds / wizard               {speedup:.2f}x   target >= "
        f"{TARGET_SPEEDUP:g}x   {verdict(fast)}"
    )
    print(f"  recall@{K} seeds                    {spread([b.recall for b in seeds], '.4f')}")
    print(f"  recall@{K} wizard                   {spread([b.recall for b in wizard], '.4f')}")
    print(
        f"  recall@{K} wizard - seeds           {recall_diff:+.4f}   target |diff| <= "
        f"{TARGET_RECALL_DIFF:g}   {verdict(same_recall)}"
    )
    print(
        f"  build time predicted / measured    {pred.seconds:.1f} s / {wizard_s:.1f} s "
        f"({pred.seconds / wizard_s:.2f}x)   target within {TARGET_WITHIN:.0%}   "
        f"{verdict(time_ok)}"
    )
    print(
        f"  predicted range / measured         {pred.low_seconds / wizard_s:.2f}x - "
        f"{pred.high_seconds / wizard_s:.2f}x   builds inside it: {sum(in_range)} of "
        f"{len(in_range)}   informational"
    )
    print(
        f"  graph memory predicted / measured  {human_bytes(pred.graph_bytes)} / "
        f"{human_bytes(int(measured_graph))} ({(pred.graph_bytes or 0) / measured_graph:.2f}x)"
        f"   target within {TARGET_WITHIN:.0%}   {verdict(graph_ok)}"
    )
    print(
        f"  index size predicted / measured    {human_bytes(pred.index_bytes)} / "
        f"{human_bytes(wizard_bytes)} ({pred.index_bytes / max(1, wizard_bytes):.2f}x)   "
        "informational"
    )
    print(
        f"  wizard settings                    maintenance_work_mem = "
        f"{human_bytes(mwm_kb * 1024)}, max_parallel_maintenance_workers = "
        f"{spec.parallel_workers} (launched: {', '.join(str(b.workers) for b in wizard)})"
    )
    print(
        f"  calibration                        {cal.sample_rows:,} rows in "
        f"{cal.seconds:.2f} s, growth exponent {exponent:.2f}; preflight {preflight_s:.1f} s"
    )
    print("  model detail (for core/migrate/predict.py):")
    seeds_graph = (
        f", seeds' build {seeds_mwm_kb * 1024 / median(seed_fit):.0f} "
        f"({human_bytes(seeds_mwm_kb * 1024)}, spilled after "
        f"{int(median(seed_fit)):,} tuples, parallel)"
        if seed_fit
        else ""
    )
    print(
        f"    graph bytes/element: calibration {cal.graph_bytes_per_row or 0:.0f} (1 MB, "
        f"{cal.sample_rows:,}-row sample), probe {per_element:.0f} "
        f"({human_bytes(PROBE_MWM_KB * 1024)}, the table){seeds_graph}"
    )
    loading = median([loading_seconds(b.phases, b.seconds) for b in wizard])
    print(
        f"    wizard build: loading tuples until ~{loading:.1f} s of {wizard_s:.1f} s: "
        f"CONCURRENTLY's waits and validation {wizard_s / loading:.3f}x "
        "(phases polled every 0.5 s)"
    )
    scale = spec.rows / max(1, cal.sample_rows)
    print(
        f"    predicted serial: sample {cal.seconds:.2f} s x ({spec.rows:,} / "
        f"{cal.sample_rows:,})^{exponent:.2f} = "
        f"{pred.serial_seconds:.1f} s; parallel: / {pred.speedup:.2f} (1 + "
        f"{predict.PARALLEL_EFFICIENCY} x {pred.workers} as far as cores are free) = "
        f"{pred.seconds:.1f} s; range {pred.low_seconds:.1f}-{pred.high_seconds:.1f} s "
        f"(exponent +/- {predict.GROWTH_UNCERTAINTY.get(spec.method, 0.03):.2f}, sample "
        f"builds {min(cal.times or (cal.seconds,)):.2f}-{cal.slowest:.2f} s, speed-up "
        f"{predict.parallel_speedup(pred.workers):.2f}x down to none)"
    )
    if serial:
        serial_s = median([b.seconds for b in serial])
        serial_loading = median([loading_seconds(b.phases, b.seconds) for b in serial])
        print(
            f"    serial wizard-settings build (0 workers): "
            f"{spread([b.seconds for b in serial], '.1f')} s, predicted "
            f"{pred.serial_seconds:.1f} s ({pred.serial_seconds / serial_s:.2f}x); loading "
            f"until ~{serial_loading:.1f} s; recall@{K} "
            f"{spread([b.recall for b in serial], '.4f')}"
        )
        print(
            f"    parallel speed-up serial / wizard: {serial_s / wizard_s:.2f}x (model "
            f"{pred.serial_seconds / pred.seconds:.2f}x, at most "
            f"{predict.parallel_speedup(pred.workers):.2f}x)"
        )
        print(
            "    growth exponent that would have predicted the serial build: "
            f"{_exponent(serial_s, cal.seconds, scale):.3f} (model: {exponent:.2f})"
        )
    passed = fast and same_recall and time_ok and graph_ok
    print()
    print(f"target: all of the above -> {verdict(passed)}")
    return 0 if passed else 1


def _exponent(seconds: float, sample_seconds: float, scale: float) -> float:
    """The growth exponent that would have predicted ``seconds`` from the sample."""
    if seconds <= 0 or sample_seconds <= 0 or scale <= 1:
        return float("nan")
    return math.log(seconds / sample_seconds) / math.log(scale)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--rows", type=int, default=100_000, help="table rows (default 100000)")
    p.add_argument(
        "--rounds", type=int, default=3, help="rounds of the builds, order alternating (default 3)"
    )
    p.add_argument(
        "--no-serial",
        action="store_true",
        help="skip the serial build with the wizard's maintenance_work_mem in each round",
    )
    p.add_argument(
        "--queries", type=int, default=QUERIES, help=f"recall queries (default {QUERIES})"
    )
    p.add_argument(
        "--ef-search",
        type=int,
        default=EF_SEARCH,
        help=f"hnsw.ef_search for every recall measurement (default {EF_SEARCH})",
    )
    p.add_argument(
        "--calibrations",
        type=int,
        default=3,
        help="repeat the wizard's calibration this many times to show its spread (default 3)",
    )
    args = p.parse_args(argv)
    if args.rows < 1_000 or min(args.rounds, args.queries, args.ef_search) < 1:
        p.error("--rows must be at least 1000; --rounds, --queries, --ef-search at least 1")
    if args.calibrations < 0:
        p.error("--calibrations cannot be negative")
    return args


def main() -> int:
    args = parse_args()

    return run_with_server(lambda server, _tmpdir: bench(server, args))


if __name__ == "__main__":
    sys.exit(main())
