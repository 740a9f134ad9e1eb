"""A real PgBouncer (Debian's package) in front of the tests' embedded server.

Started and stopped by the tests like the server: its own directory, a free TCP port on
127.0.0.1, ``pool_mode`` transaction or session, every database of the server passed
through over its Unix socket. When the tests run as root PgBouncer (which refuses root)
runs as the server's system user. Nothing is faked: vecscope talks to PgBouncer's port.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import conninfo as pg_conninfo

from vecscope.core import embedded
from vecscope.core.embedded import EmbeddedServer

BINARY = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


def available() -> bool:
    return Path(BINARY).exists()


def version() -> str:
    out = subprocess.run([BINARY, "--version"], capture_output=True, text=True, check=False)
    return out.stdout.splitlines()[0] if out.stdout else "?"


@dataclass(frozen=True)
class Bouncer:
    root: Path
    port: int
    mode: str
    process: subprocess.Popen[bytes]

    def conninfo(self, dbname: str = "postgres") -> str:
        return pg_conninfo.make_conninfo(
            host="127.0.0.1", port=str(self.port), user=embedded.SUPERUSER, dbname=dbname
        )

    def log(self) -> str:
        try:
            return (self.root / "pgbouncer.log").read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start(server: EmbeddedServer, root: Path, mode: str) -> Bouncer:
    """PgBouncer in ``mode`` (``transaction`` or ``session``) in front of ``server``."""
    root.mkdir(parents=True, exist_ok=True)
    with psycopg.connect(server.conninfo(), autocommit=True) as conn:
        row = conn.execute("SHOW port").fetchone()
    server_port = int(str(row[0])) if row else 5432
    port = _free_port()
    (root / "userlist.txt").write_text(f'"{embedded.SUPERUSER}" ""\n')
    (root / "pgbouncer.ini").write_text(
        "[databases]\n"
        f"* = host={server.socket_dir} port={server_port}\n"
        "[pgbouncer]\n"
        "listen_addr = 127.0.0.1\n"
        f"listen_port = {port}\n"
        "unix_socket_dir =\n"
        "auth_type = trust\n"
        f"auth_file = {root / 'userlist.txt'}\n"
        f"pool_mode = {mode}\n"
        "max_client_conn = 500\n"
        "default_pool_size = 10\n"
        # psql and libpq send these; PgBouncer would refuse the connection otherwise.
        "ignore_startup_parameters = extra_float_digits\n"
        f"logfile = {root / 'pgbouncer.log'}\n"
        f"pidfile = {root / 'pgbouncer.pid'}\n"
    )
    user = server.system_user
    argv = [BINARY, str(root / "pgbouncer.ini")]
    if user is not None:
        shutil.chown(root, user, user)
        for f in root.iterdir():
            shutil.chown(f, user, user)
        argv[1:1] = ["-u", user]
    process = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    bouncer = Bouncer(root, port, mode, process)
    deadline = time.monotonic() + 20
    while True:
        try:
            with psycopg.connect(bouncer.conninfo(), prepare_threshold=None, connect_timeout=2):
                return bouncer
        except psycopg.OperationalError:
            if process.poll() is not None or time.monotonic() > deadline:
                bouncer.stop()
                raise RuntimeError(f"PgBouncer did not start:\n{bouncer.log()}") from None
            time.sleep(0.1)
