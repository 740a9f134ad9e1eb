"""The Indexes screen: every vector column and index, problems at a glance, details beside."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.content import Content
from textual.message import Message
from textual.widgets import Footer, Header, Input, Static
from textual.worker import get_current_worker

from vecscope.core.catalog.inventory import HEADLINE_SETTINGS
from vecscope.core.doctor.diagnose import knn_query_for
from vecscope.core.models import Inventory, Severity, VectorColumn
from vecscope.tui.context import session_of
from vecscope.tui.header import subtitle
from vecscope.tui.messages import ExplainColumn, ExplainQuery, OpenLab, OpenMigration
from vecscope.tui.screens.base import VecscopeScreen
from vecscope.tui.widgets.detail import DetailPane
from vecscope.tui.widgets.inventory_table import Filter, InventoryTable
from vecscope.tui.widgets.marks import MARK, STYLE


def server_line(inv: Inventory) -> Content:
    """One line of server facts and the settings that matter, with problem counts."""
    s = inv.server
    parts: list[Content | str | tuple[str, str]] = [
        (f"PostgreSQL {s.version}", "bold"),
        "  pgvector ",
        (s.pgvector or "not installed", "bold"),
    ]
    if s.pgvector_available and s.pgvector_available != s.pgvector:
        parts.append((f" ({s.pgvector_available} available)", "$warning"))
    if s.pgvectorscale:
        parts.append(f"  pgvectorscale {s.pgvectorscale}")
    if s.citus:
        parts.append((f"  Citus {s.citus}", "$warning"))
    parts.append(
        (
            "  HOT STANDBY" if s.in_recovery else "  primary",
            "$warning bold" if s.in_recovery else "$text-muted",
        )
    )
    for name in HEADLINE_SETTINGS:
        value = s.setting(name)
        if value is not None:
            parts += [("  │ ", "$text-muted"), (f"{name} ", "$text-muted"), value]
    parts.append(("  │ ", "$text-muted"))
    for severity in (Severity.ERROR, Severity.WARNING, Severity.INFO):
        count = sum(1 for p in inv.problems if p.severity == severity)
        parts.append((f"{MARK[severity]} {count} ", STYLE[severity]))
    return Content.assemble(*parts)


class IndexesScreen(VecscopeScreen):
    """Vector columns and their indexes, with a detail pane and filters.

    From 120 columns the detail pane sits beside the table; below, under it, so the table
    keeps the whole width (80x24 and 100x30 terminals).
    """

    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "refresh", "Refresh"),
        Binding("slash", "filter", "Filter", key_display="/"),
        Binding("f", "problems_only", "Problems", tooltip="Problems only"),
        Binding("c", "copy", "Copy SQL"),
        Binding("e", "explain", "Explain", tooltip="Explain a KNN query"),
        Binding("l", "lab", "Lab", tooltip="Latency lab"),
        Binding("m", "migrate", "Migrate"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]

    class InventoryLoaded(Message):
        """A fresh inventory arrived from the worker."""

        def __init__(self, inventory: Inventory) -> None:
            super().__init__()
            self.inventory = inventory

    def __init__(self) -> None:
        super().__init__()
        self.inventory: Inventory | None = None
        self.flt = Filter()

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("Connecting…", id="server-bar")
        with Horizontal(id="indexes-main"):
            yield InventoryTable(id="inventory")
            yield DetailPane(id="detail")
        yield Footer()

    def on_mount(self) -> None:
        self.action_refresh()

    def action_refresh(self) -> None:
        self.query_one(InventoryTable).loading = self.inventory is None
        self.load_inventory()

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="inventory",
        description="Reading the vector inventory",
    )
    def load_inventory(self) -> None:
        inventory = session_of(self.app).inventory()
        if not get_current_worker().is_cancelled:
            self.post_message(self.InventoryLoaded(inventory))

    @on(InventoryLoaded)
    def inventory_loaded(self, event: InventoryLoaded) -> None:
        self.show_inventory(event.inventory)

    def show_inventory(self, inventory: Inventory) -> None:
        self.inventory = inventory
        table = self.query_one(InventoryTable)
        table.loading = False
        table.show(inventory, self.flt)
        self.query_one("#server-bar", Static).update(server_line(inventory))
        info = session_of(self.app).info
        if info is not None:
            self.app.sub_title = subtitle(info.label, inventory.server)
        if not inventory.columns:
            self.query_one(DetailPane).show(inventory, None)
            self.query_one("#detail-body", Static).update(
                "No vector columns in this database (vector, halfvec, sparsevec or bit)."
            )

    @on(InventoryTable.Selected)
    def row_selected(self, event: InventoryTable.Selected) -> None:
        if self.inventory is None or not self.inventory.columns:
            return
        pane = self.query_one(DetailPane)
        if event.item is None:
            pane.nothing(self._no_match())
        else:
            pane.show(self.inventory, event.item)

    def _no_match(self) -> str:
        """What the detail pane says when the filters hide every row."""
        wanted = []
        if self.flt.text:
            wanted.append(f"matches {self.flt.text!r}")
        if self.flt.problems_only:
            wanted.append("has a problem (f shows all)")
        return "No vector column " + " and ".join(wanted or ["to show"]) + "."

    async def action_filter(self) -> None:
        # Mounted on first use: an Input mounted with the screen trips a Textual race
        # (its selection watcher asks for app.screen before the mode's stack exists).
        boxes = self.query("#filter").results(Input)
        box = next(boxes, None)
        if box is None:
            box = Input(placeholder="filter by schema, table, column or index name", id="filter")
            await self.mount(box, before=self.query_one(Footer))
        box.display = True
        box.focus()

    @on(Input.Changed, "#filter")
    def filter_changed(self, event: Input.Changed) -> None:
        self._apply(Filter(event.value.strip(), self.flt.problems_only))

    @on(Input.Submitted, "#filter")
    def filter_submitted(self) -> None:
        self.query_one(InventoryTable).focus()

    def action_clear_filter(self) -> None:
        box = next(self.query("#filter").results(Input), None)
        if box is not None:
            box.value = ""
            box.display = False
        self._apply(Filter("", self.flt.problems_only))
        self.query_one(InventoryTable).focus()

    def action_problems_only(self) -> None:
        self._apply(Filter(self.flt.text, not self.flt.problems_only))
        self.notify(
            "Showing columns with errors or warnings only"
            if self.flt.problems_only
            else "Showing every vector column",
            timeout=2,
        )

    def _apply(self, flt: Filter) -> None:
        self.flt = flt
        if self.inventory is not None:
            self.query_one(InventoryTable).show(self.inventory, flt)

    def palette_commands(self) -> Iterable[SystemCommand]:
        yield SystemCommand(
            "Refresh inventory", "Read columns and indexes again", self.action_refresh
        )
        yield SystemCommand(
            "Problems only",
            "Toggle: only columns with errors or warnings",
            self.action_problems_only,
        )

    async def action_explain(self) -> None:
        """Open the plan doctor on a ready-made nearest-neighbour query for this column."""
        item = self.query_one(InventoryTable).selected()
        if item is None or self.inventory is None:
            return
        if isinstance(item, VectorColumn):
            # The doctor writes it with the operator the application uses on the column.
            self.post_message(ExplainColumn(item.schema, item.table, item.column))
            return
        operator = (item.operator or "<=>").split()[0]
        query = knn_query_for(item.schema, item.table, item.column or "", operator)
        self.post_message(ExplainQuery(query))

    async def action_lab(self) -> None:
        """Open the latency and recall lab on this column."""
        item = self.query_one(InventoryTable).selected()
        if item is None or item.column is None:
            return
        self.post_message(OpenLab(item.schema, item.table, item.column))

    async def action_migrate(self) -> None:
        """Open the Migrate mode on this index (a column: its first index, or a new one)."""
        item = self.query_one(InventoryTable).selected()
        if item is None or self.inventory is None:
            return
        if isinstance(item, VectorColumn):
            indexes = self.inventory.indexes_on(item)
            usable = [ix for ix in indexes if ix.usable] or list(indexes)
            if not usable:
                self.post_message(OpenMigration("column", item.schema, item.table, item.column))
                return
            item = usable[0]
        self.post_message(OpenMigration("index", item.schema, item.name))

    def action_copy(self) -> None:
        """Copy the fix of the worst problem, or the index definition, to the clipboard."""
        item = self.query_one(InventoryTable).selected()
        if item is None or self.inventory is None:
            return
        if isinstance(item, VectorColumn):
            problems = self.inventory.problems_for(item.schema, item.table, item.column)
        else:
            problems = self.inventory.problems_for(item.schema, item.table, index=item.name)
        fixes = [p.fix for p in problems if p.fix]
        text = fixes[0] if fixes else (None if isinstance(item, VectorColumn) else item.definition)
        if text is None:
            self.notify("Nothing to copy for this column", timeout=2)
            return
        self.app.copy_to_clipboard(text)
        self.notify(text, title="Copied to the clipboard", timeout=4)
