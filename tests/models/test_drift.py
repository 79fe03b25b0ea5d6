"""Drift of a scored day against the training window: a stored profile gives the same PSI as the
raw reference, a shifted feature or score warns, features growing with time are not compared."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from models.drift import SCORE, day_drift, drift_warnings, psi, psi_to_profile, reference_profiles


def _window(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    value = rng.normal(0, 1, n) + shift
    value[rng.random(n) < 0.1] = np.nan
    return pd.DataFrame(
        {
            "value_per_kg_robust_z": value,
            "route_hops": rng.integers(0, 3, n).astype("float64"),
            "exporter_days_trading": rng.integers(0, 400, n) + (1000 if shift else 0),
        }
    )


def test_a_stored_profile_gives_the_psi_of_the_raw_reference():
    ref, day = _window(5000, 1), _window(800, 2, shift=0.5)
    profiles = json.loads(json.dumps(reference_profiles(ref)))  # as stored beside the model
    for col in ref.columns:
        assert psi_to_profile(profiles[col], day[col]) == psi(ref[col], day[col])


def test_a_shifted_feature_and_score_warn_and_features_growing_with_time_are_left_out():
    ref, same, shifted = _window(5000, 1), _window(800, 2), _window(800, 3, shift=1.0)
    scores = np.random.default_rng(4).beta(1, 20, 5000)
    profiles = reference_profiles(ref, scores)
    quiet = day_drift(profiles, same, np.random.default_rng(5).beta(1, 20, 800), warn_at=0.25)
    assert not quiet["warning"].any(), quiet
    moved = day_drift(profiles, shifted, np.random.default_rng(6).beta(3, 5, 800), warn_at=0.25)
    assert moved["feature"].iloc[0] == SCORE
    by = moved.set_index("feature")
    assert by.loc[SCORE, "warning"] and by.loc["value_per_kg_robust_z", "warning"]
    assert not by.loc["route_hops", "warning"]
    # grows with time by construction: never compared, never a warning
    assert not by.loc["exporter_days_trading", "compared"] and not by.loc["exporter_days_trading", "warning"]
    words = drift_warnings(moved, 0.25)
    assert words[0].startswith("drift: the model's score distribution moved away from the training window")
    assert any("feature value_per_kg_robust_z" in w for w in words)


def test_without_the_days_features_only_the_score_is_compared():
    ref = _window(1000, 1)
    profiles = reference_profiles(ref, np.linspace(0, 1, 1000))
    drift = day_drift(profiles, None, np.linspace(0, 1, 200), warn_at=0.25)
    assert drift.loc[drift["compared"], "feature"].tolist() == [SCORE]
    assert drift["psi"].iloc[0] < 0.05
