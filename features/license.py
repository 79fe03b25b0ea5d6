"""License coverage: is a controlled shipment covered by a valid export license for this trade?"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.base import FamilyResult, Feature, FeatureContext, as_of_sum

FAMILY = "license"

FEATURES = [
    Feature("controlled_goods", FAMILY,
            "Declared code is export-controlled (rare earth metals, compounds, magnets).",
            "declared code {hs_code} ({code_description}) is export-controlled", show_when="positive"),
    Feature("license_missing", FAMILY,
            "Controlled goods declared without a license that exists in the license register.",
            "controlled goods under {hs_code} declared without a registered export license "
            "(quoted: {license_quoted})", show_when="positive"),
    Feature("license_outside_validity", FAMILY,
            "The quoted license was not valid on the declaration date (expired or not yet valid).",
            "license {license_id} is valid {license_valid_from} to {license_valid_to}, "
            "not on the declaration date", show_when="positive"),
    Feature("license_held_by_other_exporter", FAMILY,
            "The quoted license belongs to another exporter.",
            "license {license_id} belongs to exporter {license_holder}, not {exporter_id}",
            show_when="positive"),
    Feature("license_other_destination", FAMILY,
            "The quoted license is for another destination country.",
            "license {license_id} is for {license_destination}, goods declared for "
            "{destination_country}", show_when="positive"),
    Feature("license_other_consignee", FAMILY,
            "The quoted license names another consignee.",
            "license {license_id} names consignee '{license_consignee}', declaration names "
            "'{consignee_name}'", show_when="positive"),
    Feature("license_code_not_covered", FAMILY,
            "The quoted license does not cover the declared commodity code.",
            "license {license_id} covers codes {license_hs_prefix}*, not {hs_code}",
            show_when="positive"),
    Feature("license_quantity_used_share", FAMILY,
            "Share of the licensed quantity used by earlier shipments plus this one (>1: exhausted).",
            "license {license_id} quantity {license_quantity_kg:,.0f} kg is {license_quantity_used_share:.0%} "
            "used including this shipment"),
    Feature("exporter_holds_covering_license", FAMILY,
            "The exporter holds some license valid today for this code (quoted or not).",
            "exporter holds no valid license for {hs_code} on this date", show_when="notna"),
]


def _controlled_codes(profiles: pd.DataFrame | None) -> list[str]:
    if profiles is None:
        return ["280530", "284690", "850511"]
    return profiles.loc[profiles["role"].eq("controlled"), "hs_code"].astype("str").tolist()


def code_profile(hs_code: pd.Series, profiles: pd.DataFrame | None, column: str) -> pd.Series:
    """Look up an HS profile column by the declared code's 6-digit prefix."""
    if profiles is None:
        return pd.Series(np.nan, index=hs_code.index)
    table = profiles.set_index(profiles["hs_code"].astype("str").str[:6])[column]
    table = table[~table.index.duplicated()]
    return hs_code.astype("str").str[:6].map(table)


def code_startswith(codes: pd.Series, prefixes: pd.Series) -> pd.Series:
    """Element-wise ``code.startswith(prefix)`` for non-empty prefixes, vectorised by prefix length."""
    codes = codes.astype("str")
    prefixes = prefixes.fillna("").astype("str")
    lengths = prefixes.str.len()
    out = pd.Series(False, index=codes.index)
    for n in lengths[lengths > 0].unique():
        sel = lengths == n
        out[sel] = codes[sel].str[: int(n)] == prefixes[sel]
    return out


def compute(decl: pd.DataFrame, ctx: FeatureContext) -> FamilyResult:
    """License flags for controlled goods, with the ledger of quantities used so far."""
    from features.names import normalise_names

    idx = decl.index
    hs6 = decl["hs_code"].astype("str").str[:6]
    controlled = hs6.isin(_controlled_codes(ctx.hs_profiles))
    out = pd.DataFrame(index=idx, dtype="float64")
    out["controlled_goods"] = controlled.astype("float64")
    quoted = decl["license_id"] if "license_id" in decl.columns else pd.Series(pd.NA, index=idx,
                                                                                dtype="str")
    context = pd.DataFrame(index=idx)
    context["code_description"] = code_profile(decl["hs_code"], ctx.hs_profiles, "description")
    context["license_quoted"] = quoted.fillna("none")
    missing: list[str] = []
    lic = ctx.licenses
    if lic is None:
        missing.append("license: licenses table absent, license coverage left empty")
        for f in FEATURES[1:]:
            out[f.name] = np.nan
        return FamilyResult(out, context, missing)

    lic = lic.drop_duplicates("license_id").set_index("license_id")
    found = quoted.notna() & quoted.isin(lic.index)
    row = lic.reindex(quoted.where(found))
    row.index = idx
    t = decl["declared_at"]
    valid_day = (t.dt.normalize() >= row["valid_from"]) & (t.dt.normalize() <= row["valid_to"])
    out["license_missing"] = (controlled & ~found).astype("float64")
    out["license_outside_validity"] = np.where(found, (~valid_day).astype("float64"), np.nan)
    out["license_held_by_other_exporter"] = np.where(
        found, (row["exporter_id"] != decl["exporter_id"]).astype("float64"), np.nan)
    out["license_other_destination"] = np.where(
        found, (row["destination_country"] != decl["destination_country"]).astype("float64"), np.nan)
    lic_cons = normalise_names(row["consignee_name"]).astype(object).fillna("")
    decl_cons = normalise_names(decl["consignee_name"]).astype(object).fillna("")
    out["license_other_consignee"] = np.where(found, (lic_cons != decl_cons).astype("float64"), np.nan)
    prefix = row["hs_code"].fillna("").astype("str")
    covered = code_startswith(decl["hs_code"], prefix)
    out["license_code_not_covered"] = np.where(found, (~covered).astype("float64"), np.nan)

    # ledger: quantities drawn on each license by earlier declarations, in time order
    weight = decl["net_weight_kg"].fillna(decl["gross_weight_kg"]) if "net_weight_kg" in decl.columns \
        else decl["gross_weight_kg"]
    key = quoted.where(found)
    used_before = as_of_sum(t, key, t, key, weight)
    out["license_quantity_used_share"] = np.where(
        found, (used_before + weight.to_numpy()) / row["quantity_kg"].replace(0, np.nan).to_numpy(),
        np.nan)
    out["exporter_holds_covering_license"] = _exporter_holds_license(decl, lic.reset_index(), controlled)

    context["license_holder"] = row["exporter_id"]
    context["license_destination"] = row["destination_country"]
    context["license_consignee"] = row["consignee_name"]
    context["license_hs_prefix"] = prefix
    context["license_quantity_kg"] = row["quantity_kg"]
    context["license_valid_from"] = row["valid_from"].dt.strftime("%Y-%m-%d")
    context["license_valid_to"] = row["valid_to"].dt.strftime("%Y-%m-%d")
    return FamilyResult(out.astype("float64"), context, missing)


def _exporter_holds_license(decl: pd.DataFrame, lic: pd.DataFrame, controlled: pd.Series) -> np.ndarray:
    """1 if the exporter holds a license covering the code valid on the date, for controlled rows."""
    out = np.full(len(decl), np.nan)
    rows = decl.loc[controlled, ["exporter_id", "hs_code", "declared_at"]]
    if rows.empty:
        return out
    rows = rows.assign(_pos=np.flatnonzero(controlled.to_numpy()))
    pairs = rows.merge(lic[["exporter_id", "hs_code", "valid_from", "valid_to"]]
                       .rename(columns={"hs_code": "prefix"}), on="exporter_id", how="inner")
    day = pairs["declared_at"].dt.normalize()
    ok = (day >= pairs["valid_from"]) & (day <= pairs["valid_to"])
    ok &= code_startswith(pairs["hs_code"], pairs["prefix"])
    held = pairs.loc[ok, "_pos"].unique()
    out[rows["_pos"].to_numpy()] = 0.0
    out[held] = 1.0
    return out
