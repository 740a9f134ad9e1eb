"""The FAISS mode: browse index files, see what each is, convert it, tune it, deploy it.

For the engineer holding an index FAISS wrote (an IVF, say) who wants an HNSW or an
OPQ+HNSW instead, with the recall checked and the query-time setting chosen. Every
file is read in a child process first (:func:`core.faissidx.files.inspect`), so a
corrupt one is a line in the inspector, never a crash. A conversion or a tuning runs
one at a time in a thread worker (group ``faiss``: they share the machine's cores); the
inspector reads files in a group of its own, so picking a file never stops a conversion.

Below ~90 columns for the forms (80x24, 100x30) the screen is ``-narrow``: each form field
gets a row of its own and the tuning's plot, points and deployment stack up in a scroll.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.events import Resize
from textual.message import Message
from textual.widgets import DirectoryTree, Footer, Header, Static, TabbedContent, TabPane
from textual.worker import Worker, WorkerState, get_current_worker

from vecscope.core.errors import VecscopeError, first_line
from vecscope.core.faissidx.convert import Converted, Stopped, convert
from vecscope.core.faissidx.files import OriginalsNeeded
from vecscope.core.faissidx.progress import Step
from vecscope.core.faissidx.structure import IndexInfo
from vecscope.core.faissidx.tune import Tuning
from vecscope.core.faissidx.workload import SAMPLE_QUERIES, tune_file
from vecscope.tui.context import faiss_dir_of
from vecscope.tui.faiss_jobs import TuneRequest, factory_of
from vecscope.tui.screens.base import VecscopeScreen
from vecscope.tui.widgets.faiss_browser import FaissBrowser
from vecscope.tui.widgets.faiss_convert import ConvertPanel
from vecscope.tui.widgets.faiss_inspector import FaissInspector
from vecscope.tui.widgets.faiss_tune import TunePanel, verdict

CONVERT_TAB = "faiss-convert-tab"
TUNE_TAB = "faiss-tune-tab"
#: The running job, in words: what it is, what a cancel does, what a cancel did.
JOB = {"convert": "A conversion", "tune": "A tuning"}
CANCELLING = {
    "convert": "Cancelling the conversion at its next step (training runs to its end)…",
    "tune": "Cancelling the tuning after the setting being measured…",
}
STOPPED = {
    "convert": "Conversion cancelled: nothing was written",
    "tune": "Tuning cancelled before a setting was measured",
}
#: How to give the original vectors here (core says what is missing, not which field).
GIVE_ORIGINALS = {
    "convert": "type the path of their .npy in the vectors field above, then press c",
    "tune": (
        "type the path of their .npy (or of a FAISS file that stores them exactly) "
        "in the vectors field above, then press t"
    ),
}
#: The forms' width (the screen's less the browser's) below which fields stack.
NARROW_FORMS = 90


class FAISSScreen(VecscopeScreen):
    """File browser, inspector, conversion and tuning; see the module docstring.

    (FAISS in capitals, as PEP 8 writes acronyms: the help screen titles itself with the
    name of the screen's class.)
    """

    # Layout for small terminals. These rules belong with the FAISS section of
    # styles/app.tcss; scoped here (so they win over it) until they move there.
    CSS = """
    #faiss-browser {
        width: 30%;
        min-width: 22;
        max-width: 38;
    }
    #faiss-inspector {
        max-height: 45%;
    }
    .faiss-form {
        layout: grid;
        grid-size: 4;
        grid-columns: 8 1fr 7 1fr;
        grid-rows: 1;
        grid-gutter: 0 1;
        height: auto;
        margin-bottom: 1;
    }
    .faiss-form Input, .faiss-form Select {
        width: 1fr;
        margin-right: 0;
    }
    #faiss-main .faiss-form .form-label {
        padding: 0;
    }
    #faiss-main #convert-go {
        column-span: 2;
        width: auto;
        min-width: 11;
    }
    #tune-form {
        grid-size: 7;
        grid-columns: 7 1fr 13 8 7 1fr 8;
    }
    #tune-side {
        width: 55%;
        max-width: 70;
    }
    #faiss-main.-narrow .faiss-form {
        grid-size: 2;
        margin-bottom: 0;
    }
    #faiss-main.-narrow #convert-form {
        grid-columns: 8 1fr;
    }
    #faiss-main.-narrow #tune-form {
        grid-columns: 13 1fr;
    }
    #faiss-main.-narrow #tune-results {
        layout: vertical;
        height: auto;
    }
    #faiss-main.-narrow #tune-plot {
        height: 14;
    }
    #faiss-main.-narrow #tune-side {
        width: 1fr;
        max-width: 100%;
        height: auto;
    }
    #faiss-main.-narrow #tune-deploy {
        height: 20;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "convert", "Convert"),
        Binding("t", "tune", "Tune"),
        Binding("y", "copy_deployment", "Copy deploy"),
        Binding("escape", "cancel", "Cancel"),
        # Nothing to cancel: escape leaves a form for the browser.
        Binding("escape", "focus_browser", "Back to the files", show=False),
        # The browser reads the highlighted file on enter itself; listed for the help.
        Binding("enter", "read_file", "Read the highlighted file (inspector)", show=False),
        Binding("a", "all_files", "All files"),
        Binding("r", "reload", "Reload files", show=False),
    ]

    class JobProgressed(Message):
        """The running conversion or tuning moved on; a burst collapses to the newest."""

        def __init__(self, job: str, step: Step) -> None:
            super().__init__()
            self.job = job
            self.step = step

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, FAISSScreen.JobProgressed) and message.job == self.job

    class FileConverted(Message):
        def __init__(self, converted: Converted) -> None:
            super().__init__()
            self.converted = converted

    class JobStopped(Message):
        """``job`` was cancelled before it had anything to show (a conversion writes nothing)."""

        def __init__(self, job: str) -> None:
            super().__init__()
            self.job = job

    class FileTuned(Message):
        def __init__(self, path: Path, tuning: Tuning, described: str, stopped: bool) -> None:
            super().__init__()
            self.path = path
            self.tuning = tuning
            self.described = described
            self.stopped = stopped

    def __init__(self) -> None:
        super().__init__()
        #: The file picked last, and what it is once read (``None``: not a usable index).
        self.path: Path | None = None
        self.info: IndexInfo | None = None
        #: "convert" or "tune" while one runs.
        self.job: str | None = None
        #: Files converted here: their source and factory (tuning a lossy one needs both).
        self.origins: dict[Path, tuple[Path, str]] = {}
        #: The last tuning of each file, shown again when it is picked again.
        self.tunings: dict[Path, FAISSScreen.FileTuned] = {}
        #: The browser's folder (the app's ``faiss_dir``, else the working directory).
        self.folder = Path.cwd()

    def palette_commands(self) -> Iterable[SystemCommand]:
        yield SystemCommand(
            "FAISS: every file",
            "Toggle: every file in the browser, or FAISS-looking ones",
            self.action_all_files,
        )
        yield SystemCommand(
            "FAISS: copy the deployment",
            "The tuned file's recommended setting as env, YAML, Helm, Python",
            self.action_copy_deployment,
        )

    def compose(self) -> ComposeResult:
        self.folder = faiss_dir_of(self.app)
        yield Header()
        yield Static(id="faiss-bar")
        with Horizontal(id="faiss-main"):
            yield FaissBrowser(self.folder, id="faiss-browser")
            with Vertical(id="faiss-right"):
                yield FaissInspector(id="faiss-inspector")
                with TabbedContent(id="faiss-tabs", initial=CONVERT_TAB):
                    with TabPane("Convert", id=CONVERT_TAB):
                        yield ConvertPanel(id="faiss-convert")
                    with TabPane("Tune", id=TUNE_TAB):
                        yield TunePanel(id="faiss-tune")
        yield Footer()

    def on_mount(self) -> None:
        self._show_bar()
        self.query_one(FaissBrowser).focus()

    def on_resize(self, event: Resize) -> None:
        width = event.size.width
        browser = min(38, max(22, int(width * 0.3)))  # as the CSS above sizes it
        self.query_one("#faiss-main").set_class(width - browser < NARROW_FORMS, "-narrow")
        self._show_bar()

    def on_unmount(self) -> None:
        self.workers.cancel_node(self)

    def on_screen_suspend(self) -> None:
        if self.job is not None and self.app.current_mode != "faiss":
            self.app.notify(f"FAISS: {JOB[self.job]} keeps running; F6 shows it", timeout=4)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("convert", "tune"):
            return self.info is not None or None
        # Keys that cannot act now leave the footer (it must fit 80 columns); c and t stay,
        # greyed, to say what a readable file allows.
        if action == "cancel":
            return self.job is not None
        if action == "copy_deployment":
            panels = self.query(TunePanel)
            return bool(panels) and panels.first().deployment is not None
        return True

    # --- the browser and the inspector -----------------------------------------------

    def _show_bar(self) -> None:
        bar = self.query_one("#faiss-bar", Static)
        width = self.size.width - 2 if self.size.width else 120
        bar.update(self.query_one(FaissBrowser).describe(self.folder, width))

    @on(DirectoryTree.FileSelected, "#faiss-browser")
    def file_selected(self, event: DirectoryTree.FileSelected) -> None:
        self.open_file(event.path)

    def open_file(self, path: Path) -> None:
        """Read ``path`` in a child process and show what it is."""
        self.path, self.info = path, None
        self.refresh_bindings()
        self.query_one(FaissInspector).inspect(path)

    @on(FaissInspector.Inspected)
    def file_inspected(self, event: FaissInspector.Inspected) -> None:
        if event.path != self.path:
            return
        if event.info is not None:
            self._show_file(event.path, event.info)
            return
        nothing = Content.styled(f"{event.path.name} is not a usable index", "$text-muted")
        if self.job != "convert":
            self.query_one(ConvertPanel).say(nothing)
        if self.job != "tune":
            self.query_one(TunePanel).clear(nothing)

    def _show_file(self, path: Path, info: IndexInfo) -> None:
        self.path, self.info = path, info
        origin = self.origins.get(path)
        note = f"converted here from {origin[0].name} ({origin[1]})" if origin else ""
        self.query_one(FaissInspector).show(info, note)
        convert_panel = self.query_one(ConvertPanel)
        convert_panel.set_source(path, info)
        if self.job != "convert":
            convert_panel.ready(path)
        self.query_one(TunePanel).source = path
        if self.job != "tune":
            self._show_tuned()
        self.refresh_bindings()

    def _show_tuned(self) -> None:
        """The selected file's last tuning, or what ``t`` would do."""
        if self.path is None or self.info is None:
            return
        tuned = self.tunings.get(self.path)
        if tuned is None:
            self.query_one(TunePanel).not_tuned(self.path)
            return
        line = verdict(tuned.tuning, tuned.path.name, stopped=tuned.stopped)
        self.query_one(TunePanel).show_tuning(tuned.tuning, line, tuned.described)

    def action_focus_browser(self) -> None:
        self.query_one(FaissBrowser).focus()

    def action_read_file(self) -> None:
        """Read the file highlighted in the browser (enter where no field takes it)."""
        node = self.query_one(FaissBrowser).cursor_node
        if node is not None and node.data is not None and node.data.path.is_file():
            self.open_file(node.data.path)

    async def action_all_files(self) -> None:
        await self.query_one(FaissBrowser).toggle_all()
        self._show_bar()

    async def action_reload(self) -> None:
        await self.query_one(FaissBrowser).reload()

    # --- converting ------------------------------------------------------------------

    def action_convert(self) -> None:
        self.query_one(TabbedContent).active = CONVERT_TAB
        self.query_one(ConvertPanel).request()

    def _busy(self) -> bool:
        """A job runs, or no readable file is selected: say so."""
        if self.job is not None:
            self.app.notify(
                f"{JOB[self.job]} is running: Esc cancels it", severity="warning", timeout=3
            )
            return True
        if self.path is None or self.info is None:
            self.app.notify("Pick a readable FAISS file first", severity="warning", timeout=3)
            return True
        return False

    @on(ConvertPanel.ConvertRequested)
    def convert_requested(self, event: ConvertPanel.ConvertRequested) -> None:
        if self._busy() or self.path is None:
            return
        self.query_one(ConvertPanel).started(f"{self.path.name} → {event.destination.name}")
        self.job = "convert"
        self.refresh_bindings()
        self.convert_file(self.path, event.destination, event.factory, event.vectors)

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="faiss",
        description="Converting a FAISS index",
    )
    def convert_file(self, src: Path, dst: Path, factory: str, vectors: Path | None) -> None:
        worker = get_current_worker()

        def progress(step: Step) -> None:
            self.post_message(self.JobProgressed("convert", step))

        try:
            result = convert(
                src,
                dst,
                factory,
                vectors=vectors,
                progress=progress,
                should_stop=lambda: worker.is_cancelled,
            )
        except Stopped:
            self.post_message(self.JobStopped("convert"))
            return
        self.post_message(self.FileConverted(result))

    @on(FileConverted)
    async def file_converted(self, event: FileConverted) -> None:
        c = event.converted
        dst = Path(c.dst)
        self.origins[dst] = (Path(c.src), c.factory)
        # The new file is the one to look at (and tune) next.
        self._show_file(dst, c.info)
        self.query_one(ConvertPanel).finished(c)
        await self.query_one(FaissBrowser).show_path(dst)

    @on(JobStopped)
    def job_stopped(self, event: JobStopped) -> None:
        self._panel(event.job).say(Content.styled(STOPPED[event.job], "$warning"))

    # --- tuning ----------------------------------------------------------------------

    def action_tune(self) -> None:
        self.query_one(TabbedContent).active = TUNE_TAB
        self.query_one(TunePanel).request()

    @on(TunePanel.TuneRequested)
    def tune_requested(self, event: TunePanel.TuneRequested) -> None:
        if self._busy() or self.path is None or self.info is None:
            return
        origin = self.origins.get(self.path)
        request = TuneRequest(
            self.path,
            self.info,
            event.queries,
            event.vectors,
            event.target,
            origin[0] if origin else None,
            factory_of(self.info, origin[1] if origin else None),
        )
        self.query_one(TunePanel).started(self.path.name)
        self.job = "tune"
        self.refresh_bindings()
        self.tune_file(request)

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="faiss",
        description="Tuning a FAISS index",
    )
    def tune_file(self, r: TuneRequest) -> None:
        worker = get_current_worker()

        def progress(step: Step) -> None:
            self.post_message(self.JobProgressed("tune", step))

        tuned = tune_file(
            r.path,
            info=r.info,
            queries=r.queries,
            vectors=r.vectors,
            origin=r.origin,
            sample=SAMPLE_QUERIES,
            target_recall=r.target,
            factory=r.factory,
            progress=progress,
            should_stop=lambda: worker.is_cancelled,
        )
        result = tuned.tuning
        if not result.points:
            self.post_message(self.JobStopped("tune"))
            return
        self.post_message(
            self.FileTuned(r.path, result, tuned.workload.described, worker.is_cancelled)
        )

    @on(FileTuned)
    def file_tuned(self, event: FileTuned) -> None:
        self.tunings[event.path] = event
        if event.path != self.path:
            self.app.notify(f"Tuned {event.path.name}: pick it to see the result", timeout=4)
        self._show_tuned()
        self.refresh_bindings()

    def action_copy_deployment(self) -> None:
        text = self.query_one(TunePanel).deployment
        if text is None:
            return
        self.app.copy_to_clipboard(text)
        self.app.notify(
            f"Copied the deployment settings ({len(text.splitlines())} lines)", timeout=3
        )

    # --- the running job -------------------------------------------------------------

    @on(JobProgressed)
    def job_progressed(self, event: JobProgressed) -> None:
        self._panel(event.job).progress(event.step)

    def _panel(self, job: str | None) -> ConvertPanel | TunePanel:
        return self.query_one(ConvertPanel) if job == "convert" else self.query_one(TunePanel)

    def action_cancel(self) -> None:
        if self.job is None:
            return
        self.workers.cancel_group(self, "faiss")
        self.app.notify(CANCELLING[self.job], timeout=3)

    @on(Worker.StateChanged)
    def job_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group != "faiss" or not event.worker.is_finished:
            return
        if event.state == WorkerState.ERROR:
            error = event.worker.error
            message = (
                error.message
                if isinstance(error, VecscopeError)
                else first_line(error or Exception())
            )
            if isinstance(error, OriginalsNeeded) and self.job in GIVE_ORIGINALS:
                message = f"{message}: {GIVE_ORIGINALS[self.job]}"
            failed = Content.assemble(("✗ ", "$error bold"), (message, "$error"))
            self._panel(self.job).say(failed)
        self.job = None
        self.refresh_bindings()


#: The name the app and older code import (the class is spelt as PEP 8 spells acronyms).
FaissScreen = FAISSScreen
