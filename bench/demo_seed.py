"""Benchmark: how long ``vecscope demo up`` takes on a fresh data directory.

What it measures, in alternating rounds so the machine's load hits both alike:

* **seed**: ``vecscope demo up --data-dir FRESH`` (a new embedded server: initdb, start,
  preload pg_stat_statements, then the demo seed at its default 50,000 rows), as a new
  user's first ``vecscope demo`` does before the screen opens; then ``demo down``;
* **reference** (the machine's speed, in the same run): the seed's longest single piece
  of work done alone, a serial HNSW build of ``messages`` (20,000 x 384-d, m = 16,
  ef_construction = 64) on the seeded demo, then dropped;
* and, for the record, ``vecscope demo up`` on the already seeded directory (every later
  run's cost).

It prints the medians and the ratio seed / reference. The promise is absolute (the first
seed under 20 s on this 2-core machine), but this machine's speed is not: the same
reference build took 10.4 s one hour and 21.6 s the next. The ratio is comparable between
runs; ``seed at a 10.4 s reference`` scales the seed to the machine at the speed where
the promise was set.

Run from the project root: ``python bench/demo_seed.py [--rounds 3] [--rows 50000]``.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_S = 20.0
#: The reference build's time when the machine ran at the speed the target was set at.
NORMAL_REFERENCE_S = 10.4
REFERENCE = (
    "CREATE INDEX bench_reference ON public.messages USING hnsw (embedding vector_l2_ops)"
    " WITH (m = 16, ef_construction = 64)"
)


def _vecscope(*args: str) -> float:
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "vecscope", *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"vecscope {' '.join(args)} failed: {proc.stderr.strip()[-500:]}")
    return elapsed


def _reference(data_dir: Path) -> float:
    """The serial HNSW build of messages alone, on the seeded demo in ``data_dir``."""
    import psycopg

    _vecscope("demo", "up", "--data-dir", str(data_dir))
    dsn = f"host={data_dir.resolve() / 'pgdata'} user=postgres dbname=vecscope_demo"
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("SET maintenance_work_mem = '512MB'")
            conn.execute("SET max_parallel_maintenance_workers = 0")
            started = time.perf_counter()
            conn.execute(REFERENCE)
            elapsed = time.perf_counter() - started
            conn.execute("DROP INDEX public.bench_reference")
    finally:
        _vecscope("demo", "down", "--data-dir", str(data_dir))
    return elapsed


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--rows", type=int, default=50_000)
    args = p.parse_args()
    root = Path(tempfile.mkdtemp(prefix="vecscope-bench-demo-"))
    seeded = root / "seeded"
    seeds: list[float] = []
    reuses: list[float] = []
    references: list[float] = []
    try:
        _vecscope("demo", "up", "--data-dir", str(seeded), "--rows", str(args.rows))
        _vecscope("demo", "down", "--data-dir", str(seeded))
        for i in range(args.rounds):
            fresh = root / f"fresh{i}"
            seeds.append(
                _vecscope("demo", "up", "--data-dir", str(fresh), "--rows", str(args.rows))
            )
            _vecscope("demo", "down", "--data-dir", str(fresh))
            shutil.rmtree(fresh, ignore_errors=True)
            reuses.append(_vecscope("demo", "up", "--data-dir", str(seeded)))
            _vecscope("demo", "down", "--data-dir", str(seeded))
            references.append(_reference(seeded))
            print(
                f"round {i + 1}: first seed {seeds[-1]:.1f} s, reference build "
                f"{references[-1]:.1f} s, seeded start {reuses[-1]:.1f} s"
            )
    finally:
        for d in root.iterdir():
            subprocess.run(
                [sys.executable, "-m", "vecscope", "demo", "down", "--data-dir", str(d)],
                capture_output=True,
                check=False,
            )
        shutil.rmtree(root, ignore_errors=True)
    seed, reuse = statistics.median(seeds), statistics.median(reuses)
    reference = statistics.median(references)
    scaled = seed * NORMAL_REFERENCE_S / reference
    print(
        f"first `vecscope demo up` ({args.rows:,} rows): median {seed:.1f} s "
        f"(min {min(seeds):.1f}, max {max(seeds):.1f})"
    )
    print(
        f"reference (serial HNSW build of messages alone): median {reference:.1f} s; "
        f"seed / reference = {seed / reference:.2f}"
    )
    print(
        f"seed at a {NORMAL_REFERENCE_S} s reference: {scaled:.1f} s; target under "
        f"{TARGET_S:.0f} s: {'met' if scaled < TARGET_S else 'NOT met'}"
    )
    print(f"seeded start: median {reuse:.1f} s")
    return 0 if scaled < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
