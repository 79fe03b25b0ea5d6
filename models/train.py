"""Fit the XGBoost risk scorer: imbalance handled, early stopping on the validation window.

Features about who trades (novelty: first shipment, company age, not in the registry...) and
about their past (track records) find repeat offenders and newcomers, not insiders on clean
lanes. The training parameters ``novelty_weight`` and ``track_record_weight`` (0-1) make trees
pick those features less often when they sample features for a split (XGBoost
``feature_weights``, with ``colsample_bynode`` below 1), so that the score rests on what the
declaration itself shows whenever that says as much.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb


@dataclass
class FitResult:
    booster: xgb.Booster
    best_iteration: int
    params: dict[str, Any]


# feature-name fragments of the two groups whose reliance the weights temper
RELIANCE_GROUPS: dict[str, tuple[str, ...]] = {
    "track_record": ("violation_rate", "inspections_before", "violations_before"),
    "novelty": (
        "company_age_days",
        "unknown_to_registry",
        "new_chapter",
        "shipments_before",
        "first_shipment",
        "days_trading",
        "shipments_30d",
        "shipments_90d",
        "description_times_seen",
    ),
}
WEIGHT_PARAMS = {f"{group}_weight": group for group in RELIANCE_GROUPS}


def reliance_group(name: str) -> str | None:
    """``track_record``, ``novelty`` or None (what the declaration itself shows)."""
    for group, fragments in RELIANCE_GROUPS.items():
        if any(f in name for f in fragments):
            return group
    return None


def feature_weights(columns, params: dict[str, Any]) -> np.ndarray | None:
    """XGBoost feature weights for ``columns`` from ``<group>_weight`` parameters (None: none set)."""
    weights = {WEIGHT_PARAMS[k]: float(v) for k, v in params.items() if k in WEIGHT_PARAMS}
    if not weights:
        return None
    return np.array([weights.get(reliance_group(str(c)) or "", 1.0) for c in columns], dtype="float64")


def booster_params(y_train: np.ndarray, params: dict[str, Any], seed: int = 0) -> dict[str, Any]:
    """The training parameters: binary ``hist`` with imbalance set from the class balance
    (the ``<group>_weight`` parameters go to the data, see ``feature_weights``)."""
    y_train = np.asarray(y_train, dtype="float64")
    pos = max(float(y_train.sum()), 1.0)
    return {
        "objective": "binary:logistic",
        "eval_metric": "aucpr",
        "tree_method": "hist",
        "scale_pos_weight": (len(y_train) - pos) / pos,
        "seed": seed,
        "nthread": 2,
        **{k: v for k, v in params.items() if k not in WEIGHT_PARAMS},
    }


def fit_booster(
    X_train: pd.DataFrame,
    y_train: np.ndarray,
    X_valid: pd.DataFrame | None,
    y_valid: np.ndarray | None,
    params: dict[str, Any],
    num_boost_round: int,
    early_stopping_rounds: int | None,
    weight_train: np.ndarray | None = None,
    seed: int = 0,
) -> FitResult:
    """Train a ``hist`` booster with ``scale_pos_weight`` from the class balance.

    With ``early_stopping_rounds`` the booster is cut to the best round on the validation rows;
    with None it keeps all ``num_boost_round`` trees (the validation rows are then not used).
    """
    y_train = np.asarray(y_train, dtype="float64")
    p = booster_params(y_train, params, seed)
    dtrain = xgb.DMatrix(X_train, label=y_train, weight=weight_train, missing=np.nan)
    fw = feature_weights(X_train.columns, params)
    if fw is not None:
        dtrain.set_info(feature_weights=fw)
    evals = []
    if early_stopping_rounds is not None:  # None: a refit with a number of trees chosen before
        dvalid = xgb.DMatrix(X_valid, label=np.asarray(y_valid, dtype="float64"), missing=np.nan)
        evals = [(dvalid, "valid")]
    booster = xgb.train(
        p,
        dtrain,
        num_boost_round=num_boost_round,
        evals=evals,
        early_stopping_rounds=early_stopping_rounds,
        verbose_eval=False,
    )
    best = int(getattr(booster, "best_iteration", num_boost_round - 1)) if evals else num_boost_round - 1
    booster = booster[: best + 1]  # keep only the trees validation asked for (cheaper SHAP)
    return FitResult(booster=booster, best_iteration=best, params=p)


def predict(booster: xgb.Booster, X: pd.DataFrame, margin: bool = False) -> np.ndarray:
    """Scores (probabilities, or log-odds with ``margin``) for a feature matrix."""
    return booster.inplace_predict(X, predict_type="margin" if margin else "value", missing=np.nan)
