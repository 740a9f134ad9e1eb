"""Pilot helpers shared by the TUI tests."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from vecscope.tui.screens.indexes import IndexesScreen
from vecscope.tui.screens.latency import LatencyScreen
from vecscope.tui.widgets.inventory_table import InventoryTable


async def wait_until(pilot: Pilot[Any], condition: Any, timeout: float = 20.0) -> None:
    """Let the app run until ``condition()`` is true (workers run on threads)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            screen = pilot.app.screen
            shown = ""
            error = getattr(screen, "error", None)
            if error is not None:
                shown = f": {getattr(error, 'message', error)}"
            raise AssertionError(f"timed out waiting for {condition.__name__} on {screen}{shown}")
        await pilot.pause(0.05)


async def click(pilot: Pilot[Any], selector: str, timeout: float = 30.0) -> None:
    """Click ``selector`` on the current screen once it is laid out and enabled, as a
    person would: a click sent while a new screen is still being arranged can land on
    nothing (seen under load), and a click that hit nothing fails here, not later."""
    from textual.css.query import NoMatches

    def clickable() -> bool:
        try:
            widget = pilot.app.screen.query_one(selector)
        except NoMatches:
            return False
        return widget.display and not widget.disabled and widget.region.area > 0

    await wait_until(pilot, clickable, timeout=timeout)
    await pilot.pause()
    assert await pilot.click(selector), f"the click on {selector} hit nothing"


async def wait_loaded(pilot: Pilot[Any]) -> None:
    """Until the Indexes screen shows an inventory and the cursor settled."""
    app = pilot.app

    def loaded() -> bool:
        screen = app.screen
        return isinstance(screen, IndexesScreen) and screen.inventory is not None

    await wait_until(pilot, loaded)
    await pilot.pause()
    await app.workers.wait_for_complete()
    await pilot.pause()


def capture_notes(app: Any) -> list[str]:
    """Every notification the app shows from now on, in order: ``title: message``, or
    the message alone when it has no title."""
    notes: list[str] = []
    original = app.notify

    def notify(message: str, **kwargs: Any) -> None:
        title = kwargs.get("title")
        notes.append(f"{title}: {message}" if title else message)
        original(message, **kwargs)

    app.notify = notify
    return notes


def screen_text(app: Any) -> str:
    """Everything on screen, as an SVG export carries it (for 'never shown' checks)."""
    return str(app.export_screenshot())


def write_faiss_files(folder: Path, n: int = 1000, d: int = 32) -> dict[str, Path]:
    """Index files made by FAISS itself, and files that are not usable indexes.

    Deterministic (one thread, fixed seeds), so a snapshot of the inspector is stable.
    Small on purpose: conversions and tunings of it take a second or two.
    """
    import faiss
    import numpy as np

    from vecscope.core.demo.embeddings import sample, topic_model

    folder.mkdir(parents=True, exist_ok=True)
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        x, _ = sample(topic_model(11, dims=d, clusters=20), n, seed=12)
        out = {"vectors": folder / "vectors.npy"}
        np.save(out["vectors"], x)
        ivf = faiss.index_factory(d, "IVF32,Flat")
        ivf.train(x)
        ivf.add(x)
        out["ivf"] = folder / "ivf.index"
        faiss.write_index(ivf, str(out["ivf"]))
        sq = faiss.index_factory(d, "HNSW16_SQ8")
        sq.train(x)
        sq.add(x)
        out["lossy"] = folder / "lossy.faiss"
        faiss.write_index(sq, str(out["lossy"]))
    finally:
        faiss.omp_set_num_threads(threads)
    whole = out["ivf"].read_bytes()
    out["truncated"] = folder / "truncated.index"
    out["truncated"].write_bytes(whole[: len(whole) // 3])
    out["random"] = folder / "random.bin"
    out["random"].write_bytes(np.random.default_rng(3).bytes(4096))
    out["empty"] = folder / "empty.ivf"
    out["empty"].write_bytes(b"")
    out["text"] = folder / "notes.txt"
    out["text"].write_text("not an index\n")
    return out


async def open_lab(pilot: Pilot[Any], row: str) -> LatencyScreen:
    """``l`` on ``row`` (``col:schema.table.column``) of the Indexes screen, until the
    Latency mode has prepared that column."""
    app = pilot.app
    await wait_loaded(pilot)
    table = app.screen.query_one(InventoryTable)
    table.focus()
    table.move_cursor(row=table.get_row_index(row))
    await pilot.press("l")
    await wait_until(
        pilot,
        lambda: isinstance(app.screen, LatencyScreen) and app.screen.lab is not None,
        timeout=60,
    )
    screen = app.screen
    assert isinstance(screen, LatencyScreen)
    return screen
