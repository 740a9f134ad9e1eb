"""The doctor's rules for a nearest-neighbour ordering no vector index serves.

Each names a cause the pgvector README's troubleshooting section and issue tracker list
(descending or expression ordering, an operator no index serves, an expression index the
query does not repeat, no index, an invalid index, a small table, planner settings) and
offers a fix: a rewritten query that can be tried at once, and/or the exact
``CREATE INDEX CONCURRENTLY`` statement.
"""

from __future__ import annotations

from vecscope.core import sqlscan
from vecscope.core.catalog.problems import SMALL_TABLE_ROWS
from vecscope.core.doctor.explain import ExplainResult
from vecscope.core.doctor.knn_sites import KnnSite
from vecscope.core.doctor.rules_common import Rule, int_or_none, orderings
from vecscope.core.doctor.rules_filtered import filtered_exact, filtered_scan
from vecscope.core.models import Finding, Inventory, Severity, VectorIndex
from vecscope.core.pgvector import OPERATOR_NAME, has_feature, opclass_for
from vecscope.core.sqltext import create_index_sql, ident, index_name_for

#: Below this many rows, a Seq Scan chosen over a usable vector index is the planner being
#: right, not a problem (measured: pgvector 0.8 on PostgreSQL 17 switches near 2,000 rows).
PLANNER_SMALL_ROWS = 5_000


def _column_type(inventory: Inventory, site: KnnSite) -> str:
    for c in inventory.columns:
        if (c.schema, c.table, c.column) == (site.schema, site.relation, site.column):
            return c.type
    return "vector"


def _table_rows(inventory: Inventory, site: KnnSite) -> int | None:
    for c in inventory.columns:
        if (c.schema, c.table) == (site.schema, site.relation):
            return c.rows
    return None


def serves(ix: VectorIndex, operator: str) -> bool:
    return operator in (ix.operator or "").split()


def _rewrite(
    sql: str, site: KnnSite, *, operator: str | None = None, cast: str | None = None
) -> str | None:
    """The user's query with this site's ORDER BY made bare and ascending."""
    candidates = [o for o in orderings(sql) if o.operator == site.operator]
    if not candidates:
        return None
    o = candidates[0]
    column = argument = None
    if cast:
        column = f"{o.column.split('::', 1)[0]}{cast}"
        argument = (
            f"({o.argument}){cast}" if not o.argument.startswith("(") else (f"{o.argument}{cast}")
        )
    try:
        return sqlscan.rewrite_ordering(sql, o, operator=operator, column=column, argument=argument)
    except Exception:  # noqa: BLE001 - same as above
        return None


def unserved(result: ExplainResult, inventory: Inventory, site: KnnSite) -> list[Finding]:
    out: list[Finding] = []
    sql = result.original_sql
    node = site.node_id
    rows = _table_rows(inventory, site)
    small_table = rows is not None and rows < SMALL_TABLE_ROWS
    # A selective filter served by another index (a B-tree on tenant_id, say) may leave so
    # few rows that sorting them exactly is the best plan: as right as a small table.
    sort_input = result.plan.node(site.node_id).plan_rows
    scan = result.plan.node(site.scan_node_id) if site.scan_node_id is not None else None
    filtered_first = (
        not small_table
        and scan is not None
        and scan.node_type != "Seq Scan"
        and sort_input < SMALL_TABLE_ROWS
    )
    small = small_table or filtered_first
    # On a small input a Seq Scan is right: what would block an index is only worth a note.
    blocking = Severity.INFO if small else Severity.ERROR
    op = site.operator
    where = f"{site.table}.{ident(site.column) if site.column else '?'}"
    if not site.limited:
        out.append(
            Finding(
                Rule.NO_LIMIT,
                blocking,
                node,
                f"ORDER BY {op} on {site.table} has no LIMIT: a vector index only serves "
                "ORDER BY distance LIMIT n, so every row is read and sorted",
                "add LIMIT n (the number of neighbours you need)",
            )
        )
    if site.descending and site.bare:
        out.append(
            Finding(
                Rule.DESC_ORDER,
                blocking,
                node,
                f"ORDER BY ... {op} ... DESC asks for the farthest rows first: indexes return "
                "nearest first only, so the planner sorts the whole table",
                "order ascending by the distance (nearest first)",
                rewritten_sql=_rewrite(sql, site),
            )
        )
    elif not site.bare:
        out.append(
            Finding(
                Rule.EXPRESSION_ORDER,
                blocking,
                node,
                f"ORDER BY an expression over {op} (such as 1 - distance, or a similarity "
                "alias): only the bare operator, ascending, can use an index",
                f"ORDER BY {site.column} {op} <query vector> ascending; compute the similarity "
                "in the select list",
                rewritten_sql=_rewrite(sql, site),
            )
        )
    indexes = [
        ix
        for ix in inventory.indexes
        if (ix.schema, ix.table, ix.column) == (site.schema, site.relation, site.column)
    ]
    col_type = _column_type(inventory, site)
    opclass = opclass_for(col_type, op)
    method = "hnsw" if has_feature(inventory.server.pgvector, "hnsw") else "ivfflat"
    new_index = (
        create_index_sql(
            site.schema or "public",
            site.relation,
            site.column,
            method,
            opclass,
            name=_free_name(result, inventory, site, method, opclass),
        )
        if opclass and site.relation and site.column
        else None
    )
    plain = [ix for ix in indexes if ix.expression is None]
    serving = [ix for ix in plain if serves(ix, op)]
    usable = [ix for ix in serving if ix.usable]
    cast_ixs = [ix for ix in indexes if ix.expression is not None and serves(ix, op) and ix.usable]
    if serving and not usable:
        bad = serving[0]
        rebuild = create_index_sql(
            bad.schema, bad.table, bad.column or "?", bad.method, bad.opclass
        )
        state = "INVALID" if bad.ready else "NOT READY"
        out.append(
            Finding(
                Rule.INVALID_INDEX,
                Severity.WARNING if small else Severity.ERROR,
                site.scan_node_id,
                f"{ident(bad.name)} would serve {op} but is {state} (a failed or interrupted "
                "CREATE INDEX CONCURRENTLY): the planner cannot use it",
                f"DROP INDEX CONCURRENTLY IF EXISTS {ident(bad.schema, bad.name)}; then build it "
                f"again: {rebuild}",
                index_sql=rebuild,
            )
        )
    if small_table:
        out.append(
            Finding(
                Rule.SMALL_TABLE,
                Severity.INFO,
                site.scan_node_id,
                f"{site.table} has ~{rows:,} rows: a Seq Scan and a sort are the right plan "
                "here; an index pays off from about a thousand rows",
            )
        )
        return out
    if filtered_first and scan is not None:
        found = filtered_scan(result, scan)
        if found is not None and _plain_knn(site) and _usable(inventory, site):
            out.extend(
                filtered_exact(result, inventory, site, found, _usable(inventory, site), rows)
            )
            return out
        out.append(
            Finding(
                Rule.SMALL_TABLE,
                Severity.INFO,
                scan.id,
                f"{scan.label()} leaves ~{sort_input:,.0f} rows: sorting them exactly is the "
                "right plan for a filter this selective (and exact, with no recall loss)",
            )
        )
        return out
    if not indexes:
        out.append(
            Finding(
                Rule.NO_INDEX,
                Severity.ERROR,
                site.scan_node_id,
                f"{where} has no vector index: every query computes {OPERATOR_NAME.get(op, op)} "
                f"to all ~{rows or 0:,} rows",
                f"build one (uses {opclass}): {new_index}",
                index_sql=new_index,
            )
        )
        return out
    if site.cast and not any(ix.expression for ix in indexes):
        out.append(
            Finding(
                Rule.EXPRESSION_INDEX_MISMATCH,
                Severity.ERROR,
                node,
                f"the query orders by {site.column}{site.cast} {op} ..., but no index is on that "
                "expression",
                "order by the column itself, or index the same expression",
            )
        )
    if cast_ixs and not site.cast and not usable:
        ix = cast_ixs[0]
        cast = _expression_cast(ix.expression or "")
        out.append(
            Finding(
                Rule.EXPRESSION_INDEX_MISMATCH,
                Severity.ERROR,
                node,
                f"{ident(ix.name)} indexes the expression {ix.expression}, but the query orders "
                f"by the bare column: the planner only uses an expression index for the same "
                "expression",
                f"repeat the expression in ORDER BY: {site.column}{cast} {op} <query>{cast}",
                rewritten_sql=_rewrite(sql, site, cast=cast) if cast else None,
            )
        )
    if not serving and not cast_ixs:
        others = ", ".join(f"{ix.name} ({ix.opclass}: {ix.operator})" for ix in indexes)
        alt = next((ix for ix in plain if ix.usable), None)
        fix_alt = ""
        rewrite = None
        if alt is not None and alt.operator:
            alt_op = alt.operator.split()[0]
            fix_alt = (
                f"use {alt_op} ({OPERATOR_NAME.get(alt_op, alt_op)}) to match {ident(alt.name)}"
            )
            if {op, alt_op} <= {"<->", "<=>", "<#>"}:
                fix_alt += (
                    " (for unit-length vectors, as most embedding models produce, "
                    "<->, <=> and <#> give the same order)"
                )
            rewrite = _rewrite(sql, site, operator=alt_op)
        out.append(
            Finding(
                Rule.OPERATOR_MISMATCH,
                Severity.ERROR,
                node,
                f"no index on {where} serves {op} ({OPERATOR_NAME.get(op, op)}); it has {others}",
                "; or ".join(
                    x for x in (fix_alt, f"build an index with {opclass}: {new_index}") if x
                ),
                rewritten_sql=rewrite,
                index_sql=new_index,
            )
        )
    if site.argument_is_column and usable:
        out.append(
            Finding(
                Rule.QUERY_VECTOR_FROM_JOIN,
                Severity.ERROR,
                node,
                f"the query vector comes from another table in the join ({site.argument}): an "
                "index scan needs a constant, a parameter or a scalar subquery to order by",
                "order by a scalar subquery, e.g. ORDER BY col <op> (SELECT v FROM q), or use "
                "CROSS JOIN LATERAL (... ORDER BY ... LIMIT k) for one query vector per row",
            )
        )
    elif usable and _plain_knn(site):
        out.extend(_planner_chose_seqscan(result, inventory, site, usable, rows))
    if not any(
        f.severity == Severity.ERROR or f.rule in (Rule.SMALL_TABLE, Rule.FILTERED_EXACT)
        for f in out
    ):
        out.append(
            Finding(
                Rule.SEQ_SCAN_CHOSEN,
                Severity.ERROR,
                node,
                f"the planner sorted {site.table} itself instead of using a vector index",
                "see the other findings; ANALYZE the table",
            )
        )
    return out


def _free_name(
    result: ExplainResult, inventory: Inventory, site: KnnSite, method: str, opclass: str
) -> str:
    """The new index's name, one no index of the schema has: ``IF NOT EXISTS`` would
    otherwise skip the build in silence, leaving the other index in place."""
    schema, table, column = site.schema or "public", site.relation or "?", site.column or "?"
    taken = {ix.name for ix in inventory.indexes if ix.schema == schema}
    taken |= {ix.name for ix in result.table_indexes if ix.schema == schema}
    name = index_name_for(table, column, method)
    short = opclass.removeprefix("vector_").removesuffix("_ops")
    n = 1
    while name in taken:
        name = index_name_for(table, f"{column}_{short}" + (f"{n}" if n > 1 else ""), method)
        n += 1
    return name


def _expression_cast(expression: str) -> str | None:
    tokens = [t for t in sqlscan.tokenize(expression) if t.kind != "space"]
    texts = [t.text for t in tokens]
    if "::" not in texts:
        return None
    at = texts.index("::")
    cast = "".join(texts[at + 1 :]).rstrip(")")
    # "(embedding)::halfvec(384)" -> "::halfvec(384)"; keep a balanced type modifier.
    if cast.count("(") > cast.count(")"):
        cast += ")"
    return "::" + cast


def _plain_knn(site: KnnSite) -> bool:
    """ORDER BY column <op> query LIMIT n, as an index serves it."""
    return site.bare and not site.descending and site.limited and not site.cast


def _usable(inventory: Inventory, site: KnnSite) -> list[VectorIndex]:
    """Valid indexes on the site's column (not an expression) serving its operator."""
    return [
        ix
        for ix in inventory.indexes
        if (ix.schema, ix.table, ix.column) == (site.schema, site.relation, site.column)
        and ix.expression is None
        and serves(ix, site.operator)
        and ix.usable
    ]


def _planner_chose_seqscan(
    result: ExplainResult,
    inventory: Inventory,
    site: KnnSite,
    usable: list[VectorIndex],
    rows: int | None,
) -> list[Finding]:
    settings = result.settings
    changed = {k: v for k, v in result.plan.settings.items() if k.startswith("enable_")}
    ix = usable[0]
    if settings.get("enable_indexscan") == "off" or "enable_indexscan" in changed:
        return [
            Finding(
                Rule.PLANNER_SETTING,
                Severity.ERROR,
                site.node_id,
                f"enable_indexscan is off in this session, so {ident(ix.name)} cannot be used",
                "RESET enable_indexscan; (or find what sets it: ALTER ROLE/DATABASE ... SET)",
                settings=(("enable_indexscan", "on"),),
            )
        ]
    if ix.method == "ivfflat":
        probes = int_or_none(settings.get("ivfflat.probes"))
        lists = int(ix.params.get("lists", 100))
        if probes is not None and probes >= lists:
            return [
                Finding(
                    Rule.PROBES_ALL_LISTS,
                    Severity.ERROR,
                    site.node_id,
                    f"ivfflat.probes = {probes} >= lists = {lists}: an index scan would visit "
                    "every list, so the planner prefers an exact Seq Scan",
                    f"lower ivfflat.probes (sqrt(lists) = {int(lists**0.5)} is a start)",
                    settings=(("ivfflat.probes", str(max(1, int(lists**0.5)))),),
                )
            ]
    if rows is not None and rows < PLANNER_SMALL_ROWS:
        # pgvector 0.8 costs index scans realistically: on a few thousand rows the planner
        # rightly finds a Seq Scan and a top-N sort cheaper.
        return [
            Finding(
                Rule.SMALL_TABLE,
                Severity.INFO,
                site.scan_node_id,
                f"{ident(ix.name)} could serve this ordering, but on ~{rows:,} rows the planner "
                "estimated a Seq Scan and a top-N sort cheaper, which is right at this size",
            )
        ]
    scan = result.plan.node(site.scan_node_id) if site.scan_node_id is not None else None
    found = filtered_scan(result, scan)
    if found is not None:
        # The filter made the exact plan cheaper: right rows, not an error.
        return filtered_exact(result, inventory, site, found, usable, rows)
    return [
        Finding(
            Rule.SEQ_SCAN_CHOSEN,
            Severity.ERROR,
            site.node_id,
            f"{ident(ix.name)} serves this ordering but the planner estimated the Seq Scan "
            "cheaper (table statistics, random_page_cost, or a LIMIT too large)",
            "ANALYZE the table; check random_page_cost and the LIMIT",
        )
    ]
