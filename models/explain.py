"""Explanations: exact TreeSHAP contributions turned into reasons an investigator can act on."""

from __future__ import annotations

import string

import numpy as np
import pandas as pd
import xgboost as xgb

from features.base import Feature

_FORMATTER = string.Formatter()


def contributions(booster: xgb.Booster, matrix: pd.DataFrame, approximate: bool = False) -> np.ndarray:
    """Per-feature SHAP contributions (log-odds) plus the bias in the last column.

    XGBoost's native TreeSHAP (``pred_contribs``): contributions + bias = the model's margin.
    """
    if len(matrix) == 0:
        return np.zeros((0, matrix.shape[1] + 1))
    dm = xgb.DMatrix(matrix, missing=np.nan)
    return booster.predict(dm, pred_contribs=True, approx_contribs=approximate)


def _fields(template: str) -> list[str]:
    return [f for _, f, _, _ in _FORMATTER.parse(template) if f]


def _shown(feature: Feature, value: float) -> bool:
    if feature.show_when == "positive":
        return bool(np.isfinite(value) and value > 0)
    if feature.show_when == "notna":
        return bool(np.isfinite(value))
    return True


def _fallback(feature: Feature, value: float) -> str:
    shown = "missing" if not np.isfinite(value) else f"{value:,.3g}"
    return f"{feature.description.rstrip('.')} ({shown})"


def render_reason(feature: Feature, record: dict, value: float, contribution: float) -> str:
    """One sentence for one feature of one item, with its actual values; never raises."""
    if contribution < 0:
        return "lowers risk: " + _fallback(feature, value)
    if not _shown(feature, value):
        return _fallback(feature, value)
    try:
        needed = _fields(feature.reason)
        if any(_missing(record.get(f.split(".")[0].split("[")[0])) for f in needed):
            return _fallback(feature, value)
        return feature.reason.format(**record)
    except (KeyError, ValueError, TypeError, IndexError, AttributeError):
        return _fallback(feature, value)


def _missing(v) -> bool:
    if v is None:
        return True
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def reasons(
    contribs: np.ndarray,
    matrix: pd.DataFrame,
    context: pd.DataFrame,
    catalogue: list[Feature],
    top_k: int = 5,
    min_reasons: int = 3,
) -> pd.DataFrame:
    """Top reasons per item: the features that raised its score most, as sentences.

    Returns one row per item with ``reasons`` (list of dicts: feature, text, contribution),
    sorted by contribution. At least ``min_reasons`` per item (padding with the features that
    lowered the score most, shown as such). Sentences are rendered feature by feature over the
    items that need them, reading only the fields each template uses.
    """
    by_name = {f.name: f for f in catalogue}
    names = list(matrix.columns)
    n = len(matrix)
    if n == 0:
        return pd.DataFrame({"reasons": pd.Series([], dtype=object)})
    phi = contribs[:, :-1]
    k = min(max(top_k, min_reasons), len(names))
    order = np.argsort(-phi, axis=1)[:, :k]
    rank = np.tile(np.arange(k), n)
    item = np.repeat(np.arange(n), k)
    feat = order.ravel()
    value = phi[item, feat]
    keep = (value > 0) | (rank < min_reasons)
    item, feat, value = item[keep], feat[keep], value[keep]
    values = matrix.to_numpy(dtype="float64")
    text = np.empty(len(item), dtype=object)
    for j in np.unique(feat):
        at = np.flatnonzero(feat == j)
        feature = by_name[names[j]]
        fields = [f for f in dict.fromkeys(_fields(feature.reason)) if f in context.columns]
        cols = [context[f].to_numpy(dtype=object)[item[at]] for f in fields]
        records = (
            [dict(zip(fields, vals, strict=True)) for vals in zip(*cols, strict=True)]
            if fields
            else [{}] * len(at)
        )
        feature_values = values[item[at], j]
        text[at] = [
            render_reason(feature, rec, float(v), float(c))
            for rec, v, c in zip(records, feature_values, value[at], strict=True)
        ]
    out: list[list[dict]] = [[] for _ in range(n)]
    for i, j, c, t in zip(item.tolist(), feat.tolist(), np.round(value, 4).tolist(), text, strict=True):
        out[i].append({"feature": names[j], "contribution": c, "text": t})
    return pd.DataFrame({"reasons": pd.Series(out, dtype=object)})


def mean_abs_contribution(contribs: np.ndarray, names: list[str]) -> pd.Series:
    """Global importance for a day: mean absolute contribution per feature."""
    if len(contribs) == 0:
        return pd.Series(0.0, index=names)
    return pd.Series(np.abs(contribs[:, :-1]).mean(axis=0), index=names).sort_values(ascending=False)
