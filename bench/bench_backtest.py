"""Benchmark: seconds per simulated week per strategy of the backtest replay on the default world
(180 days x 2,000 declarations, seed 1), without Prefect or MLflow around it.

    .venv/bin/python bench/bench_backtest.py [--weeks 4] [--strategies exploit,random,...]

Per week and strategy: the week's point-in-time features rebuilt from that strategy's own labels
(strategies that know the same outcomes share one build), scoring, selection under capacity,
revealing, and the weekly refit. Goal on this machine: under 30 s per week per strategy.
"""

from __future__ import annotations

import argparse
import time

import pandas as pd
from _common import cached_world, machine, peak_rss_gib


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weeks", type=int, default=4)
    ap.add_argument("--strategies", default="exploit,random,uncertainty,hybrid,adaptive,rules")
    ap.add_argument("--days", type=int, default=180)
    ap.add_argument("--rows-per-day", type=int, default=2000)
    args = ap.parse_args()
    world = cached_world(args.days, args.rows_per_day, seed=1)
    strategies = [s for s in args.strategies.split(",") if s]

    from data.io import load_bundle
    from data.reference import hs_profiles, ports
    from models.backtest import prepare_replay, replay, summary
    from models.select import Capacity, rules_from_config
    from pipelines.backtest_flow import load_backtest_config
    from pipelines.config import load_rules_config, load_scoring_config, load_train_config

    print(f"machine: {machine()}")
    cfg = load_backtest_config().replay_config("weekly")
    train = load_train_config()
    cap = load_scoring_config().capacity
    capacity = Capacity(
        cap.red_rate, cap.yellow_rate, cap.exploration_share, cap.exploration_method, cap.seed
    )
    rules = rules_from_config([r.model_dump() for r in load_rules_config().rules])
    t0 = time.perf_counter()
    bundle = load_bundle(world / "bundle")
    truth = pd.read_parquet(next((world / "truth").glob("history_truth.*")))
    t_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    data = prepare_replay(
        bundle.tables,
        hs_profiles(),
        ports(),
        args.weeks,
        train.model.params,
        train.model.num_boost_round,
        cfg,
        truth,
    )
    t_prepare = time.perf_counter() - t0
    print(f"  load bundle + truth {t_load:6.1f} s")
    print(f"  prepare (text model, starting features and model) {t_prepare:6.1f} s")

    def on_week(row: dict) -> None:
        print(f"  week {row['week']} {row['strategy']:<11} {row['seconds']:6.1f} s", flush=True)

    t0, c0 = time.perf_counter(), time.process_time()
    result = replay(data, strategies, capacity, rules, cfg, on_week=on_week)
    total, cpu = time.perf_counter() - t0, time.process_time() - c0
    table = summary(result.rows)
    print(
        f"\n{args.weeks} weeks x {len(strategies)} strategies on {args.days * args.rows_per_day:,} "
        f"declarations: replay {total:.0f} s = {total / args.weeks:.1f} s per simulated week for all "
        f"strategies, {total / args.weeks / len(strategies):.1f} s per week per strategy (goal: 30 s); "
        f"peak RSS {peak_rss_gib():.2f} GiB"
    )
    print(
        f"CPU time of this process (every thread; what other jobs on the machine cannot inflate): "
        f"{cpu:.0f} s = {cpu / args.weeks / len(strategies):.1f} s per week per strategy"
    )
    print("seconds per week per strategy (its own feature build, scoring, selection, refit):")
    print(table[["strategy", "seconds_per_week"]].to_string(index=False, float_format=lambda v: f"{v:.1f}"))


if __name__ == "__main__":
    main()
