"""The terminal driver: Textual draws through its own copy of the terminal's descriptor.

Textual's Linux driver writes the screen to ``sys.__stderr__``, descriptor 2. FAISS's
C++ code writes its training warnings to descriptor 2 as well, and core collects them
by pointing descriptor 2 at a temporary file while it trains
(:func:`core.faissidx.search.captured_stderr`). Drawing through descriptor 2, the screen
would freeze for the whole training and its escape codes would end up among the notes.
A duplicate of the descriptor, taken before any of that, keeps pointing at the terminal.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from textual.driver import Driver

if sys.platform != "win32":
    from textual.drivers.linux_driver import LinuxDriver

    class OwnDescriptorDriver(LinuxDriver):
        """:class:`LinuxDriver` writing to a duplicate of descriptor 2, not to 2 itself."""

        def __init__(self, app: Any, **kwargs: Any) -> None:
            super().__init__(app, **kwargs)
            stderr = sys.__stderr__
            if stderr is not None:
                # Open for the process's life: a suspended app writes again on resume.
                self._file = os.fdopen(
                    os.dup(stderr.fileno()),
                    "w",
                    encoding=stderr.encoding,
                    errors=stderr.errors,
                )


def driver_class() -> type[Driver] | None:
    """The driver for ``App(driver_class=...)``; ``None`` keeps Textual's choice."""
    if sys.platform == "win32" or os.environ.get("TEXTUAL_DRIVER"):
        return None
    return OwnDescriptorDriver
