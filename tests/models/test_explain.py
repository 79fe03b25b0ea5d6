"""Explanations: TreeSHAP agrees with the shap library, sums to the margin, gives readable reasons."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from features.build import catalogue
from models.explain import contributions, reasons, render_reason


@pytest.fixture(scope="module")
def fitted():
    names = [f.name for f in catalogue()]
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(600, len(names))), columns=names)
    X.iloc[::7, 3] = np.nan
    y = X["value_per_kg_log_ratio_to_code"] + 0.5 * X["route_hops"] + rng.normal(0, 0.5, 600) > 1
    booster = xgb.train(
        {"max_depth": 4, "eta": 0.3, "objective": "binary:logistic"},
        xgb.DMatrix(X, label=y.astype(float)),
        num_boost_round=30,
    )
    return booster, X


def test_contributions_plus_bias_equal_the_margin(fitted):
    booster, X = fitted
    phi = contributions(booster, X)
    margin = booster.inplace_predict(X, predict_type="margin")
    np.testing.assert_allclose(phi.sum(axis=1), margin, atol=1e-4)


def test_native_treeshap_agrees_with_the_shap_library(fitted):
    import shap

    booster, X = fitted
    ours = contributions(booster, X.head(50))[:, :-1]
    theirs = shap.TreeExplainer(booster).shap_values(X.head(50))
    np.testing.assert_allclose(ours, theirs, atol=1e-4)


def test_every_item_gets_at_least_three_reasons_with_values(fitted):
    booster, X = fitted
    context = X.copy()
    context["hs_code"] = "260111"
    context["code_description"] = "Iron ores and concentrates"
    context["value_per_kg"] = 41.2
    context["code_median_value_per_kg"] = 0.11
    context["value_per_kg_ratio_text"] = "375x"
    phi = contributions(booster, X.head(20))
    out = reasons(phi, X.head(20), context.head(20), catalogue(), top_k=5)
    assert len(out) == 20
    assert all(len(r) >= 3 for r in out["reasons"])
    texts = [item["text"] for r in out["reasons"] for item in r]
    assert any("41.20 USD/kg, 375x the usual 0.11 USD/kg" in t for t in texts)
    first = out["reasons"].iloc[0]
    assert [i["contribution"] for i in first] == sorted([i["contribution"] for i in first], reverse=True)


def test_reason_rendering_never_raises_on_missing_context():
    feat = next(f for f in catalogue() if f.name == "license_outside_validity")
    text = render_reason(feat, {}, 1.0, 0.5)
    assert "valid" in text.lower()
    assert render_reason(feat, {}, 1.0, -0.5).startswith("lowers risk:")
