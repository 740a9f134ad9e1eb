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


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str
    #: Columns are dropped from the right of this order when the table is too narrow
    #: (what they say is in the detail pane); the name shrinks to :data:`NAME_MIN` first.
    rank: int


#: In the order they are drawn. The name, its state and marks always show.
COLUMNS = (
    Column("mark", "", 0),
    Column("name", "column / index", 0),
    Column("state", "state", 0),
    Column("type", "type", 1),
    Column("op", "op", 2),
    Column("size", "size", 3),
    Column("rows", "rows", 4),
    Column("scans", "scans", 5),
    Column("opclass", "opclass", 6),
    Column("params", "params", 7),
)
#: The narrowest the name column gets before other columns are dropped.
NAME_MIN = 24
#: Cells are padded by one column on each side (DataTable's cell_padding).
PADDING = 2


def fit_columns(natural: dict[str, int], width: int) -> tuple[dict[str, int], int]:
    """Which columns fit ``width`` cells and the name column's width.

    ``natural`` is each column's content width. Columns join by rank while the name keeps
    at least :data:`NAME_MIN` (or its natural width, if less); the name then takes what
    is left, up to its natural width. Returns the chosen columns' widths and the name's.
    """
    name_floor = min(natural["name"], NAME_MIN)
    chosen = {c.key: natural[c.key] for c in COLUMNS if c.rank == 0 and c.key != "name"}
    used = sum(w + PADDING for w in chosen.values()) + PADDING
    for rank in sorted({c.rank for c in COLUMNS if c.rank > 0}):
        extra = sum(natural[c.key] + PADDING for c in COLUMNS if c.rank == rank)
        if used + extra + name_floor > width:
            break
        used += extra
        chosen.update({c.key: natural[c.key] for c in COLUMNS if c.rank == rank})
    name = max(name_floor, min(natural["name"], width - used))
    chosen["name"] = name
    return chosen, name


class InventoryTable(DataTable[Text]):
    """Rows keyed by object; highlighting one posts :class:`InventoryTable.Selected`
    (with ``None`` when no row is left, e.g. behind a filter that matches nothing).

    The columns that matter come first and the rest join as the width allows
    (:func:`fit_columns`); everything a hidden column says is in the detail pane.
    """

    class Selected(Message):
        """The highlighted row changed to this column or index (None: no rows)."""

        def __init__(self, item: Selectable | None) -> None:
            super().__init__()
            self.item = item

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.inventory: Inventory | None = None
        self.filter = Filter()
        self._items: dict[str, Selectable] = {}
        self._rows: list[tuple[str, dict[str, Text]]] = []

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
        self._items.clear()
        self._rows = []
        for col in inventory.columns:
            if not self._matches(inventory, col):
                continue
            self._rows.append(self._column_row(inventory, col))
            indexes = inventory.indexes_on(col)
            for n, ix in enumerate(indexes):
                self._rows.append(self._index_row(inventory, ix, last=n == len(indexes) - 1))
        self._draw(current)
        self.post_message(self.Selected(self.selected()))

    def on_resize(self) -> None:
        if self._rows:
            self._draw(self._current_key())

    def _draw(self, current: str | None) -> None:
        """Lay the rows out in the columns that fit the table's width."""
        natural = {c.key: c.label and len(c.label) or 1 for c in COLUMNS}
        for _, cells in self._rows:
            for key, cell in cells.items():
                natural[key] = max(natural[key], cell.cell_len)
        # The vertical scrollbar takes two columns once the rows outgrow the height.
        width = (self.size.width or self.app.size.width) - 2
        widths, name = fit_columns(natural, width)
        # Columns are remade each time: a DataTable keeps a column's measured width.
        self.clear(columns=True)
        for c in COLUMNS:
            if c.key in widths:
                self.add_column(c.label, key=c.key, width=widths[c.key])
        for key, cells in self._rows:
            row = []
            for c in COLUMNS:
                if c.key not in widths:
                    continue
                cell = cells[c.key]
                if c.key == "name" and cell.cell_len > name:
                    cell = cell.copy()
                    cell.truncate(name, overflow="ellipsis")
                row.append(cell)
            self.add_row(*row, key=key)
        if current is not None and current in self._items:
            self.move_cursor(row=self.get_row_index(current))
        elif self.row_count:
            self.move_cursor(row=0)

    def cells(self, key: str) -> dict[str, str]:
        """Every cell of row ``key`` by column key, shown or not (for tests and copying)."""
        for row_key, cells in self._rows:
            if row_key == key:
                return {k: str(v) for k, v in cells.items()}
        raise KeyError(key)

    def _column_row(self, inv: Inventory, col: VectorColumn) -> tuple[str, dict[str, Text]]:
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
        return key, {
            "mark": self._mark(severity),
            "name": Text(display_ident(col.schema, col.table, col.column), style="bold"),
            "state": state,
            "type": Text(f"{col.type}{dims}"),
            "op": Text(""),
            "size": Text(human_bytes(col.table_bytes), justify="right"),
            "rows": Text(human_count(col.rows), justify="right"),
            "scans": Text(""),
            "opclass": Text(""),
            "params": Text(""),
        }

    def _index_row(
        self, inv: Inventory, ix: VectorIndex, *, last: bool
    ) -> tuple[str, dict[str, Text]]:
        severity = worst(inv.problems_for(ix.schema, ix.table, index=ix.name))
        if ix.usable:
            state = Text("valid", style=self._style(None))
        else:
            state = Text("INVALID" if ix.ready else "NOT READY", style=self._style(Severity.ERROR))
        key = f"ix:{ix.schema}.{ix.name}"
        self._items[key] = ix
        tags = "".join((" partial" if ix.predicate else "", " expr" if ix.expression else ""))
        return key, {
            "mark": self._mark(severity),
            "name": Text(f"  {'└' if last else '├'} {display_ident(ix.name)}{tags}"),
            "state": state,
            "type": Text(ix.method),
            "op": Text(ix.operator or "?"),
            "size": Text(human_bytes(ix.size_bytes), justify="right"),
            "rows": Text(""),
            "scans": Text(human_count(ix.scans), justify="right"),
            "opclass": Text(ix.opclass),
            "params": Text(params_text(ix.params, ix.params_explicit)),
        }

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

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        item = self._items.get(str(event.row_key.value))
        if item is not None:
            self.post_message(self.Selected(item))
