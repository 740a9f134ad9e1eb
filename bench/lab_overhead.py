"""Benchmark: the lab's single-client QPS against pgbench's, on the same KNN query and server.

What it measures, on its own embedded PostgreSQL + pgvector (started in a fresh temporary
directory, stopped and removed at the end):

* a table of ``--rows`` (default 100,000) 384-d unit vectors from ``core.embeddings`` (the
  MiniLM-like topic clusters), loaded with binary COPY, with an HNSW index
  (``vector_cosine_ops``, pgvector's default build parameters), then VACUUM (ANALYZE) and
  CHECKPOINT so that neither an autovacuum of the fresh table nor the writing of the
  build's dirty pages runs during the measurements;
* one fixed KNN query, the lab's statement (``knn_sql``: the 10 nearest rows by cosine
  distance to one row's embedding), single client, prepared, default ``hnsw.ef_search``,
  run back to back for ``--seconds`` by three clients:

  - ``pgbench -n -M prepared -c 1 -j 1 -T <seconds>`` on a script holding that statement
    with the vector written in as a literal; its ``tps (without initial connection time)``;
  - the lab itself: ``core.lab.runner.LiveLab.run_window`` (the Latency mode's window
    loop, ``TimedQueries`` underneath: prepared once, the vector parameter dumped once,
    libpq's PQexecPrepared timed, rows read in binary), its window's QPS;
  - the plain psycopg form, informational: ``core.lab.run_one`` (a cursor per query, the
    parameters adapted and the rows loaded by psycopg on every call), as the lab timed
    queries before issue #16;

* in ``--rounds`` rounds whose order alternates (pgbench first, then last), after one
  short untimed warm-up of each, so drift in the machine's load hits all of them alike;
  each client's CPU time per query (``getrusage``: the process's own, pgbench's as a
  child) is printed beside, a figure the neighbours' load moves far less than QPS.

Why ratios: a KNN query's rate says as much about the machine, the table and the index as
about the client that sends it. pgbench, PostgreSQL's own C client, run on the same
statement against the same server in the same round, is the floor of client overhead, so
``lab QPS / pgbench QPS`` in each round, and its median over the rounds, is the share of
the server's throughput the lab actually measures, comparable between runs and machines
where raw QPS is not. The target: lab QPS >= 0.95 x pgbench's (median of the rounds).

Run from the project root: ``python bench/lab_overhead.py``.
"""

from __future__ import annotations

import argparse
import re
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg
from common import COLUMN, SCHEMA, TABLE, BenchError, build_table, run_with_server
from psycopg import sql
from psycopg.rows import TupleRow

from vecscope.core import embedded
from vecscope.core.catalog.inventory import fetch_inventory
from vecscope.core.connection import ConnectionTarget, connected
from vecscope.core.lab.groundtruth import ground_truth
from vecscope.core.lab.measure import TimedQueries, knn_sql, open_session, run_one, serving_index
from vecscope.core.lab.runner import LiveLab
from vecscope.core.lab.sampling import QuerySet, sample_queries
from vecscope.core.lab.target import LabTarget, resolve_target

Conn = psycopg.Connection[TupleRow]

BENCH_DB = "bench_lab_overhead"
K = 10
TARGET_RATIO = 0.95
WARMUP_S = 1

PGBENCH = "pgbench"
LAB = "vecscope lab (LiveLab window)"
PLAIN = "vecscope plain (run_one, psycopg)"
TOOLS: tuple[str, ...] = (PGBENCH, LAB, PLAIN)


@dataclass(frozen=True, slots=True)
class Rate:
    """One timed run of one client."""

    queries: int
    qps: float
    #: The mean per-query latency (the lab's window: its p50).
    mean_ms: float
    #: The client's own CPU time per query (user + system), microseconds.
    cpu_us: float


def build(server: embedded.EmbeddedServer, dbname: str, rows: int) -> int:
    """``public.items`` with ``rows`` clustered embeddings and an HNSW index; return dims."""
    built = build_table(server.conninfo("postgres"), server.conninfo(dbname), dbname, rows)
    print(f"generated {rows:,} x {built.dims} vectors in {built.generate_s:.1f} s")
    print(f"loaded {rows:,} rows with binary COPY in {built.copy_s:.1f} s")
    print(f"built the HNSW index, VACUUM (ANALYZE), CHECKPOINT in {built.index_s:.1f} s")
    return built.dims


def _cpu(who: int) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def run_pgbench(server: embedded.EmbeddedServer, dbname: str, script: Path, seconds: int) -> Rate:
    cmd = [
        str(embedded.bin_dir() / "pgbench"),
        "-n",
        "-M",
        "prepared",
        "-c",
        "1",
        "-j",
        "1",
        "-T",
        str(seconds),
        "-f",
        str(script),
        "-h",
        server.socket_dir,
        "-U",
        embedded.SUPERUSER,
        dbname,
    ]
    cpu0 = _cpu(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    cpu = _cpu(resource.RUSAGE_CHILDREN) - cpu0
    if proc.returncode != 0:
        raise BenchError(f"pgbench exited {proc.returncode}: {proc.stderr.strip()}")
    tps = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", proc.stdout)
    done = re.search(r"number of transactions actually processed: (\d+)", proc.stdout)
    latency = re.search(r"latency average = ([0-9.]+) ms", proc.stdout)
    failed = re.search(r"number of failed transactions: (\d+)", proc.stdout)
    if tps is None or done is None or latency is None:
        raise BenchError(f"cannot read pgbench's output:\n{proc.stdout}{proc.stderr}")
    if failed is not None and int(failed.group(1)) != 0:
        raise BenchError(f"pgbench had failed transactions:\n{proc.stdout}")
    n = int(done.group(1))
    return Rate(n, float(tps.group(1)), float(latency.group(1)), cpu / max(n, 1) * 1e6)


def run_lab(lab: LiveLab, seconds: float) -> Rate:
    """One window of the Latency mode's loop, ``seconds`` long: its own QPS and latencies."""
    lab.window_s = seconds
    cpu0 = _cpu(resource.RUSAGE_SELF)
    sample = lab.run_window()
    cpu = _cpu(resource.RUSAGE_SELF) - cpu0
    # The window reports percentiles, not a mean: its median stands in for it.
    return Rate(sample.queries, sample.qps, sample.p50_ms, cpu / max(sample.queries, 1) * 1e6)


def run_plain(conn_target: ConnectionTarget, seconds: float, once: Callable[[Conn], float]) -> Rate:
    """Queries back to back on one measuring session for ``seconds`` (connect not timed)."""
    conn = open_session(conn_target, {})
    try:
        latencies: list[float] = []
        cpu0 = _cpu(resource.RUSAGE_SELF)
        started = time.perf_counter()
        deadline = started + seconds
        while time.perf_counter() < deadline:
            latencies.append(once(conn))
        wall = time.perf_counter() - started
        cpu = _cpu(resource.RUSAGE_SELF) - cpu0
    finally:
        conn.close()
    n = len(latencies)
    return Rate(n, n / wall, statistics.fmean(latencies), cpu / n * 1e6)


def bench(server: embedded.EmbeddedServer, args: argparse.Namespace, tmpdir: Path) -> int:
    build(server, BENCH_DB, args.rows)
    uri = server.uri(BENCH_DB)
    conn_target = ConnectionTarget(dsn=uri)

    with connected(conn_target) as conn:
        inventory = fetch_inventory(conn)
        target: LabTarget = resolve_target(conn, inventory, SCHEMA, TABLE, COLUMN)
        sampled = sample_queries(conn, target, 1)
        row_id = int(sampled.self_ids[0]) if sampled.self_ids is not None else 0
        # One query, its own row included (as pgbench's literal statement has it).
        queries = QuerySet(sampled.vectors[:1], None, f"row {row_id}")
        gt = ground_truth(conn, target, queries, K, use_cache=False)
        text_row = conn.execute(
            sql.SQL("SELECT {}::text FROM {} WHERE {} = %s").format(
                sql.Identifier(target.column),
                sql.Identifier(target.schema, target.table),
                sql.Identifier(target.key),
            ),
            (row_id,),
        ).fetchone()
        if text_row is None:
            raise BenchError(f"row {row_id} vanished")
        literal = str(text_row[0])
        server_version = conn.execute("SHOW server_version").fetchone()
        pgvector = conn.execute(
            "SELECT extversion FROM pg_extension WHERE extname = 'vector'"
        ).fetchone()
        ef_search = conn.execute("SHOW hnsw.ef_search").fetchone()
        # The lab's statement, rendered once as the lab renders it, and pgbench's: the
        # very same text with the vector written in where the lab binds it.
        lab_stmt = knn_sql(target, K, 0).as_bytes(conn)
        script_sql = lab_stmt.decode().replace("%(q)s", sql.Literal(literal).as_string(conn))
    script = tmpdir / "knn.sql"
    script.write_text(script_sql + ";\n")
    vec = queries.vectors[0]

    # All forms must be the same query: the same plan (the HNSW index), the same answer.
    check = open_session(conn_target, {})
    try:
        lab_index = serving_index(check, target, vec, K)
        _, lab_rows = TimedQueries(check, lab_stmt, queries).run(0)
        _, plain_rows = run_one(check, lab_stmt, vec)
        lit_rows = [(int(r[0]), float(r[1])) for r in check.execute(script_sql).fetchall()]
    finally:
        check.close()
    if lab_index is None:
        raise BenchError("the lab's query uses no index")
    if not (lab_rows == plain_rows == lit_rows) or len(lab_rows) != K:
        raise BenchError(f"answers differ: lab {lab_rows}, plain {plain_rows}, pgbench {lit_rows}")

    print(
        f"PostgreSQL {server_version[0] if server_version else '?'}, "
        f"pgvector {pgvector[0] if pgvector else '?'} ({server.flavor}); "
        f"Python {sys.version.split()[0]}; psycopg {psycopg.__version__} "
        f"({psycopg.pq.__impl__})"
    )
    print(
        f"query: top {K} of {target.rows:,} rows by {target.operator} to row {row_id}'s "
        f"embedding, served by {lab_index} (hnsw.ef_search = "
        f"{ef_search[0] if ef_search else '?'}); literal statement {len(literal):,} chars"
    )
    print(f"pgbench script: {script.name} ({script.stat().st_size:,} bytes), -M prepared -c 1")
    print()

    lab = LiveLab(conn_target, target, queries, gt, k=K, concurrency=1)

    def plain_once(conn: Conn) -> float:
        return run_one(conn, lab_stmt, vec)[0]

    def run(tool: str, seconds: int) -> Rate:
        if tool == PGBENCH:
            return run_pgbench(server, BENCH_DB, script, seconds)
        if tool == LAB:
            return run_lab(lab, seconds)
        return run_plain(conn_target, seconds, plain_once)

    try:
        for tool in TOOLS:  # warm-up: caches, plans, CPU frequency; not reported
            run(tool, WARMUP_S)

        rates: dict[str, list[Rate]] = {tool: [] for tool in TOOLS}
        ratios: list[float] = []
        plain_ratios: list[float] = []
        for r in range(args.rounds):
            order = TOOLS if r % 2 == 0 else tuple(reversed(TOOLS))
            for tool in order:
                rate = run(tool, args.seconds)
                rates[tool].append(rate)
                print(
                    f"round {r + 1}/{args.rounds}  {tool:<34} {rate.qps:9.1f} qps  "
                    f"mean {rate.mean_ms:6.3f} ms  client CPU {rate.cpu_us:5.1f} us/query  "
                    f"({rate.queries:,} queries in {args.seconds} s)"
                )
            ratios.append(rates[LAB][-1].qps / rates[PGBENCH][-1].qps)
            plain_ratios.append(rates[PLAIN][-1].qps / rates[PGBENCH][-1].qps)
            print(
                f"round {r + 1}/{args.rounds}  ratio lab/pgbench QPS {ratios[-1]:.3f}  "
                f"(plain/pgbench {plain_ratios[-1]:.3f})",
                flush=True,
            )
    finally:
        lab.close()
    print()
    for tool in TOOLS:
        print(
            f"median over {args.rounds} rounds  {tool:<34} "
            f"{statistics.median(x.qps for x in rates[tool]):9.1f} qps  "
            f"mean {statistics.median(x.mean_ms for x in rates[tool]):6.3f} ms  "
            f"client CPU {statistics.median(x.cpu_us for x in rates[tool]):5.1f} us/query"
        )
    ratio = statistics.median(ratios)
    plain_ratio = statistics.median(plain_ratios)
    lab_cpu = statistics.median(x.cpu_us for x in rates[LAB])
    pgbench_cpu = statistics.median(x.cpu_us for x in rates[PGBENCH])
    print()
    print(f"ratios lab/pgbench QPS per round: {', '.join(f'{x:.3f}' for x in ratios)}")
    print(f"median ratio lab/pgbench QPS:   {ratio:.3f}")
    print(f"median ratio plain/pgbench QPS: {plain_ratio:.3f} (informational)")
    print(
        f"client CPU per query: lab {lab_cpu:.1f} us, pgbench {pgbench_cpu:.1f} us "
        f"(ratio {lab_cpu / pgbench_cpu:.2f})"
    )
    passed = ratio >= TARGET_RATIO
    print(f"target: lab >= {TARGET_RATIO:.2f} x pgbench -> {'PASS' if passed else 'FAIL'}")
    return 0 if passed else 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--rows", type=int, default=100_000, help="table rows (default 100000)")
    p.add_argument("--rounds", type=int, default=7, help="alternating rounds (default 7)")
    p.add_argument(
        "--seconds", type=int, default=3, help="seconds per client per round (default 3)"
    )
    args = p.parse_args(argv)
    if args.rows < K + 1 or args.rounds < 1 or args.seconds < 1:
        p.error(f"--rows must be > {K}, --rounds and --seconds at least 1")
    return args


def main() -> int:
    args = parse_args()
    return run_with_server(lambda server, tmpdir: bench(server, args, tmpdir))


if __name__ == "__main__":
    sys.exit(main())
