"""Behaviour over time: trade volumes, first shipments and track records, all as of each declaration."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.base import (
    FamilyResult,
    Feature,
    FeatureContext,
    as_of_label_rate,
    as_of_sum,
    as_of_window_sum,
)

FAMILY = "behaviour"

FEATURES = [
    Feature("exporter_shipments_30d", FAMILY,
            "Declarations by the same exporter in the 30 days before this one.",
            "exporter lodged {exporter_shipments_30d:.0f} declarations in the previous 30 days"),
    Feature("exporter_shipments_90d", FAMILY,
            "Declarations by the same exporter in the 90 days before this one.",
            "exporter lodged {exporter_shipments_90d:.0f} declarations in the previous 90 days"),
    Feature("exporter_first_shipment", FAMILY,
            "This is the exporter's first declaration on record.",
            "first declaration ever seen from exporter {exporter_id}", show_when="positive"),
    Feature("exporter_days_trading", FAMILY,
            "Days since the exporter's first declaration on record.",
            "exporter first seen only {exporter_days_trading:.0f} days before this declaration"),
    Feature("consignee_shipments_90d", FAMILY,
            "Declarations to the same consignee in the 90 days before this one.",
            "consignee received {consignee_shipments_90d:.0f} shipments in the previous 90 days"),
    Feature("exporter_violation_rate", FAMILY,
            "Exporter's violation rate in past inspections (smoothed toward the overall rate).",
            "exporter's past inspections found violations at a {exporter_violation_rate:.0%} rate "
            "({exporter_inspections_before:.0f} inspections)"),
    Feature("exporter_inspections_before", FAMILY,
            "Number of the exporter's declarations inspected before this one.",
            "exporter had {exporter_inspections_before:.0f} earlier inspections"),
    Feature("consignee_country_violation_rate", FAMILY,
            "Violation rate of past inspections of goods for this consignee country (smoothed).",
            "shipments to {consignee_country} were violations in {consignee_country_violation_rate:.0%} "
            "of past inspections"),
    Feature("declarant_violation_rate", FAMILY,
            "Violation rate in past inspections of declarations lodged by this broker (smoothed).",
            "broker {declarant_id} had violations in {declarant_violation_rate:.0%} of past inspections"),
]


def consignee_key(decl: pd.DataFrame) -> pd.Series:
    """Consignee identity: registry id where given, else the normalised name."""
    from features.names import normalise_names

    name = "name:" + normalise_names(decl["consignee_name"]).astype("str")
    if "consignee_id" in decl.columns:
        return decl["consignee_id"].astype("str").where(decl["consignee_id"].notna(), name)
    return name


def compute(decl: pd.DataFrame, ctx: FeatureContext) -> FamilyResult:
    """Volumes in the last 30/90 days, first shipment and smoothed violation rates, time-safe."""
    t = decl["declared_at"]
    exporter = decl["exporter_id"]
    out = pd.DataFrame(index=decl.index)
    out["exporter_shipments_30d"] = as_of_window_sum(t, exporter, t, exporter, pd.Timedelta(days=30))
    out["exporter_shipments_90d"] = as_of_window_sum(t, exporter, t, exporter, pd.Timedelta(days=90))
    earlier = as_of_sum(t, exporter, t, exporter)
    out["exporter_first_shipment"] = (earlier == 0).astype("float64")
    first_seen = t.groupby(exporter).transform("min")
    out["exporter_days_trading"] = (t - first_seen).dt.total_seconds().to_numpy() / 86400.0
    cons = consignee_key(decl)
    out["consignee_shipments_90d"] = as_of_window_sum(t, cons, t, cons, pd.Timedelta(days=90))

    missing: list[str] = []
    if ctx.labels is None or ctx.labels.empty:
        missing.append("behaviour: no inspection outcomes, violation-rate features left empty")
    rate, n = as_of_label_rate(decl, ctx.labels, "exporter_id")
    out["exporter_violation_rate"] = rate
    out["exporter_inspections_before"] = n
    out["consignee_country_violation_rate"], _ = as_of_label_rate(decl, ctx.labels, "consignee_country")
    if "declarant_id" in decl.columns:
        out["declarant_violation_rate"], _ = as_of_label_rate(decl, ctx.labels, "declarant_id")
    else:
        out["declarant_violation_rate"] = np.nan
        missing.append("behaviour: declarant_id absent, declarant violation rate left empty")
    return FamilyResult(out.astype("float64"), pd.DataFrame(index=decl.index), missing)
