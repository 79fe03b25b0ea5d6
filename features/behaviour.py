"""Behaviour over time: trade volumes, first shipments and track records, as of each declaration."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.base import (
    FamilyResult,
    Feature,
    FeatureContext,
    Rows,
    as_of_window_sums,
    recode,
    rows_of,
)

FAMILY = "behaviour"

FEATURES = [
    Feature(
        "exporter_shipments_30d",
        FAMILY,
        "Declarations by the same exporter in the 30 days before this one.",
        "exporter lodged {exporter_shipments_30d:.0f} declarations in the previous 30 days",
    ),
    Feature(
        "exporter_shipments_90d",
        FAMILY,
        "Declarations by the same exporter in the 90 days before this one.",
        "exporter lodged {exporter_shipments_90d:.0f} declarations in the previous 90 days",
    ),
    Feature(
        "exporter_first_shipment",
        FAMILY,
        "This is the exporter's first declaration on record.",
        "first declaration ever seen from exporter {exporter_id}",
        show_when="positive",
    ),
    Feature(
        "exporter_days_trading",
        FAMILY,
        "Days since the exporter's first declaration on record.",
        "exporter first seen only {exporter_days_trading:.0f} days before this declaration",
    ),
    Feature(
        "consignee_shipments_90d",
        FAMILY,
        "Declarations to the same consignee in the 90 days before this one.",
        "consignee received {consignee_shipments_90d:.0f} shipments in the previous 90 days",
    ),
    Feature(
        "exporter_violation_rate",
        FAMILY,
        "Exporter's violation rate in past inspections (smoothed toward the overall rate).",
        "exporter's past inspections found violations at a {exporter_violation_rate:.0%} rate "
        "({exporter_inspections_before:.0f} inspections)",
    ),
    Feature(
        "exporter_inspections_before",
        FAMILY,
        "Number of the exporter's declarations inspected before this one.",
        "exporter had {exporter_inspections_before:.0f} earlier inspections",
    ),
    Feature(
        "consignee_country_violation_rate",
        FAMILY,
        "Violation rate of past inspections of goods for this consignee country (smoothed).",
        "shipments to {consignee_country} were violations in "
        "{consignee_country_violation_rate:.0%} of past inspections",
    ),
    Feature(
        "declarant_violation_rate",
        FAMILY,
        "Violation rate in past inspections of declarations lodged by this broker (smoothed).",
        "broker {declarant_id} had violations in {declarant_violation_rate:.0%} of past inspections",
    ),
]


def consignee_key(decl: pd.DataFrame) -> pd.Series:
    """Consignee identity: registry id where given, else the normalised name."""
    from features.names import normalise_names

    name = "name:" + normalise_names(decl["consignee_name"]).astype("str")
    if "consignee_id" in decl.columns:
        return decl["consignee_id"].astype("str").where(decl["consignee_id"].notna(), name)
    return name


def _consignee_codes(rows: Rows) -> np.ndarray:
    """Codes of ``consignee_key`` for every row, normalising each distinct name once."""
    from features.names import distinct_canonical

    name_codes, _ = rows.distinct("consignee_name")
    name_keys = (
        "name:" + pd.Series(distinct_canonical(rows, "consignee_name"), dtype=object).astype("str")
    ).to_numpy(dtype=object)
    if "consignee_id" not in rows.decl.columns:
        return recode(name_codes, pd.Series(name_keys, dtype=object))[0]
    id_codes, ids = rows.keys("consignee_id")
    which = np.where(id_codes >= 0, id_codes, np.where(name_codes >= 0, len(ids) + name_codes, -1))
    return recode(which, pd.Series(np.concatenate([ids, name_keys]), dtype=object))[0]


def compute(decl: pd.DataFrame, ctx: FeatureContext) -> FamilyResult:
    """Volumes in the last 30/90 days, first shipment and smoothed violation rates, time-safe.

    Described: the target rows of ``decl``; history: all its rows.
    """
    rows = rows_of(decl, ctx)
    t = rows.times()
    qt = rows.at(t)
    exporter = rows.codes("exporter_id")
    out = pd.DataFrame(index=rows.index)
    earlier, last_30, last_90 = as_of_window_sums(
        qt, rows.at(exporter), t, exporter, [pd.Timedelta(days=30), pd.Timedelta(days=90)]
    )
    out["exporter_shipments_30d"] = last_30
    out["exporter_shipments_90d"] = last_90
    out["exporter_first_shipment"] = (earlier == 0).astype("float64")
    out["exporter_days_trading"] = _days_since_first(qt, rows.at(exporter), t, exporter)
    cons = rows.cached("consignee_key", lambda: _consignee_codes(rows))
    out["consignee_shipments_90d"] = as_of_window_sums(qt, rows.at(cons), t, cons, [pd.Timedelta(days=90)])[1]

    missing: list[str] = []
    if ctx.labels is None or ctx.labels.empty:
        missing.append("behaviour: no inspection outcomes, violation-rate features left empty")
    rate, n = rows.label_rate(ctx.labels, exporter)
    out["exporter_violation_rate"] = rate
    out["exporter_inspections_before"] = n
    out["consignee_country_violation_rate"] = rows.label_rate(ctx.labels, rows.codes("consignee_country"))[0]
    if "declarant_id" in decl.columns:
        out["declarant_violation_rate"] = rows.label_rate(ctx.labels, rows.codes("declarant_id"))[0]
    else:
        out["declarant_violation_rate"] = np.nan
        missing.append("behaviour: declarant_id absent, declarant violation rate left empty")
    return FamilyResult(out.astype("float64"), pd.DataFrame(index=rows.index), missing)


def _days_since_first(
    query_time: np.ndarray, query_key: np.ndarray, time: np.ndarray, key: np.ndarray
) -> np.ndarray:
    """Days from the key's first row (any row of decl; none is later than the query's own)."""
    latest = np.iinfo(np.int64).max
    first = np.full(int(key.max(initial=-1)) + 2, latest)
    seen = (key >= 0) & (time != np.iinfo(np.int64).min)
    np.minimum.at(first, key[seen], time[seen])
    start = first[np.where(query_key >= 0, query_key, -1)]  # -1: the slot never written
    known = (start != latest) & (query_time != np.iinfo(np.int64).min)
    with np.errstate(invalid="ignore"):
        days = (query_time - np.where(known, start, 0)) / 1e9 / 86400.0
    return np.where(known, days, np.nan)
