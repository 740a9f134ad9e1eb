"""The Migrate mode's look at the sizes people run it at: the plan form usable from 80x24
up, a rename checkbox whose off state reads off, and a checklist that shows what a
rollback left in the database (issue #15). Driven with Pilot on the real demo database."""

from __future__ import annotations

from typing import Any

import pytest
from textual.geometry import Region
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import Input, Label, Select, Static

from tests.conftest import Database
from tests.tui.helpers import click, wait_loaded, wait_until
from vecscope.core.migrate.backup import BackupRecord
from vecscope.core.migrate.engine import CutoverResult
from vecscope.core.migrate.observe import Phase
from vecscope.core.migrate.states import Status, Step
from vecscope.tui.app import VecscopeApp
from vecscope.tui.screens.backup_choice import BackupChoiceScreen
from vecscope.tui.screens.confirm import ConfirmScreen
from vecscope.tui.screens.migrate import MigrateScreen
from vecscope.tui.widgets.checklist import Checklist
from vecscope.tui.widgets.inventory_table import InventoryTable
from vecscope.tui.widgets.migrate_step import StepPanel
from vecscope.tui.widgets.plan_form import PlanForm, StateCheckbox

#: Every field of the plan form tab reaches when HNSW is planned (``plan-lists`` is for
#: IVFFlat only, disabled).
FIELDS = (
    "plan-source",
    "plan-method",
    "plan-m",
    "plan-ef",
    "plan-opclass",
    "plan-name",
    "plan-mwm",
    "plan-memory",
    "plan-rename",
    "plan-go",
)
#: Each step really runs on a shared two-core machine: generous, never a race.
STEP_TIMEOUT = 180.0


async def _open_on(pilot: Pilot[Any], row: str) -> MigrateScreen:
    """``m`` on an Indexes row; until the Migrate mode has planned it and settled."""
    app = pilot.app
    await wait_loaded(pilot)
    table = app.screen.query_one(InventoryTable)
    table.focus()
    table.move_cursor(row=table.get_row_index(row))
    await pilot.press("m")

    def planned() -> bool:
        screen = app.screen
        return isinstance(screen, MigrateScreen) and screen.board.spec is not None

    await wait_until(pilot, planned, timeout=60)
    await app.workers.wait_for_complete()
    await pilot.pause()
    screen = app.screen
    assert isinstance(screen, MigrateScreen)
    return screen


def _label_of(widget: Widget) -> Label | None:
    """The form label just before ``widget`` (the checkbox and the button have none)."""
    parent = widget.parent
    assert parent is not None
    siblings = list(parent.children)
    before = siblings[siblings.index(widget) - 1]
    return before if isinstance(before, Label) else None


def _shown_whole(screen: MigrateScreen, widget: Widget) -> bool:
    """``widget`` is on screen, whole, inside the step panel's visible part."""
    region = widget.region
    panel = screen.query_one(StepPanel)
    return (
        region.area > 0
        and Region(0, 0, *screen.size).contains_region(region)
        and panel.scrollable_content_region.contains_region(region)
        and screen.can_view_entire(widget)
    )


async def _check_every_field(pilot: Pilot[Any], screen: MigrateScreen) -> None:
    """Tab from the source through the form: each field comes into view, wide enough,
    with its label whole beside it, on the same line."""
    source = screen.query_one("#plan-source", Select)
    await pilot.press("p")  # the Plan step, its source focused
    await wait_until(pilot, lambda: screen.focused is source)
    seen: list[str] = []
    for _ in FIELDS:
        focused = screen.focused
        assert focused is not None and focused.id in FIELDS, focused
        expected = focused.id
        await wait_until(pilot, lambda w=focused: _shown_whole(screen, w))
        region = focused.region
        assert region.height == 1, (expected, region)
        assert region.width >= (8 if expected != "plan-source" else 20), (expected, region)
        label = _label_of(focused)
        if label is not None:
            text = str(label.render())
            assert label.region.width >= len(text), (expected, text, label.region)
            assert label.region.y == region.y, (expected, label.region, region)
            assert _shown_whole(screen, label), (expected, label.region)
        seen.append(expected)
        await pilot.press("tab")
        await pilot.pause()
    assert sorted(seen) == sorted(FIELDS)  # each once, none skipped


@pytest.mark.parametrize(
    "size", [(80, 24), (100, 30), (160, 48)], ids=lambda s: "x".join(map(str, s))
)
async def test_every_plan_field_is_reachable_and_readable(
    demo_db: Database, size: tuple[int, int]
) -> None:
    app = VecscopeApp(demo_db.target)
    async with app.run_test(size=size) as pilot:
        screen = await _open_on(pilot, "ix:public.idx_doc_chunks_embedding")
        screen.query_one(Checklist).select_key(Step.PLAN)
        await pilot.pause()
        await _check_every_field(pilot, screen)
        # The planned values fill the fields' placeholders, in full where there is room.
        name = screen.query_one("#plan-name", Input)
        assert name.placeholder == "doc_chunks_embedding_hnsw_idx"
        if size[0] >= 120:
            assert name.region.width > len(name.placeholder)


async def test_the_form_uses_the_room_of_a_wide_terminal(demo_db: Database) -> None:
    """At 80x24 one field a row; from 100 columns two, so the form takes fewer lines."""
    heights: dict[int, int] = {}
    for size in ((80, 24), (120, 36)):
        app = VecscopeApp(demo_db.target)
        async with app.run_test(size=size) as pilot:
            screen = await _open_on(pilot, "ix:public.idx_doc_chunks_embedding")
            form = screen.query_one(PlanForm)
            m, ef = screen.query_one("#plan-m"), screen.query_one("#plan-ef")
            if size[0] < 100:
                assert ef.region.y == m.region.y + 1
            else:
                assert ef.region.y == m.region.y + 1 or ef.region.y == m.region.y
                method = screen.query_one("#plan-method")
                assert m.region.y == method.region.y  # m beside the method
            heights[size[0]] = form.region.height
    assert heights[120] < heights[80]


async def test_rename_checkbox_says_off_and_on(demo_db: Database) -> None:
    app = VecscopeApp(demo_db.target)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open_on(pilot, "ix:public.idx_doc_chunks_embedding")
        box = screen.query_one("#plan-rename", StateCheckbox)
        off = str(box.render())
        assert not box.value
        assert off.startswith("[ ] off") and "rename" in off
        assert "X" not in off and "✓" not in off  # no glyph that reads as a tick
        box.focus()
        await wait_until(pilot, lambda: _shown_whole(screen, box))
        await pilot.press("space")
        await wait_until(pilot, lambda: box.value)
        on = str(box.render())
        assert on.startswith("[✓] on") and "rename" in on
        assert len(on) == len(off)  # the label does not jump
        form = screen.query_one(PlanForm)
        choice = form.choice()
        assert choice is not None and choice.rename
        await pilot.press("space")
        await wait_until(pilot, lambda: not box.value)
        assert str(box.render()) == off


def _prompt(checklist: Checklist, key: Step) -> str:
    return str(checklist.get_option(key).prompt)


async def _select(pilot: Pilot[Any], screen: MigrateScreen, key: str) -> None:
    checklist = screen.query_one(Checklist)
    checklist.focus()
    checklist.select_key(key)
    await pilot.pause()


async def _until_idle(pilot: Pilot[Any], screen: MigrateScreen, key: str) -> None:
    board = screen.board

    def ended() -> bool:
        return board.running is None and (key in board.results or key in board.errors)

    await wait_until(pilot, ended, timeout=STEP_TIMEOUT)
    await pilot.pause()


async def _run(pilot: Pilot[Any], screen: MigrateScreen, key: str) -> None:
    await _select(pilot, screen, key)
    await pilot.press("enter")
    await _until_idle(pilot, screen, key)
    assert key not in screen.board.errors, screen.board.errors


async def _type(pilot: Pilot[Any], text: str) -> None:
    await pilot.press(*["space" if ch == " " else ch for ch in text])


async def test_after_rollback_the_checklist_shows_the_database(demo_db: Database) -> None:
    app = VecscopeApp(demo_db.target)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await _open_on(pilot, "ix:public.idx_doc_chunks_embedding")
        checklist = screen.query_one(Checklist)
        await _run(pilot, screen, "preflight")

        await _select(pilot, screen, "backup")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, BackupChoiceScreen))
        await pilot.pause()
        await click(pilot, "#backup-confirmed")
        app.screen.query_one("#backup-identifier", Input).focus()
        await _type(pilot, "pitr-before-migration")
        await pilot.press("enter")
        await _until_idle(pilot, screen, "backup")
        assert isinstance(screen.board.results[Step.BACKUP], BackupRecord)

        for key in ("baseline", "build", "verify"):
            await _run(pilot, screen, key)

        await _select(pilot, screen, "cutover")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.pause()
        await _type(pilot, "idx_doc_chunks_embedding")
        await pilot.press("enter")
        await _until_idle(pilot, screen, "cutover")
        assert isinstance(screen.board.results[Step.CUTOVER], CutoverResult)
        for key in (Step.BUILD, Step.VERIFY, Step.CUTOVER):
            assert checklist.states[key] == Status.DONE
        assert _prompt(checklist, Step.CUTOVER).startswith("✓ 7 Cutover")

        await pilot.press("x")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.pause()
        await _type(pilot, "doc_chunks")
        await pilot.press("enter")
        await _until_idle(pilot, screen, "rollback")
        await app.workers.wait_for_complete()
        await pilot.pause()

        # The catalog: the old IVFFlat back, the new index gone; the checklist says so.
        assert checklist.states[Step.ROLLBACK] == Status.DONE
        for key, number in ((Step.BUILD, 5), (Step.VERIFY, 6), (Step.CUTOVER, 7)):
            assert checklist.states[key] == Status.PENDING
            prompt = _prompt(checklist, key)
            assert prompt.startswith(f"○ {number} ") and "undone" in prompt, prompt
            assert "✓" not in prompt
        # What did happen, and left something behind, stays done: the backup's record.
        assert checklist.states[Step.BACKUP] == Status.DONE
        assert _prompt(checklist, Step.ROLLBACK).startswith("✓ Rolled back")

        # The panel of an undone step says so, not "enter runs this step".
        await _select(pilot, screen, "cutover")
        head = str(screen.query_one("#step-head", Static).render())
        assert "undone by the rollback" in head
        # (read off the catalog after the rollback, the one truth recovery decides from)
        assert screen.board.seen == Phase.BEFORE_BUILD
