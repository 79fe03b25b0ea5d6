"""Benchmark: score a 1M-row manifest end to end (validation through outputs, SHAP for red/yellow).

    .venv/bin/python bench/bench_score.py [--manifest-rows 1000000]

Uses the cached 2M-row world: the first half is the history (a model is trained on it first,
without MLflow), the last ``--manifest-rows`` rows are written as the day's manifest and
scored with the same code the scoring flow runs. Prints each stage, the total, peak memory,
and the ratio to bare ``Booster.inplace_predict`` on the same matrix.
Goal on a 2-core machine: under 60 s and 6 GiB.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import cached_world, machine, peak_rss_gib, timed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=400)
    ap.add_argument("--rows-per-day", type=int, default=5000)
    ap.add_argument("--manifest-rows", type=int, default=1_000_000)
    ap.add_argument("--train-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    world = cached_world(args.days, args.rows_per_day)

    from data.io import load_bundle, load_manifest
    from data.reference import hs_profiles, ports
    from models.artifact import RiskModel
    from models.scoring import score_day
    from models.select import Capacity, rules_from_config
    from models.training import estimate_propensity, fit_candidate, package, prepare, refit_on_all_labels
    from pipelines.config import load_rules_config, load_scoring_config, load_train_config
    from pipelines.outputs import day_warnings, write_day_outputs

    print(f"machine: {machine()}")
    model_dir = world.parent / f"model-{world.name}"
    if args.train_only:
        b = load_bundle(world / "bundle")
        decl = b.tables["declarations"].sort_values("declared_at").reset_index(drop=True)
        tables = {**b.tables, "declarations": decl.iloc[: len(decl) // 2]}
        cfg = load_train_config()
        data = prepare(tables, hs_profiles(), ports(), cfg.split.validation_days, folds=cfg.split.folds)
        data = estimate_propensity(data, cfg.selection_bias.min_propensity)
        m = cfg.model
        rates = cfg.problem.inspection_rates_pct
        best = fit_candidate(data, m.params, m.num_boost_round, m.early_stopping_rounds, False, rates)
        best = refit_on_all_labels(data, best, m.params)
        package(best, data, {}).save(model_dir)
        return
    if not (model_dir / "model.json").exists():
        print("setup: training a model on the history half in a separate process (not timed)...")
        subprocess.run(
            [
                sys.executable,
                __file__,
                "--train-only",
                "--days",
                str(args.days),
                "--rows-per-day",
                str(args.rows_per_day),
            ],
            check=True,
        )
    b = load_bundle(world / "bundle")
    decl = b.tables["declarations"].sort_values("declared_at").reset_index(drop=True)
    manifest = decl.iloc[-args.manifest_rows :]
    history = decl.iloc[: len(decl) // 2]
    tmp = Path(tempfile.mkdtemp(prefix="bench-score-"))
    manifest_path = tmp / "manifest.parquet"
    manifest.drop(columns=["_row_number", "_source"]).to_parquet(manifest_path, index=False)
    tables = {**b.tables, "declarations": history}
    del b, decl, manifest
    model = RiskModel.load(model_dir)
    print(
        f"model: {model.booster.num_boosted_rounds()} trees (cached in {model_dir}); "
        f"peak RSS after loading the bundle {peak_rss_gib():.2f} GiB"
    )

    scfg = load_scoring_config()
    rules = rules_from_config([r.model_dump() for r in load_rules_config().rules])
    r: dict[str, float] = {}
    print(f"\nscoring {args.manifest_rows:,} rows against {len(history):,} rows of history:")
    t0 = time.perf_counter()
    with timed("validate manifest", r):
        v = load_manifest(manifest_path)
    with timed("features + score + select + SHAP", r):
        day = score_day(
            v.clean,
            tables,
            model,
            "bench",
            rules,
            Capacity(**scfg.capacity.model_dump()),
            "bench-day",
            hs_profiles(),
            ports(),
        )
    with timed("write outputs + report", r):
        write_day_outputs(  # the scoring flow's own writer: same files, same report
            tmp / "out",
            scored=day.scored,
            quarantine=v.quarantine,
            problems=v.problems,
            summary={
                "day": "bench",
                "rows_in": v.rows_in,
                "warnings": day_warnings(day.selection.warnings, day.missing),
            },
            report=dict(
                day="bench",
                manifest_path=str(manifest_path),
                rows_in=v.rows_in,
                waterfalls=day.waterfalls,
                importance=day.global_importance,
                capacity=day.selection.capacity,
                warnings=day_warnings(day.selection.warnings, day.missing),
                missing=day.missing,
                model_version="bench",
                top_cases=15,
            ),
        )
    total = time.perf_counter() - t0
    peak_scoring = peak_rss_gib()  # the bare-prediction comparison below builds features again
    flagged = int((day.scored["channel"] != "green").sum())
    n_exact = int((day.scored["explanation"] == "exact TreeSHAP").sum())
    del day

    from features.build import build_features, combine, make_context

    d2 = combine(history, v.clean.drop(columns=["_row_number"]))
    fs = build_features(d2, make_context(tables, d2, hs_profiles(), ports(), state=model.state))
    t1 = time.perf_counter()
    model.booster.inplace_predict(fs.matrix)
    bare = time.perf_counter() - t1
    print(
        f"\nend to end: {total:.1f} s for {v.rows_in:,} rows ({v.rows_in / total:,.0f} rows/s), "
        f"{flagged:,} red/yellow explained ({n_exact:,} with exact TreeSHAP, the rest approximate); "
        f"peak RSS {peak_scoring:.2f} GiB"
    )
    print(
        f"bare Booster.inplace_predict on the same {fs.matrix.shape[0]:,} x {fs.matrix.shape[1]} "
        f"matrix: {bare:.2f} s; end to end is {total / bare:,.0f}x that"
    )


if __name__ == "__main__":
    main()
