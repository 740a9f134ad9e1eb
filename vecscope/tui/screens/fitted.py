"""Footers that fit 80 columns.

The app's mode keys (F2 to F7) take 70 columns of every footer; on a screen narrower than
:data:`WIDE` they would push the screen's own keys, and Quit, out of sight. A screen
that calls :func:`fitted` leaves them out of its footer below that width: they still
work, ``?`` lists them, and ``ctrl+p`` offers every mode by name.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from textual.binding import ActiveBinding
from textual.screen import Screen

#: From this many columns a footer has room for the mode keys (the Live mode's needs 150).
WIDE = 160


def fitted(screen: Screen[Any], bindings: dict[str, ActiveBinding]) -> dict[str, ActiveBinding]:
    """``bindings`` as the footer of ``screen`` shows them (only their display changes)."""
    if screen.size.width >= WIDE:
        return bindings
    return {
        key: active._replace(binding=replace(active.binding, show=False))
        if active.node is screen.app and active.binding.action.startswith("switch_mode")
        else active
        for key, active in bindings.items()
    }


def crossed(before: int, after: int) -> bool:
    """A resize from ``before`` to ``after`` columns changes what the footer shows."""
    return (before >= WIDE) != (after >= WIDE)
