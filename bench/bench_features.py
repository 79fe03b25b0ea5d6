"""Benchmark: build the feature matrix for a 1M-row manifest against a 1M-row history.

    .venv/bin/python bench/bench_features.py [--rows-per-day 5000 --days 400]

The world's first half is the history, its second half the rows to describe (the "manifest").
Goal on a 2-core machine: under 60 s and 6 GiB for the feature build.
"""

from __future__ import annotations

import argparse

import numpy as np

from _common import cached_world, machine, peak_rss_gib, timed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=400)
    ap.add_argument("--rows-per-day", type=int, default=5000)
    args = ap.parse_args()
    world = cached_world(args.days, args.rows_per_day)
    from data.io import load_bundle
    from data.reference import hs_profiles, ports
    from features.build import build_features, combine, fit_state, make_context

    print(f"machine: {machine()}")
    r: dict[str, float] = {}
    with timed("load + validate bundle", r):
        b = load_bundle(world / "bundle")
    decl = b.tables["declarations"]
    cut = decl["declared_at"].sort_values().iloc[len(decl) // 2]
    history, manifest = decl[decl["declared_at"] < cut], decl[decl["declared_at"] >= cut]
    print(f"  history {len(history):,} rows, manifest {len(manifest):,} rows")
    tables = {**b.tables, "declarations": history}
    with timed("fit text model (training only)", r):
        both = combine(history, manifest)
        ctx = make_context(tables, both, hs_profiles(), ports())
        ctx.state = fit_state(both, ctx, (~both["_is_target"]).to_numpy())
        ctx.state = {k: {kk: vv for kk, vv in v.items() if not kk.startswith("_")}
                     for k, v in ctx.state.items()}
    with timed("build features (1M vs 1M)", r):
        decl2 = combine(history, manifest)
        ctx2 = make_context(tables, decl2, hs_profiles(), ports(), state=ctx.state)
        fs = build_features(decl2, ctx2)
    for fam, sec in fs.seconds.items():
        print(f"    {fam:<14} {sec:6.1f} s")
    print(f"\nfeature build: {r['build features (1M vs 1M)']:.1f} s for {len(fs.matrix):,} rows x "
          f"{fs.matrix.shape[1]} features ({len(fs.matrix) / r['build features (1M vs 1M)']:,.0f} rows/s); "
          f"peak RSS {peak_rss_gib():.2f} GiB; non-missing share {np.isfinite(fs.matrix.to_numpy()).mean():.2f}")


if __name__ == "__main__":
    main()
