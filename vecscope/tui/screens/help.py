"""The help screen: every key of the screen beneath it and of the app, read from BINDINGS."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Static


def _bindings(owner: object) -> list[Binding]:
    found: list[Binding] = []
    for item in getattr(owner, "BINDINGS", []):
        if isinstance(item, Binding):
            found.append(item)
        elif isinstance(item, tuple):
            found.append(Binding(*item))
    return found


class HelpScreen(ModalScreen[None]):
    """A modal listing the keys; built from the bindings, so it cannot drift from them."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q,question_mark", "dismiss", "Close", key_display="esc"),
    ]

    def __init__(self, beneath: Screen[object]) -> None:
        super().__init__()
        self.beneath = beneath

    def compose(self) -> ComposeResult:
        with Vertical(id="help-panel"):
            yield Static(
                f"Keys · {self.beneath.__class__.__name__.removesuffix('Screen')}", id="help-title"
            )
            yield DataTable(id="help-table", cursor_type="none", zebra_stripes=True)
            yield Static("ctrl+p opens the command palette · esc closes this", id="help-hint")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("key", "action", "where")
        # A key the screen binds is the screen's here: the app's meaning is not listed.
        taken = {k.strip() for b in _bindings(self.beneath) for k in b.key.split(",")}
        for where, owner in (("this screen", self.beneath), ("everywhere", self.app)):
            for b in _bindings(owner):
                if owner is self.app and {k.strip() for k in b.key.split(",")} <= taken:
                    continue
                keys = b.key_display or b.key.replace(",", " / ")
                # A footer's short label may have a longer meaning (its tooltip): help says that.
                table.add_row(keys, b.tooltip or b.description or b.action, where)

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
