"""The migration's checklist: one row per step with its state mark, rollback last.

Highlighting a row posts :class:`Checklist.StepHighlighted` (the panel beside it follows);
``enter`` on a row posts :class:`Checklist.StepChosen` (the screen runs that step).
"""

from __future__ import annotations

from collections.abc import Mapping

from textual.content import Content
from textual.message import Message
from textual.widgets import OptionList
from textual.widgets.option_list import Option

from vecscope.tui.migrate_steps import STEP_KEYS, TITLES

#: Each step state's mark and colour (the engine's state names).
STATE_MARK = {
    "pending": ("○", "$text-muted"),
    "running": ("▶", "$warning bold"),
    "done": ("✓", "$success bold"),
    "failed": ("✗", "$error bold"),
    "not needed": ("–", "$text-disabled"),
}


def step_prompt(key: str, state: str, note: str = "") -> Content:
    """``✓ 3 Backup  table, 90.5 MB``: mark, number, title and a short note."""
    mark, style = STATE_MARK.get(state, ("?", ""))
    if key == "rollback":
        if state == "pending":
            mark, style = "↶", "$accent"
        label = "Rolled back" if state == "done" else "Rollback"
    else:
        label = f"{STEP_KEYS.index(key) + 1} {TITLES[key]}"
    parts: list[Content | str | tuple[str, str]] = [
        (f"{mark} ", style),
        (label, "$text-muted" if state == "not needed" else ""),
    ]
    if note:
        parts.append((f"  {note}", "$text-muted"))
    return Content.assemble(*parts)


class Checklist(OptionList):
    """The steps in order; option ids are the step keys."""

    class StepHighlighted(Message):
        def __init__(self, key: str) -> None:
            super().__init__()
            self.key = key

    class StepChosen(Message):
        def __init__(self, key: str) -> None:
            super().__init__()
            self.key = key

    def __init__(self, *, id: str | None = None) -> None:
        rows: list[Option | None] = [Option(step_prompt(k, "pending"), id=k) for k in STEP_KEYS]
        rows.insert(-1, None)  # rollback is an action, apart from the steps
        super().__init__(*rows, id=id)
        self.states: dict[str, str] = {k: "pending" for k in STEP_KEYS}

    def on_mount(self) -> None:
        self.highlighted = 0

    @property
    def selected_key(self) -> str:
        option = self.highlighted_option
        return option.id if option is not None and option.id else STEP_KEYS[0]

    def select_key(self, key: str) -> None:
        self.highlighted = self.get_option_index(key)

    def show(self, states: Mapping[str, str], notes: Mapping[str, str]) -> None:
        """Replace every row's mark and note (rows stay; the highlight stays put)."""
        for key in STEP_KEYS:
            state = states.get(key, "pending")
            self.states[key] = state
            self.replace_option_prompt(key, step_prompt(key, state, notes.get(key, "")))

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        if event.option_id is not None:
            self.post_message(self.StepHighlighted(event.option_id))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option_id is not None:
            self.post_message(self.StepChosen(event.option_id))
