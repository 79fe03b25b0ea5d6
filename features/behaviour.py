"""Behaviour over time: trade volumes, first shipments and track records, as of each declaration.

No record is not a record: a party never inspected has no violation rate (NaN) and an
inspection count of 0, never the overall rate; a first shipment has no days of trading. Track
records (inspections, violations found, a rate shrunk toward the overall rate by the count)
are kept per exporter, consignee, declarant, port of loading and consignee country.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.base import (
    FamilyResult,
    Feature,
    FeatureContext,
    Rows,
    keyed,
    pair_codes,
    recode,
    rows_of,
    track_record,
)

FAMILY = "behaviour"

RATE_STRENGTH = 20.0  # outcomes' worth of the overall rate a party's own rate is shrunk toward


def _record(key: str, who: str, by: str) -> list[Feature]:
    """Rate, inspections and violations of one party's track record."""
    return [
        Feature(
            f"{key}_violation_rate",
            FAMILY,
            f"{who}'s violation rate in past inspections, shrunk toward the overall rate by the "
            "number of inspections (empty when never inspected).",
            f"{by} had violations in {{{key}_violations_before:,.0f}} of {{{key}_inspections_before:,.0f}} "
            f"past inspections ({{{key}_violation_rate:.0%}} smoothed, against "
            "{overall_violation_rate:.0%} overall)",
            show_when="notna",
            uses_outcomes=True,
        ),
        Feature(
            f"{key}_inspections_before",
            FAMILY,
            f"Number of {who.lower()}'s declarations inspected before this one (0: no record).",
            f"{by} had {{{key}_inspections_before:,.0f}} earlier inspections",
            show_when="positive",
            uses_outcomes=True,
        ),
        Feature(
            f"{key}_violations_before",
            FAMILY,
            f"Violations found in {who.lower()}'s declarations inspected before this one.",
            f"{by} was found violating {{{key}_violations_before:,.0f}} times before",
            show_when="positive",
            uses_outcomes=True,
        ),
    ]


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
        "exporter_shipments_before",
        FAMILY,
        "Declarations by the same exporter before this one, ever (0: a first shipment).",
        "exporter {exporter_id} had lodged {exporter_shipments_before:,.0f} declarations before",
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
        "Days since the exporter's first declaration on record (empty for a first shipment).",
        "exporter first seen only {exporter_days_trading:.0f} days before this declaration",
        show_when="notna",
    ),
    Feature(
        "consignee_shipments_90d",
        FAMILY,
        "Declarations to the same consignee in the 90 days before this one.",
        "consignee received {consignee_shipments_90d:.0f} shipments in the previous 90 days",
    ),
    Feature(
        "exporter_consignee_shipments_before",
        FAMILY,
        "Earlier declarations from this exporter to this consignee (0: a new trading relationship).",
        "exporter shipped to this consignee {exporter_consignee_shipments_before:,.0f} times before, "
        "out of {exporter_shipments_before:,.0f} shipments",
    ),
    *_record("exporter", "Exporter", "exporter {exporter_id}"),
    *_record("consignee", "Consignee", "consignee '{consignee_name}'"),
    *_record("declarant", "Declarant (broker)", "broker {declarant_id}"),
    *_record("loading_port", "Port of loading", "port of loading {port_of_loading}"),
    Feature(
        "consignee_country_violation_rate",
        FAMILY,
        "Violation rate of past inspections of goods for this consignee country (smoothed; empty "
        "when none was inspected).",
        "shipments to {consignee_country} were violations in "
        "{consignee_country_violation_rate:.0%} (smoothed) of {consignee_country_inspections_before:,.0f} "
        "past inspections",
        show_when="notna",
        uses_outcomes=True,
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
        return keyed(*recode(name_codes, pd.Series(name_keys, dtype=object)))
    id_codes, ids = rows.keys("consignee_id")
    which = np.where(id_codes >= 0, id_codes, np.where(name_codes >= 0, len(ids) + name_codes, -1))
    return keyed(*recode(which, pd.Series(np.concatenate([ids, name_keys]), dtype=object)))


def compute(decl: pd.DataFrame, ctx: FeatureContext) -> FamilyResult:
    """Volumes in the last 30/90 days, first shipment, trading relationships and track records
    of every party, time-safe.

    Described: the target rows of ``decl``; history: all its rows.
    """
    rows = rows_of(decl, ctx)
    t = rows.times()
    qt = rows.at(t)
    exporter = rows.codes("exporter_id")
    out = pd.DataFrame(index=rows.index)
    context = pd.DataFrame(index=rows.index)
    earlier, last_30, last_90 = rows.window_sums(
        exporter, [pd.Timedelta(days=30), pd.Timedelta(days=90)], tag="exporter"
    )
    out["exporter_shipments_30d"] = last_30
    out["exporter_shipments_90d"] = last_90
    out["exporter_shipments_before"] = earlier
    out["exporter_first_shipment"] = (earlier == 0).astype("float64")
    days = _days_since_first(qt, rows.at(exporter), rows.first_times(exporter, tag="exporter"))
    out["exporter_days_trading"] = np.where(earlier == 0, np.nan, days)
    cons = rows.cached("consignee_key", lambda: _consignee_codes(rows))
    out["consignee_shipments_90d"] = rows.window_sums(cons, [pd.Timedelta(days=90)], tag="consignee")[1]
    out["exporter_consignee_shipments_before"] = rows.earlier(pair_codes(exporter, cons), tag="pair")[0]

    missing: list[str] = []
    labels = ctx.labels
    if labels is None or labels.empty:
        missing.append("behaviour: no inspection outcomes, track records left empty")
    parties = {"exporter": exporter, "consignee": cons}
    for key, column in (("declarant", "declarant_id"), ("loading_port", "port_of_loading")):
        if column in decl.columns:
            parties[key] = rows.codes(column)
        else:
            parties[key] = None
            missing.append(f"behaviour: {column} absent, its track record left empty")
    for key, codes in parties.items():
        if codes is None:
            n, hits, rate = (
                np.zeros(rows.n_targets),
                np.zeros(rows.n_targets),
                np.full(rows.n_targets, np.nan),
            )
        else:
            n, hits, rate = track_record(rows, labels, codes, RATE_STRENGTH, tag=key)
        out[f"{key}_violation_rate"] = rate
        out[f"{key}_inspections_before"] = n
        out[f"{key}_violations_before"] = hits
    n, _, rate = track_record(
        rows, labels, rows.codes("consignee_country"), RATE_STRENGTH, tag="consignee_country"
    )
    out["consignee_country_violation_rate"] = rate
    context["consignee_country_inspections_before"] = n
    context["overall_violation_rate"] = (
        rows.label_prior(labels) if labels is not None and not labels.empty else np.nan
    )
    return FamilyResult(out.astype("float64"), context, missing)


def _days_since_first(query_time: np.ndarray, query_key: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Days from the key's first row (``first``: time of each key's first row, int64 max: none;
    none is later than the query's own)."""
    latest = np.iinfo(np.int64).max
    query_key = np.asarray(query_key, np.int64)
    start = first[np.where(query_key >= 0, query_key, -1)]  # -1: the slot never written
    known = (start != latest) & (query_time != np.iinfo(np.int64).min)
    with np.errstate(invalid="ignore"):
        days = (query_time - np.where(known, start, 0)) / 1e9 / 86400.0
    return np.where(known, days, np.nan)
