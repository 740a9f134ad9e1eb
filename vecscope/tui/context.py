"""What screens need from the app, without importing the app module (which imports them)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual.app import App

from vecscope.core.session import CatalogSession


@dataclass(frozen=True)
class LiveOptions:
    """How ``vecscope live`` opens the mode (defaults for the F7 key)."""

    interval_s: float = 2.0
    record: Path | None = None
    query_text: bool = True


def session_of(app: App[object]) -> CatalogSession:
    """The app's catalog session (every vecscope app has one)."""
    session = getattr(app, "session", None)
    if not isinstance(session, CatalogSession):
        raise TypeError("this app has no vecscope catalog session")
    return session


def faiss_dir_of(app: App[object]) -> Path:
    """The folder the FAISS mode browses first: the app's ``faiss_dir``, else the cwd."""
    folder = getattr(app, "faiss_dir", None)
    return folder if isinstance(folder, Path) else Path.cwd()


def live_options_of(app: App[object]) -> LiveOptions | None:
    """How the app's Live mode polls and records (``vecscope live`` sets them)."""
    options = getattr(app, "live_options", None)
    return options if isinstance(options, LiveOptions) else None
