"""A long job's status on a text stream (stderr): one line rewritten in place on a
terminal, plain lines at a modest rate elsewhere (a log, a pipe, CI).

Core produces typed progress records; the command line (and the demo's launcher, which
prints before the TUI opens) turns each into text and hands it to :class:`StatusLine`,
which decides what reaches the stream: nothing until the job has run
``show_after_s``, then at most a line every ``every_s``. Lines that must stay (a step
done) go through :meth:`StatusLine.line`, which first clears a status drawn on a
terminal so the two never tear each other.

``VECSCOPE_PROGRESS_S`` sets ``every_s`` (and ``show_after_s`` to twice it) for every
status line of the process: the tests set it to 0 to see every record.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import time
from types import TracebackType
from typing import TextIO

ENV = "VECSCOPE_PROGRESS_S"
#: At most one status line a second.
EVERY_S = 1.0
#: A job done within this long shows no status at all.
SHOW_AFTER_S = 2.0


def interval_from_env() -> float | None:
    """``VECSCOPE_PROGRESS_S`` as seconds (``None``: unset or not a number >= 0)."""
    raw = os.environ.get(ENV, "").strip()
    try:
        value = float(raw) if raw else None
    except ValueError:
        return None
    return value if value is not None and value >= 0 else None


class StatusLine:
    """See the module docstring. Thread-safe: index builds report from their threads."""

    def __init__(
        self,
        stream: TextIO,
        *,
        every_s: float | None = None,
        show_after_s: float | None = None,
        tty: bool | None = None,
    ) -> None:
        env = interval_from_env()
        self.every_s = every_s if every_s is not None else env if env is not None else EVERY_S
        if show_after_s is None:
            show_after_s = 2 * env if env is not None else SHOW_AFTER_S
        self.show_after_s = show_after_s
        self._stream = stream
        if tty is None:
            with contextlib.suppress(AttributeError, ValueError, OSError):
                tty = stream.isatty()
        self.tty = bool(tty)
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._last_at = float("-inf")
        self._last_text = ""
        self._drawn = False

    def __enter__(self) -> StatusLine:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def restart(self) -> None:
        """A new job on the same line: its own ``show_after_s`` counts from now."""
        with self._lock:
            self._clear()
            self._started = time.monotonic()
            self._last_at = float("-inf")
            self._last_text = ""

    def update(self, text: str) -> None:
        """The job's status now; shown if it is time to."""
        now = time.monotonic()
        with self._lock:
            if now - self._started < self.show_after_s or now - self._last_at < self.every_s:
                return
            if text == self._last_text and not self.tty:
                return
            self._last_at, self._last_text = now, text
            if self.tty:
                width = max(20, shutil.get_terminal_size().columns - 1)
                self._write(f"\r\x1b[K{text[:width]}")
                self._drawn = True
            else:
                self._write(text + "\n")

    def line(self, text: str) -> None:
        """A line that stays (the status, if drawn, is cleared first and redrawn by the
        next update)."""
        with self._lock:
            if self._drawn:
                self._clear()
                self._last_at = float("-inf")  # redrawn at the next update
            self._write(text + "\n")

    def close(self) -> None:
        """Clear a status drawn on a terminal (the job is over)."""
        with self._lock:
            self._clear()

    def _clear(self) -> None:
        if self._drawn:
            self._write("\r\x1b[K")
            self._drawn = False

    def _write(self, text: str) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._stream.write(text)
            self._stream.flush()
