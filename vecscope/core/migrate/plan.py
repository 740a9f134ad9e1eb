"""What a migration will do, decided before anything runs: the spec and every statement.

A :class:`MigrationSpec` is the user's choice (source index, target method, parameters,
operator class, names) completed from the catalog; :mod:`core.migrate.render` turns it
into the statements of every step, which the wizard shows before running them and the
exports reuse. The spec is plain data so the journal can record it and a resumed run
rebuild the very same plan.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from vecscope.core.errors import BadInputError
from vecscope.core.migrate.states import Kind, Step
from vecscope.core.models import Inventory, VectorColumn, VectorIndex
from vecscope.core.names import parse_name
from vecscope.core.pgvector import (
    DEFAULT_OPERATOR,
    DEFAULT_PARAMS,
    OPCLASS_SUFFIX,
    opclass_for,
    suggested_lists,
)
from vecscope.core.sqltext import ident, index_name_for

METHODS = ("hnsw", "ivfflat")
#: Build parameters each target method accepts, with their allowed ranges (pgvector's).
PARAM_RANGES: dict[str, dict[str, tuple[int, int]]] = {
    "hnsw": {"m": (2, 100), "ef_construction": (4, 1000)},
    "ivfflat": {"lists": (1, 32768)},
}
DEFAULT_LOCK_TIMEOUT_MS = 5_000
DEFAULT_RETRIES = 5
#: Recall a new index must reach when there is no old index to compare with.
DEFAULT_MIN_RECALL = 0.9


@dataclass(frozen=True, slots=True)
class PartitionPlan:
    """One partition of a partitioned table: its own index, built concurrently and then
    attached to the partitioned index (in the parent's schema). Plain data."""

    table: str
    #: The new index on this partition.
    new_name: str
    rows: int = 0
    #: The old partitioned index's index on this partition, and its ``pg_get_indexdef``:
    #: what a rollback recreates (``None`` for a first index).
    old_name: str | None = None
    old_definition: str | None = None
    old_tablespace: str | None = None


@dataclass(frozen=True, slots=True)
class MigrationSpec:
    """Everything that decides a migration's statements. Plain data: the journal keeps it."""

    kind: Kind
    schema: str
    table: str
    column: str
    column_type: str
    dims: int | None
    rows: int
    method: str
    opclass: str
    params: dict[str, int]
    new_name: str
    #: The index being replaced (``None`` for a first index).
    old_name: str | None = None
    old_method: str | None = None
    #: ``pg_get_indexdef`` of the old index: what a rollback recreates.
    old_definition: str | None = None
    old_tablespace: str | None = None
    #: The indexed expression and partial-index predicate, kept from the old index.
    expression: str | None = None
    predicate: str | None = None
    #: Rename the new index to the old name after cutover.
    rename: bool = False
    lock_timeout_ms: int = DEFAULT_LOCK_TIMEOUT_MS
    retries: int = DEFAULT_RETRIES
    #: Session settings for the build, chosen at preflight (``None``: the server's).
    maintenance_work_mem_kb: int | None = None
    parallel_workers: int | None = None
    #: Recall the new index must reach; ``None``: at least the old index's.
    min_recall: float | None = None
    k: int = 10
    queries: int = 100
    #: The application's filter (``tenant_id = {tenant_id}``, as ``bench --where``): the
    #: baseline and verify measure recall and rows returned under it.
    where: str | None = None
    #: The table is partitioned: its index is made ``ON ONLY`` the parent, each partition's
    #: concurrently, then attached (PostgreSQL builds no partitioned index concurrently).
    partitioned: bool = False
    partitions: tuple[PartitionPlan, ...] = ()

    def __post_init__(self) -> None:
        # From the journal the partitions come back as dicts (JSON has no records).
        parts = tuple(
            p if isinstance(p, PartitionPlan) else PartitionPlan(**p) for p in self.partitions
        )
        object.__setattr__(self, "partitions", parts)

    @property
    def operator(self) -> str:
        """The distance operator the target operator class serves."""
        for op, suffix in OPCLASS_SUFFIX.items():
            if self.opclass.endswith("_" + suffix):
                return op
        return DEFAULT_OPERATOR.get(self.column_type, "<->")

    @property
    def partition_tables(self) -> tuple[str, ...] | None:
        """The partitions' names on a partitioned table (``None``: not partitioned)."""
        return tuple(p.table for p in self.partitions) if self.partitioned else None

    @property
    def final_name(self) -> str:
        """The new index's name once the migration is over."""
        return self.old_name if self.rename and self.old_name else self.new_name

    @property
    def qualified_table(self) -> str:
        return ident(self.schema, self.table)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> MigrationSpec:
        known = {f for f in cls.__dataclass_fields__}
        values = {k: v for k, v in data.items() if k in known}
        values["kind"] = Kind(values["kind"])
        return cls(**values)


@dataclass(frozen=True, slots=True)
class Statement:
    """One statement the wizard runs, as it is shown and as it is sent."""

    sql: str
    #: Why it is there, shown beside it.
    note: str = ""


@dataclass(frozen=True, slots=True)
class StepPlan:
    key: Step
    title: str
    statements: tuple[Statement, ...] = field(default=())
    #: What the step does that is not SQL (a dump, a measurement), one line each.
    actions: tuple[str, ...] = field(default=())


# --- choosing ----------------------------------------------------------------------------


def _find_index(inventory: Inventory, ref: str) -> VectorIndex:
    try:
        schema, name = parse_name(ref, 2, "--index", "SCHEMA.NAME of an index")
    except BadInputError:
        # Not SQL (search.Product Embeddings_hnsw, as the Indexes screen's detail shows
        # it): taken as written when it names exactly one index that way.
        raw_schema, _, raw_name = ref.rpartition(".")
        exact = [
            ix
            for ix in inventory.indexes
            if ix.name == raw_name and (not raw_schema or ix.schema == raw_schema)
        ]
        if len(exact) == 1:
            return exact[0]
        raise
    matches = [
        ix
        for ix in inventory.indexes
        if ix.name == name and (schema is None or ix.schema == schema)
    ]
    if not matches:
        matches = [
            ix
            for ix in inventory.indexes
            if ix.name.lower() == str(name).lower()
            and (schema is None or ix.schema.lower() == schema.lower())
        ]
    if not matches:
        raise BadInputError(f"no vector index {ref} (see vecscope indexes)")
    if len(matches) > 1:
        raise BadInputError(f"{name} is in several schemas: write SCHEMA.NAME")
    return matches[0]


def _find_column(inventory: Inventory, ref: str) -> VectorColumn:
    try:
        wanted = parse_name(ref, 3, "--column", "SCHEMA.TABLE.COLUMN")
    except BadInputError:
        exact = [c for c in inventory.columns if f"{c.schema}.{c.table}.{c.column}" == ref]
        if len(exact) == 1:
            return exact[0]
        raise
    if wanted[0] is None:
        raise BadInputError(f"--column needs SCHEMA.TABLE.COLUMN, not {ref!r}")
    for col in inventory.columns:
        if (col.schema, col.table, col.column) == wanted:
            return col
    # A name typed unquoted ("Embedding") is folded to lower case as SQL does; the one
    # column it can only mean is taken, as a person would.
    loose = [
        col
        for col in inventory.columns
        if tuple(p.lower() for p in (col.schema, col.table, col.column))
        == tuple(str(w).lower() for w in wanted)
    ]
    if len(loose) == 1:
        return loose[0]
    raise BadInputError(f"no vector column {ref} (see vecscope indexes)")


def _column_of(inventory: Inventory, ix: VectorIndex) -> VectorColumn:
    for col in inventory.columns:
        if (col.schema, col.table, col.column) == (ix.schema, ix.table, ix.column):
            return col
    raise BadInputError(f"cannot find the vector column indexed by {ix.schema}.{ix.name}")


def _check_params(method: str, params: dict[str, int]) -> None:
    for key, value in params.items():
        lo, hi = PARAM_RANGES[method][key]
        if not lo <= value <= hi:
            raise BadInputError(f"{key} must be between {lo} and {hi} for {method}, not {value}")
    if method == "hnsw" and params["ef_construction"] < 2 * params["m"]:
        raise BadInputError(
            f"ef_construction must be at least 2 * m ({2 * params['m']}) for hnsw "
            f"(pgvector refuses smaller)"
        )


def _free_name(
    inventory: Inventory, schema: str, wanted: str, chosen: frozenset[str] = frozenset()
) -> str:
    taken = {ix.name for ix in inventory.indexes if ix.schema == schema} | chosen
    if wanted not in taken:
        return wanted
    for n in range(2, 100):
        suffix = f"_{n}"
        candidate = wanted.encode()[: 63 - len(suffix)].decode(errors="ignore") + suffix
        if candidate not in taken:
            return candidate
    raise BadInputError(f"no free index name near {wanted}; give one with --name")


def choose(
    inventory: Inventory,
    *,
    index: str | None = None,
    column: str | None = None,
    to: str | None = None,
    m: int | None = None,
    ef_construction: int | None = None,
    lists: int | None = None,
    opclass: str | None = None,
    name: str | None = None,
    rename: bool = False,
    reindex: bool = False,
    lock_timeout_ms: int = DEFAULT_LOCK_TIMEOUT_MS,
    retries: int = DEFAULT_RETRIES,
    min_recall: float | None = None,
    k: int = 10,
    queries: int = 100,
    where: str | None = None,
) -> MigrationSpec:
    """Complete the user's choice from the catalog into a spec (nothing runs).

    Raises:
        BadInputError: an unknown index or column, a parameter out of range, or a choice
            that makes no sense (``--reindex`` with ``--to``, say).
    """
    if (index is None) == (column is None):
        raise BadInputError("name the index to migrate (--index) or the column to index (--column)")
    if lock_timeout_ms < 100:
        raise BadInputError("--lock-timeout must be at least 100 ms")
    if retries < 0:
        raise BadInputError("--retries cannot be negative")
    if min_recall is not None and not 0.0 <= min_recall <= 1.0:
        raise BadInputError("--min-recall must be between 0 and 1")
    if k < 1 or queries < 1:
        raise BadInputError("-k and --queries must be at least 1")
    if opclass is not None:
        _check_opclass(opclass)

    def spec_for(col: VectorColumn, **chosen: Any) -> MigrationSpec:
        return MigrationSpec(
            schema=col.schema,
            table=col.table,
            column=col.column,
            column_type=col.type,
            dims=col.dims,
            rows=_rows(col, chosen),
            lock_timeout_ms=lock_timeout_ms,
            retries=retries,
            min_recall=min_recall,
            k=k,
            queries=queries,
            where=where.strip() if where and where.strip() else None,
            **chosen,
        )

    if column is not None:
        col = _find_column(inventory, column)
        method = to or "hnsw"
        if method not in METHODS:
            raise BadInputError(f"--to must be one of {', '.join(METHODS)}")
        op = DEFAULT_OPERATOR.get(col.type, "<->")
        new_name = name or _free_name(
            inventory, col.schema, index_name_for(col.table, col.column, method)
        )
        parts = _partitions(inventory, col, None, method, new_name)
        rows = _rows(col, parts)
        return spec_for(
            col,
            kind=Kind.CREATE,
            method=method,
            opclass=opclass or opclass_for(col.type, op) or "vector_l2_ops",
            params=_params(method, None, rows, m, ef_construction, lists),
            new_name=new_name,
            **parts,
        )
    assert index is not None
    ix = _find_index(inventory, index)
    if ix.parent_index is not None:
        raise BadInputError(
            f"{ix.name} is one partition's share of {ix.schema}.{ix.parent_index}: "
            f"migrate {ix.schema}.{ix.parent_index} (every partition is built)"
        )
    col = _column_of(inventory, ix)
    old = {
        "old_name": ix.name,
        "old_method": ix.method,
        "old_definition": ix.definition,
        "old_tablespace": ix.tablespace,
        "expression": ix.expression,
        "predicate": ix.predicate,
    }
    current = {k_: int(v) for k_, v in ix.params.items() if isinstance(v, int)}
    if reindex:
        if to or m or ef_construction or lists or opclass or name or rename:
            raise BadInputError("--reindex rebuilds the same definition: give no other option")
        if col.relkind == "p":
            raise BadInputError(
                f"{ix.name} is on a partitioned table: --reindex does not handle it yet; "
                "migrate it to new parameters instead (each partition is built concurrently)"
            )
        return spec_for(
            col,
            kind=Kind.REINDEX,
            method=ix.method,
            opclass=ix.opclass,
            params=current,
            new_name=ix.name,
            **old,
        )
    method = to or "hnsw"
    if method not in METHODS:
        raise BadInputError(f"--to must be one of {', '.join(METHODS)}")
    rows = _rows(col, _partitions(inventory, col, ix, method, ""))
    params = _params(method, ix, rows, m, ef_construction, lists)
    opc = opclass or ix.opclass
    if opc == ix.opclass and method == ix.method and params == current:
        raise BadInputError(
            f"{ix.name} is already {method} with these parameters and {opc}: "
            "to rebuild it as it is, use --reindex"
        )
    if name and any(i.schema == ix.schema and i.name == name for i in inventory.indexes):
        raise BadInputError(f"an index named {name} already exists in {ix.schema}")
    wanted = index_name_for(ix.table, col.column, method)
    new_name = name or _free_name(inventory, ix.schema, wanted)
    parts = _partitions(inventory, col, ix, method, new_name)
    return spec_for(
        col,
        kind=Kind.REBUILD,
        method=method,
        opclass=opc,
        params=params,
        new_name=new_name,
        rename=rename,
        **old,
        **parts,
    )


def _partitions(
    inventory: Inventory, col: VectorColumn, old: VectorIndex | None, method: str, new_name: str
) -> dict[str, Any]:
    """``partitioned`` and ``partitions`` for a spec: each partition, its new index's name
    and (for a rebuild) the old index attached on it, from the catalog.

    Raises:
        BadInputError: a partition that is partitioned itself or foreign, in another
            schema, or without the old index attached (an incomplete partitioned index).
    """
    if col.relkind != "p":
        return {}
    chosen = {new_name}
    out: list[PartitionPlan] = []
    for part in inventory.partitions_of(col):
        where = f"{part.schema}.{part.table}"
        if part.relkind != "r":
            kind = "partitioned itself" if part.relkind == "p" else "not a plain table"
            raise BadInputError(
                f"partition {where} is {kind}: only one level of plain partitions is handled"
            )
        if part.schema != col.schema:
            raise BadInputError(
                f"partition {where} is in another schema than {col.schema}.{col.table}: not handled"
            )
        old_part = None
        if old is not None:
            old_part = next(
                (
                    ix
                    for ix in inventory.indexes
                    if (ix.schema, ix.table, ix.parent_index) == (part.schema, part.table, old.name)
                ),
                None,
            )
            if old_part is None:
                raise BadInputError(
                    f"{old.name} has no index attached on partition {where}: it is not "
                    "complete (not valid); finish or drop it first"
                )
        wanted = index_name_for(part.table, col.column, method)
        name = _free_name(inventory, col.schema, wanted, frozenset(chosen))
        chosen.add(name)
        out.append(
            PartitionPlan(
                table=part.table,
                new_name=name,
                rows=part.rows or 0,
                old_name=old_part.name if old_part else None,
                old_definition=old_part.definition if old_part else None,
                old_tablespace=old_part.tablespace if old_part else None,
            )
        )
    return {"partitioned": True, "partitions": tuple(out)}


def _rows(col: VectorColumn, parts: dict[str, Any]) -> int:
    """The table's rows: the partitions' when it has any (a parent's own estimate is
    missing until the parent itself is analysed)."""
    partitions: tuple[PartitionPlan, ...] = parts.get("partitions", ())
    return sum(p.rows for p in partitions) if partitions else col.rows or 0


def _check_opclass(opclass: str) -> None:
    """An operator class is one of pgvector's names (``vector_cosine_ops``…): it is written
    into the plan, the SQL script and the Alembic revision as it is, so nothing else may
    pass (preflight then checks the server has it for the method)."""
    types = ("vector", "halfvec", "sparsevec", "bit")
    allowed = {f"{t}_{suffix}" for t in types for suffix in OPCLASS_SUFFIX.values()}
    if opclass not in allowed:
        raise BadInputError(
            f"--opclass {opclass!r} is not a pgvector operator class "
            "(vector_l2_ops, vector_cosine_ops, vector_ip_ops, halfvec_cosine_ops, ...)"
        )


def _params(
    method: str,
    source: VectorIndex | None,
    rows: int,
    m: int | None,
    ef_construction: int | None,
    lists: int | None,
) -> dict[str, int]:
    if method == "hnsw":
        if lists is not None:
            raise BadInputError("--lists is an ivfflat parameter")
        keep = source.params if source is not None and source.method == "hnsw" else {}
        params = {
            "m": int(m or keep.get("m") or DEFAULT_PARAMS["hnsw"]["m"]),
            "ef_construction": int(
                ef_construction
                or keep.get("ef_construction")
                or DEFAULT_PARAMS["hnsw"]["ef_construction"]
            ),
        }
    else:
        if m is not None or ef_construction is not None:
            raise BadInputError("--m and --ef-construction are hnsw parameters")
        params = {"lists": int(lists or suggested_lists(rows))}
    _check_params(method, params)
    return params


def with_settings(
    spec: MigrationSpec, *, maintenance_work_mem_kb: int, parallel_workers: int
) -> MigrationSpec:
    return replace(
        spec, maintenance_work_mem_kb=maintenance_work_mem_kb, parallel_workers=parallel_workers
    )


def _describe(spec: MigrationSpec) -> str:
    params = " ".join(f"{k}={v}" for k, v in spec.params.items())
    if spec.kind == Kind.REINDEX:
        return f"REINDEX CONCURRENTLY {spec.old_name} ({spec.method} {params})"
    if spec.kind == Kind.CREATE:
        return f"a first {spec.method} index {spec.new_name} ({spec.opclass}, {params})"
    return (
        f"{spec.old_name} ({spec.old_method}) -> {spec.new_name} "
        f"({spec.method} {spec.opclass}, {params})"
        + (f", renamed to {spec.old_name}" if spec.rename else "")
    )


def _on_partitions(spec: MigrationSpec) -> str:
    if not spec.partitioned:
        return ""
    return f", on {len(spec.partitions)} partition(s) of {spec.table}"


def describe(spec: MigrationSpec) -> str:
    """One line saying what the migration does."""
    return _describe(spec) + _on_partitions(spec)
