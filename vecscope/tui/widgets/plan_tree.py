"""The plan as a tree, nodes coloured by what they mean for nearest-neighbour search."""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.content import Content
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from vecscope.core.doctor.diagnose import Diagnosis, fix_to_try
from vecscope.core.doctor.plan import PlanNode
from vecscope.core.models import Severity


def node_label(n: PlanNode, style: Style, muted: Style) -> Text:
    cost = f"  cost {n.total_cost:,.0f} rows {n.plan_rows:,.0f}"
    actual = ""
    if n.actual_total_ms is not None:
        actual = f"  actual {n.actual_total_ms:,.2f} ms × {n.actual_loops or 1:.0f}"
        actual += f" rows {n.actual_rows or 0:,.0f}"
    return Text.assemble((n.label(), style), (cost + actual, muted))


class PlanTree(Tree[int]):
    """A plan tree whose node data is the plan node id.

    ``enter`` (Tree's ``NodeSelected``) no longer folds a node: the screen opens its
    detail; ``space`` folds.
    """

    class PlanNodeHighlighted(Message):
        """The cursor is on a plan node (not named ``NodeHighlighted``: Tree posts its
        own message of that name through ``self``)."""

        def __init__(self, node_id: int) -> None:
            super().__init__()
            self.node_id = node_id

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("plan", id=id)
        self.show_root = False
        self.auto_expand = False
        self._by_id: dict[int, TreeNode[int]] = {}

    def clear_plan(self) -> None:
        """Show no plan (a new query is being explained, or it failed)."""
        self.clear()
        self._by_id.clear()

    @property
    def plan_node_id(self) -> int | None:
        """The plan node under the cursor."""
        node = self.cursor_node
        return node.data if node is not None else None

    def show(self, diagnosis: Diagnosis) -> None:
        self.clear_plan()
        unserved = {s.node_id for s in diagnosis.sites if not s.served}
        unserved |= {
            s.scan_node_id for s in diagnosis.sites if not s.served and s.scan_node_id is not None
        }
        served = {s.node_id for s in diagnosis.sites if s.served}
        infos = {f.node_id for f in diagnosis.findings if f.severity == Severity.INFO}
        errors = {f.node_id for f in diagnosis.findings if f.severity == Severity.ERROR}

        # Tree labels are Rich text: take the colours from the running theme.
        colours = self.app.theme_variables
        error = Style(color=colours.get("error"), bold=True)
        warning = Style(color=colours.get("warning"))
        success = Style(color=colours.get("success"), bold=True)
        muted = Style(dim=True)

        def style(n: PlanNode) -> Style:
            if n.id in unserved and n.id in errors:
                return error
            if n.id in unserved:
                return warning if n.id in infos else error
            if n.id in served:
                return success
            return Style()

        def add(parent: TreeNode[int], n: PlanNode) -> None:
            if n.children:
                branch = parent.add(node_label(n, style(n), muted), data=n.id, expand=True)
                for c in n.children:
                    add(branch, c)
            else:
                branch = parent.add_leaf(node_label(n, style(n), muted), data=n.id)
            self._by_id[n.id] = branch

        add(self.root, diagnosis.result.plan.root)
        self.root.expand_all()

    def select_plan_node(self, node_id: int | None) -> None:
        node = self._by_id.get(node_id) if node_id is not None else None
        # Reading last_line lays out the tree's lines, which gives new nodes theirs.
        if node is not None and self.last_line >= 0:
            self.move_cursor(node)

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted[int]) -> None:
        event.stop()
        if event.node.data is not None:
            self.post_message(self.PlanNodeHighlighted(event.node.data))


def node_detail(n: PlanNode, diagnosis: Diagnosis) -> Content:
    """Everything about one plan node, and the findings that point at it."""
    from vecscope.core.doctor.plan import shorten_vectors
    from vecscope.tui.widgets.findings_list import finding_prompt

    def kv(label: str, value: str) -> Content:
        return Content.assemble((f"{label:<18}", "$text-muted"), shorten_vectors(value))

    lines = [Content.styled(n.label(), "bold"), Content("")]
    lines.append(
        kv(
            "cost",
            f"{n.startup_cost:,.2f} .. {n.total_cost:,.2f}"
            + ("  (includes disable_cost)" if n.disabled else ""),
        )
    )
    lines.append(kv("estimated rows", f"{n.plan_rows:,.0f}"))
    if n.actual_rows is not None:
        lines.append(kv("actual rows", f"{n.actual_rows:,.0f} × {n.actual_loops or 1:.0f} loops"))
    if n.actual_total_ms is not None:
        lines.append(
            kv(
                "time",
                f"{n.actual_total_ms or 0:,.3f} ms total (first row at "
                f"{n.actual_startup_ms or 0:,.3f}), {n.exclusive_ms or 0:,.3f} ms in this node",
            )
        )
    for label, value in (
        ("order by", n.order_by),
        ("index cond", n.index_cond),
        ("filter", n.filter),
    ):
        if value:
            lines.append(kv(label, value))
    if n.rows_removed_by_filter:
        lines.append(kv("removed by filter", f"{n.rows_removed_by_filter:,.0f}"))
    if n.sort_key:
        lines.append(kv("sort key", ", ".join(n.sort_key)))
    if n.sort_method:
        lines.append(
            kv(
                "sort method",
                f"{n.sort_method} ({n.sort_space_type}, {n.sort_space_used_kb or 0:,.0f} kB)",
            )
        )
    related = [f for f in diagnosis.findings if f.node_id == n.id]
    if related:
        lines += [Content(""), Content.styled("Findings", "bold")]
        tryable = fix_to_try(diagnosis)
        lines += [finding_prompt(f, tried_by_f7=f is tryable) for f in related]
    return Content("\n").join(lines)
