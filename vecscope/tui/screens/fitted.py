"""Every screen's footer fits its width: one mechanism, applied by ``VecscopeScreen``.

The app's mode keys (F2 to F7) take some seventy columns of every footer. A
screen's own keys come first; the mode keys follow with their names where the whole
footer fits the screen's width, else as one group of keys ("f2 f3 ... modes"), else not
at all; on the narrowest screens the screen's last keys go the same way. They
leave the footer, not the keyboard: they still work, ``?``
lists them, and ``ctrl+p`` offers every mode by name. The screen's keys keep the order the
screen declares them in, whichever widget has the focus (a focused TextArea's own keys
would otherwise move the screen's ahead or behind).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from textual.binding import ActiveBinding, Binding
from textual.screen import Screen

#: Columns the footer's palette key ("^p palette") and its margin take.
PALETTE = 13
#: The mode keys as one group ("f2 f3 f4 f5 f6 f7 modes") where their names do not fit.
MODES = Binding.Group("modes", compact=False)
#: Columns around each key in the footer (spaces before, between and after).
KEY_PADDING = 3


def _width(screen: Screen[Any], binding: Binding) -> int:
    return len(screen.app.get_key_display(binding)) + len(binding.description) + KEY_PADDING


def footer_width(screen: Screen[Any], bindings: dict[str, ActiveBinding]) -> int:
    """Columns the stock Footer needs to show ``bindings`` (one entry per action; a
    group's keys share its label)."""
    seen: set[str] = set()
    groups: set[str] = set()
    total = PALETTE
    for active in bindings.values():
        binding = active.binding
        if not binding.show or binding.action in seen:
            continue
        seen.add(binding.action)
        if binding.group is None:
            total += _width(screen, binding)
        else:
            total += len(screen.app.get_key_display(binding)) + 1
            if binding.group.description not in groups:
                groups.add(binding.group.description)
                total += len(binding.group.description) + 2
    return total


def _is_mode_key(screen: Screen[Any], active: ActiveBinding) -> bool:
    return active.node is screen.app and active.binding.action.startswith("switch_mode")


def fitted(screen: Screen[Any], bindings: dict[str, ActiveBinding]) -> dict[str, ActiveBinding]:
    """``bindings`` as the footer of ``screen`` shows them (their display changes, and
    their order: the screen's keys as declared, then Help, then the app's)."""
    declared: list[str] = []
    for cls in type(screen).__mro__:
        for b in getattr(cls, "BINDINGS", ()):
            if isinstance(b, Binding):
                declared.extend(k.strip() for k in b.key.split(","))
    rank = {key: n for n, key in enumerate(dict.fromkeys(declared))}

    def order(item: tuple[str, ActiveBinding]) -> tuple[int, int]:
        key, active = item
        if active.node is screen.app:
            return (2 if _is_mode_key(screen, active) else 1, 0)
        return (0, rank.get(key, len(rank)))

    ordered = dict(sorted(bindings.items(), key=order))
    if footer_width(screen, ordered) <= screen.size.width:
        return ordered
    for change in ({"group": MODES}, {"show": False}):
        shown = {
            key: active._replace(binding=replace(active.binding, **change))
            if _is_mode_key(screen, active)
            else active
            for key, active in ordered.items()
        }
        if footer_width(screen, shown) <= screen.size.width:
            return shown
    # Still too wide (80 columns): the screen's last keys leave the footer too, Help and
    # Quit stay. Those keys work all the same and Help lists them.
    for key in reversed([k for k, a in shown.items() if a.node is not screen.app]):
        active = shown[key]
        if active.binding.show:
            shown[key] = active._replace(binding=replace(active.binding, show=False))
            if footer_width(screen, shown) <= screen.size.width:
                break
    return shown
