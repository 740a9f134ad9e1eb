"""The fault-injection harness: a table to migrate, the wizard as a real process to kill,
and the invariant every fault must leave intact.

Shared by ``tests/core/test_migrate_faults.py`` (a fixed set of faults, in CI) and
``bench/fault_soak.py`` (hundreds of random ones). Everything is real: the embedded server,
``vecscope migrate`` in its own process, SIGKILL, held locks, a terminated session.

The invariant, after any fault and the recovery that follows it:

- every row is there: the count and a checksum of ``(id, embedding)`` are unchanged;
- at least one valid, ready vector index serves the operator (EXPLAIN uses it);
- after a finished recovery, no INVALID index is left on the table;
- after a rollback, the original index is back with exactly its ``pg_get_indexdef`` and
  no other vector index remains; after a resume, only the new index remains.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psycopg
from pgvector.psycopg import register_vector
from psycopg import sql

ROOT = Path(__file__).resolve().parents[1]
DIMS = 32


@dataclass(frozen=True)
class Table:
    """A table made for one fault, and what must survive it."""

    dsn: str
    name: str
    rows: int
    checksum: str
    old_index: str
    old_definition: str

    @property
    def new_index(self) -> str:
        return f"{self.name}_embedding_hnsw_idx"


def connect(dsn: str) -> psycopg.Connection[tuple[object, ...]]:
    return psycopg.connect(dsn, autocommit=True)


def checksum(dsn: str, table: str) -> tuple[int, str]:
    with connect(dsn) as conn:
        row = conn.execute(
            sql.SQL(
                "SELECT count(*), md5(coalesce(string_agg(id::text || ':' || embedding::text,"
                " ',' ORDER BY id), '')) FROM {}"
            ).format(sql.Identifier(table))
        ).fetchone()
    assert row is not None
    return int(str(row[0])), str(row[1])


def load_table(
    dsn: str, name: str, rows: int = 3000, seed: int = 0, *, ivfflat: bool = True
) -> None:
    """``public.<name>(id bigint primary key, embedding vector(32))``: diffuse clusters (so
    IVFFlat at probes=1 misses neighbours, as on real data), with an IVFFlat ``<name>_ivf``
    unless ``ivfflat`` is false. The same rows for the same ``seed``, run after run."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(50, DIMS))
    vecs = centers[rng.integers(0, 50, rows)] + 0.8 * rng.normal(size=(rows, DIMS))
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    ident = sql.Identifier(name)
    with connect(dsn) as conn:
        register_vector(conn)
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(ident))
        conn.execute(
            sql.SQL("CREATE TABLE {} (id bigint PRIMARY KEY, embedding vector({}))").format(
                ident, sql.Literal(DIMS)
            )
        )
        with (
            conn.cursor() as cur,
            cur.copy(
                sql.SQL("COPY {} (id, embedding) FROM STDIN (FORMAT BINARY)").format(ident)
            ) as copy,
        ):
            copy.set_types(["int8", "vector"])
            for i, v in enumerate(vecs.astype(np.float32)):
                copy.write_row((i, v))
        if ivfflat:
            conn.execute(
                sql.SQL(
                    "CREATE INDEX {} ON {} USING ivfflat (embedding vector_cosine_ops) "
                    "WITH (lists = 30)"
                ).format(sql.Identifier(f"{name}_ivf"), ident)
            )
        conn.execute(sql.SQL("ANALYZE {}").format(ident))


def make_table(dsn: str, name: str, rows: int = 3000, seed: int = 0) -> Table:
    """:func:`load_table`, with what the fault tests compare against afterwards."""
    load_table(dsn, name, rows, seed)
    old_index = f"{name}_ivf"
    with connect(dsn) as conn:
        row = conn.execute(
            "SELECT pg_get_indexdef(%s::regclass)", (sql.Identifier(old_index).as_string(conn),)
        ).fetchone()
    assert row is not None
    count, digest = checksum(dsn, name)
    return Table(dsn, name, count, digest, old_index, str(row[0]))


def vector_indexes(dsn: str, table: str) -> dict[str, tuple[bool, str, str]]:
    """name -> (valid and ready, access method, pg_get_indexdef) but the primary key."""
    with connect(dsn) as conn:
        rows = conn.execute(
            """SELECT i.relname, x.indisvalid AND x.indisready, am.amname,
                      pg_get_indexdef(i.oid)
                 FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
                 JOIN pg_am am ON am.oid = i.relam
                WHERE x.indrelid = %s::regclass AND NOT x.indisprimary""",
            (table,),
        ).fetchall()
    return {str(r[0]): (bool(r[1]), str(r[2]), str(r[3])) for r in rows}


def served_by_index(dsn: str, table: str) -> str | None:
    """The index a cosine nearest-neighbour query uses when a Seq Scan is not an option."""
    with connect(dsn) as conn:
        conn.execute("SET enable_seqscan = off")
        plan = "\n".join(
            str(r[0])
            for r in conn.execute(
                sql.SQL(
                    "EXPLAIN SELECT id FROM {0} ORDER BY embedding <=> "
                    "(SELECT embedding FROM {0} WHERE id = 1) LIMIT 10"
                ).format(sql.Identifier(table))
            ).fetchall()
        )
    for line in plan.splitlines():
        if "Index Scan using" in line and "pkey" not in line:
            return line.split("Index Scan using", 1)[1].split()[0]
    return None


def broken(t: Table, *, final: str | None = None) -> list[str]:
    """What of the invariant does not hold (empty: it holds).

    ``final`` is ``"rollback"`` or ``"resume"`` once a recovery finished; ``None`` right
    after a fault (an invalid leftover may wait for the recovery then).
    """
    problems: list[str] = []
    count, digest = checksum(t.dsn, t.name)
    if (count, digest) != (t.rows, t.checksum):
        problems.append(f"rows changed: {count} rows, checksum {digest}")
    found = vector_indexes(t.dsn, t.name)
    usable = {n for n, (ok, am, _) in found.items() if ok and am in ("hnsw", "ivfflat")}
    if not usable:
        problems.append(f"no valid vector index: {found}")
    serving = served_by_index(t.dsn, t.name)
    if serving not in usable:
        problems.append(f"the cosine query is served by {serving}, not a valid vector index")
    if final is not None:
        invalid = sorted(n for n, (ok, _, _) in found.items() if not ok)
        if invalid:
            problems.append(f"invalid leftovers after {final}: {invalid}")
    if final == "rollback":
        if set(found) != {t.old_index}:
            problems.append(f"after rollback the indexes are {sorted(found)}")
        elif found[t.old_index][2] != t.old_definition:
            problems.append(f"after rollback {t.old_index} is {found[t.old_index][2]}")
    if final == "resume":
        names = set(found)
        if names not in ({t.new_index}, {t.old_index}) or not all(
            am == "hnsw" for _, am, _ in found.values()
        ):
            problems.append(f"after resume the indexes are {found}")
    return problems


# --- the wizard as a process ----------------------------------------------------------------


def command(t: Table, action: str, journal: Path, *extra: str) -> list[str]:
    argv = [sys.executable, "-m", "vecscope.cli.launch", "migrate", action]
    if action == "run":
        argv += ["--dsn", t.dsn, "--index", f"public.{t.old_index}", "--queries", "20"]
        argv += ["--backup-dir", str(journal.parent / "backups")]
    argv += ["--journal", str(journal), "--yes", *extra]
    return argv


def spawn(
    argv: list[str], *, failpoints: str | None = None, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    if failpoints:
        full_env["VECSCOPE_FAILPOINTS"] = failpoints
    return subprocess.Popen(
        argv,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=full_env,
    )


def finish(proc: subprocess.Popen[bytes], timeout: float = 300) -> tuple[int, str]:
    out, _ = proc.communicate(timeout=timeout)
    return proc.returncode, out.decode("utf-8", "replace")


def run(argv: list[str], **kwargs: object) -> tuple[int, str]:
    return finish(spawn(argv, **kwargs))  # type: ignore[arg-type]


def kill_after(proc: subprocess.Popen[bytes], seconds: float) -> bool:
    """SIGKILL the process after ``seconds`` unless it ended; True if it was killed."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        time.sleep(0.01)
    if proc.poll() is not None:
        return False
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    return True


def wait_stopped(proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    """Wait until the process stopped itself (a ``name:stop`` failpoint)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            state = ""
        if state == "T":
            return
        if proc.poll() is not None:
            raise AssertionError(f"exited {proc.returncode} before stopping")
        time.sleep(0.01)
    raise AssertionError("never stopped")


def wait_journal(
    journal: Path, needle: str, proc: subprocess.Popen[bytes], timeout: float = 120
) -> bool:
    """Wait until the journal holds ``needle`` (e.g. ``'"step": "build", "state": "intent"'``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if needle in journal.read_text(errors="replace"):
                return True
        except OSError:
            pass
        if proc.poll() is not None:
            return False
        time.sleep(0.005)
    return False


@dataclass(frozen=True)
class Trial:
    """One random fault and its recovery, as the soak and the tests draw them."""

    seed: int
    #: Seconds after start at which ``migrate run`` is killed.
    kill_run_at: float
    #: ``resume`` or ``rollback``.
    recovery: str
    #: Seconds after start at which the first recovery is killed (``None``: not killed).
    kill_recovery_at: float | None
    rename: bool

    @classmethod
    def draw(cls, seed: int, run_seconds: float) -> Trial:
        rng = random.Random(seed)
        return cls(
            seed=seed,
            kill_run_at=rng.uniform(0.05, run_seconds),
            recovery=rng.choice(("resume", "rollback")),
            kill_recovery_at=rng.uniform(0.05, run_seconds / 2) if rng.random() < 0.5 else None,
            rename=rng.random() < 0.5,
        )


def play(t: Table, trial: Trial, workdir: Path) -> tuple[list[str], int]:
    """Run, kill, recover (maybe killed too), recover again.

    Returns:
        What of the invariant broke (empty: nothing), and how many SIGKILLs landed (a
        process that ended before its kill moment was not killed).
    """
    journal = workdir / f"{t.name}.jsonl"
    extra = ("--rename",) if trial.rename else ()
    proc = spawn(command(t, "run", journal, *extra))
    killed = kill_after(proc, trial.kill_run_at)
    kills = int(killed)
    if not killed:
        code, out = finish(proc)
        if code != 0:
            return [f"seed {trial.seed}: the unkilled run failed ({code}): {out[-400:]}"], 0
    problems = [f"seed {trial.seed} after the kill: {p}" for p in broken(t)]
    if not journal.exists():
        # Killed before the journal was written: nothing may have changed at all.
        return problems + [f"seed {trial.seed}: {p}" for p in broken(t, final="rollback")], kills
    if trial.kill_recovery_at is not None:
        rec = spawn(command(t, trial.recovery, journal))
        if kill_after(rec, trial.kill_recovery_at):
            kills += 1
            problems += [f"seed {trial.seed} after the 2nd kill: {p}" for p in broken(t)]
        else:
            finish(rec)
    code, out = run(command(t, trial.recovery, journal))
    if code != 0:
        problems.append(f"seed {trial.seed}: {trial.recovery} exited {code}: {out[-600:]}")
    final = trial.recovery
    problems += [f"seed {trial.seed} after {final}: {p}" for p in broken(t, final=final)]
    leftovers = (
        list((workdir / "backups").glob(".*.part")) if (workdir / "backups").exists() else []
    )
    if leftovers:
        problems.append(f"seed {trial.seed}: partial dumps left: {leftovers}")
    return problems, kills
