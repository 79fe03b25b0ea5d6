"""License coverage: is a controlled shipment covered by a valid export license for this trade?"""

from __future__ import annotations

import numpy as np
import pandas as pd

from data.arrays import isin
from features.base import FamilyResult, Feature, FeatureContext, Rows, pair_codes, rows_of

FAMILY = "license"

FEATURES = [
    Feature(
        "controlled_goods",
        FAMILY,
        "Declared code is export-controlled (rare earth metals, compounds, magnets).",
        "declared code {hs_code} ({code_description}) is export-controlled",
        show_when="positive",
    ),
    Feature(
        "license_missing",
        FAMILY,
        "Controlled goods declared without a license that exists in the license register.",
        "controlled goods under {hs_code} declared without a registered export license "
        "(quoted: {license_quoted})",
        show_when="positive",
    ),
    Feature(
        "license_outside_validity",
        FAMILY,
        "The quoted license was not valid on the declaration date (expired or not yet valid).",
        "license {license_id} is valid {license_valid_from} to {license_valid_to}, "
        "not on the declaration date",
        show_when="positive",
    ),
    Feature(
        "license_held_by_other_exporter",
        FAMILY,
        "The quoted license belongs to another exporter.",
        "license {license_id} belongs to exporter {license_holder}, not {exporter_id}",
        show_when="positive",
    ),
    Feature(
        "license_other_destination",
        FAMILY,
        "The quoted license is for another destination country.",
        "license {license_id} is for {license_destination}, goods declared for {destination_country}",
        show_when="positive",
    ),
    Feature(
        "license_other_consignee",
        FAMILY,
        "The quoted license names another consignee.",
        "license {license_id} names consignee '{license_consignee}', declaration names '{consignee_name}'",
        show_when="positive",
    ),
    Feature(
        "license_code_not_covered",
        FAMILY,
        "The quoted license does not cover the declared commodity code.",
        "license {license_id} covers codes {license_hs_prefix}*, not {hs_code}",
        show_when="positive",
    ),
    Feature(
        "license_quantity_used_share",
        FAMILY,
        "Share of the licensed quantity used by earlier shipments plus this one (>1: exhausted).",
        "license {license_id} quantity {license_quantity_kg:,.0f} kg is "
        "{license_quantity_used_share:.0%} used including this shipment",
    ),
    Feature(
        "exporter_holds_covering_license",
        FAMILY,
        "The exporter holds some license valid today for this code (quoted or not).",
        "exporter holds no valid license for {hs_code} on this date",
        show_when="notna",
    ),
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


def target_code_profile(rows: Rows, profiles: pd.DataFrame | None, column: str) -> pd.Series:
    """``code_profile`` of the target rows' codes, looked up once per distinct code."""
    if profiles is None:
        return pd.Series(np.nan, index=rows.index)
    return rows.mapped(
        f"code_profile:{column}", "hs_code", lambda codes: code_profile(codes, profiles, column)
    )


def code_startswith(codes: pd.Series, prefixes: pd.Series) -> pd.Series:
    """Element-wise ``code.startswith(prefix)`` for non-empty prefixes, vectorised by prefix
    length."""
    codes = codes.astype("str")
    prefixes = prefixes.fillna("").astype("str")
    lengths = prefixes.str.len()
    out = pd.Series(False, index=codes.index)
    for n in lengths[lengths > 0].unique():
        sel = lengths == n
        out[sel] = codes[sel].str[: int(n)] == prefixes[sel]
    return out


def compute(decl: pd.DataFrame, ctx: FeatureContext) -> FamilyResult:
    """License flags for controlled goods, with the ledger of quantities used so far.

    Described: the target rows of ``decl``; the ledger draws on all its rows.
    """
    rows = rows_of(decl, ctx)
    idx = rows.index
    controlled_codes = _controlled_codes(ctx.hs_profiles)
    controlled = (
        rows.mapped(
            "license:controlled", "hs_code", lambda codes: codes.astype("str").str[:6].isin(controlled_codes)
        )
        == 1.0
    )
    out = pd.DataFrame(index=idx, dtype="float64")
    out["controlled_goods"] = controlled.astype("float64")
    has_license = "license_id" in decl.columns
    quoted = rows.column("license_id") if has_license else pd.Series(pd.NA, index=idx, dtype="str")
    context = pd.DataFrame(index=idx)
    context["code_description"] = target_code_profile(rows, ctx.hs_profiles, "description")
    context["license_quoted"] = quoted.fillna("none")
    missing: list[str] = []
    lic = ctx.licenses
    if lic is None:
        missing.append("license: licenses table absent, license coverage left empty")
        for f in FEATURES[1:]:
            out[f.name] = np.nan
        return FamilyResult(out, context, missing)

    lic = lic.drop_duplicates("license_id").set_index("license_id")
    found, row, differs, covered = _quoted_licenses(rows, quoted, lic, has_license)
    t = rows.column("declared_at")
    exporter, hs_code = rows.column("exporter_id"), rows.column("hs_code")
    valid_day = (t.dt.normalize() >= row["valid_from"]) & (t.dt.normalize() <= row["valid_to"])
    out["license_missing"] = (controlled & ~found).astype("float64")
    out["license_outside_validity"] = np.where(found, (~valid_day).astype("float64"), np.nan)
    out["license_held_by_other_exporter"] = np.where(
        found, (row["exporter_id"] != exporter).astype("float64"), np.nan
    )
    out["license_other_destination"] = np.where(
        found, (row["destination_country"] != rows.column("destination_country")).astype("float64"), np.nan
    )
    out["license_other_consignee"] = np.where(found, differs.astype("float64"), np.nan)
    prefix = row["hs_code"].fillna("").astype("str")
    out["license_code_not_covered"] = np.where(found, (~covered).astype("float64"), np.nan)

    # ledger: quantities drawn on each license by earlier declarations (any row), in time order
    weight = _weight(decl)
    if has_license:
        codes, ids = rows.keys("license_id")
        registered = np.append(isin(ids, lic.index), False)  # code -1: not registered
        key = np.where(registered[codes], codes, -1)
        used_before = rows.earlier(key, [weight])[0]
    else:
        used_before = np.zeros(len(idx))
    out["license_quantity_used_share"] = np.where(
        found, (used_before + rows.at(weight)) / row["quantity_kg"].replace(0, np.nan).to_numpy(), np.nan
    )
    out["exporter_holds_covering_license"] = _exporter_holds_license(
        pd.DataFrame({"exporter_id": exporter, "hs_code": hs_code, "declared_at": t}),
        lic.reset_index(),
        controlled,
    )

    context["license_holder"] = row["exporter_id"]
    context["license_destination"] = row["destination_country"]
    context["license_consignee"] = row["consignee_name"]
    context["license_hs_prefix"] = prefix
    context["license_quantity_kg"] = row["quantity_kg"]
    context["license_valid_from"] = row["valid_from"].dt.strftime("%Y-%m-%d")
    context["license_valid_to"] = row["valid_to"].dt.strftime("%Y-%m-%d")
    return FamilyResult(out.astype("float64"), context, missing)


def _quoted_licenses(
    rows: Rows, quoted: pd.Series, lic: pd.DataFrame, has_license: bool
) -> tuple[pd.Series, pd.DataFrame, np.ndarray, np.ndarray]:
    """Per target row: is the quoted license registered, its register row, does it name
    another consignee (canonical names compared), does it cover the declared code. Looked up
    once per distinct quote (and declared code)."""
    from features.names import distinct_canonical, normalise_names

    def canonical(names: pd.Series) -> np.ndarray:
        return normalise_names(names).astype(object).fillna("").to_numpy(dtype=object)

    if not has_license:
        found = quoted.notna() & isin(quoted, lic.index)
        row = lic.reindex(quoted.where(found)).set_axis(quoted.index)
        differs = canonical(row["consignee_name"]) != canonical(rows.column("consignee_name"))
        covered = code_startswith(rows.column("hs_code"), row["hs_code"].fillna("").astype("str"))
        return found, row, differs, covered.to_numpy()
    raw, values = rows.distinct("license_id")
    values = pd.Series(values, dtype=object)
    registered = (values.notna() & isin(values, lic.index)).to_numpy()
    per_quote = lic.reindex(values.where(registered))
    which = rows.at(raw)
    # canonical consignee names of the licenses and of the declarations, as codes of one space
    on_license = canonical(per_quote["consignee_name"])
    on_declaration = (
        pd.Series(distinct_canonical(rows, "consignee_name"), dtype=object).fillna("").to_numpy(dtype=object)
    )
    same = pd.factorize(np.concatenate([on_license, on_declaration]))[0]
    differs = (
        same[: len(on_license)][which] != same[len(on_license) :][rows.at(rows.distinct("consignee_name")[0])]
    )
    # the declared code against the license's code prefix, once per distinct pair
    codes, declared = rows.distinct("hs_code")
    pair = pd.factorize(pair_codes(rows.at(codes), which))[0]
    first = np.unique(pair, return_index=True)[1]
    prefix = per_quote["hs_code"].fillna("").astype("str").to_numpy(dtype=object)
    covered = code_startswith(
        pd.Series(declared[rows.at(codes)[first]], dtype=object),
        pd.Series(prefix[which[first]], dtype=object),
    ).to_numpy()[pair]
    return (
        pd.Series(registered[which], index=rows.index),
        per_quote.take(which).set_axis(rows.index),
        differs,
        covered,
    )


def _weight(decl: pd.DataFrame) -> np.ndarray:
    """Quantity each declaration draws on its license: net mass, else gross mass (every row)."""
    gross = decl["gross_weight_kg"]
    weight = decl["net_weight_kg"].fillna(gross) if "net_weight_kg" in decl.columns else gross
    return weight.to_numpy(dtype="float64", na_value=np.nan)


def _exporter_holds_license(decl: pd.DataFrame, lic: pd.DataFrame, controlled: pd.Series) -> np.ndarray:
    """1 if the exporter holds a license covering the code valid on the date, for controlled
    rows."""
    out = np.full(len(decl), np.nan)
    rows = decl.loc[controlled, ["exporter_id", "hs_code", "declared_at"]]
    if rows.empty:
        return out
    rows = rows.assign(_pos=np.flatnonzero(controlled.to_numpy()))
    pairs = rows.merge(
        lic[["exporter_id", "hs_code", "valid_from", "valid_to"]].rename(columns={"hs_code": "prefix"}),
        on="exporter_id",
        how="inner",
    )
    day = pairs["declared_at"].dt.normalize()
    ok = (day >= pairs["valid_from"]) & (day <= pairs["valid_to"])
    ok &= code_startswith(pairs["hs_code"], pairs["prefix"])
    held = pairs.loc[ok, "_pos"].unique()
    out[rows["_pos"].to_numpy()] = 0.0
    out[held] = 1.0
    return out
