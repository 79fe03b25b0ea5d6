"""The saved model: round trip keeps scores and state; a different feature schema is refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from models.artifact import FeatureSchemaError, RiskModel


@pytest.fixture
def model():
    rng = np.random.default_rng(1)
    X = pd.DataFrame(rng.normal(size=(200, 3)), columns=["a", "b", "c"])
    y = (X["a"] > 0).astype(float)
    booster = xgb.train({"max_depth": 2, "objective": "binary:logistic"}, xgb.DMatrix(X, label=y), 10)
    return RiskModel(booster, ["a", "b", "c"], {"hs_mismatch": {"model": None}}, {"note": "x"}), X


def test_save_and_load_give_the_same_scores(model, tmp_path):
    m, X = model
    m.save(tmp_path / "m")
    loaded = RiskModel.load(tmp_path / "m")
    np.testing.assert_allclose(loaded.predict_proba(X), m.predict_proba(X), rtol=1e-6)
    assert loaded.state == m.state and loaded.metadata == {"note": "x"}


def test_a_matrix_with_other_features_is_refused_with_a_clear_message(model):
    m, X = model
    with pytest.raises(FeatureSchemaError, match=r"missing \['c'\], unexpected \['d'\].*retrain"):
        m.predict_proba(X.rename(columns={"c": "d"}))
    with pytest.raises(FeatureSchemaError):
        m.predict_proba(X[["b", "a", "c"]])  # same names, other order
