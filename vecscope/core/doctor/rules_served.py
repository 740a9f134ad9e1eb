"""The doctor's rules for a nearest-neighbour ordering a vector index serves.

Served orderings are checked for post-filter recall loss, a missing LIMIT and
query-time settings (``hnsw.ef_search`` or ``ivfflat.probes`` too small to return
LIMIT rows, see :mod:`.rules_truncation`; too few or all IVFFlat probes);
a distance used outside ORDER BY is a filter no index serves.
"""

from __future__ import annotations

from vecscope.core.doctor.explain import ExplainResult
from vecscope.core.doctor.knn_sites import KnnSite, parse_distance
from vecscope.core.doctor.plan import PlanNode
from vecscope.core.doctor.rules_common import (
    Rule,
    existing_index,
    filtered_columns,
    int_or_none,
    orderings,
)
from vecscope.core.doctor.rules_truncation import truncation
from vecscope.core.models import Finding, Inventory, Severity
from vecscope.core.pgvector import has_feature
from vecscope.core.sqltext import ident, index_name_for


def served(result: ExplainResult, inventory: Inventory, site: KnnSite) -> list[Finding]:
    out: list[Finding] = []
    node = result.plan.node(site.node_id)
    parents = result.plan.parents()
    ix = site.index
    limit = _limit_of(result, site)
    if not site.limited:
        out.append(
            Finding(
                Rule.NO_LIMIT,
                Severity.ERROR,
                site.node_id,
                f"{node.index_name} is scanned without LIMIT: an approximate index returns only "
                "part of the table (ivfflat: the probed lists; hnsw: about ef_search rows)",
                "add LIMIT n; for every row in distance order, use a Seq Scan (exact)",
            )
        )
    if node.filter:
        out.extend(_post_filter(result, inventory, site, node, parents, limit))
    out.extend(truncation(result, inventory, site, limit))
    settings = result.settings
    if ix is not None and ix.method == "ivfflat":
        probes = int_or_none(settings.get("ivfflat.probes"))
        lists = int(ix.params.get("lists", 100))
        if probes == 1 and lists > 1:
            better = str(max(2, int(lists**0.5)))
            out.append(
                Finding(
                    Rule.PROBES_LOW,
                    Severity.WARNING,
                    site.node_id,
                    f"ivfflat.probes = 1 of lists = {lists}: only the nearest list is searched, "
                    "recall is often far below 0.9 on real embeddings",
                    f"SET ivfflat.probes = {better}; (measure recall with vecscope bench)",
                    settings=(("ivfflat.probes", better),),
                )
            )
        elif probes is not None and probes >= lists:
            out.append(
                Finding(
                    Rule.PROBES_ALL_LISTS,
                    Severity.INFO,
                    site.node_id,
                    f"ivfflat.probes = {probes} >= lists = {lists}: every list is searched (exact, "
                    "and slower than a Seq Scan)",
                )
            )
    return out


def _limit_of(result: ExplainResult, site: KnnSite) -> int | None:
    for o in orderings(result.sql):
        if o.operator == site.operator and o.limit is not None:
            return o.limit
    parents = result.plan.parents()
    current = parents.get(site.node_id)
    while current is not None:
        if current.node_type == "Limit":
            return int(current.plan_rows)
        current = parents.get(current.id)
    return None


def _post_filter(
    result: ExplainResult,
    inventory: Inventory,
    site: KnnSite,
    node: PlanNode,
    parents: dict[int, PlanNode],
    limit: int | None,
) -> list[Finding]:
    version = inventory.server.pgvector
    method = site.index.method if site.index else "hnsw"
    limit_node = parents.get(node.id)
    got = limit_node.actual_rows if limit_node is not None else None
    short = result.analyzed and got is not None and limit is not None and got < limit
    iterative = result.settings.get(f"{method}.iterative_scan", "off")
    if iterative != "off" and not short:
        return [
            Finding(
                Rule.POST_FILTER,
                Severity.INFO,
                node.id,
                f"the filter {node.filter} runs after the index scan, and "
                f"{method}.iterative_scan = {iterative} keeps the scan going until LIMIT rows "
                f"pass it (up to {_bound_of(method)})",
            )
        ]
    fixes = []
    settings: tuple[tuple[str, str], ...] = ()
    if iterative != "off":
        fixes.append(f"raise {_bound_of(method)}: the iterative scan stopped before LIMIT rows")
    elif has_feature(version, "iterative_scan") and method in ("hnsw", "ivfflat"):
        fixes.append(
            f"SET {method}.iterative_scan = relaxed_order; (pgvector 0.8+: keeps "
            "scanning until LIMIT rows pass the filter)"
        )
        settings = ((f"{method}.iterative_scan", "relaxed_order"),)
    elif method in ("hnsw", "ivfflat"):
        fixes.append(f"upgrade pgvector to 0.8+ for {method}.iterative_scan")
    knob = "hnsw.ef_search = 200" if method == "hnsw" else "ivfflat.probes = 20"
    fixes.append(f"SET {knob}; (more candidates before the filter)")
    fixes.append(
        "a partial index per frequent filter value: CREATE INDEX CONCURRENTLY ... "
        f"WHERE {node.filter}"
    )
    fixes.append(_filter_first(result, node))
    if short:
        return [
            Finding(
                Rule.POST_FILTER,
                Severity.ERROR,
                node.id,
                f"the filter {node.filter} runs after the index scan and removed "
                f"{node.rows_removed_by_filter or 0:.0f} candidates: the query returned "
                f"{got:.0f} of LIMIT {limit} rows (post-filter recall loss)",
                " | ".join(fixes),
                settings=settings,
            )
        ]
    severity = Severity.WARNING
    return [
        Finding(
            Rule.POST_FILTER,
            severity,
            node.id,
            f"the filter {node.filter} runs after the index scan: when it keeps few rows, fewer "
            f"than LIMIT {limit if limit is not None else 'n'} rows come back (run with ANALYZE "
            "to see how many)",
            " | ".join(fixes),
            settings=settings,
        )
    ]


def _bound_of(method: str) -> str:
    """The setting that bounds an iterative index scan."""
    return "hnsw.max_scan_tuples" if method == "hnsw" else "ivfflat.max_probes"


def _filter_first(result: ExplainResult, node: PlanNode) -> str:
    """How to let the planner filter first and sort exactly: the B-tree, or what to do
    when it exists already (never a CREATE INDEX for an index that is there)."""
    columns = filtered_columns(node)
    existing = existing_index(result, node, columns)
    table = ident(node.schema, node.relation) if node.schema and node.relation else "the table"
    if existing is not None:
        column = existing.columns[0] or "?"
        return (
            f"no new index: {ident(existing.name)} ({existing.method} on {column}) exists, yet "
            "the planner chose the vector index; for a value that keeps few rows, filter "
            "first in a MATERIALIZED CTE, which uses it and sorts exactly: WITH t AS "
            f"MATERIALIZED (SELECT ... WHERE {column} = ...) SELECT ... FROM t ORDER BY ... "
            f"LIMIT n (and ANALYZE {table} if its statistics are stale)"
        )
    if columns and node.relation:
        taken = {ix.name for ix in result.table_indexes if ix.schema == node.schema}
        name = index_name_for(node.relation, columns[0], "btree")
        n = 1
        while name in taken:  # IF NOT EXISTS would skip the build in silence
            n += 1
            name = index_name_for(node.relation, f"{columns[0]}{n}", "btree")
        return (
            "for a selective filter, a B-tree on the filtered column lets the planner filter "
            f"first and sort exactly: CREATE INDEX CONCURRENTLY IF NOT EXISTS {ident(name)} "
            f"ON {table} ({ident(columns[0])});"
        )
    return (
        "for a selective filter, a B-tree index on the filtered column lets the "
        "planner filter first and sort exactly"
    )


def no_ordering(result: ExplainResult) -> list[Finding]:
    """A distance used without ORDER BY: a range filter no index serves."""
    for node in result.plan.nodes():
        text = " ".join(x for x in (node.filter, node.index_cond) if x)
        expr = parse_distance(text) if text else None
        if expr is not None:
            return [
                Finding(
                    Rule.NO_ORDER_BY,
                    Severity.WARNING,
                    node.id,
                    f"{expr.operator} is used in a filter, not in ORDER BY: vector indexes only "
                    "serve ORDER BY distance LIMIT n, so every row is compared",
                    "ORDER BY the distance with a LIMIT, and apply the threshold in an outer query",
                )
            ]
    return []
