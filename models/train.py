"""Fit the XGBoost risk scorer: imbalance handled, early stopping on the validation window."""

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


def booster_params(y_train: np.ndarray, params: dict[str, Any], seed: int = 0) -> dict[str, Any]:
    """The training parameters: binary ``hist`` with imbalance set from the class balance."""
    y_train = np.asarray(y_train, dtype="float64")
    pos = max(float(y_train.sum()), 1.0)
    return {
        "objective": "binary:logistic",
        "eval_metric": "aucpr",
        "tree_method": "hist",
        "scale_pos_weight": (len(y_train) - pos) / pos,
        "seed": seed,
        "nthread": 2,
        **params,
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
