"""Snapshots of every screen on the old pairing, pgserver (PostgreSQL 16, pgvector 0.6.2;
see snapshot_cases)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Database
from tests.tui import snapshot_cases
from vecscope.core import embedded

if embedded.server_name() != "pgserver":
    pytest.skip("these snapshots belong to the pgserver server", allow_module_level=True)


def test_indexes_screen(demo_db: Database, snap_compare: Any) -> None:
    assert snapshot_cases.indexes_screen(demo_db, snap_compare)


def test_help_screen(demo_db: Database, snap_compare: Any) -> None:
    assert snapshot_cases.help_screen(demo_db, snap_compare)


def test_explain_screen(demo_db: Database, snap_compare: Any) -> None:
    assert snapshot_cases.explain_screen(demo_db, snap_compare)


def test_latency_screen(demo_db: Database, snap_compare: Any) -> None:
    assert snapshot_cases.latency_screen_empty(demo_db, snap_compare)


def test_connection_error_screen(snap_compare: Any) -> None:
    assert snapshot_cases.connection_error_screen(snap_compare)


def test_migrate_screen_planned(demo_db: Database, snap_compare: Any) -> None:
    assert snapshot_cases.migrate_screen_planned(demo_db, snap_compare)


def test_migrate_screen_build_step(demo_db: Database, snap_compare: Any) -> None:
    assert snapshot_cases.migrate_screen_build_step(demo_db, snap_compare)


def test_faiss_screen(
    demo_db: Database, snap_compare: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))  # the browser shows ~/indexes on every machine
    assert snapshot_cases.faiss_screen(demo_db, snap_compare, tmp_path, "ivf")


def test_faiss_screen_corrupt_file(
    demo_db: Database, snap_compare: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    assert snapshot_cases.faiss_screen(demo_db, snap_compare, tmp_path, "truncated")


def test_live_replay_screen(snap_compare: Any) -> None:
    assert snapshot_cases.live_replay_screen(snap_compare)
