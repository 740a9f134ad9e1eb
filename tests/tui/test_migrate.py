"""The Migrate mode driven with Pilot on the real demo database: every step really runs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pytest
from textual.pilot import Pilot
from textual.widgets import Input, ProgressBar, Select, Static

from tests.conftest import Database
from tests.tui.helpers import capture_notes, click, wait_loaded, wait_until
from vecscope.core.catalog.inventory import fetch_inventory
from vecscope.core.connection import ConnectionTarget
from vecscope.core.migrate import journal as jn
from vecscope.core.migrate.backup import BackupRecord
from vecscope.core.migrate.build import BuildOutcome, BuildProgress
from vecscope.core.migrate.engine import CutoverResult, Migration
from vecscope.core.migrate.plan import MigrationSpec, choose
from vecscope.core.migrate.preflight import Preflight
from vecscope.core.migrate.states import Kind, Step
from vecscope.core.migrate.verify import Figures, Verification
from vecscope.tui.app import VecscopeApp
from vecscope.tui.screens.backup_choice import BackupChoiceScreen
from vecscope.tui.screens.confirm import ConfirmScreen
from vecscope.tui.screens.journals import JournalsScreen
from vecscope.tui.screens.migrate import MigrateScreen
from vecscope.tui.widgets.checklist import Checklist
from vecscope.tui.widgets.inventory_table import InventoryTable
from vecscope.tui.widgets.step_results import (
    build_outcome_lines,
    build_progress_lines,
    figures_lines,
)

SIZE = (160, 50)
#: Each step really runs on a shared two-core machine: generous, never a race.
STEP_TIMEOUT = 180.0


def _index_state(db: Database, name: str) -> tuple[bool, bool] | None:
    with db.connect() as conn:
        row = conn.execute(
            "SELECT x.indisvalid, x.indisready FROM pg_index x "
            "JOIN pg_class c ON c.oid = x.indexrelid WHERE c.relname = %s",
            (name,),
        ).fetchone()
    return None if row is None else (bool(row[0]), bool(row[1]))


def _migrate(app: Any) -> MigrateScreen:
    screen = app.screen
    assert isinstance(screen, MigrateScreen), screen
    return screen


async def _open_on(pilot: Pilot[Any], row: str) -> MigrateScreen:
    """``m`` on an Indexes row; until the Migrate mode has planned it."""
    app = pilot.app
    await wait_loaded(pilot)
    table = app.screen.query_one(InventoryTable)
    table.focus()
    table.move_cursor(row=table.get_row_index(row))
    await pilot.press("m")
    await wait_until(
        pilot,
        lambda: (
            isinstance(app.screen, MigrateScreen)
            and (app.screen.board.spec is not None or app.screen.board.plan_error is not None)
        ),
        timeout=60,
    )
    screen = _migrate(app)
    await pilot.pause()
    return screen


async def _select(pilot: Pilot[Any], screen: MigrateScreen, key: str) -> None:
    checklist = screen.query_one(Checklist)
    checklist.focus()
    checklist.select_key(key)
    await pilot.pause()


async def _run(pilot: Pilot[Any], screen: MigrateScreen, key: str) -> None:
    """Highlight ``key``, press enter, answer nothing; until its worker ended."""
    await _select(pilot, screen, key)
    await pilot.press("enter")
    await _until_idle(pilot, screen, key)


async def _until_idle(pilot: Pilot[Any], screen: MigrateScreen, key: str) -> None:
    """Until step ``key`` has a result (or an error) and no worker runs."""
    board = screen.board

    def ended() -> bool:
        return board.running is None and (key in board.results or key in board.errors)

    await wait_until(pilot, ended, timeout=STEP_TIMEOUT)
    await pilot.pause()


def _panel(screen: MigrateScreen) -> str:
    return str(screen.query_one("#step-body", Static).render())


async def _type(pilot: Pilot[Any], text: str) -> None:
    await pilot.press(*["space" if ch == " " else ch for ch in text])


async def test_ivfflat_to_hnsw_through_every_step_then_rollback(demo_db: Database) -> None:
    app = VecscopeApp(demo_db.target)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open_on(pilot, "ix:public.idx_doc_chunks_embedding")
        spec = screen.board.spec
        assert spec is not None and spec.old_name == "idx_doc_chunks_embedding"
        assert spec.method == "hnsw" and spec.opclass == "vector_cosine_ops"
        assert screen.query_one(Checklist).states[Step.PLAN] == "done"
        assert "doc_chunks_embedding_hnsw_idx" in str(
            screen.query_one("#migrate-bar", Static).render()
        )

        await _run(pilot, screen, "preflight")
        preflight = screen.board.results[Step.PREFLIGHT]
        assert isinstance(preflight, Preflight) and preflight.ok
        assert "ok" in _panel(screen) and "preflight passed" in _panel(screen)
        mig = screen.board.mig
        assert mig is not None and mig.path.is_relative_to(jn.migrations_dir())

        # The backup asks table / database / confirmed; the table is dumped and verified.
        await _select(pilot, screen, "backup")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, BackupChoiceScreen))
        await pilot.pause()
        await click(pilot, "#backup-go")
        await _until_idle(pilot, screen, "backup")
        record = screen.board.results[Step.BACKUP]
        assert isinstance(record, BackupRecord) and record.kind == "table"
        assert record.path is not None and Path(record.path).stat().st_size == record.bytes
        assert record.sha256 is not None and record.sha256 in _panel(screen)

        await _run(pilot, screen, "baseline")
        assert screen.board.results[Step.BASELINE] is not None
        assert "before (baseline)" in _panel(screen)

        await _select(pilot, screen, "build")
        assert "CREATE INDEX CONCURRENTLY IF NOT EXISTS" in _panel(screen)
        await pilot.press("enter")
        await _until_idle(pilot, screen, "build")
        outcome = screen.board.results[Step.BUILD]
        assert isinstance(outcome, BuildOutcome) and not outcome.cancelled
        assert "built in" in _panel(screen)
        assert _index_state(demo_db, "doc_chunks_embedding_hnsw_idx") == (True, True)

        await _run(pilot, screen, "verify")
        verification = screen.board.results[Step.VERIFY]
        assert isinstance(verification, Verification) and verification.passed
        panel = _panel(screen)
        assert "after (new index)" in panel and "PASSED" in panel

        # Cutover drops an index: the old index's name must be typed in full.
        await _select(pilot, screen, "cutover")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.pause()
        await _type(pilot, "idx_doc_chunks")
        await pilot.press("enter")  # not the whole name: nothing happens
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen)
        await _type(pilot, "_embedding")
        await pilot.press("enter")
        await _until_idle(pilot, screen, "cutover")
        result = screen.board.results[Step.CUTOVER]
        assert isinstance(result, CutoverResult)
        assert result.served_by == "doc_chunks_embedding_hnsw_idx"
        assert _index_state(demo_db, "idx_doc_chunks_embedding") is None
        assert _index_state(demo_db, "doc_chunks_embedding_hnsw_idx") == (True, True)
        states = screen.query_one(Checklist).states
        assert all(
            states[k] == "done" for k in (Step.PREFLIGHT, Step.BACKUP, Step.BUILD, Step.CUTOVER)
        )
        assert "final EXPLAIN" in _panel(screen)

        # Rollback after cutover: the table's name typed; the old IVFFlat comes back.
        await pilot.press("x")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.pause()
        body = str(app.screen.query_one("#confirm-body Static", Static).render())
        assert "USING ivfflat" in body and "doc_chunks_embedding_hnsw_idx" in body
        await _type(pilot, "doc_chunks")
        await pilot.press("enter")
        await _until_idle(pilot, screen, "rollback")
        assert _index_state(demo_db, "idx_doc_chunks_embedding") == (True, True)
        assert _index_state(demo_db, "doc_chunks_embedding_hnsw_idx") is None
        assert screen.board.mig is not None and screen.board.mig.rolled_back


async def test_plan_errors_inline_build_refused_before_backup_rollback(demo_db: Database) -> None:
    app = VecscopeApp(demo_db.target)
    async with app.run_test(size=SIZE) as pilot:
        notes = capture_notes(app)
        # messages already has HNSW with these parameters: the plan says so, in one line.
        screen = await _open_on(pilot, "ix:public.idx_messages_embedding_hnsw")
        assert screen.board.spec is None
        error = str(screen.query_one("#plan-error", Static).render())
        assert "already hnsw with these parameters" in error
        # The cosine opclass the application needs: typed in the form, enter plans again.
        box = screen.query_one("#plan-opclass", Input)
        box.focus()
        await _type(pilot, "vector_cosine_ops")
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.board.spec is not None, timeout=60)
        spec = screen.board.spec
        assert spec is not None and spec.opclass == "vector_cosine_ops"
        assert str(screen.query_one("#plan-error", Static).render()) == ""

        await _select(pilot, screen, "build")
        await pilot.press("enter")
        await pilot.pause()
        assert screen.board.running is None and screen.board.mig is None
        await _run(pilot, screen, "preflight")
        await _select(pilot, screen, "build")
        await pilot.press("r")
        await pilot.pause()
        assert any("no verified backup yet" in n for n in notes), notes
        assert screen.board.running is None
        assert screen.board.status(Step.BUILD) == "pending"
        assert _index_state(demo_db, spec.new_name) is None

        # A confirmed backup: the identifier must be typed.
        await _select(pilot, screen, "backup")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, BackupChoiceScreen))
        await pilot.pause()
        await click(pilot, "#backup-confirmed")
        await click(pilot, "#backup-go")
        await pilot.pause()
        assert isinstance(app.screen, BackupChoiceScreen)  # no identifier yet
        app.screen.query_one("#backup-identifier", Input).focus()
        await _type(pilot, "rds:snap-2026-11-21")
        await pilot.press("enter")
        await _until_idle(pilot, screen, "backup")
        record = screen.board.results[Step.BACKUP]
        assert isinstance(record, BackupRecord)
        assert (record.kind, record.identifier) == ("confirmed", "rds:snap-2026-11-21")

        await _run(pilot, screen, "build")
        assert _index_state(demo_db, spec.new_name) == (True, True)
        # Cutover before verify: refused.
        await _select(pilot, screen, "cutover")
        await pilot.press("enter")
        await pilot.pause()
        assert any("verify first" in n for n in notes), notes

        # Rollback before cutover drops only the new index.
        await pilot.press("x")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.pause()
        await _type(pilot, "messages")
        await pilot.press("enter")
        await _until_idle(pilot, screen, "rollback")
        assert _index_state(demo_db, spec.new_name) is None
        assert _index_state(demo_db, "idx_messages_embedding_hnsw") == (True, True)
        assert screen.query_one(Checklist).states[Step.ROLLBACK] == "done"


@pytest.fixture
def snapshot_holder(demo_db: Database) -> Iterator[psycopg.Connection[Any]]:
    """A session whose open snapshot a concurrent build must wait for."""
    conn = psycopg.connect(demo_db.dsn, autocommit=False)
    yield conn
    conn.rollback()
    conn.close()


async def test_build_waits_survives_leaving_and_cancels(
    demo_db: Database, snapshot_holder: psycopg.Connection[Any]
) -> None:
    app = VecscopeApp(demo_db.target)
    async with app.run_test(size=SIZE) as pilot:
        notes = capture_notes(app)
        screen = await _open_on(pilot, "ix:public.idx_doc_chunks_embedding")
        await _run(pilot, screen, "preflight")
        await _select(pilot, screen, "backup")
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, BackupChoiceScreen))
        await pilot.pause()
        await click(pilot, "#backup-confirmed")
        app.screen.query_one("#backup-identifier", Input).focus()
        await _type(pilot, "pitr-1")
        await pilot.press("enter")
        await _until_idle(pilot, screen, "backup")

        # A report holds a snapshot open: the build ends up waiting for it.
        snapshot_holder.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        snapshot_holder.execute("SELECT count(*) FROM atoms").fetchone()
        holder_pid = snapshot_holder.info.backend_pid
        await _select(pilot, screen, "build")
        await pilot.press("enter")

        def waiting() -> bool:
            p = screen.board.progress
            return p is not None and any(b.pid == holder_pid for b in p.waiting_for)

        await wait_until(pilot, waiting, timeout=STEP_TIMEOUT)
        assert f"pid {holder_pid}" in _panel(screen)
        assert screen.query_one("#build-bar", ProgressBar).display

        # Leaving the mode keeps the build; quitting asks (and escape keeps it too).
        await pilot.press("f2")
        await pilot.pause()
        assert any("keeps running" in n for n in notes), notes
        assert screen.board.running == "build"
        await pilot.press("q")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.pause()
        await pilot.press("escape")
        await pilot.press("f5")
        await wait_until(pilot, lambda: app.screen is screen)
        assert screen.board.running == "build"

        await pilot.press("c")
        await _until_idle(pilot, screen, "build")
        outcome = screen.board.results[Step.BUILD]
        assert isinstance(outcome, BuildOutcome) and outcome.cancelled
        assert screen.board.status(Step.BUILD) == "failed"
        assert "cancelled" in _panel(screen)
        assert _index_state(demo_db, "doc_chunks_embedding_hnsw_idx") is None

        # Built again, then quit during the build: asked, then cancelled cleanly, then gone.
        await _select(pilot, screen, "build")
        await pilot.press("enter")
        await wait_until(pilot, waiting, timeout=STEP_TIMEOUT)
        await pilot.press("q")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.pause()
        await click(pilot, "#confirm-yes")
        await wait_until(pilot, lambda: not app.is_running, timeout=STEP_TIMEOUT)
    assert _index_state(demo_db, "doc_chunks_embedding_hnsw_idx") is None
    state = jn.read(jn.latest() or Path("none"))
    assert state.steps[Step.BUILD].state == jn.FAILED
    snapshot_holder.rollback()


async def test_offers_to_resume_an_unfinished_journal(demo_db: Database) -> None:
    target = ConnectionTarget(dsn=demo_db.dsn)
    with demo_db.connect() as conn:
        inventory = fetch_inventory(conn)
    spec = choose(inventory, index="public.idx_atoms_embedding_hnsw", to="ivfflat")
    mig = Migration.start(target, spec)
    mig.journal.record("preflight", jn.INTENT)  # killed during preflight

    app = VecscopeApp(demo_db.target)
    async with app.run_test(size=SIZE) as pilot:
        await wait_loaded(pilot)
        await pilot.press("f5")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen), timeout=30)
        body = str(app.screen.query_one("#confirm-body Static", Static).render())
        assert "stopped during preflight" in body
        await click(pilot, "#confirm-yes")
        await wait_until(pilot, lambda: isinstance(app.screen, MigrateScreen))
        screen = _migrate(app)
        await wait_until(
            pilot, lambda: screen.board.mig is not None and screen.running is None, timeout=60
        )
        assert screen.board.mig is not None and screen.board.mig.path == mig.path
        assert any("stops during preflight" in line for line in screen.board.logs[Step.PLAN])
        assert screen.board.status(Step.PREFLIGHT) == "failed"
        assert screen.board.spec == spec
        journal = str(screen.query_one("#journal-path", Static).render())
        assert mig.path.name in journal

        # o lists this database's journals.
        await pilot.press("o")
        await wait_until(pilot, lambda: isinstance(app.screen, JournalsScreen), timeout=30)
        await pilot.press("escape")


async def test_a_column_without_index_plans_a_first_one(demo_db: Database) -> None:
    app = VecscopeApp(demo_db.target)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open_on(pilot, "col:public.articles.embedding")
        spec = screen.board.spec
        assert spec is not None and spec.kind == "create" and spec.old_name is None
        assert screen.query_one(Checklist).states[Step.CUTOVER] == "not needed"
        assert screen.board.to_run() == ("preflight", "backup", "baseline", "build", "verify")


async def test_preflight_leftovers_dropped_on_request(demo_db: Database) -> None:
    app = VecscopeApp(demo_db.target)
    async with app.run_test(size=SIZE) as pilot:
        screen = await _open_on(pilot, "ix:search.Product Embeddings_hnsw")
        assert screen.board.spec is None  # already HNSW as it is: pick another method
        screen.query_one("#plan-method", Select).value = "ivfflat"
        await wait_until(pilot, lambda: screen.board.spec is not None, timeout=60)
        await _run(pilot, screen, "preflight")
        preflight = screen.board.results[Step.PREFLIGHT]
        assert isinstance(preflight, Preflight)
        assert preflight.leftovers == ("Product Embeddings_cosine_idx",)
        assert "WARN invalid index Product Embeddings_cosine_idx" in _panel(screen)
        assert _index_state(demo_db, "Product Embeddings_cosine_idx") == (False, True)

        await pilot.press("d")
        await wait_until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.pause()
        await click(pilot, "#confirm-yes")
        await wait_until(
            pilot,
            lambda: (
                screen.board.running is None
                and not getattr(screen.board.results.get(Step.PREFLIGHT), "leftovers", True)
            ),
            timeout=STEP_TIMEOUT,
        )
        assert _index_state(demo_db, "Product Embeddings_cosine_idx") is None
        assert any(
            "Product Embeddings_cosine_idx" in line for line in screen.board.logs[Step.PREFLIGHT]
        )


def _spec(**changes: Any) -> MigrationSpec:
    base = MigrationSpec(
        kind=Kind.REBUILD,
        schema="public",
        table="doc_chunks",
        column="embedding",
        column_type="vector",
        dims=384,
        rows=50_000,
        method="hnsw",
        opclass="vector_cosine_ops",
        params={"m": 16, "ef_construction": 64},
        new_name="doc_chunks_embedding_hnsw_idx",
        old_name="idx_doc_chunks_embedding",
        maintenance_work_mem_kb=64 * 1024,
    )
    return replace(base, **changes)


def test_a_spilled_graph_names_the_setting_that_would_have_fit() -> None:
    notice = "hnsw graph no longer fits into maintenance_work_mem after 25000 tuples"
    outcome = BuildOutcome(31.0, 1, (notice, "using 1 parallel workers"), 1, 25_000, 10**8)
    text = "\n".join(
        line.plain for line in build_outcome_lines(outcome, _spec(), 20.0, graph_bytes=None)
    )
    assert "built in 31.0 s (predicted 20.0 s)" in text
    assert notice in text and "parallel workers" not in text
    # 64 MB held 25,000 of 50,000 rows: 128 MB, with pgvector's headroom 160 MB.
    assert "SET maintenance_work_mem = '160MB';" in text


def test_baseline_and_new_index_side_by_side() -> None:
    before = Figures("before", "idx_doc_chunks_embedding", 0.592, 0.69, 1.36, 1.5, 1200.0, 100)
    after = Figures("after", "doc_chunks_embedding_hnsw_idx", 0.978, 0.45, 0.68, 0.8, 2000.0, 100)
    lines = [line.plain for line in figures_lines(before, after, 10)]
    assert "before (baseline)" in lines[0] and "after (new index)" in lines[0]
    recall = next(line for line in lines if line.startswith("recall@10"))
    assert recall.split() == ["recall@10", "0.592", "0.978"]


def test_a_partitions_build_shows_which_partition() -> None:
    progress = BuildProgress(
        "building index: loading tuples",
        42.0,
        3.0,
        5.0,
        partition="events_2026_02",
        partition_number=2,
        partitions=4,
    )
    text = "\n".join(line.plain for line in build_progress_lines(progress, _spec(), None, None))
    assert "partition" in text and "2 of 4: events_2026_02" in text
    assert progress.where == "partition 2/4 events_2026_02"
