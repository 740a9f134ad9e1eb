"""The detail pane: everything about the highlighted column or index, and its problems."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Static

from vecscope.core.fmt import human_bytes, human_count
from vecscope.core.models import Inventory, Problem, VectorColumn, VectorIndex
from vecscope.core.pgvector import DEFAULT_PARAMS
from vecscope.core.sqltext import display_ident
from vecscope.tui.widgets.marks import MARK, STYLE


def _kv(label: str, value: str) -> Content:
    return Content.assemble((f"{label:<14}", "$text-muted"), value)


def _problem_lines(problems: tuple[Problem, ...]) -> list[Content]:
    if not problems:
        return [Content.assemble(("✓ ", "$success"), "no problems found in the catalog")]
    lines: list[Content] = []
    for p in problems:
        lines.append(
            Content.assemble(
                (f"{MARK[p.severity]} {p.severity.upper()} ", f"{STYLE[p.severity]} bold"),
                p.message,
            )
        )
        if p.fix:
            lines.append(Content.assemble(("  fix: ", "$text-muted"), (p.fix, "$text-accent")))
    return lines


def column_detail(inv: Inventory, col: VectorColumn) -> list[Content]:
    indexes = inv.indexes_on(col)
    usable = sum(1 for ix in indexes if ix.usable)
    dims = str(col.dims) if col.dims else "untyped (no dimensions)"
    lines = [
        Content.styled(display_ident(col.schema, col.table, col.column), "bold"),
        Content(""),
        _kv("type", f"{col.type}, {dims} dims"),
        _kv("rows", f"~{human_count(col.rows)} (planner estimate)"),
        _kv("table size", human_bytes(col.table_bytes)),
        _kv("SELECT", "yes" if col.can_select else "NO: catalog facts only"),
        _kv("CREATE INDEX", "yes (owner)" if col.can_create_index else "no (not the owner)"),
        _kv(
            "indexes",
            f"{len(indexes)} ({usable} usable)"
            + (": " + ", ".join(ix.name for ix in indexes) if indexes else ""),
        ),
        Content(""),
        Content.styled("Problems", "bold"),
        *_problem_lines(inv.problems_for(col.schema, col.table, col.column)),
    ]
    return lines


def index_detail(inv: Inventory, ix: VectorIndex) -> list[Content]:
    defaults = DEFAULT_PARAMS.get(ix.method, {})
    params = ", ".join(
        f"{k} = {v}" + ("" if k in ix.params_explicit else " (default)")
        for k, v in ix.params.items()
    )
    if ix.usable:
        state = Content.styled("valid and ready", "$success")
    elif ix.ready:
        state = Content.styled(
            "INVALID (ready: writes maintain it, queries cannot use it)", "$error bold"
        )
    else:
        state = Content.styled("NOT READY (being built, or a failed build)", "$error bold")
    lines = [
        Content.styled(display_ident(ix.name), "bold"),
        Content.assemble(
            ("on ", "$text-muted"),
            display_ident(ix.schema, ix.table),
            f" ({display_ident(ix.column) if ix.column else '?'})",
        ),
        Content(""),
        _kv("method", ix.method),
        _kv("opclass", ix.opclass),
        _kv("serves", f"ORDER BY ... {ix.operator or '?'} ... LIMIT"),
        _kv("params", params or "-"),
        Content.assemble(("state         ", "$text-muted"), state),
        _kv("size", human_bytes(ix.size_bytes)),
        _kv(
            "scans",
            human_count(ix.scans) + (f" (last {ix.last_scan[:19]})" if ix.last_scan else ""),
        ),
        _kv("tuples read", human_count(ix.tuples_read)),
    ]
    if inv.server.stats_reset:
        lines.append(_kv("stats since", inv.server.stats_reset[:19]))
    if ix.predicate:
        lines.append(_kv("partial", f"WHERE {ix.predicate}"))
    if ix.expression:
        lines.append(_kv("expression", ix.expression))
    if ix.tablespace:
        lines.append(_kv("tablespace", ix.tablespace))
    if defaults and len(ix.params_explicit) < len(defaults):
        lines.append(
            Content.styled("(default) = pgvector's default, not in the definition", "$text-muted")
        )
    lines += [
        Content(""),
        Content.styled("Definition", "bold"),
        Content.styled(ix.definition, "$text-accent"),
        Content(""),
        Content.styled("Problems", "bold"),
        *_problem_lines(inv.problems_for(ix.schema, ix.table, index=ix.name)),
    ]
    return lines


class DetailPane(VerticalScroll):
    """Scrollable pane; :meth:`show` replaces its content."""

    def compose(self) -> ComposeResult:
        yield Static(id="detail-body")

    def nothing(self, why: str) -> None:
        """No row to describe (a filter hides them all): say so, nothing stale."""
        self.query_one("#detail-body", Static).update(why)

    def show(self, inv: Inventory, item: VectorColumn | VectorIndex | None) -> None:
        body = self.query_one("#detail-body", Static)
        if item is None:
            body.update("Nothing selected")
            return
        lines = (
            column_detail(inv, item) if isinstance(item, VectorColumn) else index_detail(inv, item)
        )
        body.update(Content("\n").join(lines))
