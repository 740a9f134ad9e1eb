"""The questions the Migrate mode asks, each a :class:`ConfirmScreen` with its wording.

Kept apart from the screen so that what the user is asked to confirm (and which name they
must type) reads in one place: dropping the old index, rolling back, dropping leftovers,
resuming a journal, quitting during a step.
"""

from __future__ import annotations

from pathlib import Path

from textual.content import Content

from vecscope.core.migrate.engine import Migration
from vecscope.core.migrate.plan import MigrationSpec, Statement
from vecscope.core.migrate.render import cutover_statements
from vecscope.tui.screens.confirm import ConfirmScreen
from vecscope.tui.widgets.step_results import statement_lines


def cutover_question(spec: MigrationSpec, *, force: bool, before_verify: bool) -> ConfirmScreen:
    """Type the old index's name: the cutover drops it."""
    assert spec.old_name is not None
    title = "Cut over: drop the old index"
    if force:
        title = "Verification did NOT pass: cut over anyway?"
    lines = [
        Content(
            f"The new index {spec.new_name} takes over; {spec.old_name} is dropped"
            + (f" and its name given to {spec.new_name}." if spec.rename else ".")
        )
    ]
    if before_verify:
        lines.append(
            Content("Asked now for the whole run: the cutover runs only if verify passes.")
        )
    lines += [Content(""), *statement_lines(cutover_statements(spec))]
    return ConfirmScreen(
        title, Content("\n").join(lines), word=spec.old_name, action="Drop and cut over"
    )


def rollback_question(mig: Migration, statements: list[str]) -> ConfirmScreen:
    """Type the table's name: the rollback drops (and may rebuild) indexes.

    ``statements`` is :meth:`Migration.rollback_plan`: decided from the catalog, exactly
    what the rollback will run."""
    lines = (
        [
            Content("The rollback runs, from what the database holds now:"),
            Content(""),
            *statement_lines(Statement(s) for s in statements),
        ]
        if statements
        else [Content("The database holds nothing to undo: the rollback only records it.")]
    )
    body = Content("\n").join(lines)
    return ConfirmScreen("Roll the migration back", body, word=mig.spec.table, action="Roll back")


def drop_question(names: tuple[str, ...]) -> ConfirmScreen:
    body = Content(
        "Invalid indexes an interrupted build left behind (never a valid one):\n  "
        + "\n  ".join(names)
        + "\n\nThey are dropped concurrently, then preflight runs again."
    )
    return ConfirmScreen("Drop the invalid leftovers?", body, action="Drop them")


def resume_question(path: Path, line: str) -> ConfirmScreen:
    body = Content.assemble(
        "The newest migration journal of this database is unfinished:\n\n",
        (line, "bold"),
        ("\n" + str(path), "$text-muted"),
        "\n\nResume it? vecscope first compares it with the database and puts both back in "
        "a known state (an interrupted build's invalid index is dropped).",
    )
    return ConfirmScreen("Resume a migration?", body, action="Resume", danger=False)


def quit_question(step: str) -> ConfirmScreen:
    body = Content(
        f"A migration step is running ({step}). Quitting cancels a build (the server stops "
        "it and its invalid index is dropped; the old index keeps serving) or waits for any "
        "other step to end. The journal lets you resume."
    )
    return ConfirmScreen("Quit during a migration?", body, action="Stop it and quit")
