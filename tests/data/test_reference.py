"""Reference tables: HS profiles, ports, countries and container specs."""

from __future__ import annotations

import pytest

from data.reference import CONTAINERS, HS_ROLES, countries, hs_profiles, ports


def test_hs_profiles_are_text_codes_with_consistent_ranges() -> None:
    hs = hs_profiles()
    assert hs["hs_code"].is_unique
    assert hs["hs_code"].str.fullmatch(r"\d{6}").all()
    assert hs["hs_code"].str.startswith("0").any()  # leading zeros kept
    assert (hs["chapter"] == hs["hs_code"].str[:2]).all()
    assert (hs["heading"] == hs["hs_code"].str[:4]).all()
    assert set(hs["role"]) == set(HS_ROLES)
    assert (hs["density_min_t_m3"] <= hs["density_max_t_m3"]).all()
    assert (hs["value_per_kg_low"] <= hs["value_per_kg_typical"]).all()
    assert (hs["value_per_kg_typical"] <= hs["value_per_kg_high"]).all()
    assert (hs["source_note"].str.len() > 0).all()


@pytest.mark.parametrize(
    "code,role",
    [
        ("280530", "controlled"),
        ("284690", "controlled"),
        ("850511", "controlled"),
        ("284610", "watch"),
        ("720299", "watch"),
        ("382499", "watch"),
        ("260111", "cover"),
        ("261510", "cover"),
        ("690911", "cover"),
        ("381010", "cover"),
    ],
)
def test_codes_that_matter_have_their_role(code: str, role: str) -> None:
    hs = hs_profiles().set_index("hs_code")
    assert hs.loc[code, "role"] == role


def test_rare_earths_are_orders_of_magnitude_dearer_than_ore() -> None:
    hs = hs_profiles().set_index("hs_code")["value_per_kg_typical"]
    assert hs["284690"] / hs["260111"] > 100


def test_reference_readers_return_copies() -> None:
    first = hs_profiles()
    first.loc[0, "hs_code"] = "999999"
    assert hs_profiles().loc[0, "hs_code"] != "999999"
    p = ports()
    p.loc[:, "locode"] = "XXXXX"
    assert (ports()["locode"] != "XXXXX").all()


def test_ports_and_countries() -> None:
    p = ports()
    assert list(p.columns) == ["locode", "name", "country", "lat", "lon", "major"]
    assert p["locode"].is_unique and p["locode"].str.fullmatch(r"[A-Z]{2}[A-Z0-9]{3}").all()
    assert p["lat"].between(-90, 90).all() and p["lon"].between(-180, 180).all()
    assert p.set_index("locode").loc["SGSIN", "country"] == "SG"
    c = countries()
    assert {"CN", "VN", "MY"} <= set(c["alpha_2"])


def test_container_specs() -> None:
    assert CONTAINERS["20GP"].volume_m3 == 33.2 and CONTAINERS["20GP"].payload_kg == 28_180
    assert CONTAINERS["40GP"].volume_m3 == 67.7 and CONTAINERS["40GP"].payload_kg == 26_730
    assert CONTAINERS["40HC"].volume_m3 == 76.3 and CONTAINERS["40HC"].payload_kg == 26_540
