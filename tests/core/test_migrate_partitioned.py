"""The wizard on a partitioned table (issue #14): the partitioned index ``ON ONLY`` the
parent, each partition's built ``CONCURRENTLY`` with its own progress and attached, the old
partitioned index dropped at cutover; resumable after a SIGKILL between the partitions,
reversible to the very ``pg_get_indexdef`` of the parent and of every partition's index.

Real server, real ``vecscope migrate`` processes, real SIGKILL; a writer inserts rows into
every partition while the partitions are built.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psycopg
import pytest
from pgvector.psycopg import register_vector
from psycopg import sql

from tests import faults
from tests.conftest import Database, _drop_database, _fresh_database
from tests.core.cli_helpers import vecscope
from tests.core.test_migrate_export import _alembic
from vecscope.core.catalog.inventory import fetch_inventory
from vecscope.core.connection import ConnectionTarget
from vecscope.core.embedded import EmbeddedServer
from vecscope.core.errors import BackupError, BadInputError
from vecscope.core.migrate import export, plan, render
from vecscope.core.migrate import journal as jn
from vecscope.core.migrate.backup import find_pg_dump, verify_dump
from vecscope.core.migrate.build import BuildProgress
from vecscope.core.migrate.engine import Migration
from vecscope.core.migrate.lint import CONCURRENT_DELETION, LOCK_TIMEOUT, lint, lint_statements
from vecscope.core.migrate.states import Kind

DIMS = faults.DIMS
#: Rows in each partition: enough that the planner prefers an HNSW scan of a partition
#: over reading it (pgvector's cost model picks the Seq Scan below ~2,000 rows).
PER_PARTITION = 2_000
PARTITIONS = 3
#: Each partition holds the ids [i * SPAN, (i + 1) * SPAN).
SPAN = 1_000_000


@dataclass(frozen=True)
class Parted:
    """A partitioned table made for one test, and what a rollback must give back."""

    table: faults.Table
    #: pg_get_indexdef of each partition's index of the old partitioned index.
    partition_definitions: dict[str, str]

    @property
    def name(self) -> str:
        return self.table.name

    def partition(self, i: int) -> str:
        return f"{self.name}_p{i}"

    def new_partition_index(self, i: int) -> str:
        return f"{self.partition(i)}_embedding_hnsw_idx"


def _vectors(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(50, DIMS))
    vecs = centers[rng.integers(0, 50, n)] + 0.8 * rng.normal(size=(n, DIMS))
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    return vecs.astype(np.float32)


def make_parted(dsn: str, name: str, seed: int = 0) -> Parted:
    """``public.<name>`` partitioned by range of id into 3 partitions of 2,000 rows, with
    an IVFFlat on the partitioned table (PostgreSQL builds it on each partition)."""
    ident = sql.Identifier(name)
    vecs = _vectors(PER_PARTITION * PARTITIONS, seed)
    with faults.connect(dsn) as conn:
        register_vector(conn)
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(ident))
        conn.execute(
            sql.SQL(
                "CREATE TABLE {} (id bigint PRIMARY KEY, embedding vector({})) "
                "PARTITION BY RANGE (id)"
            ).format(ident, sql.Literal(DIMS))
        )
        for i in range(PARTITIONS):
            conn.execute(
                sql.SQL("CREATE TABLE {} PARTITION OF {} FOR VALUES FROM ({}) TO ({})").format(
                    sql.Identifier(f"{name}_p{i}"),
                    ident,
                    sql.Literal(i * SPAN),
                    sql.Literal((i + 1) * SPAN),
                )
            )
        with (
            conn.cursor() as cur,
            cur.copy(
                sql.SQL("COPY {} (id, embedding) FROM STDIN (FORMAT BINARY)").format(ident)
            ) as copy,
        ):
            copy.set_types(["int8", "vector"])
            for k, v in enumerate(vecs):
                copy.write_row(((k % PARTITIONS) * SPAN + k // PARTITIONS, v))
        old_index = f"{name}_ivf"
        conn.execute(
            sql.SQL(
                "CREATE INDEX {} ON {} USING ivfflat (embedding vector_cosine_ops) "
                "WITH (lists = 30)"
            ).format(sql.Identifier(old_index), ident)
        )
        conn.execute(sql.SQL("ANALYZE {}").format(ident))
    found = indexes(dsn, name)
    count, digest = faults.checksum(dsn, name)
    table = faults.Table(dsn, name, count, digest, old_index, found[old_index].definition)
    parts = {n: ix.definition for n, ix in found.items() if n != old_index}
    assert len(parts) == PARTITIONS
    return Parted(table, parts)


@dataclass(frozen=True)
class Ix:
    table: str
    valid: bool
    method: str
    definition: str
    #: The partitioned index it is attached to.
    parent: str | None
    oid: int


def indexes(dsn: str, table: str) -> dict[str, Ix]:
    """Every vector index of the partitioned table and its partitions, by name."""
    with faults.connect(dsn) as conn:
        rows = conn.execute(
            """SELECT i.relname, t.relname, x.indisvalid AND x.indisready, am.amname,
                      pg_get_indexdef(i.oid), p.relname, i.oid::int8
                 FROM pg_index x
                 JOIN pg_class i ON i.oid = x.indexrelid
                 JOIN pg_class t ON t.oid = x.indrelid
                 JOIN pg_am am ON am.oid = i.relam
                 LEFT JOIN pg_inherits h ON h.inhrelid = i.oid
                 LEFT JOIN pg_class p ON p.oid = h.inhparent
                WHERE x.indrelid IN (SELECT relid FROM pg_partition_tree(%s::regclass))
                  AND am.amname IN ('hnsw', 'ivfflat')""",
            (table,),
        ).fetchall()
    return {
        str(r[0]): Ix(
            str(r[1]), bool(r[2]), str(r[3]), str(r[4]), str(r[5]) if r[5] else None, int(str(r[6]))
        )
        for r in rows
    }


def serving(dsn: str, table: str, probe_id: int) -> set[str]:
    """The indexes a cosine nearest-neighbour query uses, one per partition scan."""
    with faults.connect(dsn) as conn:
        conn.execute("SET enable_seqscan = off")
        plan_lines = conn.execute(
            sql.SQL(
                "EXPLAIN SELECT id FROM {0} ORDER BY embedding <=> "
                "(SELECT embedding FROM {0} WHERE id = %s) LIMIT 10"
            ).format(sql.Identifier(table)),
            (probe_id,),
        ).fetchall()
    used = set()
    for (line,) in plan_lines:
        if "Index Scan using" in str(line) and "pkey" not in str(line):
            used.add(str(line).split("Index Scan using", 1)[1].split()[0])
    return used


def broken(
    p: Parted, *, final: str | None = None, rows: tuple[int, str] | None = None
) -> list[str]:
    """What of the invariant does not hold on the partitioned table (empty: it holds).

    Every row is there (``rows``: the count and checksum expected, by default the
    table's own); a valid vector index on every partition serves the query; after a
    recovery no INVALID index is left; after a rollback the old partitioned index and
    every partition's index are back with their very ``pg_get_indexdef`` and nothing
    else; after a resume only the new HNSW indexes remain, attached.
    """
    t = p.table
    problems: list[str] = []
    if faults.checksum(t.dsn, t.name) != (rows or (t.rows, t.checksum)):
        problems.append("rows changed")
    found = indexes(t.dsn, t.name)
    used = serving(t.dsn, t.name, 1)
    if len(used) != PARTITIONS or not all(n in found and found[n].valid for n in used):
        problems.append(f"the query is served by {sorted(used)}, not a valid index a partition")
    if final is not None:
        invalid = sorted(n for n, ix in found.items() if not ix.valid)
        if invalid:
            problems.append(f"invalid leftovers after {final}: {invalid}")
    if final == "rollback":
        wanted = {t.old_index: t.old_definition, **p.partition_definitions}
        got = {n: ix.definition for n, ix in found.items()}
        if got != wanted:
            problems.append(f"after rollback the indexes are {got}")
        elif any(ix.parent != t.old_index for n, ix in found.items() if n != t.old_index):
            problems.append("after rollback a partition's index is not attached")
    if final == "resume":
        new = {t.new_index, *(p.new_partition_index(i) for i in range(PARTITIONS))}
        if set(found) != new or any(ix.method != "hnsw" for ix in found.values()):
            problems.append(f"after resume the indexes are {sorted(found)}")
        elif any(found[p.new_partition_index(i)].parent != t.new_index for i in range(PARTITIONS)):
            problems.append("after resume a partition's index is not attached")
    return problems


def spec_of(p: Parted, **choice: object) -> plan.MigrationSpec:
    with faults.connect(p.table.dsn) as conn:
        inventory = fetch_inventory(conn)
    return plan.choose(inventory, index=f"public.{p.table.old_index}", queries=20, **choice)  # type: ignore[arg-type]


# --- the plan ---------------------------------------------------------------------------------


def test_plan_builds_on_only_then_each_partition_concurrently_and_attaches(
    db: Database,
) -> None:
    p = make_parted(db.dsn, "pplan")
    r = vecscope("migrate", "plan", "--dsn", db.dsn, "--index", f"public.{p.table.old_index}")
    assert r.code == 0, r.err
    out = r.out
    assert 'CREATE INDEX IF NOT EXISTS "pplan_embedding_hnsw_idx" ON ONLY "public"."pplan"' in out
    for i in range(PARTITIONS):
        part, new = p.partition(i), p.new_partition_index(i)
        build = f'CREATE INDEX CONCURRENTLY IF NOT EXISTS "{new}" ON "public"."{part}" USING hnsw'
        attach = f'ATTACH PARTITION "public"."{new}"'
        assert build in out and attach in out
        assert out.index(build) < out.index(attach)
    # The cutover drops the old partitioned index (CONCURRENTLY is refused there) under a
    # lock_timeout shared out between the parent and its partitions.
    assert "SET lock_timeout = '1250ms';" in out
    assert 'DROP INDEX IF EXISTS "public"."pplan_ivf";' in out
    assert "Lint: clean" in out
    spec = spec_of(p)
    assert spec.partitioned and [x.table for x in spec.partitions] == [
        p.partition(i) for i in range(PARTITIONS)
    ]
    assert spec.rows == PER_PARTITION * PARTITIONS
    # The exports: the psql script and both rollbacks lint clean, given the partitioned
    # indexes; the Alembic revision is Python.
    names = render.partitioned_names(spec)
    assert lint(export.sql_script(spec), partitioned=names) == ()
    for after in (False, True):
        statements = [st.sql for st in render.rollback_statements(spec, after_cutover=after)]
        assert lint_statements(statements, partitioned=names) == ()
    revision = export.alembic_revision(spec, revision="1a2b3c4d5e6f", down_revision=None)
    compile(revision, "revision.py", "exec")


def test_the_linter_knows_a_partitioned_index() -> None:
    """ON ONLY builds nothing, and a partitioned index refuses DROP ... CONCURRENTLY: a
    plain drop of one is right, with lock_timeout, once the linter knows it is one."""
    safe = "SET lock_timeout = '1s';\n"
    made = (
        "CREATE INDEX IF NOT EXISTS p_idx ON ONLY p USING hnsw (e vector_cosine_ops);\n"
        "ALTER INDEX p_idx ATTACH PARTITION p1_idx;\n"
    )
    assert lint(safe + made + "DROP INDEX IF EXISTS p_idx;") == ()
    assert [f.rule for f in lint(safe + "DROP INDEX IF EXISTS old_idx;")] == [CONCURRENT_DELETION]
    assert lint(safe + "DROP INDEX IF EXISTS public.old_idx;", partitioned=["old_idx"]) == ()
    unguarded = lint("DROP INDEX IF EXISTS old_idx;", partitioned=["old_idx"])
    assert [f.rule for f in unguarded] == [LOCK_TIMEOUT]


def test_a_partitions_own_index_and_reindex_are_refused(db: Database) -> None:
    p = make_parted(db.dsn, "prefuse")
    with faults.connect(db.dsn) as conn:
        inventory = fetch_inventory(conn)
    part_index = next(n for n in p.partition_definitions)
    with pytest.raises(BadInputError, match="migrate public.prefuse_ivf"):
        plan.choose(inventory, index=f"public.{part_index}")
    with pytest.raises(BadInputError, match="partitioned"):
        plan.choose(inventory, index="public.prefuse_ivf", reindex=True)


# --- a whole run, with a writer in every partition --------------------------------------------


class Writer:
    """Inserts rows into every partition, one autocommit insert at a time, until stopped."""

    def __init__(self, dsn: str, table: str) -> None:
        self.dsn, self.table = dsn, table
        self.stop = threading.Event()
        self.written: list[tuple[int, np.ndarray]] = []
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        vecs = _vectors(5_000, 99)
        try:
            with faults.connect(self.dsn) as conn:
                register_vector(conn)
                insert = sql.SQL("INSERT INTO {} (id, embedding) VALUES (%s, %s)").format(
                    sql.Identifier(self.table)
                )
                k = 0
                while not self.stop.is_set() and k < len(vecs):
                    row_id = (k % PARTITIONS) * SPAN + 500_000 + k
                    conn.execute(insert, (row_id, vecs[k]))
                    self.written.append((row_id, vecs[k]))
                    k += 1
                    time.sleep(0.002)
        except BaseException as e:  # noqa: BLE001 - the test reports it
            self.error = e

    def __enter__(self) -> Writer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(60)


def test_whole_run_ivfflat_to_hnsw_with_writes_in_every_partition(
    db: Database, tmp_path: Path
) -> None:
    p = make_parted(db.dsn, "pwhole")
    spec = spec_of(p, rename=True)
    mig = Migration.start(ConnectionTarget(dsn=db.dsn), spec, journal_path=tmp_path / "j.jsonl")
    mig.preflight(calibrate=False)
    mig.backup("table", tmp_path / "backups")
    mig.baseline()
    seen: list[BuildProgress] = []
    with Writer(db.dsn, p.name) as writer:
        time.sleep(0.2)
        before_build = len(writer.written)
        outcome = mig.build(on_progress=seen.append)
        during = len(writer.written) - before_build
    assert writer.error is None, writer.error
    assert not outcome.cancelled
    # Writes went on while the partitions were built, into every partition.
    assert during > 20, during
    assert {row_id // SPAN for row_id, _ in writer.written} == set(range(PARTITIONS))
    # Each partition's build reported its own progress.
    shown = {(s.partition, s.partition_number, s.partitions) for s in seen if s.partition}
    assert shown, "no progress reported"
    assert all(part.startswith("pwhole_p") and total == PARTITIONS for part, _, total in shown)
    verification = mig.verify()
    assert verification.passed, verification.reasons
    assert verification.served_by == spec.new_name
    result = mig.cutover()
    assert result.served_by == spec.old_name  # renamed: the new index took the old name
    # Every row is there: the original ones and every row written during the build.
    with faults.connect(db.dsn) as conn:
        row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(p.name)))
        count = row.fetchone()
    assert count == (p.table.rows + len(writer.written),)
    found = indexes(db.dsn, p.name)
    assert set(found) == {p.table.old_index, *(p.new_partition_index(i) for i in range(3))}
    assert all(ix.valid and ix.method == "hnsw" for ix in found.values())
    # ... and each row written during the build is found through its partition's new index.
    with faults.connect(db.dsn) as conn:
        register_vector(conn)
        conn.execute("SET enable_seqscan = off")
        conn.execute("SET hnsw.ef_search = 200")
        query = sql.SQL("SELECT id FROM {} ORDER BY embedding <=> %s LIMIT 1").format(
            sql.Identifier(p.name)
        )
        missed = [
            row_id
            for row_id, vec in writer.written
            if (conn.execute(query, (vec,)).fetchone() or (None,))[0] != row_id
        ]
    assert not missed, f"{len(missed)} of {len(writer.written)} rows not found: {missed[:5]}"
    assert serving(db.dsn, p.name, 1) == {p.new_partition_index(i) for i in range(PARTITIONS)}


# --- SIGKILL between the partitions, then resume or rollback ----------------------------------


@contextlib.contextmanager
def old_snapshot(dsn: str) -> Iterator[None]:
    """A transaction holding a snapshot: a concurrent build waits for it to end ("waiting
    for old snapshots"), with its index already in the catalog, INVALID."""
    conn = psycopg.connect(dsn)
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    conn.execute("SELECT 1 FROM pg_class LIMIT 1")
    try:
        yield
    finally:
        with contextlib.suppress(psycopg.Error):
            conn.rollback()
        conn.close()


def kill_in_second_partition(p: Parted, journal: Path, *extra: str) -> None:
    """``migrate run``, SIGKILLed while the second partition's index is being built: the
    first partition's is built and attached, the second's INVALID, the third's absent."""
    argv = faults.command(p.table, "run", journal, "--lock-timeout", "60000", *extra)
    proc = faults.spawn(argv, failpoints="build.partition_done:stop")
    try:
        faults.wait_stopped(proc)
        with old_snapshot(p.table.dsn):
            proc.send_signal(signal.SIGCONT)
            deadline = time.monotonic() + 60
            while True:
                second = indexes(p.table.dsn, p.name).get(p.new_partition_index(1))
                if second is not None and phase(p.table.dsn) == "waiting for old snapshots":
                    break
                assert time.monotonic() < deadline and proc.poll() is None, "never got there"
                time.sleep(0.02)
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
            # The server notices the client is gone and stops the build.
            while phase(p.table.dsn) is not None:
                assert time.monotonic() < deadline + 60
                time.sleep(0.1)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=30)
    found = indexes(p.table.dsn, p.name)
    assert found[p.table.new_index].valid is False  # not every partition attached
    assert found[p.new_partition_index(0)].parent == p.table.new_index
    assert found[p.new_partition_index(1)].valid is False
    assert found[p.new_partition_index(1)].parent is None
    assert p.new_partition_index(2) not in found


def phase(dsn: str) -> str | None:
    with faults.connect(dsn) as conn:
        row = conn.execute(
            "SELECT phase FROM pg_stat_progress_create_index p JOIN pg_stat_activity a "
            "USING (pid) WHERE a.application_name = 'vecscope'"
        ).fetchone()
    return str(row[0]) if row else None


def test_sigkill_between_partitions_then_resume_builds_the_rest(
    db: Database, tmp_path: Path
) -> None:
    p = make_parted(db.dsn, "presume", seed=1)
    journal = tmp_path / "j.jsonl"
    kill_in_second_partition(p, journal)
    first = indexes(db.dsn, p.name)[p.new_partition_index(0)].oid
    assert broken(p) == []  # the old index still serves every partition
    code, out = faults.run(faults.command(p.table, "resume", journal))
    assert code == 0, out
    assert "dropping the invalid leftover presume_p1_embedding_hnsw_idx" in out
    assert "presume_p0_embedding_hnsw_idx already built and attached" in out
    assert broken(p, final="resume") == []
    # The first partition's index was kept, not built again.
    assert indexes(db.dsn, p.name)[p.new_partition_index(0)].oid == first
    assert jn.read(journal).done("cutover")


@pytest.mark.parametrize("where", ["mid-build", "after cutover"])
def test_rollback_restores_every_partitions_index_exactly(
    db: Database, tmp_path: Path, where: str
) -> None:
    p = make_parted(db.dsn, "pback_" + where.split()[0].replace("-", "_"), seed=2)
    journal = tmp_path / "j.jsonl"
    if where == "mid-build":
        kill_in_second_partition(p, journal)
    else:
        code, out = faults.run(faults.command(p.table, "run", journal, "--rename"))
        assert code == 0, out
        assert set(indexes(db.dsn, p.name)) == {
            p.table.old_index,
            *(p.new_partition_index(i) for i in range(PARTITIONS)),
        }
    code, out = faults.run(faults.command(p.table, "rollback", journal))
    assert code == 0, out
    assert broken(p, final="rollback") == []
    code, out = faults.run(faults.command(p.table, "rollback", journal))
    assert code == 0 and "already rolled back" in out, out


def test_sigkill_during_a_rollback_then_rollback_again(db: Database, tmp_path: Path) -> None:
    """A rollback after cutover, killed once the old partitioned index and the first
    partition's are back: the next rollback finishes from there."""
    p = make_parted(db.dsn, "pback_killed", seed=3)
    journal = tmp_path / "j.jsonl"
    code, out = faults.run(faults.command(p.table, "run", journal))
    assert code == 0, out
    argv = faults.command(p.table, "rollback", journal)
    code, out = faults.run(argv, failpoints="rollback.before_recreate_old_part")
    assert code == -9, out
    code, out = faults.run(argv)
    assert code == 0, out
    assert broken(p, final="rollback") == []


# --- the backup -----------------------------------------------------------------------------


def test_table_backup_holds_every_partitions_rows(
    db: Database, pg: EmbeddedServer, tmp_path: Path
) -> None:
    p = make_parted(db.dsn, "pdump", seed=4)
    mig = Migration.start(ConnectionTarget(dsn=db.dsn), spec_of(p), journal_path=tmp_path / "j")
    mig.preflight(calibrate=False)
    record = mig.backup("table", tmp_path / "backups")
    assert record.path is not None
    assert record.tables == (
        '"public"."pdump"',
        *(f'"public"."{p.partition(i)}"' for i in range(PARTITIONS)),
    )
    with faults.connect(db.dsn) as conn:
        version = conn.info.server_version
    pg_dump, pg_restore = find_pg_dump(version)
    # The dump restores, partitions and rows, into an empty database.
    target = "t_pdump_restored"
    restored = _fresh_database(pg, target, extension=True)
    try:
        done = subprocess.run(
            [str(pg_restore), "--exit-on-error", f"--dbname={restored.dsn}", record.path],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert faults.checksum(restored.dsn, p.name) == (p.table.rows, p.table.checksum)
        for i in range(PARTITIONS):
            n = faults.checksum(restored.dsn, p.partition(i))[0]
            assert n == PER_PARTITION
    finally:
        _drop_database(pg, target)
    # pg_dump --table of the parent alone holds none of the rows: verification says so.
    parent_only = tmp_path / "parent-only.dump"
    subprocess.run(
        [str(pg_dump), "-Fc", f"--file={parent_only}", "--table=public.pdump", db.dsn],
        check=True,
    )
    partitions = [p.partition(i) for i in range(PARTITIONS)]
    with pytest.raises(BackupError, match="holds no data for public.pdump_p0"):
        verify_dump(parent_only, "public", "pdump", pg_restore=pg_restore, partitions=partitions)
    verify_dump(Path(record.path), "public", "pdump", pg_restore=pg_restore, partitions=partitions)


# --- the Alembic revision, run for real -------------------------------------------------------


def test_alembic_upgrade_and_downgrade_of_a_partitioned_index(db: Database, tmp_path: Path) -> None:
    p = make_parted(db.dsn, "palembic", seed=5)
    spec = spec_of(p, rename=True)
    assert spec.kind == Kind.REBUILD
    revision = export.new_revision_id()
    source = export.alembic_revision(spec, revision=revision, down_revision=None)
    cfg = _alembic(db, tmp_path, source, revision=revision)
    from alembic import command

    command.upgrade(cfg, "head")
    found = indexes(db.dsn, p.name)
    assert set(found) == {p.table.old_index, *(p.new_partition_index(i) for i in range(3))}
    assert all(ix.valid and ix.method == "hnsw" for ix in found.values())
    command.downgrade(cfg, "base")
    assert broken(p, final="rollback") == []
