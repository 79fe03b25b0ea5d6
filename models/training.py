"""The training procedure as pure steps: features, labels, time split, fit, evaluate, baselines.

No Prefect, MLflow or files here: ``pipelines/train_flow.py`` wires these steps, logs them
and registers the result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from data.arrays import isin
from data.errors import NotEnoughDataError
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
)
from models.split import TimeSplit, time_split
from models.train import predict, selection_weights


@dataclass
class TrainingData:
    """Features for every declaration of the bundle, and the labels of the inspected ones."""

    features: FeatureSet
    labelled: (
        pd.DataFrame
    )  # declaration_id, row (into features), y, label_time, typology, seized, selected_by
    split: TimeSplit  # masks over ``labelled``
    declared_at: pd.Series  # per labelled row


def prepare(
    tables: dict[str, pd.DataFrame | None],
    hs_profiles: pd.DataFrame | None,
    ports: pd.DataFrame | None,
    validation_days: int,
    gap_days: int = 0,
    engine: Engine = LOCAL,
) -> TrainingData:
    """Build features point-in-time for all declarations; split the labelled ones on time.

    The text model is fitted here, in this process (it needs the whole training window at
    once); the feature build runs on ``engine``.
    """
    decl = combine(None, tables["declarations"])
    ctx = make_context(tables, decl, hs_profiles, ports)
    labels = ctx.labels
    if labels is None or labels.empty:
        raise NotEnoughDataError(
            "the bundle has no inspection outcomes: nothing to learn from (training needs "
            "inspections.csv with outcomes, or --outcomes exported from the review app)"
        )
    inspections = tables["inspections"].drop_duplicates("declaration_id").set_index("declaration_id")
    row_of = pd.Series(np.arange(len(decl)), index=decl["declaration_id"])
    lab = labels.drop_duplicates("declaration_id")
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
    split = time_split(declared_at, labelled["label_time"], validation_days, gap_days)

    # fitted state (text model) learns only from the training window and its known outcomes
    train_rows = decl["declared_at"] < split.cutoff
    known = make_context(tables, decl, hs_profiles, ports)
    known.labels = labels[labels["label_time"] < split.cutoff]
    state = fit_state(decl, known, train_rows.to_numpy())
    ctx.state = state
    features = engine.build(decl, ctx)
    return TrainingData(features, labelled, split, declared_at)


@dataclass
class Candidate:
    """A fitted model and its validation scores."""

    name: str
    model: Any
    valid_scores: np.ndarray
    metrics: dict[str, float] = field(default_factory=dict)


def fit_full_model(
    data: TrainingData,
    params: dict[str, Any],
    num_boost_round: int,
    early_stopping_rounds: int,
    random_weight: float | None,
    engine: Engine = LOCAL,
) -> Candidate:
    """Fit the full-feature XGBoost scorer, optionally up-weighting random-quota outcomes."""
    X = data.features.matrix.iloc[data.labelled["row"]].reset_index(drop=True)
    y = data.labelled["y"].to_numpy()
    tr, va = data.split.train, data.split.valid
    w = selection_weights(data.labelled["selected_by"], random_weight)[tr] if random_weight else None
    fit = engine.fit(
        X[tr], y[tr], X[va], y[va], params, num_boost_round, early_stopping_rounds, weight_train=w
    )
    name = f"full_weighted_{random_weight:g}" if random_weight else "full_unweighted"
    return Candidate(name, fit, predict(fit.booster, X[va]))


def baselines(
    data: TrainingData,
    params: dict[str, Any],
    num_boost_round: int,
    early_stopping_rounds: int,
    seed: int = 0,
    engine: Engine = LOCAL,
) -> tuple[dict[str, np.ndarray], Any]:
    """Validation scores of the three baselines (random, rules-only profile, generic model),
    and the fitted generic model."""
    rows = data.labelled["row"].to_numpy()
    tr, va = data.split.train, data.split.valid
    y = data.labelled["y"].to_numpy()
    matrix = data.features.matrix.iloc[rows].reset_index(drop=True)
    context = data.features.context.iloc[rows].reset_index(drop=True)
    G = generic_matrix(matrix, context)
    generic = engine.fit(G[tr], y[tr], G[va], y[va], params, num_boost_round, early_stopping_rounds)
    scores = {
        "random": np.random.default_rng(seed).random(int(va.sum())),
        "rules": rules_profile_score(matrix[va]),
        "generic": predict(generic.booster, G[va]),
    }
    return scores, generic


def evaluate_on_truth(
    data: TrainingData,
    model_booster,
    generic_booster,
    truth: pd.DataFrame,
    rates: list[float],
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """For generated worlds only: every declaration of the validation window against the truth.

    Labelled rows were chosen by the old rules; the truth covers all rows, so this is the
    unbiased picture (a real administration has no such file). ``truth`` has declaration_id,
    is_violation and true_value_usd.
    """
    ctx = data.features.context
    window = (ctx["declared_at"] >= data.split.cutoff).to_numpy()
    ids = data.features.declaration_ids[window]
    t = truth.drop_duplicates("declaration_id").set_index("declaration_id")
    y = t["is_violation"].reindex(ids).fillna(0).astype(float).to_numpy()
    value = (
        t["true_value_usd"].reindex(ids).fillna(0).to_numpy(dtype="float64")
        if "true_value_usd" in t
        else None
    )
    matrix = data.features.matrix[window]
    scorers = {
        "model": predict(model_booster, matrix),
        "random": np.random.default_rng(seed).random(int(window.sum())),
        "rules": rules_profile_score(matrix),
        "generic": predict(generic_booster, generic_matrix(matrix, ctx[window])),
    }
    return {name: ranking_metrics(s, y, value, tuple(rates)) for name, s in scorers.items()}


def evaluate(data: TrainingData, scores: np.ndarray, rates: list[float]) -> dict[str, float]:
    """Ranking metrics on the validation window's labelled rows, plus the random-quota subset."""
    lab = data.labelled[data.split.valid]
    y = lab["y"].to_numpy()
    value = lab["seized_value_usd"].to_numpy(dtype="float64")
    metrics = ranking_metrics(scores, y, value, tuple(rates))
    rnd = lab["selected_by"].isin(["random", "exploration"]).to_numpy()
    if rnd.sum() > 0 and 0 < y[rnd].sum() < rnd.sum():
        unbiased = ranking_metrics(scores[rnd], y[rnd], value[rnd], tuple(rates))
        metrics["random_quota_pr_auc"] = unbiased["pr_auc"]
        metrics["random_quota_items"] = unbiased["n_items"]
    return metrics


def typology_recall(data: TrainingData, scores: np.ndarray, rate: float) -> dict[str, float]:
    lab = data.labelled[data.split.valid]
    return recall_by_typology(scores, lab["y"].to_numpy(), lab["typology"], rate)


def calibration(data: TrainingData, scores: np.ndarray) -> pd.DataFrame:
    return calibration_table(data.labelled.loc[data.split.valid, "y"].to_numpy(), scores)


def package(candidate: Candidate, data: TrainingData, metadata: dict[str, Any]) -> RiskModel:
    """The registered model: booster + portable fitted state + feature schema."""
    return RiskModel(
        booster=candidate.model.booster,
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
    """Validation scores of another model (the champion) on the same window, with its own state."""
    decl = combine(None, tables["declarations"])
    ctx = make_context(tables, decl, hs_profiles, ports, state=model.state)
    rows = data.labelled.loc[data.split.valid, "row"].to_numpy()
    keep = np.zeros(len(decl), dtype=bool)
    keep[rows] = True
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
    )
    return TrainingData(data.features, data.labelled, inner, data.declared_at)


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
