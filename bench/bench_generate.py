"""Benchmark: generate a synthetic world and write it, printing rows/s and peak memory.

    .venv/bin/python bench/bench_generate.py --days 200 --rows-per-day 5000 [--format parquet]

Peak memory is the process's maximum resident set size (``getrusage``), which includes the
interpreter and imported libraries; tracemalloc would slow the run down too much.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024.0 if sys.platform != "darwin" else peak / 1024.0 / 1024.0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=200)
    parser.add_argument("--rows-per-day", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--format", choices=("csv", "parquet"), default="csv")
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    from synth import generate_world, write_world

    t_import = time.perf_counter() - t0
    print(f"imports: {t_import:.1f} s, peak RSS {_peak_rss_mb():,.0f} MB")

    t0 = time.perf_counter()
    world = generate_world(seed=args.seed, days=args.days, rows_per_day=args.rows_per_day)
    t_gen = time.perf_counter() - t0
    rows = len(world.declarations) + len(world.manifest)
    print(
        f"generate: {rows:,} declaration rows in {t_gen:.1f} s = {rows / t_gen:,.0f} rows/s, "
        f"peak RSS {_peak_rss_mb():,.0f} MB"
    )

    with tempfile.TemporaryDirectory(prefix="bench-world-") as tmp:
        t0 = time.perf_counter()
        paths = write_world(world, Path(tmp) / "out", fmt=args.format)
        t_write = time.perf_counter() - t0
        size = sum(p.stat().st_size for p in (Path(tmp) / "out").rglob("*") if p.is_file())
        print(
            f"write ({args.format}): {t_write:.1f} s = {rows / t_write:,.0f} rows/s, "
            f"{size / 1e6:,.0f} MB on disk, peak RSS {_peak_rss_mb():,.0f} MB"
        )
        del paths
    total = t_gen + t_write
    v = int(world.history_truth["is_violation"].sum())
    print(
        f"total: {total:.1f} s = {rows / total:,.0f} rows/s; {v:,} violations planted, "
        f"{len(world.inspections):,} inspections; peak RSS {_peak_rss_mb():,.0f} MB"
    )


if __name__ == "__main__":
    main()
