"""``vecscope live --json`` and ``vecscope replay --json``: JSON lines, recordings that
replay to the same points and never hold a password, and bad input refused in one line."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from tests.conftest import Database
from tests.core.cli_helpers import assert_one_line_error, vecscope
from vecscope.core.demo.workload import DemoWorkload
from vecscope.core.live.recording import Recording

SECRET = "Sup3rSecret"
#: A fragment of the demo workload's query texts.
QUERY_FRAGMENT = b"ORDER BY embedding"
SLEEPER = (
    "SELECT pg_sleep(30), id FROM doc_chunks "
    "ORDER BY embedding <=> (SELECT embedding FROM doc_chunks WHERE id = 3) LIMIT 1"
)


def json_lines(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines()]


@contextmanager
def demo_traffic(dsn: str) -> Iterator[None]:
    """The demo application's searches, plus one vector query sleeping meanwhile."""
    workload = DemoWorkload(dsn, clients=1, switch_after_s=None, progress=lambda _: None)
    thread = threading.Thread(target=workload.run, args=(120,), daemon=True)
    sleeper = psycopg.connect(dsn, autocommit=True)
    pid = sleeper.info.backend_pid

    def sleep() -> None:
        with suppress(psycopg.errors.QueryCanceled):
            sleeper.execute(SLEEPER)

    sleeping = threading.Thread(target=sleep, daemon=True)
    thread.start()
    sleeping.start()
    try:
        # Under way before the first poll: shapes in pg_stat_statements, the sleeper active.
        active = "SELECT count(*) FROM pg_stat_activity WHERE pid = %s AND state = 'active'"
        deadline = time.monotonic() + 30
        with psycopg.connect(dsn, autocommit=True) as c:
            while workload.stats.queries == 0 or c.execute(active, (pid,)).fetchone() != (1,):
                assert time.monotonic() < deadline and thread.is_alive()
                time.sleep(0.05)
        yield
    finally:
        workload.stop()
        with psycopg.connect(dsn, autocommit=True) as c:
            c.execute("SELECT pg_cancel_backend(%s)", (pid,))
        thread.join(timeout=30)
        sleeping.join(timeout=30)
        sleeper.close()
    assert workload.stats.queries > 0 and workload.stats.errors == 0


def without_poll_ms(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in line.items() if k != "poll_ms"} for line in lines]


def test_live_records_and_replays_the_same_points(pgss_demo_db: Database, tmp_path: Path) -> None:
    dsn = make_conninfo(pgss_demo_db.dsn, password=SECRET)  # trust: ignored, yet given
    record = tmp_path / "night.sqlite"
    with demo_traffic(pgss_demo_db.dsn):
        live = vecscope(
            "live", "--dsn", dsn, "--json", "--interval", "0.5", "--duration", "2s",
            "--record", str(record),
        )  # fmt: skip
    assert live.code == 0, live.err
    lines = json_lines(live.out)
    assert len(lines) >= 2 and "error" not in {k for line in lines for k in line}
    assert [line["seq"] for line in lines] == list(range(1, len(lines) + 1))
    first, later = lines[0], lines[1:]
    assert first["interval_s"] is None and first["shapes"]
    assert all(s["calls_per_s"] is None and s["mean_ms"] is None for s in first["shapes"])
    assert all(line["interval_s"] > 0 for line in later)
    assert any(s["calls_per_s"] and s["calls_per_s"] > 0 for s in later[-1]["shapes"])
    assert any(line["activity"]["running"] > 0 for line in lines)
    assert f"recording to {record}" in live.err
    assert f"{len(lines)} polls recorded in {record}" in live.err

    data = record.read_bytes()
    assert SECRET.encode() not in data
    assert SECRET not in live.out and SECRET not in live.err
    assert QUERY_FRAGMENT in data  # the texts are kept unless --no-query-text
    assert [p.name for p in tmp_path.iterdir()] == [record.name]
    recording = Recording(record)
    info = recording.info()
    recording.close()
    assert (info.polls, info.database, info.query_text) == (len(lines), pgss_demo_db.name, True)
    assert info.server.endswith(f"/{pgss_demo_db.name}") and SECRET not in info.server

    replay = vecscope("replay", str(record), "--json")
    assert replay.code == 0, replay.err
    assert without_poll_ms(json_lines(replay.out)) == without_poll_ms(lines)
    assert record.read_bytes() == data

    bare = json_lines(vecscope("replay", str(record), "--json", "--no-query-text").out)
    assert all(s["query"] is None for line in bare for s in line["shapes"])
    assert all(line["activity"]["longest_query"] is None for line in bare)


def test_no_query_text_keeps_no_text(pgss_demo_db: Database, tmp_path: Path) -> None:
    record = tmp_path / "shared.sqlite"
    with demo_traffic(pgss_demo_db.dsn):
        live = vecscope(
            "live", "--dsn", pgss_demo_db.dsn, "--json", "--interval", "0.5",
            "--duration", "1.5s", "--record", str(record), "--no-query-text",
        )  # fmt: skip
    assert live.code == 0, live.err
    lines = json_lines(live.out)
    shapes = [s for line in lines for s in line["shapes"]]
    assert shapes and all(s["query"] is None for s in shapes)
    assert any(line["activity"]["running"] > 0 for line in lines)
    assert all(line["activity"]["longest_query"] is None for line in lines)
    assert QUERY_FRAGMENT not in record.read_bytes()
    assert b"pg_sleep" not in record.read_bytes()
    replay = json_lines(vecscope("replay", str(record), "--json").out)
    assert without_poll_ms(replay) == without_poll_ms(lines)
    with sqlite3.connect(record) as db:
        assert db.execute("SELECT count(*) FROM texts").fetchone() == (0,)
        assert db.execute("SELECT count(*) FROM running WHERE query IS NOT NULL").fetchone() == (0,)


@pytest.mark.parametrize(
    ("flags", "fragment"),
    [
        (["--interval", "0"], "--interval must be between"),
        (["--interval", "nan"], "--interval must be between"),
        (["--interval", "fast"], "--interval"),
        (["--duration", "abc"], "--duration 'abc'"),
        (["--duration", "0s"], "--duration must be more than zero"),
    ],
)
def test_bad_live_options(db: Database, tmp_path: Path, flags: list[str], fragment: str) -> None:
    record = tmp_path / "never.sqlite"
    r = vecscope("live", "--dsn", db.dsn, "--json", *flags, "--record", str(record))
    assert_one_line_error(r, fragment)
    assert r.out == "" and list(tmp_path.iterdir()) == []


def test_record_never_overwrites(db: Database, tmp_path: Path) -> None:
    record = tmp_path / "kept.sqlite"
    record.write_bytes(b"somebody else's file\n")
    r = vecscope("live", "--dsn", db.dsn, "--json", "--duration", "1s", "--record", str(record))
    assert_one_line_error(r, "exists: a recording never overwrites a file")
    assert record.read_bytes() == b"somebody else's file\n"
    assert r.out == "" and list(tmp_path.iterdir()) == [record]


def test_record_into_a_missing_directory(db: Database, tmp_path: Path) -> None:
    record = tmp_path / "missing" / "x.sqlite"
    r = vecscope("live", "--dsn", db.dsn, "--json", "--duration", "1s", "--record", str(record))
    assert_one_line_error(r, "is not a directory")
    assert r.out == "" and list(tmp_path.iterdir()) == []


def test_unreachable_server_leaves_no_recording(tmp_path: Path) -> None:
    record = tmp_path / "x.sqlite"
    dsn = f"host={tmp_path / 'no-server'} port=1 dbname=x user=x password={SECRET}"
    r = vecscope("live", "--dsn", dsn, "--json", "--duration", "1s", "--record", str(record))
    assert_one_line_error(r, "no server listens on the socket")
    assert SECRET not in r.err and r.out == ""
    assert list(tmp_path.iterdir()) == []


def _sqlite_file(path: Path, *statements: str) -> None:
    with sqlite3.connect(path) as db:
        for statement in statements:
            db.execute(statement)
    db.close()


@pytest.mark.parametrize(
    ("kind", "fragment"),
    [
        ("missing", "no recording at"),
        ("text", "is not a vecscope recording"),
        ("empty", "is not a vecscope recording"),
        ("other sqlite", "is not a vecscope recording"),
        ("other meta", "is not a vecscope recording"),
        ("newer", "was written by a newer vecscope (format 99); upgrade"),
    ],
)
def test_bad_replay_input(tmp_path: Path, kind: str, fragment: str) -> None:
    path = tmp_path / "input.sqlite"
    meta = "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)"
    if kind == "text":
        path.write_text("seq,at\n1,2025-01-01\n")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "other sqlite":
        _sqlite_file(path, "CREATE TABLE notes (body TEXT)")
    elif kind == "other meta":
        _sqlite_file(path, meta, "INSERT INTO meta VALUES ('format', 'something-else')")
    elif kind == "newer":
        _sqlite_file(
            path,
            meta,
            "INSERT INTO meta VALUES ('format', 'vecscope-live-recording')",
            "INSERT INTO meta VALUES ('version', '99')",
        )
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    r = vecscope("replay", str(path), "--json")
    assert_one_line_error(r, fragment)
    assert r.out == ""
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


@pytest.mark.parametrize("clients", ["0", "33"])
def test_demo_workload_refuses_bad_clients_before_starting(tmp_path: Path, clients: str) -> None:
    data_dir = tmp_path / "demo"
    r = vecscope("demo", "workload", "--data-dir", str(data_dir), "--clients", clients)
    assert_one_line_error(r, "--clients must be between 1 and 32")
    assert r.out == "" and not data_dir.exists()


def test_headless_live_and_replay_do_not_import_textual(db: Database, tmp_path: Path) -> None:
    record = tmp_path / "r.sqlite"
    code = (
        "import sys\n"
        "from vecscope.cli.launch import main\n"
        "live = main(['live', '--dsn', sys.argv[1], '--json', '--interval', '0.2',"
        " '--duration', '0.5s', '--record', sys.argv[2]])\n"
        "replay = main(['replay', sys.argv[2], '--json'])\n"
        "print('RESULT', live, replay, 'textual' in sys.modules, file=sys.stderr)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, db.dsn, str(record)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "RESULT 0 0 False" in proc.stderr, proc.stderr
    recorded = re.search(r"(\d+) polls recorded", proc.stderr)
    assert recorded is not None and int(recorded[1]) >= 1
    assert len(json_lines(proc.stdout)) == 2 * int(recorded[1])  # live, then the replay
