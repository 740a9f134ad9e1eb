"""``vecscope replay FILE``: the Live mode on a recording, with no database at all."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from textual.app import App
from textual.binding import Binding, BindingType

from vecscope.tui.screens.help import HelpScreen
from vecscope.tui.screens.live import LiveScreen
from vecscope.tui.terminal import driver_class


class ReplayApp(App[int]):
    """One screen: the Live mode reading a recording instead of a server."""

    TITLE = "vecscope"
    CSS_PATH = "styles/app.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark,f1", "help", "Help", key_display="?"),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, path: Path) -> None:
        super().__init__(driver_class=driver_class())
        self.path = path

    def on_mount(self) -> None:
        self.push_screen(LiveScreen(replay=self.path))

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def on_worker_failed(self, event: Any) -> None:
        self.notify(str(getattr(event, "error", event)), severity="error")
