"""A Debian PostgreSQL server with pg_stat_statements, for the tests that need it.

The embedded servers have no pg_stat_statements; Debian's packages do. This starts one
in a temporary directory as the ``postgres`` system user, listening on a Unix socket
only, with pg_stat_statements preloaded. On a machine that lacks the packages or pgvector
for them, ``tests/setup_system_pg.sh`` installs them: run by ``.ci/run``, and by
:func:`start` itself when the tests run as root.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

PORT = 5499


@dataclass(frozen=True)
class SystemServer:
    root: Path
    bin_dir: Path
    version: int

    @property
    def socket_dir(self) -> str:
        return str(self.root)

    def conninfo(self, dbname: str = "postgres") -> str:
        return f"host={self.root} port={PORT} user=postgres dbname={dbname}"


def find_bin_dir() -> Path | None:
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name),
        reverse=True,
    )
    return candidates[0].parent if candidates else None


def _as_postgres(*args: str) -> None:
    subprocess.run(
        ["runuser", "-u", "postgres", "--", *args], check=True, capture_output=True, timeout=120
    )


SETUP = Path(__file__).with_name("setup_system_pg.sh")


def _ready(bin_dir: Path | None) -> bool:
    """Debian's PostgreSQL is there, with pgvector built for it."""
    if bin_dir is None:
        return False
    major = bin_dir.parent.name
    return Path(f"/usr/share/postgresql/{major}/extension/vector.control").is_file()


def start() -> SystemServer:
    bin_dir = find_bin_dir()
    if not _ready(bin_dir) and os.geteuid() == 0:
        # The README's test command on a fresh machine: set it up, as .ci/run does.
        subprocess.run(["bash", str(SETUP)], check=True, timeout=900)
        bin_dir = find_bin_dir()
    if bin_dir is None or not _ready(bin_dir):
        raise RuntimeError(
            "no Debian PostgreSQL with pgvector under /usr/lib/postgresql: run "
            f"`sudo bash {SETUP}` (apt packages, and pgvector built from Debian's source)"
        )
    root = Path(tempfile.mkdtemp(prefix="vs-syspg-"))
    root.chmod(0o755)
    shutil.chown(root, "postgres", "postgres")
    data = root / "data"
    _as_postgres(
        str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"
    )
    _as_postgres(
        str(bin_dir / "pg_ctl"),
        "-D",
        str(data),
        "-w",
        "-l",
        str(root / "log"),
        "-o",
        f"-c listen_addresses='' -c unix_socket_directories={root} -p {PORT} "
        "-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all",
        "start",
    )
    server = SystemServer(root, bin_dir, int(bin_dir.parent.name))
    deadline = time.monotonic() + 30
    while True:
        try:
            with psycopg.connect(server.conninfo(), autocommit=True) as c:
                c.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            return server
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _pg_ctl(server: SystemServer, *args: str) -> None:
    _as_postgres(str(server.bin_dir / "pg_ctl"), "-D", str(server.root / "data"), "-w", *args)


def restart(server: SystemServer) -> None:
    """Restart the server cleanly (same options, kept in postmaster.opts). A clean
    shutdown saves pg_stat_statements and the statistics: counters go on afterwards."""
    _pg_ctl(server, "-m", "fast", "-l", str(server.root / "log"), "restart")


def stop(server: SystemServer) -> None:
    try:
        _pg_ctl(server, "-m", "fast", "stop")
    finally:
        shutil.rmtree(server.root, ignore_errors=True)
