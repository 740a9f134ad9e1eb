"""Soak the migration wizard in random faults: SIGKILL ``migrate run`` at a random moment,
recover with ``resume`` or ``rollback`` (itself killed at a random moment half the time),
recover again, and check the invariant in the database after every fault and recovery.

    python bench/fault_soak.py               # 200 faults
    python bench/fault_soak.py --trials 500 --seed 1000

It starts an embedded PostgreSQL of its own in a temporary directory, so it needs nothing
running. Each trial gets a fresh 3,000-row table; the kill moments are drawn uniformly over
the length of one whole uninterrupted run, measured first in the same session (so a slow
machine stretches the window instead of skewing it). Prints one line per broken invariant
and a summary; exits 1 if any invariant broke. The harness and the invariant are
``tests/faults.py``, which ``tests/core/test_migrate_faults.py`` runs a fixed set of in CI.
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from tests import faults  # noqa: E402
from vecscope.core import embedded  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0, help="first trial's seed")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vecscope-soak-") as tmp:
        root = Path(tmp)
        server = embedded.start(root / "pgdata", preload=False)
        try:
            with psycopg.connect(server.conninfo(), autocommit=True) as conn:
                conn.execute("CREATE DATABASE soak")
            dsn = server.conninfo("soak")
            with psycopg.connect(dsn, autocommit=True) as conn:
                conn.execute("CREATE EXTENSION vector")
            return soak(dsn, root, args.trials, args.seed)
        finally:
            embedded.stop(server.pgdata)


def soak(dsn: str, root: Path, trials: int, first_seed: int) -> int:
    # One uninterrupted run sets the window the kills are drawn from.
    t = faults.make_table(dsn, "calibration")
    started = time.monotonic()
    code, out = faults.run(faults.command(t, "run", root / "calibration.jsonl"))
    run_seconds = time.monotonic() - started
    if code != 0:
        print(f"the uninterrupted run failed ({code}):\n{out}")
        return 1
    print(f"one whole run: {run_seconds:.1f} s; kills drawn from 0.05 .. {run_seconds:.1f} s")
    broken = 0
    kills = 0
    kinds: collections.Counter[str] = collections.Counter()
    soak_started = time.monotonic()
    for n in range(trials):
        seed = first_seed + n
        trial = faults.Trial.draw(seed, run_seconds)
        kinds[f"{trial.recovery}{' (killed too)' if trial.kill_recovery_at else ''}"] += 1
        workdir = root / f"trial-{seed}"
        workdir.mkdir()
        table = faults.make_table(dsn, f"soak_{seed}", seed=seed)
        problems, landed = faults.play(table, trial, workdir)
        kills += landed
        if problems:
            broken += 1
            for p in problems:
                print(f"BROKEN {p}")
        with faults.connect(dsn) as conn:
            conn.execute(f'DROP TABLE "soak_{seed}"')
        if (n + 1) % 20 == 0:
            print(
                f"{n + 1} trials, {kills} SIGKILLs landed, {broken} broken invariants, "
                f"{time.monotonic() - soak_started:.0f} s"
            )
    print()
    print(f"trials: {trials}; SIGKILLs that landed (of run, resume, rollback): {kills}")
    for kind, count in sorted(kinds.items()):
        print(f"  recovered by {kind}: {count}")
    print(f"trials with a broken invariant: {broken}")
    print(f"time: {time.monotonic() - soak_started:.0f} s")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
