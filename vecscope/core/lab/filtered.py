"""What the lab tries and says for a filtered workload: the settings worth sweeping, and
the structural fixes when no setting serves the filter.

The sweep covers the serving index's knob with iterative scans off, then with
``relaxed_order`` (and ``strict_order`` for HNSW) where pgvector has them (0.8.0+), and
one exact plan (``enable_indexscan = off`` for the measured query only: the planner then
reads the rows the filter matches, through a B-tree on the filter where there is one,
and sorts them: right, and fast while the filter is selective).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from psycopg import sql

from vecscope.core import db
from vecscope.core.lab.sampling import QuerySet
from vecscope.core.lab.target import Conn, LabTarget
from vecscope.core.pgvector import has_feature
from vecscope.core.sqltext import ident, index_name_for

#: The exact plan's setting (for the measured query's session only).
EXACT = {"enable_indexscan": "off"}
#: HNSW's candidates with iterative scans off: ef_search values a filtered sweep tries.
EF_SEARCH_VALUES = (40, 100, 200, 400)
#: ... and with iterative scans on (they go on until LIMIT rows pass the filter).
ITERATIVE_EF_SEARCH = (40, 100)


def filtered_grid(
    target: LabTarget, pgvector: str | None, values: Sequence[int] | None = None
) -> list[dict[str, str]]:
    """The settings a filtered sweep measures (see the module's docstring)."""
    iterative = has_feature(pgvector, "iterative_scan")
    grid: list[dict[str, str]] = []
    if target.index is not None and target.index.method == "ivfflat":
        lists = int(target.index.params.get("lists", 100))
        probes = list(values or sorted({v for v in (1, 10, 50, lists) if v <= lists}))
        grid += [{"ivfflat.probes": str(p)} for p in probes]
        if iterative:
            grid += [
                {"ivfflat.probes": str(p), "ivfflat.iterative_scan": "relaxed_order"}
                for p in probes[:2]
            ]
    else:
        efs = list(values or EF_SEARCH_VALUES)
        grid += [{"hnsw.ef_search": str(v)} for v in efs]
        if iterative:
            grid += [
                {"hnsw.ef_search": str(v), "hnsw.iterative_scan": mode}
                for mode, chosen in (
                    ("relaxed_order", values[:2] if values else ITERATIVE_EF_SEARCH),
                    ("strict_order", values[:1] if values else ITERATIVE_EF_SEARCH[:1]),
                )
                for v in chosen
            ]
    grid.append(dict(EXACT))
    return grid


def settings_label(settings: dict[str, str]) -> str:
    """``hnsw.ef_search=40 hnsw.iterative_scan=relaxed_order``; the exact plan by name."""
    if settings == EXACT:
        return "exact plan (enable_indexscan=off)"
    return " ".join(f"{k}={v}" for k, v in settings.items())


@dataclass(frozen=True, slots=True)
class Fix:
    """A structural fix no setting replaces, with its SQL (shown, never run)."""

    why: str
    sql: str


@dataclass(frozen=True, slots=True)
class _Index:
    schema: str
    table: str
    name: str
    method: str
    columns: list[str | None]
    usable: bool
    predicate: str | None


def structural_fixes(conn: Conn, target: LabTarget, queries: QuerySet) -> list[Fix]:
    """A partial vector index for the hottest filter value, and a B-tree on the filter's
    columns where none leads with them (the exact plan's fast path)."""
    flt = queries.filter
    if flt is None or queries.filter_values is None:
        return []
    fixes: list[Fix] = []
    hot, count = Counter(queries.filter_values).most_common(1)[0]
    where = flt.literal(conn, hot) if flt.per_query else flt.text
    ix = target.index
    if ix is not None:
        name = index_name_for(target.table, f"{target.column}_part", ix.method)
        params = ", ".join(f"{k} = {v}" for k, v in ix.params.items() if k in ix.params_explicit)
        with_clause = f" WITH ({params})" if params else ""
        share = f"{count} of {len(queries)} sampled queries" if flt.per_query else "every query"
        fixes.append(
            Fix(
                f"a partial {ix.method} index for the hottest filter ({share}): its graph "
                "holds only the rows the filter matches, so no candidate is filtered away",
                f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {ident(name)} ON "
                f"{ident(target.schema, target.table)} USING {ix.method} "
                f"({ident(target.column)} {ix.opclass}){with_clause} WHERE {where};",
            )
        )
    if flt.columns:
        with db.mapped_errors("reading the table's indexes", conn):
            existing = db.records(
                conn,
                "doctor_table_indexes",
                _Index,
                {"schemas": [target.schema], "tables": [target.table]},
            )
        leading = {i.columns[0] for i in existing if i.usable and i.columns and i.predicate is None}
        missing = [c for c in flt.columns if c not in leading]
        if missing:
            cols = ", ".join(ident(c) for c in missing)
            name = index_name_for(target.table, "_".join(missing), "btree")
            fixes.append(
                Fix(
                    "a B-tree on the filter: the exact plan reads only the matching rows and "
                    "sorts them (right, and fast while the filter is selective)",
                    f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {ident(name)} ON "
                    f"{ident(target.schema, target.table)} ({cols});",
                )
            )
    return fixes


def selectivity(conn: Conn, target: LabTarget, queries: QuerySet) -> float | None:
    """The share of the table's rows the hottest filter matches (None: no filter)."""
    flt = queries.filter
    if flt is None or queries.filter_values is None or target.rows == 0:
        return None
    hot = Counter(queries.filter_values).most_common(1)[0][0]
    with db.mapped_errors("counting the rows the filter matches", conn):
        row = conn.execute(
            db.statement(
                "lab_filtered_count",
                table=sql.Identifier(target.schema, target.table),
                column=sql.Identifier(target.column),
                filter=flt.composed(),
            ),
            flt.params(hot),
        ).fetchone()
    return (int(row[0]) / target.rows) if row else None
