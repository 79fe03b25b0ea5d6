"""Unit tests of the density family: packed density, containers, net/gross, package weight."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from features import base, density
from features.base import FeatureContext

PROFILES = pd.DataFrame(
    {
        "hs_code": ["260111", "690911"],
        "description": ["iron ore", "technical ceramics"],
        "role": ["cover", "cover"],
        "density_min_t_m3": [2.0, 0.6],
        "density_max_t_m3": [3.2, 1.3],
    }
)


def make_decl(rows: list[dict]) -> pd.DataFrame:
    base = {
        "exporter_id": "E1",
        "hs_code": "2601110000",
        "gross_weight_kg": 1000.0,
        "declared_at": "2024-01-01",
    }
    frame = pd.DataFrame([{**base, **r} for r in rows])
    frame["declaration_id"] = [f"D{i}" for i in range(len(frame))]
    frame["declared_at"] = pd.to_datetime(frame["declared_at"], format="ISO8601")
    for col in ("packages", "container_count"):
        if col in frame.columns:
            frame[col] = frame[col].astype("Int64")
    return frame


def _prior_only(mid: float, dmin: float, dmax: float) -> tuple[float, float]:
    """(usual, upper end) of a code with no history: the reference range as a weak prior."""
    psd = (math.log(dmax) - math.log(dmin)) / 4
    var = (base.PRIOR_ROWS * psd**2 + base.SHRINK_ROWS * base.DEFAULT_LOG_SD**2) / (
        base.PRIOR_ROWS + base.SHRINK_ROWS
    )
    return mid, mid * math.exp(density.ABOVE_USUAL_SD * math.sqrt(var))


def test_density_without_history_leans_on_the_reference_range():
    decl = make_decl(
        [
            {"gross_weight_kg": 6000.0, "package_volume_m3": 2.0},  # 3.0 t/m3
            {"gross_weight_kg": 8000.0, "package_volume_m3": 1.0},  # 8.0 t/m3
            {"hs_code": "690911", "gross_weight_kg": 4750.0, "package_volume_m3": 1.0},
            {"hs_code": "999999", "gross_weight_kg": 4750.0, "package_volume_m3": 1.0},
        ]
    )  # all declared at the same moment: none is history for another
    result = density.compute(decl, FeatureContext(hs_profiles=PROFILES))
    f, c = result.features, result.context
    # iron ore packs at 2.0-3.2 t/m3: the prior's middle 2.6 is the usual
    usual, upper = _prior_only(2.6, 2.0, 3.2)
    assert f.loc[0, "density_log_ratio_to_code"] == pytest.approx(math.log(3.0 / 2.6))
    assert f.loc[0, "density_above_code_max"] == 0.0
    assert f.loc[1, "density_log_ratio_to_code"] == pytest.approx(math.log(8.0 / 2.6))
    assert f.loc[1, "density_above_code_max"] == pytest.approx(8.0 / upper - 1)
    assert c.loc[1, "code_density_upper_t_m3"] == pytest.approx(upper)
    # ceramics 0.6-1.3 t/m3, middle 0.95; 4.75 t/m3 is 5x that
    assert f.loc[2, "density_log_ratio_to_code"] == pytest.approx(math.log(5.0))
    assert c.loc[2, "declared_density_t_m3"] == pytest.approx(4.75)
    assert c.loc[2, "density_ratio_text"] == "5x"
    assert c.loc[2, "hs6"] == "690911"
    # a code without a profile and without history: nothing to compare with
    assert np.isnan(f.loc[3, "density_log_ratio_to_code"])
    assert np.isnan(f.loc[3, "density_above_code_max"])
    assert c.loc[3, "code_density_history"] == 0.0


def _history(code: str, n: int, t_m3: float, day: int = 1, exporter: str = "H") -> list[dict]:
    return [
        {
            "declared_at": f"2024-01-{day:02d} {i % 24:02d}:{i // 24:02d}",
            "hs_code": code,
            "exporter_id": f"{exporter}{i}",
            "gross_weight_kg": 1000.0 * t_m3,
            "package_volume_m3": 1.0,
        }
        for i in range(n)
    ]


def test_history_outweighs_the_prior_and_a_code_without_profile_learns_its_own():
    target = {"declared_at": "2024-02-01", "gross_weight_kg": 5000.0, "package_volume_m3": 1.0}
    decl = make_decl(
        [
            *_history("2601110000", 95, 1.5),  # iron ore here packs at 1.5 t/m3, not the 2.6 prior
            *_history("9999990000", 100, 0.4, day=2),  # a code absent from the reference
            target,
            {**target, "hs_code": "9999990000"},
        ]
    )
    f = density.compute(decl, FeatureContext(hs_profiles=PROFILES)).features.iloc[-2:]
    k, p = base.SHRINK_ROWS, base.PRIOR_ROWS
    # every level holds the same 95 rows at ln 1.5 but HS6, where the prior adds 5 rows at ln 2.6
    # (and the broader levels also hold the other code's rows at ln 0.4)
    assert f.iloc[0]["density_log_ratio_to_code"] == pytest.approx(math.log(5.0 / 1.5), abs=0.05)
    # the unknown code's 100 rows are its chapter's too: one step from the whole history
    overall = (95 * math.log(1.5) + 100 * math.log(0.4)) / 195
    usual = (100 * math.log(0.4) + k * overall) / (100 + k)
    # (logs are summed in steps of 1/1024: equal to well within a thousandth)
    assert f.iloc[1]["density_log_ratio_to_code"] == pytest.approx(math.log(5.0) - usual, abs=1e-3)
    assert f.iloc[1]["density_above_code_max"] > 0
    assert k > 0 and p > 0


def test_shrinkage_toward_the_heading_when_the_code_has_few_rows():
    # heading 6909 has 40 rows at 1.0 t/m3 under 690919; 690911 itself has 2 rows at 2.0 t/m3
    rows = [
        *_history("6909190000", 40, 1.0),
        *[{**r, "hs_code": "6909110000"} for r in _history("6909110000", 2, 2.0, day=3, exporter="X")],
        {
            "declared_at": "2024-02-01",
            "hs_code": "6909110000",
            "gross_weight_kg": 2000.0,
            "package_volume_m3": 1.0,
        },
    ]
    f = density.compute(make_decl(rows), FeatureContext()).features.iloc[-1]
    # chapter, heading and the whole history hold the same 42 rows (mean of logs m); the code's
    # own 2 rows at ln 2 pull the usual only part of the way from m, once (8 and 10 digits hold
    # the same 2 rows and add nothing)
    m = 2 * math.log(2.0) / 42
    usual = (2 * math.log(2.0) + base.SHRINK_ROWS * m) / (2 + base.SHRINK_ROWS)
    assert math.log(2.0) - f["density_log_ratio_to_code"] == pytest.approx(usual, abs=1e-3)


def test_density_missing_zero_or_absent_volume():
    decl = make_decl([{"package_volume_m3": 0.0}, {"package_volume_m3": np.nan}])
    f = density.compute(decl, FeatureContext(hs_profiles=PROFILES)).features
    assert f[["density_log_ratio_to_code", "density_above_code_max"]].isna().all().all()

    result = density.compute(make_decl([{}]), FeatureContext(hs_profiles=PROFILES))
    assert np.isnan(result.features.loc[0, "density_log_ratio_to_code"])
    assert any("package_volume_m3 absent" in m for m in result.missing)

    result = density.compute(make_decl([{"package_volume_m3": 1.0}]), FeatureContext())
    assert np.isnan(result.features.loc[0, "density_log_ratio_to_code"])  # no profile, no history
    assert any("history alone" in m for m in result.missing)


def test_mass_per_container_to_payload():
    decl = make_decl(
        [
            {"gross_weight_kg": 56360.0, "container_count": 2, "container_type": "20GP"},  # 28180 each
            {"gross_weight_kg": 13270.0, "container_count": 1, "container_type": "40HC"},  # half 26540
            {"gross_weight_kg": 13270.0, "container_count": 0, "container_type": "40HC"},
            {"gross_weight_kg": 13270.0, "container_count": None, "container_type": "40GP"},
            {"gross_weight_kg": 13270.0, "container_count": 1, "container_type": None},
        ]
    )
    result = density.compute(decl, FeatureContext())
    ratio = result.features["mass_per_container_to_payload"]
    assert ratio[0] == pytest.approx(1.0)
    assert ratio[1] == pytest.approx(0.5)
    assert ratio[2:].isna().all()
    assert result.context.loc[1, "container_payload_kg"] == 26540.0
    assert result.context.loc[0, "mass_per_container_kg"] == 28180.0


def test_mass_per_container_absent_columns():
    result = density.compute(make_decl([{}]), FeatureContext())
    assert np.isnan(result.features.loc[0, "mass_per_container_to_payload"])
    assert any("container_count absent" in m for m in result.missing)
    assert any("container_type absent" in m for m in result.missing)


def test_container_payloads_are_the_reference_figures():
    assert density.container_payload_kg() == {"20GP": 28180.0, "40GP": 26730.0, "40HC": 26540.0}


def test_net_to_gross_ratio():
    decl = make_decl(
        [
            {"net_weight_kg": 900.0},
            {"net_weight_kg": np.nan},
            {"net_weight_kg": 900.0, "gross_weight_kg": 0.0},
        ]
    )
    f = density.compute(decl, FeatureContext()).features
    assert f.loc[0, "net_to_gross_ratio"] == pytest.approx(0.9)
    assert f.loc[1:, "net_to_gross_ratio"].isna().all()
    result = density.compute(make_decl([{}]), FeatureContext())
    assert np.isnan(result.features.loc[0, "net_to_gross_ratio"])
    assert any("net_weight_kg absent" in m for m in result.missing)


def test_weight_per_package_z_against_the_exporters_own_lane():
    decl = make_decl(
        [
            # E1's lane (E1 x 2601110000): 200 kg per package, three times
            *[{"declared_at": f"2024-01-0{d}", "gross_weight_kg": 2000.0, "packages": 10} for d in (1, 2, 3)],
            {"declared_at": "2024-01-03", "gross_weight_kg": 9000.0, "packages": None},  # no packages
            {
                "declared_at": "2024-03-01",  # after the rows below: not their history
                "exporter_id": "E2",
                "hs_code": "6909110000",
                "gross_weight_kg": 9e5,
                "packages": 1,
            },
            {"declared_at": "2024-02-01", "gross_weight_kg": 8000.0, "packages": 10},  # 800 kg
            {"declared_at": "2024-02-01", "gross_weight_kg": 2000.0, "packages": 10},  # 200 kg
            {"declared_at": "2024-02-01", "hs_code": "6909110000", "packages": 10},  # E1's new code
        ]
    )
    result = density.compute(decl, FeatureContext())
    z = result.features["weight_per_package_z_exporter"]
    assert np.isnan(z[0])  # the lane's first shipment: no record, no z
    assert np.isnan(z[4])  # E2's first shipment (of anything)
    assert np.isnan(z[7])  # E1 never shipped this code: its lane has no record
    assert z[5] > 2.0 and z[5] > z[6]
    # the lane's usual is its own 200 kg (the code's history is the same rows)
    assert result.context.loc[5, "exporter_usual_weight_per_package_kg"] == pytest.approx(200.0, rel=1e-3)
    assert z[6] == pytest.approx(0.0, abs=1e-2)
    assert result.context.loc[5, "weight_per_package_kg"] == pytest.approx(800.0)
    assert result.context.loc[5, "exporter_package_history"] == 3.0
    assert result.context.loc[7, "exporter_package_history"] == 0.0


def test_blank_volume_falls_back_to_package_then_container():
    history = [
        {
            "declared_at": f"2024-01-{1 + i % 28:02d} {i % 24:02d}:00",
            "exporter_id": f"H{i}",
            "gross_weight_kg": 10000.0,
            "package_volume_m3": 5.0,  # 2 t/m3
            "packages": 20,  # 500 kg
            "container_count": 1,
        }
        for i in range(40)
    ]
    heavy = {"declared_at": "2024-02-01", "gross_weight_kg": 20000.0, "packages": 20, "container_count": 1}
    decl = make_decl(
        [
            *history,
            {**heavy, "package_volume_m3": 5.0},  # density known: 4 t/m3
            {**heavy, "package_volume_m3": np.nan},  # blank volume: per package (1,000 kg)
            {**heavy, "package_volume_m3": np.nan, "packages": None},  # then per container
            {**heavy, "package_volume_m3": np.nan, "packages": None, "container_count": None},
        ]
    )
    result = density.compute(decl, FeatureContext())
    f, c = result.features.iloc[-4:], result.context.iloc[-4:]
    assert c["weight_basis"].tolist()[:3] == ["packed density", "weight per package", "mass per container"]
    assert c["weight_basis_value"].tolist()[:3] == pytest.approx([4.0, 1000.0, 20000.0])
    assert c["weight_basis_usual"].tolist()[:3] == pytest.approx([2.0, 500.0, 10000.0], rel=1e-3)
    z = f["weight_unusual_for_goods_z"].to_numpy()
    assert (z[:3] > 2).all()  # twice the usual, on whichever basis is declared
    assert np.isnan(z[3]) and c["weight_basis"].isna().tolist()[3]
    # the density family is not empty for the blank-volume rows
    assert f["weight_per_package_log_ratio_to_code"].iloc[1] == pytest.approx(math.log(2.0), abs=1e-3)
    assert f["mass_per_container_log_ratio_to_code"].iloc[2] == pytest.approx(math.log(2.0), abs=1e-3)
    assert np.isnan(f["density_log_ratio_to_code"].iloc[1])


def test_weight_per_package_absent_or_zero_packages():
    result = density.compute(make_decl([{}]), FeatureContext())
    assert np.isnan(result.features.loc[0, "weight_per_package_z_exporter"])
    assert any("packages absent" in m for m in result.missing)
    decl = make_decl([{"packages": 0}])
    assert np.isnan(density.compute(decl, FeatureContext()).context.loc[0, "weight_per_package_kg"])


def test_empty_frame():
    decl = make_decl([{"package_volume_m3": 1.0, "packages": 1}]).iloc[:0]
    result = density.compute(decl, FeatureContext(hs_profiles=PROFILES))
    assert result.features.shape == (0, len(density.FEATURES))


def test_input_not_mutated_order_free_and_reasons_render():
    decl = make_decl(
        [
            {
                "declared_at": f"2024-01-0{d}",
                "gross_weight_kg": 1000.0 * d,
                "packages": 10,
                "package_volume_m3": 1.0,
                "net_weight_kg": 900.0 * d,
                "container_count": 1,
                "container_type": "20GP",
            }
            for d in range(1, 6)
        ]
    )
    before = decl.copy(deep=True)
    ctx = FeatureContext(hs_profiles=PROFILES)
    result = density.compute(decl, ctx)
    pd.testing.assert_frame_equal(decl, before)

    shuffled = decl.iloc[[4, 2, 0, 3, 1]]  # a non-default index, kept
    again = density.compute(shuffled, ctx)
    assert again.features.index.equals(shuffled.index)
    a = result.features.set_index(decl["declaration_id"]).sort_index()
    b = again.features.set_index(shuffled["declaration_id"]).sort_index()
    pd.testing.assert_frame_equal(a, b)

    names = [f.name for f in density.FEATURES]
    assert len(set(names)) == len(names)
    assert list(result.features.columns) == names
    assert (result.features.dtypes == "float64").all()
    row = {**decl.iloc[4].to_dict(), **result.features.iloc[4].to_dict(), **result.context.iloc[4].to_dict()}
    for feature in density.FEATURES:
        text = feature.reason.format(**row)
        assert text and "{" not in text and "nan" not in text
