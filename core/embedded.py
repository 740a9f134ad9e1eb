"""The embedded PostgreSQL with pgvector that ``vecscope demo`` and the tests run.

``pgembed`` (PostgreSQL 17, pgvector 0.8) on Python 3.12+, ``pgserver`` (PostgreSQL 16,
pgvector 0.6) on 3.11: both expose ``get_server(pgdata)`` and ship ``pg_dump``,
``pg_restore`` and ``pgbench``. The server listens on a Unix socket only, with trust
authentication for local connections, so nothing is reachable from the network.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import signal
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from psycopg import conninfo as pg_conninfo

from core.errors import EmbeddedServerError

SUPERUSER = "postgres"


def backend() -> ModuleType:
    """The installed embedded-server package, pgembed preferred."""
    for name in ("pgembed", "pgserver"):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR
                module = importlib.import_module(name)
        except ImportError:
            continue
        # Their INFO logging narrates every pg_ctl call; keep it for -v only.
        logging.getLogger(name).setLevel(logging.WARNING)
        return module
    raise EmbeddedServerError(
        "no embedded PostgreSQL: install vecscope's dependencies (pgembed on Python 3.12+, "
        "pgserver on 3.11)"
    )


def bin_dir() -> Path:
    """Directory of the embedded server's client programs (pg_dump, pg_restore, pgbench)."""
    module = backend()
    return Path(str(module.__file__)).parent / "pginstall" / "bin"


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

    def stop(self) -> None:
        if self.started_here:
            stop(self.pgdata)


def start(pgdata: Path) -> EmbeddedServer:
    """Start (or attach to) the embedded server on ``pgdata``, initialising it if new.

    The server keeps running after this process exits: callers that want it stopped
    call :meth:`EmbeddedServer.stop` (``vecscope demo`` does, when it started it).
    """
    module = backend()
    pgdata = pgdata.expanduser().resolve()
    try:
        pgdata.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise EmbeddedServerError(f"cannot create {pgdata.parent}: {e.strerror}") from e
    was_running = running_pid(pgdata) is not None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # cleanup_mode=None: the package must not stop the server at interpreter exit;
            # whether to stop it is our decision (see EmbeddedServer.stop).
            handle = module.get_server(pgdata, cleanup_mode=None)
    except Exception as e:  # the packages raise bare subprocess/OS errors
        log = pgdata / "log"
        tail = ""
        with contextlib.suppress(OSError):
            tail = " | ".join(log.read_text().strip().splitlines()[-2:])
        raise EmbeddedServerError(
            f"embedded PostgreSQL did not start in {pgdata}: {e}" + (f" ({tail})" if tail else "")
        ) from e
    socket_dir = _socket_dir(pgdata)
    if socket_dir is None:
        raise EmbeddedServerError(f"embedded PostgreSQL in {pgdata} has no socket directory")
    return EmbeddedServer(pgdata, socket_dir, module.__name__, not was_running, handle)


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
