"""Routing: transshipment hops, detours, laundering hubs and whether the origin is plausible.

Distances are great-circle (haversine) distances between port coordinates, not sea-lane
distances (the ``searoute`` package is not installed): a route's circuity is therefore an
approximation that understates detours around land masses.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from features.base import FamilyResult, Feature, FeatureContext, as_of_label_rate, as_of_sum

FAMILY = "routing"

EARTH_RADIUS_KM = 6371.0088
MIN_DIRECT_KM = 1.0  # below this, loading and discharge are the same place: no circuity
ORIGIN_SHARE_STRENGTH = 5.0  # pseudo-declarations pulling a heading's origin share to the prior
HUB_RATE_STRENGTH = 20.0  # pseudo-inspections pulling a hub's violation rate to the overall rate

FEATURES = [
    Feature("route_hops", FAMILY,
            "Number of intermediate ports the goods pass through between loading and discharge.",
            "{route_hops:.0f} transshipment stop(s): routed {route_path}", show_when="positive"),
    Feature("route_circuity", FAMILY,
            "Great-circle length of the declared route divided by the direct loading-discharge "
            "distance.",
            "routed {route_path}, {route_circuity:.1f}x the direct distance "
            "({route_distance_km:,.0f} km instead of {route_direct_km:,.0f} km)",
            show_when="notna"),
    Feature("route_unknown_ports", FAMILY,
            "Ports on the declared route that are missing from the port reference table.",
            "{route_unknown_ports:.0f} port(s) on the route are not known ports: "
            "{route_unknown_list}", show_when="positive"),
    Feature("transit_hub_violation_rate", FAMILY,
            "Highest past violation rate (smoothed) among the transit ports on the route.",
            "transits {transit_hub_worst}, where past inspections of shipments through it found "
            "violations at a {transit_hub_violation_rate:.0%} rate ({transit_hub_inspections:.0f} "
            "inspected before this date)", show_when="notna"),
    Feature("origin_differs_from_loading_country", FAMILY,
            "Declared origin country differs from the country of the port of loading.",
            "goods declared of {origin_country} origin but loaded at {port_of_loading} in "
            "{loading_country}", show_when="positive"),
    Feature("origin_produces_goods_share", FAMILY,
            "Share (smoothed) of earlier declarations of the same HS heading that came from this "
            "origin; low means the origin rarely ships such goods.",
            "only {origin_produces_goods_share:.1%} of earlier heading {hs_heading} declarations "
            "came from {origin_country} ({origin_heading_declarations:.0f} of "
            "{heading_declarations:.0f})", show_when="notna"),
    Feature("destination_differs_from_consignee_country", FAMILY,
            "Declared destination country differs from the consignee's country.",
            "declared destination {destination_country} but the consignee is in "
            "{consignee_country}", show_when="positive"),
]


def haversine_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Great-circle distance in km between coordinate arrays (degrees); NaN where any is NaN."""
    p1, p2 = np.radians(np.asarray(lat1, float)), np.radians(np.asarray(lat2, float))
    dlat = p2 - p1
    dlon = np.radians(np.asarray(lon2, float)) - np.radians(np.asarray(lon1, float))
    a = np.sin(dlat / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def _codes(s: pd.Series) -> pd.Series:
    """Upper-cased, stripped codes (positional index), NaN for missing or blank values."""
    out = pd.Series(s.to_numpy(dtype=object)).astype("str").str.strip().str.upper()
    return out.where(out != "")


def _join_by_row(codes: pd.Series, rows: np.ndarray, n: int, sep: str) -> pd.Series:
    """Non-missing codes joined per row in the given order; loops over stop positions only."""
    frame = pd.DataFrame({"row": rows, "code": codes.to_numpy(dtype=object)})
    frame["k"] = frame.groupby("row").cumcount()
    wide = frame.pivot(index="row", columns="k", values="code").reindex(range(n))
    out = pd.Series("", index=range(n), dtype="str")
    for k in wide.columns:
        stop = wide[k].astype("str")
        out = out.where(stop.isna(), out.where(out == "", out + sep) + stop)
    return out


def route_legs(decl: pd.DataFrame) -> pd.DataFrame:
    """The declared route in long form: one row per port (row, stop order, role, locode)."""
    n = len(decl)
    pos = np.arange(n)
    parts = [pd.DataFrame({"row": pos, "order": 0, "role": "loading",
                           "locode": _codes(decl["port_of_loading"]).to_numpy()})]
    if "transshipment_ports" in decl.columns:
        raw = _codes(decl["transshipment_ports"]).fillna("")
        transit = raw.str.split(";").explode()
        transit = _codes(transit).set_axis(transit.index).dropna()
        parts.append(pd.DataFrame({
            "row": transit.index.to_numpy(), "order": transit.groupby(level=0).cumcount() + 1,
            "role": "transit", "locode": transit.to_numpy()}))
    parts.append(pd.DataFrame({"row": pos, "order": np.iinfo(np.int32).max, "role": "discharge",
                               "locode": _codes(decl["port_of_discharge"]).to_numpy()}))
    legs = pd.concat(parts, ignore_index=True)
    return legs.sort_values(["row", "order"], kind="stable", ignore_index=True)


def _port_coords(ports: pd.DataFrame) -> pd.DataFrame:
    table = pd.DataFrame({"locode": _codes(ports["locode"]).to_numpy(),
                          "lat": pd.to_numeric(ports["lat"], errors="coerce").to_numpy(),
                          "lon": pd.to_numeric(ports["lon"], errors="coerce").to_numpy()})
    table = table.dropna().drop_duplicates("locode")
    return table.set_index("locode")


def _differs(a: pd.Series, b: pd.Series) -> np.ndarray:
    """1.0 where both codes are known and differ, 0.0 where equal, NaN where either is missing."""
    a, b = _codes(a), _codes(b)
    known = (a.notna() & b.notna()).to_numpy()
    return np.where(known, (a.to_numpy() != b.to_numpy()).astype(float), np.nan)


def _route_geometry(decl: pd.DataFrame, legs: pd.DataFrame, ports: pd.DataFrame | None,
                    has_transit: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    n = len(decl)
    feats = pd.DataFrame({"route_circuity": np.nan, "route_unknown_ports": np.nan},
                         index=range(n))
    ctx = pd.DataFrame({"route_distance_km": np.nan, "route_direct_km": np.nan,
                        "route_unknown_list": ""}, index=range(n))
    if ports is None:
        return feats, ctx
    coords = _port_coords(ports)
    lat = legs["locode"].map(coords["lat"]).to_numpy(dtype=float)
    lon = legs["locode"].map(coords["lon"]).to_numpy(dtype=float)
    row = legs["row"].to_numpy()
    first = np.r_[True, row[1:] != row[:-1]]
    leg_km = np.where(first, 0.0, haversine_km(np.r_[np.nan, lat[:-1]], np.r_[np.nan, lon[:-1]],
                                               lat, lon))
    unknown = np.isnan(lat)
    unknown_count = np.bincount(row, weights=unknown.astype(float), minlength=n)
    route_km = np.bincount(row, weights=np.nan_to_num(leg_km), minlength=n)
    route_km = np.where(unknown_count == 0, route_km, np.nan)

    load = legs[legs["role"] == "loading"].set_index("row")["locode"].reindex(range(n))
    dis = legs[legs["role"] == "discharge"].set_index("row")["locode"].reindex(range(n))
    direct_km = haversine_km(load.map(coords["lat"]), load.map(coords["lon"]),
                             dis.map(coords["lat"]), dis.map(coords["lon"]))
    with np.errstate(divide="ignore", invalid="ignore"):
        circuity = np.where(direct_km >= MIN_DIRECT_KM, route_km / direct_km, np.nan)
    if has_transit:
        feats["route_circuity"] = circuity
        ctx["route_distance_km"] = route_km
    feats["route_unknown_ports"] = unknown_count
    ctx["route_direct_km"] = direct_km
    unknown_legs = legs[unknown]
    listed = _join_by_row(unknown_legs["locode"].fillna("(blank)"), unknown_legs["row"].to_numpy(),
                          n, ", ")
    ctx["route_unknown_list"] = listed.to_numpy()
    return feats, ctx


def _route_path(legs: pd.DataFrame, n: int, has_transit: bool) -> np.ndarray:
    """The route as 'CNSHA -> VNHPH -> NLRTM' per row; '?' for a blank port."""
    code = legs["locode"].fillna("?")
    if not has_transit:  # say so rather than draw a direct route
        code = code.where(legs["role"] != "loading", code + " -> (transit not declared)")
    return _join_by_row(code, legs["row"].to_numpy(), n, " -> ").to_numpy()


def _hub_rate(decl: pd.DataFrame, legs: pd.DataFrame, labels: pd.DataFrame | None
              ) -> pd.DataFrame:
    """Worst transit hub per row by smoothed as-of violation rate of shipments through it."""
    n = len(decl)
    out = pd.DataFrame({"transit_hub_violation_rate": np.nan, "transit_hub_worst": None,
                        "transit_hub_inspections": np.nan}, index=range(n))
    transit = legs[legs["role"] == "transit"].drop_duplicates(["row", "locode"])
    if labels is None or labels.empty or transit.empty:
        return out
    rows = transit["row"].to_numpy()
    through = pd.DataFrame({
        "declaration_id": decl["declaration_id"].to_numpy()[rows],
        "declared_at": decl["declared_at"].to_numpy()[rows],
        "transit_port": transit["locode"].to_numpy(),
        "row": rows,
    })
    rate, count = as_of_label_rate(through, labels, "transit_port", strength=HUB_RATE_STRENGTH)
    through["rate"], through["count"] = rate, count
    worst = (through.sort_values(["row", "rate"], ascending=[True, False], kind="stable")
             .drop_duplicates("row").set_index("row"))
    out.loc[worst.index, "transit_hub_violation_rate"] = worst["rate"]
    out.loc[worst.index, "transit_hub_worst"] = worst["transit_port"]
    out.loc[worst.index, "transit_hub_inspections"] = worst["count"]
    return out


def _origin_share(decl: pd.DataFrame) -> pd.DataFrame:
    """As-of share of the HS heading's earlier declarations that had this origin, smoothed."""
    t = decl["declared_at"].to_numpy()
    heading = _codes(decl["hs_code"]).str[:4]
    origin = _codes(decl["origin_country"])
    pair = (heading + "|" + origin).to_numpy()
    n_pair = as_of_sum(t, pair, t, pair)
    n_heading = as_of_sum(t, heading.to_numpy(), t, heading.to_numpy())
    n_origin = as_of_sum(t, origin.to_numpy(), t, origin.to_numpy())
    n_all = as_of_sum(t, None, t, None)
    with np.errstate(divide="ignore", invalid="ignore"):
        prior = np.where(n_all > 0, n_origin / n_all, np.nan)
    share = (n_pair + ORIGIN_SHARE_STRENGTH * prior) / (n_heading + ORIGIN_SHARE_STRENGTH)
    known = (heading.notna() & origin.notna()).to_numpy()
    return pd.DataFrame({
        "origin_produces_goods_share": np.where(known, share, np.nan),
        "hs_heading": heading.to_numpy(),
        "origin_heading_declarations": np.where(known, n_pair, np.nan),
        "heading_declarations": np.where(known, n_heading, np.nan),
    })


def compute(decl: pd.DataFrame, ctx: FeatureContext) -> FamilyResult:
    """Hops, circuity, unknown ports, hub violation rates and origin/destination consistency."""
    n = len(decl)
    missing: list[str] = []
    has_transit = "transshipment_ports" in decl.columns
    if not has_transit:
        missing.append("routing: transshipment_ports absent, hops, circuity and transit hub "
                       "rates left empty")
    if ctx.ports is None:
        missing.append("routing: no port reference table, circuity and unknown-port counts "
                       "left empty")
    if ctx.labels is None or ctx.labels.empty:
        missing.append("routing: no inspection outcomes, transit hub violation rates left empty")

    legs = route_legs(decl)
    hops = np.bincount(legs["row"].to_numpy(), weights=(legs["role"] == "transit").to_numpy(float),
                       minlength=n)
    geometry, geo_context = _route_geometry(decl, legs, ctx.ports, has_transit)
    hub = _hub_rate(decl, legs, ctx.labels)
    origin = _origin_share(decl)
    loading_country = _codes(decl["port_of_loading"]).str[:2]

    features = pd.DataFrame({
        "route_hops": hops if has_transit else np.full(n, np.nan),
        "route_circuity": geometry["route_circuity"].to_numpy(),
        "route_unknown_ports": geometry["route_unknown_ports"].to_numpy(),
        "transit_hub_violation_rate": hub["transit_hub_violation_rate"].to_numpy(dtype=float),
        "origin_differs_from_loading_country": _differs(
            decl["origin_country"], loading_country),
        "origin_produces_goods_share": origin["origin_produces_goods_share"].to_numpy(),
        "destination_differs_from_consignee_country": _differs(
            decl["destination_country"], decl["consignee_country"]),
    }, index=decl.index).astype("float64")

    context = pd.DataFrame({
        "route_path": _route_path(legs, n, has_transit),
        "route_distance_km": geo_context["route_distance_km"].to_numpy(),
        "route_direct_km": geo_context["route_direct_km"].to_numpy(),
        "route_unknown_list": geo_context["route_unknown_list"].to_numpy(),
        "transit_hub_worst": hub["transit_hub_worst"].to_numpy(),
        "transit_hub_inspections": hub["transit_hub_inspections"].to_numpy(dtype=float),
        "loading_country": loading_country.to_numpy(),
        "hs_heading": origin["hs_heading"].to_numpy(),
        "origin_heading_declarations": origin["origin_heading_declarations"].to_numpy(),
        "heading_declarations": origin["heading_declarations"].to_numpy(),
    }, index=decl.index)
    return FamilyResult(features, context, missing)
