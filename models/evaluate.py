"""Ranking metrics customs units use: precision, recall and revenue at n% inspected; baselines."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score


def top_n_mask(scores: np.ndarray, rate_pct: float, seed: int = 0) -> np.ndarray:
    """The top ``rate_pct`` percent of items by score (ties broken at random, reproducibly)."""
    n = len(scores)
    k = max(1, int(np.ceil(n * rate_pct / 100.0)))
    jitter = np.random.default_rng(seed).random(n)
    order = np.lexsort((jitter, -np.asarray(scores, dtype="float64")))
    mask = np.zeros(n, dtype=bool)
    mask[order[:k]] = True
    return mask


def ranking_metrics(
    scores: np.ndarray,
    y: np.ndarray,
    value: np.ndarray | None,
    rates: tuple[float, ...] = (1, 2, 5, 10),
) -> dict[str, float]:
    """PR-AUC and precision/recall/revenue at each inspection rate (percent of items)."""
    y = np.asarray(y, dtype="float64")
    value = np.zeros_like(y) if value is None else np.nan_to_num(np.asarray(value, dtype="float64"))
    out: dict[str, float] = {
        "n_items": float(len(y)),
        "n_violations": float(y.sum()),
        "base_rate": float(y.mean()) if len(y) else float("nan"),
        "pr_auc": float(average_precision_score(y, scores)) if 0 < y.sum() < len(y) else float("nan"),
    }
    total_value = float((value * y).sum())
    for rate in rates:
        top = top_n_mask(scores, rate)
        hits = float(y[top].sum())
        tag = f"{rate:g}pct"
        out[f"precision_at_{tag}"] = hits / top.sum()
        out[f"recall_at_{tag}"] = hits / y.sum() if y.sum() else float("nan")
        out[f"revenue_at_{tag}"] = (
            float((value * y)[top].sum()) / total_value if total_value else float("nan")
        )
    return out


def recall_by_typology(
    scores: np.ndarray, y: np.ndarray, typology: pd.Series, rate_pct: float
) -> dict[str, float]:
    """Share of each typology's violations caught at ``rate_pct`` percent inspected.

    ``typology`` may list several, ';'-separated: a violation counts toward each of them
    (``unknown`` where none was recorded)."""
    top = top_n_mask(scores, rate_pct)
    return weighted_recall_by_typology(top, y, np.ones(len(top)), typology)


def weighted_recall_by_typology(
    top: np.ndarray, y: np.ndarray, weight: np.ndarray, typology: pd.Series
) -> dict[str, float]:
    """Weighted share of each typology's violations inside ``top`` (several typologies per row)."""
    frame = pd.DataFrame(
        {
            "y": np.asarray(y),
            "top": np.asarray(top, dtype="float64"),
            "w": np.asarray(weight, dtype="float64"),
            "t": typology.fillna("").astype("str").replace("", "unknown").to_numpy(),
        }
    )
    viol = frame[frame["y"] == 1]
    words = viol.assign(t=viol["t"].str.split(";")).explode("t")
    words = words[words["t"].ne("")]
    caught = (words["top"] * words["w"]).groupby(words["t"]).sum()
    total = words["w"].groupby(words["t"]).sum()
    return {str(t): float(caught[t] / total[t]) for t in total.index if total[t] > 0}


def calibration_table(y: np.ndarray, p: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Mean predicted vs observed violation rate per score decile."""
    frame = pd.DataFrame({"y": np.asarray(y, float), "p": np.asarray(p, float)})
    frame["bin"] = pd.qcut(frame["p"].rank(method="first"), q=min(bins, len(frame)), labels=False)
    return (
        frame.groupby("bin")
        .agg(mean_predicted=("p", "mean"), observed=("y", "mean"), n=("y", "size"))
        .reset_index()
    )


def rules_profile_score(matrix: pd.DataFrame) -> np.ndarray:
    """Old-style risk profile: watchlist hit + controlled code + value per kg out of range.

    Each hit adds one point; what a rules-only selectivity system would rank by.
    """
    hits = np.zeros(len(matrix))
    for col in ("exporter_watchlist_name_score", "consignee_watchlist_name_score"):
        if col in matrix:
            hits += (matrix[col].fillna(0) >= 90).to_numpy()
    if "controlled_goods" in matrix:
        hits += matrix["controlled_goods"].fillna(0).to_numpy()
    if "value_per_kg_log_ratio_to_code" in matrix:
        hits += (matrix["value_per_kg_log_ratio_to_code"].abs() > np.log(3)).fillna(False).to_numpy()
    return hits


GENERIC_FEATURES = (  # what published customs-fraud baselines use
    "declared_value_usd",
    "value_per_kg",
    "hs_chapter",
    "code_cover_violation_rate",
    "exporter_violation_rate",
    "exporter_inspections_before",
    "exporter_shipments_90d",
)


def generic_matrix(matrix: pd.DataFrame, context: pd.DataFrame) -> pd.DataFrame:
    """Value, value per kg, HS code and exporter history only: the generic baseline's inputs."""
    return pd.DataFrame(
        {
            "declared_value_usd": context["declared_value_usd"].to_numpy(dtype="float64"),
            "value_per_kg": (context["declared_value_usd"] / context["gross_weight_kg"]).to_numpy(
                dtype="float64"
            ),
            "hs_chapter": pd.to_numeric(context["hs_code"].astype("str").str[:2], errors="coerce").to_numpy(),
            "code_cover_violation_rate": matrix["code_cover_violation_rate"].to_numpy(),
            "exporter_violation_rate": matrix["exporter_violation_rate"].to_numpy(),
            "exporter_inspections_before": matrix["exporter_inspections_before"].to_numpy(),
            "exporter_shipments_90d": matrix["exporter_shipments_90d"].to_numpy(),
        }
    )


def comparison_table(
    all_metrics: dict[str, dict[str, float]], rates: list[float], prefix: str = ""
) -> pd.DataFrame:
    """Model vs baselines: precision, recall and revenue at each inspection rate.

    ``prefix`` picks the view: "" labelled items, "random_quota_", "ipw_" (see models.training.evaluate).
    """
    rows = []
    for name, m in all_metrics.items():
        row: dict[str, object] = {"scorer": name, "pr_auc": m.get(f"{prefix}pr_auc")}
        for r in rates:
            for k in ("precision", "recall", "revenue"):
                row[f"{k}@{r:g}%"] = m.get(f"{prefix}{k}_at_{r:g}pct")
        rows.append(row)
    return pd.DataFrame(rows)


def feature_importance(booster) -> pd.DataFrame:
    """An XGBoost booster's features by total gain, largest first."""
    gain = booster.get_score(importance_type="total_gain")
    return (
        pd.DataFrame({"feature": list(gain), "total_gain": list(gain.values())})
        .sort_values("total_gain", ascending=False)
        .reset_index(drop=True)
    )
