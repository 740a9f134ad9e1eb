"""The warnings any plan gets, nearest-neighbour or not (as pev2 shows them).

Planner settings turned off in the session, nodes carrying disable_cost, sorts spilling
to disk, filters discarding most rows, row estimates off by an order of magnitude, and
the node where most time went.
"""

from __future__ import annotations

from vecscope.core.doctor.explain import ExplainResult
from vecscope.core.doctor.plan import PlanNode
from vecscope.core.doctor.rules_common import Rule, existing_index, filtered_columns
from vecscope.core.models import Finding, Severity
from vecscope.core.sqltext import ident


def general_warnings(result: ExplainResult, already: set[tuple[Rule, int | None]]) -> list[Finding]:
    """Rule 11 and the planner-setting warnings: what any plan reader expects to hear.

    Args:
        already: ``(rule, node)`` pairs the ordering rules reported, not to repeat.
    """
    out: list[Finding] = []
    plan = result.plan
    parents = plan.parents()
    for name, value in plan.settings.items():
        if (
            name.startswith("enable_")
            and value == "off"
            and (Rule.PLANNER_SETTING, None) not in (already)
        ):
            out.append(
                Finding(
                    Rule.PLANNER_SETTING,
                    Severity.WARNING,
                    None,
                    f"{name} = off in this session: the planner avoids that node type",
                    f"RESET {name};",
                    settings=((name, "on"),),
                )
            )
    for node in plan.nodes():
        if node.disabled and (node.children == () or not any(c.disabled for c in node.children)):
            out.append(
                Finding(
                    Rule.DISABLED_NODE,
                    Severity.WARNING,
                    node.id,
                    f"{node.label()} is disabled: the session disabled this node type "
                    "and the planner had no other way",
                    None,
                )
            )
        if node.sort_space_type == "Disk":
            mb = int((node.sort_space_used_kb or 0) / 1024) + 1
            out.append(
                Finding(
                    Rule.SORT_SPILL,
                    Severity.WARNING,
                    node.id,
                    f"sort spilled {node.sort_space_used_kb or 0:.0f} kB to disk",
                    f"raise work_mem above {mb}MB for this query, or serve the ordering from "
                    "an index",
                    settings=(("work_mem", f"{2 * mb}MB"),),
                )
            )
        removed = node.rows_removed_by_filter
        if removed and not {(Rule.POST_FILTER, node.id), (Rule.FILTERED_EXACT, node.id)} & already:
            kept = node.total_actual_rows or 0
            if removed >= 1000 and removed > 10 * max(kept, 1):
                out.append(
                    Finding(
                        Rule.ROWS_REMOVED,
                        Severity.WARNING,
                        node.id,
                        f"the filter removed {removed:,.0f} rows to keep {kept:,.0f}",
                        _index_advice(result, node),
                    )
                )
        if plan.analyzed and node.actual_rows is not None and not _under_limit(node, parents):
            actual = node.total_actual_rows or 0
            est = node.plan_rows * (node.actual_loops or 1)
            hi, lo = max(actual, est), max(min(actual, est), 1)
            if hi >= 100 and hi / lo >= 10:
                out.append(
                    Finding(
                        Rule.ROW_MISESTIMATE,
                        Severity.WARNING,
                        node.id,
                        f"{node.label()}: estimated {est:,.0f} rows, got {actual:,.0f} "
                        f"({hi / lo:,.0f}x off)",
                        "ANALYZE the table; extended statistics for correlated filters",
                    )
                )
    if plan.analyzed:
        timed = [n for n in plan.nodes() if n.exclusive_ms is not None]
        if timed:
            slow = max(timed, key=lambda n: n.exclusive_ms or 0)
            total = plan.execution_ms or sum(n.exclusive_ms or 0 for n in timed)
            share = (slow.exclusive_ms or 0) / total * 100 if total else 0
            out.append(
                Finding(
                    Rule.SLOWEST_NODE,
                    Severity.INFO,
                    slow.id,
                    f"most time in {slow.label()}: {slow.exclusive_ms or 0:.2f} ms "
                    f"({share:.0f}% of {total:.2f} ms)",
                )
            )
    return out


def _index_advice(result: ExplainResult, node: PlanNode) -> str:
    """An index on the filtered columns, unless one exists: then why it was not used."""
    existing = existing_index(result, node, filtered_columns(node))
    if existing is None:
        return "an index on the filtered columns avoids reading them"
    return (
        f"no new index: {ident(existing.name)} ({existing.method} on {existing.columns[0]}) "
        "exists, yet the planner read the rows: ANALYZE the table if its statistics are "
        "stale, and keep the filtered column bare (no function or cast on it)"
    )


def _under_limit(node: PlanNode, parents: dict[int, PlanNode]) -> bool:
    current = parents.get(node.id)
    while current is not None:
        if current.node_type == "Limit":
            return True
        current = parents.get(current.id)
    return False
