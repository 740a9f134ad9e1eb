"""The wizard against the faults a production server really produces (issue: "The
migration wizard survives every fault").

Real server, real ``vecscope migrate`` processes, real SIGKILL, held locks, terminated
sessions, a server restart and a full tmpfs. After every fault and its recovery the
invariant of :mod:`tests.faults` is checked in the database itself. ``bench/fault_soak.py``
draws hundreds of random faults the same way; here a fixed set runs in CI.
"""

from __future__ import annotations

import contextlib
import errno
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from tests import faults
from tests.conftest import Database
from vecscope.core import embedded
from vecscope.core.catalog.inventory import fetch_inventory
from vecscope.core.connection import ConnectionTarget
from vecscope.core.embedded import EmbeddedServer
from vecscope.core.errors import JournalError, MigrationError
from vecscope.core.migrate import journal as jn
from vecscope.core.migrate import plan
from vecscope.core.migrate.engine import Migration
from vecscope.core.migrate.states import Status, Step

INTENT = '"step": "{}", "state": "intent"'


def started(t: faults.Table, journal: Path, **choice: object) -> Migration:
    """A migration of ``t`` planned and journaled: nothing has run."""
    with faults.connect(t.dsn) as conn:
        inventory = fetch_inventory(conn)
    spec = plan.choose(inventory, index=f"public.{t.old_index}", queries=20, **choice)  # type: ignore[arg-type]
    return Migration.start(ConnectionTarget(dsn=t.dsn), spec, journal_path=journal)


def ready(t: faults.Table, journal: Path, **choice: object) -> Migration:
    """A migration of ``t`` built and verified: the cutover comes next."""
    mig = started(t, journal, **choice)
    mig.preflight(calibrate=False)
    mig.backup("table", journal.parent / "backups")
    mig.baseline()
    mig.build()
    assert mig.verify().passed
    return mig


@contextlib.contextmanager
def reader_holding(dsn: str, table: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """A transaction that has read the table and stays open: DROP INDEX CONCURRENTLY marks
    the index invalid, then waits for it (and lock_timeout strikes there)."""
    conn = psycopg.connect(dsn)
    conn.execute(f'SELECT count(*) FROM "{table}"')
    try:
        yield conn
    finally:
        with contextlib.suppress(psycopg.Error):
            conn.rollback()
        conn.close()


# --- 1. rollback after an unfinished cutover ------------------------------------------------


def test_rollback_after_a_cutover_that_gave_up_recreates_the_old_index(
    db: Database, tmp_path: Path
) -> None:
    t = faults.make_table(db.dsn, "gave_up", seed=1)
    journal = tmp_path / "j.jsonl"
    mig = ready(t, journal, lock_timeout_ms=200, retries=1)
    with reader_holding(db.dsn, t.name), pytest.raises(MigrationError, match="gave up"):
        mig.cutover()
    found = faults.vector_indexes(db.dsn, t.name)
    # The drop got as far as marking the old index invalid: only the new one serves.
    assert found[t.old_index][0] is False and found[t.new_index][0] is True
    assert faults.broken(t) == []
    code, out = faults.run(faults.command(t, "rollback", journal))
    assert code == 0, out
    assert "recreated" in out
    assert faults.broken(t, final="rollback") == []
    # Run again: the catalog says there is nothing left to undo.
    code, out = faults.run(faults.command(t, "rollback", journal))
    assert code == 0 and "already rolled back" in out, out


def test_rollback_blocked_by_the_same_reader_keeps_the_new_index_serving(
    db: Database, tmp_path: Path
) -> None:
    t = faults.make_table(db.dsn, "still_held", seed=2)
    journal = tmp_path / "j.jsonl"
    mig = ready(t, journal, lock_timeout_ms=200, retries=1)
    with reader_holding(db.dsn, t.name):
        with pytest.raises(MigrationError):
            mig.cutover()
        # The rollback cannot recreate the old index while the reader stays: it gives up,
        # and the new index still serves (it is dropped only once the old one is back).
        code, out = faults.run(faults.command(t, "rollback", journal))
        assert code == 2, out
        assert faults.broken(t) == []
        assert faults.vector_indexes(db.dsn, t.name)[t.new_index][0] is True
    code, out = faults.run(faults.command(t, "rollback", journal))
    assert code == 0, out
    assert faults.broken(t, final="rollback") == []


def test_sigkill_during_a_blocked_drop_then_rollback(db: Database, tmp_path: Path) -> None:
    t = faults.make_table(db.dsn, "blocked_drop", seed=3)
    journal = tmp_path / "j.jsonl"
    ready(t, journal, lock_timeout_ms=500, retries=50)
    with reader_holding(db.dsn, t.name):
        proc = faults.spawn(faults.command(t, "resume", journal))
        deadline = time.monotonic() + 60
        while faults.vector_indexes(db.dsn, t.name)[t.old_index][0]:
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        proc.kill()
        proc.wait(30)
    assert faults.broken(t) == []
    code, out = faults.run(faults.command(t, "rollback", journal))
    assert code == 0, out
    assert faults.broken(t, final="rollback") == []


# --- 2. --rename interrupted at each statement of the cutover --------------------------------


@pytest.mark.parametrize(
    "point", ["cutover.before_drop", "cutover.after_drop", "cutover.after_rename",
              "cutover.before_final_check"],
)  # fmt: skip
@pytest.mark.parametrize("recovery", ["resume", "rollback"])
def test_rename_interrupted_at_each_statement(
    db: Database, tmp_path: Path, point: str, recovery: str
) -> None:
    t = faults.make_table(db.dsn, f"ren_{point.split('.')[1]}_{recovery}", seed=4)
    journal = tmp_path / "j.jsonl"
    code, out = faults.run(faults.command(t, "run", journal, "--rename"), failpoints=point)
    assert code == -9, out  # killed at the point, not before
    assert faults.broken(t) == []
    code, out = faults.run(faults.command(t, recovery, journal))
    assert code == 0, out
    assert faults.broken(t, final=recovery) == []
    if recovery == "resume":
        assert faults.vector_indexes(db.dsn, t.name).keys() == {t.old_index}  # renamed
        assert jn.read(journal).done("cutover")


# --- 3. --no-cutover, then resume -----------------------------------------------------------


def test_no_cutover_then_resume_cuts_over_once_confirmed(db: Database, tmp_path: Path) -> None:
    t = faults.make_table(db.dsn, "later", seed=5)
    journal = tmp_path / "j.jsonl"
    code, out = faults.run(faults.command(t, "run", journal, "--no-cutover"))
    assert code == 0 and "migrate resume` cuts over" in out, out
    both = faults.vector_indexes(db.dsn, t.name)
    assert set(both) == {t.old_index, t.new_index}
    # No terminal and no --yes: resume changes nothing.
    argv = [a for a in faults.command(t, "resume", journal) if a != "--yes"]
    code, out = faults.run(argv)
    assert code == 2 and "pass --yes" in out, out
    assert faults.vector_indexes(db.dsn, t.name) == both
    code, out = faults.run(faults.command(t, "resume", journal, "--no-cutover"))
    assert code == 0 and set(faults.vector_indexes(db.dsn, t.name)) == set(both), out
    code, out = faults.run(faults.command(t, "resume", journal))
    assert code == 0, out
    assert faults.broken(t, final="resume") == []


# --- 4. a full disk under the journal, the queries and the backup ---------------------------


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    """A 1 MB tmpfs (the tests run as root in CI; elsewhere this is skipped)."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(directory: Path, leave: int = 0) -> Path:
    """Fill the file system until at most ``leave`` bytes remain; returns the filler."""
    filler = directory / "filler"
    with filler.open("wb") as f:
        chunk = b"\0" * 4096
        try:
            while shutil.disk_usage(directory).free > leave + len(chunk):
                f.write(chunk)
                f.flush()
            while True:
                f.write(b"\0")
                f.flush()
                if shutil.disk_usage(directory).free <= leave:
                    break
        except OSError as e:
            assert e.errno == errno.ENOSPC
    return filler


def test_a_full_disk_never_tears_the_journal(tiny_fs: Path, db: Database) -> None:
    t = faults.make_table(db.dsn, "full_journal", rows=200, seed=6)
    path = tiny_fs / "j.jsonl"
    mig = started(t, path)
    filler = fill(tiny_fs)
    before = path.read_bytes()
    with pytest.raises(JournalError, match="No space left"):
        for _ in range(200):
            mig.journal.record(Step.CLEANUP, jn.INFO, note="x" * 300)
    # Whatever was appended before the disk filled is whole; nothing torn follows it.
    text = path.read_text()
    assert text.startswith(before.decode()) and text.endswith("\n")
    assert jn.read(path).torn == 0
    # Fill the journal's last page too (a record shorter than the cut one could fit), so
    # not even a step's intent fits: a step that cannot journal its intent does not run.
    with pytest.raises(JournalError):
        for _ in range(200):
            mig.journal.record(Step.CLEANUP, jn.INFO)
    with pytest.raises(JournalError):
        mig.preflight(calibrate=False)
    filler.unlink()
    mig = Migration.open(path)
    assert mig.status(Step.PREFLIGHT) == Status.PENDING
    mig.preflight(calibrate=False)
    assert mig.status(Step.PREFLIGHT) == Status.DONE


def test_a_torn_journal_from_an_older_crash_is_read_and_repaired(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    header = (
        '{"kind": "header", "version": 1, "id": "x", "created": "", "conninfo": "", '
        '"server": "", "spec": {"kind": "create", "schema": "public", "table": "t", '
        '"column": "e", "column_type": "vector", "dims": 3, "rows": 0, "method": "hnsw", '
        '"opclass": "vector_l2_ops", "params": {}, "new_name": "t_idx"}}\n'
    )
    step = '{"kind": "step", "at": "", "step": "preflight", "state": "%s", "data": {}}'
    # An older vecscope: a record cut by a full disk, then the next append glued on.
    path.write_text(header + '{"kind": "st' + step % "intent" + "\n" + '{"kind": "step", "at')
    state = jn.read(path)
    assert state.steps[Step.PREFLIGHT].state == jn.INTENT and state.torn == 1
    jn.Journal(path).record(Step.PREFLIGHT, jn.DONE)
    assert path.read_text().endswith("\n")
    assert jn.read(path).done(Step.PREFLIGHT)


def test_a_full_disk_during_the_run_stops_cleanly_and_resume_finishes(
    tiny_fs: Path, db: Database
) -> None:
    t = faults.make_table(db.dsn, "full_run", rows=2000, seed=7)
    journal = tiny_fs / "j.jsonl"
    backups = db.server.pgdata.parent / "full_run_backups"
    argv = faults.command(t, "run", journal)
    argv[argv.index("--backup-dir") + 1] = str(backups)
    # Stopped just before the baseline writes its queries; the disk fills; it goes on.
    proc = faults.spawn(argv, failpoints="baseline.before_save:stop")
    faults.wait_stopped(proc)
    filler = fill(tiny_fs)
    proc.send_signal(signal.SIGCONT)
    code, out = faults.finish(proc)
    assert code == 2 and "Traceback" not in out, out
    assert not list(tiny_fs.glob("*.tmp.npz"))
    assert faults.broken(t) == []
    jn.read(journal)  # still readable
    filler.unlink()
    code, out = faults.run(faults.command(t, "resume", journal))
    assert code == 0, out
    assert faults.broken(t, final="resume") == []


def test_preflight_refuses_a_backup_folder_without_room(tiny_fs: Path, db: Database) -> None:
    t = faults.make_table(db.dsn, "no_room", rows=10_000, seed=8)
    journal = tiny_fs.parent / "j.jsonl"
    argv = faults.command(t, "run", journal)
    argv[argv.index("--backup-dir") + 1] = str(tiny_fs)
    code, out = faults.run(argv)
    assert code == 2 and "free in" in out, out
    assert not any(tiny_fs.iterdir())
    assert faults.broken(t, final="rollback") == []


# --- 5. the progress monitor's session is lost ----------------------------------------------


def test_losing_the_monitor_session_does_not_cost_the_build(db: Database, tmp_path: Path) -> None:
    t = faults.make_table(db.dsn, "monitor_lost", rows=20_000, seed=9)
    mig = started(t, tmp_path / "j.jsonl")
    mig.preflight(calibrate=False)
    mig.backup("table", tmp_path / "b")
    mig.baseline()
    terminated: list[int] = []
    said: list[str] = []

    def terminate_monitor(_: object) -> None:
        if terminated:
            return
        with faults.connect(db.dsn) as conn:
            row = conn.execute(
                "SELECT pid FROM pg_stat_progress_create_index WHERE relid = %s::regclass",
                (t.name,),
            ).fetchone()
            builder = int(str(row[0])) if row else -1
            for (pid,) in conn.execute(
                """SELECT pid FROM pg_stat_activity
                    WHERE application_name LIKE 'vecscope%%' AND pid <> %s
                      AND pid <> pg_backend_pid() AND datname = current_database()""",
                (builder,),
            ).fetchall():
                conn.execute("SELECT pg_terminate_backend(%s)", (pid,))
                terminated.append(int(str(pid)))

    outcome = mig.build(on_progress=terminate_monitor, say=said.append)
    assert terminated and not outcome.cancelled
    assert any("lost the progress monitor" in s for s in said), said
    assert faults.vector_indexes(db.dsn, t.name)[t.new_index][0] is True
    assert mig.status(Step.BUILD) == Status.DONE


# --- 6. a server restart mid-build, pg_dump dying with vecscope -----------------------------


@pytest.fixture(scope="module")
def own_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    """A server of this module's own: restarting it disturbs no other test."""
    server = embedded.start(tmp_path_factory.mktemp("faults") / "pgdata", preload=False)
    with psycopg.connect(server.conninfo(), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
    yield server
    embedded.stop(server.pgdata)


def test_a_server_restart_mid_build_then_resume(own_server: EmbeddedServer, tmp_path: Path) -> None:
    dsn = own_server.conninfo()
    t = faults.make_table(dsn, "restarted", rows=20_000, seed=10)
    journal = tmp_path / "j.jsonl"
    proc = faults.spawn(faults.command(t, "run", journal))
    assert faults.wait_journal(journal, INTENT.format("build"), proc)
    deadline = time.monotonic() + 30
    while t.new_index not in faults.vector_indexes(dsn, t.name):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    embedded.restart(own_server)
    code, out = faults.finish(proc)
    assert code == 2 and "Traceback" not in out, out
    assert faults.broken(t) == []
    code, out = faults.run(faults.command(t, "resume", journal))
    assert code == 0, out
    assert faults.broken(t, final="resume") == []


def test_pg_dump_dies_with_vecscope_and_its_part_file_is_removed(
    db: Database, tmp_path: Path
) -> None:
    t = faults.make_table(db.dsn, "dump_killed", seed=11)
    journal = tmp_path / "j.jsonl"
    backups = tmp_path / "backups"
    locker = psycopg.connect(db.dsn)
    try:
        proc = faults.spawn(faults.command(t, "run", journal))
        assert faults.wait_journal(journal, '"step": "preflight", "state": "done"', proc)
        # pg_dump waits for this lock: vecscope is killed while it waits.
        locker.execute(f'LOCK TABLE "{t.name}" IN ACCESS EXCLUSIVE MODE')
        assert faults.wait_journal(journal, INTENT.format("backup"), proc)
        deadline = time.monotonic() + 30
        while not _pg_dump_waiting(db.dsn):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        parts = list(backups.glob(".*.part"))
        assert len(parts) == 1 and _processes_naming(parts[0].name)
        proc.kill()
        proc.wait(30)
        deadline = time.monotonic() + 10
        while _processes_naming(parts[0].name):
            assert time.monotonic() < deadline, "pg_dump outlived vecscope"
            time.sleep(0.05)
    finally:
        locker.rollback()
        locker.close()
    code, out = faults.run(faults.command(t, "resume", journal))
    assert code == 0, out
    assert "removed" in out and not list(backups.glob(".*.part"))
    assert faults.broken(t, final="resume") == []


def _processes_naming(text: str) -> list[int]:
    """Processes whose command line holds ``text`` (pg_dump's --file=)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if text in (entry / "cmdline").read_bytes().decode("utf-8", "replace"):
                    found.append(int(entry.name))
    return found


def _pg_dump_waiting(dsn: str) -> bool:
    with faults.connect(dsn) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pg_dump'"
        ).fetchone()
    return bool(row and int(str(row[0])))


# --- 7. random SIGKILLs of run, resume and rollback -----------------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_random_sigkills(db: Database, tmp_path: Path, seed: int) -> None:
    t = faults.make_table(db.dsn, f"random_{seed}", seed=100 + seed)
    trial = faults.Trial.draw(seed, run_seconds=6.0)
    problems, _ = faults.play(t, trial, tmp_path)
    assert problems == []


# --- smaller points ------------------------------------------------------------------------


def test_writes_go_on_during_faults(db: Database, tmp_path: Path) -> None:
    """Rows written while the wizard is killed and rolled back are all kept."""
    t = faults.make_table(db.dsn, "written", seed=12)
    stop = threading.Event()
    written: list[int] = []

    def writer() -> None:
        with faults.connect(db.dsn) as conn:
            n = 1_000_000
            while not stop.is_set():
                conn.execute(
                    f'INSERT INTO "{t.name}" SELECT %s, embedding FROM "{t.name}" WHERE id = 1',
                    (n,),
                )
                written.append(n)
                n += 1
                time.sleep(0.002)

    thread = threading.Thread(target=writer)
    thread.start()
    journal = tmp_path / "j.jsonl"
    try:
        proc = faults.spawn(faults.command(t, "run", journal))
        assert faults.wait_journal(journal, INTENT.format("build"), proc)
        time.sleep(0.3)
        proc.kill()
        proc.wait(30)
        code, out = faults.run(faults.command(t, "rollback", journal))
    finally:
        stop.set()
        thread.join()
    assert code == 0, out
    count, _ = faults.checksum(db.dsn, t.name)
    assert count == t.rows + len(written) and written
    assert set(faults.vector_indexes(db.dsn, t.name)) == {t.old_index}


@pytest.mark.parametrize("table", ["a/b", "t'; DROP TABLE x; --", "..hidden"])
def test_any_table_name_is_backed_up_under_a_safe_file_name(
    db: Database, tmp_path: Path, table: str
) -> None:
    with faults.connect(db.dsn) as conn:
        conn.execute(
            sql.SQL("CREATE TABLE {} (id bigint PRIMARY KEY, embedding vector(3))").format(
                sql.Identifier(table)
            )
        )
        conn.execute(
            sql.SQL(
                "INSERT INTO {} SELECT g, ARRAY[g, 1, 2]::vector FROM generate_series(1, 50) g"
            ).format(sql.Identifier(table))
        )
        conn.execute(
            sql.SQL(
                "CREATE INDEX {} ON {} USING ivfflat (embedding vector_l2_ops) WITH (lists = 1)"
            ).format(sql.Identifier(f"ix{len(table)}"), sql.Identifier(table))
        )
    with faults.connect(db.dsn) as conn:
        inventory = fetch_inventory(conn)
    index = f"public.ix{len(table)}"
    spec = plan.choose(inventory, index=index, queries=5)
    mig = Migration.start(ConnectionTarget(dsn=db.dsn), spec, journal_path=tmp_path / "j.jsonl")
    mig.preflight(calibrate=False)
    record = mig.backup("table", tmp_path / "backups")
    assert record.path is not None
    name = Path(record.path).name
    assert Path(record.path).parent == tmp_path / "backups"
    assert not name.startswith(".") and all(c.isalnum() or c in "_.-" for c in name), name
    assert faults.checksum(db.dsn, table)[0] == 50


@pytest.mark.parametrize(
    "opclass", ["vector_l2_ops); DROP TABLE x; --", "Vector_L2_Ops", "pg_catalog.int4_ops"]
)
def test_an_opclass_that_is_not_pgvectors_is_refused_before_anything_is_written(
    db: Database, opclass: str
) -> None:
    t = faults.make_table(db.dsn, "opclassed", rows=100, seed=13)
    for action in ("plan", "sql", "alembic"):
        argv = [
            *faults.command(t, "run", Path("/nonexistent/j.jsonl"))[:4],
            action, "--dsn", t.dsn, "--index", f"public.{t.old_index}", "--opclass", opclass,
        ]  # fmt: skip
        code, out = faults.run(argv)
        assert code == 2 and "not a pgvector operator class" in out and "Traceback" not in out
        assert "CREATE INDEX" not in out  # no plan, script or revision was written


def test_preflight_refuses_a_read_only_session_before_the_dump(
    db: Database, tmp_path: Path
) -> None:
    t = faults.make_table(db.dsn, "read_only", rows=200, seed=14)
    journal = tmp_path / "j.jsonl"
    argv = faults.command(t, "run", journal)
    argv[argv.index("--dsn") + 1] = t.dsn + " options='-c default_transaction_read_only=on'"
    code, out = faults.run(argv)
    assert code == 2 and "read only" in out, out
    assert not (tmp_path / "backups").exists() or not any((tmp_path / "backups").iterdir())
    assert faults.broken(t, final="rollback") == []


def test_run_backs_the_table_up_by_default(db: Database, tmp_path: Path) -> None:
    t = faults.make_table(db.dsn, "defaulted", rows=3000, seed=15)
    journal = tmp_path / "j.jsonl"
    code, out = faults.run(faults.command(t, "run", journal))  # no --backup
    assert code == 0, out
    record = jn.read(journal).data("backup")["record"]
    assert record["kind"] == "table" and Path(record["path"]).exists()
    assert Path(record["path"]).parent == tmp_path / "backups"


@pytest.mark.parametrize(
    ("flag", "name"),
    [
        ("--index", 'search."Product Embeddings_hnsw"'),
        ("--index", '"search"."Product Embeddings_hnsw"'),
        ("--column", 'search."Product Embeddings"."Embedding"'),
        ("--column", 'search."Product Embeddings".Embedding'),
    ],
)
def test_migrate_takes_sql_quoted_names_as_bench_does(
    demo_db: Database, flag: str, name: str
) -> None:
    """One name parser for --table, --index and --column (issue #15, point 4)."""
    from tests.core.cli_helpers import vecscope

    extra = ["--to", "ivfflat"] if flag == "--column" else ["--m", "12"]
    result = vecscope("migrate", "plan", "--dsn", demo_db.dsn, flag, name, *extra)
    assert result.code == 0, result.err
    assert 'search."Product Embeddings"' in result.out


def test_the_baselines_sampled_queries_are_as_private_as_the_journal(
    db: Database, tmp_path: Path
) -> None:
    """They are rows of the table (issue #15, point 17): 0600, like the journal."""
    t = faults.make_table(db.dsn, "private_queries", rows=300, seed=16)
    mig = started(t, tmp_path / "j.jsonl")
    mig.preflight(calibrate=False)
    mig.backup("confirmed", None, "snapshot-1")
    mig.baseline()
    assert mig.queries_path.stat().st_mode & 0o777 == 0o600
    assert mig.path.stat().st_mode & 0o777 == 0o600
