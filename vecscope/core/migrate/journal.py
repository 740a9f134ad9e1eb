"""The migration journal: every step's intent and outcome, on disk before and after it runs.

One JSON object a line, appended and fsynced, so whatever kills vecscope (SIGKILL, a lost
connection, a server restart) the journal says how far the migration got and what it was
doing. The first line is the header: the spec and where the database is, never a password
(the connection string is stored with its password removed; a resumed run finds the
password where libpq always does: ``PGPASSWORD``, ``.pgpass``, a service file).
"""

from __future__ import annotations

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
from vecscope.core.errors import BadInputError
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


class Journal:
    """Append-only, fsynced JSON lines."""

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
        line = json.dumps(record, default=str, sort_keys=False)
        if password:
            line = line.replace(password, "***")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (line + "\n").encode())
            os.fsync(fd)
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


def read(path: Path) -> JournalState:
    """Read a journal back; a torn last line (killed mid-write) is ignored.

    Raises:
        BadInputError: no such file, or not a vecscope journal.
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise BadInputError(f"cannot read journal {path}: {e.strerror or e}") from e
    records: list[dict[str, Any]] = []
    for n, line in enumerate(lines):
        try:
            records.append(json.loads(line))
        except ValueError as e:
            if n == len(lines) - 1:
                break  # the write that was cut short: nothing after it happened
            raise BadInputError(f"{path} line {n + 1} is not a journal record") from e
    if not records or records[0].get("kind") != "header":
        raise BadInputError(f"{path} is not a vecscope migration journal")
    header = records[0]
    if header.get("version") != FORMAT_VERSION:
        raise BadInputError(
            f"{path} was written by another vecscope (format {header.get('version')})"
        )
    spec = MigrationSpec.from_json(header["spec"])
    steps: dict[Step, StepRecord] = {}
    events: list[dict[str, Any]] = []
    for rec in records[1:]:
        if rec.get("kind") == "spec":
            spec = MigrationSpec.from_json(rec["spec"])
        elif rec.get("kind") == "step":
            events.append(rec)
            try:
                key, state = Step(rec["step"]), Mark(rec["state"])
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
    )


def latest(directory: Path | None = None) -> Path | None:
    """The most recently written journal, for ``vecscope migrate resume`` without --journal."""
    directory = directory or migrations_dir()
    try:
        files = sorted(directory.glob("*.jsonl"), key=lambda p: p.stat().st_mtime)
    except OSError:
        return None
    return files[-1] if files else None
