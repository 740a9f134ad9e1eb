"""A DataTable that is drawn with its final column widths from the first frame.

Textual's DataTable measures new rows on idle, after it may already have drawn them: the
lines drawn with the old (label-wide) columns are cached and stay on screen until the
cursor moves ("searc hnsw ... INVA" on a replay's first frame). :meth:`SizedTable.fill`
measures the rows first, sets each column's width, then adds them, so nothing is ever
drawn narrower than it will be, and widths shrink again when the content does.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import DataTable


class SizedTable(DataTable[Text]):
    def fill(self, rows: Sequence[tuple[str, Sequence[Text]]]) -> None:
        """Replace every row: ``(key, cells)`` pairs, cells in column order."""
        self.clear()
        for index, column in enumerate(self.ordered_columns):
            widths = [column.label.cell_len]
            widths.extend(cells[index].cell_len for _, cells in rows if index < len(cells))
            column.content_width = max(widths)
        for key, cells in rows:
            self.add_row(*cells, key=key)
