"""A catalog session: one lazily opened, self-healing connection for probes.

The TUI's workers run on threads; they share this session, which serialises use of the
connection and reopens it after the server restarts or the network drops. Long jobs
(index builds, benchmarks) open their own connections, never this one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

import psycopg
from psycopg.rows import TupleRow

from vecscope.core.catalog.inventory import fetch_inventory
from vecscope.core.connection import ConnectionInfo, ConnectionTarget, connect, connection_info
from vecscope.core.errors import ConnectError
from vecscope.core.models import Inventory

T = TypeVar("T")


class CatalogSession:
    """Serialised access to one probe connection, reopened when it breaks."""

    def __init__(self, target: ConnectionTarget) -> None:
        self.target = target
        self._conn: psycopg.Connection[TupleRow] | None = None
        self._lock = threading.Lock()
        self.info: ConnectionInfo | None = None

    def _connection(self) -> psycopg.Connection[TupleRow]:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = connect(self.target)
            self.info = connection_info(self._conn)
        return self._conn

    def run(self, fn: Callable[[psycopg.Connection[TupleRow]], T]) -> T:
        """Call ``fn(conn)``; on a dropped connection, reconnect once and retry."""
        with self._lock:
            conn = self._connection()
            try:
                return fn(conn)
            except (psycopg.OperationalError, ConnectError):
                if not conn.broken:
                    raise
            self._conn = None
            return fn(self._connection())

    def connect(self) -> ConnectionInfo:
        """Open the connection now (or check the open one) and describe it."""
        with self._lock:
            self._connection()
            assert self.info is not None
            return self.info

    def inventory(self) -> Inventory:
        return self.run(fetch_inventory)

    def retarget(self, target: ConnectionTarget) -> None:
        """Point the session at another server; the next call connects there."""
        with self._lock:
            self.close_unlocked()
            self.target = target

    def close_unlocked(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._conn = None
        self.info = None

    def close(self) -> None:
        with self._lock:
            self.close_unlocked()

    def cancel(self) -> None:
        """Cancel whatever query runs now (from any thread)."""
        conn = self._conn
        if conn is not None and not conn.closed:
            conn.cancel_safe()
