"""The training procedure as pure steps: features, labels, time split, fit, evaluate, baselines.

No Prefect, MLflow or files here: ``pipelines/train_flow.py`` wires these steps, logs them
and registers the result.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from data.arrays import isin
from data.errors import NotEnoughDataError
from data.outcomes import OutcomeReport
from features.build import (
    FeatureSet,
    catalogue,
    combine,
    fit_state,
    make_context,
    portable_state,
)
from models.artifact import RiskModel
from models.engine import LOCAL, Engine
from models.evaluate import (
    calibration_table,
    generic_matrix,
    ranking_metrics,
    recall_by_typology,
    rules_profile_score,
    top_n_mask,
    weighted_recall_by_typology,
)
from models.fairness import (
    RANDOM_PICKS,
    Propensity,
    bootstrap_interval,
    inspection_propensity,
    ipw_weights,
    paired_bootstrap,
    pr_auc_on,
    weighted_metrics,
)
from models.split import TimeSplit, rolling_splits
from models.train import predict


@dataclass
class TrainingData:
    """Features for every declaration of the bundle, and the labels of the inspected ones."""

    features: FeatureSet
    # declaration_id, row (into features), y, label_time, typology, seized_value_usd, selected_by
    # (+ propensity once estimated)
    labelled: pd.DataFrame
    split: TimeSplit  # masks over ``labelled``: the latest fold
    declared_at: pd.Series  # per labelled row
    folds: list[TimeSplit] = field(default_factory=list)  # rolling folds, oldest first; the last is split
    propensity: Propensity | None = None  # over every declaration (rows of ``features``)


def prepare(
    tables: dict[str, pd.DataFrame | None],
    hs_profiles: pd.DataFrame | None,
    ports: pd.DataFrame | None,
    validation_days: int,
    gap_days: int = 0,
    engine: Engine = LOCAL,
    folds: int = 1,
) -> TrainingData:
    """Build features point-in-time for all declarations; split the labelled ones on time.

    ``folds`` rolling time windows of ``validation_days`` each (the latest last) validate in
    turn. The text model is fitted here, in this process (it needs the whole training window
    at once), on the rows before the latest fold's cut-off; the feature build runs on ``engine``.
    """
    decl = combine(None, tables["declarations"])
    ctx = make_context(tables, decl, hs_profiles, ports)
    labels = ctx.labels
    if labels is None or labels.empty:
        raise NotEnoughDataError(
            "the bundle has no inspection outcomes: nothing to learn from (training needs "
            "inspections.csv with outcomes, or --outcomes exported from the review app)"
        )
    inspections = tables["inspections"].drop_duplicates("declaration_id", keep="last")
    inspections = inspections.set_index("declaration_id")
    row_of = pd.Series(np.arange(len(decl)), index=decl["declaration_id"])
    lab = labels.drop_duplicates("declaration_id", keep="last")
    lab = lab[isin(lab["declaration_id"], row_of.index)]
    labelled = pd.DataFrame(
        {
            "declaration_id": lab["declaration_id"].to_numpy(),
            "row": row_of.reindex(lab["declaration_id"]).to_numpy(),
            "y": lab["violation"].to_numpy(),
            "label_time": lab["label_time"].to_numpy(),
        }
    )
    for col, default in (("typology", None), ("seized_value_usd", np.nan), ("selected_by", None)):
        src = inspections[col] if col in inspections.columns else pd.Series(default, index=inspections.index)
        labelled[col] = src.reindex(labelled["declaration_id"]).to_numpy()
    labelled = labelled.sort_values("row").reset_index(drop=True)
    declared_at = decl["declared_at"].iloc[labelled["row"]].reset_index(drop=True)
    splits = rolling_splits(declared_at, labelled["label_time"], validation_days, folds, gap_days)
    split = splits[-1]

    # fitted state (text model) learns only from the training window and its known outcomes
    train_rows = decl["declared_at"] < split.cutoff
    known = make_context(tables, decl, hs_profiles, ports)
    known.labels = labels[labels["label_time"] < split.cutoff]
    state = fit_state(decl, known, train_rows.to_numpy())
    ctx.state = state
    features = engine.build(decl, ctx)
    return TrainingData(features, labelled, split, declared_at, splits)


def check_outcomes(report: OutcomeReport, max_unusable_share: float) -> None:
    """Stop, in one line, when too many of the violations read cannot be learned from."""
    share = report.unusable_violation_share
    if share > max_unusable_share:
        raise NotEnoughDataError(
            f"{share:.0%} of the {report.violations_read:,} violations in the outcomes cannot be used "
            f"(set aside: {', '.join(f'{n} x {r}' for r, n in report.violations_set_aside.items() if n)}); "
            "run `customs-risk validate --bundle` to see them, fix the files, or raise "
            f"labels.max_unusable_violation_share (now {max_unusable_share:g}) in the training config"
        )


def estimate_propensity(data: TrainingData, min_propensity: float) -> TrainingData:
    """Each declaration's chance of having been inspected by the old regime (see models.fairness)."""
    inspected = np.zeros(len(data.features.matrix), dtype=bool)
    inspected[data.labelled["row"].to_numpy()] = True
    selected_by = None
    if data.labelled["selected_by"].notna().any():
        selected_by = pd.Series("", index=range(len(inspected)), dtype=object)
        selected_by.iloc[data.labelled["row"].to_numpy()] = data.labelled["selected_by"].fillna("").to_numpy()
    prop = inspection_propensity(data.features.matrix, inspected, selected_by, min_propensity)
    labelled = data.labelled.assign(propensity=prop.p[data.labelled["row"].to_numpy()])
    return replace(data, labelled=labelled, propensity=prop)


def window_rows(data: TrainingData, split: TimeSplit) -> np.ndarray:
    """Positions (rows of the features) of every declaration in ``split``'s validation window."""
    t = data.features.context["declared_at"]
    inside = t >= split.cutoff
    if split.end is not None:
        inside &= t < split.end
    return np.flatnonzero(inside.to_numpy())


@dataclass
class Candidate:
    """A way of fitting (weighted or not), its fold results, and the model refitted on every label."""

    name: str
    model: Any  # FitResult of the latest fold (trained before the latest window): compared, plotted
    valid_scores: np.ndarray  # the latest fold's scores on the labelled rows of its window
    window_scores: np.ndarray = field(default_factory=lambda: np.zeros(0))  # every row of that window
    metrics: dict[str, float] = field(default_factory=dict)  # the latest fold's evaluation
    fold_metrics: list[dict[str, float]] = field(default_factory=list)
    trees: int = 0  # chosen on the folds
    refit: Any = None  # FitResult on every label up to the cut-off: what is registered
    weighted: bool = False


def training_weights(data: TrainingData, weighted: bool, max_weight: float) -> np.ndarray | None:
    """Inverse-propensity weights of the labelled rows (normalised to mean 1), or None."""
    if not weighted:
        return None
    if data.propensity is None:
        raise ValueError("estimate_propensity must run before a weighted fit")
    w = ipw_weights(data.labelled["propensity"].to_numpy(), max_weight)
    return w / w.mean()


def fit_candidate(
    data: TrainingData,
    params: dict[str, Any],
    num_boost_round: int,
    early_stopping_rounds: int,
    weighted: bool,
    rates: list[float],
    max_weight: float = 50.0,
    resamples: int = 200,
    engine: Engine = LOCAL,
) -> Candidate:
    """Fit on each rolling fold (train on the past, early-stop on the next window) and evaluate.

    The number of trees for the refit is the median of the folds' best rounds.
    """
    X = data.features.matrix.iloc[data.labelled["row"]].reset_index(drop=True)
    y = data.labelled["y"].to_numpy()
    w_all = training_weights(data, weighted, max_weight)
    fold_metrics, best_rounds = [], []
    fit = None
    for i, split in enumerate(data.folds):
        tr, va = split.train, split.valid
        w = None if w_all is None else w_all[tr]
        fit = engine.fit(
            X[tr], y[tr], X[va], y[va], params, num_boost_round, early_stopping_rounds, weight_train=w
        )
        best_rounds.append(fit.best_iteration + 1)
        last = i == len(data.folds) - 1
        window = window_rows(data, split)
        window_scores = engine.predict(fit.booster, data.features.matrix.iloc[window])
        fold_metrics.append(evaluate(data, split, window_scores, rates, max_weight, resamples if last else 0))
    name = "full_ipw_weighted" if weighted else "full_unweighted"
    labelled_in_window = _labelled_positions(data, data.split)
    return Candidate(
        name=name,
        model=fit,
        valid_scores=window_scores[labelled_in_window],
        window_scores=window_scores,
        metrics=fold_metrics[-1],
        fold_metrics=fold_metrics,
        trees=int(np.median(best_rounds)),
        weighted=weighted,
    )


def refit_on_all_labels(
    data: TrainingData,
    candidate: Candidate,
    params: dict[str, Any],
    max_weight: float = 50.0,
    engine: Engine = LOCAL,
) -> Candidate:
    """Refit the chosen way on every label known at the cut-off, with the folds' number of trees."""
    X = data.features.matrix.iloc[data.labelled["row"]].reset_index(drop=True)
    y = data.labelled["y"].to_numpy()
    w = training_weights(data, candidate.weighted, max_weight)
    refit = engine.fit(X, y, None, None, params, candidate.trees, None, weight_train=w)
    return replace(candidate, refit=refit)


def fold_summary(candidate: Candidate, keys: tuple[str, ...]) -> dict[str, float]:
    """Mean over the folds of some metrics (``fold_mean_<key>``)."""
    out = {}
    for k in keys:
        vals = [m.get(k, np.nan) for m in candidate.fold_metrics]
        vals = [v for v in vals if np.isfinite(v)]
        out[f"fold_mean_{k}"] = float(np.mean(vals)) if vals else float("nan")
    return out


def _labelled_positions(data: TrainingData, split: TimeSplit) -> np.ndarray:
    """Where the labelled rows of ``split``'s window sit among the window's rows."""
    window = window_rows(data, split)
    rows = data.labelled.loc[split.valid, "row"].to_numpy()
    return np.searchsorted(window, rows)


def baselines(
    data: TrainingData,
    params: dict[str, Any],
    num_boost_round: int,
    early_stopping_rounds: int,
    seed: int = 0,
    engine: Engine = LOCAL,
) -> tuple[dict[str, np.ndarray], Any]:
    """Scores of the three baselines (random, rules-only profile, generic model) on every
    declaration of the latest validation window, and the fitted generic model."""
    rows = data.labelled["row"].to_numpy()
    tr, va = data.split.train, data.split.valid
    y = data.labelled["y"].to_numpy()
    matrix = data.features.matrix.iloc[rows].reset_index(drop=True)
    context = data.features.context.iloc[rows].reset_index(drop=True)
    G = generic_matrix(matrix, context)
    generic = engine.fit(G[tr], y[tr], G[va], y[va], params, num_boost_round, early_stopping_rounds)
    window = window_rows(data, data.split)
    wm = data.features.matrix.iloc[window].reset_index(drop=True)
    wc = data.features.context.iloc[window].reset_index(drop=True)
    scores = {
        "random": np.random.default_rng(seed).random(len(window)),
        "rules": rules_profile_score(wm),
        "generic": predict(generic.booster, generic_matrix(wm, wc)),
    }
    return scores, generic


INSPECTION_TRUTH = "model: violations an inspection would find"


def evaluate_on_truth(
    data: TrainingData,
    model_booster,
    generic_booster,
    truth: pd.DataFrame,
    rates: list[float],
    seed: int = 0,
) -> tuple[dict[str, dict[str, float]], int]:
    """For generated worlds only: every declaration of the validation window against the truth.

    Labelled rows were chosen by the old rules; the truth covers all rows, so this is the
    unbiased picture (a real administration has no such file). ``truth`` has declaration_id,
    is_violation and true_value_usd, and may say whether an inspection would find the violation
    (``found_if_inspected``: inspectors miss some), which is what the fair estimates estimate.
    Declarations the truth file does not cover (e.g. a scored
    day appended to the history whose truth was not given) are left out, never counted as
    clean; their number is returned beside the metrics.
    """
    ctx = data.features.context
    rows = window_rows(data, data.split)
    ids = data.features.declaration_ids.iloc[rows]
    t = truth.drop_duplicates("declaration_id", keep="last").set_index("declaration_id")
    covered = isin(ids, t.index)
    rows, ids = rows[covered], ids[covered]
    y = t["is_violation"].reindex(ids).astype(float).to_numpy()
    value = (
        t["true_value_usd"].reindex(ids).fillna(0).to_numpy(dtype="float64")
        if "true_value_usd" in t
        else None
    )
    matrix = data.features.matrix.iloc[rows]
    scorers = {
        "model": predict(model_booster, matrix),
        "random": np.random.default_rng(seed).random(len(rows)),
        "rules": rules_profile_score(matrix),
        "generic": predict(generic_booster, generic_matrix(matrix, ctx.iloc[rows])),
    }
    metrics = {name: ranking_metrics(s, y, value, tuple(rates)) for name, s in scorers.items()}
    if "found_if_inspected" in t:  # what the labels of a full inspection would say: the fair figures' target
        found = t["found_if_inspected"].reindex(ids).astype(float).to_numpy()
        metrics[INSPECTION_TRUTH] = ranking_metrics(scorers["model"], found, value, tuple(rates))
    return metrics, int((~covered).sum())


def evaluate(
    data: TrainingData,
    split: TimeSplit,
    window_scores: np.ndarray,
    rates: list[float],
    max_weight: float = 50.0,
    resamples: int = 200,
) -> dict[str, float]:
    """Labelled, random-quota and propensity-weighted metrics on ``split``'s validation window.

    ``window_scores``: a scorer's scores for every declaration of the window (``window_rows``).
    - unprefixed keys: the labelled items only, n% meaning n% of the labelled items (biased
      toward the old regime's picks: optimistic);
    - ``random_quota_*``: random / exploration inspections only, a random sample of traffic;
    - ``ipw_*``: every labelled item weighted by 1 / its inspection propensity, n% meaning n%
      of all declarations of the window.
    ``*_low``/``*_high`` give a 95% bootstrap interval of the PR-AUC (``resamples`` > 0).
    """
    window_scores = np.asarray(window_scores, dtype="float64")
    lab = data.labelled[split.valid]
    pos = _labelled_positions(data, split)
    scores = window_scores[pos]
    y = lab["y"].to_numpy(dtype="float64")
    value = lab["seized_value_usd"].to_numpy(dtype="float64")
    r = tuple(rates)
    metrics = ranking_metrics(scores, y, value, r)
    rnd = lab["selected_by"].isin(RANDOM_PICKS).to_numpy()
    metrics["random_quota_items"] = float(rnd.sum())
    metrics["random_quota_violations"] = float(y[rnd].sum())
    if rnd.sum() > 0 and 0 < y[rnd].sum() < rnd.sum():
        fair = ranking_metrics(scores[rnd], y[rnd], value[rnd], r)
        metrics.update({f"random_quota_{k}": v for k, v in fair.items() if k not in ("n_items",)})
        if resamples:
            low, high, sd = bootstrap_interval(pr_auc_on(y[rnd], scores[rnd]), int(rnd.sum()), resamples)
            metrics |= {"random_quota_pr_auc_low": low, "random_quota_pr_auc_high": high}
            metrics["random_quota_pr_auc_sd"] = sd
    if "propensity" in lab.columns:
        w = ipw_weights(lab["propensity"].to_numpy(), max_weight)
        fair = weighted_metrics(window_scores, pos, y, value, w, r)
        metrics.update({f"ipw_{k}": v for k, v in fair.items()})
        if resamples:
            low, high, sd = bootstrap_interval(pr_auc_on(y, scores, w), len(y), resamples)
            metrics |= {"ipw_pr_auc_low": low, "ipw_pr_auc_high": high, "ipw_pr_auc_sd": sd}
    return metrics


def fair_difference(
    data: TrainingData,
    challenger_window: np.ndarray,
    champion_window: np.ndarray,
    metric: str,
    max_weight: float = 50.0,
    resamples: int = 200,
) -> tuple[float, float]:
    """(mean, standard deviation) over paired bootstrap resamples of the challenger's fair PR-AUC
    minus the champion's, on the latest window: the noise a promotion must beat."""
    lab = data.labelled[data.split.valid]
    pos = _labelled_positions(data, data.split)
    y = lab["y"].to_numpy(dtype="float64")
    if metric.startswith("random_quota"):
        keep = lab["selected_by"].isin(RANDOM_PICKS).to_numpy()
        w = None
    else:
        keep = np.ones(len(lab), dtype=bool)
        w = ipw_weights(lab["propensity"].to_numpy(), max_weight) if "propensity" in lab.columns else None
    a = pr_auc_on(y[keep], np.asarray(challenger_window)[pos][keep], None if w is None else w[keep])
    b = pr_auc_on(y[keep], np.asarray(champion_window)[pos][keep], None if w is None else w[keep])
    return paired_bootstrap(a, b, int(keep.sum()), resamples)


def typology_recall(
    data: TrainingData, window_scores: np.ndarray, rate: float, max_weight: float = 50.0
) -> dict[str, float]:
    """Recall at ``rate``% per typology on the latest window: ``<typology>`` on the labelled items
    (n% of them), ``ipw_<typology>`` propensity-weighted (n% of all declarations). A violation
    with several typologies counts toward each."""
    lab = data.labelled[data.split.valid]
    pos = _labelled_positions(data, data.split)
    y = lab["y"].to_numpy()
    out = recall_by_typology(np.asarray(window_scores)[pos], y, lab["typology"], rate)
    if "propensity" in lab.columns:
        top = top_n_mask(np.asarray(window_scores), rate)[pos]
        w = ipw_weights(lab["propensity"].to_numpy(), max_weight)
        out |= {f"ipw_{k}": v for k, v in weighted_recall_by_typology(top, y, w, lab["typology"]).items()}
    return out


def calibration(data: TrainingData, scores: np.ndarray) -> pd.DataFrame:
    return calibration_table(data.labelled.loc[data.split.valid, "y"].to_numpy(), scores)


def package(candidate: Candidate, data: TrainingData, metadata: dict[str, Any]) -> RiskModel:
    """The registered model: booster + portable fitted state + feature schema."""
    return RiskModel(
        booster=(candidate.refit or candidate.model).booster,
        feature_names=[f.name for f in catalogue()],
        state=portable_state(data.features.state),
        metadata=metadata,
    )


def score_with(
    model: RiskModel,
    data: TrainingData,
    tables: dict[str, pd.DataFrame | None],
    hs_profiles,
    ports,
    engine: Engine = LOCAL,
) -> np.ndarray:
    """Another model's (the champion's) scores for every declaration of the latest validation
    window, with its own fitted state."""
    decl = combine(None, tables["declarations"])
    ctx = make_context(tables, decl, hs_profiles, ports, state=model.state)
    keep = np.zeros(len(decl), dtype=bool)
    keep[window_rows(data, data.split)] = True
    fs = engine.build(decl.assign(_is_target=keep), ctx)
    return engine.predict_model(model, fs.matrix)


def inner_split(data: TrainingData, share: float = 0.2) -> TrainingData:
    """A time split inside the training window (its latest ``share`` validates), for tuning.

    Hyperparameters chosen on the outer validation window would flatter the reported
    metrics; tuning on an inner window keeps the outer one untouched.
    """
    t = data.declared_at
    train_t = t[data.split.train]
    cutoff = train_t.quantile(1 - share)
    inner = TimeSplit(
        train=data.split.train & (t < cutoff).to_numpy(),
        valid=data.split.train & (t >= cutoff).to_numpy(),
        cutoff=pd.Timestamp(cutoff),
        end=data.split.cutoff,
    )
    return replace(data, split=inner, folds=[inner])


def suggest_params(trial, base: dict[str, Any]) -> dict[str, Any]:
    """The search space of the optional hyperparameter search."""
    return {
        **base,
        "max_depth": trial.suggest_int("max_depth", 3, 8),
        "eta": trial.suggest_float("eta", 0.02, 0.3, log=True),
        "subsample": trial.suggest_float("subsample", 0.6, 1.0),
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.5, 1.0),
        "min_child_weight": trial.suggest_float("min_child_weight", 1.0, 20.0, log=True),
        "lambda": trial.suggest_float("lambda", 0.1, 10.0, log=True),
    }
