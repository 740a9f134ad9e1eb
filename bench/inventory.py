"""Benchmark: ``vecscope indexes --json`` on a catalog of 500 tables and 1,000 vector indexes.

What it measures, on its own embedded PostgreSQL + pgvector (started in a fresh temporary
directory, stopped and removed at the end):

* the wall time of ``vecscope indexes --json`` as a subprocess (1 warm-up, then 7 timed
  runs; min / median / max), i.e. what a user or a script waits for;
* the same inventory in-process (``connected`` + ``fetch_inventory``), i.e. the catalog
  queries and their decoding without interpreter start-up;
* ``vecscope --version`` as a subprocess: interpreter start-up plus vecscope's imports, and
  nothing else;
* the number of SQL statements the inventory issues, on a 10-table catalog and on the
  500-table one: the catalog is read with a fixed number of queries, never one per table.

Why ratios: absolute seconds on a shared or noisy machine say as much about the machine as
about vecscope. The ``--version`` baseline is measured in the same run, on the same machine,
under the same load, so ``inventory median / baseline median`` (how many start-ups the
inventory costs) is comparable between runs and machines where raw seconds are not. The
pass/fail target stays the absolute one the feature promises: under 1 s for the subprocess
median.

Run from the project root: ``python bench/inventory.py``.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import psycopg
from common import BenchError, run_with_server
from psycopg import sql
from psycopg.rows import TupleRow

from vecscope.core import embedded
from vecscope.core.catalog.inventory import fetch_inventory
from vecscope.core.connection import ConnectionTarget, connected

BENCH_DB = "bench_inventory"
SMALL_DB = "bench_inventory_small"
TABLES = 500
SMALL_TABLES = 10
EXPECTED_INDEXES = 1_000
RUNS = 7
TARGET_S = 1.0

#: Five schemas; two need quoting (a space, capitals).
SCHEMAS: tuple[str, ...] = ("catalog", "Tenant Data", "ml_features", "Search", "archive_2024")
#: (method, opclass, WITH parameters or None for pgvector's defaults), cycled per index.
#: The ``lists`` values cover 10..100.
INDEX_KINDS: tuple[tuple[str, str, dict[str, int] | None], ...] = (
    ("hnsw", "vector_cosine_ops", {"m": 16, "ef_construction": 64}),
    ("ivfflat", "vector_l2_ops", {"lists": 10}),
    ("hnsw", "vector_l2_ops", None),
    ("ivfflat", "vector_cosine_ops", {"lists": 100}),
    ("hnsw", "vector_ip_ops", {"m": 8, "ef_construction": 32}),
    ("ivfflat", "vector_ip_ops", None),
    ("hnsw", "vector_cosine_ops", None),
    ("ivfflat", "vector_cosine_ops", {"lists": 50}),
    ("hnsw", "vector_l2_ops", {"m": 24, "ef_construction": 100}),
    ("ivfflat", "vector_l2_ops", {"lists": 25}),
)


@dataclass(frozen=True, slots=True)
class Catalog:
    """What was built, for checking the inventory against."""

    tables: int
    columns: int
    indexes: int
    partial: int


@dataclass(frozen=True, slots=True)
class Timings:
    runs: tuple[float, ...]

    @property
    def min(self) -> float:
        return min(self.runs)

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    @property
    def max(self) -> float:
        return max(self.runs)

    def line(self) -> str:
        return f"min {self.min:.3f} s  median {self.median:.3f} s  max {self.max:.3f} s"


def _table_name(i: int) -> str:
    # Every 7th table has a name that needs quoting.
    return f"Docs {i:04d}" if i % 7 == 3 else f"items_{i:04d}"


def build_catalog(conn: psycopg.Connection[TupleRow], n_tables: int) -> Catalog:
    """Create ``n_tables`` vector tables over :data:`SCHEMAS` with 2 vector indexes each.

    Every table has ``embedding vector(384)``; every 4th also ``summary_embedding
    vector(128)`` (its second index goes there). Every 10th table holds 5 rows, the rest
    none. Every 100th index is partial (``WHERE id > 0``).
    """
    for schema in SCHEMAS:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    columns = indexes = partial = 0
    # One transaction per schema's worth of tables keeps the lock table small.
    per_batch = max(1, n_tables // len(SCHEMAS))
    for start in range(0, n_tables, per_batch):
        with conn.transaction():
            for i in range(start, min(start + per_batch, n_tables)):
                schema = SCHEMAS[i % len(SCHEMAS)]
                table = sql.Identifier(schema, _table_name(i))
                with_summary = i % 4 == 0
                extra = sql.SQL(", summary_embedding vector(128)") if with_summary else sql.SQL("")
                conn.execute(
                    sql.SQL(
                        "CREATE TABLE {} (id bigint PRIMARY KEY, embedding vector(384), "
                        "title text{})"
                    ).format(table, extra)
                )
                columns += 2 if with_summary else 1
                if i % 10 == 0:
                    conn.execute(
                        sql.SQL(
                            "INSERT INTO {} (id, embedding, title) "
                            "SELECT g, array_fill(g::real, ARRAY[384])::vector, 'row ' || g "
                            "FROM generate_series(1, 5) g"
                        ).format(table)
                    )
                targets = ("embedding", "summary_embedding" if with_summary else "embedding")
                for k, column in enumerate(targets):
                    n = 2 * i + k
                    method, opclass, params = INDEX_KINDS[n % len(INDEX_KINDS)]
                    is_partial = n % 100 == 7
                    name = f"{_table_name(i)}_{column}_{method}_{k}"
                    with_clause = (
                        sql.SQL(" WITH ({})").format(
                            sql.SQL(", ").join(
                                sql.SQL("{} = {}").format(sql.SQL(key), sql.Literal(value))
                                for key, value in params.items()
                            )
                        )
                        if params
                        else sql.SQL("")
                    )
                    conn.execute(
                        sql.SQL("CREATE INDEX {} ON {} USING {} ({} {}){}{}").format(
                            sql.Identifier(name),
                            table,
                            sql.SQL(method),
                            sql.Identifier(column),
                            sql.Identifier(opclass),
                            with_clause,
                            sql.SQL(" WHERE id > 0") if is_partial else sql.SQL(""),
                        )
                    )
                    indexes += 1
                    partial += is_partial
    conn.execute("ANALYZE")
    return Catalog(tables=n_tables, columns=columns, indexes=indexes, partial=partial)


def create_database(server: embedded.EmbeddedServer, dbname: str, n_tables: int) -> Catalog:
    with psycopg.connect(server.conninfo("postgres"), autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    with psycopg.connect(server.conninfo(dbname), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION vector")
        return build_catalog(conn, n_tables)


def time_runs(fn: Callable[[], None], runs: int = RUNS, warmup: int = 1) -> Timings:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return Timings(tuple(times))


def launcher() -> list[str]:
    """The installed ``vecscope`` script next to this interpreter, else ``-m tui.launch``."""
    script = Path(sys.executable).parent / "vecscope"
    return [str(script)] if script.exists() else [sys.executable, "-m", "vecscope.cli.launch"]


def run_cli(args: list[str]) -> str:
    proc = subprocess.run([*launcher(), *args], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise BenchError(
            f"vecscope {' '.join(args)} exited {proc.returncode}: {proc.stderr.strip()}"
        )
    return proc.stdout


def check_inventory_json(text: str, catalog: Catalog) -> None:
    doc: dict[str, Any] = json.loads(text)
    n_indexes, n_columns = len(doc["indexes"]), len(doc["columns"])
    if n_indexes != catalog.indexes or n_columns != catalog.columns:
        raise BenchError(
            f"inventory JSON has {n_indexes} indexes and {n_columns} columns, "
            f"expected {catalog.indexes} and {catalog.columns}"
        )


@contextmanager
def counting_statements() -> Iterator[list[str]]:
    """Record every ``psycopg.Cursor.execute`` in this process (first line of the SQL)."""
    seen: list[str] = []
    original = psycopg.Cursor.execute

    def counting(self: psycopg.Cursor[Any], query: Any, *args: Any, **kwargs: Any) -> Any:
        text = query.as_string(self) if isinstance(query, sql.Composable) else query
        if isinstance(text, bytes):
            text = text.decode()
        seen.append(str(text).strip().splitlines()[0] if str(text).strip() else "")
        return original(self, query, *args, **kwargs)

    with mock.patch.object(psycopg.Cursor, "execute", counting):
        yield seen


def count_inventory_statements(uri: str) -> tuple[int, int]:
    """(statements at connect, statements in ``fetch_inventory``) for one inventory."""
    with counting_statements() as seen:
        with connected(ConnectionTarget(dsn=uri)) as conn:
            at_connect = len(seen)
            fetch_inventory(conn)
        return at_connect, len(seen) - at_connect


def in_process(uri: str) -> None:
    with connected(ConnectionTarget(dsn=uri)) as conn:
        fetch_inventory(conn)


def bench(server: embedded.EmbeddedServer) -> int:
    started = time.perf_counter()
    catalog = create_database(server, BENCH_DB, TABLES)
    print(
        f"built {catalog.tables} tables over {len(SCHEMAS)} schemas: {catalog.columns} vector "
        f"columns, {catalog.indexes} vector indexes ({catalog.partial} partial) "
        f"in {time.perf_counter() - started:.1f} s"
    )
    if catalog.indexes != EXPECTED_INDEXES:
        raise BenchError(f"built {catalog.indexes} indexes, expected {EXPECTED_INDEXES}")
    small = create_database(server, SMALL_DB, SMALL_TABLES)
    print(
        f"built small catalog: {small.tables} tables, {small.columns} columns, "
        f"{small.indexes} indexes"
    )
    uri, small_uri = server.uri(BENCH_DB), server.uri(SMALL_DB)

    with connected(ConnectionTarget(dsn=uri)) as conn:
        server_version = conn.execute("SHOW server_version").fetchone()
        pgvector = conn.execute(
            "SELECT extversion FROM pg_extension WHERE extname = 'vector'"
        ).fetchone()
    print(
        f"PostgreSQL {server_version[0] if server_version else '?'}, "
        f"pgvector {pgvector[0] if pgvector else '?'} ({server.flavor}); "
        f"Python {sys.version.split()[0]}; launcher: {' '.join(launcher())}"
    )
    print()

    check_inventory_json(run_cli(["indexes", "--json", "--dsn", small_uri]), small)

    outputs: list[str] = []

    def cli_inventory() -> None:
        outputs.append(run_cli(["indexes", "--json", "--dsn", uri]))

    def cli_version() -> None:
        run_cli(["--version"])

    baseline = time_runs(cli_version)
    print(f"vecscope --version (baseline), {RUNS} runs:  {baseline.line()}")
    command = time_runs(cli_inventory)
    for output in outputs:  # checked outside the timed region: parsing is not the command's
        check_inventory_json(output, catalog)
    print(f"vecscope indexes --json, {RUNS} runs:        {command.line()}")
    inproc = time_runs(lambda: in_process(uri))
    print(f"in-process connect + fetch_inventory:      {inproc.line()}")
    print()
    ratio = command.median / baseline.median
    print(
        f"ratio inventory / baseline (medians):      {ratio:.2f}x "
        f"(inventory adds {command.median - baseline.median:.3f} s over start-up)"
    )

    small_connect, small_count = count_inventory_statements(small_uri)
    big_connect, big_count = count_inventory_statements(uri)
    verdict = "constant" if small_count == big_count else "NOT constant"
    print(
        f"SQL statements per inventory: {small_count} for {small.tables} tables, "
        f"{big_count} for {catalog.tables} tables -> {verdict} "
        f"(plus {big_connect} at connect: SET statement_timeout)"
    )
    if small_connect != big_connect:
        print(f"  note: connect issued {small_connect} vs {big_connect} statements")
    print()
    passed = command.median < TARGET_S and small_count == big_count
    print(f"target: under {TARGET_S:g} s -> {'PASS' if command.median < TARGET_S else 'FAIL'}")
    return 0 if passed else 1


def main() -> int:
    return run_with_server(lambda server, _tmpdir: bench(server))


if __name__ == "__main__":
    sys.exit(main())
