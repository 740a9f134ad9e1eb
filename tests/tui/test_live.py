"""The Live mode driven by keys: live on both kinds of server, and a recording replayed."""

from __future__ import annotations

import html
import re
import threading
from pathlib import Path
from typing import Any

import pytest
from psycopg import sql
from textual.pilot import Pilot
from textual.widgets import Static, TextArea

from tests.conftest import Database
from tests.tui.helpers import capture_notes, screen_text, wait_loaded, wait_until
from vecscope.cli.launch import main
from vecscope.core.connection import ConnectionTarget
from vecscope.core.demo.workload import DemoWorkload
from vecscope.core.live.recording import Recording, recordings_dir
from vecscope.tui.app import VecscopeApp
from vecscope.tui.context import LiveOptions
from vecscope.tui.replay import ReplayApp
from vecscope.tui.screens.explain import ExplainScreen
from vecscope.tui.screens.live import LiveScreen
from vecscope.tui.widgets.live_views import ActivityPanel, IndexesTable, IndexScansPlot, ShapesTable

RECORDING = Path(__file__).parent.parent / "data" / "live_demo.sqlite"
SIZE = (160, 40)


def plain(app: Any) -> str:
    """The screen's text, as a person reads it."""
    return html.unescape(re.sub(r"<[^>]+>", "", screen_text(app))).replace("\xa0", " ")


def _live(app: Any) -> LiveScreen:
    screen = app.screen
    assert isinstance(screen, LiveScreen)
    return screen


async def _open_live(pilot: Pilot[Any], polls: int = 2) -> LiveScreen:
    await wait_loaded(pilot)
    await pilot.press("f7")
    await wait_until(pilot, lambda: isinstance(pilot.app.screen, LiveScreen))
    screen = _live(pilot.app)
    await wait_until(pilot, lambda: len(screen.points) >= polls, timeout=30)
    return screen


async def test_live_without_pg_stat_statements(bare_demo_db: Database) -> None:
    """A server without pg_stat_statements loaded: one line says what is missing and how
    to enable it, the shapes' charts and table are hidden, `e` says why there is nothing
    to explain; the index scans, activity and settings show as usual."""
    app = VecscopeApp(bare_demo_db.target, live_options=LiveOptions(interval_s=0.5))
    notes = capture_notes(app)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open_live(pilot)
        await pilot.pause()
        note = str(screen.query_one("#live-notes", Static).render())
        assert note.startswith("⚠ No query shapes: pg_stat_statements is not loaded")
        assert "shared_preload_libraries" in note and "\n" not in note
        for chart in ("#live-calls", "#live-mean", "#live-rows", "#live-shapes"):
            assert not screen.query_one(chart).display, chart
        assert screen.query_one(IndexScansPlot).display
        assert screen.query_one(IndexScansPlot).region.width > SIZE[0] // 2
        assert screen.query_one(ShapesTable).row_count == 0
        await pilot.press("e")
        await pilot.pause()
        assert notes[-1].startswith("pg_stat_statements: No query shapes to explain:")
        assert "shared_preload_libraries" in notes[-1]
        assert not any("yet" in n for n in notes)
        indexes = screen.query_one(IndexesTable)
        cell = indexes.get_cell("search.Product Embeddings_cosine_idx", "note")
        assert str(cell).startswith("INVALID")
        assert indexes.row_count >= 5

        # Record: a file in the state directory, replayable, then stopped by the same key.
        await pilot.press("r")
        await wait_until(
            pilot, lambda: screen.live is not None and screen.live.recorder is not None
        )
        assert screen.live is not None and screen.live.recorder is not None
        recorder = screen.live.recorder
        await wait_until(pilot, lambda: recorder.polls >= 2, timeout=30)
        assert recorder.path.parent == recordings_dir()
        assert "● REC" in plain(app)
        await pilot.press("r")
        await wait_until(pilot, lambda: screen.live is not None and screen.live.recorder is None)
        recording = Recording(recorder.path)
        assert recording.info().polls >= 2
        recording.close()

        # For sharing: the palette's "record without query texts" keeps no SQL text.
        screen.action_record_without_text()
        await wait_until(
            pilot, lambda: screen.live is not None and screen.live.recorder is not None
        )
        assert screen.live is not None and screen.live.recorder is not None
        private = screen.live.recorder
        await wait_until(pilot, lambda: private.polls >= 1, timeout=30)
        assert "no query texts" in plain(app)
        await pilot.press("r")
        await wait_until(pilot, lambda: screen.live is not None and screen.live.recorder is None)
        recording = Recording(private.path)
        assert not recording.query_text and recording.info().polls >= 1
        assert all(r.query is None for snap in recording.snapshots() for r in snap.running)
        recording.close()

        # Pause: no poll while paused; space again goes on.
        await pilot.press("space")
        await app.workers.wait_for_complete()
        count = len(screen.points)
        await pilot.pause(1.5)
        assert len(screen.points) == count and "PAUSED" in plain(app)
        await pilot.press("space")
        await wait_until(pilot, lambda: len(screen.points) > count, timeout=30)

        # Slower, faster: the interval moves through its steps.
        await pilot.press("plus")
        assert screen.interval_s == 1.0
        await pilot.press("minus", "minus")
        assert screen.interval_s == 0.5  # the fastest step


@pytest.fixture
def workload(pgss_demo_db: Database) -> Any:
    w = DemoWorkload(pgss_demo_db.dsn, clients=2, switch_after_s=None, progress=lambda _: None)
    thread = threading.Thread(target=w.run, daemon=True)
    thread.start()
    yield w
    w.stop()
    thread.join(timeout=30)


async def test_live_shapes_and_explain(pgss_demo_db: Database, workload: Any) -> None:
    """The demo's searches show as shapes with rates; `e` opens the plan doctor on one."""
    target = ConnectionTarget(dsn=pgss_demo_db.dsn)
    app = VecscopeApp(target, live_options=LiveOptions(interval_s=0.5))
    notes = capture_notes(app)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open_live(pilot)

        def docs_rated() -> bool:
            point = screen.points[-1] if screen.points else None
            return point is not None and any(
                "doc_chunks" in (s.query or "") and s.calls > 0 for s in point.shapes
            )

        await wait_until(pilot, docs_rated, timeout=60)
        assert "pg_stat_statements is not" not in plain(app)

        # The settings watch: ALTER DATABASE ... SET is noticed, shown and toasted.
        alter = sql.SQL("ALTER DATABASE {} SET hnsw.ef_search = 100").format(
            sql.Identifier(pgss_demo_db.name)
        )
        with pgss_demo_db.connect() as conn:
            conn.execute(alter)
        try:
            await wait_until(pilot, lambda: "hnsw.ef_search unset → 100" in plain(app), timeout=30)
            # The toast, not only the panel.
            assert any(n.startswith("Setting changed: hnsw.ef_search: unset → 100") for n in notes)
        finally:
            with pgss_demo_db.connect() as conn:
                conn.execute(
                    sql.SQL("ALTER DATABASE {} RESET hnsw.ef_search").format(
                        sql.Identifier(pgss_demo_db.name)
                    )
                )
        table = screen.query_one(ShapesTable)
        table.focus()
        key = next(
            str(s.queryid) for s in screen.points[-1].shapes if "doc_chunks" in (s.query or "")
        )
        await pilot.pause()
        table.move_cursor(row=table.get_row_index(key))
        await pilot.press("e")
        await wait_until(pilot, lambda: isinstance(app.screen, ExplainScreen), timeout=30)
        editor = app.screen.query_one("#editor", TextArea)
        assert "doc_chunks" in editor.text and "<=>" in editor.text
        # Polling went on behind the Explain mode (a recording would have no gap).
        count = len(screen.points)
        await wait_until(pilot, lambda: len(screen.points) > count, timeout=30)


def _flagged(screen: LiveScreen, kind: str = "stopped") -> list[str]:
    """Valid indexes flagged ``kind`` ("stopped", "never used") at the poll looked at."""
    point = screen.window()[1]
    assert point is not None
    return [ix.key for ix in point.indexes if ix.flag and ix.valid and ix.flag.startswith(kind)]


async def test_replay_step_seek_play() -> None:
    """A recording opens with no database: step, seek, play, and explain copies the text."""
    app = ReplayApp(RECORDING)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, LiveScreen))
        screen = _live(app)
        await wait_until(pilot, lambda: screen.info is not None)
        last = len(screen.points) - 1
        assert last >= 30 and screen.position == last
        assert "REPLAY" in plain(app)
        await pilot.press("home")
        assert screen.position == 0
        await pilot.press("right")
        assert screen.position == 1
        await pilot.press("pagedown")
        assert screen.position == 31
        await pilot.press("left")
        assert screen.position == 30
        await pilot.press("end")
        assert screen.position == last
        await pilot.press("pageup")
        assert screen.position == last - 30
        # The flag of the deploy is visible at the end, not before it happened.
        await pilot.press("end")
        assert _flagged(screen) == ["search.Product Embeddings_hnsw"]
        # messages' l2 index never served the application's cosine searches, while the
        # table was scanned 6 times a second (issue #15): flagged too.
        assert "public.idx_messages_embedding_hnsw" in _flagged(screen, "never used")
        await pilot.press("home")
        assert _flagged(screen) == [] and _flagged(screen, "never used") == []
        # Play from the start to the end, then it pauses by itself.
        await pilot.press("space")
        assert not screen.paused
        await wait_until(pilot, lambda: screen.position == last and screen.paused, timeout=60)
        # No database: `e` copies the shape's text.
        table = screen.query_one(ShapesTable)
        table.focus()
        await pilot.press("e")
        await pilot.pause()
        assert "ORDER BY" in app.clipboard


def test_replay_refuses_a_bad_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a recording\n")
    assert main(["replay", str(text)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a vecscope recording" in err
    assert main(["replay", str(tmp_path / "missing.sqlite")]) == 2
    assert "no recording at" in capsys.readouterr().err


def test_live_tui_flags_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    existing = tmp_path / "taken.sqlite"
    existing.write_bytes(b"keep me")
    assert main(["live", "--record", str(existing)]) == 2
    assert "never overwrites" in capsys.readouterr().err
    assert existing.read_bytes() == b"keep me"
    assert main(["live", "--duration", "5s"]) == 2
    assert "--duration is for --json" in capsys.readouterr().err
    assert main(["live", "--interval", "0"]) == 2
    assert "--interval must be between" in capsys.readouterr().err


async def test_replay_of_an_empty_recording(tmp_path: Path) -> None:
    from vecscope.core.live.recording import Recorder

    path = tmp_path / "empty.sqlite"
    Recorder(
        path, server="u@h:5432/db", server_version="PostgreSQL 17.9", database="db", interval_s=2.0
    ).close()
    app = ReplayApp(path)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, LiveScreen))
        screen = _live(app)
        await wait_until(pilot, lambda: screen.info is not None)
        await pilot.press("home", "right", "space", "e")
        assert "empty.sqlite holds no poll" in plain(app)


def test_faiss_dir_must_be_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--faiss-dir", str(tmp_path / "nowhere"), "--dsn", "host=/nonexistent"]) == 2
    assert "--faiss-dir" in capsys.readouterr().err


@pytest.mark.parametrize("size", [(80, 24), (100, 30), (160, 48)])
async def test_live_layout(size: tuple[int, int]) -> None:
    """Designed for 80x24: every index row, the shapes, a footer that fits; charts (with
    their titles) when tall, the detail pane beside the tables when wide, on `d` when not."""
    app = ReplayApp(RECORDING)
    async with app.run_test(size=size) as pilot:
        await wait_until(pilot, lambda: isinstance(app.screen, LiveScreen))
        screen = _live(app)
        await wait_until(pilot, lambda: screen.info is not None)
        await pilot.pause()
        point = screen.window()[1]
        assert point is not None
        indexes = screen.query_one(IndexesTable)
        assert indexes.row_count == len(point.indexes) == 6
        # Every row inside the table's own height, and within the screen.
        assert indexes.region.bottom <= size[1] - 1
        assert indexes.scrollable_content_region.height >= indexes.row_count + 1
        text = plain(app)
        for ix in point.indexes:
            assert ix.key in text, (size, ix.key)
        assert "never used" in text and "stopped" in text and "INVALID" in text
        assert "e Explain" in text and "d Details" in text and "q Quit" in text
        charts = screen.query_one("#live-charts")
        activity = screen.query_one(ActivityPanel)
        tall, wide = size[1] >= 36, size[0] >= 120
        assert charts.display == tall
        if tall:
            for title in ("Calls per second per shape", "Mean ms per call", "Rows per call"):
                assert title in text, title
        assert activity.display == wide
        if not wide:
            await pilot.press("d")
            await pilot.pause()
            assert activity.display and not screen.query_one("#live-tables").display
            assert "no index scan at all" in " ".join(plain(app).split())
            await pilot.press("d")
            await pilot.pause()
            assert not activity.display and indexes.display
