"""vecscope through a real PgBouncer (Debian's package), in transaction and session mode.

PgBouncer before 1.21 has no protocol-level prepared statements, so through it in
transaction mode psycopg's automatic prepared statements fail ("prepared statement
_pg3_0 already exists"), and a session SET may land on another server session than the
query it was meant for. vecscope finds the pooler (two connections, see
``connection.pooling_of``), prepares nothing, puts every lab setting into the measured
query's own transaction, and refuses to migrate through it unless given a direct DSN.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests import faults, pgbouncer
from tests.conftest import Database
from tests.core.cli_helpers import assert_one_line_error, vecscope
from vecscope.core.connection import ConnectionTarget, Pooling, pooling_of
from vecscope.core.lab import measure as lab

pytestmark = pytest.mark.skipif(
    not pgbouncer.available(), reason="PgBouncer is not installed (apt install pgbouncer)"
)


@pytest.fixture(scope="module")
def tx_bouncer(
    demo_db: Database, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[pgbouncer.Bouncer]:
    bouncer = pgbouncer.start(demo_db.server, tmp_path_factory.mktemp("pgb-tx"), "transaction")
    yield bouncer
    bouncer.stop()


@pytest.fixture(scope="module")
def session_bouncer(
    demo_db: Database, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[pgbouncer.Bouncer]:
    bouncer = pgbouncer.start(demo_db.server, tmp_path_factory.mktemp("pgb-s"), "session")
    yield bouncer
    bouncer.stop()


def _dsn(bouncer: pgbouncer.Bouncer, db: Database) -> str:
    return bouncer.conninfo(db.name)


def test_the_pooler_is_real_and_is_found(
    demo_db: Database, tx_bouncer: pgbouncer.Bouncer, session_bouncer: pgbouncer.Bouncer
) -> None:
    # Really pooled: a session setting does not follow the client to its next transaction
    # when another client takes the server session in between.
    dsn = _dsn(tx_bouncer, demo_db)
    with (
        psycopg.connect(dsn, autocommit=True, prepare_threshold=None) as a,
        psycopg.connect(dsn, autocommit=True, prepare_threshold=None) as b,
    ):
        pid_a = a.execute("SELECT pg_backend_pid()").fetchone()
        with b.transaction():
            pid_b = b.execute("SELECT pg_backend_pid()").fetchone()
        assert pid_a == pid_b  # the same server session, handed from one client to the other
    probe = pooling_of(ConnectionTarget(dsn=dsn))
    assert probe.mode == Pooling.TRANSACTION, probe
    assert pooling_of(ConnectionTarget(dsn=_dsn(session_bouncer, demo_db))).mode != (
        Pooling.TRANSACTION
    )
    assert pooling_of(demo_db.target).mode == Pooling.NONE
    # Said by the user, believed without a probe.
    said = ConnectionTarget(dsn=demo_db.dsn, pooling=Pooling.TRANSACTION)
    assert pooling_of(said).mode == Pooling.TRANSACTION


@pytest.mark.parametrize("mode", ["transaction", "session"])
def test_indexes_explain_and_bench_work_through_pgbouncer(
    demo_db: Database,
    tx_bouncer: pgbouncer.Bouncer,
    session_bouncer: pgbouncer.Bouncer,
    mode: str,
) -> None:
    bouncer = tx_bouncer if mode == "transaction" else session_bouncer
    dsn = _dsn(bouncer, demo_db)
    assert vecscope("indexes", "--json", "--dsn", dsn).code == 0
    knn = (
        "SELECT id FROM messages ORDER BY embedding <-> "
        "(SELECT embedding FROM messages WHERE id = 42) LIMIT 10"
    )
    for _ in range(2):  # the second run would meet the first run's prepared statements
        assert vecscope("explain", "--dsn", dsn, knn).code in (0, 3)
    result = vecscope(
        "bench", "--dsn", dsn, "--table", "public.messages", "--column", "embedding",
        "--ef-search", "1,200", "--queries", "30", "--json",
    )  # fmt: skip
    assert result.code in (0, 3), result.err
    data = json.loads(result.out)
    recall = {m["settings"]["hnsw.ef_search"]: m["recall"] for m in data["results"]}
    # ef_search = 1 returns at most a handful of candidates: if the setting did not reach
    # the measured queries, both would measure the server's default (40).
    assert recall["1"] < 0.6 < recall["200"], recall


def test_pooled_lab_settings_are_proven_in_the_measuring_transaction(
    demo_db: Database, tx_bouncer: pgbouncer.Bouncer
) -> None:
    target = ConnectionTarget(dsn=_dsn(tx_bouncer, demo_db))
    conn = lab.open_session(target, {"hnsw.ef_search": "7"})
    try:
        with conn.transaction():
            lab._set_local(conn, {"hnsw.ef_search": "7"})
            row = conn.execute("SELECT current_setting('hnsw.ef_search')").fetchone()
        assert row == ("7",)
        # Nothing was left on the server sessions other clients use.
        with psycopg.connect(
            _dsn(tx_bouncer, demo_db), autocommit=True, prepare_threshold=None
        ) as other:
            assert other.execute("SHOW hnsw.ef_search").fetchone() == ("40",)
        with pytest.raises(Exception, match="ef_search"):
            lab.apply_settings(conn, {"hnsw.ef_search": "not a number"})
    finally:
        conn.close()


def test_live_polls_through_a_transaction_pooler_without_a_failed_poll(
    demo_db: Database, tx_bouncer: pgbouncer.Bouncer
) -> None:
    result = vecscope(
        "live", "--dsn", _dsn(tx_bouncer, demo_db), "--json", "--interval", "0.5",
        "--duration", "4s",
    )  # fmt: skip
    assert result.code == 0, result.err
    polls = [json.loads(line) for line in result.out.splitlines() if line.strip()]
    assert len(polls) >= 4
    assert not any(p.get("error") for p in polls), [p.get("error") for p in polls]
    assert "prepared statement" not in result.err


def test_migrate_refuses_a_transaction_pooler_and_changes_nothing(
    demo_db: Database, tx_bouncer: pgbouncer.Bouncer, tmp_path: Path
) -> None:
    t = faults.make_table(demo_db.dsn, "pooled_mig", seed=21)
    journal = tmp_path / "j.jsonl"
    argv = faults.command(t, "run", journal)
    argv[argv.index("--dsn") + 1] = _dsn(tx_bouncer, demo_db)
    code, out = faults.run(argv)
    assert code == 2, out
    lines = [ln for ln in out.splitlines() if ln.startswith("vecscope:")]
    assert len(lines) == 1 and "transaction pooler" in lines[0] and "--direct-dsn" in lines[0]
    assert not journal.exists()
    assert faults.broken(t, final="rollback") == []
    # Given a direct connection beside it, the migration runs there.
    code, out = faults.run([*argv, "--direct-dsn", demo_db.dsn])
    assert code == 0, out
    assert faults.broken(t, final="resume") == []


def test_direct_dsn_must_reach_the_same_database(
    demo_db: Database, db: Database, tx_bouncer: pgbouncer.Bouncer
) -> None:
    result = vecscope(
        "migrate", "run", "--dsn", _dsn(tx_bouncer, demo_db), "--index",
        "public.idx_doc_chunks_embedding", "--direct-dsn", db.dsn, "--yes",
    )  # fmt: skip
    assert_one_line_error(result, "not the database")


def test_migrate_through_a_session_pooler_works(
    demo_db: Database, session_bouncer: pgbouncer.Bouncer, tmp_path: Path
) -> None:
    t = faults.make_table(demo_db.dsn, "session_mig", seed=22)
    argv = faults.command(t, "run", tmp_path / "j.jsonl")
    argv[argv.index("--dsn") + 1] = _dsn(session_bouncer, demo_db)
    code, out = faults.run(argv)
    assert code == 0, out
    assert faults.broken(t, final="resume") == []


async def test_the_migrate_mode_names_the_pooler_before_its_form(
    demo_db: Database, tx_bouncer: pgbouncer.Bouncer
) -> None:
    """Through a transaction pooler the Migrate mode says why before anyone fills a form
    (the same line `migrate run` ends with), and the form stays disabled."""
    from textual.widgets import Button, Static

    from tests.tui.helpers import wait_loaded, wait_until
    from vecscope.tui.app import VecscopeApp
    from vecscope.tui.screens.migrate import MigrateScreen

    app = VecscopeApp(ConnectionTarget(dsn=_dsn(tx_bouncer, demo_db)))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_loaded(pilot)
        await pilot.press("f5")

        def refused() -> bool:
            screen = app.screen
            return isinstance(screen, MigrateScreen) and screen.board.refused is not None

        await wait_until(pilot, refused, timeout=60)
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, MigrateScreen) and screen.board.refused is not None
        assert "transaction pooler" in screen.board.refused
        assert "--direct-dsn" in screen.board.refused
        bar = str(screen.query_one("#migrate-bar", Static).render())
        assert bar.startswith("✗ cannot migrate here: this connection goes through")
        assert screen.query_one("#plan-go", Button).disabled
