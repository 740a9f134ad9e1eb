"""The migration journal: every step's intent and outcome, on disk before and after it runs.

One JSON object a line, appended and fsynced, so whatever kills vecscope (SIGKILL, a lost
connection, a server restart) the journal says how far the migration got and what it was
doing. The first line is the header: the spec and where the database is, never a password
(the connection string is stored with its password removed; a resumed run finds the
password where libpq always does: ``PGPASSWORD``, ``.pgpass``, a service file).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import time
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import psycopg
from psycopg import conninfo as pg_conninfo

from vecscope.core.connection import ConnectionTarget, redact
from vecscope.core.errors import BadInputError, JournalError
from vecscope.core.migrate.plan import MigrationSpec
from vecscope.core.migrate.states import Step
from vecscope.core.paths import state_dir

FORMAT_VERSION = 1


class Mark(StrEnum):
    """A step's state as the journal records it."""

    INTENT = "intent"
    DONE = "done"
    FAILED = "failed"
    INFO = "info"


INTENT, DONE, FAILED, INFO = Mark.INTENT, Mark.DONE, Mark.FAILED, Mark.INFO


def migrations_dir() -> Path:
    return state_dir() / "migrations"


def safe_conninfo(target: ConnectionTarget) -> str:
    """The resolved connection string with any password taken out."""
    try:
        parts = pg_conninfo.conninfo_to_dict(target.conninfo())
    except psycopg.ProgrammingError:
        return ""
    parts.pop("password", None)
    parts.pop("sslpassword", None)
    return pg_conninfo.make_conninfo("", **{k: str(v) for k, v in parts.items()})


@dataclass
class StepRecord:
    """What the journal says of one step: its last state and the data recorded with it."""

    key: Step
    state: Mark
    data: dict[str, Any] = field(default_factory=dict)
    attempts: int = 0
    at: str = ""


@dataclass
class JournalState:
    """The journal read back: header and the latest record of every step."""

    path: Path
    id: str
    created: str
    conninfo: str
    server: str
    spec: MigrationSpec
    steps: dict[Step, StepRecord]
    events: list[dict[str, Any]]
    #: Records a crash or a full disk left unreadable (skipped).
    torn: int = 0

    @classmethod
    def planned(cls, spec: MigrationSpec) -> JournalState:
        """The state of a migration planned but not journaled yet: nothing has run."""
        return cls(Path(), "", "", "", "", spec, {}, [])

    def done(self, key: str) -> bool:
        rec = self.steps.get(Step(key))
        return rec is not None and rec.state == DONE

    def data(self, key: str) -> dict[str, Any]:
        """What the journal recorded with ``key`` (core reads it into typed records)."""
        rec = self.steps.get(Step(key))
        return rec.data if rec is not None else {}

    @property
    def interrupted(self) -> Step | None:
        """The step that was running when the journal stopped, if any."""
        for key, rec in self.steps.items():
            if rec.state == INTENT:
                return key
        return None


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def _ends_with_newline(fd: int, size: int) -> bool:
    return os.pread(fd, 1, size - 1) == b"\n"


def _last_newline(fd: int, size: int) -> int:
    """The length of the file up to and including its last newline (0: none)."""
    pos = size
    while pos > 0:
        chunk_start = max(0, pos - 65536)
        chunk = os.pread(fd, pos - chunk_start, chunk_start)
        at = chunk.rfind(b"\n")
        if at >= 0:
            return chunk_start + at + 1
        pos = chunk_start
    return 0


class Journal:
    """Append-only, fsynced JSON lines; see :meth:`_append` for what a full disk does."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def create(
        cls, spec: MigrationSpec, target: ConnectionTarget, server: str, path: Path | None = None
    ) -> Journal:
        """Start a journal for a new migration (refuses to overwrite one)."""
        ident = time.strftime("%Y%m%d-%H%M%S") + "-" + uuid.uuid4().hex[:6]
        if path is None:
            path = migrations_dir() / f"{ident}-{spec.table[:40]}.jsonl"
        if path.exists():
            raise BadInputError(f"journal {path} already exists: resume it or choose another")
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        journal = cls(path)
        password = target.password()
        conninfo = safe_conninfo(target)
        header = {
            "kind": "header",
            "version": FORMAT_VERSION,
            "id": ident,
            "created": _now(),
            "conninfo": conninfo,
            "server": redact(server, password),
            "spec": spec.to_json(),
        }
        journal._append(header, password)
        # The directory entry must survive a crash too.
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        return journal

    def _append(self, record: dict[str, Any], password: str | None = None) -> None:
        """Append one whole record and fsync it, or leave the file as it was.

        A full disk (or a quota, or a file size limit) can make ``write`` fail or write
        part of the line. Either way the file is cut back to its length before, so no torn
        record is ever followed by another, and the caller hears of it.

        Raises:
            JournalError: The record could not be written whole (nothing was added).
        """
        line = json.dumps(record, default=str, sort_keys=False)
        if password:
            line = line.replace(password, "***")
        data = (line + "\n").encode()
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError as e:
            raise JournalError(f"cannot write the journal {self.path}: {e.strerror or e}") from e
        try:
            start = os.fstat(fd).st_size
            if start and not _ends_with_newline(fd, start):
                # A torn tail from an earlier crash: cut it off before appending.
                start = _last_newline(fd, start)
                os.ftruncate(fd, start)
            written = 0
            try:
                while written < len(data):
                    n = os.write(fd, data[written:])
                    if n <= 0:
                        raise OSError(errno.ENOSPC, "short write")
                    written += n
                os.fsync(fd)
            except OSError as e:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, start)
                    os.fsync(fd)
                raise JournalError(
                    f"cannot write the journal {self.path}: {e.strerror or e} "
                    "(the record was not added)"
                ) from e
        finally:
            os.close(fd)

    def record(self, step: str, state: Mark, **data: Any) -> None:
        """Write one step event and make it durable before returning."""
        self._append({"kind": "step", "at": _now(), "step": step, "state": state, "data": data})

    def update_spec(self, spec: MigrationSpec) -> None:
        """The spec changed (preflight chose the build settings)."""
        self._append({"kind": "spec", "at": _now(), "spec": spec.to_json()})

    def read(self) -> JournalState:
        return read(self.path)


def _parse_line(line: str) -> dict[str, Any] | None:
    """One record; a line two records were glued into (an older vecscope's torn write
    followed by an append) gives its second, whole record; ``None``: not a record."""
    try:
        rec = json.loads(line)
    except ValueError:
        at = line.find('{"kind": ', 1)
        while at > 0:
            with contextlib.suppress(ValueError):
                rec = json.loads(line[at:])
                return rec if isinstance(rec, dict) else None
            at = line.find('{"kind": ', at + 1)
        return None
    return rec if isinstance(rec, dict) else None


def read(path: Path) -> JournalState:
    """Read a journal back, whatever a crash or a full disk left at its end.

    A torn record (the write a crash or a full disk cut short) is skipped, wherever it
    is: what it would have said is what reconciliation asks the catalog anyway. Only a
    file that does not start with a vecscope header is refused.

    Raises:
        BadInputError: no such file, unreadable, or not a vecscope journal.
    """
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise BadInputError(f"cannot read journal {path}: {e.strerror or e}") from e
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BadInputError(f"{path} is not a vecscope migration journal") from e
    records: list[dict[str, Any]] = []
    torn = 0
    for line in text.splitlines():
        if not line.strip():
            continue
        rec = _parse_line(line)
        if rec is None:
            if not records:
                raise BadInputError(f"{path} is not a vecscope migration journal")
            torn += 1
            continue
        records.append(rec)
    if not records or records[0].get("kind") != "header":
        raise BadInputError(f"{path} is not a vecscope migration journal")
    header = records[0]
    if header.get("version") != FORMAT_VERSION:
        raise BadInputError(
            f"{path} was written by another vecscope (format {header.get('version')})"
        )
    try:
        spec = MigrationSpec.from_json(header["spec"])
    except (KeyError, TypeError, ValueError) as e:
        raise BadInputError(f"{path} has no migration plan vecscope can read") from e
    steps: dict[Step, StepRecord] = {}
    events: list[dict[str, Any]] = []
    for rec in records[1:]:
        if rec.get("kind") == "spec":
            with contextlib.suppress(KeyError, TypeError, ValueError):
                spec = MigrationSpec.from_json(rec["spec"])
        elif rec.get("kind") == "step":
            events.append(rec)
            try:
                key, state = Step(str(rec.get("step"))), Mark(str(rec.get("state")))
            except ValueError as e:
                raise BadInputError(f"{path} has a step record vecscope does not know") from e
            if state == INFO:
                continue
            old = steps.get(key)
            attempts = (old.attempts if old else 0) + (1 if state == INTENT else 0)
            data = dict(old.data) if old else {}
            data.update(rec.get("data") or {})
            steps[key] = StepRecord(key, state, data, attempts, str(rec.get("at", "")))
    return JournalState(
        path=path,
        id=str(header["id"]),
        created=str(header["created"]),
        conninfo=str(header.get("conninfo", "")),
        server=str(header.get("server", "")),
        spec=spec,
        steps=steps,
        events=events,
        torn=torn,
    )


def latest(directory: Path | None = None) -> Path | None:
    """The most recently written journal, for ``vecscope migrate resume`` without --journal."""
    directory = directory or migrations_dir()
    try:
        files = sorted(directory.glob("*.jsonl"), key=lambda p: p.stat().st_mtime)
    except OSError:
        return None
    return files[-1] if files else None
