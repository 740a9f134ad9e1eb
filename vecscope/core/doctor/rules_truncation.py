"""Truncation: an approximate index scan that cannot return LIMIT rows at all.

An HNSW scan returns about ``hnsw.ef_search`` rows (its candidate list) and stops, so
``LIMIT 500`` at the default ``ef_search = 40`` comes back with some 40 to 50 rows, no
error. An IVFFlat scan reads ``ivfflat.probes`` lists of about ``rows / lists`` rows
each: fewer than LIMIT in all, and the result is short too. pgvector 0.8's iterative
scans go on past those bounds; without them the query needs the setting raised.
"""

from __future__ import annotations

import math

from vecscope.core.doctor.explain import ExplainResult
from vecscope.core.doctor.knn_sites import KnnSite
from vecscope.core.doctor.rules_common import Rule, int_or_none
from vecscope.core.models import Finding, Inventory, Severity, VectorIndex
from vecscope.core.pgvector import has_feature

#: pgvector's bounds of the settings (hnsw.c, ivfflat.c).
EF_SEARCH_MAX = 1000
EF_SEARCH_DEFAULT = 40


def truncation(
    result: ExplainResult, inventory: Inventory, site: KnnSite, limit: int | None
) -> list[Finding]:
    """The finding for a served ordering whose index scan returns fewer than LIMIT rows."""
    ix = site.index
    if ix is None or limit is None:
        return []
    if ix.method == "hnsw":
        return _hnsw(result, inventory, site, limit)
    if ix.method == "ivfflat":
        return _ivfflat(result, inventory, site, ix, limit)
    return []


def _returned(result: ExplainResult, site: KnnSite) -> float | None:
    """Rows the scan's Limit returned (analysed plans), else None."""
    if not result.analyzed:
        return None
    current = result.plan.parents().get(site.node_id)
    while current is not None:
        if current.node_type == "Limit":
            return current.total_actual_rows
        current = result.plan.parents().get(current.id)
    return result.plan.node(site.node_id).total_actual_rows


def _evidence(got: float | None, limit: int) -> str:
    if got is None:
        return " (run with ANALYZE to see how many came back)"
    if got < limit:
        return f"; it returned {got:,.0f} of LIMIT {limit} rows"
    return f"; this run returned all {limit} (duplicates or a small table)"


def _hnsw(result: ExplainResult, inventory: Inventory, site: KnnSite, limit: int) -> list[Finding]:
    settings = result.settings
    ef = int_or_none(settings.get("hnsw.ef_search")) or EF_SEARCH_DEFAULT
    if limit <= ef or settings.get("hnsw.iterative_scan", "off") != "off":
        return []
    got = _returned(result, site)
    short = got is not None and got < limit
    iterative = has_feature(inventory.server.pgvector, "iterative_scan")
    fixes: list[str] = []
    fix_settings: tuple[tuple[str, str], ...] = ()
    if limit <= EF_SEARCH_MAX:
        fixes.append(f"SET hnsw.ef_search = {limit};")
        fix_settings = (("hnsw.ef_search", str(limit)),)
    else:
        fixes.append(f"hnsw.ef_search stops at {EF_SEARCH_MAX}, below LIMIT {limit}")
    if iterative:
        fixes.append(
            "SET hnsw.iterative_scan = strict_order; (pgvector 0.8+: the scan goes on past "
            "ef_search, up to hnsw.max_scan_tuples)"
        )
        if not fix_settings:
            fix_settings = (("hnsw.iterative_scan", "strict_order"),)
    else:
        fixes.append("upgrade pgvector to 0.8+ for hnsw.iterative_scan")
    return [
        Finding(
            Rule.EF_SEARCH_BELOW_LIMIT,
            Severity.ERROR if short else Severity.WARNING,
            site.node_id,
            f"LIMIT {limit} is above hnsw.ef_search = {ef}: an HNSW scan returns about "
            f"ef_search rows and stops, so the result is cut short with no error"
            + _evidence(got, limit),
            " | ".join(fixes),
            settings=fix_settings,
        )
    ]


def _table_rows(inventory: Inventory, ix: VectorIndex) -> int | None:
    for c in inventory.columns:
        if (c.schema, c.table) == (ix.schema, ix.table):
            return c.rows
    return None


def _ivfflat(
    result: ExplainResult, inventory: Inventory, site: KnnSite, ix: VectorIndex, limit: int
) -> list[Finding]:
    settings = result.settings
    probes = int_or_none(settings.get("ivfflat.probes")) or 1
    lists = int(ix.params.get("lists", 100)) or 100
    rows = _table_rows(inventory, ix)
    if not rows or settings.get("ivfflat.iterative_scan", "off") != "off" or probes >= lists:
        return []
    reach = probes * rows / lists
    if reach >= limit or rows <= limit:
        return []
    needed = min(lists, max(probes + 1, math.ceil(limit * lists / rows)))
    got = _returned(result, site)
    short = got is not None and got < limit
    fix = f"SET ivfflat.probes = {needed}; ({needed} x {rows / lists:,.0f} >= LIMIT {limit})"
    if has_feature(inventory.server.pgvector, "iterative_scan"):
        fix += (
            " | SET ivfflat.iterative_scan = relaxed_order; (pgvector 0.8+: more lists "
            "until LIMIT rows, up to ivfflat.max_probes)"
        )
    return [
        Finding(
            Rule.PROBES_BELOW_LIMIT,
            Severity.ERROR if short else Severity.WARNING,
            site.node_id,
            f"ivfflat.probes = {probes} of lists = {lists} reads ~{reach:,.0f} rows "
            f"({probes} x ~{rows:,} rows / {lists} lists), fewer than LIMIT {limit}: the "
            "result is cut short with no error" + _evidence(got, limit),
            fix,
            settings=(("ivfflat.probes", str(needed)),),
        )
    ]
