"""Explanations: exact TreeSHAP contributions turned into reasons an investigator can act on."""

from __future__ import annotations

import string

import numpy as np
import pandas as pd
import xgboost as xgb

from features.base import Feature

_FORMATTER = string.Formatter()


def contributions(
    booster: xgb.Booster, matrix: pd.DataFrame, approximate: bool = False
) -> np.ndarray:
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
    lowered the score most, shown as such). Loops only over the explained (selected) items.
    """
    by_name = {f.name: f for f in catalogue}
    names = list(matrix.columns)
    phi = contribs[:, :-1]
    k = min(max(top_k, min_reasons), len(names))
    order = np.argsort(-phi, axis=1)[:, :k]
    needed = sorted({f for feat in catalogue for f in _fields(feat.reason)} | set(names))
    cols = [c for c in needed if c in context.columns]
    records = context[cols].to_dict("records")
    values = matrix.to_numpy(dtype="float64")
    out = []
    for i, rec in enumerate(records):
        items = []
        for j in order[i]:
            c = float(phi[i, j])
            if c <= 0 and len(items) >= min_reasons:
                break
            feat = by_name[names[j]]
            items.append(
                {
                    "feature": feat.name,
                    "contribution": round(c, 4),
                    "text": render_reason(feat, rec, float(values[i, j]), c),
                }
            )
        out.append(items)
    return pd.DataFrame({"reasons": out})


def mean_abs_contribution(contribs: np.ndarray, names: list[str]) -> pd.Series:
    """Global importance for a day: mean absolute contribution per feature."""
    if len(contribs) == 0:
        return pd.Series(0.0, index=names)
    return pd.Series(np.abs(contribs[:, :-1]).mean(axis=0), index=names).sort_values(
        ascending=False
    )
