"""The migration journals of a database: which there are, one line about each, and the
summary ``migrate … --json`` prints of one."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import psycopg
from psycopg import conninfo as pg_conninfo

from vecscope.core import db
from vecscope.core.connection import ConnectionTarget, connect
from vecscope.core.errors import VecscopeError
from vecscope.core.migrate import journal as jn
from vecscope.core.migrate.engine import Migration
from vecscope.core.migrate.plan import MigrationSpec
from vecscope.core.migrate.states import ORDER, Step


class JournalEntry(NamedTuple):
    """A journal's path, one line about it, and whether it is unfinished."""

    path: Path
    line: str
    unfinished: bool


def _where(conninfo: str) -> tuple[str, str, str]:
    try:
        parts = pg_conninfo.conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError:
        return ("", "", "")
    return (str(parts.get("host", "")), str(parts.get("port", "")), str(parts.get("dbname", "")))


def same_database(state: jn.JournalState, target: ConnectionTarget) -> bool:
    """Whether a journal was written for the database ``target`` names."""
    return _where(state.conninfo) == _where(jn.safe_conninfo(target))


def journals() -> list[Path]:
    """Every migration journal, newest first."""
    directory = jn.migrations_dir()
    try:
        return sorted(directory.glob("*.jsonl"), key=lambda p: p.stat().st_mtime, reverse=True)
    except OSError:
        return []


def journal_entries(target: ConnectionTarget, *, newest_unfinished: bool) -> list[JournalEntry]:
    """This database's journals, newest first; or only the newest of all, when unfinished."""
    entries: list[JournalEntry] = []
    for path in journals():
        try:
            mig = Migration.open(path, target)
        except VecscopeError:
            continue
        if same_database(mig.state, target):
            entries.append(JournalEntry(path, journal_line(mig), not mig.finished))
    if newest_unfinished:
        latest = jn.latest()
        return [e for e in entries[:1] if e.path == latest and e.unfinished]
    return entries


def journal_line(mig: Migration) -> str:
    """One line saying what a journal migrates and how far it got."""
    spec = mig.spec
    what = f"{spec.schema}.{spec.table}: {spec.old_name or spec.column} -> {spec.new_name}"
    if mig.rolled_back:
        where = "rolled back"
    elif mig.finished:
        where = "finished"
    elif mig.state.interrupted:
        where = f"stopped during {mig.state.interrupted}"
    else:
        where = f"next: {mig.next_step() or 'nothing'}"
    return f"{mig.state.created[:16].replace('T', ' ')}  {what}  ({where})"


def summary_json(mig: Migration) -> dict[str, Any]:
    """``migrate … --json``: the journal, the spec, every step's status and record."""
    keys = (*ORDER[1:], Step.ROLLBACK)
    return {
        "journal": str(mig.path),
        "spec": mig.spec.to_json(),
        "steps": {str(k): str(mig.status(k)) for k in keys},
        "data": {k: r.data for k, r in mig.state.steps.items()},
        "usable_indexes": usable_index(mig.target, mig.spec),
    }


def usable_index(target: ConnectionTarget, spec: MigrationSpec) -> list[str]:
    """Valid, ready vector indexes on the column: what a query can use right now."""
    with connect(target) as conn:
        found = db.records(
            conn, "migrate_usable_indexes", _UsableIndex, {"table": spec.qualified_table}
        )
    return [ix.name for ix in found]


@dataclass(frozen=True, slots=True)
class _UsableIndex:
    name: str
