"""A malformed DSN opens the connection-error screen at once, with no password on it."""

from __future__ import annotations

from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Static

from tests.conftest import Database
from tests.tui.helpers import capture_notes, screen_text, wait_loaded, wait_until
from vecscope.core.connection import ConnectionTarget
from vecscope.tui.app import VecscopeApp
from vecscope.tui.context import LiveOptions
from vecscope.tui.screens.connection_error import ConnectionErrorScreen

SIZE = (80, 24)
#: libpq parses a DSN without the network, so its error needs no connect timeout.
AT_ONCE_S = 5.0


def _shown(app: VecscopeApp, widget_id: str) -> str:
    return str(app.screen.query_one(widget_id, Static).render())


async def _error_screen_soon(app: VecscopeApp, pilot: Pilot[Any]) -> None:
    """The error screen, within AT_ONCE_S (a connect timeout would take 10 s or more)."""

    def error_screen() -> bool:
        return isinstance(app.screen, ConnectionErrorScreen)

    await wait_until(pilot, error_screen, AT_ONCE_S)


@pytest.mark.parametrize(
    ("dsn", "secret", "start_mode"),
    [
        ("postgresql://app:50%off!Secret@db/x", "50%off!Secret", "indexes"),
        ("postgresql://app:Secret99-bracket@[::1/x", "Secret99-bracket", "indexes"),
        ("host=db password='Spaced Secret Words' bogus=1", "Spaced Secret Words", "live"),
    ],
)
async def test_malformed_dsn_shows_the_error_screen_at_once(
    dsn: str, secret: str, start_mode: str
) -> None:
    live = LiveOptions() if start_mode == "live" else None
    app = VecscopeApp(ConnectionTarget(dsn=dsn), live_options=live, start_mode=start_mode)
    async with app.run_test(size=SIZE) as pilot:
        notes = capture_notes(app)
        await _error_screen_soon(app, pilot)
        await pilot.pause()
        assert _shown(app, "#error-title") == "Invalid connection string"
        assert _shown(app, "#error-message").startswith("invalid DSN: ")
        assert _shown(app, "#error-target") == "Target: invalid DSN"
        text = screen_text(app) + app.sub_title + "".join(notes)
        for piece in {secret} | {secret[i : i + 6] for i in range(len(secret) - 5)}:
            assert piece not in text, piece


async def test_typed_malformed_dsn_then_a_good_one(db: Database) -> None:
    app = VecscopeApp(ConnectionTarget(dsn="postgresql://app:Pct%zzSecret77@/x"))
    async with app.run_test(size=SIZE) as pilot:
        await _error_screen_soon(app, pilot)
        await pilot.pause()
        assert "percent-encoded" in _shown(app, "#error-message")
        # Another malformed DSN typed into the box: the screen says so, never the password.
        await pilot.press("e")
        box = app.screen.query_one("#error-dsn", Input)
        box.value = "password='Typed Secret 55"
        await pilot.press("enter")
        await wait_until(pilot, lambda: "unterminated" in _shown(app, "#error-message"))
        await pilot.pause()
        assert box.value == ""
        for secret in ("Pct%zzSecret77", "Typed Secret 55", "Secret77", "Secret 55"):
            assert secret not in screen_text(app)
        # A working DSN: the Indexes screen comes back.
        box.value = db.dsn
        await pilot.press("enter")
        await wait_loaded(pilot)
        assert not isinstance(app.screen, ConnectionErrorScreen)
