"""Benchmark: end-to-end training flow on a 2M-row history (features, XGBoost, baselines,
MLflow logging and registration), with temporary MLflow and Prefect homes.

    .venv/bin/python bench/bench_train.py [--days 400 --rows-per-day 5000]

Goal on a 2-core machine: under 5 minutes.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from _common import cached_world, machine, peak_rss_gib


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=400)
    ap.add_argument("--rows-per-day", type=int, default=5000)
    args = ap.parse_args()
    world = cached_world(args.days, args.rows_per_day)
    home = Path(tempfile.mkdtemp(prefix="bench-train-"))
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{home / 'mlruns' / 'mlflow.db'}"
    os.environ["PREFECT_HOME"] = str(home / "prefect")
    from pipelines.runtime import configure

    configure()
    from pipelines.train_flow import train_flow

    print(f"machine: {machine()}")
    t0 = time.perf_counter()
    truth = next((world / "truth").glob("history_truth.*"))
    out = train_flow(bundle=world / "bundle", truth=truth)
    total = time.perf_counter() - t0
    print(
        f"\nend-to-end training on {args.days * args.rows_per_day:,} declarations: {total:.0f} s "
        f"({total / 60:.1f} min), peak RSS {peak_rss_gib():.2f} GiB; version {out.version}, "
        f"{'promoted' if out.promoted else 'not promoted'}"
    )
    print(out.comparison.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
