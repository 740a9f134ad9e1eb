"""What the user sees when the server cannot be reached or has no pgvector.

A clear message, what to try, and a way to reconnect: retry as is, or give another DSN.
Nothing here ever shows a password: the message and the target description are redacted.
"""

from __future__ import annotations

from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Static
from textual.worker import Worker, WorkerState, get_current_worker

from vecscope.core.connection import ConnectionTarget, redact
from vecscope.core.errors import ConnectError, DsnError, ExtensionMissingError, VecscopeError
from vecscope.core.models import Inventory
from vecscope.tui.context import session_of

#: The first class the error is an instance of gives the hint (DsnError before ConnectError).
_HINTS = {
    DsnError: "Press e and give the connection string again: in a URI, special characters "
    "of the password are percent-encoded (% as %25, @ as %40). It is never shown here.",
    ConnectError: "Check host, port, user and database; the password comes from the DSN, "
    "PGPASSWORD or ~/.pgpass and is never shown here.",
    ExtensionMissingError: "vecscope never installs extensions itself. Install pgvector, "
    "then press r to retry.",
}


def _hint(error: VecscopeError) -> str:
    return next((h for cls, h in _HINTS.items() if isinstance(error, cls)), "")


class ConnectionErrorScreen(Screen[None]):
    """Shown instead of a screen that could not load; r retries, e edits the connection."""

    #: Nothing focused at first: the keys (r, e) work at once, and the DSN box takes
    #: typing only after e (a focused box would swallow the r the screen asks for).
    AUTO_FOCUS = ""

    class Recovered(Message):
        """The connection works again; carries the inventory read to prove it."""

        def __init__(self, inventory: Inventory) -> None:
            super().__init__()
            self.inventory = inventory

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "retry", "Retry"),
        Binding("e", "edit", "Edit connection"),
        Binding("escape", "blur", "Back", show=False),
    ]

    def __init__(self, error: VecscopeError, target: ConnectionTarget) -> None:
        super().__init__()
        self.error = error
        self.target = target

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="error-panel"):
            yield Static(self.error.title, id="error-title")
            yield Static(self.error.message, id="error-message", markup=False)
            yield Static(_hint(self.error), id="error-hint", markup=False)
            yield Static(f"Target: {self.target.describe()}", id="error-target", markup=False)
            yield Input(
                placeholder="another DSN (postgresql://user@host:5432/db), enter to connect",
                id="error-dsn",
                password=False,
            )
        yield Footer()

    def action_edit(self) -> None:
        self.query_one("#error-dsn", Input).focus()

    def action_blur(self) -> None:
        self.set_focus(None)

    def action_retry(self) -> None:
        self.try_connect(self.target)

    @on(Input.Submitted, "#error-dsn")
    def dsn_submitted(self, event: Input.Submitted) -> None:
        value = event.value.strip()
        target = ConnectionTarget(dsn=value) if value else self.target
        # Never leave a typed password on screen.
        event.input.value = ""
        self.try_connect(target)

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="connect",
        description="Reconnecting",
    )
    def try_connect(self, target: ConnectionTarget) -> None:
        session = session_of(self.app)
        session.retarget(target)
        # Connect and read the inventory: a database without pgvector must fail here too.
        inventory = session.inventory()
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._recovered, inventory)

    def _recovered(self, inventory: Inventory) -> None:
        self.app.post_message(self.Recovered(inventory))
        self.dismiss()

    @on(Worker.StateChanged)
    def retry_failed(self, event: Worker.StateChanged) -> None:
        # Handled here, not by the app's route: this screen already shows the error.
        if event.worker.group != "connect" or event.state != WorkerState.ERROR:
            return
        event.stop()
        error = event.worker.error
        if not isinstance(error, VecscopeError):
            secrets = session_of(self.app).target.secrets()
            error = VecscopeError(redact(f"{type(error).__name__}: {error}", secrets=secrets))
        self.error = error
        self.query_one("#error-title", Static).update(error.title)
        self.query_one("#error-message", Static).update(error.message)
        self.query_one("#error-hint", Static).update(_hint(error))
        target = session_of(self.app).target
        self.query_one("#error-target", Static).update(f"Target: {target.describe()}")
        self.app.notify("Still cannot connect", severity="warning", timeout=3)
