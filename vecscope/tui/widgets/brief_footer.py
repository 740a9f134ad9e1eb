"""A footer with the screen's own keys and Help, for screens whose keys must fit 80 columns.

The app's mode keys take some fifty columns of every footer; on a screen with keys of
its own, an 80-column footer would cut those off. This footer leaves the app's keys to
Help (which lists every key) and keeps the screen's and Help's.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widget import Widget
from textual.widgets import Footer

# Footer composes FooterKey widgets, which Textual does not export: filtering what the
# stock compose yields keeps its layout, grouping and palette key as they are.
from textual.widgets._footer import FooterKey


class BriefFooter(Footer):
    """:class:`~textual.widgets.Footer` without the app's keys, but for ``keep``."""

    def __init__(self, *, keep: tuple[str, ...] = ("help",)) -> None:
        super().__init__()
        #: Actions of app-wide keys shown all the same.
        self.keep = keep

    def compose(self) -> ComposeResult:
        active = self.screen.active_bindings
        app_keys = {
            key
            for key, (node, binding, _enabled, _tooltip) in active.items()
            if node is self.app and binding.action not in self.keep
        }
        # In the order the screen declares its keys, whichever widget has the focus (a
        # focused TextArea's own f6 would otherwise put the screen's f6 first).
        declared = [b.key for b in self.screen.BINDINGS if isinstance(b, Binding)]
        rank = {k.strip(): n for n, keys in enumerate(declared) for k in keys.split(",")}
        keys: list[FooterKey] = []
        rest: list[Widget] = []
        for widget in super().compose():
            if not isinstance(widget, FooterKey) or widget.has_class("-command-palette"):
                rest.append(widget)
            elif widget.key not in app_keys:
                keys.append(widget)
        keys.sort(key=lambda k: rank.get(k.key, len(rank)))
        yield from keys
        yield from rest
