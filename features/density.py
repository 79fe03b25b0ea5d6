"""Density and weight: is the declared mass plausible for the goods, the volume and the containers?

Dense rare-earth goods hidden under a light cover code show up as a packed density above the
code's profile, containers loaded near their payload limit, or packages much heavier than the
exporter usually ships. Densities are as packed: gross mass over the declared cargo volume.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.base import FamilyResult, Feature, FeatureContext, Rows, rows_of

FAMILY = "density"

MIN_EXPORTER_HISTORY = 3  # earlier declarations with packages needed before a z-score is given
LOG_SD_FLOOR = 0.1  # an exporter shipping identical packages still varies ~10% in weight
Z_CLIP = 10.0

FEATURES = [
    Feature(
        "density_log_ratio_to_code",
        FAMILY,
        "Natural log of the declared packed density (gross t per m3) over the middle of the "
        "declared code's usual density range.",
        "declared {declared_density_t_m3:.2f} t/m3, {density_ratio_to_code:.1f}x the "
        "{code_density_mid:.1f} t/m3 typical of {hs6} goods "
        "({code_density_min:.1f}-{code_density_max:.1f} t/m3)",
        show_when="notna",
    ),
    Feature(
        "density_above_code_max",
        FAMILY,
        "How far the declared packed density exceeds the code's usual maximum, as a fraction "
        "of that maximum (0 when within range).",
        "declared {declared_density_t_m3:.2f} t/m3 for {hs6} goods that usually pack at "
        "{code_density_min:.1f}-{code_density_max:.1f} t/m3",
        show_when="positive",
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
        "net_to_gross_ratio",
        FAMILY,
        "Declared net mass divided by declared gross mass.",
        "net mass is {net_to_gross_ratio:.0%} of gross ({net_weight_kg:,.0f} of {gross_weight_kg:,.0f} kg)",
        show_when="notna",
    ),
    Feature(
        "weight_per_package_z_exporter",
        FAMILY,
        "How unusual the weight per package is for this exporter: z-score of its log against "
        "the exporter's earlier declarations.",
        "{weight_per_package_kg:,.1f} kg per package against this exporter's usual "
        "{exporter_usual_weight_per_package_kg:,.1f} kg "
        "(z = {weight_per_package_z_exporter:+.1f} over {exporter_package_history:.0f} "
        "earlier declarations)",
        show_when="notna",
    ),
]


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
    """The code's packed-density range (min, max) for each code; NaN when it has no profile."""
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


def _payload(container_types: pd.Series) -> pd.Series:
    """Maximum payload (kg) of each container type; NaN when unknown."""
    ctype = container_types.where(container_types.notna()).str.strip().str.upper()
    return ctype.map(container_payload_kg()).astype("float64")


def _weight_per_package_z(rows: Rows, wpp: np.ndarray) -> pd.DataFrame:
    """Z-score of log weight per package against the exporter's strictly earlier declarations.

    ``wpp`` is given for every row (the history); the result is for the target rows.
    """
    x = np.log(wpp)
    ok = ~np.isnan(x)
    exporter = rows.codes("exporter_id")
    x_ok = np.where(ok, x, 0.0)
    n, s, ss = rows.earlier(exporter, [ok.astype("float64"), x_ok, x_ok**2])
    x = rows.at(x)
    enough = ~np.isnan(x) & (n >= MIN_EXPORTER_HISTORY)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.where(n > 0, s / n, np.nan)
        var = np.where(n > 1, (ss - n * mean**2) / (n - 1), np.nan)
    sd = np.maximum(np.sqrt(np.clip(var, 0.0, None)), LOG_SD_FLOOR)
    z = np.clip((x - mean) / sd, -Z_CLIP, Z_CLIP)
    return pd.DataFrame(
        {
            "weight_per_package_z_exporter": np.where(enough, z, np.nan),
            "exporter_usual_weight_per_package_kg": np.where(enough, np.exp(mean), np.nan),
            "exporter_package_history": n,
        }
    )


def compute(decl: pd.DataFrame, ctx: FeatureContext) -> FamilyResult:
    """Packed density against the code's profile, container loading, net/gross, package weight.

    Described: the target rows of ``decl``; history (package weights): all its rows.
    """
    rows = rows_of(decl, ctx)
    n = rows.n_targets
    missing: list[str] = []
    gross_all = _positive(_number(rows, "gross_weight_kg", every_row=True))
    packages_all = _positive(_number(rows, "packages", every_row=True))
    gross = rows.at(gross_all)
    volume = _positive(_number(rows, "package_volume_m3"))
    net = _positive(_number(rows, "net_weight_kg"))
    containers = _positive(_number(rows, "container_count"))

    density = gross / 1000.0 / volume
    hs6 = rows.mapped("density:hs6", "hs_code", lambda codes: _hs6(codes).astype("str"))
    dmin, dmax = (
        rows.mapped(
            f"density:{c}", "hs_code", lambda codes, c=c: _code_density(_hs6(codes), ctx.hs_profiles)[c]
        ).to_numpy(dtype=float)
        for c in ("density_min_t_m3", "density_max_t_m3")
    )
    dmid = (dmin + dmax) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(dmid > 0, density / dmid, np.nan)
        above = np.where(dmax > 0, np.maximum(density / dmax - 1.0, 0.0), np.nan)
    above = np.where(np.isnan(density), np.nan, above)

    if "container_type" in decl.columns:
        payload = rows.mapped("density:payload", "container_type", _payload).to_numpy(dtype="float64")
    else:
        payload = np.full(n, np.nan)
    per_container = gross / containers

    wpp_all = gross_all / packages_all
    z = _weight_per_package_z(rows, wpp_all)

    for column, what in (
        ("package_volume_m3", "density features"),
        ("container_count", "mass per container"),
        ("container_type", "mass per container"),
        ("net_weight_kg", "net/gross ratio"),
        ("packages", "weight per package"),
    ):
        if column not in decl.columns:
            missing.append(f"density: {column} absent, {what} left empty")
    if ctx.hs_profiles is None:
        missing.append("density: no HS profile table, density against the code left empty")

    with np.errstate(divide="ignore", invalid="ignore"):
        features = pd.DataFrame(
            {
                "density_log_ratio_to_code": np.log(ratio),
                "density_above_code_max": above,
                "mass_per_container_to_payload": per_container / payload,
                "net_to_gross_ratio": net / gross,
                "weight_per_package_z_exporter": z["weight_per_package_z_exporter"].to_numpy(),
            },
            index=rows.index,
        ).astype("float64")
    context = pd.DataFrame(
        {
            "hs6": hs6.array,
            "declared_density_t_m3": density,
            "density_ratio_to_code": ratio,
            "code_density_min": dmin,
            "code_density_max": dmax,
            "code_density_mid": dmid,
            "mass_per_container_kg": per_container,
            "container_payload_kg": payload,
            "weight_per_package_kg": rows.at(wpp_all),
            "exporter_usual_weight_per_package_kg": z["exporter_usual_weight_per_package_kg"].to_numpy(),
            "exporter_package_history": z["exporter_package_history"].to_numpy(),
        },
        index=rows.index,
    )
    return FamilyResult(features, context, missing)
