"""Recordings of the live view: one SQLite file per recording, replayable anywhere.

A recording keeps the raw snapshots (cumulative counters, as the server gave them), so a
replay computes rates, resets and flags with the same :class:`~core.live.rates.LiveTracker`
as the live view. Each poll is committed as it arrives: a recording cut short by a crash
keeps every poll up to the last one.

What is never in a file: a password or a connection string (the server is described as
``user@host:port/db``). With ``query_text=False`` no query text is kept either: shapes are
named by their ``queryid``, running queries by their session.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from vecscope.core.errors import BadInputError, first_line
from vecscope.core.live.model import IndexCounters, Running, Setting, Snapshot, StatementCounters
from vecscope.core.paths import state_dir

FORMAT = "vecscope-live-recording"
VERSION = 1

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE polls (
    seq INTEGER PRIMARY KEY, at TEXT NOT NULL, server_started TEXT NOT NULL,
    statements_reset TEXT, statements_read INTEGER NOT NULL, statements_missing TEXT,
    sees_all INTEGER NOT NULL, poll_ms REAL NOT NULL);
CREATE TABLE texts (queryid INTEGER PRIMARY KEY, query TEXT NOT NULL);
CREATE TABLE statements (
    seq INTEGER NOT NULL, queryid INTEGER NOT NULL, calls INTEGER NOT NULL,
    total_ms REAL NOT NULL, rows INTEGER NOT NULL, since TEXT);
CREATE TABLE running (
    seq INTEGER NOT NULL, pid INTEGER NOT NULL, duration_s REAL, state TEXT,
    wait_event_type TEXT, wait_event TEXT, usename TEXT, application_name TEXT, query TEXT);
CREATE TABLE indexes (
    seq INTEGER NOT NULL, indexrelid INTEGER NOT NULL, schema TEXT NOT NULL,
    table_name TEXT NOT NULL, name TEXT NOT NULL, method TEXT NOT NULL, valid INTEGER NOT NULL,
    idx_scan INTEGER NOT NULL, idx_tup_read INTEGER NOT NULL, seq_scan INTEGER NOT NULL,
    seq_tup_read INTEGER NOT NULL, live_rows INTEGER NOT NULL);
CREATE TABLE settings (seq INTEGER NOT NULL, scope TEXT NOT NULL, name TEXT NOT NULL, value TEXT);
CREATE INDEX statements_seq ON statements (seq);
CREATE INDEX running_seq ON running (seq);
CREATE INDEX indexes_seq ON indexes (seq);
CREATE INDEX settings_seq ON settings (seq);
"""


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _when(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


@dataclasses.dataclass(frozen=True, slots=True)
class RecordingInfo:
    path: Path
    server: str
    server_version: str
    database: str
    interval_s: float
    query_text: bool
    polls: int
    first: datetime | None
    last: datetime | None


_INDEX_FIELDS = [f.name for f in dataclasses.fields(IndexCounters)]


def _index(row: list[Any]) -> IndexCounters:
    values = dict(zip(_INDEX_FIELDS, row, strict=True))
    values["valid"] = bool(values["valid"])
    return IndexCounters(**values)


def check_new_recording(path: Path) -> None:
    """A recording goes to a new file in an existing directory.

    Raises:
        BadInputError: When the file exists (never overwritten) or its directory does not.
    """
    if path.exists():
        raise BadInputError(f"{path} exists: a recording never overwrites a file")
    if not path.parent.is_dir():
        raise BadInputError(f"{path.parent} is not a directory")


class Recorder:
    """Appends snapshots to a new recording file.

    Args:
        path: The file to create; an existing file is never overwritten.
        server: ``user@host:port/db`` (never a connection string).
        server_version: e.g. ``PostgreSQL 16.2``.
        database: The database polled.
        interval_s: The poll interval.
        query_text: False leaves every query text out (for sharing).

    Raises:
        BadInputError: When the file exists or cannot be created.
    """

    def __init__(
        self,
        path: Path,
        *,
        server: str,
        server_version: str,
        database: str,
        interval_s: float,
        query_text: bool = True,
    ) -> None:
        check_new_recording(path)
        self.path = path
        self.query_text = query_text
        self.polls = 0
        try:
            self._db = sqlite3.connect(path, check_same_thread=False)
            self._db.executescript(_SCHEMA)
            meta = {
                "format": FORMAT,
                "version": str(VERSION),
                "server": server,
                "server_version": server_version,
                "database": database,
                "interval_s": repr(interval_s),
                "query_text": "1" if query_text else "0",
            }
            self._db.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
            self._db.commit()
        except sqlite3.Error as e:
            raise BadInputError(f"cannot create the recording {path}: {first_line(e)}") from e
        self._texts: set[int] = set()

    def add(self, snap: Snapshot) -> None:
        """Write one snapshot and commit it."""
        db = self._db
        keep = self.query_text
        with db:
            db.execute(
                "INSERT INTO polls VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    snap.seq,
                    _iso(snap.at),
                    _iso(snap.server_started),
                    _iso(snap.statements_reset),
                    snap.statements is not None,
                    snap.statements_missing,
                    snap.sees_all,
                    snap.poll_ms,
                ),
            )
            for s in snap.statements or ():
                if keep and s.query is not None and s.queryid not in self._texts:
                    db.execute("INSERT OR IGNORE INTO texts VALUES (?, ?)", (s.queryid, s.query))
                    self._texts.add(s.queryid)
            db.executemany(
                "INSERT INTO statements VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (snap.seq, s.queryid, s.calls, s.total_ms, s.rows, _iso(s.since))
                    for s in snap.statements or ()
                ],
            )
            db.executemany(
                "INSERT INTO running VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        snap.seq,
                        r.pid,
                        r.duration_s,
                        r.state,
                        r.wait_event_type,
                        r.wait_event,
                        r.usename,
                        r.application_name,
                        r.query if keep else None,
                    )
                    for r in snap.running
                ],
            )
            db.executemany(
                "INSERT INTO indexes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(snap.seq, *dataclasses.astuple(ix)) for ix in snap.indexes],
            )
            db.executemany(
                "INSERT INTO settings VALUES (?, ?, ?, ?)",
                [(snap.seq, s.scope, s.name, s.value) for s in snap.settings],
            )
            db.execute("INSERT OR REPLACE INTO meta VALUES ('last_poll', ?)", (_iso(snap.at),))
        self.polls += 1

    def close(self) -> None:
        self._db.close()


class Recording:
    """A recording opened for replay.

    Raises:
        BadInputError: When the file is missing, not SQLite, or not a vecscope recording.
    """

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise BadInputError(f"no recording at {path}")
        self.path = path
        try:
            self._db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
            meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        except sqlite3.Error as e:
            raise BadInputError(f"{path} is not a vecscope recording ({first_line(e)})") from e
        if meta.get("format") != FORMAT:
            raise BadInputError(f"{path} is not a vecscope recording")
        if int(meta.get("version", "0")) > VERSION:
            raise BadInputError(
                f"{path} was written by a newer vecscope (format {meta['version']}); upgrade"
            )
        self.meta: dict[str, str] = meta
        self.query_text = meta.get("query_text") == "1"

    def info(self) -> RecordingInfo:
        count, first, last = self._db.execute(
            "SELECT count(*), min(at), max(at) FROM polls"
        ).fetchone()
        return RecordingInfo(
            path=self.path,
            server=self.meta.get("server", "?"),
            server_version=self.meta.get("server_version", "?"),
            database=self.meta.get("database", "?"),
            interval_s=float(self.meta.get("interval_s", "2")),
            query_text=self.query_text,
            polls=int(count),
            first=_when(first),
            last=_when(last),
        )

    def snapshots(self) -> Iterator[Snapshot]:
        """Every snapshot, in order."""
        db = self._db
        texts: dict[int, str] = dict(db.execute("SELECT queryid, query FROM texts").fetchall())
        by_seq: dict[str, dict[int, list[Any]]] = {}
        for table in ("statements", "running", "indexes", "settings"):
            rows: dict[int, list[Any]] = {}
            for row in db.execute(f"SELECT * FROM {table} ORDER BY rowid"):  # noqa: S608
                rows.setdefault(row[0], []).append(row[1:])
            by_seq[table] = rows
        polls = db.execute("SELECT * FROM polls ORDER BY seq").fetchall()
        for seq, at, started, reset, read, missing, sees_all, poll_ms in polls:
            statements = (
                tuple(
                    StatementCounters(q, c, t, r, texts.get(q), _when(since))
                    for q, c, t, r, since in by_seq["statements"].get(seq, [])
                )
                if read
                else None
            )
            yield Snapshot(
                seq=seq,
                at=datetime.fromisoformat(at),
                server_started=datetime.fromisoformat(started),
                statements_reset=_when(reset),
                statements=statements,
                statements_missing=missing,
                sees_all=bool(sees_all),
                running=tuple(Running(*r) for r in by_seq["running"].get(seq, [])),
                indexes=tuple(_index(r) for r in by_seq["indexes"].get(seq, [])),
                settings=tuple(Setting(*r) for r in by_seq["settings"].get(seq, [])),
                poll_ms=poll_ms,
            )

    def close(self) -> None:
        self._db.close()


def recordings_dir() -> Path:
    """Where the Live mode's record key puts recordings."""
    return state_dir() / "recordings"


def new_recording_path(database: str, now: datetime) -> Path:
    """``live-<database>-<YYYYmmdd-HHMMSS>.sqlite`` in :func:`recordings_dir`."""
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in database)
    return recordings_dir() / f"live-{safe}-{now:%Y%m%d-%H%M%S}.sqlite"
