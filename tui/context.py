"""What screens need from the app, without importing the app module (which imports them)."""

from __future__ import annotations

from textual.app import App

from core.session import CatalogSession


def session_of(app: App[object]) -> CatalogSession:
    """The app's catalog session (every vecscope app has one)."""
    session = getattr(app, "session", None)
    if not isinstance(session, CatalogSession):
        raise TypeError("this app has no vecscope catalog session")
    return session
