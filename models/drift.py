"""Drift: population stability index (PSI) of recent data against the training window.

A reference profile keeps, per feature (and for the model's score), the training window's
quantile bin edges and its counts per bin (missing values form a bin of their own): small
enough to store beside a model, enough to compare any later day with it."""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable

import numpy as np
import pandas as pd

SCORE = "risk_score"
# Features that move with the calendar by construction (ever-growing counts and ages): their
# drift says time passed, not that traffic changed. Left out of the comparison, by name pattern.
GROW_WITH_TIME = (
    "*_days_trading",
    "*_company_age_days",
    "*_shipments_before",
    "*_inspections_before",
    "*_violations_before",
    "description_times_seen_*",
)


def profile(values: pd.Series | np.ndarray, bins: int = 10) -> dict[str, list[float]]:
    """Reference-quantile inner bin edges and the counts per bin, missing last."""
    ref = np.asarray(values, dtype="float64")
    ok = ref[~np.isnan(ref)]
    edges = np.unique(np.quantile(ok, np.linspace(0, 1, bins + 1))) if len(ok) else np.array([])
    if len(edges) > 2:
        edges = edges[1:-1]
    return {"edges": edges.tolist(), "counts": _counts(edges, ref).tolist()}


def _counts(edges: np.ndarray, values: np.ndarray) -> np.ndarray:
    ok = values[~np.isnan(values)]
    binned = np.bincount(np.searchsorted(edges, ok, side="right"), minlength=len(edges) + 1)
    return np.append(binned, np.isnan(values).sum())


def psi_to_profile(reference: dict[str, list[float]], recent: pd.Series | np.ndarray) -> float:
    """PSI of ``recent`` against a stored reference profile (NaN when either side is empty)."""
    new = np.asarray(recent, dtype="float64")
    ref_counts = np.asarray(reference["counts"], dtype="float64")
    if len(new) == 0 or ref_counts.sum() == 0:
        return float("nan")
    new_counts = _counts(np.asarray(reference["edges"], dtype="float64"), new)
    p = (ref_counts + 0.5) / (ref_counts.sum() + 0.5 * len(ref_counts))
    q = (new_counts + 0.5) / (new_counts.sum() + 0.5 * len(new_counts))
    return float(np.sum((q - p) * np.log(q / p)))


def psi(reference: pd.Series, recent: pd.Series, bins: int = 10) -> float:
    """Population stability index over reference-quantile bins; missing values form a bin."""
    if len(reference) == 0:
        return float("nan")
    return psi_to_profile(profile(reference, bins), recent)


def drift_report(reference: pd.DataFrame, recent: pd.DataFrame, warn_at: float) -> pd.DataFrame:
    """PSI per feature, sorted worst first, with a warning flag above ``warn_at``."""
    rows = [{"feature": c, "psi": psi(reference[c], recent[c])} for c in reference.columns]
    report = pd.DataFrame(rows).sort_values("psi", ascending=False, na_position="last")
    report["warning"] = report["psi"] > warn_at
    return report.reset_index(drop=True)


def reference_profiles(
    frame: pd.DataFrame, scores: np.ndarray | pd.Series | None = None, bins: int = 10
) -> dict[str, dict[str, list[float]]]:
    """A profile per feature column, and of the model's scores under :data:`SCORE`."""
    out = {c: profile(frame[c], bins) for c in frame.columns}
    if scores is not None:
        out[SCORE] = profile(scores, bins)
    return out


def grows_with_time(name: str, patterns: Iterable[str] = GROW_WITH_TIME) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def day_drift(
    reference: dict[str, dict[str, list[float]]],
    frame: pd.DataFrame | None,
    scores: np.ndarray | pd.Series | None,
    warn_at: float,
    skip: Iterable[str] = GROW_WITH_TIME,
) -> pd.DataFrame:
    """One day against the training window: ``feature``, ``psi``, ``warning`` (above ``warn_at``)
    and ``compared`` (False for a feature that grows with time by construction, or that the
    reference or the day lacks). The score's row comes first, then features worst first."""
    skip = tuple(skip)
    rows = []
    if scores is not None and SCORE in reference:
        rows.append({"feature": SCORE, "psi": psi_to_profile(reference[SCORE], scores), "compared": True})
    for name, prof in reference.items():
        if name == SCORE:
            continue
        compared = frame is not None and name in frame.columns and not grows_with_time(name, skip)
        value = psi_to_profile(prof, frame[name]) if compared else float("nan")
        rows.append({"feature": name, "psi": value, "compared": compared})
    out = pd.DataFrame(rows, columns=["feature", "psi", "compared"])
    is_score = out["feature"] == SCORE
    out = pd.concat([out[is_score], out[~is_score].sort_values("psi", ascending=False, na_position="last")])
    out["warning"] = out["compared"] & (out["psi"] > warn_at)
    return out.reset_index(drop=True)


def drift_warnings(drift: pd.DataFrame, warn_at: float) -> list[str]:
    """The day's drift warnings in words (the score first, then each drifting feature)."""
    out = []
    for row in drift[drift["warning"]].itertuples():
        what = "the model's score distribution" if row.feature == SCORE else f"feature {row.feature}"
        out.append(f"drift: {what} moved away from the training window (PSI {row.psi:.2f} above {warn_at:g})")
    return out
