"""What the benches share: a throwaway embedded server, and a table of clustered vectors.

Each bench starts its own embedded PostgreSQL in a temporary directory (stopped and
removed at the end, whatever happens) and fills ``public.items`` with the project's
realistic embeddings, so figures from different benches describe the same data.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg
from pgvector.psycopg import register_vector
from psycopg import sql

from vecscope.core import embedded
from vecscope.core.demo.embeddings import sample, topic_model
from vecscope.core.errors import VecscopeError

SCHEMA = "public"
TABLE = "items"
KEY = "id"
COLUMN = "embedding"
SEED = 20251027


class BenchError(Exception):
    """A bench's own check failed (not a vecscope error)."""


@dataclass(frozen=True, slots=True)
class Built:
    dims: int
    generate_s: float
    copy_s: float
    index_s: float


def build_table(
    admin_conninfo: str, conninfo: str, dbname: str, rows: int, *, index: bool = True
) -> Built:
    """Create ``dbname`` with ``public.items`` holding ``rows`` embeddings (child process);
    ``index=False`` leaves out the HNSW index (VACUUM and CHECKPOINT still run)."""
    started = time.perf_counter()
    vecs, _topics = sample(topic_model(SEED), rows, SEED + 1)
    dims = int(vecs.shape[1])
    generate_s = time.perf_counter() - started
    with psycopg.connect(admin_conninfo, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    table = sql.Identifier(SCHEMA, TABLE)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION vector")
        register_vector(conn)
        conn.execute(
            sql.SQL("CREATE TABLE {} ({} bigint PRIMARY KEY, {} vector({}))").format(
                table, sql.Identifier(KEY), sql.Identifier(COLUMN), sql.Literal(dims)
            )
        )
        started = time.perf_counter()
        copy_stmt = sql.SQL("COPY {} ({}, {}) FROM STDIN (FORMAT BINARY)").format(
            table, sql.Identifier(KEY), sql.Identifier(COLUMN)
        )
        with conn.cursor() as cur, cur.copy(copy_stmt) as copy:
            copy.set_types(["int8", "vector"])
            for i, vec in enumerate(vecs):
                copy.write_row((i, vec))
        copy_s = time.perf_counter() - started
        started = time.perf_counter()
        conn.execute("SET maintenance_work_mem = '1GB'")
        conn.execute("SET max_parallel_maintenance_workers = 2")
        if index:
            conn.execute(
                sql.SQL("CREATE INDEX ON {} USING hnsw ({} vector_cosine_ops)").format(
                    table, sql.Identifier(COLUMN)
                )
            )
        # VACUUM too: else the insert-triggered autovacuum of the fresh table (a
        # minute later, several seconds of I/O and CPU) lands inside a measurement. And a
        # CHECKPOINT, so the build's dirty pages are written now, not during the first round.
        conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(table))
        conn.execute("CHECKPOINT")
        index_s = time.perf_counter() - started
    return Built(dims, generate_s, copy_s, index_s)


def run_with_server(body: Callable[[embedded.EmbeddedServer, Path], int]) -> int:
    """Run ``body(server, tmpdir)`` on a fresh embedded server; 1 on a bench failure.

    Caches (the lab's ground truth) go to ``tmpdir`` too, never the user's cache.
    """
    tmpdir = tempfile.mkdtemp(prefix="vecscope-bench-")
    os.environ["XDG_CACHE_HOME"] = str(Path(tmpdir) / "cache")
    server: embedded.EmbeddedServer | None = None
    try:
        server = embedded.start(Path(tmpdir) / "pgdata")
        return body(server, Path(tmpdir))
    except (BenchError, VecscopeError) as e:
        print(f"bench failed: {e}", file=sys.stderr)
        return 1
    finally:
        try:
            if server is not None:
                server.stop()
        finally:
            shutil.rmtree(tmpdir, ignore_errors=True)
