"""Novelty and track-record features are sampled less often by the trees when asked to be."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from features.build import feature_names
from models.train import booster_params, feature_weights, fit_booster, reliance_group


def test_every_catalogue_feature_has_a_group_and_both_groups_are_present():
    groups = {name: reliance_group(name) for name in feature_names()}
    assert groups["exporter_first_shipment"] == "novelty"
    assert groups["exporter_violation_rate"] == "track_record"
    assert {g for g in groups.values()} == {None, "novelty", "track_record"}


def test_weights_go_to_the_data_not_to_the_booster_parameters():
    params = {"max_depth": 3, "novelty_weight": 0.2, "track_record_weight": 0.5}
    w = feature_weights(["exporter_first_shipment", "exporter_violation_rate", "declared_value_usd"], params)
    assert w.tolist() == [0.2, 0.5, 1.0]
    assert feature_weights(["exporter_first_shipment"], {"max_depth": 3}) is None
    p = booster_params(np.array([0.0, 1.0]), params)
    assert "novelty_weight" not in p and "track_record_weight" not in p and p["max_depth"] == 3


@pytest.mark.slow
def test_a_down_weighted_track_record_carries_less_of_the_score_when_the_goods_say_as_much():
    """Two equally telling features, one a track record, among noise: with the track record's
    weight low, the trees split on the declaration's own evidence instead."""
    rng = np.random.default_rng(0)
    n = 4_000
    y = (rng.random(n) < 0.1).astype(float)
    X = pd.DataFrame(
        {
            "exporter_violation_rate": np.where(rng.random(n) < 0.05, 1 - y, y) + rng.normal(0, 0.1, n),
            "value_per_kg_ratio": np.where(rng.random(n) < 0.05, 1 - y, y) + rng.normal(0, 0.1, n),
        }
        | {f"other_{i}": rng.normal(0, 1, n) for i in range(6)}
    )

    def track_share(params: dict) -> float:
        fit = fit_booster(X, y, None, None, {"max_depth": 3, "colsample_bynode": 0.5, **params}, 60, None)
        phi = fit.booster.predict(xgb.DMatrix(X), pred_contribs=True)[:, :-1]
        mass = np.abs(phi).sum(axis=0)
        return float(mass[0] / mass.sum())

    assert track_share({"track_record_weight": 0.01}) < 0.5 * track_share({})
