"""Unit tests of the density family: packed density, containers, net/gross, package weight."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from features import density
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
    frame["declared_at"] = pd.to_datetime(frame["declared_at"])
    for col in ("packages", "container_count"):
        if col in frame.columns:
            frame[col] = frame[col].astype("Int64")
    return frame


def test_density_against_code_profile_hand_computed():
    decl = make_decl(
        [
            {"gross_weight_kg": 6000.0, "package_volume_m3": 2.0},  # 3.0 t/m3
            {"gross_weight_kg": 8000.0, "package_volume_m3": 1.0},  # 8.0 t/m3
            {"hs_code": "690911", "gross_weight_kg": 4750.0, "package_volume_m3": 1.0},
            {"hs_code": "999999", "gross_weight_kg": 4750.0, "package_volume_m3": 1.0},
        ]
    )
    result = density.compute(decl, FeatureContext(hs_profiles=PROFILES))
    f, c = result.features, result.context
    # iron ore packs at 2.0-3.2 t/m3, midpoint 2.6
    assert f.loc[0, "density_log_ratio_to_code"] == pytest.approx(math.log(3.0 / 2.6))
    assert f.loc[0, "density_above_code_max"] == 0.0
    assert f.loc[1, "density_log_ratio_to_code"] == pytest.approx(math.log(8.0 / 2.6))
    assert f.loc[1, "density_above_code_max"] == pytest.approx(8.0 / 3.2 - 1)  # 150% above
    # ceramics 0.6-1.3 t/m3, midpoint 0.95; 4.75 t/m3 is 5x that
    assert f.loc[2, "density_log_ratio_to_code"] == pytest.approx(math.log(5.0))
    assert c.loc[2, "declared_density_t_m3"] == pytest.approx(4.75)
    assert c.loc[2, "hs6"] == "690911"
    # a code without a profile
    assert np.isnan(f.loc[3, "density_log_ratio_to_code"])
    assert np.isnan(f.loc[3, "density_above_code_max"])


def test_density_missing_zero_or_absent_volume():
    decl = make_decl([{"package_volume_m3": 0.0}, {"package_volume_m3": np.nan}])
    f = density.compute(decl, FeatureContext(hs_profiles=PROFILES)).features
    assert f[["density_log_ratio_to_code", "density_above_code_max"]].isna().all().all()

    result = density.compute(make_decl([{}]), FeatureContext(hs_profiles=PROFILES))
    assert np.isnan(result.features.loc[0, "density_log_ratio_to_code"])
    assert any("package_volume_m3 absent" in m for m in result.missing)

    result = density.compute(make_decl([{"package_volume_m3": 1.0}]), FeatureContext())
    assert np.isnan(result.features.loc[0, "density_log_ratio_to_code"])
    assert any("no HS profile table" in m for m in result.missing)


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


def test_weight_per_package_z_against_exporter_history():
    decl = make_decl(
        [
            # E1's history: 100, 200, 400 kg per package -> log mean ln 200, sample sd ln 2
            {"declared_at": "2024-01-01", "gross_weight_kg": 1000.0, "packages": 10},
            {"declared_at": "2024-01-02", "gross_weight_kg": 2000.0, "packages": 10},
            {"declared_at": "2024-01-03", "gross_weight_kg": 4000.0, "packages": 10},
            {"declared_at": "2024-01-03", "gross_weight_kg": 9000.0, "packages": None},  # no packages
            {
                "declared_at": "2024-01-04",
                "exporter_id": "E2",
                "gross_weight_kg": 9e5,
                "packages": 1,
            },  # another exporter
            {"declared_at": "2024-02-01", "gross_weight_kg": 8000.0, "packages": 10},  # 800 kg: z=2
            {"declared_at": "2024-02-01", "gross_weight_kg": 2000.0, "packages": 10},  # 200 kg: z=0
        ]
    )
    result = density.compute(decl, FeatureContext())
    z = result.features["weight_per_package_z_exporter"]
    assert z[:5].isna().all()  # fewer than 3 earlier declarations with packages (or none at all)
    assert z[5] == pytest.approx(2.0)
    assert z[6] == pytest.approx(0.0, abs=1e-9)
    assert result.context.loc[5, "exporter_usual_weight_per_package_kg"] == pytest.approx(200.0)
    assert result.context.loc[5, "weight_per_package_kg"] == pytest.approx(800.0)
    assert result.context.loc[5, "exporter_package_history"] == 3.0


def test_weight_per_package_sd_floor_for_identical_history():
    decl = make_decl(
        [{"declared_at": f"2024-01-0{d}", "gross_weight_kg": 1000.0, "packages": 10} for d in (1, 2, 3)]
        + [{"declared_at": "2024-01-09", "gross_weight_kg": 1100.0, "packages": 10}]
    )
    z = density.compute(decl, FeatureContext()).features["weight_per_package_z_exporter"]
    assert z[3] == pytest.approx(math.log(1.1) / density.LOG_SD_FLOOR)


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
