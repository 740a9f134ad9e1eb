"""The Plan step's form: what to migrate and how; empty fields leave the choice to vecscope.

Changing the source or the method plans again at once; ``enter`` in a field or the Plan
button does too. The form reads the inventory and asks :func:`core.migrate.plan.choose`
in thread workers, and posts :class:`PlanForm.Planned` with the spec or the one-line
reason there is none. A started migration locks the form: its plan is in the journal.
Where no migration can run at all (a hot standby, a read-only session), the form says why
before anything is filled in and stays disabled (:func:`core.migrate.refusal.refusal`).
"""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Container, Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import Button, Checkbox, Input, Label, Select, Static
from textual.worker import Worker, get_current_worker

from vecscope.core.errors import BadInputError
from vecscope.core.migrate.choice import PlanChoice, source_options
from vecscope.core.migrate.plan import MigrationSpec
from vecscope.core.migrate.refusal import refusal
from vecscope.core.models import Inventory
from vecscope.tui.context import session_of
from vecscope.tui.screens.base import forward_worker_error

METHODS = [("hnsw", "hnsw"), ("ivfflat", "ivfflat"), ("reindex (same definition)", "reindex")]
#: Inputs and the method they apply to.
_INTS = {"plan-m": "hnsw", "plan-ef": "hnsw", "plan-lists": "ivfflat"}
_NOT_FOR_REINDEX = ("plan-opclass", "plan-name", "plan-rename")


def _int(box: Input) -> int | None:
    text = box.value.strip()
    return int(text) if text.isdigit() else None


class StateCheckbox(Checkbox):
    """A compact checkbox that says its state: ``[ ] off`` or ``[✓] on``, then the label.

    Textual's checkbox draws the same ``X`` on and off, only coloured differently: on a
    terminal with few colours an unticked box reads as ticked.
    """

    def __init__(self, label: str, *, id: str | None = None) -> None:
        super().__init__(label, id=id, compact=True)

    @property
    def _button(self) -> Content:
        style = self.get_visual_style("toggle--button")
        if self.value:
            return Content.assemble("[", ("✓", style), "] on ")
        return Content.assemble(("[ ] off", "$text-muted"))

    def render(self) -> Content:
        label = self.label.pad(1, 1).stylize_before(self.get_visual_style("toggle--label"))
        return Content.assemble(self._button, label)


class PlanForm(Vertical):
    """Source, method and parameters; posts :class:`PlanForm.Planned`."""

    class Planned(Message):
        """``choice`` planned: ``spec``, or ``None`` and ``error`` saying why not."""

        def __init__(self, choice: PlanChoice, spec: MigrationSpec | None, error: str) -> None:
            super().__init__()
            self.choice = choice
            self.spec = spec
            self.error = error

    class RefusalChecked(Message):
        """Whether a migration may run on this connection: ``reason`` says why not."""

        def __init__(self, reason: str | None) -> None:
            super().__init__()
            self.reason = reason

    class _InventoryRead(Message, bubble=False):
        def __init__(self, inventory: Inventory, refused: str | None) -> None:
            super().__init__()
            self.inventory = inventory
            self.refused = refused

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.inventory: Inventory | None = None
        self._sources: list[tuple[str, str]] = []
        self._locked = False
        self._pending: str | None = None
        #: Why no migration can run on this connection (``None``: one may).
        self.refused: str | None = None

    def compose(self) -> ComposeResult:
        # One grid, label then field, in reading order: two columns (one field a row) on
        # a narrow panel, four on a wide one (MigrateScreen's CSS places and spans them).
        with Container(id="plan-fields"):
            yield Label("source", classes="form-label")
            yield Select[str]([], prompt="an index or a column", id="plan-source", compact=True)
            yield Label("method", classes="form-label")
            yield Select[str](
                METHODS, value="hnsw", allow_blank=False, id="plan-method", compact=True
            )
            for label, box_id, hint in (
                ("m", "plan-m", ""),
                ("ef_construction", "plan-ef", ""),
                ("lists", "plan-lists", ""),
                ("opclass", "plan-opclass", "the source's"),
                ("new name", "plan-name", "chosen for you"),
                ("work mem MB", "plan-mwm", "auto"),
                ("max MB", "plan-memory", "4096"),
            ):
                yield Label(label, classes="form-label")
                numeric = box_id not in ("plan-opclass", "plan-name")
                yield Input(
                    id=box_id,
                    type="integer" if numeric else "text",
                    placeholder=hint,
                    compact=True,
                )
            yield StateCheckbox("rename to old name after cutover", id="plan-rename")
            yield Button("Plan", id="plan-go", variant="primary", compact=True)
        error = Static(id="plan-error")
        error.display = False  # until there is an error to show
        yield error

    def on_mount(self) -> None:
        self._method_changed("hnsw")
        self.reload()

    # --- the inventory and the sources -----------------------------------------------

    def reload(self) -> None:
        """Read the inventory again (indexes come and go during a migration)."""
        self.read_inventory()

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="plan-inventory",
        description="Reading the vector indexes to migrate",
    )
    def read_inventory(self) -> None:
        session = session_of(self.app)
        inventory = session.inventory()
        refused = session.run(lambda conn: refusal(conn, inventory, session.target))
        if not get_current_worker().is_cancelled:
            self.post_message(self._InventoryRead(inventory, refused))

    @on(_InventoryRead)
    def _inventory_read(self, event: _InventoryRead) -> None:
        self._show_sources(event.inventory)
        if event.refused != self.refused:
            self.refused = event.refused
            self._enable()
            self.show_error(event.refused)
            self.post_message(self.RefusalChecked(event.refused))
        if self._pending is not None:
            self.open_source(self._pending)

    def _show_sources(self, inventory: Inventory) -> None:
        """Offer the inventory's sources, keeping the chosen one (without planning again)."""
        self.inventory = inventory
        options = source_options(inventory)
        if options == self._sources:
            return
        self._sources = options
        source = self.query_one("#plan-source", Select)
        current = source.value
        with self.prevent(Select.Changed):
            source.set_options(options)
            if any(v == current for _, v in options):
                source.value = current

    def open_source(self, value: str) -> None:
        """Pick ``value`` and plan it (once the inventory is read)."""
        if self.inventory is None:
            self._pending = value
            return
        self._pending = None
        source = self.query_one("#plan-source", Select)
        if source.value == value:
            self.request()
        else:
            source.value = value  # Changed plans it

    # --- planning --------------------------------------------------------------------

    def request(self) -> None:
        """Plan what the form says (the Plan button)."""
        choice = self.choice()
        if self.refused is not None:
            self.app.notify(self.refused, title="Cannot migrate here", severity="error")
        elif choice is None:
            self.show_error("pick the index (or the column) to migrate")
        elif self._locked:
            self.app.notify(
                "A migration is under way: finish it or roll it back (x) to plan another",
                severity="warning",
                timeout=4,
            )
        else:
            self.make_plan(choice)

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="plan-make",
        description="Planning the migration",
    )
    def make_plan(self, choice: PlanChoice) -> None:
        session = session_of(self.app)
        inventory = session.inventory()
        refused = session.run(lambda conn: refusal(conn, inventory, session.target))
        self.post_message(self._InventoryRead(inventory, refused))
        try:
            spec, error = (choice.spec(inventory), "") if refused is None else (None, refused)
        except BadInputError as e:
            spec, error = None, e.message
        if not get_current_worker().is_cancelled:
            self.post_message(self.Planned(choice, spec, error))

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        forward_worker_error(self, event)

    def show_spec(self, spec: MigrationSpec | None, error: str | None) -> None:
        """The planned values become the fields' placeholders (empty fields keep them)."""
        params = spec.params if spec else {}
        self.query_one("#plan-m", Input).placeholder = str(params.get("m", ""))
        self.query_one("#plan-ef", Input).placeholder = str(params.get("ef_construction", ""))
        self.query_one("#plan-lists", Input).placeholder = str(params.get("lists", ""))
        self.query_one("#plan-opclass", Input).placeholder = spec.opclass if spec else ""
        self.query_one("#plan-name", Input).placeholder = spec.new_name if spec else ""
        self.show_error(error)

    def show_error(self, message: str | None) -> None:
        error = self.query_one("#plan-error", Static)
        error.update(
            Content.assemble(("✗ ", "$error bold"), (message, "$error")) if message else ""
        )
        error.display = bool(message)  # no blank line under the fields

    def set_locked(self, locked: bool) -> None:
        """A started migration keeps its plan: the fields are read only until it ends."""
        if locked == self._locked:
            return
        self._locked = locked
        self._enable()

    def _enable(self) -> None:
        """Fields and the Plan button usable unless locked or refused."""
        off = self._locked or self.refused is not None
        for widget in self.query("Select, Input, Checkbox, Button"):
            widget.disabled = off
        if not off:
            self._method_changed(self._method())

    # --- reading the fields ----------------------------------------------------------

    def _method(self) -> str:
        value = self.query_one("#plan-method", Select).value
        return value if isinstance(value, str) else "hnsw"

    def choice(self) -> PlanChoice | None:
        value = self.query_one("#plan-source", Select).value
        if not isinstance(value, str):
            return None
        return PlanChoice(
            source=value,
            method=self._method(),
            m=_int(self.query_one("#plan-m", Input)),
            ef_construction=_int(self.query_one("#plan-ef", Input)),
            lists=_int(self.query_one("#plan-lists", Input)),
            opclass=self.query_one("#plan-opclass", Input).value.strip() or None,
            name=self.query_one("#plan-name", Input).value.strip() or None,
            rename=self.query_one("#plan-rename", Checkbox).value,
            max_memory_mb=_int(self.query_one("#plan-memory", Input)),
            maintenance_work_mem_mb=_int(self.query_one("#plan-mwm", Input)),
        )

    def _method_changed(self, method: str) -> None:
        off = self._locked or self.refused is not None
        for box_id, applies in _INTS.items():
            self.query_one(f"#{box_id}").disabled = off or method != applies
        for widget_id in _NOT_FOR_REINDEX:
            self.query_one(f"#{widget_id}").disabled = off or method == "reindex"

    @on(Select.Changed, "#plan-source")
    def _source_changed(self) -> None:
        if self.choice() is not None:
            self.request()

    @on(Select.Changed, "#plan-method")
    def _method_selected(self) -> None:
        self._method_changed(self._method())
        if self.choice() is not None:
            self.request()

    @on(Input.Submitted)
    @on(Button.Pressed, "#plan-go")
    def _submitted(self) -> None:
        self.request()
