"""EXPLAIN (FORMAT JSON) as typed records: a tree of plan nodes with the figures rules need.

PostgreSQL's JSON plan is a nested dict whose keys vary by node type, server version and
options; this module reads it once into :class:`PlanNode` records (with exclusive time
computed when the plan was analysed) so the doctor's rules and the screens never touch
raw dicts.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

#: PostgreSQL adds this to the cost of a node type the session disabled (costsize.c).
DISABLE_COST = 1.0e10

_VECTOR_LITERAL = re.compile(r"'\[([^\]']{48,})\]'")


def shorten_vectors(text: str) -> str:
    """``'[0.0123,-0.04,...384 values...]'`` -> ``'[0.0123,-0.04,… 384 dims]'`` for display."""

    def repl(m: re.Match[str]) -> str:
        values = m.group(1).split(",")
        return f"'[{','.join(values[:2])},… {len(values)} dims]'"

    return _VECTOR_LITERAL.sub(repl, text)


@dataclass(frozen=True, slots=True)
class PlanNode:
    """One node of a plan, in pre-order (``id`` 0 is the root)."""

    id: int
    node_type: str
    depth: int
    relation: str | None
    schema: str | None
    alias: str | None
    index_name: str | None
    parent_relationship: str | None
    subplan_name: str | None
    startup_cost: float
    total_cost: float
    plan_rows: float
    #: Distance ordering an index scan returns rows in ("Order By").
    order_by: str | None
    sort_key: tuple[str, ...]
    filter: str | None
    index_cond: str | None
    rows_removed_by_filter: float | None
    sort_method: str | None
    sort_space_type: str | None
    sort_space_used_kb: float | None
    actual_rows: float | None
    actual_loops: float | None
    #: Time to the first row and to the last, per loop (analysed plans with timing).
    actual_startup_ms: float | None
    actual_total_ms: float | None
    #: Time spent in this node alone (analysed plans), children subtracted.
    exclusive_ms: float | None
    children: tuple[PlanNode, ...] = field(default=(), repr=False)
    #: EXPLAIN's own "Disabled" (PostgreSQL 18+); None where the server does not say.
    disabled_flag: bool | None = None

    @property
    def is_scan(self) -> bool:
        return self.relation is not None

    @property
    def disabled(self) -> bool:
        """The planner was forced to use a node type the session disabled: PostgreSQL 18+
        says so ("Disabled"), older servers add ``disable_cost`` to the node's cost."""
        if self.disabled_flag is not None:
            return self.disabled_flag
        return self.total_cost >= DISABLE_COST

    @property
    def qualified(self) -> str | None:
        if self.relation is None:
            return None
        return f"{self.schema}.{self.relation}" if self.schema else self.relation

    @property
    def total_actual_rows(self) -> float | None:
        if self.actual_rows is None:
            return None
        return self.actual_rows * (self.actual_loops or 1)

    def label(self) -> str:
        """``Index Scan using idx on public.t`` as EXPLAIN's text format says it."""
        text = self.node_type
        if self.index_name:
            text += f" using {self.index_name}"
        if self.relation:
            text += f" on {self.qualified}"
            if self.alias and self.alias != self.relation:
                text += f" {self.alias}"
        if self.subplan_name:
            text = f"{self.subplan_name}: {text}"
        return text

    def walk(self) -> Iterator[PlanNode]:
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass(frozen=True, slots=True)
class Plan:
    root: PlanNode
    analyzed: bool
    planning_ms: float | None
    execution_ms: float | None
    #: Planner settings the session changed from their defaults (EXPLAIN's SETTINGS option).
    settings: dict[str, str]
    raw: list[Any] = field(repr=False, compare=False)

    def nodes(self) -> tuple[PlanNode, ...]:
        return tuple(self.root.walk())

    def node(self, node_id: int) -> PlanNode:
        return self.nodes()[node_id]

    def parents(self) -> dict[int, PlanNode]:
        """Map each node id to its parent node."""
        found: dict[int, PlanNode] = {}
        for n in self.root.walk():
            for c in n.children:
                found[c.id] = n
        return found


def _f(raw: dict[str, Any], key: str) -> float | None:
    value = raw.get(key)
    return float(value) if isinstance(value, int | float) else None


def _s(raw: dict[str, Any], key: str) -> str | None:
    value = raw.get(key)
    return str(value) if value is not None else None


def _build(raw: dict[str, Any], depth: int, counter: list[int], analyzed: bool) -> PlanNode:
    node_id = counter[0]
    counter[0] += 1
    children = tuple(_build(c, depth + 1, counter, analyzed) for c in raw.get("Plans", []))
    total_ms = _f(raw, "Actual Total Time")
    loops = _f(raw, "Actual Loops")
    exclusive = None
    if analyzed and total_ms is not None:
        own = total_ms * (loops or 1)
        for c in children:
            # InitPlans and SubPlans run inside their parent's time, as other children do.
            if c.actual_total_ms is not None:
                own -= c.actual_total_ms * (c.actual_loops or 1)
        exclusive = max(own, 0.0)
    removed = _f(raw, "Rows Removed by Filter")
    sort_key = raw.get("Sort Key") or raw.get("Presorted Key") or []
    return PlanNode(
        id=node_id,
        node_type=str(raw.get("Node Type", "?")),
        depth=depth,
        relation=_s(raw, "Relation Name"),
        schema=_s(raw, "Schema"),
        alias=_s(raw, "Alias"),
        index_name=_s(raw, "Index Name"),
        parent_relationship=_s(raw, "Parent Relationship"),
        subplan_name=_s(raw, "Subplan Name"),
        startup_cost=float(raw.get("Startup Cost", 0.0)),
        total_cost=float(raw.get("Total Cost", 0.0)),
        plan_rows=float(raw.get("Plan Rows", 0.0)),
        order_by=_s(raw, "Order By"),
        sort_key=tuple(str(k) for k in sort_key),
        filter=_s(raw, "Filter"),
        index_cond=_s(raw, "Index Cond"),
        rows_removed_by_filter=removed,
        sort_method=_s(raw, "Sort Method"),
        sort_space_type=_s(raw, "Sort Space Type"),
        sort_space_used_kb=_f(raw, "Sort Space Used"),
        actual_rows=_f(raw, "Actual Rows"),
        actual_loops=loops,
        actual_startup_ms=_f(raw, "Actual Startup Time"),
        actual_total_ms=total_ms,
        exclusive_ms=exclusive,
        children=children,
        disabled_flag=raw["Disabled"] if isinstance(raw.get("Disabled"), bool) else None,
    )


def parse_plan(raw: list[Any]) -> Plan:
    """Read ``EXPLAIN (FORMAT JSON)`` output (the list PostgreSQL returns)."""
    top = raw[0] if isinstance(raw, list) and raw else {}
    if not isinstance(top, dict) or "Plan" not in top:
        raise ValueError("not an EXPLAIN (FORMAT JSON) document")
    analyzed = "Execution Time" in top or "Actual Rows" in top["Plan"]
    root = _build(top["Plan"], 0, [0], analyzed)
    settings = top.get("Settings") or {}
    return Plan(
        root=root,
        analyzed=analyzed,
        planning_ms=_f(top, "Planning Time"),
        execution_ms=_f(top, "Execution Time"),
        settings={str(k): str(v) for k, v in settings.items()},
        raw=raw,
    )


def _rows(value: float) -> str:
    return f"{value:.0f}" if value.is_integer() else f"{value:.2f}"


def plan_text(plan: Plan) -> str:
    """A compact text rendering, like EXPLAIN's text format, vectors shortened."""
    lines: list[str] = []
    for n in plan.nodes():
        pad = "  " * n.depth + ("-> " if n.depth else "")
        cost = f"(cost={n.startup_cost:.2f}..{n.total_cost:.2f} rows={n.plan_rows:.0f})"
        actual = ""
        if n.actual_rows is not None:
            # As EXPLAIN ANALYZE prints it: startup..total per loop (no times with TIMING
            # OFF), rows per loop with two decimals where a loop average is fractional.
            time = ""
            if n.actual_total_ms is not None:
                time = f"time={n.actual_startup_ms or 0:.3f}..{n.actual_total_ms:.3f} "
            actual = f" (actual {time}rows={_rows(n.actual_rows)} loops={n.actual_loops or 1:.0f})"
        lines.append(f"{pad}{n.label()}  {cost}{actual}")
        inner = "  " * n.depth + ("     " if n.depth else "  ")
        for label, value in (
            ("Order By", n.order_by),
            ("Index Cond", n.index_cond),
            ("Filter", n.filter),
        ):
            if value:
                lines.append(f"{inner}{label}: {shorten_vectors(value)}")
        if n.sort_key:
            lines.append(f"{inner}Sort Key: {shorten_vectors(', '.join(n.sort_key))}")
        if n.rows_removed_by_filter:
            lines.append(f"{inner}Rows Removed by Filter: {n.rows_removed_by_filter:.0f}")
        if n.sort_method:
            lines.append(
                f"{inner}Sort Method: {n.sort_method}  {n.sort_space_type}: "
                f"{n.sort_space_used_kb or 0:.0f}kB"
            )
    if plan.settings:
        lines.append("Settings: " + ", ".join(f"{k} = '{v}'" for k, v in plan.settings.items()))
    if plan.planning_ms is not None:
        lines.append(f"Planning Time: {plan.planning_ms:.3f} ms")
    if plan.execution_ms is not None:
        lines.append(f"Execution Time: {plan.execution_ms:.3f} ms")
    return "\n".join(lines)
