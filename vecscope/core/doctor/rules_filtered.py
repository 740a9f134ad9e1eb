"""The doctor's verdict on a filtered nearest-neighbour query the planner sorted exactly.

``WHERE c = 7 ORDER BY v <-> $1 LIMIT 20`` with few rows matching: an index scan would
take its ``hnsw.ef_search`` candidates (or ``ivfflat.probes`` lists) first and filter
after, leaving about ``ef_search x selectivity`` rows, often none. pgvector 0.8 costs
that in, and the planner reads the matching rows (a Seq Scan and its Filter, or a B-tree
on the filtered column) and sorts them exactly. That plan returns the right rows: it is
no error, and "ANALYZE the table" is the wrong advice. What is worth saying is what it
costs now and as the table grows, and the fixes that stay exact (or nearly) and fast at
scale: a partial index for a hot value, iterative scans, a B-tree on the filter column.
"""

from __future__ import annotations

from dataclasses import dataclass

from vecscope.core import sqlscan
from vecscope.core.doctor.explain import ExplainResult
from vecscope.core.doctor.knn_sites import KnnSite
from vecscope.core.doctor.plan import PlanNode
from vecscope.core.doctor.rules_common import Rule, existing_index, int_or_none
from vecscope.core.models import Finding, Inventory, Severity, VectorIndex
from vecscope.core.pgvector import has_feature
from vecscope.core.sqltext import create_index_sql, ident, index_name_for

#: A filter keeping at most this share of the rows is selective: a B-tree on its column
#: reads only the matching rows and beats scanning the table.
SELECTIVE = 0.10
#: Scan nodes that read rows through a B-tree (or other non-vector) index.
INDEX_PATHS = ("Bitmap Heap Scan", "Index Scan", "Index Only Scan")


@dataclass(frozen=True, slots=True)
class FilteredScan:
    """The scan feeding an exact sort, with the filter it applies."""

    scan: PlanNode
    #: The condition as the plan shows it (columns qualified with the scan's alias).
    condition: str
    #: The same condition with the qualifiers removed: usable in a partial index's WHERE.
    predicate: str | None
    #: The filter is applied through an index (a B-tree path), not by reading every row.
    through_index: bool


def filtered_scan(result: ExplainResult, scan: PlanNode | None) -> FilteredScan | None:
    """The filter of the scan a sort reads, or None when it reads the table unfiltered."""
    if scan is None:
        return None
    conditions: list[str] = []
    through_index = False
    if scan.node_type in INDEX_PATHS:
        if scan.index_cond:
            conditions.append(scan.index_cond)
            through_index = True
        for child in scan.children:
            if child.node_type == "Bitmap Index Scan" and child.index_cond:
                conditions.append(child.index_cond)
                through_index = True
    if scan.filter:
        conditions.append(scan.filter)
    if not conditions:
        return None
    condition = " AND ".join(conditions) if len(conditions) > 1 else conditions[0]
    return FilteredScan(scan, condition, _predicate(condition, scan), through_index)


def _predicate(condition: str, scan: PlanNode) -> str | None:
    """``(f.c = 7)`` -> ``(c = 7)``: a partial index's WHERE, when the condition holds
    only columns and constants (no parameter, no subplan: those differ per query)."""
    try:
        toks = sqlscan.tokenize(condition)
    except Exception:  # noqa: BLE001 - the partial index is a bonus
        return None
    qualifiers = {q for q in (scan.alias, scan.relation) if q}
    out: list[str] = []
    skip = 0
    for i, t in enumerate(toks):
        if skip:
            skip -= 1
            continue
        if t.kind == "param" or (t.kind == "word" and t.text.lower() in ("initplan", "subplan")):
            return None
        name = t.text[1:-1] if t.kind == "ident" else t.text
        nxt = toks[i + 1] if i + 1 < len(toks) else None
        if (
            t.kind in ("word", "ident")
            and name in qualifiers
            and nxt is not None
            and nxt.text == "."
        ):
            skip = 1
            continue
        out.append(t.text)
    text = "".join(out).strip()
    return text if "=" in text else None


def filtered_exact(
    result: ExplainResult,
    inventory: Inventory,
    site: KnnSite,
    found: FilteredScan,
    usable: list[VectorIndex],
    table_rows: int | None,
) -> list[Finding]:
    """The findings for an exact sort the planner chose because of a filter.

    Args:
        found: The filtered scan the sort reads (see :func:`filtered_scan`).
        usable: Valid vector indexes that serve the site's operator, best first.
        table_rows: The table's estimated rows (``reltuples``), None when unknown.
    """
    scan = found.scan
    ix = next((i for i in usable if i.method == "hnsw"), usable[0])
    sort = result.plan.node(site.node_id)
    limit = _limit_above(result, site.node_id)
    matching = (
        scan.total_actual_rows
        if result.analyzed and scan.total_actual_rows is not None
        else scan.plan_rows
    )
    share = scan.plan_rows / table_rows if table_rows else None
    parts = [
        f"{site.table} is filtered by {found.condition}"
        + (
            f", which keeps ~{scan.plan_rows:,.0f} of ~{table_rows:,} rows ({share:.1%})"
            if share is not None and table_rows
            else f", which keeps ~{scan.plan_rows:,.0f} rows"
        )
        + f": the planner chose {scan.label()} and an exact sort over {ident(ix.name)}, "
        "and this plan returns the right rows"
    ]
    shortfall = _shortfall(result, ix, share, table_rows, limit)
    if shortfall:
        parts.append(shortfall)
    parts.append(_cost(result, sort, scan, found, matching, table_rows))
    severity = Severity.INFO if found.through_index else Severity.WARNING
    method = ix.method
    settings: tuple[tuple[str, str], ...] = ()
    if found.through_index:
        fix = (
            "this is the B-tree + exact sort plan: keep it while the filter stays selective; "
            "for a value that holds many rows, see the partial index below"
        )
    elif has_feature(inventory.server.pgvector, "iterative_scan"):
        fix = (
            f"SET {method}.iterative_scan = relaxed_order; (pgvector 0.8+): an index scan "
            "then keeps going until LIMIT rows pass the filter, so it returns them without "
            "reading the whole table; the planner does not cost it cheaper, so trying it "
            "also sets enable_seqscan = off for that run (SET LOCAL both in the query's "
            "transaction if it wins)"
        )
        settings = ((f"{method}.iterative_scan", "relaxed_order"), ("enable_seqscan", "off"))
    else:
        fix = (
            f"upgrade pgvector to 0.8+ for {method}.iterative_scan (an index scan that keeps "
            "going until LIMIT rows pass the filter); until then, the partial index or "
            "B-tree below"
        )
    out = [
        Finding(Rule.FILTERED_EXACT, severity, scan.id, "; ".join(parts), fix, settings=settings)
    ]
    partial = _partial_index(result, inventory, site, ix, found)
    if partial is not None:
        out.append(partial)
    if not found.through_index:
        btree = _btree(result, scan, share, matching)
        if btree is not None:
            out.append(btree)
    return out


def _limit_above(result: ExplainResult, node_id: int) -> int | None:
    parents = result.plan.parents()
    current = parents.get(node_id)
    while current is not None:
        if current.node_type == "Limit":
            return int(current.plan_rows)
        current = parents.get(current.id)
    return None


def _shortfall(
    result: ExplainResult,
    ix: VectorIndex,
    share: float | None,
    table_rows: int | None,
    limit: int | None,
) -> str | None:
    """What an index scan would return: its candidates times the filter's share."""
    if share is None:
        return None
    if ix.method == "hnsw":
        ef = int_or_none(result.settings.get("hnsw.ef_search")) or 40
        candidates = float(ef)
        source = f"hnsw.ef_search = {ef} candidates"
    elif ix.method == "ivfflat" and table_rows:
        probes = int_or_none(result.settings.get("ivfflat.probes")) or 1
        lists = int(ix.params.get("lists", 100)) or 100
        candidates = probes * table_rows / lists
        source = f"~{candidates:,.0f} candidates (ivfflat.probes = {probes} of {lists} lists)"
    else:
        return None
    expected = candidates * share
    wanted = f" of LIMIT {limit}" if limit is not None else ""
    return (
        f"an index scan of {ident(ix.name)} would filter its {source} after the scan, "
        f"leaving ~{expected:,.1f} rows{wanted}"
    )


def _cost(
    result: ExplainResult,
    sort: PlanNode,
    scan: PlanNode,
    found: FilteredScan,
    matching: float,
    table_rows: int | None,
) -> str:
    """What the plan costs now, and at 10x and 100x the rows."""
    if result.analyzed and sort.actual_total_ms is not None:
        now = sort.actual_total_ms * (sort.actual_loops or 1)
        unit, fmt = "ms", "{:,.1f} ms"
    else:
        now = sort.total_cost
        unit, fmt = "cost", "cost {:,.0f}"
    del unit
    if found.through_index:
        return (
            f"now: {fmt.format(now)} reading the ~{matching:,.0f} matching rows; a B-tree "
            "path grows with the matching rows, not the table: about "
            f"{fmt.format(now * 10)} with 10x ({matching * 10:,.0f}) and "
            f"{fmt.format(now * 100)} with 100x ({matching * 100:,.0f}) of them"
        )
    if result.analyzed and scan.actual_rows is not None:
        loops = scan.actual_loops or 1
        read = (scan.actual_rows + (scan.rows_removed_by_filter or 0)) * loops
    else:
        read = float(table_rows) if table_rows else scan.plan_rows
    return (
        f"now: {fmt.format(now)} reading all ~{read:,.0f} rows; a Seq Scan grows with the "
        f"table: about {fmt.format(now * 10)} at 10x ({read * 10:,.0f} rows) and "
        f"{fmt.format(now * 100)} at 100x ({read * 100:,.0f} rows)"
    )


def _free(result: ExplainResult, inventory: Inventory, schema: str, name: str) -> str:
    """``name``, or ``name`` numbered, so that IF NOT EXISTS never skips the build."""
    taken = {ix.name for ix in inventory.indexes if ix.schema == schema}
    taken |= {ix.name for ix in result.table_indexes if ix.schema == schema}
    base, n, free = name, 1, name
    while free in taken:
        n += 1
        free = f"{base.removesuffix('_idx')}{n}_idx"
    return free


def _partial_index(
    result: ExplainResult,
    inventory: Inventory,
    site: KnnSite,
    ix: VectorIndex,
    found: FilteredScan,
) -> Finding | None:
    """A vector index over the rows of one hot filter value: no post-filter at all."""
    if found.predicate is None or not site.relation or not site.column or not ix.opclass:
        return None
    schema = site.schema or "public"
    method = "hnsw" if has_feature(inventory.server.pgvector, "hnsw") else ix.method
    columns = _columns(found)
    suffix = f"{site.column}_{columns[0]}" if columns else f"{site.column}_partial"
    name = _free(result, inventory, schema, index_name_for(site.relation, suffix, method))
    statement = create_index_sql(schema, site.relation, site.column, method, ix.opclass, name=name)
    statement = f"{statement.removesuffix(';')} WHERE {found.predicate};"
    return Finding(
        Rule.FILTERED_EXACT,
        Severity.INFO,
        found.scan.id,
        f"for a hot value, a partial {method} index over the rows WHERE {found.predicate} "
        "holds only them: an index scan needs no post-filter, stays fast as the table grows "
        "and returns LIMIT rows (approximate, like any vector index)",
        statement,
        index_sql=statement,
    )


def _columns(found: FilteredScan) -> list[str]:
    """The scan's columns the condition reads (qualified names in EXPLAIN VERBOSE)."""
    qualifiers = {q for q in (found.scan.alias, found.scan.relation) if q}
    try:
        toks = [t for t in sqlscan.tokenize(found.condition) if t.kind not in ("space", "comment")]
    except Exception:  # noqa: BLE001
        return []
    out: list[str] = []
    for a, dot, b in zip(toks, toks[1:], toks[2:], strict=False):
        if dot.text != "." or a.kind not in ("word", "ident") or b.kind not in ("word", "ident"):
            continue
        qualifier = a.text[1:-1] if a.kind == "ident" else a.text
        name = b.text[1:-1] if b.kind == "ident" else b.text.lower()
        if qualifier in qualifiers and name not in out:
            out.append(name)
    return out


def _btree(
    result: ExplainResult, scan: PlanNode, share: float | None, matching: float
) -> Finding | None:
    """For a selective filter: a B-tree on its column (never one that exists)."""
    found = filtered_scan(result, scan)
    columns = _columns(found) if found is not None else []
    if not columns or not scan.relation or (share is not None and share > SELECTIVE):
        return None
    existing = existing_index(result, scan, columns)
    table = ident(scan.schema or "public", scan.relation)
    if existing is not None:
        return Finding(
            Rule.FILTERED_EXACT,
            Severity.INFO,
            scan.id,
            f"{ident(existing.name)} ({existing.method} on {existing.columns[0]}) exists, yet "
            f"the planner read all of {table}: its statistics may be stale",
            f"ANALYZE {table};",
        )
    schema = scan.schema or "public"
    taken = {ix.name for ix in result.table_indexes if ix.schema == schema}
    name = index_name_for(scan.relation, columns[0], "btree")
    n = 1
    while name in taken:
        n += 1
        name = index_name_for(scan.relation, f"{columns[0]}{n}", "btree")
    statement = (
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {ident(name)} ON {table} ({ident(columns[0])});"
    )
    return Finding(
        Rule.FILTERED_EXACT,
        Severity.INFO,
        scan.id,
        f"for a selective filter, a B-tree on {ident(columns[0])} lets the planner read only "
        f"the ~{matching:,.0f} matching rows and sort them exactly: the cost follows the "
        "matching rows, not the table",
        statement,
        index_sql=statement,
    )
