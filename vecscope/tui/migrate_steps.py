"""The bridge between the Migrate screen's workers and :class:`core.migrate.engine.Migration`.

``core.migrate.cli`` drives a migration with prints and a terminal prompt; the screen runs
the very same steps in the same order with the same stops, but with callbacks instead of
prints and with the answers (backup kind, the typed cutover confirmation) collected from
modals before a worker starts. Nothing here imports Textual, so it is plain to test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import conninfo as pg_conninfo

from vecscope.core.connection import ConnectionTarget
from vecscope.core.errors import BadInputError, VecscopeError
from vecscope.core.migrate import engine as eng
from vecscope.core.migrate import journal as jn
from vecscope.core.migrate.backup import BackupRecord
from vecscope.core.migrate.build import BuildOutcome, BuildProgress
from vecscope.core.migrate.engine import CutoverResult, Migration
from vecscope.core.migrate.plan import MigrationSpec, choose
from vecscope.core.migrate.preflight import Preflight
from vecscope.core.migrate.verify import Figures, Verification
from vecscope.core.models import Inventory

#: The checklist's rows: the engine's steps, then rollback (an action, not a step).
STEP_KEYS = (*eng.ORDER, "rollback")
TITLES = {
    "plan": "Plan",
    "preflight": "Preflight",
    "backup": "Backup",
    "baseline": "Baseline",
    "build": "Build",
    "verify": "Verify",
    "cutover": "Cutover",
    "rollback": "Rollback",
}
#: maintenance_work_mem cap for preflight when the plan gives none (the CLI's default).
DEFAULT_MAX_MEMORY_MB = 4096

#: A journal's path, one line about it, and whether it is unfinished.
JournalEntry = tuple[Path, str, bool]
StepResult = Preflight | BackupRecord | Figures | BuildOutcome | Verification | CutoverResult
Say = Callable[[str, str], None]


@dataclass(frozen=True, slots=True)
class PlanChoice:
    """What the plan form says; empty fields leave the choice to :func:`choose`."""

    #: ``index:SCHEMA.NAME`` or ``column:SCHEMA.TABLE.COLUMN``.
    source: str
    #: ``hnsw``, ``ivfflat`` or ``reindex`` (the same definition, rebuilt).
    method: str = "hnsw"
    m: int | None = None
    ef_construction: int | None = None
    lists: int | None = None
    opclass: str | None = None
    name: str | None = None
    rename: bool = False
    #: Cap for the build's maintenance_work_mem (the CLI's ``--max-memory``).
    max_memory_mb: int | None = None
    #: The build's maintenance_work_mem itself (the CLI's ``--maintenance-work-mem``).
    maintenance_work_mem_mb: int | None = None

    def spec(self, inventory: Inventory) -> MigrationSpec:
        """The migration this choice means, completed from the catalog.

        Raises:
            BadInputError: As :func:`core.migrate.plan.choose` does.
        """
        kind, _, ref = self.source.partition(":")
        if self.method == "reindex":
            if kind != "index":
                raise BadInputError("reindex rebuilds an existing index: pick an index")
            return choose(inventory, index=ref, reindex=True)
        hnsw = self.method == "hnsw"
        return choose(
            inventory,
            index=ref if kind == "index" else None,
            column=ref if kind == "column" else None,
            to=self.method,
            m=self.m if hnsw else None,
            ef_construction=self.ef_construction if hnsw else None,
            lists=None if hnsw else self.lists,
            opclass=self.opclass,
            name=self.name,
            rename=self.rename and kind == "index",
        )

    def options(self) -> dict[str, Any]:
        """What the journal keeps of the choice for a resumed run (the CLI's options)."""
        return {
            "max_memory_mb": self.max_memory_mb,
            "maintenance_work_mem_mb": self.maintenance_work_mem_mb,
            "server_cores": None,
        }


@dataclass(frozen=True, slots=True)
class BackupChoice:
    """How the backup step keeps a copy: ``table``, ``database`` or ``confirmed``."""

    kind: str
    #: The existing backup's identifier (``confirmed`` only).
    identifier: str | None = None


@dataclass(frozen=True, slots=True)
class Answers:
    """What the user decided before the worker started (the CLI asks on its terminal)."""

    backup: BackupChoice | None = None
    #: The old index's name was typed: the cutover may drop it.
    cutover: bool = False
    #: Cut over although verification did not pass (confirmed the same way).
    force_cutover: bool = False


@dataclass(frozen=True, slots=True)
class Hooks:
    """Where a running step reports to; called on the worker's thread."""

    say: Say
    progress: Callable[[BuildProgress], None]
    should_cancel: Callable[[], bool]


def remaining(mig: Migration) -> tuple[str, ...]:
    """The steps a "run all" would take from here, in order (rollback never)."""
    if mig.finished or mig.next_step() == "rollback":
        return ()
    return tuple(k for k in eng.ORDER[1:] if mig.status(k) not in (eng.DONE, eng.NOT_NEEDED))


def run_step(mig: Migration, key: str, answers: Answers, hooks: Hooks) -> StepResult | None:
    """Run one step as ``vecscope migrate run`` would; returns its result.

    Raises:
        BadInputError: The step is blocked, or an answer it needs is missing.
        VecscopeError: The step failed (the journal records it).
    """

    def say(text: str) -> None:
        hooks.say(key, text)

    if key == "preflight":
        options = mig.options()
        return mig.preflight(
            cores=options.get("server_cores"),
            memory_cap_kb=int(options.get("max_memory_mb") or DEFAULT_MAX_MEMORY_MB) * 1024,
            maintenance_work_mem_kb=int(options.get("maintenance_work_mem_mb") or 0) * 1024 or None,
        )
    if key == "backup":
        if answers.backup is None:
            raise BadInputError("backup: choose table, database or confirmed first")
        backup_dir = mig.options().get("backup_dir")
        return mig.backup(
            answers.backup.kind,
            Path(backup_dir) if backup_dir else None,
            answers.backup.identifier,
        )
    if key == "baseline":
        figures = mig.baseline()
        if figures is None:
            say(str(mig.state.data("baseline").get("note", "not measured")))
        return figures
    if key == "build":
        return mig.build(on_progress=hooks.progress, should_cancel=hooks.should_cancel, say=say)
    if key == "verify":
        return mig.verify()
    if key == "cutover":
        if not (answers.cutover or answers.force_cutover):
            raise BadInputError("cutover: type the old index's name to confirm it")
        return mig.cutover(force=answers.force_cutover, say=say)
    raise BadInputError(f"{key} is not a step to run")


def stops_after(key: str, result: StepResult | None) -> bool:
    """Whether "run all" stops after this result, where the CLI stops."""
    if isinstance(result, Preflight):
        return not result.ok
    if isinstance(result, BuildOutcome):
        return result.cancelled
    if isinstance(result, Verification):
        return not result.passed
    return False


def display_status(mig: Migration | None, planned: bool, key: str) -> str:
    """The engine's status of ``key``, with a preflight that found blockers shown failed."""
    if mig is None:
        if key == "plan":
            return eng.DONE if planned else eng.PENDING
        return eng.PENDING
    if key == "rollback":
        rec = mig.state.steps.get("rollback")
        if rec is None:
            return eng.PENDING
        return {jn.INTENT: eng.RUNNING, jn.DONE: eng.DONE, jn.FAILED: eng.FAILED}.get(
            rec.state, eng.PENDING
        )
    status = mig.status(key)
    if key == "preflight" and status == eng.DONE and mig.state.data("preflight").get("failed"):
        return eng.FAILED
    return status


def verification_from(data: dict[str, Any] | None) -> Verification | None:
    """A journaled verification read back (the journal keeps ``Verification.to_json()``)."""
    if not data:
        return None
    return Verification(
        valid=bool(data.get("valid")),
        served_by=data.get("served_by"),
        verdict=str(data.get("verdict") or ""),
        steering=dict(data.get("steering") or {}),
        new=Figures.from_json(data.get("new")),
        old=Figures.from_json(data.get("old")),
        required_recall=data.get("required_recall"),
        passed=bool(data.get("passed")),
        reasons=tuple(data.get("reasons") or ()),
    )


def results_from_journal(mig: Migration) -> dict[str, StepResult | None]:
    """What a resumed journal already knows of each finished step."""
    state = mig.state
    out: dict[str, StepResult | None] = {}
    record = state.data("backup").get("record")
    if state.done("backup") and record:
        out["backup"] = BackupRecord.from_json(record)
    if state.done("baseline"):
        out["baseline"] = Figures.from_json(state.data("baseline").get("figures"))
    build = state.data("build")
    if state.done("build") and "seconds" in build:
        out["build"] = BuildOutcome(
            seconds=float(build["seconds"]),
            attempts=int(build.get("attempts") or 1),
            notices=tuple(build.get("notices") or ()),
            workers=build.get("workers"),
            spilled_after=build.get("spilled_after"),
            index_bytes=int(build.get("index_bytes") or 0),
        )
    verification = verification_from(state.data("verify").get("result"))
    if verification is not None:
        out["verify"] = verification
    cut = state.data("cutover")
    if state.done("cutover"):
        out["cutover"] = CutoverResult(
            int(cut.get("attempts") or 1), bool(cut.get("renamed")), cut.get("served_by"), ""
        )
    return out


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
            entries.append((path, journal_line(mig), not mig.finished))
    if newest_unfinished:
        latest = jn.latest()
        return [e for e in entries[:1] if e[0] == latest and e[2]]
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


def source_options(inventory: Inventory) -> list[tuple[str, str]]:
    """The plan form's sources: each vector index, then each column for a first index."""
    options = [
        (f"{ix.schema}.{ix.name} ({ix.method}, {ix.table})", f"index:{ix.schema}.{ix.name}")
        for ix in inventory.indexes
        if ix.column is not None
    ]
    options += [
        (f"{c.schema}.{c.table}.{c.column} (new index)", f"column:{c.qualified}")
        for c in inventory.columns
    ]
    return options
