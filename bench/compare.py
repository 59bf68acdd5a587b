"""Print how long `results compare` takes over 100,000 measurements, next to SQLite's GROUP BY.

A run of 500 benchmarks x 2 profiles x 100 repetitions is written straight into a
scratch database; then the real CLI (a fresh interpreter, as a user runs it) compares
the two profiles, RUNS times; the figure is the median, end to end. Target: under 0.5 s.
Usage: python bench/compare.py [--runs N]
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sevtui.base.values import Value
from sevtui.store.db import Store
from sevtui.store.rows import RepetitionRecord

BENCHMARKS, REPETITIONS = 500, 100


def fill(path: Path) -> None:
    """500 benchmarks x 2 profiles x 100 repetitions, one time metric each."""
    store = Store(path)
    run_id = store.create_run("big", "running", "big", REPETITIONS, ["base", "other"])
    rng = random.Random(1)
    store.conn.execute("BEGIN")
    for bench in range(BENCHMARKS):
        for target, factor in (("base", 1.0), ("other", 1.05)):
            for rep in range(1, REPETITIONS + 1):
                value = (10 + bench % 7) * factor * rng.uniform(0.97, 1.03)
                store._insert_result(
                    run_id,
                    RepetitionRecord(
                        target,
                        f"bench-{bench:03d}",
                        "cpu",
                        rep,
                        "ok",
                        [Value("time", "s", "lower", value)],
                    ),
                )
    store.conn.execute("COMMIT")
    store.finish_run(run_id, "done")
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="svcompare") as scratch:
        db = Path(scratch) / "big.db"
        fill(db)
        argv = [sys.executable, "-m", "sevtui", "--db", str(db), "results", "compare", "big"]
        argv += ["--base", "base", "--other", "other", "--json"]
        times = []
        for _ in range(args.runs):
            started = time.perf_counter()
            subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
            times.append(time.perf_counter() - started)
        conn = sqlite3.connect(db)
        group_by = []
        for _ in range(args.runs):
            started = time.perf_counter()
            conn.execute(
                "SELECT target, benchmark, metric, COUNT(*), AVG(value) FROM measurements "
                "GROUP BY target, benchmark, metric"
            ).fetchall()
            group_by.append(time.perf_counter() - started)
        count = conn.execute("SELECT COUNT(*) FROM measurements").fetchone()[0]
    print(
        f"results compare over {count} measurements ({BENCHMARKS} benchmarks x 2 x {REPETITIONS})"
    )
    print(f"  sevtui CLI, end to end: median {statistics.median(times):.3f} s "
          f"(min {min(times):.3f}, max {max(times):.3f}; target < 0.5 s)")  # fmt: skip
    print(f"  SQLite GROUP BY alone:  median {statistics.median(group_by) * 1000:.1f} ms")


if __name__ == "__main__":
    main()
