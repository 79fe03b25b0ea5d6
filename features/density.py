"""Density and weight: is the declared mass plausible for the goods, the volume and the containers?

Dense rare-earth goods hidden under a light cover code show up as a packed density above what
the code usually packs at, containers loaded near their payload limit, or packages and
consignments much heavier than the code or the exporter usually ship. What is usual is learned
from the bundle's history, point in time (``features.base.usual_by_code``: the same code,
backing off to broader digits with shrinkage; the reference density range is only a weak
prior), and from the exporter's own earlier declarations of the code. Densities are as
packed: gross mass over the declared cargo volume. When the volume is blank, the weight per
package, then per container, stands in (``weight_unusual_for_goods_z``).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from features.base import (
    FamilyResult,
    Feature,
    FeatureContext,
    Rows,
    compact,
    own_code_codes,
    pair_codes,
    ratio_text,
    rows_of,
    usual_by_code,
    usual_in_lane,
)

FAMILY = "density"

Z_CLIP = 10.0
ABOVE_USUAL_SD = 2.0  # the code's usual upper end: this many standard deviations above its usual
MEASURES = ("density", "package", "container", "consignment")
LANE_MEASURES = ("density", "package", "consignment")  # judged against the exporter's own lane too
BASIS_TEXT = ("packed density", "weight per package", "mass per container")

FEATURES = [
    Feature(
        "density_log_ratio_to_code",
        FAMILY,
        "Natural log of the declared packed density (gross t per m3 of cargo) over what earlier "
        "declarations of the code usually packed at.",
        "declared {declared_density_t_m3:.2f} t/m3, {density_ratio_text} the "
        "{code_usual_density_t_m3:.2f} t/m3 usual for code {hs_code} "
        "({code_density_history:,.0f} past declarations with a volume)",
        show_when="notna",
    ),
    Feature(
        "density_above_code_max",
        FAMILY,
        "How far the declared packed density exceeds the code's usual upper end (its usual plus "
        "two learned standard deviations), as a fraction of that end (0 when within).",
        "declared {declared_density_t_m3:.2f} t/m3 for {hs_code} goods that usually pack at up to "
        "{code_density_upper_t_m3:.2f} t/m3",
        show_when="positive",
    ),
    Feature(
        "density_z_exporter",
        FAMILY,
        "How far the packed density lies from the exporter's own earlier declarations of the code "
        "(standard deviations of the log; empty when it never declared the code with a volume).",
        "declared {declared_density_t_m3:.2f} t/m3 against this exporter's usual "
        "{exporter_usual_density_t_m3:.2f} t/m3 for {hs_code} (z = {density_z_exporter:+.1f} over "
        "{exporter_density_history:,.0f} earlier declarations)",
        show_when="notna",
    ),
    Feature(
        "weight_per_package_log_ratio_to_code",
        FAMILY,
        "Natural log of the gross weight per package over what the code's earlier declarations "
        "usually packed.",
        "{weight_per_package_kg:,.1f} kg per package, {weight_per_package_ratio_text} the "
        "{code_usual_weight_per_package_kg:,.1f} kg usual for code {hs_code}",
        show_when="notna",
    ),
    Feature(
        "weight_per_package_z_exporter",
        FAMILY,
        "How unusual the weight per package is for this exporter: z-score of its log against the "
        "exporter's earlier declarations of the code (empty when there are none).",
        "{weight_per_package_kg:,.1f} kg per package against this exporter's usual "
        "{exporter_usual_weight_per_package_kg:,.1f} kg for {hs_code} "
        "(z = {weight_per_package_z_exporter:+.1f} over {exporter_package_history:,.0f} "
        "earlier declarations)",
        show_when="notna",
    ),
    Feature(
        "mass_per_container_log_ratio_to_code",
        FAMILY,
        "Natural log of the gross mass per container over what the code's earlier declarations "
        "usually loaded.",
        "{mass_per_container_kg:,.0f} kg per container, {mass_per_container_ratio_text} the "
        "{code_usual_mass_per_container_kg:,.0f} kg usual for code {hs_code}",
        show_when="notna",
    ),
    Feature(
        "mass_per_container_to_payload",
        FAMILY,
        "Gross mass per container divided by the container type's maximum payload.",
        "{mass_per_container_kg:,.0f} kg per {container_type} container, "
        "{mass_per_container_to_payload:.0%} of its {container_payload_kg:,.0f} kg payload "
        "limit",
        show_when="notna",
    ),
    Feature(
        "consignment_mass_log_ratio_to_code",
        FAMILY,
        "Natural log of the consignment's gross mass over the code's usual consignment.",
        "{gross_weight_kg:,.0f} kg consignment, {consignment_ratio_text} the "
        "{code_usual_consignment_kg:,.0f} kg usual for code {hs_code}",
        show_when="notna",
    ),
    Feature(
        "consignment_mass_z_exporter",
        FAMILY,
        "How unusual the consignment's gross mass is for this exporter and code: z-score of its "
        "log against the exporter's earlier declarations of the code (empty when none).",
        "{gross_weight_kg:,.0f} kg against this exporter's usual {exporter_usual_consignment_kg:,.0f} "
        "kg for {hs_code} (z = {consignment_mass_z_exporter:+.1f} over "
        "{exporter_consignment_history:,.0f} earlier declarations)",
        show_when="notna",
    ),
    Feature(
        "weight_unusual_for_goods_z",
        FAMILY,
        "How heavy the goods are for their code, on the best basis declared: packed density, else "
        "weight per package, else mass per container (z-score of the log against the code's "
        "history).",
        "{weight_basis} {weight_basis_value:,.2f} is {weight_unusual_for_goods_z:+.1f} standard "
        "deviations from the {weight_basis_usual:,.2f} usual for code {hs_code}",
        show_when="notna",
    ),
    Feature(
        "net_to_gross_ratio",
        FAMILY,
        "Declared net mass divided by declared gross mass.",
        "net mass is {net_to_gross_ratio:.0%} of gross ({net_weight_kg:,.0f} of {gross_weight_kg:,.0f} kg)",
        show_when="notna",
    ),
]


# learned without the declarations found violating before the row: they depend on outcomes
_OUTCOME_BASED = {
    "density_log_ratio_to_code",
    "density_above_code_max",
    "density_z_exporter",
    "weight_per_package_log_ratio_to_code",
    "weight_per_package_z_exporter",
    "mass_per_container_log_ratio_to_code",
    "consignment_mass_log_ratio_to_code",
    "consignment_mass_z_exporter",
    "weight_unusual_for_goods_z",
}
FEATURES = [replace(f, uses_outcomes=True) if f.name in _OUTCOME_BASED else f for f in FEATURES]


def container_payload_kg() -> dict[str, float]:
    """Maximum payload in kg per container type, from the reference container specs."""
    from data.reference import CONTAINERS

    def payload(spec) -> float:
        return float(spec.payload_kg if hasattr(spec, "payload_kg") else spec[1])

    return {name: payload(spec) for name, spec in CONTAINERS.items()}


def _number(rows: Rows, column: str, every_row: bool = False) -> np.ndarray:
    """A numeric column as float64 (NaN for missing) at the target rows (or every row), or all
    NaN when the column is absent."""
    n = len(rows) if every_row else rows.n_targets
    if column not in rows.decl.columns:
        return np.full(n, np.nan)
    values = rows.decl[column] if every_row else rows.column(column)
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _positive(x: np.ndarray) -> np.ndarray:
    return np.where(x > 0, x, np.nan)


def _hs6(codes: pd.Series) -> pd.Series:
    code = pd.Series(codes.to_numpy(dtype=object), dtype=object)
    return code.where(code.notna()).str.strip().str[:6]


def _code_density(hs6: pd.Series, profiles: pd.DataFrame | None) -> pd.DataFrame:
    """The code's reference packed-density range (min, max) for each code; NaN without one."""
    cols = ["density_min_t_m3", "density_max_t_m3"]
    if profiles is None or not set(["hs_code", *cols]).issubset(profiles.columns):
        return pd.DataFrame(np.nan, index=range(len(hs6)), columns=cols)
    table = (
        pd.DataFrame(
            {
                "hs6": profiles["hs_code"].astype(str).str.strip().str[:6].to_numpy(),
                **{c: pd.to_numeric(profiles[c], errors="coerce").to_numpy() for c in cols},
            }
        )
        .drop_duplicates("hs6")
        .set_index("hs6")
    )
    return table.reindex(hs6.to_numpy(dtype=object)).reset_index(drop=True)


def density_prior(rows: Rows, profiles: pd.DataFrame | None) -> tuple[np.ndarray, np.ndarray]:
    """Log of the reference range's middle and its spread (the range as four standard
    deviations) at the target rows; NaN for codes without a reference range."""
    dmin, dmax = (
        rows.mapped(
            f"density:{c}", "hs_code", lambda codes, c=c: _code_density(_hs6(codes), profiles)[c]
        ).to_numpy(dtype=float)
        for c in ("density_min_t_m3", "density_max_t_m3")
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        mid = np.log(_positive((dmin + dmax) / 2.0))
        sd = (np.log(_positive(dmax)) - np.log(_positive(dmin))) / 4.0
    return mid, np.where(sd > 0, sd, np.nan)


def _payload(container_types: pd.Series) -> pd.Series:
    """Maximum payload (kg) of each container type; NaN when unknown."""
    ctype = container_types.where(container_types.notna()).str.strip().str.upper()
    return ctype.map(container_payload_kg()).astype("float64")


def compute(decl: pd.DataFrame, ctx: FeatureContext) -> FamilyResult:
    """Packed density, weight per package, mass per container and consignment mass against the
    code's and the exporter's history; container loading against the payload; net/gross.

    Described: the target rows of ``decl``; history: all its rows.
    """
    rows = rows_of(decl, ctx)
    n = rows.n_targets
    missing: list[str] = []
    gross_all = _positive(_number(rows, "gross_weight_kg", every_row=True))
    raw_all = {
        "density": gross_all / 1000.0 / _positive(_number(rows, "package_volume_m3", True)),
        "package": gross_all / _positive(_number(rows, "packages", True)),
        "container": gross_all / _positive(_number(rows, "container_count", True)),
        "consignment": gross_all,
    }
    measures_all = {m: np.log(v) for m, v in raw_all.items()}
    raw = {m: rows.at(v) for m, v in raw_all.items()}
    usual = usual_by_code(rows, measures_all, {"density": density_prior(rows, ctx.hs_profiles)}, ctx.labels)
    exporter = rows.codes("exporter_id")
    lane = rows.cached("exporter_code_lane", lambda: pair_codes(exporter, own_code_codes(rows)))
    lane_measures = {m: measures_all[m] for m in LANE_MEASURES}
    lanes = usual_in_lane(rows, lane, lane_measures, usual, ctx.labels)
    x = {m: rows.at(measures_all[m]) for m in MEASURES}
    code_z = {m: np.clip(usual[m].z(x[m]), -Z_CLIP, Z_CLIP) for m in MEASURES}
    with np.errstate(invalid="ignore"):
        lane_z = {m: np.clip((x[m] - lanes[m][0]) / lanes[m][1], -Z_CLIP, Z_CLIP) for m in LANE_MEASURES}
    log_ratio = {m: x[m] - usual[m].mean for m in MEASURES}

    upper = np.exp(usual["density"].mean + ABOVE_USUAL_SD * usual["density"].sd)
    density = raw["density"]
    with np.errstate(invalid="ignore"):
        above = np.where(np.isnan(density), np.nan, np.maximum(density / upper - 1.0, 0.0))

    # the best basis declared for "too heavy for the goods": density, else package, else container
    basis = np.select(
        [~np.isnan(code_z["density"]), ~np.isnan(code_z["package"]), ~np.isnan(code_z["container"])],
        [0, 1, 2],
        -1,
    )
    stacked_z = np.stack([code_z["density"], code_z["package"], code_z["container"]])
    stacked_x = np.stack([density, raw["package"], raw["container"]])
    stacked_u = np.exp(np.stack([usual[m].mean for m in ("density", "package", "container")]))
    pick = np.maximum(basis, 0)
    cols = np.arange(n)
    weight_z = np.where(basis >= 0, stacked_z[pick, cols], np.nan)

    if "container_type" in decl.columns:
        payload = rows.mapped("density:payload", "container_type", _payload).to_numpy(dtype="float64")
    else:
        payload = np.full(n, np.nan)
    gross = rows.at(gross_all)
    net = _positive(_number(rows, "net_weight_kg"))
    per_container = raw["container"]

    for column, what in (
        ("package_volume_m3", "density features"),
        ("container_count", "mass per container"),
        ("container_type", "mass per container against the payload"),
        ("net_weight_kg", "net/gross ratio"),
        ("packages", "weight per package"),
    ):
        if column not in decl.columns:
            missing.append(f"density: {column} absent, {what} left empty")
    if ctx.hs_profiles is None:
        missing.append("density: no HS profile table, densities judged on the bundle's history alone")

    with np.errstate(divide="ignore", invalid="ignore"):
        features = pd.DataFrame(
            {
                "density_log_ratio_to_code": log_ratio["density"],
                "density_above_code_max": above,
                "density_z_exporter": lane_z["density"],
                "weight_per_package_log_ratio_to_code": log_ratio["package"],
                "weight_per_package_z_exporter": lane_z["package"],
                "mass_per_container_log_ratio_to_code": log_ratio["container"],
                "mass_per_container_to_payload": per_container / payload,
                "consignment_mass_log_ratio_to_code": log_ratio["consignment"],
                "consignment_mass_z_exporter": lane_z["consignment"],
                "weight_unusual_for_goods_z": weight_z,
                "net_to_gross_ratio": net / gross,
            },
            index=rows.index,
        ).astype("float64")
    basis_text = pd.Series(np.array([*BASIS_TEXT, None], dtype=object)[np.where(basis >= 0, basis, 3)])
    with np.errstate(over="ignore"):
        context = pd.DataFrame(
            {
                "hs6": rows.mapped("density:hs6", "hs_code", lambda codes: _hs6(codes).astype("str")).array,
                "declared_density_t_m3": density,
                "code_usual_density_t_m3": np.exp(usual["density"].mean),
                "code_density_upper_t_m3": upper,
                "code_density_history": usual["density"].n_code,
                "density_ratio_text": ratio_text(np.exp(log_ratio["density"])).array,
                "exporter_usual_density_t_m3": np.exp(lanes["density"][0]),
                "exporter_density_history": lanes["density"][2],
                "weight_per_package_kg": raw["package"],
                "code_usual_weight_per_package_kg": np.exp(usual["package"].mean),
                "weight_per_package_ratio_text": ratio_text(np.exp(log_ratio["package"])).array,
                "exporter_usual_weight_per_package_kg": np.exp(lanes["package"][0]),
                "exporter_package_history": lanes["package"][2],
                "mass_per_container_kg": per_container,
                "code_usual_mass_per_container_kg": np.exp(usual["container"].mean),
                "mass_per_container_ratio_text": ratio_text(np.exp(log_ratio["container"])).array,
                "container_payload_kg": payload,
                "code_usual_consignment_kg": np.exp(usual["consignment"].mean),
                "consignment_ratio_text": ratio_text(np.exp(log_ratio["consignment"])).array,
                "exporter_usual_consignment_kg": np.exp(lanes["consignment"][0]),
                "exporter_consignment_history": lanes["consignment"][2],
                "weight_basis": basis_text.array,
                "weight_basis_value": np.where(basis >= 0, stacked_x[pick, cols], np.nan),
                "weight_basis_usual": np.where(basis >= 0, stacked_u[pick, cols], np.nan),
            },
            index=rows.index,
        )
    return FamilyResult(features, compact(context), missing)
