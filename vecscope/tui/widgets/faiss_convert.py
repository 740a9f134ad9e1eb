"""The FAISS mode's conversion form: a target type, a new file, and the verification.

A preset (the index types core compares, built for this file's dimensions) fills the
factory field, or the field takes any FAISS factory string. The new file's name follows
the factory until the user types one. ``enter`` in a field, the button, or the screen's
``c`` asks for the conversion: :class:`ConvertPanel.ConvertRequested`. The screen runs it
and reports here: progress, then the recall verified against exact search.
"""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.containers import Container, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widgets import Button, Input, Label, Select, Static

from vecscope.core.faissidx.convert import Converted
from vecscope.core.faissidx.progress import Step
from vecscope.core.faissidx.structure import IndexInfo
from vecscope.core.faissidx.workload import default_destination, presets
from vecscope.core.fmt import human_bytes, human_count
from vecscope.tui.faiss_jobs import CUSTOM, path_of
from vecscope.tui.widgets.faiss_progress import FaissJobLine


def _recall(value: float, good: bool) -> tuple[str, str]:
    return (f"{value:.3f}", "$success bold" if good else "$warning bold")


def converted_lines(c: Converted) -> list[Content]:
    """How a conversion ended, with its verification (also what the tests read)."""
    v = c.verification
    sep = ("  ·  ", "$text-muted")
    recall: list[Content | str | tuple[str, str]] = [
        (f"recall@{v.k} on {v.queries:,} sampled queries: ", "$text-muted"),
        "new ",
        _recall(v.recall, v.source_recall is None or v.recall >= v.source_recall),
    ]
    if v.source_recall is not None:
        recall += [sep, "source ", (f"{v.source_recall:.3f}", "bold")]
    if v.agreement is not None:
        recall += [sep, "agreement with the source ", (f"{v.agreement:.3f}", "bold")]
    lines = [
        Content.assemble(
            ("✓ ", "$success bold"),
            "wrote ",
            (Path(c.dst).name, "bold"),
            f": {c.info.type} ({c.factory}), {human_count(c.ntotal)} vectors, "
            f"{human_bytes(c.info.bytes)}",
        ),
        Content.styled(
            f"  vectors from {c.vectors_from}; trained in {c.train_seconds:,.1f} s, "
            f"added in {c.add_seconds:,.1f} s on {c.threads} threads",
            "$text-muted",
        ),
        Content.assemble("  ", *recall),
        Content.assemble(
            ("  at its default search parameters: ", "$text-muted"),
            ("t", "$accent bold"),
            (" tunes them against a recall target", "$text-muted"),
        ),
    ]
    lines += [Content.styled(f"  note: {n}", "$text-muted") for n in c.notes[:3]]
    return lines


class ConvertPanel(VerticalScroll):
    """Target, new file, originals for lossy sources; progress; verification.

    A scroll: on a small terminal the verification may sit below the fold, never cut.
    """

    class ConvertRequested(Message):
        """Convert the selected file to ``factory`` into ``destination``."""

        def __init__(self, factory: str, destination: Path, vectors: Path | None) -> None:
            super().__init__()
            self.factory = factory
            self.destination = destination
            self.vectors = vectors

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.source: Path | None = None
        #: The name last proposed: replaced on a new factory unless the user typed one.
        self._proposed = ""
        self._presets: frozenset[str] = frozenset()

    def compose(self) -> ComposeResult:
        # A grid: label and field pairs, two to a row, one to a row on a narrow screen.
        with Container(classes="faiss-form", id="convert-form"):
            yield Label("target", classes="form-label")
            yield Select[str](
                [("custom factory", CUSTOM)],
                value=CUSTOM,
                allow_blank=False,
                id="convert-preset",
                compact=True,
            )
            yield Label("factory", classes="form-label")
            yield Input(id="convert-factory", placeholder="a FAISS factory string", compact=True)
            yield Label("new file", classes="form-label")
            yield Input(id="convert-dst", placeholder="beside the source", compact=True)
            yield Label("vectors", classes="form-label")
            yield Input(
                id="convert-vectors",
                placeholder="originals .npy (lossy sources only)",
                compact=True,
            )
            yield Button("Convert", id="convert-go", variant="primary", compact=True)
        yield FaissJobLine(id="convert-progress")
        yield Static(id="convert-result")

    def on_mount(self) -> None:
        self.say(Content.styled("Pick a FAISS file to convert", "$text-muted"))

    def set_source(self, path: Path, info: IndexInfo) -> None:
        """Offer targets for ``info``; the last conversion's result stays on show."""
        self.source = path
        options = [*presets(info), ("custom factory", CUSTOM)]
        self._presets = frozenset(value for _, value in options)
        select = self.query_one("#convert-preset", Select)
        factory = self.query_one("#convert-factory", Input)
        with self.prevent(Select.Changed, Input.Changed):
            select.set_options(options)
            select.value = options[0][1]
            factory.value = options[0][1]
        self._propose(options[0][1], force=True)
        self.query_one("#convert-vectors", Input).value = ""

    def _propose(self, factory: str, *, force: bool = False) -> None:
        if self.source is None:
            return
        dst = self.query_one("#convert-dst", Input)
        if force or dst.value == self._proposed:
            self._proposed = default_destination(self.source, factory).name if factory else ""
            with self.prevent(Input.Changed):
                dst.value = self._proposed

    @on(Select.Changed, "#convert-preset")
    def _preset_changed(self, event: Select.Changed) -> None:
        if event.value == CUSTOM or not isinstance(event.value, str):
            self.query_one("#convert-factory", Input).focus()
            return
        with self.prevent(Input.Changed):
            self.query_one("#convert-factory", Input).value = event.value
        self._propose(event.value)

    @on(Input.Changed, "#convert-factory")
    def _factory_typed(self, event: Input.Changed) -> None:
        select = self.query_one("#convert-preset", Select)
        with self.prevent(Select.Changed):
            select.value = event.value if event.value in self._presets else CUSTOM
        self._propose(event.value.strip())

    @on(Input.Submitted)
    @on(Button.Pressed, "#convert-go")
    def request(self) -> None:
        """Ask the screen to convert with the form's values (paths relative to the source)."""
        if self.source is None:
            self.app.notify("Pick a readable FAISS file first", severity="warning", timeout=3)
            return
        folder = self.source.parent
        factory = self.query_one("#convert-factory", Input).value.strip()
        dst = path_of(self.query_one("#convert-dst", Input).value, folder)
        if not factory or dst is None:
            what = "a target: a FAISS factory string" if not factory else "a name for the new file"
            self.app.notify(f"Give {what}", severity="warning", timeout=3)
            return
        vectors = path_of(self.query_one("#convert-vectors", Input).value, folder)
        self.post_message(self.ConvertRequested(factory, dst, vectors))

    def started(self, title: str) -> None:
        """A conversion starts: the last one's result goes (it would sit under new errors)."""
        self.query_one("#convert-result", Static).update("")
        self.query_one(FaissJobLine).start(title, "reading the source")

    def progress(self, step: Step) -> None:
        self.query_one(FaissJobLine).show_step(step)

    def say(self, line: Content) -> None:
        self.query_one(FaissJobLine).say(line)

    def ready(self, path: Path) -> None:
        """Nothing running: say what ``c`` would do."""
        self.say(
            Content.assemble(
                ("c", "$accent bold"),
                (
                    f" or enter converts {path.name} to the target above, into a new file",
                    "$text-muted",
                ),
            )
        )

    def finished(self, converted: Converted) -> None:
        self.say(Content.styled(f"Converted {Path(converted.src).name}", "$success"))
        self.query_one("#convert-result", Static).update(
            Content("\n").join(converted_lines(converted))
        )
