"""Pick a migration journal to resume: newest first, each with how far it got."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from vecscope.core.migrate.journals import JournalEntry


class JournalsScreen(ModalScreen[Path | None]):
    """The chosen journal's path, or ``None``."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(self, entries: list[JournalEntry]) -> None:
        super().__init__()
        self.entries = entries

    def compose(self) -> ComposeResult:
        with Vertical(id="journals-panel"):
            yield Static("Open a migration journal", id="journals-title")
            options = [
                Option(
                    Content.assemble(
                        ("● " if unfinished else "  ", "$warning bold"),
                        line,
                        ("\n  " + str(path), "$text-muted"),
                    ),
                    id=str(path),
                )
                for path, line, unfinished in self.entries
            ]
            yield OptionList(*options, id="journals-list")
            yield Static(
                "● unfinished · enter opens it (reconciled with the database) · esc cancels",
                id="journals-hint",
            )

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        if event.option_id is not None:
            self.dismiss(Path(event.option_id))

    def action_cancel(self) -> None:
        self.dismiss(None)
