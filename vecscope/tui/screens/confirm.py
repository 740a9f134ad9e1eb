"""A confirmation: the statements a destructive step runs, and a word to type before it does.

Dropping an index is not undone by a keypress, so the cutover and the rollback ask for a
name typed in full (as GitHub asks for a repository's name before deleting it). Without
a word it is a plain yes/no question (resume a journal, quit during a build).
"""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static


class ConfirmScreen(ModalScreen[bool]):
    """True when confirmed (the word typed exactly); False on cancel."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(
        self,
        title: str,
        body: Content,
        *,
        word: str | None = None,
        action: str = "Confirm",
        danger: bool = True,
    ) -> None:
        super().__init__()
        self.title_text = title
        self.body = body
        self.word = word
        self.action = action
        self.danger = danger

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-panel", classes="-danger" if self.danger else ""):
            yield Static(self.title_text, id="confirm-title")
            with VerticalScroll(id="confirm-body"):
                yield Static(self.body)
            if self.word is not None:
                yield Static(
                    Content.assemble(
                        "Type ", (self.word, "bold $text-warning"), " to confirm, then enter"
                    ),
                    id="confirm-prompt",
                )
                yield Input(id="confirm-word", placeholder=self.word)
            with Horizontal(id="confirm-buttons"):
                yield Button(
                    self.action,
                    id="confirm-yes",
                    variant="error" if self.danger else "primary",
                    disabled=self.word is not None,
                )
                yield Button("Cancel", id="confirm-no")

    def on_mount(self) -> None:
        if self.word is not None:
            self.query_one("#confirm-word", Input).focus()
        else:
            self.query_one("#confirm-yes", Button).focus()

    def _typed(self) -> bool:
        return self.word is None or self.query_one("#confirm-word", Input).value == self.word

    @on(Input.Changed, "#confirm-word")
    def _word_changed(self) -> None:
        self.query_one("#confirm-yes", Button).disabled = not self._typed()

    @on(Input.Submitted, "#confirm-word")
    def _word_submitted(self) -> None:
        if self._typed():
            self.dismiss(True)
        else:
            self.notify(f"Type {self.word} exactly (or escape)", severity="warning", timeout=3)

    @on(Button.Pressed, "#confirm-yes")
    def _yes(self) -> None:
        if self._typed():
            self.dismiss(True)

    @on(Button.Pressed, "#confirm-no")
    def _no(self) -> None:
        self.dismiss(False)

    def action_cancel(self) -> None:
        self.dismiss(False)
