"""The FAISS mode driven with Pilot on files FAISS itself wrote, and on ones it cannot read.

Every conversion, tuning and inspection really runs (small data: a second or two each).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Select, Static, TextArea

from tests.conftest import Database
from tests.tui.helpers import capture_notes, wait_loaded, wait_until, write_faiss_files
from vecscope.core.faissidx import files
from vecscope.core.faissidx.workload import default_destination, slug
from vecscope.tui.app import VecscopeApp
from vecscope.tui.screens.faiss import FaissScreen
from vecscope.tui.widgets.faiss_browser import FaissBrowser
from vecscope.tui.widgets.faiss_progress import FaissJobLine
from vecscope.tui.widgets.faiss_tune import TunePanel, TunePoints
from vecscope.tui.widgets.latency_plots import SweepPlot

SIZE = (160, 40)
#: A conversion or a tuning on a shared two-core machine: generous, never a race.
JOB_TIMEOUT = 120.0


@pytest.fixture
def folder(tmp_path: Path) -> dict[str, Path]:
    return write_faiss_files(tmp_path / "indexes")


async def _open(pilot: Pilot[Any]) -> FaissScreen:
    """F6 from the Indexes mode, until the browser lists the folder."""
    app = pilot.app
    await wait_loaded(pilot)
    await pilot.press("f6")
    await wait_until(pilot, lambda: isinstance(app.screen, FaissScreen))
    screen = app.screen
    assert isinstance(screen, FaissScreen)
    browser = screen.query_one(FaissBrowser)
    await wait_until(pilot, lambda: bool(browser.root.children))
    return screen


async def _pick(pilot: Pilot[Any], screen: FaissScreen, path: Path) -> None:
    """Put the browser's cursor on ``path`` and press enter, as a user does."""
    browser = screen.query_one(FaissBrowser)
    await wait_until(pilot, lambda: browser.node_of(path) is not None)
    node = browser.node_of(path)
    assert node is not None
    browser.focus()
    browser.move_cursor(node, animate=False)
    await pilot.press("enter")
    await wait_until(pilot, lambda: screen.path == path)


def _text(screen: FaissScreen, selector: str) -> str:
    widget = screen.query_one(selector)
    if isinstance(widget, FaissJobLine):
        return widget.text
    return str(screen.query_one(selector, Static).render())


def _shown(app: Any, widget: Any) -> str:
    """The text on screen within ``widget``'s region, lines joined by spaces (what a user
    reads, wrapped lines and all)."""
    region = widget.region
    strips = app.screen._compositor.render_strips()
    lines = [strip.crop(region.x, region.right).text for strip in strips[region.y : region.bottom]]
    return " ".join(" ".join(lines).split())


async def _job_done(pilot: Pilot[Any], screen: FaissScreen, outcome: Callable[[], bool]) -> None:
    """Until the job's ``outcome`` shows and no job runs any more."""
    await wait_until(pilot, outcome, timeout=JOB_TIMEOUT)
    await wait_until(pilot, lambda: screen.job is None)
    await pilot.pause()


def test_names_of_new_files(tmp_path: Path) -> None:
    assert slug("OPQ16_64,HNSW32_PQ16") == "opq16_64.hnsw32_pq16"
    assert slug("HNSW32_PQ8,Refine(SQ8)") == "hnsw32_pq8.refine-sq8"
    src = tmp_path / "ivf.index"
    assert default_destination(src, "HNSW32") == tmp_path / "ivf.hnsw32.index"
    (tmp_path / "ivf.hnsw32.index").write_bytes(b"x")
    assert default_destination(src, "HNSW32") == tmp_path / "ivf.hnsw32-2.index"
    assert default_destination(tmp_path / "vectors.dat", "HNSW32").suffix == ".index"


async def test_browser_shows_faiss_files_and_every_file_on_a(
    db: Database, folder: dict[str, Path]
) -> None:
    app = VecscopeApp(db.target, faiss_dir=folder["ivf"].parent)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open(pilot)
        browser = screen.query_one(FaissBrowser)

        def names() -> set[str]:
            return {str(n.label) for n in browser.root.children}

        assert names() == {"ivf.index", "lossy.faiss", "truncated.index", "random.bin", "empty.ivf"}
        await pilot.press("a")
        await wait_until(pilot, lambda: "notes.txt" in names())
        assert "vectors.npy" in names()
        assert "every file" in _text(screen, "#faiss-bar")
        await pilot.press("a")
        await wait_until(pilot, lambda: "notes.txt" not in names())
        # Nothing picked yet: the keys that need a file are shown disabled.
        assert screen.check_action("convert", ()) is None
        assert screen.check_action("tune", ()) is None


async def test_inspector_describes_an_ivf_file(db: Database, folder: dict[str, Path]) -> None:
    app = VecscopeApp(db.target, faiss_dir=folder["ivf"].parent)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open(pilot)
        await _pick(pilot, screen, folder["ivf"])
        await wait_until(pilot, lambda: screen.info is not None)
        text = _text(screen, "#faiss-inspector")
        for shown in (
            "ivf.index",
            "IndexIVFFlat",
            "1,000 vectors of 32 dims",
            "metric L2",
            "140 bytes a vector",
            "memory-mappable",
            "stored exactly",
            "nlist=32",
            "quantizer",
            "IndexFlatL2",
        ):
            assert shown in text, shown
        # The conversion form offers targets for 32 dimensions, HNSW32 first.
        preset = screen.query_one("#convert-preset", Select)
        assert preset.value == "HNSW32"
        assert screen.query_one("#convert-dst", Input).value == "ivf.hnsw32.index"
        screen.query_one("#convert-factory", Input).value = "OPQ8_32,HNSW32_PQ8"
        await pilot.pause()
        assert preset.value == "OPQ8_32,HNSW32_PQ8"  # the candidate for 32 dims
        assert screen.query_one("#convert-dst", Input).value == "ivf.opq8_32.hnsw32_pq8.index"

        await _pick(pilot, screen, folder["lossy"])
        await wait_until(pilot, lambda: screen.info is not None)
        assert "lossy codes" in _text(screen, "#faiss-inspector")


@pytest.mark.parametrize("name", ["truncated", "random", "empty"])
async def test_unusable_files_are_a_line_never_a_crash(
    db: Database, folder: dict[str, Path], name: str
) -> None:
    app = VecscopeApp(db.target, faiss_dir=folder["ivf"].parent)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open(pilot)
        path = folder[name]
        await _pick(pilot, screen, path)
        await wait_until(pilot, lambda: "✗" in _text(screen, "#faiss-inspector"))
        text = _text(screen, "#faiss-inspector")
        with pytest.raises(files.FaissFileError) as caught:
            files.inspect(path)
        assert caught.value.message.replace(str(path), path.name) in text
        assert str(path.parent) not in text  # the file's name, not its whole path
        assert screen.info is None
        assert screen.check_action("convert", ()) is None
        await pilot.press("c", "t")  # disabled: nothing happens, nothing breaks
        await pilot.pause()
        assert screen.job is None and app.is_running
        # The next file reads fine.
        await _pick(pilot, screen, folder["ivf"])
        await wait_until(pilot, lambda: screen.info is not None)


async def test_convert_to_hnsw_verifies_and_selects_the_new_file(
    db: Database, folder: dict[str, Path]
) -> None:
    src = folder["ivf"]
    app = VecscopeApp(db.target, faiss_dir=src.parent)
    async with app.run_test(size=SIZE) as pilot:
        notes = capture_notes(app)
        screen = await _open(pilot)
        await _pick(pilot, screen, src)
        await wait_until(pilot, lambda: screen.info is not None)
        before = src.read_bytes()
        dst = src.with_name("ivf.hnsw32.index")
        await pilot.press("c")
        await _job_done(pilot, screen, lambda: screen.path == dst)
        assert dst.exists() and src.read_bytes() == before
        result = _text(screen, "#convert-result")
        assert "wrote ivf.hnsw32.index" in result
        assert "recall@10 on 1,000 sampled queries: new " in result
        assert "source " in result and "agreement with the source" in result
        # The new file is selected, in the inspector and in the browser.
        assert screen.path == dst and screen.info is not None
        assert screen.info.type == "IndexHNSWFlat"
        assert "converted here from ivf.index (HNSW32)" in _text(screen, "#faiss-inspector")
        browser = screen.query_one(FaissBrowser)
        cursor = browser.cursor_node
        assert cursor is not None and cursor.data is not None and cursor.data.path == dst
        # Converting to a name that exists is refused: the file stays as it is.
        written = dst.read_bytes()
        screen.query_one("#convert-dst", Input).value = "ivf.index"
        await pilot.press("c")
        await _job_done(pilot, screen, lambda: any("exists" in n for n in notes))
        assert "exists" in _text(screen, "#convert-progress")
        # The new error does not sit above the last conversion's "wrote ...".
        assert _text(screen, "#convert-result") == ""
        assert dst.read_bytes() == written and src.read_bytes() == before


async def test_opq_conversion_then_tuning_against_the_source(
    db: Database, folder: dict[str, Path]
) -> None:
    """OPQ+HNSW with PQ codes: lossy, so tuning it uses the exact vectors of its source."""
    src = folder["ivf"]
    app = VecscopeApp(db.target, faiss_dir=src.parent)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open(pilot)
        await _pick(pilot, screen, src)
        await wait_until(pilot, lambda: screen.info is not None)
        # 4-bit codes train in a second or two (8-bit OPQ takes minutes on small machines).
        screen.query_one("#convert-factory", Input).value = "OPQ4_32,HNSW16_PQ4x4"
        await pilot.pause()
        dst = src.with_name("ivf.opq4_32.hnsw16_pq4x4.index")
        await pilot.press("c")
        await _job_done(pilot, screen, lambda: screen.path == dst and screen.info is not None)
        assert screen.info is not None
        assert screen.info.vectors == "lossy"
        assert "recall@10" in _text(screen, "#convert-result")
        # FAISS's training warnings are notes, never on the screen by themselves.
        assert "WARNING clustering" not in _text(screen, "#faiss-inspector")
        await pilot.press("t")
        await _job_done(pilot, screen, lambda: dst in screen.tunings)
        tuned = screen.tunings[dst]
        assert tuned.tuning.points and "from ivf.index, its source" in tuned.described
        assert tuned.tuning.factory == "OPQ4_32,HNSW16_PQ4x4"


async def test_tune_plots_recommends_and_copies_the_deployment(
    db: Database, folder: dict[str, Path]
) -> None:
    src = folder["ivf"]
    app = VecscopeApp(db.target, faiss_dir=src.parent)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open(pilot)
        await _pick(pilot, screen, src)
        await wait_until(pilot, lambda: screen.info is not None)
        assert not screen.check_action("copy_deployment", ())
        screen.query_one("#tune-target", Input).value = "0.9"
        await pilot.press("t")
        await _job_done(pilot, screen, lambda: src in screen.tunings)
        tuned = screen.tunings[src]
        tuning = tuned.tuning
        assert [p.values["nprobe"] for p in tuning.points] == [1, 2, 4, 8, 16, 32]
        assert tuning.target_recall == 0.9 and tuning.pareto
        assert tuning.recommendation is not None and tuning.best is not None
        assert tuned.described == "500 sampled queries · exact answers from its own vectors"
        plot = screen.query_one(SweepPlot)
        assert len(plot.measurements) == len(tuning.points)
        assert plot.recommended == tuning.recommendation
        assert plot.pareto == frozenset(tuning.pareto) and plot.target_recall == 0.9
        assert screen.query_one(TunePoints).row_count == len(tuning.points)
        assert f"recommended {tuning.best.setting}" in _text(screen, "#tune-progress")
        deploy = screen.query_one("#tune-deploy", TextArea).text
        assert "FAISS_INDEX_TYPE=IVF" in deploy
        assert f"FAISS_NPROBE={tuning.best.values['nprobe']}" in deploy
        await pilot.press("y")
        panel = screen.query_one(TunePanel)
        assert panel.deployment is not None and app.clipboard == panel.deployment
        # Another file has no tuning yet; picking this one again shows its tuning.
        await _pick(pilot, screen, folder["lossy"])
        await wait_until(pilot, lambda: screen.info is not None)
        assert panel.deployment is None
        await _pick(pilot, screen, src)
        await wait_until(pilot, lambda: panel.deployment is not None)


async def test_tuning_a_lossy_file_needs_its_originals(
    db: Database, folder: dict[str, Path]
) -> None:
    app = VecscopeApp(db.target, faiss_dir=folder["ivf"].parent)
    async with app.run_test(size=SIZE) as pilot:
        notes = capture_notes(app)
        screen = await _open(pilot)
        await _pick(pilot, screen, folder["lossy"])
        await wait_until(pilot, lambda: screen.info is not None)
        await pilot.press("t")
        await _job_done(pilot, screen, lambda: any("lossy codes" in n for n in notes))
        assert folder["lossy"] not in screen.tunings
        # The originals as a .npy, relative to the file's folder.
        screen.query_one("#tune-vectors", Input).value = "vectors.npy"
        await pilot.press("t")
        await _job_done(pilot, screen, lambda: folder["lossy"] in screen.tunings)
        tuned = screen.tunings[folder["lossy"]]
        assert tuned.described.endswith("exact answers from vectors.npy")
        assert "FAISS_INDEX_TYPE=HNSW" in screen.query_one("#tune-deploy", TextArea).text


async def test_cancelled_conversion_writes_nothing(db: Database, tmp_path: Path) -> None:
    import faiss
    import numpy as np

    # Sixteen batches of vectors to add (core adds 20,000 at a time, checking for a cancel
    # before each): escape after the first lands while the rest are still to come.
    x = np.random.default_rng(5).normal(size=(300_001, 16)).astype(np.float32)
    src = tmp_path / "big.index"
    ivf = faiss.index_factory(16, "IVF16,Flat")
    ivf.train(x[:5000])
    ivf.add(x)
    faiss.write_index(ivf, str(src))
    app = VecscopeApp(db.target, faiss_dir=tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open(pilot)
        await _pick(pilot, screen, src)
        await wait_until(pilot, lambda: screen.info is not None)
        await pilot.press("c")
        stage = "#convert-progress"
        await wait_until(pilot, lambda: "adding vectors" in _text(screen, stage), timeout=60)
        await pilot.press("escape")
        await _job_done(pilot, screen, lambda: "nothing was written" in _text(screen, stage))
        assert not src.with_name("big.hnsw32.index").exists()
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


async def test_the_screen_is_drawn_past_faiss_training_warnings() -> None:
    """core collects FAISS's C++ warnings by pointing descriptor 2 at a file while it trains;
    Textual draws through its own copy of the descriptor, so the screen is not collected."""
    import signal

    from vecscope.core.connection import ConnectionTarget
    from vecscope.core.faissidx.search import captured_stderr
    from vecscope.tui.terminal import OwnDescriptorDriver, driver_class

    assert driver_class() is OwnDescriptorDriver
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTSTP, signal.SIGCONT)}
    try:
        driver = OwnDescriptorDriver(VecscopeApp(ConnectionTarget(dsn="port=1")))
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    out = driver._file
    assert out is not None
    try:
        assert out.fileno() != 2
        with captured_stderr() as said:
            out.write("the screen\n")
            out.flush()
        assert "the screen" not in said
    finally:
        out.close()


SMALL_SIZES = [(80, 24), (100, 30)]


@pytest.mark.parametrize("size", SMALL_SIZES)
async def test_small_terminals_show_every_field_and_the_whole_error(
    db: Database, folder: dict[str, Path], size: tuple[int, int]
) -> None:
    """Issue #15 (15): the TUI said "give the originals with --vectors" (a flag of the
    command line), cut off; an old "wrote ..." stayed under the new error. At 80x24 and
    100x30 each field is wide enough for its value, and errors wrap whole."""
    app = VecscopeApp(db.target, faiss_dir=folder["ivf"].parent)
    async with app.run_test(size=size) as pilot:
        screen = await _open(pilot)
        await _pick(pilot, screen, folder["ivf"])
        await wait_until(pilot, lambda: screen.info is not None)
        await pilot.pause()
        for field in ("#convert-factory", "#convert-dst", "#convert-vectors"):
            assert screen.query_one(field).size.width >= len("ivf.hnsw32.index") + 1, field
        go = screen.query_one("#convert-go")
        assert go.region.right <= size[0] and "Convert" in _shown(app, go)
        inspector = screen.query_one("#faiss-inspector")
        shown = _shown(app, inspector)
        for fact in ("IndexIVFFlat", "1,000 vectors of 32 dims", "stored exactly", "nlist=32"):
            assert fact in shown, fact
        assert "IndexFlatL2" in shown  # the whole chain, down to the quantizer
        assert "reads" in _shown(app, screen.query_one("#faiss-bar"))

        await pilot.press("c")
        await _job_done(pilot, screen, lambda: "wrote" in _text(screen, "#convert-result"))
        await _pick(pilot, screen, folder["lossy"])
        await wait_until(pilot, lambda: screen.info is not None)
        await pilot.press("c")
        line = screen.query_one("#convert-progress", FaissJobLine)
        await _job_done(pilot, screen, lambda: "✗" in line.text)
        assert _text(screen, "#convert-result") == ""
        assert "--vectors" not in line.text and "in the vectors field above" in line.text
        await pilot.pause()
        assert " ".join(line.text.split()) in _shown(app, line)  # all of it, wrapped

        await pilot.press("t")
        tune_line = screen.query_one("#tune-progress", FaissJobLine)
        await _job_done(pilot, screen, lambda: "✗" in tune_line.text)
        assert "--" not in tune_line.text and "vectors field above" in tune_line.text
        await pilot.pause()
        assert " ".join(tune_line.text.split()) in _shown(app, tune_line)


async def test_a_long_step_moves_and_says_how_far(
    db: Database, folder: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue #15 (10): "0% ... trainin..." for two minutes. A step FAISS says nothing more
    of still shows its phase, its counts and a clock and spinner that move."""
    import threading

    from vecscope.core.faissidx.convert import Stopped
    from vecscope.core.faissidx.progress import Step
    from vecscope.tui.screens import faiss as faiss_screen

    def slow_convert(*_args: Any, progress: Any, should_stop: Any, **_kw: Any) -> Any:
        progress(Step("training", 3, 50, "OPQ iterations", "OPQ rotation: PQ slice 2 of 48"))
        stop = threading.Event()
        while not stop.wait(0.05):
            if should_stop():
                raise Stopped
        raise AssertionError("unreachable")

    monkeypatch.setattr(faiss_screen, "convert", slow_convert)
    app = VecscopeApp(db.target, faiss_dir=folder["ivf"].parent)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(pilot)
        await _pick(pilot, screen, folder["ivf"])
        await wait_until(pilot, lambda: screen.info is not None)
        await pilot.press("c")
        line = screen.query_one("#convert-progress", FaissJobLine)
        await wait_until(pilot, lambda: "OPQ iterations" in line.text)
        assert "training · 3 / 50 OPQ iterations" in line.text
        assert "PQ slice 2 of 48" in line.text
        first = line.clock
        await wait_until(pilot, lambda: "0:01" in line.clock, timeout=10)
        assert line.clock != first and line.running
        shown = _shown(app, line)
        assert "training" in shown and "0:0" in shown and "esc cancels" in shown
        await pilot.press("escape")
        await _job_done(pilot, screen, lambda: "nothing was written" in line.text)
        assert not line.running


async def test_help_names_the_mode_and_lists_enter(db: Database, folder: dict[str, Path]) -> None:
    """Issue #15 (17): the help was titled "Keys · Faiss" and left out enter."""
    from textual.widgets import DataTable

    from vecscope.tui.screens.help import HelpScreen

    app = VecscopeApp(db.target, faiss_dir=folder["ivf"].parent)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(pilot)
        await pilot.press("question_mark")
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))
        help_screen = app.screen
        assert str(help_screen.query_one("#help-title", Static).render()) == "Keys · FAISS"
        table = help_screen.query_one(DataTable)
        keys = [str(table.get_row_at(i)[0]) for i in range(table.row_count)]
        assert "enter" in keys
        await pilot.press("escape")
        # enter where no field takes it reads the highlighted file, as the help says.
        browser = screen.query_one(FaissBrowser)
        await wait_until(pilot, lambda: browser.node_of(folder["ivf"]) is not None)
        node = browser.node_of(folder["ivf"])
        assert node is not None
        browser.move_cursor(node, animate=False)
        screen.action_read_file()
        await wait_until(pilot, lambda: screen.info is not None)
