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
from textual.widget import Widget
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
#: Below this many cells for them, parameters go on lines of their own under the part.
_PARAMS_MIN = 30
#: The parameters that say what a part is; the rest (list statistics...) are detail,
#: left out when the inspector has no room for them.
KEY_PARAMS = frozenset(
    {"nlist", "nprobe", "M", "efConstruction", "efSearch", "pq_M", "pq_nbits", "sq_type"}
    | {"d_out", "k_factor"}
)


def part_lines(part: Part, first: bool, width: int, *, key_only: bool = False) -> list[Content]:
    """One part of the chain; long parameters wrap under the parameters column (under the
    part itself on a narrow inspector)."""
    params = " ".join(f"{k}={v}" for k, v in part.params.items() if not key_only or k in KEY_PARAMS)
    beside = width - _PARAMS_AT >= _PARAMS_MIN
    label = _label("chain" if first else "")
    role = (f"{part.role:<10} ", "$text-muted")
    if beside:
        wrapped = textwrap.wrap(params, width - _PARAMS_AT) or [""]
        head = Content.assemble(label, role, (f"{part.kind:<24} ", "bold"), wrapped[0])
        return [head, *(Content(" " * _PARAMS_AT + more) for more in wrapped[1:])]
    # Narrow: the parameters follow the kind when they fit, else go on lines under it.
    used = 8 + 11 + len(part.kind) + 1
    if used + len(params) <= width:
        return [Content.assemble(label, role, (part.kind, "bold"), " " + params if params else "")]
    wrapped = textwrap.wrap(params, max(20, width - 10))
    head = Content.assemble(label, role, (part.kind, "bold"))
    return [head, *(Content(" " * 10 + more) for more in wrapped)]


def info_lines(info: IndexInfo, width: int = 120, *, key_only: bool = False) -> list[Content]:
    """The inspector's lines for ``info``, ``width`` cells wide (also what tests read):
    what it holds and whether its vectors are exact first, then sizes and the chain."""
    words, style = VECTORS.get(info.vectors, (info.vectors, ""))
    if info.vectors == VectorStorage.EXACT and 8 + len(words) > width:
        words = words.split(":")[0]  # "nothing else needed" may go; a lossy file's need not
    return [
        Content.assemble(
            (Path(info.path).name, "bold"),
            "  ",
            (info.type, "bold $accent"),
            _SEP,
            (human_bytes(info.bytes), "bold"),
            (
                ""
                if info.memory_bytes == info.bytes
                else f" ({human_bytes(info.memory_bytes)} in memory)"
            ),
        ),
        Content.assemble(
            _label("holds"),
            (human_count(info.ntotal), "bold"),
            f" vectors of {info.d} dims",
            _SEP,
            "metric ",
            (info.metric, "bold"),
            *([_SEP, ("not trained", "$warning")] if not info.is_trained else []),
        ),
        Content.assemble(_label("vectors"), (words, style)),
        Content.assemble(
            _label("storage"),
            f"{info.bytes_per_vector:,.0f} bytes a vector",
            _SEP,
            "memory-mappable" if info.mmap else "read into memory (no mmap)",
        ),
        *(
            line
            for i, part in enumerate(info.chain)
            for line in part_lines(part, i == 0, width, key_only=key_only)
        ),
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
        width = self.content_size.width or 120
        lines = info_lines(info, width)
        if len(self._wrapped(lines, width)) > self._room():
            lines = info_lines(info, width, key_only=True)
        if note:
            lines.append(Content.styled(note, "$text-muted"))
        self.update(Content("\n").join(lines))

    def _room(self) -> int:
        """Lines the inspector can show: its max-height less its border."""
        height, parent = self.styles.max_height, self.parent
        if height is None or not isinstance(parent, Widget) or not parent.size.height:
            return 1000
        return max(4, int(height.resolve(parent.size, self.app.size)) - 2)

    @staticmethod
    def _wrapped(lines: list[Content], width: int) -> list[Content]:
        return [piece for line in lines for piece in line.wrap(max(1, width))]

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
