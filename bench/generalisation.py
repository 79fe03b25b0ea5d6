"""Generalisation benchmark: detection on worlds the features were not written for.

    .venv/bin/python bench/generalisation.py [--profile foreign] [--seeds 1000,1001,1002]
        [--days 180 --rows-per-day 2000 --manifest-days 14]

For each seed: generate a world of ``--profile`` (default ``foreign``: seeds 1000 and up are held
out, never looked at while developing), keep its last ``--manifest-days`` days apart as the manifest
(their outcomes unknown, as on the day they are scored), train on the rest exactly as ``train`` does
(rolling folds, propensity, weighted vs unweighted on the fair metric, refit on every label), score
the manifest exactly as ``score`` does (rules, floors, channels) and compare every manifest row with
the world's truth:

- precision / recall / revenue at 1, 2, 5 and 10% inspected and PR-AUC of the model's score and of
  the published score (a rule hit's score raised to the day's red threshold), next to random,
  rules-only and generic-model baselines;
- recall at 5% by typology (a violation with several counts toward each) and by lane: the
  exporter-consignee pair shipped before only legitimately, shipped before with a violation, or new;
- the share of the top 5% scores' positive SHAP contributions that comes from novelty and
  track-record features (a model leaning on "new" and "seen before" does not find insiders);
- the training run's own figures on its latest validation window: labelled, fair (propensity-
  weighted with its 95% interval, random quota) and the truth, to see whether the fair figure holds.

Prints a table per seed and the mean over seeds; ``--out`` also writes them as CSV.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _common import machine, peak_rss_gib

RATES = (1, 2, 5, 10)


def feature_kind(name: str) -> str:
    """``novelty``, ``track record`` or ``other``: the groups of ``models.train.RELIANCE_GROUPS``."""
    from models.train import reliance_group

    group = reliance_group(name)
    return {"track_record": "track record", "novelty": "novelty"}.get(group or "", "other")


def _split_world(world, manifest_days: int):
    """History before the last ``manifest_days`` days (with the outcomes known by then), and those days."""
    decl = world.declarations
    t = pd.to_datetime(decl["declared_at"])
    cut = t.max().normalize() - pd.Timedelta(days=manifest_days - 1)
    history, manifest = decl[t < cut], decl[t >= cut]
    manifest = pd.concat([manifest, world.manifest], ignore_index=True)
    ins = world.inspections
    ins = ins[pd.to_datetime(ins["inspected_on"]) < cut]
    ins = ins[ins["declaration_id"].isin(history["declaration_id"])]
    truth = pd.concat([world.history_truth, world.manifest_truth], ignore_index=True)
    return history, manifest, ins, truth, cut


def run_seed(profile: str, seed: int, days: int, rows_per_day: int, manifest_days: int) -> dict:
    from data.io import load_bundle, load_manifest
    from data.reference import hs_profiles, ports
    from features.build import build_features, combine, make_context
    from models.evaluate import generic_matrix, ranking_metrics, rules_profile_score, top_n_mask
    from models.scoring import score_day
    from models.select import Capacity, rules_from_config
    from models.train import predict
    from models.training import (
        INSPECTION_TRUTH,
        baselines,
        estimate_propensity,
        evaluate,
        evaluate_on_truth,
        fit_candidate,
        fold_summary,
        package,
        prepare,
        refit_on_all_labels,
    )
    from pipelines.config import load_rules_config, load_scoring_config, load_train_config
    from synth import generate_world, write_world

    t0 = time.perf_counter()
    world = generate_world(seed=seed, days=days + manifest_days, rows_per_day=rows_per_day, profile=profile)
    history, manifest, ins, truth, cut = _split_world(world, manifest_days)
    tmp = Path(tempfile.mkdtemp(prefix=f"generalisation-{profile}-{seed}-"))
    write_world(world, tmp / "w")
    bundle = tmp / "w" / "bundle"
    for f in (bundle / "declarations").iterdir():
        f.unlink()
    history.to_csv(bundle / "declarations" / "history.csv", index=False)
    ins.to_csv(bundle / "inspections.csv", index=False)
    manifest.to_csv(tmp / "manifest.csv", index=False)
    print(f"  seed {seed}: {len(history):,} history rows, {len(manifest):,} manifest rows from {cut.date()}")

    cfg = load_train_config()
    b = load_bundle(bundle)
    data = prepare(
        b.tables, hs_profiles(), ports(), cfg.split.validation_days, cfg.split.gap_days, folds=cfg.split.folds
    )
    data = estimate_propensity(data, cfg.selection_bias.min_propensity)
    m, rates, mw = cfg.model, cfg.problem.inspection_rates_pct, cfg.selection_bias.max_weight
    primary = cfg.problem.primary_metric
    cands = [
        fit_candidate(data, m.params, m.num_boost_round, m.early_stopping_rounds, w, rates, mw)
        for w in (False, True)
    ]
    best = max(cands, key=lambda c: fold_summary(c, (primary,))[f"fold_mean_{primary}"])
    best = refit_on_all_labels(data, best, m.params, mw)
    base_scores, generic = baselines(data, m.params, m.num_boost_round, m.early_stopping_rounds)
    valid = evaluate(data, data.split, best.window_scores, rates, mw, 200)
    truth_valid, _ = evaluate_on_truth(data, best.model.booster, generic.booster, truth, list(RATES))
    trained = time.perf_counter() - t0

    # score the manifest as `score` does
    model = package(best, data, {})
    scfg = load_scoring_config()
    rules = rules_from_config([r.model_dump() for r in load_rules_config().rules])
    v = load_manifest(tmp / "manifest.csv")
    day = score_day(
        v.clean,
        b.tables,
        model,
        "bench",
        rules,
        Capacity(**scfg.capacity.model_dump()),
        "bench",
        hs_profiles(),
        ports(),
    )
    scored = day.scored.set_index("declaration_id")
    # the same manifest's features, for the baselines and the contribution shares
    decl = combine(b.tables["declarations"], v.clean.drop(columns=["_row_number"]))
    fs = build_features(decl, make_context(b.tables, decl, hs_profiles(), ports(), state=model.state))
    pos = pd.Series(np.arange(len(fs.declaration_ids)), index=fs.declaration_ids.to_numpy())
    order = pos.reindex(v.clean["declaration_id"]).to_numpy()
    matrix, context = (
        fs.matrix.iloc[order].reset_index(drop=True),
        fs.context.iloc[order].reset_index(drop=True),
    )
    ids = v.clean["declaration_id"].to_numpy()
    t = truth.drop_duplicates("declaration_id").set_index("declaration_id").reindex(ids)
    y = t["is_violation"].fillna(0).astype(float).to_numpy()
    value = t["true_value_usd"].fillna(0).to_numpy(dtype="float64")
    scorers = {
        "model": model.predict_proba(matrix),
        "model + rule floor": scored["risk_score"].reindex(ids).to_numpy(dtype="float64"),
        "random": np.random.default_rng(seed).random(len(ids)),
        "rules": rules_profile_score(matrix),
        "generic": predict(generic.booster, generic_matrix(matrix, context)),
    }
    table = {name: ranking_metrics(s, y, value, RATES) for name, s in scorers.items()}

    # recall at 5% by typology and by lane
    top5 = top_n_mask(scorers["model"], 5)
    typ = t["typology"].fillna("").astype(str) + ";" + t.get("secondary_typology", "").fillna("").astype(str)
    by_typology = {}
    for name in sorted({w for s in typ[y == 1] for w in s.split(";") if w}):
        has = typ.str.split(";").map(lambda ws, n=name: n in ws).to_numpy() & (y == 1)
        by_typology[name] = (float(top5[has].mean()), int(has.sum()))
    lane = _lanes(history, world.history_truth, v.clean)
    by_lane = {}
    for name in ("shipped before, only legitimately", "shipped before, with violations", "new pair"):
        has = (lane == name) & (y == 1)
        by_lane[name] = (float(top5[has].mean()) if has.any() else float("nan"), int(has.sum()))

    # which features carry the top 5% of scores
    phi = model.booster.predict(
        __import__("xgboost").DMatrix(matrix[top5], missing=np.nan), pred_contribs=True
    )[:, :-1]
    up = np.clip(phi, 0, None).sum(axis=0)
    kinds = pd.Series(up, index=matrix.columns).groupby(feature_kind).sum()
    share = {k: float(kinds.get(k, 0.0) / up.sum()) for k in ("novelty", "track record")}
    return {
        "seed": seed,
        "table": table,
        "by_typology": by_typology,
        "by_lane": by_lane,
        "share": share,
        "valid": valid,
        "truth_valid": truth_valid["model"],
        "truth_found": truth_valid.get(INSPECTION_TRUTH, truth_valid["model"]),
        "choice": best.name,
        "trees": best.trees,
        "seconds": time.perf_counter() - t0,
        "train_seconds": trained,
        "propensity": data.propensity.description,
        # one row per manifest item, for a closer look (not printed)
        "detail": pd.DataFrame(
            {
                "declaration_id": ids,
                "violation": y,
                "typology": typ.to_numpy(),
                "lane": lane,
                "model": scorers["model"],
                "published": scorers["model + rule floor"],
                "channel": scored["channel"].reindex(ids).to_numpy(),
                "selected_by": scored["selected_by"].reindex(ids).to_numpy(),
                "rule_hits": scored["rule_hits"].reindex(ids).to_numpy(),
            }
        ),
    }


def _lanes(history: pd.DataFrame, history_truth: pd.DataFrame, manifest: pd.DataFrame) -> np.ndarray:
    """Each manifest row's exporter-consignee pair: shipped before legitimately only, with a
    violation, or new."""

    def pair(frame: pd.DataFrame) -> pd.Series:
        return (
            frame["exporter_id"].astype(str)
            + "|"
            + frame["consignee_name"].astype(str).str.lower().str.strip()
        )

    bad = (
        history_truth.set_index("declaration_id")["is_violation"].reindex(history["declaration_id"]).fillna(0)
    )
    past = (
        pd.DataFrame({"pair": pair(history).to_numpy(), "bad": bad.to_numpy()}).groupby("pair")["bad"].max()
    )
    mine = pair(manifest)
    seen = mine.isin(past.index).to_numpy()
    had_bad = mine.map(past).fillna(0).to_numpy() > 0
    return np.where(
        ~seen,
        "new pair",
        np.where(had_bad, "shipped before, with violations", "shipped before, only legitimately"),
    )


def _print(res: dict) -> None:
    rows = []
    for name, m in res["table"].items():
        row = {"scorer": name, "PR-AUC": m["pr_auc"]}
        for r in RATES:
            row |= {
                f"P@{r}%": m[f"precision_at_{r}pct"],
                f"R@{r}%": m[f"recall_at_{r}pct"],
                f"Rev@{r}%": m[f"revenue_at_{r}pct"],
            }
        rows.append(row)
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    print(
        "  recall at 5% by typology: "
        + ", ".join(f"{k} {v:.2f} (n={n})" for k, (v, n) in res["by_typology"].items())
    )
    print(
        "  recall at 5% by lane:     "
        + ", ".join(f"{k} {v:.2f} (n={n})" for k, (v, n) in res["by_lane"].items())
    )
    print(
        f"  top-5% positive contributions: novelty {res['share']['novelty']:.0%}, "
        f"track record {res['share']['track record']:.0%} (together {sum(res['share'].values()):.0%})"
    )
    v, tv, tf = res["valid"], res["truth_valid"], res["truth_found"]
    nan = float("nan")
    print(
        f"  training's latest window: labelled PR-AUC {v['pr_auc']:.3f}; "
        f"fair IPW PR-AUC {v.get('ipw_pr_auc', nan):.3f} "
        f"(95% interval {v.get('ipw_pr_auc_low', nan):.3f}-{v.get('ipw_pr_auc_high', nan):.3f}); "
        f"random quota PR-AUC {v.get('random_quota_pr_auc', nan):.3f} "
        f"({int(v.get('random_quota_items', 0))} items); truth PR-AUC {tv['pr_auc']:.3f} "
        f"(what an inspection would find: {tf['pr_auc']:.3f}); "
        f"IPW P@5% {v.get('ipw_precision_at_5pct', nan):.3f} vs {tf['precision_at_5pct']:.3f}, "
        f"IPW R@5% {v.get('ipw_recall_at_5pct', nan):.3f} vs {tf['recall_at_5pct']:.3f}"
    )
    print(
        f"  {res['propensity']}; chose {res['choice']}, {res['trees']} trees; "
        f"{res['seconds']:.0f} s (training part {res['train_seconds']:.0f} s)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="foreign")
    ap.add_argument("--seeds", default="1000,1001,1002")
    ap.add_argument("--days", type=int, default=180)
    ap.add_argument("--rows-per-day", type=int, default=2000)
    ap.add_argument("--manifest-days", type=int, default=14)
    ap.add_argument("--out", type=Path, default=None, help="folder to write the tables as CSV")
    args = ap.parse_args()
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    print(
        f"machine: {machine()}\nprofile {args.profile}, seeds {seeds}: "
        f"{args.days} days x {args.rows_per_day:,} "
        f"rows, the last {args.manifest_days} days (+ the manifest day) scored as the manifest"
    )
    results = []
    for seed in seeds:
        res = run_seed(args.profile, seed, args.days, args.rows_per_day, args.manifest_days)
        _print(res)
        results.append(res)
    keys = ["pr_auc"] + [f"{k}_at_{r}pct" for r in RATES for k in ("precision", "recall", "revenue")]
    mean = pd.DataFrame(
        {
            name: [np.mean([r["table"][name][k] for r in results]) for k in keys]
            for name in results[0]["table"]
        },
        index=keys,
    ).T
    print(f"\nmean over {len(results)} seed(s), every manifest row vs the truth:")
    print(mean.to_string(float_format=lambda v: f"{v:.3f}"))
    typ = pd.DataFrame({r["seed"]: {k: v for k, (v, _) in r["by_typology"].items()} for r in results})
    lane = pd.DataFrame({r["seed"]: {k: v for k, (v, _) in r["by_lane"].items()} for r in results})
    print("\nrecall at 5% by typology and by lane (per seed, and the mean):")
    both = pd.concat([typ, lane]).assign(mean=lambda f: f.mean(axis=1))
    print(both.to_string(float_format=lambda v: f"{v:.2f}"))
    share = np.mean([sum(r["share"].values()) for r in results])
    print(
        f"\nnovelty + track record share of the top-5% score: {share:.0%} (mean); "
        f"peak RSS {peak_rss_gib():.1f} GiB"
    )
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        mean.to_csv(args.out / "generalisation_mean.csv")
        both.to_csv(args.out / "generalisation_recall_by_typology_and_lane.csv")


if __name__ == "__main__":
    main()
