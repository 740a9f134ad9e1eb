"""``vecscope explain``: exit codes, JSON, query sources, and safety, on the real server."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import Database
from tests.core.cli_helpers import assert_one_line_error, vecscope

MISMATCH = (
    "SELECT id FROM messages ORDER BY embedding <=> "
    "(SELECT embedding FROM messages WHERE id = 42) LIMIT 10"
)
SERVED = (
    "SELECT id FROM messages ORDER BY embedding <-> "
    "(SELECT embedding FROM messages WHERE id = 42) LIMIT 10"
)


def test_json_and_exit_code_for_an_error(demo_db: Database) -> None:
    r = vecscope("explain", "--dsn", demo_db.dsn, "--json", MISMATCH)
    assert r.code == 3, r.err
    doc = json.loads(r.out)
    assert doc["uses_vector_index"] is False
    rules = {f["rule"]: f for f in doc["findings"]}
    assert rules["operator-mismatch"]["severity"] == "error"
    assert {"rule", "severity", "message", "fix"} <= set(rules["operator-mismatch"])
    assert doc["plan"][0]["Plan"]["Node Type"] == "Limit"


def test_served_query_exits_zero(demo_db: Database) -> None:
    r = vecscope("explain", "--dsn", demo_db.dsn, "--json", SERVED)
    assert r.code == 0, r.err
    assert json.loads(r.out)["uses_vector_index"] is True


def test_try_fix_shows_the_index_serving(demo_db: Database) -> None:
    r = vecscope("explain", "--dsn", demo_db.dsn, "--try-fix", MISMATCH)
    assert r.code == 3
    assert "--- trying the fix ---" in r.out
    tail = r.out.split("--- trying the fix ---", 1)[1]
    assert "served by idx_messages_embedding_hnsw" in tail


def test_file_and_stdin(demo_db: Database, tmp_path: Path) -> None:
    f = tmp_path / "q.sql"
    f.write_text(SERVED + ";\n")
    r = vecscope("explain", "--dsn", demo_db.dsn, "-f", str(f))
    assert r.code == 0, r.err
    assert "served by idx_messages_embedding_hnsw" in r.out
    proc = subprocess.run(
        [sys.executable, "-m", "vecscope.cli.launch", "explain", "--dsn", demo_db.dsn, "-"],
        input=MISMATCH,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 3
    assert "operator-mismatch" in proc.stdout


def test_analyze_runs_reads_and_refuses_writes(demo_db: Database) -> None:
    r = vecscope("explain", "--dsn", demo_db.dsn, "--analyze", "--json", SERVED)
    assert r.code == 0, r.err
    assert json.loads(r.out)["analyzed"] is True
    with demo_db.connect() as c:
        before = c.execute("SELECT count(*) FROM articles").fetchone()
    r = vecscope("explain", "--dsn", demo_db.dsn, "--analyze", "DELETE FROM articles")
    assert_one_line_error(r, "EXPLAIN ANALYZE would execute this statement (DELETE)")
    # A function that writes, hidden in a SELECT, is stopped by READ ONLY.
    r = vecscope(
        "explain", "--dsn", demo_db.dsn, "--analyze", "SELECT nextval('articles_id_seq'::regclass)"
    )
    assert r.code == 2 and "Traceback" not in r.err
    with demo_db.connect() as c:
        assert c.execute("SELECT count(*) FROM articles").fetchone() == before
    # Plain EXPLAIN of a write shows its plan and changes nothing.
    r = vecscope("explain", "--dsn", demo_db.dsn, "DELETE FROM articles")
    assert r.code == 0, r.err
    with demo_db.connect() as c:
        assert c.execute("SELECT count(*) FROM articles").fetchone() == before


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("hello world", "not a SQL query"),
        ("SELECT id FROM no_such_table ORDER BY 1 LIMIT 1", 'relation "no_such_table"'),
        ("CREATE INDEX ON articles (id)", "EXPLAIN cannot explain"),
        ("SELECT 1; SELECT 2", "one statement at a time"),
        ("", "empty query"),
    ],
)
def test_bad_input(demo_db: Database, query: str, fragment: str) -> None:
    assert_one_line_error(vecscope("explain", "--dsn", demo_db.dsn, query), fragment)


def test_no_query_at_all(demo_db: Database) -> None:
    r = vecscope("explain", "--dsn", demo_db.dsn)
    assert_one_line_error(r, "no query")


def test_try_fix_with_a_setting(demo_db: Database) -> None:
    """probes-low's fix is `SET ivfflat.probes`: --try-fix runs the query with it."""
    query = (
        "SELECT id FROM doc_chunks ORDER BY embedding <=> "
        "(SELECT embedding FROM doc_chunks WHERE id = 7) LIMIT 10"
    )
    r = vecscope("explain", "--dsn", demo_db.dsn, "--json", "--try-fix", query)
    assert r.code == 0, r.err
    doc = json.loads(r.out)
    probes = next(f for f in doc["findings"] if f["rule"] == "probes-low")
    assert probes["settings"] == {"ivfflat.probes": "10"}
    assert doc["try_fix"]["tried"] == {
        "rule": "probes-low",
        "settings": {"ivfflat.probes": "10"},
        "rewritten": False,
        "resolved": True,
    }
    r = vecscope("explain", "--dsn", demo_db.dsn, "--try-fix", query)
    tail = r.out.split("--- trying the fix ---", 1)[1]
    assert "tried the fix of probes-low: gone" in tail
    assert "note: run with ivfflat.probes = 10 (SET LOCAL: for this run only)" in tail
