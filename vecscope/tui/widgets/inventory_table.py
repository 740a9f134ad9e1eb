"""The inventory as one table: each vector column, its indexes beneath it, marked at a glance."""

from __future__ import annotations

from dataclasses import dataclass

from rich.style import Style
from rich.text import Text
from textual.message import Message
from textual.widgets import DataTable

from vecscope.core.fmt import human_bytes, human_count, params_text
from vecscope.core.models import Inventory, Severity, VectorColumn, VectorIndex
from vecscope.core.sqltext import display_ident
from vecscope.tui.widgets.marks import MARK, OK_MARK, worst

Selectable = VectorColumn | VectorIndex

_THEME_VAR = {
    Severity.ERROR: "error",
    Severity.WARNING: "warning",
    Severity.INFO: "primary",
}


@dataclass(frozen=True, slots=True)
class Filter:
    text: str = ""
    problems_only: bool = False


class InventoryTable(DataTable[Text]):
    """Rows keyed by object; highlighting one posts :class:`InventoryTable.Selected`."""

    class Selected(Message):
        """The highlighted row changed to this column or index."""

        def __init__(self, item: Selectable) -> None:
            super().__init__()
            self.item = item

    COLUMNS = (
        "",
        "column / index",
        "state",
        "rows",
        "size",
        "type / method",
        "opclass",
        "op",
        "params",
        "scans",
    )

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.inventory: Inventory | None = None
        self.filter = Filter()
        self._items: dict[str, Selectable] = {}

    def on_mount(self) -> None:
        for label in self.COLUMNS:
            self.add_column(label, key=label or "mark")

    # Colours come from the running theme, so every theme reads well.
    def _style(self, severity: Severity | None) -> Style:
        name = "success" if severity is None else _THEME_VAR[severity]
        return Style(color=self.app.theme_variables.get(name), bold=severity is Severity.ERROR)

    def _mark(self, severity: Severity | None) -> Text:
        return Text(OK_MARK if severity is None else MARK[severity], style=self._style(severity))

    def _matches(self, inv: Inventory, col: VectorColumn) -> bool:
        text = self.filter.text.lower()
        names = [col.schema, col.table, col.column] + [ix.name for ix in inv.indexes_on(col)]
        if text and not any(text in n.lower() for n in names):
            return False
        if self.filter.problems_only:
            related = inv.problems_for(col.schema, col.table, col.column)
            return any(p.severity != Severity.INFO for p in related)
        return True

    def show(self, inventory: Inventory, flt: Filter | None = None) -> None:
        """Fill the table, keeping the cursor on the same object when it still exists."""
        self.inventory = inventory
        if flt is not None:
            self.filter = flt
        current = self._current_key()
        self.clear()
        self._items.clear()
        for col in inventory.columns:
            if not self._matches(inventory, col):
                continue
            self._add_column_row(inventory, col)
            indexes = inventory.indexes_on(col)
            for n, ix in enumerate(indexes):
                self._add_index_row(inventory, ix, last=n == len(indexes) - 1)
        if current in self._items:
            self.move_cursor(row=self.get_row_index(current))
        elif self.row_count:
            self.move_cursor(row=0)
        self._post_selected()

    def _add_column_row(self, inv: Inventory, col: VectorColumn) -> None:
        own = tuple(
            p for p in inv.problems_for(col.schema, col.table, col.column) if p.index is None
        )
        severity = worst(own)
        indexes = inv.indexes_on(col)
        usable = sum(1 for ix in indexes if ix.usable)
        if not col.can_select:
            state = Text("no SELECT", style=self._style(Severity.WARNING))
        elif not indexes:
            state = Text("no index", style=self._style(severity))
        else:
            state = Text(
                f"{usable}/{len(indexes)} usable",
                style=self._style(None if usable else Severity.WARNING),
            )
        dims = f"({col.dims})" if col.dims else " untyped"
        key = f"col:{col.schema}.{col.table}.{col.column}"
        self._items[key] = col
        self.add_row(
            self._mark(severity),
            Text(display_ident(col.schema, col.table, col.column), style="bold"),
            state,
            Text(human_count(col.rows), justify="right"),
            Text(human_bytes(col.table_bytes), justify="right"),
            Text(f"{col.type}{dims}"),
            Text(""),
            Text(""),
            Text(""),
            Text(""),
            key=key,
        )

    def _add_index_row(self, inv: Inventory, ix: VectorIndex, *, last: bool) -> None:
        severity = worst(inv.problems_for(ix.schema, ix.table, index=ix.name))
        if ix.usable:
            state = Text("valid", style=self._style(None))
        else:
            state = Text("INVALID" if ix.ready else "NOT READY", style=self._style(Severity.ERROR))
        key = f"ix:{ix.schema}.{ix.name}"
        self._items[key] = ix
        tags = "".join((" partial" if ix.predicate else "", " expr" if ix.expression else ""))
        self.add_row(
            self._mark(severity),
            Text(f"  {'└' if last else '├'} {display_ident(ix.name)}{tags}"),
            state,
            Text(""),
            Text(human_bytes(ix.size_bytes), justify="right"),
            Text(ix.method),
            Text(ix.opclass),
            Text(ix.operator or "?"),
            Text(params_text(ix.params, ix.params_explicit)),
            Text(human_count(ix.scans), justify="right"),
            key=key,
        )

    def _current_key(self) -> str | None:
        if not self.row_count:
            return None
        try:
            return str(self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value)
        except Exception:  # noqa: BLE001 - an empty or just-cleared table has no cursor row
            return None

    def selected(self) -> Selectable | None:
        key = self._current_key()
        return self._items.get(key) if key else None

    def _post_selected(self) -> None:
        item = self.selected()
        if item is not None:
            self.post_message(self.Selected(item))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        item = self._items.get(str(event.row_key.value))
        if item is not None:
            self.post_message(self.Selected(item))
