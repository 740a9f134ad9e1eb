"""Pilot helpers shared by the TUI tests."""

from __future__ import annotations

import asyncio
from typing import Any

from textual.pilot import Pilot

from tui.screens.indexes import IndexesScreen


async def wait_until(pilot: Pilot[Any], condition: Any, timeout: float = 20.0) -> None:
    """Let the app run until ``condition()`` is true (workers run on threads)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            screen = pilot.app.screen
            shown = ""
            if hasattr(screen, "error"):
                shown = f": {screen.error.message}"
            raise AssertionError(f"timed out waiting for {condition.__name__} on {screen}{shown}")
        await pilot.pause(0.05)


async def wait_loaded(pilot: Pilot[Any]) -> None:
    """Until the Indexes screen shows an inventory and the cursor settled."""
    app = pilot.app

    def loaded() -> bool:
        screen = app.screen
        return isinstance(screen, IndexesScreen) and screen.inventory is not None

    await wait_until(pilot, loaded)
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


def screen_text(app: Any) -> str:
    """Everything on screen, as an SVG export carries it (for 'never shown' checks)."""
    return str(app.export_screenshot())
