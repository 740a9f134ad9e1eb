"""Benchmark: how long ``vecscope demo up`` takes on a fresh data directory.

What it measures, in alternating rounds so the machine's load hits both alike:

* **seed**: ``vecscope demo up --data-dir FRESH`` (a new embedded server: initdb, start,
  preload pg_stat_statements, then the demo seed at its default 50,000 rows), as a new
  user's first ``vecscope demo`` does before the screen opens; then ``demo down``;
* **baseline**: ``vecscope demo up`` on a data directory that is already seeded (start the
  server, see the seeded state, print the DSN), the cost of every later run.

It prints the median wall time of each and their ratio. The promise is absolute: the
first seed under 20 s on a 2-core machine; the ratio says how much of that is the seed
itself rather than the machine.

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


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--rows", type=int, default=50_000)
    args = p.parse_args()
    root = Path(tempfile.mkdtemp(prefix="vecscope-bench-demo-"))
    seeded = root / "seeded"
    seeds: list[float] = []
    reuses: list[float] = []
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
            print(f"round {i + 1}: first seed {seeds[-1]:.1f} s, seeded start {reuses[-1]:.1f} s")
    finally:
        for d in root.iterdir():
            subprocess.run(
                [sys.executable, "-m", "vecscope", "demo", "down", "--data-dir", str(d)],
                capture_output=True,
                check=False,
            )
        shutil.rmtree(root, ignore_errors=True)
    seed, reuse = statistics.median(seeds), statistics.median(reuses)
    print(
        f"first `vecscope demo up` ({args.rows:,} rows): median {seed:.1f} s "
        f"(min {min(seeds):.1f}, max {max(seeds):.1f}); target under {TARGET_S:.0f} s: "
        f"{'met' if seed < TARGET_S else 'NOT met'}"
    )
    print(
        f"seeded start (baseline): median {reuse:.1f} s; first seed / seeded start = "
        f"{seed / reuse:.1f}x"
    )
    return 0 if seed < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
