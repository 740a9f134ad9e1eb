"""How far the demo's seeding is: the table being generated or loaded (rows of its
total) and the index builds running beside it (phase and percentage, from
``pg_stat_progress_create_index``).

The seed reports a :class:`SeedProgress` at each change of phase (a table's start, its
last row, each build's start and end) and, in between, at most once every ``report_s``:
the rows sent so far, and a look at the build sessions on a connection of its own.
Plain data, light to import (no numpy): the command line renders it on stderr.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import psycopg

from vecscope.core import db

GENERATING = "generating"
LOADING = "loading"
PACKING = "packing"
WAITING = "waiting for the index builds"
VACUUM = "VACUUM (ANALYZE)"
DONE = "done"

#: At most one report a second between the changes of phase.
REPORT_S = 1.0


@dataclass(frozen=True, slots=True)
class BuildState:
    """One index build running in a build session."""

    #: What is built, e.g. ``messages: HNSW index (vector_l2_ops)``.
    label: str
    #: The server's phase (``building index: loading tuples``), ``starting`` before it says.
    phase: str
    #: 0..100 of the phase, when it counts tuples or blocks.
    percent: float | None
    elapsed_s: float

    def text(self) -> str:
        """``messages: HNSW index 43% (building index: loading tuples)``."""
        name = self.label.split(" (", 1)[0]
        pct = f" {self.percent:.0f}%" if self.percent is not None else ""
        return f"{name}{pct} ({self.phase}, {self.elapsed_s:.0f}s)"


@dataclass(frozen=True, slots=True)
class SeedProgress:
    """Where the seeding is."""

    elapsed_s: float
    #: The table being generated or loaded (``None`` once every table is loaded).
    table: str | None
    phase: str
    rows_done: int
    rows_total: int
    builds: tuple[BuildState, ...] = ()
    #: Index builds waiting for a build session.
    queued: int = 0

    def text(self) -> str:
        """One line: ``[ 12.3s] doc_chunks: loading 20,000 of 50,000 rows (40%) · building
        messages: HNSW index 43% (building index: loading tuples, 9s) · 1 build queued``."""
        if self.table is None:
            what = self.phase
        elif self.phase == LOADING:
            pct = 100.0 * self.rows_done / self.rows_total if self.rows_total else 100.0
            what = (
                f"{self.table}: loading {self.rows_done:,} of {self.rows_total:,} rows ({pct:.0f}%)"
            )
        elif self.phase in (GENERATING, PACKING):
            what = f"{self.table}: {self.phase} {self.rows_total:,} rows"
        else:
            what = f"{self.table}: {self.phase}"
        parts = [f"[{self.elapsed_s:5.1f}s] {what}"]
        if self.builds:
            parts.append("building " + ", ".join(b.text() for b in self.builds))
        if self.queued:
            parts.append(f"{self.queued} build{'s' if self.queued > 1 else ''} queued")
        return " · ".join(parts)


OnProgress = Callable[[SeedProgress], None]


class Tracker:
    """The seeding's state, updated by the loader and the build sessions, sent to
    ``on_progress`` (serialised: one call at a time, whatever the thread)."""

    def __init__(self, on_progress: OnProgress | None, report_s: float, started: float) -> None:
        self._on_progress = on_progress
        self.report_s = report_s
        self._started = started
        self._lock = threading.Lock()
        self._table: str | None = None
        self._phase = "starting"
        self._done = 0
        self._total = 0
        #: Per build session (its backend pid): the label and start of its build.
        self._running: dict[int, tuple[str, float]] = {}
        self._seen: dict[int, tuple[str, float | None]] = {}
        self._queued = 0
        self._last = float("-inf")

    @property
    def active(self) -> bool:
        return self._on_progress is not None

    def table(self, name: str, phase: str, total: int) -> None:
        """A table's new phase (always reported)."""
        with self._lock:
            self._table, self._phase, self._done, self._total = name, phase, 0, total
            self._emit(force=True)

    def phase(self, phase: str) -> None:
        """A phase of the whole seeding, every table loaded (always reported)."""
        with self._lock:
            self._table, self._phase, self._done, self._total = None, phase, 0, 0
            self._emit(force=True)

    def rows(self, done: int, *, force: bool = False) -> None:
        """Rows of the table sent so far (reported when due, or ``force``)."""
        with self._lock:
            self._done = done
            self._emit(force=force)

    def queued(self, change: int) -> None:
        with self._lock:
            self._queued += change

    def build_started(self, pid: int, label: str) -> None:
        with self._lock:
            self._queued -= 1
            self._running[pid] = (label, time.monotonic())
            self._seen.pop(pid, None)
            self._emit(force=True)

    def build_done(self, pid: int) -> None:
        with self._lock:
            self._running.pop(pid, None)
            self._seen.pop(pid, None)
            self._emit(force=True)

    def pids(self) -> list[int]:
        with self._lock:
            return list(self._running)

    def builds_seen(self, seen: dict[int, tuple[str, float | None]]) -> None:
        """What ``pg_stat_progress_create_index`` says of the build sessions now."""
        with self._lock:
            self._seen = {pid: s for pid, s in seen.items() if pid in self._running}
            self._emit(force=False)

    def _emit(self, *, force: bool) -> None:
        if self._on_progress is None:
            return
        now = time.monotonic()
        if not force and now - self._last < self.report_s:
            return
        self._last = now
        builds = tuple(
            BuildState(label, *self._seen.get(pid, ("starting", None)), now - since)
            for pid, (label, since) in self._running.items()
        )
        self._on_progress(
            SeedProgress(
                now - self._started,
                self._table,
                self._phase,
                self._done,
                self._total,
                builds,
                max(0, self._queued),
            )
        )


class BuildWatcher(threading.Thread):
    """Looks at the build sessions every ``report_s`` (at least 0.1 s) on a session of its
    own and hands what it sees to the tracker; a lost session ends the watching, not the
    seeding."""

    def __init__(self, dsn: str, tracker: Tracker) -> None:
        super().__init__(name="demo-build-watcher", daemon=True)
        self._dsn = dsn
        self._tracker = tracker
        self._done = threading.Event()

    def run(self) -> None:
        with (
            contextlib.suppress(psycopg.Error),
            psycopg.connect(self._dsn, autocommit=True) as conn,
        ):
            while not self._done.wait(max(0.1, self._tracker.report_s)):
                pids = self._tracker.pids()
                rows = db.rows(conn, "demo_index_builds", {"pids": pids}) if pids else []
                self._tracker.builds_seen(
                    {
                        int(r["pid"]): (
                            str(r["phase"]),
                            None if r["percent"] is None else float(r["percent"]),
                        )
                        for r in rows
                    }
                )

    def stop(self) -> None:
        self._done.set()
        self.join(timeout=10)
