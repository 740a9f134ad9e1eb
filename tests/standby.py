"""A real streaming hot standby of the tests' embedded server, made with pg_basebackup -R.

The standby is a second embedded server started on a base backup of the primary: it
replays the primary's WAL over a replication connection on the primary's Unix socket and
answers read-only queries (``pg_is_in_recovery()`` is true). Nothing is faked.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from tests.conftest import DEMO_TEST_ROWS, Database, _drop_database, _fresh_database
from vecscope.core import embedded
from vecscope.core.demo.seed import seed
from vecscope.core.embedded import EmbeddedServer


def _owned_by(path: Path, user: str | None) -> None:
    """The directory belongs to the server's system user when the tests run as root."""
    if user is not None:
        shutil.chown(path, user, user)


def start_standby(primary: EmbeddedServer, root: Path) -> EmbeddedServer:
    """Base-backup ``primary`` into ``root/standby`` and start it as a hot standby."""
    root.mkdir(parents=True, exist_ok=True)
    _owned_by(root, primary.system_user)
    data = root / "standby"
    subprocess.run(
        [
            str(embedded.bin_dir() / "pg_basebackup"),
            "--pgdata",
            str(data),
            "--write-recovery-conf",  # standby.signal and primary_conninfo
            "--checkpoint=fast",
            "--wal-method=stream",
            "--no-sync",
            "--host",
            primary.socket_dir,
            "--username",
            embedded.SUPERUSER,
        ],
        check=True,
        capture_output=True,
        timeout=300,
        user=primary.system_user,
        cwd=str(root),
        env={**os.environ, "PGHOST": primary.socket_dir},
    )
    # The primary's socket lives in its data directory, so the backup copied its lock file.
    for stale in data.glob(".s.PGSQL.*"):
        stale.unlink()
    # Started here with pg_ctl (recovery of a base backup can outlast the embedded
    # package's own 10 s start), then attached to like any running embedded server.
    subprocess.run(
        [
            str(embedded.bin_dir() / "pg_ctl"),
            "--pgdata",
            str(data),
            "--wait",
            "--timeout=120",
            "-o",
            '-h ""',
            "-o",
            f"-k {data}",
            "--log",
            str(root / "standby.log"),
            "start",
        ],
        check=True,
        capture_output=True,
        timeout=180,
        user=primary.system_user,
        cwd=str(root),
    )
    standby = embedded.start(data, preload=False)
    deadline = time.monotonic() + 60
    while True:
        try:
            with psycopg.connect(standby.conninfo(), autocommit=True) as conn:
                row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
            if row == (True,):
                return standby
        except psycopg.OperationalError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("the standby did not come up in recovery")
        time.sleep(0.2)


def wait_replayed(primary: EmbeddedServer, standby: EmbeddedServer, timeout: float = 60) -> None:
    """Wait until the standby has replayed everything the primary has written so far."""
    with psycopg.connect(primary.conninfo(), autocommit=True) as conn:
        row = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()
    assert row is not None
    target = row[0]
    deadline = time.monotonic() + timeout
    with psycopg.connect(standby.conninfo(), autocommit=True) as conn:
        while True:
            done = conn.execute(
                "SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (target,)
            ).fetchone()
            if done == (True,):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the standby did not replay up to {target}")
            time.sleep(0.1)


@contextmanager
def demo_pair(
    primary: EmbeddedServer, root: Path, name: str
) -> Iterator[tuple[Database, Database]]:
    """The (small) demo seeded as ``name`` on ``primary``, and the same database on a
    fresh hot standby of it under ``root``; both gone afterwards."""
    database = _fresh_database(primary, name, extension=False)
    seed(database.dsn, DEMO_TEST_ROWS, progress=lambda _: None)
    standby = start_standby(primary, root)
    try:
        wait_replayed(primary, standby)
        yield database, Database(name, standby)
    finally:
        embedded.stop(standby.pgdata)
        _drop_database(primary, name)
