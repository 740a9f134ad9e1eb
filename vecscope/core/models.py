"""Typed, frozen records that ``core`` hands to the CLI and the TUI.

Nothing outside ``core`` sees a raw row: the screens render these, the CLI serialises
them with :func:`core.inventory.inventory_to_json`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclass(frozen=True, slots=True)
class Setting:
    """A server setting as this session sees it (``current_setting``)."""

    name: str
    value: str | None
    #: Where it came from (``default``, ``configuration file``, ``database``, ``user``...).
    source: str | None = None


@dataclass(frozen=True, slots=True)
class DistributedTable:
    """A table Citus spreads over shards (``pg_dist_partition`` on the coordinator)."""

    schema: str
    table: str
    #: ``hash`` (distributed), ``reference`` (a copy on every node), ``append``, ``range``.
    method: str
    shards: int


@dataclass(frozen=True, slots=True)
class ServerInfo:
    version: str
    version_num: int
    pgvector: str | None
    pgvector_available: str | None
    pgvectorscale: str | None
    in_recovery: bool
    settings: tuple[Setting, ...]
    stats_reset: str | None
    current_user: str
    is_superuser: bool
    #: The citus extension's version where installed (a Citus coordinator or worker).
    citus: str | None = None

    def setting(self, name: str) -> str | None:
        for s in self.settings:
            if s.name == name:
                return s.value
        return None


@dataclass(frozen=True, slots=True)
class VectorColumn:
    schema: str
    table: str
    column: str
    #: ``vector``, ``halfvec``, ``sparsevec`` or ``bit``.
    type: str
    #: Declared dimensions; ``None`` when the column is untyped (``vector`` without ``(n)``).
    dims: int | None
    #: The planner's estimate (``reltuples``); ``None`` when never analysed/vacuumed.
    rows: int | None
    table_bytes: int
    #: True when the current role may run CREATE INDEX on the table (owner or member).
    can_create_index: bool
    #: True when the current role may SELECT the table.
    can_select: bool
    #: ``r`` a table, ``p`` a partitioned table, ``m`` a materialized view, ``f`` foreign.
    relkind: str = "r"
    #: The partitioned table this one is a partition of (same schema or not), if any.
    parent_schema: str | None = None
    parent_table: str | None = None

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.table}.{self.column}"


@dataclass(frozen=True, slots=True)
class VectorIndex:
    schema: str
    table: str
    #: The indexed column; for an expression index, the column the expression reads.
    column: str | None
    name: str
    #: ``hnsw``, ``ivfflat`` or ``diskann``.
    method: str
    opclass: str
    #: The distance operator(s) the operator class serves for ORDER BY, e.g. ``<=>``.
    operator: str | None
    #: Build parameters, with pgvector's defaults filled in where none were given.
    params: dict[str, int | float | str]
    #: Which of ``params`` were given explicitly in the index definition.
    params_explicit: tuple[str, ...]
    size_bytes: int
    definition: str
    valid: bool
    ready: bool
    #: The ``WHERE`` clause of a partial index.
    predicate: str | None
    #: The indexed expression when the index is on an expression rather than a column.
    expression: str | None
    scans: int | None
    tuples_read: int | None
    last_scan: str | None = None
    tablespace: str | None = None
    #: The partitioned index this partition's index is attached to (same schema as its
    #: table's parent), if any.
    parent_index: str | None = None

    @property
    def usable(self) -> bool:
        return self.valid and self.ready


class ProblemKind(StrEnum):
    """What the catalog alone shows to be wrong (stable identifiers, as ``--json`` prints)."""

    NO_SELECT = "no-select"
    UNTYPED_DIMS = "untyped-dims"
    TOO_MANY_DIMS = "too-many-dims"
    NO_INDEX = "no-index"
    NO_USABLE_INDEX = "no-usable-index"
    INDEX_NOT_READY = "index-not-ready"
    INVALID_INDEX = "invalid-index"
    SMALL_TABLE = "small-table"
    IVFFLAT_FEW_ROWS = "ivfflat-few-rows"
    NEVER_SCANNED = "never-scanned"
    DUPLICATE_INDEX = "duplicate-index"
    CITUS_DISTRIBUTED = "citus-distributed"


@dataclass(frozen=True, slots=True)
class Problem:
    """Something a DBA should look at, found from the catalog alone."""

    severity: Severity
    kind: ProblemKind
    schema: str
    table: str
    column: str | None
    index: str | None
    message: str
    fix: str | None = None


class Rule(StrEnum):
    """The doctor's rules: a finding's ``rule`` (as the CLI's JSON and the TUI show it)."""

    NO_LIMIT = "no-limit"
    DESC_ORDER = "desc-order"
    EXPRESSION_ORDER = "expression-order"
    INVALID_INDEX = "invalid-index"
    SMALL_TABLE = "small-table"
    NO_INDEX = "no-index"
    EXPRESSION_INDEX_MISMATCH = "expression-index-mismatch"
    OPERATOR_MISMATCH = "operator-mismatch"
    QUERY_VECTOR_FROM_JOIN = "query-vector-from-join"
    SEQ_SCAN_CHOSEN = "seq-scan-chosen"
    PLANNER_SETTING = "planner-setting"
    PROBES_ALL_LISTS = "probes-all-lists"
    EF_SEARCH_BELOW_LIMIT = "ef-search-below-limit"
    PROBES_BELOW_LIMIT = "probes-below-limit"
    PROBES_LOW = "probes-low"
    POST_FILTER = "post-filter"
    FILTERED_EXACT = "filter-chose-exact"
    NO_ORDER_BY = "no-order-by"
    DISABLED_NODE = "disabled-node"
    SORT_SPILL = "sort-spill"
    ROWS_REMOVED = "rows-removed"
    ROW_MISESTIMATE = "row-misestimate"
    SLOWEST_NODE = "slowest-node"


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing the doctor found, pointing at a plan node."""

    rule: Rule
    severity: Severity
    node_id: int | None
    message: str
    fix: str | None = None
    #: A rewritten query that avoids the problem: "try the fix" explains it.
    rewritten_sql: str | None = None
    #: A statement that creates the missing index (never run by the doctor).
    index_sql: str | None = None
    #: Session settings that avoid the problem: "try the fix" runs the query with them
    #: (``SET LOCAL`` inside the EXPLAIN's transaction, so for that run only).
    settings: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Inventory:
    server: ServerInfo
    columns: tuple[VectorColumn, ...]
    indexes: tuple[VectorIndex, ...]
    problems: tuple[Problem, ...] = field(default=())
    #: Tables Citus distributes (only where the citus extension is installed).
    distributed: tuple[DistributedTable, ...] = field(default=())
    _by_column: dict[tuple[str, str, str | None], tuple[VectorIndex, ...]] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        # Grouped once per (immutable) inventory: 1,000 indexes must not cost
        # columns x indexes on every lookup.
        grouped: dict[tuple[str, str, str | None], list[VectorIndex]] = {}
        for ix in self.indexes:
            grouped.setdefault((ix.schema, ix.table, ix.column), []).append(ix)
        object.__setattr__(self, "_by_column", {k: tuple(v) for k, v in grouped.items()})

    def distribution_of(self, schema: str, table: str) -> DistributedTable | None:
        """How Citus distributes ``schema.table``, or None (not Citus, or a local table)."""
        return next((d for d in self.distributed if (d.schema, d.table) == (schema, table)), None)

    def indexes_on(self, column: VectorColumn) -> tuple[VectorIndex, ...]:
        return self._by_column.get((column.schema, column.table, column.column), ())

    def partitions_of(self, column: VectorColumn) -> tuple[VectorColumn, ...]:
        """The column on each partition of ``column``'s partitioned table, by name."""
        return tuple(
            c
            for c in self.columns
            if (c.parent_schema, c.parent_table, c.column)
            == (column.schema, column.table, column.column)
        )

    def problems_for(
        self, schema: str, table: str, column: str | None = None, index: str | None = None
    ) -> tuple[Problem, ...]:
        return tuple(
            p
            for p in self.problems
            if p.schema == schema
            and p.table == table
            and (column is None or p.column == column)
            and (index is None or p.index == index)
        )
