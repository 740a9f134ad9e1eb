"""Preflight's verdicts: one :class:`Check` per thing that can make a migration fail or
hurt, with its status and, where vecscope knows it, the SQL that fixes it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vecscope.core.migrate.plan import MigrationSpec
    from vecscope.core.models import Inventory

OK = "ok"
WARN = "warn"
FAIL = "fail"
INFO = "info"


@dataclass(frozen=True, slots=True)
class Check:
    key: str
    status: str
    title: str
    detail: str = ""
    #: SQL that fixes it (shown; run only on request).
    fix: str | None = None


def citus_check(inventory: Inventory, spec: MigrationSpec) -> Check | None:
    """A table Citus distributes is refused: the wizard's resumable build uses ``CREATE
    INDEX CONCURRENTLY IF NOT EXISTS``, which has been reported to leave an existing index
    invalid on Citus's shards; its memory setting does not reach the workers, and its
    verify sees the coordinator only (docs/citus.md). None where Citus is not involved."""
    if inventory.server.citus is None:
        return None
    dist = inventory.distribution_of(spec.schema, spec.table)
    if dist is None:
        return Check("citus", OK, f"Citus {inventory.server.citus}: a local table")
    return Check(
        "citus",
        FAIL,
        f"{spec.schema}.{spec.table} is a Citus {dist.method} table ({dist.shards} shards)",
        "each shard builds its own index with its worker's maintenance_work_mem, and "
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS can leave an existing index invalid on the "
        "shards: export the script with `vecscope migrate sql`, remove IF NOT EXISTS, set "
        "maintenance_work_mem on the workers, and check pg_index.indisvalid on every worker "
        "(docs/citus.md)",
    )
