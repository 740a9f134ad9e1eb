"""The migration's state machine before any journal, and its typed journal records.

Nothing here touches a database: a planned :class:`Migration` never connects, and the
records are plain data read back from what the journal would hold.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from vecscope.core.connection import ConnectionTarget
from vecscope.core.errors import BadInputError
from vecscope.core.migrate.build import BuildOutcome
from vecscope.core.migrate.engine import Migration
from vecscope.core.migrate.plan import MigrationSpec
from vecscope.core.migrate.preflight import DEFAULT_MEMORY_CAP_KB
from vecscope.core.migrate.records import (
    BackupChoice,
    CutoverResult,
    PreflightSummary,
    RunOptions,
    build_from_json,
    build_json,
)
from vecscope.core.migrate.runner import stops_after
from vecscope.core.migrate.states import (
    DEFAULT_MAX_MEMORY_MB,
    Kind,
    Status,
    Step,
    title,
)
from vecscope.core.migrate.verify import Figures, Verification

TARGET = ConnectionTarget(dsn="host=/nowhere dbname=none")


def _spec(**changes: object) -> MigrationSpec:
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
        old_definition="CREATE INDEX idx_doc_chunks_embedding ON public.doc_chunks "
        "USING ivfflat (embedding vector_cosine_ops) WITH (lists='100')",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_a_planned_rebuild_runs_preflight_first_and_writes_nothing() -> None:
    mig = Migration.planned(TARGET, _spec())
    assert not mig.journaled and not mig.in_progress and not mig.finished
    assert mig.status(Step.PLAN) == Status.DONE
    assert mig.status(Step.PREFLIGHT) == Status.PENDING
    assert mig.status(Step.CUTOVER) == Status.PENDING
    assert mig.blocked_reason(Step.PREFLIGHT) is None
    assert mig.blocked_reason(Step.BUILD) == "run preflight first (it starts the journal)"
    assert mig.next_step() == Step.PREFLIGHT
    assert mig.remaining() == (
        Step.PREFLIGHT,
        Step.BACKUP,
        Step.BASELINE,
        Step.BUILD,
        Step.VERIFY,
        Step.CUTOVER,
    )
    assert not mig.may_force_cutover()
    assert mig.preflight_summary() is None and mig.results() == {}
    # Before cutover, a rollback only drops the new index (the journal's preview; the
    # exact plan, rollback_plan(), asks the catalog).
    assert any("DROP INDEX" in st.sql and "hnsw_idx" in st.sql for st in mig.rollback_statements())
    with pytest.raises(BadInputError, match="only planned"):
        _ = mig.journal
    with pytest.raises(BadInputError, match="preflight first"):
        mig.verify()


def test_a_first_index_has_no_cutover() -> None:
    mig = Migration.planned(TARGET, _spec(kind=Kind.CREATE, old_name=None, old_definition=None))
    assert mig.status(Step.CUTOVER) == Status.NOT_NEEDED
    assert mig.blocked_reason(Step.CUTOVER) == "nothing to cut over: no old index is dropped"
    assert Step.CUTOVER not in mig.remaining()


def test_run_options_carry_the_one_memory_default() -> None:
    assert RunOptions().memory_cap_kb == DEFAULT_MAX_MEMORY_MB * 1024 == DEFAULT_MEMORY_CAP_KB
    assert RunOptions(max_memory_mb=512).memory_cap_kb == 512 * 1024
    assert RunOptions().maintenance_work_mem_kb is None
    assert RunOptions(maintenance_work_mem_mb=64).maintenance_work_mem_kb == 64 * 1024
    # A journal written by the Migrate screen keeps only some options.
    read = RunOptions.from_json(
        {"max_memory_mb": None, "maintenance_work_mem_mb": 32, "server_cores": None}
    )
    assert read == RunOptions(maintenance_work_mem_mb=32)
    assert read.backup_choice == BackupChoice("table")
    assert RunOptions(backup="confirmed:snap-1").backup_choice == BackupChoice(
        "confirmed", "snap-1"
    )
    assert RunOptions.from_json(json.loads(json.dumps(RunOptions(no_cutover=True).to_json()))) == (
        RunOptions(no_cutover=True)
    )


def test_step_records_read_back_as_written() -> None:
    summary = PreflightSummary(("disk",), ("old_ccnew",), 12.5, 10**8, 2 * 10**8, 65536, 2)
    assert PreflightSummary.from_json(json.loads(json.dumps(summary.to_json()))) == summary
    outcome = BuildOutcome(3.14159, 2, ("hnsw graph no longer fits",), 2, 100, 4096)
    back = build_from_json(json.loads(json.dumps(build_json(outcome))))
    assert back == replace(outcome, seconds=3.14)
    assert build_from_json({"recovered": True}) is None
    cut = CutoverResult(1, True, "doc_chunks_embedding_hnsw_idx", "served")
    assert CutoverResult.from_json(cut.to_json()) == replace(cut, verdict="")
    figures = Figures("after", "ix", 0.98, 0.4, 0.7, 0.8, 2000.0, 100)
    verification = Verification(True, "ix", "ok", {}, figures, None, 0.9, True, ())
    assert Verification.from_json(json.loads(json.dumps(verification.to_json()))) == verification


def test_runs_stop_where_the_cli_stops() -> None:
    outcome = BuildOutcome(1.0, 1, (), None, None, 0)
    assert not stops_after(outcome)
    assert stops_after(replace(outcome, cancelled=True))
    assert not stops_after(None)


def test_titles_cover_every_step_and_a_worker_job() -> None:
    assert [title(s) for s in Step][:3] == ["Plan", "Preflight", "Backup"]
    assert title("reconcile") == "reconcile"
