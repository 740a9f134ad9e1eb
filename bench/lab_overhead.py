"""Benchmark: the lab's single-client QPS against pgbench's, on the same KNN query and server.

What it measures, on its own embedded PostgreSQL + pgvector (started in a fresh temporary
directory, stopped and removed at the end):

* a table of ``--rows`` (default 100,000) 384-d unit vectors from ``core.embeddings`` (the
  MiniLM-like topic clusters), loaded with binary COPY, with an HNSW index
  (``vector_cosine_ops``, pgvector's default build parameters), then VACUUM (ANALYZE) and
  CHECKPOINT so that neither an autovacuum of the fresh table nor the writing of the
  build's dirty pages runs during the measurements;
* one fixed KNN query, the 10 nearest rows by cosine distance to one row's embedding,
  single client, prepared statement, default ``hnsw.ef_search``, run back to back for
  ``--seconds`` by three clients:

  - ``pgbench -n -M prepared -c 1 -j 1 -T <seconds>`` on a script holding the statement
    with the vector written as a literal; its ``tps (without initial connection time)``;
  - vecscope as the lab measures: a session from ``open_session``, ``core.lab.run_one``
    on ``knn_sql`` with the vector sent as a parameter, each query timed with
    ``perf_counter_ns``;
  - vecscope timed the same way on the very statement pgbench runs (the literal SQL), so
    any gap can be split between the client (psycopg + Python) and the parameter;

* in ``--rounds`` rounds whose order alternates (pgbench first, then last), after one
  short untimed warm-up of each, so drift in the machine's load hits all of them alike.

Why ratios: a KNN query's rate says as much about the machine, the table and the index as
about the client that sends it. pgbench, PostgreSQL's own C client, run on the same
statement against the same server in the same run, is the floor of client overhead, so
``vecscope QPS / pgbench QPS`` (medians over the rounds) is the share of the server's
throughput the lab actually measures, comparable between runs and machines where raw QPS
is not. The target: the lab's form within 15% of pgbench.

Run from the project root: ``python bench/lab_overhead.py``.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import psycopg
from common import COLUMN, SCHEMA, TABLE, BenchError, build_table, run_with_server
from psycopg import sql
from psycopg.rows import TupleRow

from vecscope.core import embedded
from vecscope.core.catalog.inventory import fetch_inventory
from vecscope.core.connection import ConnectionTarget, connected
from vecscope.core.lab.measure import knn_sql, open_session, run_one, serving_index
from vecscope.core.lab.sampling import sample_queries
from vecscope.core.lab.target import LabTarget, resolve_target

Conn = psycopg.Connection[TupleRow]

BENCH_DB = "bench_lab_overhead"
K = 10
TARGET_WITHIN = 0.15
WARMUP_S = 1

PGBENCH = "pgbench"
LAB = "vecscope (lab: vector parameter)"
LITERAL = "vecscope (literal SQL)"
TOOLS: tuple[str, ...] = (PGBENCH, LAB, LITERAL)


@dataclass(frozen=True, slots=True)
class Rate:
    """One timed run of one client."""

    queries: int
    qps: float
    mean_ms: float


def build(server: embedded.EmbeddedServer, dbname: str, rows: int) -> int:
    """``public.items`` with ``rows`` clustered embeddings and an HNSW index; return dims."""
    built = build_table(server.conninfo("postgres"), server.conninfo(dbname), dbname, rows)
    print(f"generated {rows:,} x {built.dims} vectors in {built.generate_s:.1f} s")
    print(f"loaded {rows:,} rows with binary COPY in {built.copy_s:.1f} s")
    print(f"built the HNSW index, VACUUM (ANALYZE), CHECKPOINT in {built.index_s:.1f} s")
    return built.dims


def literal_sql(target: LabTarget, literal: str, k: int) -> sql.Composed:
    """The brief's fixed statement: the vector written into the SQL as a literal."""
    vec = sql.SQL("{}::vector").format(sql.Literal(literal))
    return sql.SQL(
        "SELECT {key}, ({col} {op} {vec})::float8 FROM {tbl} "
        "ORDER BY {col} {op} {vec} LIMIT {limit}"
    ).format(
        key=sql.Identifier(target.key),
        col=sql.Identifier(target.column),
        op=sql.SQL(target.operator),
        vec=vec,
        tbl=sql.Identifier(target.schema, target.table),
        limit=sql.Literal(k),
    )


def run_literal(conn: Conn, stmt: sql.Composed) -> tuple[float, list[tuple[int, float]]]:
    """``core.lab.run_one`` for a statement without parameters: timed and decoded alike."""
    t0 = time.perf_counter_ns()
    rows = conn.execute(stmt, prepare=True).fetchall()
    return (time.perf_counter_ns() - t0) / 1e6, [(int(r[0]), float(r[1])) for r in rows]


def _plan_index(plan: dict[str, Any]) -> str | None:
    stack = [plan]
    while stack:
        node = stack.pop()
        if node.get("Order By") and node.get("Index Name"):
            return str(node["Index Name"])
        stack.extend(node.get("Plans", []))
    return None


def literal_serving_index(conn: Conn, stmt: sql.Composed) -> str | None:
    row = conn.execute(sql.SQL("EXPLAIN (FORMAT JSON) {}").format(stmt)).fetchone()
    return _plan_index(row[0][0]["Plan"]) if row else None


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
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
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
    return Rate(int(done.group(1)), float(tps.group(1)), float(latency.group(1)))


def run_vecscope(
    conn_target: ConnectionTarget, seconds: float, once: Callable[[Conn], float]
) -> Rate:
    """Queries back to back on one measuring session for ``seconds`` (connect not timed)."""
    conn = open_session(conn_target, {})
    try:
        latencies: list[float] = []
        started = time.perf_counter()
        deadline = started + seconds
        while time.perf_counter() < deadline:
            latencies.append(once(conn))
        wall = time.perf_counter() - started
    finally:
        conn.close()
    return Rate(len(latencies), len(latencies) / wall, statistics.fmean(latencies))


def bench(server: embedded.EmbeddedServer, args: argparse.Namespace, tmpdir: Path) -> int:
    build(server, BENCH_DB, args.rows)
    uri = server.uri(BENCH_DB)
    conn_target = ConnectionTarget(dsn=uri)

    with connected(conn_target) as conn:
        inventory = fetch_inventory(conn)
        target = resolve_target(conn, inventory, SCHEMA, TABLE, COLUMN)
        queries = sample_queries(conn, target, 1)
        vec: npt.NDArray[np.float32] = queries.vectors[0]
        row_id = int(queries.self_ids[0]) if queries.self_ids is not None else 0
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

    lit_stmt = literal_sql(target, literal, K)
    script = tmpdir / "knn.sql"
    with psycopg.connect(server.conninfo(BENCH_DB)) as conn:
        script.write_text(lit_stmt.as_string(conn) + ";\n")
        # Rendered once, as core.lab.measure does: composing it is not part of a query.
        lab_stmt = knn_sql(target, K, 0).as_bytes(conn)

    # Both forms must be the same query: same plan (the HNSW index), same answer.
    check = open_session(conn_target, {})
    try:
        lab_index = serving_index(check, target, vec, K)
        lit_index = literal_serving_index(check, lit_stmt)
        _, lab_rows = run_one(check, lab_stmt, vec)
        _, lit_rows = run_literal(check, lit_stmt)
    finally:
        check.close()
    if lab_index is None or lab_index != lit_index:
        raise BenchError(f"plans differ or use no index: lab {lab_index}, literal {lit_index}")
    if [r[0] for r in lab_rows] != [r[0] for r in lit_rows] or len(lab_rows) != K:
        raise BenchError(f"answers differ: lab {lab_rows}, literal {lit_rows}")

    print(
        f"PostgreSQL {server_version[0] if server_version else '?'}, "
        f"pgvector {pgvector[0] if pgvector else '?'} ({server.flavor}); "
        f"Python {sys.version.split()[0]}; psycopg {psycopg.__version__}"
    )
    print(
        f"query: top {K} of {target.rows:,} rows by {target.operator} to row {row_id}'s "
        f"embedding, served by {lab_index} (hnsw.ef_search = "
        f"{ef_search[0] if ef_search else '?'}); literal statement {len(literal):,} chars"
    )
    print(f"pgbench script: {script.name} ({script.stat().st_size:,} bytes), -M prepared -c 1")
    print()

    def lab_once(conn: Conn) -> float:
        return run_one(conn, lab_stmt, vec)[0]

    def literal_once(conn: Conn) -> float:
        return run_literal(conn, lit_stmt)[0]

    def run(tool: str, seconds: int) -> Rate:
        if tool == PGBENCH:
            return run_pgbench(server, BENCH_DB, script, seconds)
        return run_vecscope(conn_target, seconds, lab_once if tool == LAB else literal_once)

    for tool in TOOLS:  # warm-up: caches, plans, CPU frequency; not reported
        run(tool, WARMUP_S)

    rates: dict[str, list[Rate]] = {tool: [] for tool in TOOLS}
    for r in range(args.rounds):
        order = TOOLS if r % 2 == 0 else tuple(reversed(TOOLS))
        for tool in order:
            rate = run(tool, args.seconds)
            rates[tool].append(rate)
            print(
                f"round {r + 1}/{args.rounds}  {tool:<34} {rate.qps:9.1f} qps  "
                f"mean {rate.mean_ms:6.3f} ms  ({rate.queries:,} queries in {args.seconds} s)"
            )
        print(
            f"round {r + 1}/{args.rounds}  ratios: lab/pgbench "
            f"{rates[LAB][-1].qps / rates[PGBENCH][-1].qps:.3f}, literal/pgbench "
            f"{rates[LITERAL][-1].qps / rates[PGBENCH][-1].qps:.3f}"
        )
    print()
    medians = {tool: statistics.median(r.qps for r in rates[tool]) for tool in TOOLS}
    for tool in TOOLS:
        mean_ms = statistics.median(r.mean_ms for r in rates[tool])
        print(
            f"median over {args.rounds} rounds  {tool:<34} {medians[tool]:9.1f} qps  "
            f"mean {mean_ms:6.3f} ms"
        )
    lab_ratio = medians[LAB] / medians[PGBENCH]
    lit_ratio = medians[LITERAL] / medians[PGBENCH]
    per_query_us = (1 / medians[LAB] - 1 / medians[PGBENCH]) * 1e6
    print()
    print(
        f"ratio vecscope (lab) / pgbench (medians):     {lab_ratio:.3f} "
        f"(the lab adds {per_query_us:.0f} us per query)"
    )
    print(f"ratio vecscope (literal) / pgbench (medians): {lit_ratio:.3f}")
    passed = abs(lab_ratio - 1) <= TARGET_WITHIN
    lit_passed = abs(lit_ratio - 1) <= TARGET_WITHIN
    print(
        f"literal form: within {TARGET_WITHIN:.0%} -> {'PASS' if lit_passed else 'FAIL'} "
        "(informational)"
    )
    print(f"target: within {TARGET_WITHIN:.0%} -> {'PASS' if passed else 'FAIL'}")
    return 0 if passed else 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--rows", type=int, default=100_000, help="table rows (default 100000)")
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    p.add_argument(
        "--seconds", type=int, default=5, help="seconds per client per round (default 5)"
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
