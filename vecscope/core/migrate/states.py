"""The migration's vocabulary: its steps, their statuses, the kinds of migration, and the
defaults every front end shares. Defined once here; the engine decides with them, the CLI
and the Migrate screen only show them.
"""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    """What a migration does to the column's indexes."""

    #: A new index beside the old one, then the old one is dropped.
    REBUILD = "rebuild"
    #: A first index on a column with none.
    CREATE = "create"
    #: REINDEX CONCURRENTLY of the same definition (drifted IVFFlat).
    REINDEX = "reindex"


class Step(StrEnum):
    """The wizard's steps in order, then rollback (an action) and cleanup (of leftovers)."""

    PLAN = "plan"
    PREFLIGHT = "preflight"
    BACKUP = "backup"
    BASELINE = "baseline"
    BUILD = "build"
    VERIFY = "verify"
    CUTOVER = "cutover"
    ROLLBACK = "rollback"
    CLEANUP = "cleanup"


class Status(StrEnum):
    """Where a step stands, as the checklist and ``migrate status`` show it."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    NOT_NEEDED = "not needed"


#: The steps in order; "rollback" may run after any of them.
ORDER: tuple[Step, ...] = (
    Step.PLAN,
    Step.PREFLIGHT,
    Step.BACKUP,
    Step.BASELINE,
    Step.BUILD,
    Step.VERIFY,
    Step.CUTOVER,
)
#: The checklist's rows: the steps, then rollback.
CHECKLIST: tuple[Step, ...] = (*ORDER, Step.ROLLBACK)
TITLES: dict[Step, str] = {
    Step.PLAN: "Plan",
    Step.PREFLIGHT: "Preflight",
    Step.BACKUP: "Backup",
    Step.BASELINE: "Baseline",
    Step.BUILD: "Build",
    Step.VERIFY: "Verify",
    Step.CUTOVER: "Cutover",
    Step.ROLLBACK: "Rollback",
    Step.CLEANUP: "Cleanup",
}

#: maintenance_work_mem cap for preflight when the run gives none (``--max-memory``).
DEFAULT_MAX_MEMORY_MB = 4096
#: How a backup is kept when the run does not say (``--backup``).
DEFAULT_BACKUP = "table"
#: The backup kinds a run may ask for.
BACKUP_KINDS = ("table", "database", "confirmed")

#: Why a step cannot run when nothing is planned yet.
NOT_PLANNED = "plan first: pick the index to migrate"


def title(key: str) -> str:
    """A step's title; anything else (a worker's "reconcile") as it is."""
    try:
        return TITLES[Step(key)]
    except ValueError:
        return key
