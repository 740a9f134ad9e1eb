"""What a FAISS file is: its chain of parts, size, vectors and what converting it needs.

:meth:`FaissInspector.inspect` reads a file in a thread worker with
:func:`core.faissidx.files.inspect` (itself a child process: a corrupt file cannot take
vecscope down), shows :class:`~core.faissidx.structure.IndexInfo` as ``vecscope faiss
inspect`` prints it or the one line saying why the file is not a usable index, and posts
:class:`FaissInspector.Inspected`.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from textual import on, work
from textual.content import Content
from textual.message import Message
from textual.widgets import Static
from textual.worker import Worker, get_current_worker

from vecscope.core.errors import FaissFileError
from vecscope.core.faissidx import files
from vecscope.core.faissidx.structure import IndexInfo, Part, VectorStorage
from vecscope.core.fmt import human_bytes, human_count
from vecscope.tui.screens.base import forward_worker_error

#: How each way of storing the vectors reads, and its colour.
VECTORS = {
    VectorStorage.EXACT: ("stored exactly: converting and tuning need nothing else", "$success"),
    VectorStorage.LOSSY: (
        "lossy codes: converting or tuning needs the original vectors",
        "$warning",
    ),
    VectorStorage.NONE: ("none: the index is empty", "$text-muted"),
}
_SEP = (" · ", "$text-muted")


def _label(text: str) -> tuple[str, str]:
    return (f"{text:<8}", "$text-muted")


#: Where a part's parameters start: label, role and kind columns.
_PARAMS_AT = 8 + 11 + 25


def part_lines(part: Part, first: bool, width: int) -> list[Content]:
    """One part of the chain; long parameters wrap under the parameters column."""
    params = " ".join(f"{k}={v}" for k, v in part.params.items())
    wrapped = textwrap.wrap(params, max(20, width - _PARAMS_AT)) or [""]
    head = Content.assemble(
        _label("chain" if first else ""),
        (f"{part.role:<10} ", "$text-muted"),
        (f"{part.kind:<24} ", "bold"),
        wrapped[0],
    )
    return [head, *(Content(" " * _PARAMS_AT + more) for more in wrapped[1:])]


def info_lines(info: IndexInfo, width: int = 120) -> list[Content]:
    """The inspector's lines for ``info``, ``width`` cells wide (also what tests read)."""
    words, style = VECTORS.get(info.vectors, (info.vectors, ""))
    return [
        Content.assemble((Path(info.path).name, "bold"), "  ", (info.type, "bold $accent")),
        Content.assemble(
            _label("holds"),
            (human_count(info.ntotal), "bold"),
            f" vectors of {info.d} dims",
            _SEP,
            "metric ",
            (info.metric, "bold"),
            _SEP,
            "trained" if info.is_trained else ("not trained", "$warning"),
        ),
        Content.assemble(
            _label("size"),
            (human_bytes(info.bytes), "bold"),
            " on disk",
            _SEP,
            f"{info.bytes_per_vector:,.0f} bytes a vector",
            _SEP,
            f"{human_bytes(info.memory_bytes)} in memory",
            _SEP,
            "memory-mappable" if info.mmap else "read into memory (no mmap)",
        ),
        Content.assemble(_label("vectors"), (words, style)),
        *(line for i, part in enumerate(info.chain) for line in part_lines(part, i == 0, width)),
    ]


class FaissInspector(Static):
    """The selected file: what it is, or why it is not a FAISS index."""

    class Inspected(Message):
        """``path`` was read: ``info``, or ``None`` and ``error`` saying why, in a line."""

        def __init__(self, path: Path, info: IndexInfo | None, error: str = "") -> None:
            super().__init__()
            self.path = path
            self.info = info
            self.error = error

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        #: What is on show, drawn again at a new width.
        self._shown: tuple[IndexInfo, str] | None = None
        #: The file asked for last: an earlier, slower read must not win.
        self._wanted: Path | None = None

    def inspect(self, path: Path) -> None:
        """Read ``path``; :class:`Inspected` follows (and the failure is shown here)."""
        self._wanted = path
        self.reading(path)
        self._read(path)

    @work(
        thread=True,
        exclusive=True,
        exit_on_error=False,
        group="faiss-inspect",
        description="Reading a FAISS file",
    )
    def _read(self, path: Path) -> None:
        try:
            found = self.Inspected(path, files.inspect(path))
        except FaissFileError as e:
            found = self.Inspected(path, None, e.message)
        if not get_current_worker().is_cancelled:
            self.post_message(found)

    @on(Inspected)
    def _inspected(self, event: Inspected) -> None:
        if event.path != self._wanted:
            event.stop()
        elif event.info is None:
            self.failed(event.path, event.error)

    @on(Worker.StateChanged)
    def _worker_changed(self, event: Worker.StateChanged) -> None:
        forward_worker_error(self, event)

    def on_mount(self) -> None:
        self.border_title = "Inspector"
        self.show_hint()

    def on_resize(self) -> None:
        if self._shown is not None:
            self.show(*self._shown)

    def show_hint(self) -> None:
        self._shown = None
        self.update(
            Content.assemble(
                ("Pick a file in the browser: ", "$text-muted"),
                ("enter", "$accent bold"),
                (" reads it in a child process (a corrupt file cannot take vecscope down)", ""),
            )
        )

    def reading(self, path: Path) -> None:
        self._shown = None
        self.update(Content.styled(f"Reading {path.name}…", "$text-muted"))

    def show(self, info: IndexInfo, note: str = "") -> None:
        self._shown = (info, note)
        lines = info_lines(info, self.content_size.width or 120)
        if note:
            lines.append(Content.styled(note, "$text-muted"))
        self.update(Content("\n").join(lines))

    def failed(self, path: Path, message: str) -> None:
        # The heading names the file; the message need not repeat its full path.
        reason = message.replace(str(path), path.name)
        self._shown = None
        self.update(
            Content.assemble(
                (path.name, "bold"),
                "\n",
                ("✗ ", "$error bold"),
                (reason, "$error"),
            )
        )
