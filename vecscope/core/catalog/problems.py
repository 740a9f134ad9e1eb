"""Problems visible from the catalog alone: what the Indexes screen marks at a glance.

Query-level causes (an operator the index does not serve, a post-filter) need a plan and
belong to the plan doctor; here we judge columns and indexes as they stand.
"""

from __future__ import annotations

from vecscope.core.models import (
    Inventory,
    Problem,
    ProblemKind,
    Severity,
    VectorColumn,
    VectorIndex,
)
from vecscope.core.pgvector import DEFAULT_OPERATOR, MAX_INDEX_DIMS, opclass_for, suggested_lists
from vecscope.core.sqltext import create_index_sql, ident

#: Below this many rows a Seq Scan is as fast as any ANN index: the index is optional.
#: From here up, a column without one makes every KNN query read the whole table.
SMALL_TABLE_ROWS = 1_000


def _column_problems(col: VectorColumn, indexes: tuple[VectorIndex, ...]) -> list[Problem]:
    found: list[Problem] = []

    def add(sev: Severity, kind: ProblemKind, message: str, fix: str | None = None) -> None:
        found.append(Problem(sev, kind, col.schema, col.table, col.column, None, message, fix))

    if not col.can_select:
        add(
            Severity.WARNING,
            ProblemKind.NO_SELECT,
            f"the current role has no SELECT on {ident(col.schema, col.table)}: "
            "catalog facts only, no queries or measurements",
            f"GRANT SELECT ON {ident(col.schema, col.table)} TO <role>;",
        )
    if col.type == "bit":
        # bit columns are vector-like only when indexed as such; judge them no further.
        return found
    if col.dims is None:
        add(
            Severity.WARNING,
            ProblemKind.UNTYPED_DIMS,
            f"{ident(col.column)} is {col.type} without dimensions: hnsw and ivfflat cannot "
            'index it ("column does not have dimensions")',
            f"ALTER TABLE {ident(col.schema, col.table)} ALTER COLUMN {ident(col.column)} "
            f"TYPE {col.type}(<dims>);  -- or index an expression cast to {col.type}(<dims>)",
        )
        return found
    limit = MAX_INDEX_DIMS.get(col.type)
    if limit is not None and col.dims > limit:
        add(
            Severity.WARNING,
            ProblemKind.TOO_MANY_DIMS,
            f"{col.dims} dimensions exceed the {limit} that hnsw/ivfflat index for {col.type}",
            "index a halfvec cast (up to 4000 dims) or binary quantisation (bit)",
        )
    usable = [ix for ix in indexes if ix.usable]
    if not indexes or not usable:
        rows = col.rows or 0
        if rows >= SMALL_TABLE_ROWS:
            sev = Severity.WARNING
            why = f"every nearest-neighbour query scans all ~{rows:,} rows"
        else:
            sev = Severity.INFO
            why = (
                f"~{rows:,} rows: a Seq Scan is fine for now"
                if col.rows is not None
                else "row count unknown (table never analysed)"
            )
        kind = ProblemKind.NO_INDEX if not indexes else ProblemKind.NO_USABLE_INDEX
        label = "no vector index" if not indexes else "no usable vector index"
        add(
            sev,
            kind,
            f"{label}: {why}",
            create_index_sql(
                col.schema,
                col.table,
                col.column,
                "hnsw",
                opclass_for(col.type, DEFAULT_OPERATOR.get(col.type, "<=>")) or "vector_cosine_ops",
            )
            + "  -- pick the opclass of the operator your queries use",
        )
    return found


def _index_problems(
    ix: VectorIndex, col: VectorColumn | None, stats_reset: str | None
) -> list[Problem]:
    found: list[Problem] = []

    def add(sev: Severity, kind: ProblemKind, message: str, fix: str | None = None) -> None:
        found.append(Problem(sev, kind, ix.schema, ix.table, ix.column, ix.name, message, fix))

    qualified = ident(ix.schema, ix.name)
    if not ix.ready:
        add(
            Severity.ERROR,
            ProblemKind.INDEX_NOT_READY,
            "not ready: a concurrent build is running now, or one failed before its first "
            "phase ended; the planner cannot use it",
            f"if no build is running: DROP INDEX CONCURRENTLY IF EXISTS {qualified};",
        )
    elif not ix.valid:
        add(
            Severity.ERROR,
            ProblemKind.INVALID_INDEX,
            "INVALID: the leftover of a failed or cancelled CREATE INDEX CONCURRENTLY; "
            "every write still maintains it, no query can use it",
            f"DROP INDEX CONCURRENTLY IF EXISTS {qualified};  -- then build it again, or "
            f"REINDEX INDEX CONCURRENTLY {qualified};",
        )
    rows = col.rows if col is not None else None
    if ix.usable and rows is not None and rows < SMALL_TABLE_ROWS:
        add(
            Severity.INFO,
            ProblemKind.SMALL_TABLE,
            f"~{rows:,} rows: the planner rightly prefers a Seq Scan, so this index "
            "is rarely used (not an error)",
        )
    if ix.method == "ivfflat" and ix.usable and rows:
        lists = int(ix.params.get("lists", 100))
        if rows < lists * 10:
            add(
                Severity.WARNING,
                ProblemKind.IVFFLAT_FEW_ROWS,
                f"lists = {lists} for ~{rows:,} rows: under 10 rows per list, recall suffers",
                f"rebuild with lists = {suggested_lists(rows)}, or use hnsw",
            )
    if ix.usable and ix.scans == 0 and (rows or 0) >= SMALL_TABLE_ROWS:
        since = f" since {stats_reset[:19]}" if stats_reset else " since statistics began"
        add(
            Severity.INFO,
            ProblemKind.NEVER_SCANNED,
            f"no scans{since}: check that queries use {ix.operator or 'its operator'} "
            "with ORDER BY ... LIMIT",
        )
    return found


def _duplicates(indexes: tuple[VectorIndex, ...]) -> list[Problem]:
    found: list[Problem] = []
    seen: dict[tuple[str, str, str | None, str | None, str, str, str | None], VectorIndex] = {}
    for ix in indexes:
        if not ix.usable:
            continue
        key = (ix.schema, ix.table, ix.column, ix.expression, ix.method, ix.opclass, ix.predicate)
        first = seen.setdefault(key, ix)
        if first is not ix:
            found.append(
                Problem(
                    Severity.WARNING,
                    ProblemKind.DUPLICATE_INDEX,
                    ix.schema,
                    ix.table,
                    ix.column,
                    ix.name,
                    f"duplicates {first.name} ({ix.method}, {ix.opclass}): every write pays twice",
                    f"DROP INDEX CONCURRENTLY IF EXISTS {ident(ix.schema, ix.name)};",
                )
            )
    return found


def citus_problems(inv: Inventory) -> list[Problem]:
    """What a vector column on a Citus distributed table means for vecscope's figures and
    for an index build (docs/citus.md has the reasons)."""
    found: list[Problem] = []
    for col in inv.columns:
        dist = inv.distribution_of(col.schema, col.table)
        if dist is None:
            continue
        if dist.method == "reference":
            where = "a reference table: a full copy on every node, each with its own index"
        else:
            where = (
                f"distributed by Citus over {dist.shards} shards: sizes and row counts here "
                "are this node's, each shard builds its own index with its worker's "
                "maintenance_work_mem, and recall is per shard"
            )
        found.append(
            Problem(
                Severity.INFO,
                ProblemKind.CITUS_DISTRIBUTED,
                col.schema,
                col.table,
                col.column,
                None,
                where,
                "see docs/citus.md; migrate it with `vecscope migrate sql`, reviewed for Citus",
            )
        )
    return found


def find_problems(inv: Inventory) -> tuple[Problem, ...]:
    """Every catalog-level problem, errors first."""
    found: list[Problem] = []
    by_key = {(c.schema, c.table, c.column): c for c in inv.columns}
    for col in inv.columns:
        found.extend(_column_problems(col, inv.indexes_on(col)))
    for ix in inv.indexes:
        owner = by_key.get((ix.schema, ix.table, ix.column or ""))
        found.extend(_index_problems(ix, owner, inv.server.stats_reset))
    found.extend(_duplicates(inv.indexes))
    found.extend(citus_problems(inv))
    order = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}
    return tuple(sorted(found, key=lambda p: order[p.severity]))
