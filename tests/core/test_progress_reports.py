"""Long steps say how far they are: the migration's dump (bytes of the expected size,
phase, time) and the demo's seeding (rows of each table, the index builds running), as
typed records for the front ends and as lines on stderr.

Nothing here depends on timing: the report interval is 0 (every look reports) or an
hour (only the phase changes, which are always reported); a dump is held at its start
by a lock the test releases from the progress callback itself.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest

from tests.conftest import Database, _drop_database, _fresh_database
from tests.core.cli_helpers import vecscope
from vecscope.core import embedded
from vecscope.core.demo.progress import (
    DONE,
    GENERATING,
    LOADING,
    PACKING,
    VACUUM,
    WAITING,
    BuildState,
    SeedProgress,
)
from vecscope.core.demo.seed import PRODUCTS, DemoSizes, seed
from vecscope.core.embedded import EmbeddedServer
from vecscope.core.migrate.backup import (
    PHASE_DONE,
    PHASE_DUMPING,
    PHASE_HASHING,
    PHASE_VERIFYING,
    BackupProgress,
    dump,
    said_every,
)
from vecscope.core.statusline import StatusLine

TABLE = "progress_rows"
ROWS = 20_000
LABEL = "vecscope-20261202-120000-progress_rows"


@pytest.fixture(scope="module")
def big(db: Database) -> Database:
    """A table of a few MB, with an IVFFlat index the CLI test migrates."""
    with db.connect() as conn:
        conn.execute(f"CREATE TABLE public.{TABLE} (id int PRIMARY KEY, embedding vector(32))")
        conn.execute(
            f"INSERT INTO public.{TABLE} SELECT i, "
            "array(SELECT sin(i * 7 + d) FROM generate_series(1, 32) d)::real[]::vector "
            "FROM generate_series(1, %s) i",
            (ROWS,),
        )
        conn.execute(
            f"CREATE INDEX {TABLE}_ivf ON public.{TABLE} "
            "USING ivfflat (embedding vector_l2_ops) WITH (lists = 10)"
        )
        conn.execute(f"ANALYZE public.{TABLE}")
    return db


@pytest.fixture(scope="module")
def server_version(big: Database) -> int:
    with big.connect() as conn:
        return conn.info.server_version


def _phases(reports: list[BackupProgress] | list[SeedProgress]) -> list[str]:
    """The phases in order, each once."""
    out: list[str] = []
    for r in reports:
        if not out or out[-1] != r.phase:
            out.append(r.phase)
    return out


def test_dump_reports_bytes_while_pg_dump_runs(
    big: Database, server_version: int, tmp_path: Path
) -> None:
    """pg_dump waits for a lock the test holds; the callback lets it go after three
    reports, so the dump is seen running whatever the machine's speed."""
    reports: list[BackupProgress] = []
    holder = psycopg.connect(big.dsn)
    holder.execute(f"LOCK TABLE public.{TABLE} IN ACCESS EXCLUSIVE MODE")

    def collect(p: BackupProgress) -> None:
        reports.append(p)
        dumping = [r for r in reports if r.phase == PHASE_DUMPING]
        if len(dumping) == 3 and not holder.closed:
            holder.commit()
            holder.close()

    try:
        record = dump(
            big.dsn,
            None,
            kind="table",
            schema="public",
            table=TABLE,
            backup_dir=tmp_path,
            server_version_num=server_version,
            label=LABEL,
            on_progress=collect,
            report_s=0,
        )
    finally:
        holder.close()
    assert _phases(reports) == [PHASE_DUMPING, PHASE_HASHING, PHASE_VERIFYING, PHASE_DONE]
    assert {r.what for r in reports} == {"public.progress_rows"}
    dumping = [r for r in reports if r.phase == PHASE_DUMPING]
    assert len(dumping) >= 4  # the start, two looks while it waited, the end
    written = [r.bytes_done for r in dumping]
    assert written == sorted(written) and written[0] == 0
    assert record.bytes is not None and written[-1] == record.bytes
    # The estimate is the table's data in the catalog, said to be one.
    assert all(r.estimated and r.bytes_total and r.bytes_total > 100_000 for r in dumping)
    assert all(r.fraction is not None and r.fraction < 1.0 for r in dumping)
    hashed = [r.bytes_done for r in reports if r.phase == PHASE_HASHING]
    assert hashed == sorted(hashed) and hashed[-1] == record.bytes
    last = reports[-1]
    assert (last.phase, last.bytes_done, last.bytes_total) == (
        PHASE_DONE,
        record.bytes,
        record.bytes,
    )
    assert last.fraction == 1.0
    elapsed = [r.elapsed_s for r in reports]
    assert elapsed == sorted(elapsed)
    assert last.text().startswith("dump of public.progress_rows verified: ")


def test_phase_changes_are_reported_whatever_the_interval(
    big: Database, server_version: int, tmp_path: Path
) -> None:
    reports: list[BackupProgress] = []
    record = dump(
        big.dsn,
        None,
        kind="database",
        schema="public",
        table=TABLE,
        backup_dir=tmp_path,
        server_version_num=server_version,
        label=LABEL,
        on_progress=reports.append,
        report_s=3600,
    )
    assert [(r.phase, r.bytes_done) for r in reports] == [
        (PHASE_DUMPING, 0),
        (PHASE_DUMPING, record.bytes),
        (PHASE_HASHING, 0),
        (PHASE_VERIFYING, record.bytes),
        (PHASE_DONE, record.bytes),
    ]
    assert reports[0].what == "the database"
    assert reports[0].bytes_total and reports[0].estimated


def test_progress_text_says_what_how_far_and_about() -> None:
    mb = 1024 * 1024
    p = BackupProgress(PHASE_DUMPING, "public.doc_chunks", 41 * mb, 120 * mb, True, 12.4)
    assert p.text() == "dumping public.doc_chunks: 41.0 MB of about 120.0 MB, 12 s"
    assert p.fraction == pytest.approx(41 / 120)
    over = BackupProgress(PHASE_DUMPING, "public.doc_chunks", 130 * mb, 120 * mb, True, 20)
    assert over.fraction == 0.99  # an estimate passed is not "done"
    unknown = BackupProgress(PHASE_DUMPING, "the database", 5 * mb, None, True, 3)
    assert unknown.text() == "dumping the database: 5.0 MB, 3 s"
    assert unknown.fraction is None
    hashing = BackupProgress(PHASE_HASHING, "public.doc_chunks", mb, 4 * mb, False, 30)
    assert hashing.text() == "hashing the dump of public.doc_chunks: 1.0 MB of 4.0 MB, 30 s"


def test_said_every_waits_then_paces_lines() -> None:
    said: list[str] = []
    show = said_every(said.append, show_after_s=2.0, every_s=5.0)
    for t in (0.0, 1.0, 2.5, 3.0, 7.4, 7.6, 13.0):
        show(BackupProgress(PHASE_DUMPING, "public.t", int(t * 1000), None, True, t))
    assert said == [
        "dumping public.t: 2.4 kB, 2 s",
        "dumping public.t: 7.4 kB, 8 s",
        "dumping public.t: 12.7 kB, 13 s",
    ]


class _Tty:
    """A stream that says it is a terminal."""

    def __init__(self) -> None:
        self.text = ""

    def isatty(self) -> bool:
        return True

    def write(self, s: str) -> int:
        self.text += s
        return len(s)

    def flush(self) -> None:
        pass


def test_status_line_rewrites_one_line_on_a_terminal() -> None:
    tty = _Tty()
    with StatusLine(tty, every_s=0, show_after_s=0) as status:  # type: ignore[arg-type]
        status.update("loading 1 of 3")
        status.update("loading 2 of 3")
        status.line("table loaded")
        status.update("building 50%")
    assert tty.text == (
        "\r\x1b[Kloading 1 of 3\r\x1b[Kloading 2 of 3\r\x1b[Ktable loaded\n"
        "\r\x1b[Kbuilding 50%\r\x1b[K"
    )


def test_status_line_in_a_log_is_plain_lines_without_repeats(tmp_path: Path) -> None:
    path = tmp_path / "log"
    with path.open("w") as f, StatusLine(f, every_s=0, show_after_s=0) as status:
        assert not status.tty
        for text in ("a", "a", "b", "c"):
            status.update(text)
    assert path.read_text() == "a\nb\nc\n"
    with path.open("w") as f:
        quiet = StatusLine(f, every_s=3600, show_after_s=0)
        for text in ("a", "b", "c"):
            quiet.update(text)
    assert path.read_text() == "a\n"  # one a hour
    with path.open("w") as f:
        later = StatusLine(f, every_s=0, show_after_s=3600)
        later.update("a")
    assert path.read_text() == ""  # a job done quickly shows no status


def test_cli_shows_the_dump_on_stderr(big: Database, tmp_path: Path) -> None:
    env = dict(os.environ, VECSCOPE_PROGRESS_S="0")
    r = vecscope(
        "migrate", "run", "--dsn", big.dsn, "--index", f"public.{TABLE}_ivf",
        "--to", "hnsw", "--backup", "table", "--backup-dir", str(tmp_path / "b"),
        "--journal", str(tmp_path / "j.jsonl"), "--no-cutover", "--yes",
        env=env, timeout=300,
    )  # fmt: skip
    assert r.code == 0, r.err + r.out
    lines = r.err.splitlines()
    dumping = [ln for ln in lines if ln.startswith("  dumping public.progress_rows: ")]
    assert dumping, r.err
    assert " of about " in dumping[0]
    assert any(ln.startswith("  dump of public.progress_rows verified: ") for ln in lines)
    assert "table backup" in r.out  # the result stays on stdout, as before


# --- the demo's seeding ------------------------------------------------------------------

DEMO_TABLES = ("messages", "doc_chunks", "articles", "events", "atoms", PRODUCTS)


def test_seeding_reports_rows_per_table_and_the_builds(pg: EmbeddedServer) -> None:
    database = _fresh_database(pg, "t_progress_seed", extension=False)
    reports: list[SeedProgress] = []
    lines: list[str] = []
    try:
        seed(database.dsn, 1_000, progress=lines.append, on_progress=reports.append, report_s=0)
    finally:
        _drop_database(pg, "t_progress_seed")
    sizes = DemoSizes.scaled(1_000)
    totals = {
        "messages": sizes.messages,
        "doc_chunks": sizes.doc_chunks,
        "articles": sizes.articles,
        "events": sizes.events,
        "atoms": sizes.atoms,
        PRODUCTS: sizes.products,
    }
    for table in DEMO_TABLES:
        mine = [r for r in reports if r.table == table]
        phases = [r.phase for r in mine]
        assert phases.index(GENERATING) < phases.index(LOADING) < phases.index(PACKING), table
        loading = [r for r in mine if r.phase == LOADING]
        done = [r.rows_done for r in loading]
        assert done == sorted(done) and done[0] == 0, table
        assert done[-1] == totals[table] and {r.rows_total for r in loading} == {totals[table]}
        assert f"{table}: loading {totals[table]:,} of {totals[table]:,} rows (100%)" in [
            r.text().split("] ", 1)[1].split(" · ")[0] for r in loading
        ]
    # Larger tables are seen part way (every 500 rows at report_s 0).
    assert any(0 < r.rows_done < r.rows_total for r in reports if r.table == "doc_chunks")
    # Every build is seen running, by its label, and none is left at the end.
    seen = {b.label for r in reports for b in r.builds}
    for label in ("messages: HNSW index", "doc_chunks: IVFFlat index", "atoms: HNSW index"):
        assert any(s.startswith(label) for s in seen), (label, seen)
    assert any(r.queued for r in reports)
    whole = [r for r in reports if r.table is None]
    assert [p for p in _phases(whole) if p in (WAITING, VACUUM, DONE)] == [WAITING, VACUUM, DONE]
    assert reports[-1].phase == DONE and reports[-1].builds == () and reports[-1].queued == 0
    elapsed = [r.elapsed_s for r in reports]
    assert elapsed == sorted(elapsed)
    assert lines[-1].endswith("demo database ready")  # the step lines are unchanged


def test_seed_progress_text() -> None:
    build = BuildState("messages: HNSW index (vector_l2_ops)", "building index", 43.4, 9.2)
    p = SeedProgress(12.34, "doc_chunks", LOADING, 20_000, 50_000, (build,), 2)
    assert p.text() == (
        "[ 12.3s] doc_chunks: loading 20,000 of 50,000 rows (40%) · building messages: "
        "HNSW index 43% (building index, 9s) · 2 builds queued"
    )
    waiting = SeedProgress(30.0, None, WAITING, 0, 0, (replace(build, percent=None),))
    assert waiting.text() == (
        "[ 30.0s] waiting for the index builds · building messages: HNSW index (building index, 9s)"
    )


def test_demo_up_shows_seeding_on_stderr(tmp_path: Path) -> None:
    data_dir = tmp_path / "demo"
    env = dict(os.environ, VECSCOPE_PROGRESS_S="0")
    try:
        r = vecscope(
            "demo", "up", "--data-dir", str(data_dir), "--rows", "1000", env=env, timeout=300
        )
    finally:
        embedded.stop(data_dir / "pgdata")
    assert r.code == 0, r.err
    lines = r.err.splitlines()
    assert any("doc_chunks: loading 1,000 of 1,000 rows (100%)" in ln for ln in lines), r.err
    assert any("building messages: HNSW index" in ln for ln in lines), r.err
    assert "\r" not in r.err  # not a terminal: plain lines
    assert r.out.strip().splitlines()[-1].startswith("postgresql://")
