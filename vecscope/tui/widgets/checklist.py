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

from vecscope.core.migrate.states import CHECKLIST, TITLES, Status, Step

#: Each step state's mark and colour (the engine's state names).
STATE_MARK: dict[Status, tuple[str, str]] = {
    Status.PENDING: ("○", "$text-muted"),
    Status.RUNNING: ("▶", "$warning bold"),
    Status.DONE: ("✓", "$success bold"),
    Status.FAILED: ("✗", "$error bold"),
    Status.NOT_NEEDED: ("–", "$text-disabled"),
}


def step_prompt(key: Step, state: Status, note: str = "") -> Content:
    """``✓ 3 Backup  table, 90.5 MB``: mark, number, title and a short note."""
    mark, style = STATE_MARK.get(state, ("?", ""))
    if key == Step.ROLLBACK:
        if state == Status.PENDING:
            mark, style = "↶", "$accent"
        label = "Rolled back" if state == Status.DONE else "Rollback"
    else:
        label = f"{CHECKLIST.index(key) + 1} {TITLES[key]}"
    parts: list[Content | str | tuple[str, str]] = [
        (f"{mark} ", style),
        (label, "$text-muted" if state == Status.NOT_NEEDED else ""),
    ]
    if note:
        parts.append((f"  {note}", "$text-muted"))
    return Content.assemble(*parts)


class Checklist(OptionList):
    """The steps in order; option ids are the step keys."""

    class StepHighlighted(Message):
        def __init__(self, key: Step) -> None:
            super().__init__()
            self.key = key

    class StepChosen(Message):
        def __init__(self, key: Step) -> None:
            super().__init__()
            self.key = key

    def __init__(self, *, id: str | None = None) -> None:
        rows: list[Option | None] = [
            Option(step_prompt(k, Status.PENDING), id=k) for k in CHECKLIST
        ]
        rows.insert(-1, None)  # rollback is an action, apart from the steps
        super().__init__(*rows, id=id)
        self.states: dict[Step, Status] = {k: Status.PENDING for k in CHECKLIST}

    def on_mount(self) -> None:
        self.highlighted = 0

    @property
    def selected_key(self) -> Step:
        option = self.highlighted_option
        return Step(option.id) if option is not None and option.id else CHECKLIST[0]

    def select_key(self, key: str) -> None:
        self.highlighted = self.get_option_index(key)

    def show(self, states: Mapping[Step, Status], notes: Mapping[Step, str]) -> None:
        """Replace every row's mark and note (rows stay; the highlight stays put)."""
        for key in CHECKLIST:
            state = states.get(key, Status.PENDING)
            self.states[key] = state
            self.replace_option_prompt(key, step_prompt(key, state, notes.get(key, "")))

    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        event.stop()
        if event.option_id is not None:
            self.post_message(self.StepHighlighted(Step(event.option_id)))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if event.option_id is not None:
            self.post_message(self.StepChosen(Step(event.option_id)))
