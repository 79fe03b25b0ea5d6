"""Selection bias, measured and corrected: inspection propensity, fair metrics, bootstrap noise.

Labels exist only for inspected declarations, and the old regime chose them (mostly rule hits,
plus a small random quota). A model validated on those labels is graded on the old regime's
picks: "precision at 5%" of *labelled* items reads like "inspect 5% of traffic" and is not.
Two fair estimates stand beside the labelled one:

- **random quota**: metrics on the random / exploration inspections alone, which are a random
  sample of all traffic (so n% of them stands for n% of traffic), with a bootstrap interval;
- **propensity-weighted (IPW)**: every labelled item weighted by one over its probability of
  having been inspected, estimated from what the old regime could see; the inspection rate n%
  is n% of *all* declarations of the window, labelled or not.

Both are estimates with noise; ``paired_bootstrap`` measures it for a challenger-vs-champion
difference so promotion needs a gain larger than the noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score

from models.evaluate import top_n_mask

RANDOM_PICKS = ("random", "exploration")


@dataclass(frozen=True)
class Propensity:
    """Each declaration's probability of having been inspected by the old regime, and how it was found."""

    p: np.ndarray  # per declaration (all rows, not just labelled ones)
    method: str  # "selected_by" or "estimated"
    random_rate: float  # share of traffic inspected at random (0 when unknown)
    description: str


def inspection_propensity(
    matrix: pd.DataFrame,
    inspected: np.ndarray,
    selected_by: pd.Series | None,
    min_propensity: float = 0.002,
    seed: int = 0,
    max_rows: int = 400_000,
) -> Propensity:
    """Estimate P(inspected | what the old regime could see) for every declaration.

    A shallow XGBoost classifier on the feature matrix (the declaration and what the registry,
    watchlist and licences say of it), cross-fitted in two halves so an inspected row's own
    label does not inflate its propensity. When ``selected_by`` is known, random and
    exploration picks are inspected with the same chance whatever the declaration: the model
    then learns the targeted picks only, and p = q + (1 - q) * P(targeted | x), with q the
    random quota's share of traffic.
    """
    import xgboost as xgb

    inspected = np.asarray(inspected, dtype=bool)
    n = len(inspected)
    sel = None
    if selected_by is not None:
        sel = selected_by.fillna("").astype("str").to_numpy()
        if not (sel[inspected] != "").any():
            sel = None
    if sel is not None:
        random_pick = inspected & np.isin(sel, RANDOM_PICKS)
        q = float(random_pick.sum()) / max(n, 1)
        target = inspected & ~random_pick
        method = "selected_by"
    else:
        q = 0.0
        target = inspected
        method = "estimated"

    rng = np.random.default_rng(seed)
    half = rng.random(n) < 0.5
    p_t = np.zeros(n)
    X = matrix.to_numpy(dtype="float32", na_value=np.nan)
    params = {
        "objective": "binary:logistic",
        "tree_method": "hist",
        "max_depth": 3,
        "eta": 0.15,
        "min_child_weight": 5,
        "nthread": 2,
        "seed": seed,
    }
    for fold in (True, False):
        fit_rows = np.flatnonzero(half == fold)
        # keep every targeted row and a sample of the others (weighted back), for speed
        neg = fit_rows[~target[fit_rows]]
        keep_share = min(1.0, max_rows / max(len(neg), 1))
        neg_kept = neg[rng.random(len(neg)) < keep_share]
        rows = np.concatenate([fit_rows[target[fit_rows]], neg_kept])
        w = np.where(target[rows], 1.0, 1.0 / keep_share)
        dtrain = xgb.DMatrix(X[rows], label=target[rows].astype("float32"), weight=w, missing=np.nan)
        booster = xgb.train(params, dtrain, num_boost_round=120)
        other = np.flatnonzero(half != fold)
        p_t[other] = booster.inplace_predict(X[other], missing=np.nan)
    p = q + (1.0 - q) * p_t
    floor = max(min_propensity, q)
    p = np.clip(p, floor, 1.0)
    if method == "selected_by":
        description = (
            f"inspection propensity from selected_by: random quota {q:.2%} of traffic, targeted picks "
            f"modelled from what the old regime could see (cross-fitted XGBoost, {n:,} declarations)"
        )
    else:
        description = (
            "inspection propensity estimated (no selected_by in the outcomes): cross-fitted XGBoost of "
            f"inspected vs not inspected on {n:,} declarations, floor {floor:.3f}"
        )
    return Propensity(p=p, method=method, random_rate=q, description=description)


def ipw_weights(p: np.ndarray, max_weight: float) -> np.ndarray:
    """Inverse-propensity weights, clipped at ``max_weight`` (bias traded for variance)."""
    return np.minimum(1.0 / np.asarray(p, dtype="float64"), max_weight)


def weighted_metrics(
    scores_all: np.ndarray,
    labelled: np.ndarray,
    y: np.ndarray,
    value: np.ndarray | None,
    weight: np.ndarray,
    rates: tuple[float, ...],
) -> dict[str, float]:
    """Propensity-weighted precision/recall/revenue at n% of ALL declarations, and PR-AUC.

    ``scores_all`` covers every declaration of the window; ``labelled`` gives the positions of
    the labelled ones, with their ``y``, ``value`` and ``weight`` (1 / propensity, clipped).
    Each labelled item stands for ``weight`` declarations like it (Hajek estimator).
    """
    scores_all = np.asarray(scores_all, dtype="float64")
    y = np.asarray(y, dtype="float64")
    w = np.asarray(weight, dtype="float64")
    v = np.zeros_like(y) if value is None else np.nan_to_num(np.asarray(value, dtype="float64"))
    s = scores_all[labelled]
    wy = w * y
    out: dict[str, float] = {
        "n_items": float(len(scores_all)),
        "n_labelled": float(len(y)),
        "estimated_violations": float(wy.sum() * len(scores_all) / max(w.sum(), 1e-12)),
        # Kish's effective number of violations behind the estimate: a few heavily weighted random-quota
        # finds make a wide uncertainty that a bootstrap of the labelled items understates
        "effective_violations": float(wy.sum() ** 2 / (wy**2).sum()) if wy.sum() else 0.0,
        "pr_auc": (
            float(average_precision_score(y, s, sample_weight=w)) if 0 < y.sum() < len(y) else float("nan")
        ),
    }
    for rate in rates:
        top_all = top_n_mask(scores_all, rate)
        top = top_all[labelled]
        tag = f"{rate:g}pct"
        out[f"precision_at_{tag}"] = float(wy[top].sum() / w[top].sum()) if w[top].sum() else float("nan")
        out[f"recall_at_{tag}"] = float(wy[top].sum() / wy.sum()) if wy.sum() else float("nan")
        total = float((wy * v).sum())
        out[f"revenue_at_{tag}"] = float((wy * v)[top].sum() / total) if total else float("nan")
    return out


def bootstrap_interval(
    metric, n: int, resamples: int = 200, seed: int = 0, level: float = 0.95
) -> tuple[float, float, float]:
    """(low, high, standard deviation) of ``metric(idx)`` over bootstrap resamples of 0..n-1."""
    rng = np.random.default_rng(seed)
    values = np.array([metric(rng.integers(0, n, n)) for _ in range(resamples)], dtype="float64")
    values = values[np.isfinite(values)]
    if len(values) < 10:
        return float("nan"), float("nan"), float("nan")
    a = (1 - level) / 2
    return float(np.quantile(values, a)), float(np.quantile(values, 1 - a)), float(values.std())


def paired_bootstrap(metric_a, metric_b, n: int, resamples: int = 200, seed: int = 0) -> tuple[float, float]:
    """(mean, standard deviation) of metric_a - metric_b over the same bootstrap resamples."""
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(resamples):
        idx = rng.integers(0, n, n)
        diffs.append(metric_a(idx) - metric_b(idx))
    d = np.asarray(diffs, dtype="float64")
    d = d[np.isfinite(d)]
    if len(d) < 10:
        return float("nan"), float("nan")
    return float(d.mean()), float(d.std())


def pr_auc_on(y: np.ndarray, scores: np.ndarray, weight: np.ndarray | None = None):
    """A function of resample positions giving the (weighted) PR-AUC, for the bootstraps."""
    y = np.asarray(y, dtype="float64")
    scores = np.asarray(scores, dtype="float64")

    def metric(idx: np.ndarray) -> float:
        yy = y[idx]
        if not 0 < yy.sum() < len(yy):
            return float("nan")
        w = None if weight is None else weight[idx]
        return float(average_precision_score(yy, scores[idx], sample_weight=w))

    return metric


def promotion_gate(
    mine: float, theirs: float, noise_sd: float, min_improvement: float, noise_z: float
) -> tuple[bool, float]:
    """(promote?, gain needed): the challenger's fair metric must beat the champion's by more
    than ``min_improvement`` and more than ``noise_z`` bootstrap standard deviations of the gain."""
    needed = max(min_improvement, noise_z * (noise_sd if np.isfinite(noise_sd) else 0.0))
    return bool(np.isfinite(mine) and np.isfinite(theirs) and mine - theirs > needed), needed
