"""Unit tests of the routing family: hand-computed distances, hops, hub rates, origin checks."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from data.reference import ports as reference_ports
from data.reference import sea_legs
from features import routing, sea_lanes
from features.base import FeatureContext

R = sea_lanes.EARTH_RADIUS_KM
HUB = "transit_hub_violation_rate"

# Inland places in Africa, all more than 800 km from any sea lane, so every leg is measured by
# great circle; AAORG, BBMID and CCDST lie on the equator, 6 degrees apart.
GRID_PORTS = pd.DataFrame(
    {
        "locode": ["AAORG", "BBMID", "CCDST", "DDPOL", "EEWST"],
        "name": ["origin", "mid", "destination", "north", "west"],
        "country": ["AA", "BB", "CC", "DD", "EE"],
        "lat": [0.0, 0.0, 0.0, 20.0, 10.0],
        "lon": [18.0, 24.0, 30.0, 24.0, 20.0],
        "major": [True] * 5,
    }
)
GRID = {r.locode: (r.lat, r.lon) for r in GRID_PORTS.itertuples()}

# Real coordinates (from the port reference) for a hand-computed real detour.
REAL_PORTS = pd.DataFrame(
    {
        "locode": ["CNSHA", "VNHPH", "MYPKG", "NLRTM", "SGSIN"],
        "name": ["Shanghai", "Haiphong", "Port Kelang", "Rotterdam", "Singapore"],
        "country": ["CN", "VN", "MY", "NL", "SG"],
        "lat": [31.40009, 20.90899, 3.00343, 51.90438, 1.23921],
        "lon": [121.49711, 106.74042, 101.38265, 4.44245, 103.83246],
        "major": [True] * 5,
    }
)


def make_decl(rows: list[dict]) -> pd.DataFrame:
    """Declarations with defaults for everything a test does not care about."""
    base = {
        "exporter_id": "E1",
        "hs_code": "2846901000",
        "origin_country": "AA",
        "port_of_loading": "AAORG",
        "port_of_discharge": "CCDST",
        "transshipment_ports": None,
        "destination_country": "CC",
        "consignee_country": "CC",
    }
    frame = pd.DataFrame([{**base, **r} for r in rows])
    frame["declaration_id"] = [f"D{i}" for i in range(len(frame))]
    if "declared_at" not in frame.columns:
        frame["declared_at"] = pd.Timestamp("2024-01-01")
    frame["declared_at"] = pd.to_datetime(frame["declared_at"])
    return frame


def labels_frame(rows: list[tuple[str, str, int]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "declaration_id": [r[0] for r in rows],
            "label_time": pd.to_datetime([r[1] for r in rows]),
            "violation": [r[2] for r in rows],
            "typology": ["routing" if r[2] else None for r in rows],
        }
    )


def hand_haversine(a: tuple[float, float], b: tuple[float, float]) -> float:
    (lat1, lon1), (lat2, lon2) = a, b
    p1, p2 = math.radians(lat1), math.radians(lat2)
    h = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * R * math.asin(math.sqrt(h))


def test_haversine_one_degree_and_quarter_circle():
    d = routing.haversine_km([0.0, 0.0], [0.0, 0.0], [0.0, 90.0], [1.0, 0.0])
    assert d[0] == pytest.approx(R * math.pi / 180)
    assert d[1] == pytest.approx(R * math.pi / 2)


def grid_km(*codes: str) -> float:
    return sum(hand_haversine(GRID[a], GRID[b]) for a, b in zip(codes, codes[1:], strict=False))


def test_hops_and_circuity_by_great_circle_off_the_sea_lanes():
    decl = make_decl(
        [
            {"transshipment_ports": None},  # direct
            {"transshipment_ports": ""},  # empty means direct
            {"transshipment_ports": "BBMID"},  # on the way: no detour
            {"transshipment_ports": "DDPOL"},  # 20 degrees north and back
            {"transshipment_ports": "EEWST;DDPOL"},
            {"transshipment_ports": " bbmid ; "},  # sloppy spacing, case and trailing ';'
        ]
    )
    result = routing.compute(decl, FeatureContext(ports=GRID_PORTS))
    f, c = result.features, result.context
    direct = grid_km("AAORG", "CCDST")
    assert direct == pytest.approx(R * math.pi * 12 / 180)
    assert f["route_hops"].tolist() == [0.0, 0.0, 1.0, 1.0, 2.0, 1.0]
    expected = [
        1.0,
        1.0,
        1.0,
        grid_km("AAORG", "DDPOL", "CCDST") / direct,
        grid_km("AAORG", "EEWST", "DDPOL", "CCDST") / direct,
        1.0,
    ]
    assert f["route_circuity"].to_numpy() == pytest.approx(expected)
    assert expected[4] > expected[3] > 2  # the farther north, the longer the detour
    assert f["route_unknown_ports"].tolist() == [0.0] * 6
    assert c.loc[4, "route_path"] == "AAORG -> EEWST -> DDPOL -> CCDST"
    assert c.loc[0, "route_path"] == "AAORG -> CCDST"
    assert c.loc[4, "route_direct_km"] == pytest.approx(direct)
    assert c.loc[4, "route_distance_km"] == pytest.approx(grid_km("AAORG", "EEWST", "DDPOL", "CCDST"))
    # none of these places is near a sea lane: said in the context, not hidden
    assert c.loc[4, "route_distance_basis"] == (
        "great circle (AAORG, EEWST, DDPOL, CCDST off the sea-lane network)"
    )
    assert (f.dtypes == "float64").all()


def real_ports(*codes: str) -> pd.DataFrame:
    """Rows of the shipped port reference (real UN/LOCODE coordinates)."""
    table = reference_ports()
    return table[table["locode"].isin(codes)].reset_index(drop=True)


def sea(a: str, b: str, table: pd.DataFrame) -> float:
    p = table.set_index("locode")
    return float(
        sea_lanes.sea_km([p.loc[a, "lat"]], [p.loc[a, "lon"]], [p.loc[b, "lat"]], [p.loc[b, "lon"]])[0]
    )


def great(a: str, b: str, table: pd.DataFrame) -> float:
    p = table.set_index("locode")
    return hand_haversine((p.loc[a, "lat"], p.loc[a, "lon"]), (p.loc[b, "lat"], p.loc[b, "lon"]))


@pytest.mark.parametrize("a, b", [("CNSHA", "NLRTM"), ("DEHAM", "ITGOA"), ("SGSIN", "USLAX")])
def test_sea_distance_agrees_with_searoute(a, b):
    import searoute

    table = real_ports(a, b).set_index("locode")
    ours = sea(a, b, table.reset_index())
    theirs = searoute.searoute(
        [table.loc[a, "lon"], table.loc[a, "lat"]], [table.loc[b, "lon"], table.loc[b, "lat"]]
    ).properties["length"]
    assert ours == pytest.approx(theirs, rel=0.03)
    assert ours >= great(a, b, table.reset_index())  # a ship never beats the straight line


def test_real_detour_is_measured_along_the_sea_lanes():
    table = real_ports("CNSHA", "VNHPH", "MYPKG", "NLRTM")
    decl = make_decl(
        [{"port_of_loading": "CNSHA", "port_of_discharge": "NLRTM", "transshipment_ports": "VNHPH;MYPKG"}]
    )
    sailed = sea("CNSHA", "VNHPH", table) + sea("VNHPH", "MYPKG", table) + sea("MYPKG", "NLRTM", table)
    result = routing.compute(decl, FeatureContext(ports=table))
    c = result.context
    assert c.loc[0, "route_distance_km"] == pytest.approx(sailed)
    assert c.loc[0, "route_direct_km"] == pytest.approx(sea("CNSHA", "NLRTM", table))
    assert result.features.loc[0, "route_circuity"] == pytest.approx(sailed / sea("CNSHA", "NLRTM", table))
    assert c.loc[0, "route_distance_basis"] == "sea lanes"
    assert result.features.loc[0, "route_hops"] == 2.0
    assert c.loc[0, "route_path"] == "CNSHA -> VNHPH -> MYPKG -> NLRTM"


def test_detour_round_a_continent_is_longer_by_sea_than_its_great_circle_ratio_says():
    # Hamburg to Gdansk is a day through the Baltic; via Genoa the ship must sail round Spain
    table = real_ports("DEHAM", "ITGOA", "PLGDN")
    decl = make_decl(
        [{"port_of_loading": "DEHAM", "port_of_discharge": "PLGDN", "transshipment_ports": "ITGOA"}]
    )
    circuity = routing.compute(decl, FeatureContext(ports=table)).features.loc[0, "route_circuity"]
    by_air = (great("DEHAM", "ITGOA", table) + great("ITGOA", "PLGDN", table)) / great(
        "DEHAM", "PLGDN", table
    )
    assert circuity > by_air + 2
    assert circuity > 5


def test_hub_on_the_sea_lane_is_no_detour_by_sea():
    # Singapore lies on the Shanghai-Rotterdam lane, though far off the great circle
    table = real_ports("CNSHA", "SGSIN", "NLRTM")
    decl = make_decl(
        [{"port_of_loading": "CNSHA", "port_of_discharge": "NLRTM", "transshipment_ports": "SGSIN"}]
    )
    circuity = routing.compute(decl, FeatureContext(ports=table)).features.loc[0, "route_circuity"]
    by_air = (great("CNSHA", "SGSIN", table) + great("SGSIN", "NLRTM", table)) / great(
        "CNSHA", "NLRTM", table
    )
    assert circuity == pytest.approx(1.0, abs=0.03)
    assert by_air > 1.5


def test_port_off_the_sea_lanes_falls_back_to_great_circle_and_says_so():
    # by sea to Los Angeles, then inland to Denver
    table = real_ports("CNSHA", "USLAX", "USDEN")
    decl = make_decl(
        [
            {"port_of_loading": "CNSHA", "port_of_discharge": "USDEN", "transshipment_ports": "USLAX"},
            {"port_of_loading": "CNSHA", "port_of_discharge": "USLAX", "transshipment_ports": None},
        ]
    )
    result = routing.compute(decl, FeatureContext(ports=table))
    c = result.context
    assert c.loc[0, "route_distance_km"] == pytest.approx(
        sea("CNSHA", "USLAX", table) + great("USLAX", "USDEN", table)
    )
    assert c.loc[0, "route_direct_km"] == pytest.approx(great("CNSHA", "USDEN", table))
    assert c.loc[0, "route_distance_basis"] == (
        "sea lanes, great circle to and from USDEN (off the sea-lane network)"
    )
    assert c.loc[1, "route_distance_basis"] == "sea lanes"
    reason = routing.FEATURES[1].reason.format(**{**c.loc[0].to_dict(), **result.features.loc[0].to_dict()})
    assert "great circle to and from USDEN" in reason


def test_unknown_ports_counted_and_circuity_left_empty():
    decl = make_decl(
        [
            {"transshipment_ports": "ZZZZZ"},
            {"port_of_loading": "QQQQQ", "transshipment_ports": "BBMID;ZZZZZ"},
            {"port_of_discharge": None},
        ]
    )
    result = routing.compute(decl, FeatureContext(ports=GRID_PORTS))
    f = result.features
    assert f["route_unknown_ports"].tolist() == [1.0, 2.0, 1.0]
    assert f["route_circuity"].isna().all()
    assert f["route_hops"].tolist() == [1.0, 2.0, 0.0]
    assert result.context.loc[1, "route_unknown_list"] == "QQQQQ, ZZZZZ"
    assert result.context.loc[2, "route_path"] == "AAORG -> ?"


def test_same_port_loading_and_discharge_has_no_circuity():
    decl = make_decl([{"port_of_discharge": "AAORG", "transshipment_ports": "BBMID"}])
    result = routing.compute(decl, FeatureContext(ports=GRID_PORTS))
    assert np.isnan(result.features.loc[0, "route_circuity"])
    assert result.features.loc[0, "route_hops"] == 1.0


def test_missing_transshipment_column_leaves_route_features_empty():
    decl = make_decl([{}, {"port_of_loading": "QQQQQ"}]).drop(columns="transshipment_ports")
    labels = labels_frame([("D0", "2023-12-01", 1)])
    result = routing.compute(decl, FeatureContext(ports=GRID_PORTS, labels=labels))
    f = result.features
    assert f["route_hops"].isna().all()
    assert f["route_circuity"].isna().all()
    assert f["transit_hub_violation_rate"].isna().all()
    assert f["route_unknown_ports"].tolist() == [0.0, 1.0]  # loading/discharge still checked
    assert any("transshipment_ports absent" in m for m in result.missing)


def test_no_reference_tables_gives_nan_not_a_crash():
    decl = make_decl([{"transshipment_ports": "BBMID"}])
    result = routing.compute(decl, FeatureContext())
    f = result.features
    empty = ["route_circuity", "route_unknown_ports", "transit_hub_violation_rate"]
    assert f[empty].isna().all().all()
    assert f.loc[0, "route_hops"] == 1.0
    assert len(result.missing) == 2


def test_empty_frame():
    decl = make_decl([{}]).iloc[:0]
    result = routing.compute(decl, FeatureContext(ports=GRID_PORTS, labels=labels_frame([])))
    assert result.features.shape == (0, len(routing.FEATURES))
    assert len(result.context) == 0


def _hub_rows(label_day: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    decl = make_decl(
        [
            {"declared_at": "2024-01-01", "transshipment_ports": "BBMID"},  # D0: the violation
            {"declared_at": "2024-01-05", "transshipment_ports": "BBMID"},  # D1: scored on day 5
            {"declared_at": "2024-01-05", "transshipment_ports": None},  # D2: direct
        ]
    )
    return decl, labels_frame([("D0", label_day, 1)])


def test_hub_violation_recorded_after_the_declaration_does_not_count():
    decl, labels = _hub_rows("2024-01-10")
    rate = routing.compute(decl, FeatureContext(labels=labels)).features[HUB]
    # no outcome known yet: the rate is the base prior 1/30 (smoothing only)
    assert rate[1] == pytest.approx(1 / 30)
    assert np.isnan(rate[2])


def test_hub_violation_recorded_at_the_same_moment_does_not_count():
    decl, labels = _hub_rows("2024-01-05")
    rate = routing.compute(decl, FeatureContext(labels=labels)).features[HUB]
    assert rate[1] == pytest.approx(1 / 30)


def test_hub_violation_recorded_before_raises_the_rate():
    decl, labels = _hub_rows("2024-01-03")
    result = routing.compute(decl, FeatureContext(labels=labels))
    # 1 violation in 1 inspection; prior = (1 + 1) / (1 + 30); rate = (1 + 20 * prior) / (1 + 20)
    prior = 2 / 31
    assert result.features.loc[1, "transit_hub_violation_rate"] == pytest.approx((1 + 20 * prior) / 21)
    assert result.features.loc[1, "transit_hub_violation_rate"] > 1 / 30
    assert result.context.loc[1, "transit_hub_worst"] == "BBMID"
    assert result.context.loc[1, "transit_hub_inspections"] == 1.0


def test_hub_rate_is_the_worst_transit_port():
    decl = make_decl(
        [
            {"declared_at": "2024-01-01", "transshipment_ports": "DDPOL"},  # clear
            {"declared_at": "2024-01-01", "transshipment_ports": "BBMID"},  # violation
            {"declared_at": "2024-02-01", "transshipment_ports": "DDPOL;BBMID"},
        ]
    )
    labels = labels_frame([("D0", "2024-01-10", 0), ("D1", "2024-01-10", 1)])
    result = routing.compute(decl, FeatureContext(labels=labels))
    prior = (1 + 1) / (2 + 30)
    assert result.features.loc[2, "transit_hub_violation_rate"] == pytest.approx((1 + 20 * prior) / 21)
    assert result.context.loc[2, "transit_hub_worst"] == "BBMID"


def test_origin_produces_goods_share_hand_computed():
    decl = make_decl(
        [
            {"declared_at": "2024-01-01", "hs_code": "2846901000", "origin_country": "CN"},
            {"declared_at": "2024-01-02", "hs_code": "284690", "origin_country": "CN"},
            {"declared_at": "2024-01-03", "hs_code": "2846100000", "origin_country": "CN"},
            {"declared_at": "2024-01-04", "hs_code": "284690", "origin_country": "MY"},
            {"declared_at": "2024-01-05", "hs_code": "260111", "origin_country": "BR"},
            {"declared_at": "2024-01-06", "hs_code": "260111", "origin_country": "BR"},
            {"declared_at": "2024-02-01", "hs_code": "284690", "origin_country": "MY"},  # scored
            {"declared_at": "2024-02-01", "hs_code": "284690", "origin_country": "BR"},  # scored
        ]
    )
    result = routing.compute(decl, FeatureContext())
    share = result.features["origin_produces_goods_share"]
    assert np.isnan(share[0])  # nothing seen before the first declaration
    # MY: 1 of 4 earlier 2846 declarations; prior = MY's share of all 6 earlier = 1/6
    assert share[6] == pytest.approx((1 + 5 * (1 / 6)) / (4 + 5))
    # BR: never shipped 2846; prior = 2/6
    assert share[7] == pytest.approx((0 + 5 * (2 / 6)) / (4 + 5))
    assert result.context.loc[6, "hs_heading"] == "2846"
    assert result.context.loc[6, "origin_heading_declarations"] == 1.0
    assert result.context.loc[6, "heading_declarations"] == 4.0


def test_country_mismatches():
    decl = make_decl(
        [
            {"origin_country": "CN", "port_of_loading": "MYPKG"},
            {
                "origin_country": "MY",
                "port_of_loading": "MYPKG",
                "destination_country": "DE",
                "consignee_country": "NL",
            },
            {"origin_country": None, "consignee_country": None},
        ]
    )
    f = routing.compute(decl, FeatureContext(ports=REAL_PORTS)).features
    assert f["origin_differs_from_loading_country"].tolist()[:2] == [1.0, 0.0]
    assert np.isnan(f.loc[2, "origin_differs_from_loading_country"])
    assert f["destination_differs_from_consignee_country"].tolist()[:2] == [0.0, 1.0]
    assert np.isnan(f.loc[2, "destination_differs_from_consignee_country"])


def test_row_order_does_not_change_values_and_input_is_not_mutated():
    decl = make_decl(
        [
            {"declared_at": "2024-01-01", "transshipment_ports": "BBMID", "origin_country": "BB"},
            {"declared_at": "2024-01-02", "transshipment_ports": "DDPOL;BBMID"},
            {"declared_at": "2024-01-03", "transshipment_ports": "ZZZZZ"},
            {"declared_at": "2024-01-04", "transshipment_ports": "BBMID", "origin_country": "BB"},
        ]
    )
    labels = labels_frame([("D0", "2024-01-02", 1), ("D1", "2024-01-03", 0)])
    ctx = FeatureContext(ports=GRID_PORTS, labels=labels)
    before = decl.copy(deep=True)
    ordered = routing.compute(decl, ctx)
    pd.testing.assert_frame_equal(decl, before)
    shuffled = decl.iloc[[3, 1, 0, 2]]  # a non-default index, kept
    again = routing.compute(shuffled, ctx)
    assert again.features.index.equals(shuffled.index)
    a = ordered.features.set_index(decl["declaration_id"]).sort_index()
    b = again.features.set_index(shuffled["declaration_id"]).sort_index()
    pd.testing.assert_frame_equal(a, b)


def test_catalogue_matches_output_and_reasons_render():
    decl = make_decl(
        [
            {"declared_at": "2024-01-01", "transshipment_ports": "BBMID", "origin_country": "BB"},
            {"declared_at": "2024-01-05", "transshipment_ports": "DDPOL;ZZZZZ", "destination_country": "DE"},
        ]
    )
    labels = labels_frame([("D0", "2024-01-02", 1)])
    result = routing.compute(decl, FeatureContext(ports=GRID_PORTS, labels=labels))
    names = [f.name for f in routing.FEATURES]
    assert len(set(names)) == len(names)
    assert list(result.features.columns) == names
    assert result.features.index.equals(decl.index)
    assert result.context.index.equals(decl.index)
    row = {**decl.iloc[1].to_dict(), **result.features.iloc[1].to_dict(), **result.context.iloc[1].to_dict()}
    for feature in routing.FEATURES:
        text = feature.reason.format(**row)
        assert text and "{" not in text


def test_committed_sea_legs_are_what_the_network_gives():
    legs = sea_legs().sample(25, random_state=7)
    table = reference_ports().set_index("locode")
    a, b = table.loc[legs["from_locode"]], table.loc[legs["to_locode"]]
    fresh = sea_lanes._compute(np.column_stack([a["lat"], a["lon"], b["lat"], b["lon"]]))
    assert fresh == pytest.approx(legs["km"].to_numpy(), abs=1e-5)


def test_routes_between_committed_ports_search_no_network():
    sea_lanes._memo.clear()
    sea_lanes._network.cache_clear()
    table = real_ports("CNSHA", "SGSIN", "NLRTM", "MYPKG")
    decl = make_decl(
        [
            {"port_of_loading": "CNSHA", "port_of_discharge": "NLRTM", "transshipment_ports": "SGSIN"},
            {"port_of_loading": "MYPKG", "port_of_discharge": "NLRTM", "transshipment_ports": None},
        ]
    )
    f = routing.compute(decl, FeatureContext(ports=table)).features
    assert f["route_circuity"].notna().all()
    assert sea_lanes._network.cache_info().currsize == 0  # every leg came from the table
    moved = table.assign(lat=np.where(table["locode"] == "SGSIN", 1.3, table["lat"]))
    routing.compute(decl, FeatureContext(ports=moved))  # other coordinates: measured afresh
    assert sea_lanes._network.cache_info().currsize == 1


def test_sea_distance_is_the_same_both_ways_and_zero_in_port():
    t = real_ports("KRPUS", "BRSSZ", "GRPIR").set_index("locode")
    sea_lanes._memo.clear()
    there = sea_lanes.sea_km(t["lat"], t["lon"], t["lat"].iloc[::-1], t["lon"].iloc[::-1])
    sea_lanes._memo.clear()  # measured afresh, the other way round
    back = sea_lanes.sea_km(t["lat"].iloc[::-1], t["lon"].iloc[::-1], t["lat"], t["lon"])
    assert np.array_equal(there, back)  # to the last bit: equal rows must get equal features
    assert there[0] > 15_000
    assert sea_lanes.sea_km(t["lat"], t["lon"], t["lat"], t["lon"]).tolist() == [0.0, 0.0, 0.0]
    assert np.isnan(sea_lanes.sea_km([np.nan], [0.0], [1.0], [1.0])).all()
