"""Every read-only feature on a real streaming hot standby (pg_basebackup -R of the tests'
server), the migration refusing there having changed nothing, and the lab's exact answers
surviving the standby cancelling them for its replay."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psycopg
import pytest

from tests.conftest import Database
from tests.core.cli_helpers import assert_one_line_error, vecscope
from tests.standby import demo_pair, wait_replayed
from vecscope.core.catalog.inventory import fetch_inventory
from vecscope.core.connection import connected
from vecscope.core.embedded import EmbeddedServer
from vecscope.core.lab.groundtruth import GroundTruth, ground_truth
from vecscope.core.lab.sampling import QuerySet, sample_queries
from vecscope.core.lab.target import LabTarget, make_target
from vecscope.core.migrate.refusal import STANDBY, refusal

NAME = "t_standby_demo"
SERVED = (
    "SELECT id FROM messages ORDER BY embedding <-> "
    "(SELECT embedding FROM messages WHERE id = 42) LIMIT 10"
)


@pytest.fixture(scope="module")
def pair(
    pg: EmbeddedServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Database, Database]]:
    """The (small) demo on the primary, and the same database on its hot standby."""
    with demo_pair(pg, tmp_path_factory.mktemp("standby"), NAME) as pair:
        yield pair


def test_the_standby_is_real(pair: tuple[Database, Database]) -> None:
    primary, standby = pair
    with standby.connect() as conn:
        assert conn.execute("SELECT pg_is_in_recovery()").fetchone() == (True,)
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("CREATE TABLE nope (id int)")
    with primary.connect() as conn:
        conn.execute("CREATE TABLE replicated (id int)")
        conn.execute("INSERT INTO replicated VALUES (7)")
    wait_replayed(primary.server, standby.server)
    with standby.connect() as conn:
        assert conn.execute("SELECT id FROM replicated").fetchone() == (7,)


def test_indexes_report_the_standby(pair: tuple[Database, Database]) -> None:
    primary, standby = pair
    on_standby = vecscope("indexes", "--json", "--dsn", standby.dsn)
    on_primary = vecscope("indexes", "--json", "--dsn", primary.dsn)
    assert on_standby.code == 0 and on_primary.code == 0, (on_standby.err, on_primary.err)
    s, p = json.loads(on_standby.out), json.loads(on_primary.out)
    assert s["server"]["in_recovery"] is True and p["server"]["in_recovery"] is False
    assert sorted(ix["name"] for ix in s["indexes"]) == sorted(ix["name"] for ix in p["indexes"])
    text = vecscope("indexes", "--dsn", standby.dsn)
    assert text.code == 0 and "HOT STANDBY" in text.out


def test_explain_and_analyze_on_the_standby(pair: tuple[Database, Database]) -> None:
    _, standby = pair
    for extra in ([], ["--analyze"]):
        r = vecscope("explain", "--dsn", standby.dsn, "--json", *extra, SERVED)
        assert r.code == 0, r.err
        assert json.loads(r.out)["uses_vector_index"] is True


def test_bench_on_the_standby(pair: tuple[Database, Database]) -> None:
    _, standby = pair
    r = vecscope(
        "bench", "--dsn", standby.dsn, "--table", "public.doc_chunks", "--column", "embedding",
        "--queries", "30", "--probes", "1,100", "--json",
    )  # fmt: skip
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    assert [row["recall"] > 0 for row in doc["results"]] == [True, True]
    assert max(row["recall"] for row in doc["results"]) >= 0.95


def test_live_polls_the_standby(pair: tuple[Database, Database]) -> None:
    _, standby = pair
    r = vecscope(
        "live", "--dsn", standby.dsn, "--json", "--interval", "0.5", "--duration", "2s",
        timeout=60,
    )  # fmt: skip
    assert r.code == 0, r.err
    lines = [json.loads(line) for line in r.out.splitlines()]
    assert len(lines) >= 2 and not any("error" in line for line in lines)
    assert any(ix["index"] == "public.idx_doc_chunks_embedding" for ix in lines[-1]["indexes"])


def test_migrate_refuses_on_the_standby_and_changes_nothing(
    pair: tuple[Database, Database], tmp_path: Path
) -> None:
    primary, standby = pair

    def definitions(db: Database) -> list[tuple[str, str]]:
        with db.connect() as conn:
            return [
                (str(r[0]), str(r[1]))
                for r in conn.execute(
                    "SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid)"
                    " FROM pg_index ORDER BY 1"
                ).fetchall()
            ]

    before = definitions(primary)
    backups, journal = tmp_path / "backups", tmp_path / "journal.jsonl"
    r = vecscope(
        "migrate", "run", "--dsn", standby.dsn, "--index", "public.idx_doc_chunks_embedding",
        "--to", "hnsw", "--backup", "table", "--backup-dir", str(backups),
        "--journal", str(journal), "--yes",
    )  # fmt: skip
    # Refused before anything: the one line the Migrate mode shows too, no journal, no dump.
    assert_one_line_error(r, STANDBY)
    assert not journal.exists()
    assert not backups.exists() or not any(backups.iterdir())
    assert definitions(primary) == before
    wait_replayed(primary.server, standby.server)
    assert definitions(standby) == before


def test_a_write_command_on_the_standby_is_one_line(pair: tuple[Database, Database]) -> None:
    """explain --analyze of a write is refused before the server sees it, as on a primary."""
    _, standby = pair
    r = vecscope("explain", "--dsn", standby.dsn, "--analyze", "DELETE FROM atoms")
    assert_one_line_error(r)


def test_refusal_names_the_standby_and_nothing_on_the_primary(
    pair: tuple[Database, Database],
) -> None:
    primary, standby = pair
    with connected(standby.target) as conn:
        assert refusal(conn, fetch_inventory(conn)) == STANDBY
    with connected(primary.target) as conn:
        assert refusal(conn, fetch_inventory(conn)) is None


# --- the lab's exact answers when replay cancels them --------------------------------

CONFLICT_ROWS = 30_000


def _standby_setting(standby: Database, value: str | None) -> None:
    """ALTER SYSTEM on the standby (it writes its own postgresql.auto.conf) and reload."""
    with standby.connect() as conn:
        if value is None:
            conn.execute("ALTER SYSTEM RESET max_standby_streaming_delay")
        else:
            conn.execute(f"ALTER SYSTEM SET max_standby_streaming_delay = '{value}'")
        conn.execute("SELECT pg_reload_conf()")
    want = value or "30s"
    deadline = time.monotonic() + 10
    while True:
        with standby.connect() as conn:
            row = conn.execute("SHOW max_standby_streaming_delay").fetchone()
        if row is not None and row[0] == want:
            return
        assert time.monotonic() < deadline, row
        time.sleep(0.05)


def _lock_conflicts(standby: Database) -> int:
    with standby.connect() as conn:
        row = conn.execute(
            "SELECT confl_lock FROM pg_stat_database_conflicts WHERE datname = current_database()"
        ).fetchone()
    assert row is not None
    return int(row[0])


def _exact_scan_running(standby: Database) -> bool:
    with standby.connect() as conn:
        row = conn.execute(
            # The exact scan is sent with its settings in one message, whose text is cut
            # at track_activity_query_size before the table's name: its settings show it.
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
            "AND query LIKE '%enable_indexscan%' AND pid <> pg_backend_pid()"
        ).fetchone()
    return row is not None and int(row[0]) > 0


@pytest.fixture(scope="module")
def conflict_table(pair: tuple[Database, Database]) -> str:
    """30,000 x 128-d vectors on the primary: one exact scan takes ~30 ms on the standby."""
    primary, standby = pair
    with primary.connect() as conn:
        conn.execute("CREATE TABLE conflicted (id bigint PRIMARY KEY, embedding vector(128))")
        conn.execute(
            "INSERT INTO conflicted SELECT i, (SELECT array_agg(random()) "
            "FROM generate_series(1, 128) WHERE i > 0)::vector(128) "
            f"FROM generate_series(1, {CONFLICT_ROWS}) i"
        )
        conn.execute("VACUUM ANALYZE conflicted")
    wait_replayed(primary.server, standby.server)
    return "conflicted"


def _truth_into(
    standby: Database, target: LabTarget, queries: QuerySet, out: list[GroundTruth | BaseException]
) -> None:
    """Exact answers on the standby, on a thread: the result or the error lands in ``out``."""
    try:
        with connected(standby.target) as conn:
            out.append(ground_truth(conn, target, queries, 10, method="postgres", use_cache=False))
    except BaseException as e:  # noqa: BLE001 - handed to the test's thread
        out.append(e)


def test_exact_ground_truth_is_retried_when_replay_cancels_it(
    pair: tuple[Database, Database], conflict_table: str
) -> None:
    """A real recovery conflict: with max_standby_streaming_delay = 0, the primary's
    ACCESS EXCLUSIVE lock, replayed while an exact scan runs on the standby, cancels that
    scan ("canceling statement due to conflict with recovery"). The lab runs it again and
    its answers are the same as those computed with nothing in the way."""
    primary, standby = pair
    with connected(standby.target) as conn:
        target = make_target(
            conn, "public", conflict_table, "embedding", "vector", 128, "<->", None
        )
        queries = sample_queries(conn, target, 40)
        calm = ground_truth(conn, target, queries, 10, method="postgres", use_cache=False)
    assert calm.conflicts_retried == 0
    _standby_setting(standby, "0")
    try:
        # The lock must land while a scan runs (not in the instant between two): a few
        # tries make that certain; each one checks the standby really cancelled a scan.
        for _ in range(10):
            before = _lock_conflicts(standby)
            done: list[GroundTruth | BaseException] = []
            worker = threading.Thread(target=_truth_into, args=(standby, target, queries, done))
            worker.start()
            deadline = time.monotonic() + 30
            while not _exact_scan_running(standby):
                assert time.monotonic() < deadline and worker.is_alive()
                time.sleep(0.005)
            with primary.connect() as conn, conn.transaction():
                conn.execute(f"LOCK TABLE {conflict_table} IN ACCESS EXCLUSIVE MODE")
            worker.join(120)
            assert not worker.is_alive()
            (result,) = done
            if isinstance(result, BaseException):
                raise result
            # The replayed lock must have cancelled this scan (not only counted a conflict
            # somewhere in the database) for the try to count.
            if _lock_conflicts(standby) > before and result.conflicts_retried >= 1:
                break
        else:
            pytest.fail("the standby never cancelled a scan for the replayed lock")
    finally:
        _standby_setting(standby, None)
    assert result.conflicts_retried >= 1
    assert np.array_equal(result.ids, calm.ids)
    assert np.allclose(result.distances, calm.distances)
