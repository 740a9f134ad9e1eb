"""The FAISS mode's file browser: folders, and the files that look like FAISS indexes.

A :class:`~textual.widgets.DirectoryTree` filtered by suffix (``.index``, ``.faiss``,
``.bin``, ``.ivf``); :meth:`FaissBrowser.toggle_all` shows every file, since FAISS files
take any name. Hidden files stay hidden: a conversion's temporary file is one.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from textual.content import Content
from textual.widgets import DirectoryTree
from textual.widgets.directory_tree import DirEntry
from textual.widgets.tree import TreeNode

from vecscope.core.faissidx.workload import FAISS_SUFFIXES
from vecscope.tui.faiss_jobs import home_relative


class FaissBrowser(DirectoryTree):
    """Folders and FAISS-looking files under ``path`` (every file once toggled)."""

    def __init__(self, path: Path, *, id: str | None = None) -> None:
        super().__init__(path, id=id)
        self.show_all = False
        self.root.set_label(home_relative(path))

    def filter_paths(self, paths: Iterable[Path]) -> Iterable[Path]:
        return [
            p
            for p in paths
            if not p.name.startswith(".")
            and (self.show_all or p.suffix.lower() in FAISS_SUFFIXES or self._safe_is_dir(p))
        ]

    def describe(self, folder: Path, width: int = 120) -> Content:
        """The line above the browser: its folder and what it shows, in ``width`` cells
        (the keys go first when they do not all fit: the footer has no room for them)."""
        shown = "every file" if self.show_all else " ".join(sorted(FAISS_SUFFIXES)) + " files"
        where = home_relative(folder)
        full = Content.assemble(
            ("FAISS files in ", "$text-muted"),
            (where, "bold"),
            ("  ·  showing ", "$text-muted"),
            shown,
            ("  ·  ", "$text-muted"),
            ("enter", "$accent bold"),
            (" reads a file  ·  ", "$text-muted"),
            ("a", "$accent bold"),
            (" shows FAISS files only" if self.show_all else " shows every file", "$text-muted"),
        )
        if full.cell_length <= width:
            return full
        return Content.assemble(
            ("enter", "$accent bold"),
            (" reads  ·  ", "$text-muted"),
            ("a", "$accent bold"),
            (" FAISS files only" if self.show_all else " every file", "$text-muted"),
            ("  ·  ", "$text-muted"),
            (where, "bold"),
            ("  ", ""),
            ("every file" if self.show_all else "FAISS files", "$text-muted"),
        )

    async def toggle_all(self) -> bool:
        """Show every file, or FAISS-looking ones again; returns whether all are shown."""
        self.show_all = not self.show_all
        await self.reload()
        return self.show_all

    def node_of(self, path: Path) -> TreeNode[DirEntry] | None:
        """The loaded node of ``path``, if the tree shows it."""
        wanted = path.resolve()
        stack = [self.root]
        while stack:
            node = stack.pop()
            if node.data is not None and node.data.path.resolve() == wanted:
                return node
            stack.extend(node.children)
        return None

    async def show_path(self, path: Path) -> bool:
        """Read the folders again and put the cursor on ``path`` (a file just written)."""
        await self.reload()
        node = self.node_of(path)
        if node is None:
            return False
        self.move_cursor(node, animate=False)
        return True
