"""What every feature family shares: the feature catalogue and point-in-time primitives.

A family module exposes ``FEATURES`` (its catalogue entries) and a pure function
``compute(decl, ctx) -> FamilyResult``. ``decl`` holds the history and the rows to
describe together, one row per declaration; every history-based value for a row at
time t is computed from data strictly before t, with the primitives below.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Feature:
    """A model input with a domain name, a one-line description, and a reason template.

    ``reason`` is a ``str.format`` template over the row's feature values and its
    context columns (e.g. ``"{value_per_kg:.2f} USD/kg"``); it turns a SHAP contribution
    into a sentence an investigator can act on.
    """

    name: str
    family: str
    description: str
    reason: str
    # Values at which the reason is worth showing at all (e.g. a flag that is 0 says nothing).
    show_when: str = "any"  # "any", "positive" (value > 0), "notna"


@dataclass
class FamilyResult:
    """Feature columns (model inputs) and context columns (for reasons), aligned to ``decl``."""

    features: pd.DataFrame
    context: pd.DataFrame = field(default_factory=pd.DataFrame)
    missing: list[str] = field(default_factory=list)  # why parts could not be computed


@dataclass
class FeatureContext:
    """Reference tables and fitted state a family may use; any table may be None."""

    companies: pd.DataFrame | None = None
    ownership: pd.DataFrame | None = None
    officers: pd.DataFrame | None = None
    watchlist: pd.DataFrame | None = None
    licenses: pd.DataFrame | None = None
    labels: pd.DataFrame | None = None  # declaration_id, label_time, violation, typology
    hs_profiles: pd.DataFrame | None = None
    ports: pd.DataFrame | None = None
    state: dict[str, Any] = field(default_factory=dict)  # fitted feature state by family


# ---------------------------------------------------------------- point-in-time primitives
def as_of_sum(
    query_time: pd.Series,
    query_key: pd.Series | None,
    event_time: pd.Series,
    event_key: pd.Series | None,
    event_value: pd.Series | np.ndarray | None = None,
) -> np.ndarray:
    """For each query, the sum of ``event_value`` over events of the same key strictly before it.

    With no key, all events count. With no value, events are counted. Missing keys give 0.
    Vectorised: one sort and one ``merge_asof``.
    """
    n = len(query_time)
    if n == 0:
        return np.zeros(0)
    values = np.ones(len(event_time)) if event_value is None else np.asarray(event_value, dtype="float64")
    ev = pd.DataFrame({"t": pd.to_datetime(event_time).to_numpy(), "v": np.asarray(values)})
    q = pd.DataFrame({"t": pd.to_datetime(query_time).to_numpy(), "pos": np.arange(n)})
    if query_key is not None:
        ev["k"] = _key(event_key).to_numpy()
        q["k"] = _key(query_key).to_numpy()
        ev = ev[ev["k"].notna() & ev["t"].notna()]
    else:
        ev = ev[ev["t"].notna()]
    ev = ev[~np.isnan(ev["v"].to_numpy())]
    out = np.zeros(n)
    valid = q["t"].notna() & (q["k"].notna() if query_key is not None else True)
    q = q[valid]
    if ev.empty or q.empty:
        return out
    ev = ev.sort_values("t", kind="stable")
    if query_key is not None:
        # aggregate same-time events first so merge_asof sees one cumulative value per time
        ev = ev.groupby(["k", "t"], sort=False, observed=True)["v"].sum().reset_index()
        ev = ev.sort_values("t", kind="stable")
        ev["cum"] = ev.groupby("k", sort=False, observed=True)["v"].cumsum()
        merged = pd.merge_asof(q.sort_values("t", kind="stable"), ev[["t", "k", "cum"]], on="t",
                               by="k", allow_exact_matches=False, direction="backward")
    else:
        ev = ev.groupby("t", sort=True)["v"].sum().reset_index()
        ev["cum"] = ev["v"].cumsum()
        merged = pd.merge_asof(q.sort_values("t", kind="stable"), ev[["t", "cum"]], on="t",
                               allow_exact_matches=False, direction="backward")
    out[merged["pos"].to_numpy()] = merged["cum"].fillna(0.0).to_numpy()
    return out


def as_of_window_sum(
    query_time: pd.Series, query_key: pd.Series | None, event_time: pd.Series,
    event_key: pd.Series | None, window: pd.Timedelta, event_value=None,
) -> np.ndarray:
    """Sum over events of the same key in ``[t - window, t)``."""
    upto = as_of_sum(query_time, query_key, event_time, event_key, event_value)
    before = as_of_sum(pd.to_datetime(query_time) - window, query_key, event_time, event_key,
                       event_value)
    # events exactly at t - window belong to the window: as_of_sum(t - w) excludes them already
    return upto - before


def smoothed_rate(hits: np.ndarray, n: np.ndarray, prior: np.ndarray | float,
                  strength: float = 20.0) -> np.ndarray:
    """Bayesian-smoothed rate: ``(hits + strength * prior) / (n + strength)``."""
    return (np.asarray(hits, float) + strength * np.asarray(prior, float)) / (
        np.asarray(n, float) + strength)


def as_of_label_rate(decl: pd.DataFrame, labels: pd.DataFrame | None, key: str,
                     strength: float = 20.0) -> tuple[np.ndarray, np.ndarray]:
    """Smoothed violation rate of ``decl[key]`` from outcomes recorded strictly before each row.

    ``labels`` has declaration_id, label_time and violation. Returns (rate, labelled count).
    The prior is the overall violation rate known at the same time.
    """
    n = len(decl)
    if labels is None or labels.empty or key not in decl.columns:
        return np.full(n, np.nan), np.zeros(n)
    keyed = labels.merge(decl[["declaration_id", key]], on="declaration_id", how="inner")
    t = decl["declared_at"]
    hits = as_of_sum(t, decl[key], keyed["label_time"], keyed[key], keyed["violation"])
    count = as_of_sum(t, decl[key], keyed["label_time"], keyed[key])
    all_hits = as_of_sum(t, None, labels["label_time"], None, labels["violation"])
    all_n = as_of_sum(t, None, labels["label_time"], None)
    prior = np.where(all_n > 0, (all_hits + 1.0) / (all_n + 30.0), 1.0 / 30.0)
    return smoothed_rate(hits, count, prior, strength), count


def _key(s: pd.Series | None) -> pd.Series:
    s = pd.Series(s)
    return s.astype("str").where(s.notna())


def month_start(t: pd.Series) -> pd.Series:
    return pd.to_datetime(t).dt.to_period("M").dt.start_time


def as_of_monthly_stats(values: pd.Series, group: pd.Series, time: pd.Series,
                        stats: tuple[str, ...] = ("median",)) -> pd.DataFrame:
    """Per-group statistics of ``values`` over all rows before the start of each row's month.

    Medians and quantiles cannot be accumulated row by row cheaply; a month-close snapshot
    keeps them strictly in the past (a row never sees its own month). Loops over months,
    not rows. Returns one row per input row with one column per statistic, plus ``n``.
    """
    frame = pd.DataFrame({"v": values.to_numpy(), "g": _key(group).to_numpy(),
                          "m": month_start(time).to_numpy()})
    months = np.sort(frame["m"].dropna().unique())
    out = pd.DataFrame(index=frame.index, columns=[*stats, "n"], dtype="float64")
    valid = frame.dropna(subset=["v", "g", "m"]).sort_values("m", kind="stable")
    for m in months[1:]:
        past = valid[valid["m"] < m]
        if past.empty:
            continue
        grouped = past.groupby("g", sort=False)["v"]
        snap = pd.DataFrame({s: _stat(grouped, s) for s in stats})
        snap["n"] = grouped.size()
        rows = frame.index[frame["m"] == m]
        out.loc[rows] = snap.reindex(frame.loc[rows, "g"]).to_numpy()
    out.index = values.index
    return out


def _stat(grouped, stat: str) -> pd.Series:
    if stat == "median":
        return grouped.median()
    if stat.startswith("q"):  # q25, q75 ...
        return grouped.quantile(float(stat[1:]) / 100)
    return grouped.agg(stat)
