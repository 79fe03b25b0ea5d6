"""Benchmark: build the feature matrix for a manifest against a large history.

    .venv/bin/python bench/bench_features.py                          # 1M vs 1M
    .venv/bin/python bench/bench_features.py --manifest-rows 5000     # a typical day
    (--days 400 --rows-per-day 5000: the cached 2M-row world)

The world's first half (by declaration time) is the history; the manifest is the first
``--manifest-rows`` declarations after it (default: the whole second half, 1M rows). The text
model is fitted on the history once, outside the timed build. Prints seconds and peak resident
memory after each family. Goals on a 2-core machine: 1M vs 1M under 60 s and 6 GiB; a day's
5,000 rows against 1M in a few seconds.
"""

from __future__ import annotations

import argparse

import numpy as np
from _common import cached_world, machine, peak_rss_gib, timed


class _Metered:
    """A family module whose ``compute`` records the process's peak memory when it returns."""

    def __init__(self, family):
        self.family, self.FAMILY, self.FEATURES = family, family.FAMILY, family.FEATURES
        self.peak_gib = float("nan")

    def compute(self, decl, ctx):
        result = self.family.compute(decl, ctx)
        self.peak_gib = peak_rss_gib()
        return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=400)
    ap.add_argument("--rows-per-day", type=int, default=5000)
    ap.add_argument(
        "--manifest-rows",
        type=int,
        default=1_000_000,
        help="rows to describe, taken in time order after the history",
    )
    args = ap.parse_args()
    world = cached_world(args.days, args.rows_per_day)
    from data.io import load_bundle
    from data.reference import hs_profiles, ports
    from features import build
    from features.build import build_features, combine, fit_state, make_context, portable_state

    print(f"machine: {machine()}")
    r: dict[str, float] = {}
    with timed("load + validate bundle", r):
        b = load_bundle(world / "bundle")
    decl = b.tables["declarations"]
    cut = decl["declared_at"].sort_values().iloc[len(decl) // 2]
    history = decl[decl["declared_at"] < cut]
    later = decl[decl["declared_at"] >= cut].sort_values(["declared_at", "declaration_id"], kind="stable")
    manifest = later.iloc[: args.manifest_rows]
    print(f"  history {len(history):,} rows, manifest {len(manifest):,} rows")
    tables = {**b.tables, "declarations": history}
    with timed("fit text model (training only)", r):
        train = combine(history, later.iloc[:0])
        ctx = make_context(tables, train, hs_profiles(), ports())
        state = portable_state(fit_state(train, ctx, np.ones(len(train), dtype=bool)))
        del train, ctx
    label = f"build features ({len(manifest):,} vs {len(history):,})"
    metered = tuple(_Metered(fam) for fam in build.FAMILIES)
    families, build.FAMILIES = build.FAMILIES, metered
    try:
        with timed(label, r):
            both = combine(history, manifest)
            ctx = make_context(tables, both, hs_profiles(), ports(), state=state)
            fs = build_features(both, ctx)
    finally:
        build.FAMILIES = families
    for fam in metered:
        print(
            f"    {fam.FAMILY:<14} {fs.seconds[fam.FAMILY]:6.1f} s   "
            f"peak RSS after it {fam.peak_gib:5.2f} GiB"
        )
    sec, families_sec = r[label], sum(fs.seconds.values())
    print(
        f"\nfeature build: {sec:.1f} s for {len(fs.matrix):,} rows x {fs.matrix.shape[1]} "
        f"features ({len(fs.matrix) / sec:,.0f} rows/s), families {families_sec:.1f} s; "
        f"peak RSS {peak_rss_gib():.2f} GiB; "
        f"non-missing share {np.isfinite(fs.matrix.to_numpy()).mean():.2f}"
    )


if __name__ == "__main__":
    main()
