"""Where a plan orders by a vector distance: the nearest-neighbour "sites" the doctor judges.

A site is either an index scan whose ``Order By`` is a distance (served by a vector
index) or a Sort whose key is one (not served). Sort keys and ``Order By`` texts are read
with the SQL lexer, never with regular expressions over the whole text.
"""

from __future__ import annotations

from dataclasses import dataclass

from vecscope.core import sqlscan
from vecscope.core.doctor.explain import ExplainResult
from vecscope.core.doctor.plan import PlanNode
from vecscope.core.models import Inventory, VectorIndex
from vecscope.core.sqltext import ident

SORTS = ("Sort", "Incremental Sort")


@dataclass(frozen=True, slots=True)
class DistanceExpr:
    operator: str
    alias: str | None
    column: str | None
    cast: str | None
    descending: bool
    bare: bool
    #: The right operand as written in the plan (shortened for display by callers).
    argument: str = ""
    #: The right operand is a column of some relation (a join), not a constant/parameter.
    argument_is_column: bool = False


@dataclass(frozen=True, slots=True)
class KnnSite:
    """A nearest-neighbour ordering found in the plan."""

    node_id: int
    served: bool
    schema: str | None
    relation: str | None
    column: str | None
    operator: str
    descending: bool
    bare: bool
    cast: str | None
    index: VectorIndex | None
    scan_node_id: int | None
    limited: bool
    argument: str = ""
    argument_is_column: bool = False

    @property
    def table(self) -> str:
        if self.relation is None:
            return "?"
        return ident(self.schema, self.relation) if self.schema else ident(self.relation)


def parse_distance(text: str) -> DistanceExpr | None:
    """Read a sort key or Order By such as ``((t.e <=> '[..]'::vector)) DESC``."""
    tokens = [t for t in sqlscan.tokenize(text) if t.kind not in ("space", "comment")]
    descending = False
    while (
        tokens
        and tokens[-1].kind == "word"
        and tokens[-1].text.upper() in ("DESC", "ASC", "NULLS", "FIRST", "LAST")
    ):
        descending = descending or tokens[-1].text.upper() == "DESC"
        tokens.pop()
    # Strip parentheses that wrap the whole expression.
    while len(tokens) >= 2 and tokens[0].text == "(" and _closing(tokens, 0) == len(tokens) - 1:
        tokens = tokens[1:-1]
    depths = _depths(tokens)
    op_index = next(
        (i for i, t in enumerate(tokens) if t.kind == "op" and t.text in sqlscan.VECTOR_OPERATORS),
        None,
    )
    if op_index is None:
        return None
    left = _left_operand(tokens, op_index)
    cast = None
    names_from = left
    texts = [t.text for t in left]
    if "::" in texts:
        at = texts.index("::")
        cast = "::" + "".join(texts[at + 1 :])
        names_from = left[:at]
    names = [
        t.text.strip('"') if t.kind == "ident" else t.text
        for t in names_from
        if t.kind in ("word", "ident")
    ]
    column = names[-1] if names else None
    alias = names[-2] if len(names) >= 2 else None
    # Bare: "left op right" alone, the operator at the top level and no other operator
    # (but casts) at the top level after it.
    bare = (
        depths[op_index] == 0
        and len(left) == op_index
        and not any(
            t.kind == "op" and t.text != "::"
            for i, t in enumerate(tokens)
            if i > op_index and depths[i] == 0
        )
    )
    right = _right_operand(tokens, op_index)
    argument = "".join(t.text for t in right)
    words = [t for t in right if t.kind in ("word", "ident")]
    is_column = (
        bool(words)
        and all(t.kind in ("word", "ident") or t.text == "." for t in right)
        and any(t.text == "." for t in right)
    )
    return DistanceExpr(
        tokens[op_index].text, alias, column, cast, descending, bare, argument, is_column
    )


def _closing(tokens: list[sqlscan.Token], start: int) -> int:
    depth = 0
    for i in range(start, len(tokens)):
        if tokens[i].text == "(":
            depth += 1
        elif tokens[i].text == ")":
            depth -= 1
            if depth == 0:
                return i
    return -1


def _depths(tokens: list[sqlscan.Token]) -> list[int]:
    """Parenthesis depth before each token."""
    out: list[int] = []
    depth = 0
    for t in tokens:
        if t.text in (")", "]"):
            depth -= 1
        out.append(depth)
        if t.text in ("(", "["):
            depth += 1
    return out


def _right_operand(tokens: list[sqlscan.Token], op_index: int) -> list[sqlscan.Token]:
    """Tokens of the operand right of the operator, up to the end of its expression."""
    depth = 0
    out: list[sqlscan.Token] = []
    for t in tokens[op_index + 1 :]:
        if t.text == "(":
            depth += 1
        elif t.text == ")":
            if depth == 0:
                break
            depth -= 1
        elif depth == 0 and t.kind == "op" and t.text != "::":
            break
        if t.kind not in ("space", "comment"):
            out.append(t)
    return out


def _left_operand(tokens: list[sqlscan.Token], op_index: int) -> list[sqlscan.Token]:
    """Tokens of the operand left of the operator: a name path, maybe parenthesised, cast."""
    i = op_index - 1
    depth = 0
    start = op_index
    while i >= 0:
        t = tokens[i]
        if t.text == ")":
            depth += 1
        elif t.text == "(":
            if depth == 0:
                break
            depth -= 1
        elif depth == 0 and not (t.kind in ("word", "ident", "number") or t.text in (".", "::")):
            break
        start = i
        i -= 1
    return tokens[start:op_index]


# --- finding the nearest-neighbour orderings -------------------------------------------


def _scans_below(node: PlanNode) -> list[PlanNode]:
    """The relation scans feeding ``node`` (through Append for partitioned tables)."""
    found: list[PlanNode] = []
    for child in node.children:
        if child.subplan_name or child.parent_relationship in ("InitPlan", "SubPlan"):
            continue
        if child.is_scan:
            found.append(child)
        else:
            found.extend(_scans_below(child))
    return found


def _limited(node: PlanNode, parents: dict[int, PlanNode]) -> bool:
    current = parents.get(node.id)
    while current is not None:
        if current.node_type == "Limit":
            return True
        if current.node_type in SORTS or current.node_type in ("Aggregate", "Hash"):
            return False
        current = parents.get(current.id)
    return False


def find_sites(result: ExplainResult, inventory: Inventory) -> tuple[KnnSite, ...]:
    plan = result.plan
    parents = plan.parents()
    by_name = {(ix.schema, ix.name): ix for ix in inventory.indexes}
    sites: list[KnnSite] = []
    for node in plan.nodes():
        if node.order_by and node.index_name:
            expr = parse_distance(node.order_by)
            if expr is None:
                continue
            ix = by_name.get((node.schema or "public", node.index_name))
            sites.append(
                KnnSite(
                    node_id=node.id,
                    served=True,
                    schema=node.schema,
                    relation=node.relation,
                    column=expr.column,
                    operator=expr.operator,
                    descending=expr.descending,
                    bare=expr.bare,
                    cast=expr.cast,
                    index=ix,
                    scan_node_id=node.id,
                    limited=_limited(node, parents),
                )
            )
        elif node.node_type in SORTS and node.sort_key:
            expr = parse_distance(node.sort_key[0])
            if expr is None:
                continue
            scans = _scans_below(node)
            scan = next((s for s in scans if expr.alias in (s.alias, s.relation)), None)
            scan = scan or (scans[0] if scans else None)
            sites.append(
                KnnSite(
                    node_id=node.id,
                    served=False,
                    schema=scan.schema if scan else None,
                    relation=scan.relation if scan else None,
                    column=expr.column,
                    operator=expr.operator,
                    descending=expr.descending,
                    bare=expr.bare,
                    cast=expr.cast,
                    index=None,
                    scan_node_id=scan.id if scan else None,
                    limited=_limited(node, parents),
                    argument=expr.argument,
                    argument_is_column=expr.argument_is_column,
                )
            )
    return tuple(sites)
