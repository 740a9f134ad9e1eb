"""The base of vecscope's screens: worker failures go to the app's one error route.

``Worker.StateChanged`` does not bubble, so each screen forwards its failed workers to
the app as :class:`WorkerFailed`; the app alone decides between a screen and a toast.
"""

from __future__ import annotations

from collections.abc import Iterable

from textual import events, on
from textual.app import SystemCommand
from textual.binding import ActiveBinding
from textual.message import Message
from textual.message_pump import MessagePump
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from vecscope.tui.screens.fitted import fitted


class WorkerFailed(Message):
    """A worker of some screen ended with an exception."""

    def __init__(self, error: BaseException | None, description: str) -> None:
        super().__init__()
        self.error = error
        self.description = description


def forward_worker_error(node: MessagePump, event: Worker.StateChanged) -> None:
    """Send a failed worker of ``node`` to the app (widgets with workers call this too)."""
    if event.state == WorkerState.ERROR:
        node.app.post_message(WorkerFailed(event.worker.error, event.worker.description))


class VecscopeScreen(Screen[None]):
    """A screen whose worker errors reach ``VecscopeApp``'s single handler, which offers
    its own commands to the palette (:meth:`palette_commands`), and whose footer fits its
    width (:func:`~vecscope.tui.screens.fitted.fitted`)."""

    @property
    def active_bindings(self) -> dict[str, ActiveBinding]:
        return fitted(self, super().active_bindings)

    def on_resize(self, event: events.Resize) -> None:
        # The footer is composed from active_bindings, which depend on the width.
        self.call_after_refresh(self.refresh_bindings)

    def palette_commands(self) -> Iterable[SystemCommand]:
        """This screen's entries in the command palette (``ctrl+p``), beside the app's."""
        return ()

    @on(Worker.StateChanged)
    def _forward_worker_error(self, event: Worker.StateChanged) -> None:
        forward_worker_error(self, event)
