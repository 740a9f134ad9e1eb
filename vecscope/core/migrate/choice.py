"""The Migrate screen's plan form, as core reads it: a source and a method, completed
from the catalog into a :class:`~core.migrate.plan.MigrationSpec` the way the CLI's
``migrate plan`` flags are."""

from __future__ import annotations

from dataclasses import dataclass

from vecscope.core.errors import BadInputError
from vecscope.core.migrate.plan import MigrationSpec, choose
from vecscope.core.migrate.records import RunOptions
from vecscope.core.models import Inventory


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

    def options(self) -> RunOptions:
        """How the run goes (the CLI's options); the journal keeps them for a resume."""
        return RunOptions(
            max_memory_mb=self.max_memory_mb,
            maintenance_work_mem_mb=self.maintenance_work_mem_mb,
        )


def source_options(inventory: Inventory) -> list[tuple[str, str]]:
    """The plan form's sources: each vector index, then each column for a first index."""
    options = [
        (f"{ix.schema}.{ix.name} ({ix.method}, {ix.table})", f"index:{ix.schema}.{ix.name}")
        for ix in inventory.indexes
        # A partition's index is migrated with its partitioned index, not alone.
        if ix.column is not None and ix.parent_index is None
    ]
    options += [
        (f"{c.schema}.{c.table}.{c.column} (new index)", f"column:{c.qualified}")
        for c in inventory.columns
    ]
    return options
