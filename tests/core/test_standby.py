"""Every read-only feature on a real streaming hot standby (pg_basebackup -R of the tests'
server), and the migration refusing there having changed nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.conftest import DEMO_TEST_ROWS, Database, _drop_database, _fresh_database
from tests.core.cli_helpers import assert_one_line_error, vecscope
from tests.standby import start_standby, wait_replayed
from vecscope.core import embedded
from vecscope.core.demo.seed import seed
from vecscope.core.embedded import EmbeddedServer

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
    primary = _fresh_database(pg, NAME, extension=False)
    seed(primary.dsn, DEMO_TEST_ROWS, progress=lambda _: None)
    standby_server = start_standby(pg, tmp_path_factory.mktemp("standby"))
    try:
        wait_replayed(pg, standby_server)
        yield primary, Database(NAME, standby_server)
    finally:
        embedded.stop(standby_server.pgdata)
        _drop_database(pg, NAME)


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
    assert r.code in (2, 3), (r.code, r.out, r.err)
    assert "hot standby" in (r.out + r.err)
    # Refused at preflight: no dump was taken (the journal records the refusal).
    assert not backups.exists() or not any(backups.iterdir())
    assert definitions(primary) == before
    wait_replayed(primary.server, standby.server)
    assert definitions(standby) == before


def test_a_write_command_on_the_standby_is_one_line(pair: tuple[Database, Database]) -> None:
    """explain --analyze of a write is refused before the server sees it, as on a primary."""
    _, standby = pair
    r = vecscope("explain", "--dsn", standby.dsn, "--analyze", "DELETE FROM atoms")
    assert_one_line_error(r)
