"""The base of vecscope's screens: worker failures go to the app's one error route.

``Worker.StateChanged`` does not bubble, so each screen forwards its failed workers to
the app as :class:`WorkerFailed`; the app alone decides between a screen and a toast.
"""

from __future__ import annotations

from collections.abc import Iterable

from textual import on
from textual.app import SystemCommand
from textual.message import Message
from textual.message_pump import MessagePump
from textual.screen import Screen
from textual.worker import Worker, WorkerState


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
    """A screen whose worker errors reach ``VecscopeApp``'s single handler, and which
    offers its own commands to the palette (:meth:`palette_commands`)."""

    def palette_commands(self) -> Iterable[SystemCommand]:
        """This screen's entries in the command palette (``ctrl+p``), beside the app's."""
        return ()

    @on(Worker.StateChanged)
    def _forward_worker_error(self, event: Worker.StateChanged) -> None:
        forward_worker_error(self, event)
