"""Feature drift: population stability index of recent data against the training window."""

from __future__ import annotations

import numpy as np
import pandas as pd


def psi(reference: pd.Series, recent: pd.Series, bins: int = 10) -> float:
    """Population stability index over reference-quantile bins; missing values form a bin."""
    ref = reference.to_numpy(dtype="float64")
    new = recent.to_numpy(dtype="float64")
    ref_ok, new_ok = ref[~np.isnan(ref)], new[~np.isnan(new)]
    if len(ref) == 0 or len(new) == 0:
        return float("nan")
    edges = np.unique(np.quantile(ref_ok, np.linspace(0, 1, bins + 1))) if len(ref_ok) else np.array([])
    if len(edges) > 2:
        edges = edges[1:-1]
    ref_counts = np.append(
        np.bincount(np.searchsorted(edges, ref_ok, side="right"), minlength=len(edges) + 1),
        np.isnan(ref).sum(),
    )
    new_counts = np.append(
        np.bincount(np.searchsorted(edges, new_ok, side="right"), minlength=len(edges) + 1),
        np.isnan(new).sum(),
    )
    p = (ref_counts + 0.5) / (ref_counts.sum() + 0.5 * len(ref_counts))
    q = (new_counts + 0.5) / (new_counts.sum() + 0.5 * len(new_counts))
    return float(np.sum((q - p) * np.log(q / p)))


def drift_report(reference: pd.DataFrame, recent: pd.DataFrame, warn_at: float) -> pd.DataFrame:
    """PSI per feature, sorted worst first, with a warning flag above ``warn_at``."""
    rows = [{"feature": c, "psi": psi(reference[c], recent[c])} for c in reference.columns]
    report = pd.DataFrame(rows).sort_values("psi", ascending=False, na_position="last")
    report["warning"] = report["psi"] > warn_at
    return report.reset_index(drop=True)
