"""Routing: transshipment hops, detours, laundering hubs and whether the origin is plausible.

Distances are sea-lane distances (``features.sea_lanes``: searoute's maritime network, one
Dijkstra search per distinct departure port), so a detour around a continent counts for what
a ship sails, not for the straight line across the land. A leg touching a port that is off the
lane network (inland terminals, airports) falls back to the great circle, and the row's
``route_distance_basis`` says so. Route geometry is computed once per distinct route.

Nothing here compares against a fixed list: a hub's violation rate and an origin's share of a
heading's trade are learned from the history before each row (smoothed towards the overall
rate and the origin's overall share); the port table only gives coordinates.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd

from features.base import (
    FamilyResult,
    Feature,
    FeatureContext,
    Rows,
    keyed,
    pair_codes,
    rows_of,
    smoothed_rate,
)
from features.sea_lanes import haversine_km, on_network, remember, sea_km

FAMILY = "routing"

MIN_DIRECT_KM = 1.0  # below this, loading and discharge are the same place: no circuity
ORIGIN_SHARE_STRENGTH = 5.0  # pseudo-declarations pulling a heading's origin share to the prior
HUB_RATE_STRENGTH = 20.0  # pseudo-inspections pulling a hub's violation rate to the overall rate

FEATURES = [
    Feature(
        "route_hops",
        FAMILY,
        "Number of intermediate ports the goods pass through between loading and discharge.",
        "{route_hops:.0f} transshipment stop(s): routed {route_path}",
        show_when="positive",
    ),
    Feature(
        "route_circuity",
        FAMILY,
        "Sea-lane length of the declared route divided by the direct loading-discharge sea "
        "distance (great circle for legs to or from ports off the sea lanes).",
        "routed {route_path}, {route_circuity:.1f}x the direct distance "
        "({route_distance_km:,.0f} km instead of {route_direct_km:,.0f} km by {route_distance_basis})",
        show_when="notna",
    ),
    Feature(
        "route_unknown_ports",
        FAMILY,
        "Ports on the declared route that are missing from the port reference table.",
        "{route_unknown_ports:.0f} port(s) on the route are not known ports: {route_unknown_list}",
        show_when="positive",
    ),
    Feature(
        "transit_hub_violation_rate",
        FAMILY,
        "Highest past violation rate (smoothed) among the transit ports on the route.",
        "transits {transit_hub_worst}, where past inspections of shipments through it found "
        "violations at a {transit_hub_violation_rate:.0%} rate ({transit_hub_inspections:.0f} "
        "inspected before this date)",
        show_when="notna",
    ),
    Feature(
        "origin_differs_from_loading_country",
        FAMILY,
        "Declared origin country differs from the country of the port of loading.",
        "goods declared of {origin_country} origin but loaded at {port_of_loading} in {loading_country}",
        show_when="positive",
    ),
    Feature(
        "origin_produces_goods_share",
        FAMILY,
        "Share (smoothed) of earlier declarations of the same HS heading that came from this "
        "origin; low means the origin rarely ships such goods.",
        "only {origin_produces_goods_share:.1%} of earlier heading {hs_heading} declarations "
        "came from {origin_country} ({origin_heading_declarations:.0f} of "
        "{heading_declarations:.0f})",
        show_when="notna",
    ),
    Feature(
        "destination_differs_from_consignee_country",
        FAMILY,
        "Declared destination country differs from the consignee's country.",
        "declared destination {destination_country} but the consignee is in {consignee_country}",
        show_when="positive",
    ),
]


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
    parts = [
        pd.DataFrame(
            {"row": pos, "order": 0, "role": "loading", "locode": _codes(decl["port_of_loading"]).to_numpy()}
        )
    ]
    if "transshipment_ports" in decl.columns:
        transit = transit_ports(decl["transshipment_ports"])
        parts.append(
            pd.DataFrame(
                {
                    "row": transit["row"].to_numpy(),
                    "order": transit["order"].to_numpy(),
                    "role": "transit",
                    "locode": transit["locode"].to_numpy(),
                }
            )
        )
    parts.append(
        pd.DataFrame(
            {
                "row": pos,
                "order": np.iinfo(np.int32).max,
                "role": "discharge",
                "locode": _codes(decl["port_of_discharge"]).to_numpy(),
            }
        )
    )
    legs = pd.concat(parts, ignore_index=True)
    return legs.sort_values(["row", "order"], kind="stable", ignore_index=True)


def transit_ports(routes: pd.Series) -> pd.DataFrame:
    """Transit ports of each declared route: row (position), order (1, 2, ...) and locode.

    Only non-blank routes are split; blank stops ("A;;B", a trailing ';') are dropped.
    """
    raw = _codes(routes)
    has = np.flatnonzero(raw.notna().to_numpy())
    transit = raw.iloc[has].set_axis(has).str.split(";").explode()
    transit = _codes(transit).set_axis(transit.index).dropna()
    return pd.DataFrame(
        {
            "row": transit.index.to_numpy(dtype=np.int64),
            "order": transit.groupby(level=0).cumcount().to_numpy() + 1,
            "locode": transit.to_numpy(dtype=object),
        }
    )


def _port_coords(ports: pd.DataFrame) -> pd.DataFrame:
    table = pd.DataFrame(
        {
            "locode": _codes(ports["locode"]).to_numpy(),
            "lat": pd.to_numeric(ports["lat"], errors="coerce").to_numpy(),
            "lon": pd.to_numeric(ports["lon"], errors="coerce").to_numpy(),
        }
    )
    table = table.dropna().drop_duplicates("locode")
    return table.set_index("locode")


def _route_geometry(
    decl: pd.DataFrame, legs: pd.DataFrame, ports: pd.DataFrame | None, has_transit: bool
) -> tuple[pd.DataFrame, pd.DataFrame]:
    n = len(decl)
    feats = pd.DataFrame({"route_circuity": np.nan, "route_unknown_ports": np.nan}, index=range(n))
    ctx = pd.DataFrame(
        {
            "route_distance_km": np.nan,
            "route_direct_km": np.nan,
            "route_unknown_list": "",
            "route_distance_basis": "",
        },
        index=range(n),
    )
    if ports is None:
        return feats, ctx
    coords = _port_coords(ports)
    _known_sea_legs(coords)
    lat = legs["locode"].map(coords["lat"]).to_numpy(dtype=float)
    lon = legs["locode"].map(coords["lon"]).to_numpy(dtype=float)
    row = legs["row"].to_numpy()
    first = np.r_[True, row[1:] != row[:-1]][: len(row)]
    prev_lat, prev_lon = np.r_[np.nan, lat][: len(lat)], np.r_[np.nan, lon][: len(lon)]
    leg_km = np.where(first, 0.0, _distance_km(prev_lat, prev_lon, lat, lon, ~first))
    unknown = np.isnan(lat)
    unknown_count = np.bincount(row, weights=unknown.astype(float), minlength=n)
    route_km = np.bincount(row, weights=np.nan_to_num(leg_km), minlength=n)
    route_km = np.where(unknown_count == 0, route_km, np.nan)

    load = legs[legs["role"] == "loading"].set_index("row")["locode"].reindex(range(n))
    dis = legs[legs["role"] == "discharge"].set_index("row")["locode"].reindex(range(n))
    direct_km = _distance_km(
        load.map(coords["lat"]).to_numpy(dtype=float),
        load.map(coords["lon"]).to_numpy(dtype=float),
        dis.map(coords["lat"]).to_numpy(dtype=float),
        dis.map(coords["lon"]).to_numpy(dtype=float),
        np.ones(n, dtype=bool),
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        circuity = np.where(direct_km >= MIN_DIRECT_KM, route_km / direct_km, np.nan)
    if has_transit:
        feats["route_circuity"] = circuity
        ctx["route_distance_km"] = route_km
    feats["route_unknown_ports"] = unknown_count
    ctx["route_direct_km"] = direct_km
    unknown_legs = legs[unknown]
    listed = _join_by_row(unknown_legs["locode"].fillna("(blank)"), unknown_legs["row"].to_numpy(), n, ", ")
    ctx["route_unknown_list"] = listed.to_numpy()
    ctx["route_distance_basis"] = _distance_basis(legs, coords, unknown_count, n)
    return feats, ctx


def _known_sea_legs(coords: pd.DataFrame) -> None:
    """Hand the committed leg table to ``sea_lanes`` for the ports whose coordinates are the
    shipped reference's (a port table with other coordinates gets its legs computed)."""
    ref, legs, ends = _committed_legs()
    mine = coords.reindex(ref.index)
    same = ((mine["lat"] == ref["lat"]) & (mine["lon"] == ref["lon"])).to_numpy()
    keep = same[ends[0]] & same[ends[1]]
    if keep.any():
        legs = legs[keep]
        remember(legs["lat1"], legs["lon1"], legs["lat2"], legs["lon2"], legs["km"])


@cache
def _committed_legs() -> tuple[pd.DataFrame, pd.DataFrame, tuple[np.ndarray, np.ndarray]]:
    """The reference port coordinates, the committed legs with both ends' coordinates, and the
    positions of each leg's ends in the reference."""
    from data.reference import ports as reference_ports
    from data.reference import sea_legs

    ref = _port_coords(reference_ports())
    legs = sea_legs()
    a, b = ref.index.get_indexer(legs["from_locode"]), ref.index.get_indexer(legs["to_locode"])
    known = (a >= 0) & (b >= 0)
    legs, a, b = legs[known].reset_index(drop=True), a[known], b[known]
    legs = legs.assign(
        lat1=ref["lat"].to_numpy()[a],
        lon1=ref["lon"].to_numpy()[a],
        lat2=ref["lat"].to_numpy()[b],
        lon2=ref["lon"].to_numpy()[b],
    )
    return ref, legs, (a, b)


def _distance_km(lat1, lon1, lat2, lon2, wanted: np.ndarray) -> np.ndarray:
    """Sea-lane km of the wanted legs, great circle where an end is off the lanes; NaN where an
    end has no coordinates."""
    out = np.full(len(wanted), np.nan)
    wanted = wanted & ~(np.isnan(lat1) | np.isnan(lon1) | np.isnan(lat2) | np.isnan(lon2))
    great = haversine_km(lat1[wanted], lon1[wanted], lat2[wanted], lon2[wanted])
    sea = sea_km(lat1[wanted], lon1[wanted], lat2[wanted], lon2[wanted])
    out[wanted] = np.where(np.isnan(sea), great, sea)
    return out


def _distance_basis(
    legs: pd.DataFrame, coords: pd.DataFrame, unknown_count: np.ndarray, n: int
) -> np.ndarray:
    """How each route was measured: by sea lanes, and which ports by great circle."""
    known = coords.loc[coords.index.isin(legs["locode"].dropna().unique())]
    off_codes = known.index[~on_network(known["lat"].to_numpy(), known["lon"].to_numpy())]
    stops = legs.drop_duplicates(["row", "locode"])
    is_off = stops["locode"].isin(off_codes).to_numpy()
    off = stops[is_off]
    off_list = _join_by_row(off["locode"], off["row"].to_numpy(), n, ", ").to_numpy(dtype=object).astype(str)
    on_count = np.bincount(stops["row"].to_numpy(), weights=(~is_off).astype(float), minlength=n)
    basis = np.where(
        off_list == "",
        "sea lanes",
        np.where(
            on_count >= 2,
            "sea lanes, great circle to and from " + off_list + " (off the sea-lane network)",
            "great circle (" + off_list + " off the sea-lane network)",
        ),
    )
    return np.where(unknown_count == 0, basis, "")


def _route_path(legs: pd.DataFrame, n: int, has_transit: bool) -> np.ndarray:
    """The route as 'CNSHA -> VNHPH -> NLRTM' per row; '?' for a blank port."""
    code = legs["locode"].fillna("?")
    if not has_transit:  # say so rather than draw a direct route
        code = code.where(legs["role"] != "loading", code + " -> (transit not declared)")
    return _join_by_row(code, legs["row"].to_numpy(), n, " -> ").to_numpy()


def _routes(rows: Rows, has_transit: bool) -> tuple[pd.DataFrame, np.ndarray]:
    """The distinct routes (loading, transit, discharge) of the target rows, and each row's."""
    columns = ["port_of_loading", *(["transshipment_ports"] if has_transit else []), "port_of_discharge"]
    distinct = {c: rows.distinct(c) for c in columns}
    code = rows.at(distinct[columns[0]][0])
    for c in columns[1:]:
        code = pair_codes(code, rows.at(distinct[c][0]))
    route = pd.factorize(code)[0]
    first = np.unique(route, return_index=True)[1]  # a row of each route
    routes = pd.DataFrame({c: values[rows.at(codes)[first]] for c, (codes, values) in distinct.items()})
    return routes, route


def _describe_routes(routes: pd.DataFrame, ports: pd.DataFrame | None, has_transit: bool) -> pd.DataFrame:
    """Hops, geometry and the route in words, once per distinct route."""
    n = len(routes)
    legs = route_legs(routes)
    hops = np.bincount(
        legs["row"].to_numpy(), weights=(legs["role"] == "transit").to_numpy(float), minlength=n
    )
    geometry, geo_context = _route_geometry(routes, legs, ports, has_transit)
    return pd.DataFrame(
        {
            "route_hops": hops if has_transit else np.full(n, np.nan),
            "route_circuity": geometry["route_circuity"].to_numpy(),
            "route_unknown_ports": geometry["route_unknown_ports"].to_numpy(),
            "route_path": _route_path(legs, n, has_transit),
            "route_distance_km": geo_context["route_distance_km"].to_numpy(),
            "route_direct_km": geo_context["route_direct_km"].to_numpy(),
            "route_unknown_list": geo_context["route_unknown_list"].to_numpy(),
            "route_distance_basis": geo_context["route_distance_basis"].to_numpy(),
        }
    )


def _hub_rate(rows: Rows, labels: pd.DataFrame | None, has_transit: bool) -> pd.DataFrame:
    """Worst transit hub per target row by smoothed as-of violation rate of shipments through it.

    A hub's outcome events are the inspections of any row of ``decl`` routed through it.
    """
    n = rows.n_targets
    out = pd.DataFrame(
        {"transit_hub_violation_rate": np.nan, "transit_hub_worst": None, "transit_hub_inspections": np.nan},
        index=range(n),
    )
    if labels is None or labels.empty or not has_transit:
        return out
    out["transit_hub_worst"] = pd.Series(np.nan, index=out.index, dtype="str")
    route_codes, routes = rows.distinct("transshipment_ports")
    stops = transit_ports(pd.Series(routes, dtype=object)).drop_duplicates(["row", "locode"])
    if stops.empty:
        return out
    # each distinct route's ports as a slice of one flat array
    port_code, port_names = pd.factorize(stops["locode"])
    count = np.bincount(stops["row"].to_numpy(), minlength=len(routes))
    start = np.cumsum(count) - count

    def through(route: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(which item, port code) for every transit port of each item's route."""
        k = count[route]
        item = np.repeat(np.arange(len(route)), k)
        offset = np.arange(len(item)) - np.repeat(np.cumsum(k) - k, k)
        return item, port_code[start[route][item] + offset]

    q_item, q_port = through(rows.at(route_codes))
    lab, row, lt, lv = rows.outcomes(labels)
    l_item, l_port = through(route_codes[row])
    port_keys = keyed(np.arange(len(port_names)), port_names)  # a hub's key: its code
    hits, inspected = rows.sums_of(
        rows.at(rows.times())[q_item],
        port_keys[q_port],
        lt[lab][l_item],
        port_keys[l_port],
        [lv[lab][l_item], None],
        tag="hub",
        outcomes=True,
    )  # asked even when no target row goes through a hub: the frame's outcomes are events
    if not len(q_item):
        return out
    rate = smoothed_rate(hits, inspected, rows.label_prior(labels)[q_item], HUB_RATE_STRENGTH)
    order = np.lexsort((-rate, q_item))  # stable: among equal rates, the first on the route
    first = order[np.r_[True, q_item[order][1:] != q_item[order][:-1]]]
    worst = q_item[first]
    port = np.full(n, len(port_names))  # the last name: none
    port[worst] = q_port[first]
    out["transit_hub_worst"] = pd.Series([*port_names, np.nan], dtype="str").take(port).array
    out.loc[worst, "transit_hub_violation_rate"] = rate[first]
    out.loc[worst, "transit_hub_inspections"] = inspected[first]
    return out


def _origin_share(rows: Rows) -> pd.DataFrame:
    """As-of share of the HS heading's earlier declarations that had this origin, smoothed."""
    heading = rows.codes("hs_code", lambda c: _codes(c).str[:4], name="routing:heading")
    origin = rows.codes("origin_country", _codes, name="routing:origin")
    pair = pair_codes(heading, origin)
    n_pair, n_heading, n_origin, n_all = (
        rows.earlier(key, tag=tag)[0]
        for key, tag in (
            (pair, "heading_origin"),
            (heading, "heading"),
            (origin, "origin"),
            (np.zeros(len(rows), np.int64), "all"),
        )
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        prior = np.where(n_all > 0, n_origin / n_all, np.nan)
    share = (n_pair + ORIGIN_SHARE_STRENGTH * prior) / (n_heading + ORIGIN_SHARE_STRENGTH)
    known = (rows.at(heading) >= 0) & (rows.at(origin) >= 0)
    return pd.DataFrame(
        {
            "origin_produces_goods_share": np.where(known, share, np.nan),
            "hs_heading": rows.mapped("routing:hs_heading", "hs_code", lambda c: _codes(c).str[:4]).array,
            "origin_heading_declarations": np.where(known, n_pair, np.nan),
            "heading_declarations": np.where(known, n_heading, np.nan),
        }
    )


def compute(decl: pd.DataFrame, ctx: FeatureContext) -> FamilyResult:
    """Hops, circuity, unknown ports, hub violation rates and origin/destination consistency.

    Described: the target rows of ``decl`` (route facts once per distinct route); history
    (hub outcomes, origin shares): all its rows.
    """
    rows = rows_of(decl, ctx)
    idx = rows.index
    missing: list[str] = []
    has_transit = "transshipment_ports" in decl.columns
    if not has_transit:
        missing.append("routing: transshipment_ports absent, hops, circuity and transit hub rates left empty")
    if ctx.ports is None:
        missing.append("routing: no port reference table, circuity and unknown-port counts left empty")
    if ctx.labels is None or ctx.labels.empty:
        missing.append("routing: no inspection outcomes, transit hub violation rates left empty")

    routes, route = _routes(rows, has_transit)
    described = _describe_routes(routes, ctx.ports, has_transit).take(route).set_axis(idx)
    hub = _hub_rate(rows, ctx.labels, has_transit).set_axis(idx)
    origin = _origin_share(rows).set_axis(idx)
    loading_country = rows.mapped("routing:loading_country", "port_of_loading", lambda c: _codes(c).str[:2])
    origin_country = rows.mapped("routing:origin_country", "origin_country", _codes)

    features = pd.DataFrame(
        {
            "route_hops": described["route_hops"],
            "route_circuity": described["route_circuity"],
            "route_unknown_ports": described["route_unknown_ports"],
            "transit_hub_violation_rate": hub["transit_hub_violation_rate"].astype(float),
            "origin_differs_from_loading_country": _differs_coded(origin_country, loading_country),
            "origin_produces_goods_share": origin["origin_produces_goods_share"],
            "destination_differs_from_consignee_country": _differs_coded(
                rows.mapped("routing:destination", "destination_country", _codes),
                rows.mapped("routing:consignee_country", "consignee_country", _codes),
            ),
        },
        index=idx,
    ).astype("float64")

    context = pd.DataFrame(
        {
            "route_path": described["route_path"].astype("str"),
            "route_distance_km": described["route_distance_km"],
            "route_direct_km": described["route_direct_km"],
            "route_unknown_list": described["route_unknown_list"].astype("str"),
            "route_distance_basis": described["route_distance_basis"].astype("str"),
            "transit_hub_worst": hub["transit_hub_worst"],
            "transit_hub_inspections": hub["transit_hub_inspections"].astype(float),
            "loading_country": loading_country,
            "hs_heading": origin["hs_heading"],
            "origin_heading_declarations": origin["origin_heading_declarations"],
            "heading_declarations": origin["heading_declarations"],
        },
        index=idx,
    )
    return FamilyResult(features, context, missing)


def _differs_coded(a: pd.Series, b: pd.Series) -> np.ndarray:
    """1.0 where both codes (already through ``_codes``) are known and differ, 0.0 where equal,
    NaN where either is missing."""
    known = (a.notna() & b.notna()).to_numpy()
    with np.errstate(invalid="ignore"):
        return np.where(known, (a != b).to_numpy(dtype=float, na_value=np.nan), np.nan)
