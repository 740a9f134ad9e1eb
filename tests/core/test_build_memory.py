"""The build's memory on real servers: maintenance_work_mem never above what the server
lets this session SET, and the warning before a parallel HNSW build whose shared memory
segment /dev/shm cannot hold (pgvector #453).

A vanilla PostgreSQL's max_val for maintenance_work_mem is fixed (2 TB): the tests read it
for real, choose against it and SET it for real, and let the server refuse a larger value.
A provider's lower max_val, or a hook refusing SET, cannot be made on a vanilla server.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import conninfo as pg_conninfo
from psycopg import sql

from tests.conftest import Database
from tests.core.cli_helpers import assert_one_line_error, vecscope
from vecscope.core import embedded
from vecscope.core.catalog.inventory import fetch_inventory
from vecscope.core.connection import ConnectionTarget, connected
from vecscope.core.embedded import EmbeddedServer
from vecscope.core.migrate import memory, preflight
from vecscope.core.migrate.checks import INFO, OK, WARN, Check
from vecscope.core.migrate.plan import MigrationSpec, choose

INDEX = "public.idx_doc_chunks_embedding"
SERIAL_ROLE = "vs_serial_builder"


def _spec(conn: psycopg.Connection[psycopg.rows.TupleRow], index: str = INDEX) -> MigrationSpec:
    return choose(fetch_inventory(conn), index=index, to="hnsw")


def _preflight(
    dsn: str,
    *,
    index: str = INDEX,
    forced_kb: int | None = None,
    workers: int | None = None,
) -> preflight.Preflight:
    """Preflight as a run does it, on two cores (so one parallel worker at most)."""
    with connected(ConnectionTarget(dsn=dsn), statement_timeout_ms=None) as conn:
        inventory = fetch_inventory(conn)
        spec = choose(inventory, index=index, to="hnsw")
        return preflight.run(
            conn,
            spec,
            inventory,
            cores=2,
            calibrate=False,
            maintenance_work_mem_kb=forced_kb,
            workers=workers,
        )


def _check(result: preflight.Preflight, key: str) -> Check | None:
    return next((c for c in result.checks if c.key == key), None)


def _shm_free_kb() -> int:
    try:
        return shutil.disk_usage(memory.SHM_DIR).free // 1024
    except OSError:
        pytest.skip(f"no {memory.SHM_DIR} on this machine")


def _max_val_kb(conn: psycopg.Connection[psycopg.rows.TupleRow]) -> int:
    row = conn.execute(
        "SELECT max_val::bigint FROM pg_settings WHERE name = 'maintenance_work_mem' "
        "AND unit = 'kB'"
    ).fetchone()
    assert row is not None
    return int(row[0])


# --- maintenance_work_mem's cap -------------------------------------------------------


def test_the_cap_is_the_servers_max_val(demo_db: Database) -> None:
    with connected(demo_db.target, statement_timeout_ms=None) as conn:
        top = _max_val_kb(conn)
        assert memory.server_max_kb(conn) == top
        assert memory.memory_cap(conn, 4 * 1024**2) == memory.MemoryCap(4 * 1024**2, "--max-memory")
        cap = memory.memory_cap(conn, top * 2)
        assert cap == memory.MemoryCap(top, "max_val") and cap.server
        # A graph the server's limit cannot hold: never more than the limit, and a WARN
        # that names it. The limit itself is really settable in this session.
        spec = _spec(conn)
        mwm, checks = memory.choose(conn, spec, top * 1024 * 2, 65536, top * 2, None)
        assert mwm == top
        (check,) = checks
        assert check.status == WARN and "pg_settings.max_val" in check.title
        assert "this server allows no more" in check.detail
        assert memory.refused(conn, mwm) is None
        # Within the cap: the OK line says what the session will use.
        mwm, (ok,) = memory.choose(conn, spec, 10 * 1024**2, 65536, 4 * 1024**2, None)
        assert ok.status == OK and mwm == 65536


def test_the_server_refuses_more_than_max_val_and_the_search_finds_its_limit(
    demo_db: Database,
) -> None:
    with connected(demo_db.target, statement_timeout_ms=None) as conn:
        top = _max_val_kb(conn)
        refused = memory.refused(conn, top + 1024)
        assert refused is not None and "maintenance_work_mem" in refused
        found = memory.largest_settable_kb(conn, top + 64 * 1024, 65536)
        assert found is not None and top * 0.99 <= found <= top
        # Nothing stayed set: the probes ran in transactions that were rolled back.
        row = conn.execute("SHOW maintenance_work_mem").fetchone()
        assert row == ("64MB",)


def test_a_value_the_server_refuses_fails_preflight_before_the_dump(
    demo_db: Database, tmp_path: Path
) -> None:
    with demo_db.connect() as conn:
        too_much_mb = _max_val_kb(conn) // 1024 + 1
    backups = tmp_path / "backups"
    r = vecscope(
        "migrate", "run", "--dsn", demo_db.dsn, "--index", INDEX, "--to", "hnsw",
        "--maintenance-work-mem", str(too_much_mb), "--backup-dir", str(backups),
        "--journal", str(tmp_path / "j.jsonl"), "--yes",
    )  # fmt: skip
    assert_one_line_error(r, "cannot be set in this session")
    assert "the server's limit is 2.0 TB" in r.out
    assert not backups.exists() or not any(backups.iterdir())


# --- the shared memory of a parallel HNSW build (pgvector #453) -----------------------


def test_a_parallel_build_larger_than_dev_shm_is_warned(demo_db: Database) -> None:
    with demo_db.connect() as conn:
        row = conn.execute("SHOW dynamic_shared_memory_type").fetchone()
    if row != ("posix",):
        pytest.skip(f"this server's dynamic shared memory is {row}")
    more_than_shm = (_shm_free_kb() // 1024 + 64) * 1024
    result = _preflight(demo_db.dsn, forced_kb=more_than_shm)
    assert result.spec.parallel_workers == 1
    check = _check(result, "shared_memory")
    assert check is not None and check.status == WARN
    assert "/dev/shm" in check.title and "pgvector #453" in check.title
    assert check.fix == "ALTER ROLE postgres SET max_parallel_maintenance_workers = 0;"
    # Within /dev/shm, serial, or another method: nothing to say.
    assert _check(_preflight(demo_db.dsn), "shared_memory") is None
    assert (
        _check(_preflight(demo_db.dsn, forced_kb=more_than_shm, workers=0), "shared_memory") is None
    )


@pytest.fixture
def serial_role(demo_db: Database) -> Iterator[str]:
    """A role whose max_parallel_maintenance_workers is 0: the fix the warning suggests."""
    role = sql.Identifier(SERIAL_ROLE)
    with demo_db.connect() as conn:
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(role))
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(role))
        conn.execute(sql.SQL("GRANT SELECT ON public.doc_chunks TO {}").format(role))
    with psycopg.connect(pg_conninfo.make_conninfo(demo_db.dsn, user=SERIAL_ROLE)) as conn:
        # A role sets its own defaults: no administrator needed for this fix.
        conn.execute(sql.SQL("ALTER ROLE {} SET max_parallel_maintenance_workers = 0").format(role))
        conn.commit()
    yield pg_conninfo.make_conninfo(demo_db.dsn, user=SERIAL_ROLE)
    with demo_db.connect() as conn:
        conn.execute(sql.SQL("REVOKE ALL ON public.doc_chunks FROM {}").format(role))
        conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(role))


def test_the_roles_max_parallel_maintenance_workers_is_respected(
    demo_db: Database, serial_role: str
) -> None:
    more_than_shm = (_shm_free_kb() // 1024 + 64) * 1024
    result = _preflight(serial_role, forced_kb=more_than_shm)
    assert result.spec.parallel_workers == 0
    assert _check(result, "shared_memory") is None
    workers = _check(result, "workers")
    assert workers is not None and workers.status == INFO
    assert workers.title.startswith("0 parallel worker(s)")
    assert "max_parallel_maintenance_workers = 0 (user)" in workers.title


def test_no_parallel_worker_without_dynamic_shared_memory(demo_db: Database) -> None:
    """dynamic_shared_memory_type = none exists only before PostgreSQL 12, and the tests'
    servers refuse it (see ``mmap_server``): the check is run on its own."""
    with connected(demo_db.target) as conn:
        spec = _spec(conn)
    (check,) = memory.shared_memory_checks(spec, memory.SharedMemory("none", None), 0, "app")
    assert check.status == WARN and "dynamic_shared_memory_type is none" in check.title


@pytest.fixture(scope="module")
def mmap_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    """A server of this module's own whose dynamic shared memory is mmap'd files in its
    data directory (ALTER SYSTEM and a restart), with a small IVFFlat index to migrate."""
    server = embedded.start(tmp_path_factory.mktemp("mmap") / "pgdata", preload=False)
    try:
        with psycopg.connect(server.conninfo(), autocommit=True) as conn:
            with pytest.raises(psycopg.errors.InvalidParameterValue):
                conn.execute("ALTER SYSTEM SET dynamic_shared_memory_type = 'none'")
            conn.execute("ALTER SYSTEM SET dynamic_shared_memory_type = 'mmap'")
        embedded.restart(server)
        with psycopg.connect(server.conninfo(), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            conn.execute("CREATE TABLE items (id bigint PRIMARY KEY, embedding vector(16))")
            conn.execute(
                "INSERT INTO items SELECT i, (SELECT array_agg(random()) "
                "FROM generate_series(1, 16) WHERE i > 0)::vector(16) "
                "FROM generate_series(1, 2000) i"
            )
            conn.execute(
                "CREATE INDEX items_ivf ON items USING ivfflat (embedding vector_l2_ops) "
                "WITH (lists = 10)"
            )
            conn.execute("ANALYZE items")
        yield server
    finally:
        embedded.stop(server.pgdata)


def test_mmap_shared_memory_is_not_in_dev_shm(mmap_server: EmbeddedServer) -> None:
    dsn = mmap_server.conninfo()
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SHOW dynamic_shared_memory_type").fetchone() == ("mmap",)
    more_than_shm = (_shm_free_kb() // 1024 + 64) * 1024
    result = _preflight(dsn, index="public.items_ivf", forced_kb=more_than_shm)
    assert result.spec.parallel_workers == 1
    assert _check(result, "shared_memory") is None


# --- pgvector #453 for real: a server whose /dev/shm is a 40 MB tmpfs -----------------

SMALL_SHM = "40m"


@pytest.fixture(scope="module")
def small_shm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    """A server of this module's own in a mount namespace of its own, where /dev/shm is a
    40 MB tmpfs (a container's /dev/shm is 64 MB unless told otherwise). Needs root."""
    if os.geteuid() != 0 or not all(shutil.which(t) for t in ("unshare", "nsenter", "runuser")):
        pytest.skip("a mount namespace needs root, unshare, nsenter and runuser")
    server = embedded.start(tmp_path_factory.mktemp("smallshm") / "pgdata", preload=False)
    data = server.pgdata
    embedded.stop(data)
    user = server.system_user or "root"
    pg_ctl = [
        str(embedded.bin_dir() / "pg_ctl"), "--pgdata", str(data), "--wait", "-o", '-h ""',
        "-o", f"-k {data}", "--log", str(data / "log"), "start",
    ]  # fmt: skip
    done = subprocess.run(
        [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "--",
            "sh",
            "-c",
            f'mount -t tmpfs -o size={SMALL_SHM} tmpfs /dev/shm && exec "$0" "$@"',
            "runuser",
            "-u",
            user,
            "--",
            *pg_ctl,
        ],  # fmt: skip
        capture_output=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"no server with a small /dev/shm here: {done.stderr.decode().strip()}")
    server = embedded.start(data, preload=False)
    try:
        with psycopg.connect(server.conninfo(), autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
            # Over 8 MB of heap: PostgreSQL plans one parallel worker for its index builds.
            conn.execute("CREATE TABLE big (id bigint PRIMARY KEY, embedding vector(384))")
            conn.execute(
                "INSERT INTO big SELECT i, (SELECT array_agg(random()) "
                "FROM generate_series(1, 384) WHERE i > 0)::vector(384) "
                "FROM generate_series(1, 7000) i"
            )
            conn.execute(
                "CREATE INDEX big_ivf ON big USING ivfflat (embedding vector_l2_ops) "
                "WITH (lists = 20)"
            )
            conn.execute("VACUUM ANALYZE big")
        yield server
    finally:
        embedded.stop(data)


def _vecscope_beside(server: EmbeddedServer, *args: str) -> tuple[int, str]:
    """``vecscope`` run in the server's mount namespace: on the same machine as it, it
    sees the /dev/shm the server has."""
    pid = embedded.running_pid(server.pgdata)
    assert pid is not None
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.run(
        [
            "nsenter",
            f"--mount=/proc/{pid}/ns/mnt",
            "--",
            sys.executable,
            "-m",
            "vecscope.cli.launch",
            *args,
        ],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    return proc.returncode, proc.stdout + proc.stderr


def test_the_warning_comes_before_a_parallel_build_that_really_fails(
    small_shm_server: EmbeddedServer, tmp_path: Path
) -> None:
    dsn = small_shm_server.conninfo()

    def run(name: str) -> tuple[int, str]:
        return _vecscope_beside(
            small_shm_server, "migrate", "run", "--dsn", dsn, "--index", "public.big_ivf",
            "--to", "hnsw", "--backup-dir", str(tmp_path / name),
            "--journal", str(tmp_path / f"{name}.jsonl"), "--yes",
        )  # fmt: skip

    code, out = run("parallel")
    assert "WARN the parallel build puts its graph area" in out, out
    assert re.search(r"in /dev/shm, which has (3\d|40)\.\d MB free", out), out
    # The build then fails as pgvector #453 reports (the old index still serves).
    assert code == 2 and "could not resize shared memory segment" in out, out
    code, out = _vecscope_beside(
        small_shm_server, "migrate", "rollback", "--dsn", dsn,
        "--journal", str(tmp_path / "parallel.jsonl"), "--yes",
    )  # fmt: skip
    assert code == 0, out
    # The fix the warning gives, as the role may run it itself: a serial build passes.
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("ALTER ROLE postgres SET max_parallel_maintenance_workers = 0")
    code, out = run("serial")
    assert code == 0, out
    assert "shared memory" not in out and "0 parallel worker(s)" in out
