"""Explanations: TreeSHAP agrees with the shap library, sums to the margin, and reasons say
something an investigator can act on (no missing-value fallbacks, codes named, grouped by
kind, typology hints, both sides for exploration picks, waterfall data)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb

from features.base import Feature
from features.build import catalogue
from models.evidence import KINDS
from models.explain import (
    EXPLORATION_NOTE,
    contributions,
    group_reasons,
    reasons,
    render_reason,
    waterfalls,
)

RAW_FALLBACK = re.compile(r"\(missing\)|\bnan\b|\bNone\b|\b0 inspections\b|\{|\}")


@pytest.fixture(scope="module")
def fitted():
    names = [f.name for f in catalogue()]
    rng = np.random.default_rng(0)
    X = pd.DataFrame(rng.normal(size=(600, len(names))), columns=names)
    X.iloc[::7, 3] = np.nan
    y = X[names[0]] + 0.5 * X[names[1]] + rng.normal(0, 0.5, 600) > 1
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


@pytest.mark.slow
def test_native_treeshap_agrees_with_the_shap_library(fitted):
    import shap

    booster, X = fitted
    ours = contributions(booster, X.head(50))[:, :-1]
    theirs = shap.TreeExplainer(booster).shap_values(X.head(50))
    np.testing.assert_allclose(ours, theirs, atol=1e-4)


def test_every_item_gets_three_sorted_reasons_none_a_raw_fallback(fitted):
    """The whole catalogue, with almost no context: every sentence still says something."""
    booster, X = fitted
    X = X.head(40).copy()
    X.iloc[::3, :10] = np.nan  # missing values carrying SHAP weight
    context = X.copy()
    context["hs_code"] = "2601110000"
    context["exporter_id"] = "CN-E1"
    phi = contributions(booster, X)
    out = reasons(phi, X, context, catalogue(), top_k=5)
    assert len(out) == 40
    assert all(len(r) >= 3 for r in out["reasons"])
    for items in out["reasons"]:
        c = [i["contribution"] for i in items]
        assert c == sorted(c, reverse=True)
        for i in items:
            assert i["kind"] in KINDS
            assert not RAW_FALLBACK.search(i["text"]), i["text"]
    np.testing.assert_allclose(out["base_value"], phi[:, -1])
    np.testing.assert_allclose(out["base_probability"], 1 / (1 + np.exp(-phi[:, -1])))


# ---------------------------------------------------------------- one feature, its states
AGE = Feature(
    "exporter_company_age_days",
    "ownership",
    "Days between the exporter's incorporation and the declaration.",
    "exporter incorporated {exporter_company_age_days:.0f} days before this declaration "
    "(on {exporter_incorporated_on})",
    show_when="notna",
)
RATE = Feature(
    "exporter_violation_rate",
    "behaviour",
    "Exporter's violation rate in past inspections (smoothed toward the overall rate).",
    "exporter's past inspections found violations at a {exporter_violation_rate:.0%} rate "
    "({exporter_inspections_before:.0f} inspections)",
)
HOPS = Feature(
    "route_hops",
    "routing",
    "Number of intermediate ports between loading and discharge.",
    "{route_hops:.0f} transshipment stop(s): routed {route_path}",
    show_when="positive",
)
UNKNOWN = Feature("brand_new_feature", "behaviour", "Days since the consignee's last audit.", "{x:.0f} days")


def _one(feature: Feature, value: float, contribution: float = 0.8, **ctx) -> dict:
    matrix = pd.DataFrame({feature.name: [value]})
    context = pd.DataFrame({k: [v] for k, v in ctx.items()}, index=[0])
    context[feature.name] = value
    phi = np.array([[contribution, -1.0]])
    return reasons(phi, matrix, context, [feature], top_k=1, min_reasons=1)["reasons"].iloc[0][0]


def test_a_missing_value_says_what_its_absence_means():
    r = _one(AGE, np.nan, exporter_id="CN-E9", exporter_incorporated_on=None)
    assert r["text"] == "exporter CN-E9 is not in the company registry (no incorporation date)"
    assert r["evidence"] is False and r["kind"] == "parties"


def test_a_rate_drawn_from_no_inspection_says_so():
    never = _one(RATE, 0.04, exporter_id="CN-E9", exporter_inspections_before=0.0)
    assert never["text"] == "exporter CN-E9 has never been inspected"
    assert never["evidence"] is False
    seen = _one(RATE, 0.41, exporter_id="CN-E9", exporter_inspections_before=12.0)
    assert seen["text"] == "exporter's past inspections found violations at a 41% rate (12 inspections)"
    assert seen["evidence"] is True and seen["kind"] == "record"


def test_a_missing_aside_is_left_out_not_shown_as_missing():
    r = _one(AGE, 200.0, exporter_incorporated_on=np.nan)
    assert r["text"] == "exporter incorporated 200 days before this declaration"


def test_a_flag_at_zero_lowering_the_risk_says_what_zero_means():
    r = _one(HOPS, 0.0, contribution=-0.6, route_path="CNSHA -> NLRTM")
    assert r["text"] == "lowers the risk: shipped direct, no transshipment stop declared"


def test_a_feature_unknown_to_the_table_still_reads_as_a_sentence():
    r = _one(UNKNOWN, np.nan)
    assert r["text"] == "not on record: days since the consignee's last audit"
    assert not RAW_FALLBACK.search(render_reason(UNKNOWN, {}, float("nan"), 0.3))


def test_ports_countries_and_codes_are_named_in_words():
    r = _one(HOPS, 2.0, route_path="CNSHA -> MYPKG -> NLRTM")
    assert r["text"] == (
        "2 transshipment stop(s): routed CNSHA (Shanghai) -> MYPKG (Port Kelang) -> NLRTM (Rotterdam)"
    )
    code = Feature(
        "cover_code",
        "hs_mismatch",
        "Declared code is one that smugglers use as cover.",
        "{hs_code} ({code_description}) is a code commonly used to disguise rare earths; "
        "origin {origin_country}",
        show_when="positive",
    )
    named = _one(
        code, 1.0, hs_code="2846900010", code_description="Rare-earth compounds", origin_country="CN"
    )
    assert named["text"] == (
        "2846.90.00.10 (rare-earth compounds (excluding cerium)) is a code commonly used to disguise "
        "rare earths; origin CN (China)"
    )
    heading = _one(code, 1.0, hs_code="72029900", origin_country="XX")  # an unknown country stays a code
    assert heading["text"].startswith("7202.99.00 (other ferro-alloys) is a code")
    assert heading["text"].endswith("origin XX")


# ---------------------------------------------------------------- codes learned from history
def test_codes_in_no_reference_table_get_the_usual_description_from_history():
    from models.naming import names_for, usual_descriptions

    history = pd.DataFrame(
        {
            "hs_code": ["2903220000", "2903220000", "29032200", "2903220000", "9999990000", "2846900010"],
            "goods_description": [
                "Trichloroethylene  in drums",
                "trichloroethylene in drums",
                "TCE solvent",
                "TRICHLOROETHYLENE IN DRUMS",
                "spare parts",
                "neodymium oxide",
            ],
        }
    )
    usual = usual_descriptions(history)
    assert usual["290322"] == "trichloroethylene in drums"
    assert usual["999999"] == "spare parts"
    names = names_for(history, ["2903220000", "2846900010", "9999990000"])
    assert names.hs_one("2903220000") == '2903.22.00.00 (usually "trichloroethylene in drums")'
    assert names.hs_one("2846900010") == "2846.90.00.10 (rare-earth compounds (excluding cerium))"
    assert "284690" not in names.learned  # the reference names it: nothing to learn
    assert names.hs_one("9999990000") == '9999.99.00.00 (usually "spare parts")'
    # a heading in the committed table, a chapter title as the last resort
    assert names.hs_one("7202") == "7202 (ferro-alloys)"
    assert names.hs_one("2901100000") == "2901.10.00.00 (organic chemicals)"


def test_learned_names_reach_the_reasons():
    code = Feature("cover_code", "hs_mismatch", "Cover code.", "{hs_code} is used as cover", "positive")
    matrix = pd.DataFrame({"cover_code": [1.0, 1.0]})
    context = pd.DataFrame({"hs_code": ["2903220000", "2846900010"], "cover_code": [1.0, 1.0]})
    history = pd.DataFrame({"hs_code": ["2903220000"] * 2, "goods_description": ["tce solvent"] * 2})
    out = reasons(np.array([[0.5, -1.0], [0.5, -1.0]]), matrix, context, [code], 1, 1, history=history)
    assert out["reasons"].iloc[0][0]["text"] == '2903.22.00.00 (usually "tce solvent") is used as cover'
    assert out["reasons"].iloc[1][0]["text"].startswith("2846.90.00.10 (rare-earth compounds")


# ---------------------------------------------------------------- grouping and typologies
def test_reasons_carry_their_kind_and_group_by_it():
    def kind(name: str, family: str) -> str:
        return _one(Feature(name, family, "d.", "{" + name + "}"), 1.0)["kind"]

    assert kind("route_hops", "routing") == "route"
    assert kind("density_log_ratio_to_code", "density") == "weight"
    assert kind("value_per_kg_log_ratio_to_code", "hs_mismatch") == "value"  # a value, not goods vs code
    assert kind("description_fits_declared_heading", "hs_mismatch") == "goods"
    assert kind("license_missing", "license") == "licence"
    assert kind("exporter_violation_rate", "behaviour") == "record"
    assert kind("exporter_company_age_days", "ownership") == "parties"
    assert {_one(f, 1.0)["kind"] for f in catalogue()} <= set(KINDS)
    items = [
        {"feature": "a", "kind": "value", "text": "x", "contribution": 0.9},
        {"feature": "b", "kind": "route", "text": "y", "contribution": 0.5},
        {"feature": "c", "kind": "value", "text": "z", "contribution": 0.2},
        {"feature": "d", "kind": "route", "text": "w", "contribution": -0.3},
        {"feature": "rule:watchlist_exact", "text": "hard rule watchlist_exact: ...", "contribution": 0.0},
    ]
    groups = group_reasons(items)
    assert [g["kind"] for g in groups] == ["value", "route", "rule"]
    assert [g["label"] for g in groups] == ["value", "route and origin", "risk rules"]
    assert [r["feature"] for r in groups[0]["reasons"]] == ["a", "c"]
    assert groups[1]["contribution"] == pytest.approx(0.2)


@pytest.mark.parametrize(
    ("strength", "below", "blend", "hint"),
    [
        ({"goods": 0.8, "value": 1.5}, False, False, "mislabel"),
        ({"value": 1.2}, True, False, "undervaluation"),
        ({"value": 1.2, "goods": 0.3}, True, False, "undervaluation;mislabel"),
        ({"weight": 0.9, "goods": 0.2}, False, False, "concealment;mislabel"),
        ({"licence": 2.0}, False, False, "no_license"),
        ({"route": 0.7, "parties": 1.1}, False, False, "shell;routing"),
        ({"value": 0.9}, False, True, "blending"),
        ({"record": 3.0}, False, False, ""),
        ({"route": 0.01}, False, False, ""),
        ({"licence": 1.0, "route": 0.9, "parties": 0.8, "weight": 0.7}, False, False, "no_license;routing"),
    ],
)
def test_typology_hints_for_typical_evidence(strength, below, blend, hint):
    from models.explain import hint_typologies

    out = hint_typologies(pd.DataFrame([strength]), np.array([below]), np.array([blend]))
    assert out.iloc[0] == hint
    assert len(out.iloc[0]) <= 32  # fits the case store's column


def test_reasons_give_a_hint_from_the_evidence_shown_only():
    feats = [
        Feature(
            "value_per_kg_log_ratio_to_code",
            "hs_mismatch",
            "Value per kg vs usual.",
            "{value_per_kg:.2f} USD/kg",
        ),
        HOPS,
        Feature(
            "license_missing", "license", "No license.", "no license for {hs_code}", show_when="positive"
        ),
    ]
    names = [f.name for f in feats]
    matrix = pd.DataFrame([[2.5, 0.0, 1.0], [-2.0, 3.0, np.nan]], columns=names)
    context = matrix.assign(value_per_kg=[41.0, 0.02], hs_code="2846900010", route_path="CNSHA -> NLRTM")
    phi = np.array([[1.5, 0.4, 0.9, -2.0], [1.2, 0.6, 0.8, -2.0]])
    out = reasons(phi, matrix, context, feats, top_k=3, min_reasons=1)
    # item 0: value above usual + licence; the route flag is 0 (shipped direct): not evidence
    assert out["typology_hint"].iloc[0] == "mislabel;no_license"
    # item 1: value below usual + 3 hops; the licence feature is missing: not evidence
    assert out["typology_hint"].iloc[1] == "undervaluation;routing"
    texts = [r["text"] for r in out["reasons"].iloc[1]]
    assert not any(RAW_FALLBACK.search(t) for t in texts)


# ---------------------------------------------------------------- exploration picks
def test_exploration_picks_show_what_lowers_the_risk_too(fitted):
    booster, X = fitted
    X = X.head(30)
    phi = contributions(booster, X)
    explore = np.arange(30) % 3 == 0
    out = reasons(phi, X, X.copy(), catalogue(), top_k=5, exploration=explore)
    for i in range(30):
        items = out["reasons"].iloc[i]
        c = [r["contribution"] for r in items]
        assert c == sorted(c, reverse=True)
        negative = [r for r in items if r["contribution"] < 0]
        if explore[i]:
            assert out["note"].iloc[i] == EXPLORATION_NOTE
            assert len(negative) >= 1 and all(r["text"].startswith("lowers the risk: ") for r in negative)
            assert all(r["text"].startswith("raises the risk: ") for r in items if r["contribution"] > 0)
        else:
            assert out["note"].iloc[i] == ""
            if (phi[i, :-1] > 0).sum() >= 5:
                assert not negative


# ---------------------------------------------------------------- waterfall data
def test_waterfall_starts_at_the_base_value_and_ends_at_the_score(fitted):
    booster, X = fitted
    X = X.head(5)
    phi = contributions(booster, X)
    wf = waterfalls(phi, X, X.copy(), catalogue(), top=6)
    score = booster.inplace_predict(X)
    for i, w in enumerate(wf):
        assert w["unit"] == "log-odds"
        assert w["base"]["probability"] == pytest.approx(1 / (1 + np.exp(-phi[i, -1])), abs=1e-4)
        assert w["score"] == pytest.approx(float(score[i]), abs=1e-4)
        assert len(w["steps"]) == 6
        sizes = [abs(s["log_odds"]) for s in w["steps"]]
        assert sizes == sorted(sizes, reverse=True)
        assert w["steps"][0]["probability_before"] == w["base"]["probability"]
        assert w["rest"]["probability_after"] == pytest.approx(w["score"], abs=1e-4)
        total = sum(s["log_odds"] for s in w["steps"]) + w["rest"]["log_odds"] + w["base"]["log_odds"]
        assert total == pytest.approx(float(phi[i].sum()), abs=1e-3)
        assert all(s["text"] and s["text"] != s["feature"] for s in w["steps"])
        assert set(w["contributions"]) == set(X.columns) and w["bias"] == pytest.approx(phi[i, -1])


def test_a_closing_clause_on_an_empty_field_is_left_out():
    text = Feature(
        "description_suggests_controlled",
        "hs_mismatch",
        "Probability that the goods are controlled.",
        "description '{goods_description_short}' reads like controlled goods "
        "({description_suggests_controlled:.0%}): {predicted_heading_description}",
        show_when="notna",
    )
    r = _one(text, 0.83, goods_description_short="Oxit dysprosi", predicted_heading_description="")
    assert r["text"] == "description 'Oxit dysprosi' reads like controlled goods (83%)"
    r = _one(text, 0.83, goods_description_short=None, predicted_heading_description="")
    assert r["text"] == "probability that the goods are controlled: 0.83"  # main field gone: value said
