"""A live run: poll, turn into rates, record; shared by ``vecscope live`` and the Live mode.

The caller owns the timing: it calls :meth:`LiveSession.step` and waits for it to return
before arming the next poll, so polls never overlap (a slow poll delays the next one
instead of stacking up on a struggling server).
"""

from __future__ import annotations

import dataclasses
import math
import threading
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import TupleRow

from vecscope.core.connection import ConnectionTarget, connection_info
from vecscope.core.errors import BadInputError
from vecscope.core.live.model import LivePoint
from vecscope.core.live.poll import Poller, open_poll_connection
from vecscope.core.live.rates import LiveTracker
from vecscope.core.live.recording import Recorder

MIN_INTERVAL_S = 0.2
MAX_INTERVAL_S = 3600.0


def check_interval(interval_s: float) -> float:
    """The interval, or a one-line error for a silly one."""
    if not math.isfinite(interval_s) or not MIN_INTERVAL_S <= interval_s <= MAX_INTERVAL_S:
        raise BadInputError(
            f"--interval must be between {MIN_INTERVAL_S:g} and {MAX_INTERVAL_S:g} seconds"
        )
    return interval_s


class LiveSession:
    """One connection polling one database, a tracker, and maybe a recorder."""

    def __init__(self, target: ConnectionTarget, interval_s: float = 2.0) -> None:
        self.target = target
        self.interval_s = check_interval(interval_s)
        self.tracker = LiveTracker()
        self.recorder: Recorder | None = None
        self._conn: psycopg.Connection[TupleRow] | None = None
        self._poller: Poller | None = None
        self._lock = threading.Lock()
        self._seq = 0
        self.server_version = "?"
        self.database = "?"

    def _ensure(self) -> Poller:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = open_poll_connection(self.target, self.interval_s)
            info = connection_info(self._conn)
            self.server_version = f"PostgreSQL {info.server_version}"
            self.database = info.dbname
            self._poller = Poller(self._conn)
        assert self._poller is not None
        return self._poller

    def step(self) -> LivePoint:
        """Poll once, record the snapshot if recording, and return its point."""
        with self._lock:
            # Numbered here, not by the poller: a reconnect must not restart the count.
            self._seq += 1
            snap = dataclasses.replace(self._ensure().poll(), seq=self._seq)
            if self.recorder is not None:
                self.recorder.add(snap)
            return self.tracker.feed(snap)

    def start_recording(self, path: Path, *, query_text: bool = True) -> Recorder:
        """Start keeping every poll in a new file (see :class:`Recorder`)."""
        with self._lock:
            self._ensure()
            self.recorder = Recorder(
                path,
                server=self.target.describe(),
                server_version=self.server_version,
                database=self.database,
                interval_s=self.interval_s,
                query_text=query_text,
            )
            return self.recorder

    def stop_recording(self) -> Recorder | None:
        with self._lock:
            recorder, self.recorder = self.recorder, None
        if recorder is not None:
            recorder.close()
        return recorder

    def close(self) -> None:
        self.stop_recording()
        if self._conn is not None:
            self._conn.close()


def _num(value: float) -> float | None:
    return None if math.isnan(value) else round(value, 4)


def point_to_json(point: LivePoint, *, query_text: bool = True) -> dict[str, Any]:
    """One JSON line of ``vecscope live --json`` (NaN, meaning not known, is ``null``)."""
    a = point.activity
    return {
        "seq": point.seq,
        "at": point.at.isoformat(),
        "t": round(point.t, 3),
        "interval_s": None if point.interval_s is None else round(point.interval_s, 3),
        "poll_ms": round(point.poll_ms, 2),
        "statements_missing": point.statements_missing,
        "sees_all_sessions": point.sees_all,
        "shapes": [
            {
                "queryid": s.queryid,
                "query": s.query if query_text else None,
                "calls": s.calls,
                "calls_per_s": _num(s.calls_per_s),
                "mean_ms": _num(s.mean_ms),
                "rows_per_call": _num(s.rows_per_call),
                "total_calls": s.total_calls,
                "restarted": s.restarted,
                "flag": s.flag,
            }
            for s in point.shapes
        ],
        "activity": {
            "running": a.running,
            "hidden": a.hidden,
            "longest_s": None if a.longest_s is None else round(a.longest_s, 3),
            "longest_pid": a.longest_pid,
            "longest_query": a.longest_query if query_text else None,
            "waits": dict(a.waits),
        },
        "indexes": [
            {
                "index": ix.key,
                "table": ix.table,
                "method": ix.method,
                "valid": ix.valid,
                "scans": ix.scans,
                "scans_per_s": _num(ix.scans_per_s),
                "seq_scans": ix.seq_scans,
                "seq_scans_per_s": _num(ix.seq_scans_per_s),
                "total_scans": ix.total_scans,
                "flag": ix.flag,
            }
            for ix in point.indexes
        ],
        "settings_changed": [
            {"scope": c.scope, "name": c.name, "old": c.old, "new": c.new} for c in point.changes
        ],
        "resets": list(point.resets),
        "gone": list(point.gone),
    }
