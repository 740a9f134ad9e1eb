"""The backup step's question: dump the table, dump the database, or name a backup you have.

A managed server's snapshot or point-in-time backup beats a dump of a large table; vecscope
records its identifier as typed (it cannot check it), so that choice asks for it.
"""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, RadioButton, RadioSet, Static

from vecscope.core.migrate.records import BackupChoice

KINDS = ("table", "database", "confirmed")


class BackupChoiceScreen(ModalScreen[BackupChoice | None]):
    """The chosen kind (and identifier), or ``None`` on cancel."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(self, table: str, default: str = "table") -> None:
        super().__init__()
        self.table = table
        kind, _, ident = default.partition(":")
        self.default = kind if kind in KINDS else "table"
        self.default_identifier = ident

    def compose(self) -> ComposeResult:
        with Vertical(id="backup-panel"):
            yield Static("Backup before anything is built", id="backup-title")
            with RadioSet(id="backup-kind"):
                yield RadioButton(
                    f"table: pg_dump of {self.table} (custom format, read back to verify)",
                    value=self.default == "table",
                    id="backup-table",
                )
                yield RadioButton(
                    "database: pg_dump of the whole database",
                    value=self.default == "database",
                    id="backup-database",
                )
                yield RadioButton(
                    "confirmed: a backup that exists already (snapshot, PITR)",
                    value=self.default == "confirmed",
                    id="backup-confirmed",
                )
            yield Input(
                self.default_identifier,
                placeholder="the backup's identifier, as your provider shows it",
                id="backup-identifier",
            )
            with Horizontal(id="backup-buttons"):
                yield Button("Back up", id="backup-go", variant="primary")
                yield Button("Cancel", id="backup-cancel")

    def on_mount(self) -> None:
        self._show_identifier()
        self.query_one(RadioSet).focus()

    def kind(self) -> str:
        pressed = self.query_one(RadioSet).pressed_button
        name = (pressed.id or "") if pressed is not None else ""
        return name.removeprefix("backup-") if name else "table"

    def _show_identifier(self) -> None:
        box = self.query_one("#backup-identifier", Input)
        box.display = self.kind() == "confirmed"

    @on(RadioSet.Changed)
    def _kind_changed(self) -> None:
        self._show_identifier()
        if self.kind() == "confirmed":
            self.query_one("#backup-identifier", Input).focus()

    @on(Input.Submitted, "#backup-identifier")
    @on(Button.Pressed, "#backup-go")
    def _go(self) -> None:
        kind = self.kind()
        identifier = self.query_one("#backup-identifier", Input).value.strip()
        if kind == "confirmed" and not identifier:
            self.notify("Type the backup's identifier", severity="warning", timeout=3)
            return
        self.dismiss(BackupChoice(kind, identifier if kind == "confirmed" else None))

    @on(Button.Pressed, "#backup-cancel")
    def _cancel_pressed(self) -> None:
        self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
