"""A hard-rule hit publishes at least its channel's threshold of the day, leads its reasons
with the rule in words, and a rule that cannot fire for a missing table says so."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.scoring import lead_with_rules
from models.select import (
    Capacity,
    Condition,
    Rule,
    channel_thresholds,
    floor_scores,
    rule_warnings,
    rules_from_config,
    select,
)

LICENSE_RULE = Rule(
    "controlled_without_valid_license",
    "goods that need an export license fail the license check",
    "red",
    ((Condition("controlled_goods", "==", 1), Condition("license_check_failures", ">=", 1)),),
    needs=("licenses",),
    reason="{license_problem}",
)
OWNED = Rule(
    "owned_by_listed_entity", "one step from a listed entity", "yellow", ((Condition("x", "==", 1),),)
)


def _day(n: int = 1000, red_rules: int = 5, yellow_rules: int = 5, seed: int = 0):
    rng = np.random.default_rng(seed)
    scores = rng.random(n) * 0.5  # nothing scores high: the rule hits must be raised
    ids = pd.Series([f"D{i:05d}" for i in range(n)])
    channel = np.array(
        ["red"] * red_rules + ["yellow"] * yellow_rules + [""] * (n - red_rules - yellow_rules)
    )
    names = np.where(channel == "red", LICENSE_RULE.name, np.where(channel == "yellow", OWNED.name, ""))
    scores[: red_rules + yellow_rules] = 0.01
    sel = select(scores, ids, names, channel, Capacity(0.02, 0.05, 0.10), "2026-11-23")
    return scores, sel


def test_a_rule_hit_scores_at_least_its_channels_threshold_so_score_and_channel_agree():
    scores, sel = _day()
    published, floors = floor_scores(scores, sel, "channel_threshold")
    rule_red = (sel.selected_by == "rule") & (sel.channel == "red")
    rule_yellow = (sel.selected_by == "rule") & (sel.channel == "yellow")
    model_red = (sel.selected_by == "model") & (sel.channel == "red")
    model_yellow = (sel.selected_by == "model") & (sel.channel == "yellow")
    assert rule_red.sum() == 5 and rule_yellow.sum() == 5
    assert floors["red"] == scores[model_red].min()
    assert floors["yellow"] == scores[model_yellow].min()
    assert (published[rule_red] >= scores[model_red].min()).all()
    assert (published[rule_yellow] >= scores[model_yellow].min()).all()
    # every red rule hit now scores above every yellow and green item; yellow ones above green
    assert published[rule_red].min() >= published[sel.channel != "red"].max()
    assert published[rule_yellow].min() >= published[sel.channel == "green"].max()
    # nothing else moves
    assert (published[sel.selected_by != "rule"] == scores[sel.selected_by != "rule"]).all()


def test_when_rules_fill_red_the_threshold_is_the_best_score_left_below():
    scores, sel = _day(n=200, red_rules=10, yellow_rules=0)  # red capacity 4: rules fill it
    assert not ((sel.selected_by == "model") & (sel.channel == "red")).any()
    thresholds = channel_thresholds(scores, sel)
    assert thresholds["red"] == scores[sel.channel != "red"].max()


def test_a_fixed_floor_and_no_floor():
    scores, sel = _day()
    published, _ = floor_scores(scores, sel, 0.9)
    assert (published[sel.selected_by == "rule"] == 0.9).all()
    published, floors = floor_scores(scores, sel, "none")
    assert (published == scores).all() and np.isnan(floors["red"])


def test_the_reasons_of_a_rule_hit_lead_with_the_rule_in_words_and_say_the_sentence_once():
    sentence = "license L-0042 covers 2846 for consignee 'Kobe Magnetics' but this goes to 'Osaka Trading'"
    model_reasons = [
        [
            {"feature": "license_other_consignee", "text": sentence, "contribution": 0.8},
            {
                "feature": "value_per_kg_log_ratio_to_code",
                "text": "value per kg 3x the code's",
                "contribution": 0.4,
            },
            {"feature": "license_check_failures", "text": sentence, "contribution": 0.3},
            {"feature": "exporter_first_shipment", "text": "first shipment", "contribution": 0.1},
            {"feature": "route_circuity", "text": "lowers risk: direct route", "contribution": -0.2},
        ]
    ]
    context = pd.DataFrame({"license_problem": [sentence]})
    out = lead_with_rules(
        model_reasons,
        np.array([LICENSE_RULE.name]),
        np.array(["red"]),
        [LICENSE_RULE],
        context,
        np.array([0.2]),
        np.array([0.8]),
        np.array([np.log(4) - np.log(0.25)]),
        top_k=5,
    )[0]
    assert out[0]["feature"] == "rule:controlled_without_valid_license"
    assert out[0]["text"].startswith(
        "hard rule controlled_without_valid_license: "
        "goods that need an export license fail the license check; " + sentence
    )
    assert "model score 0.200 raised to the day's red threshold 0.800" in out[0]["text"]
    # the license sentence appears once: both flags' contributions joined the rule's raise
    assert sum(sentence in r["text"] for r in out) == 1
    assert out[0]["contribution"] == pytest.approx(np.log(16) + 0.8 + 0.3, abs=1e-3)
    assert [r["feature"] for r in out[1:]] == ["value_per_kg_log_ratio_to_code", "exporter_first_shipment"]
    assert len(out) >= 3


def test_a_rule_without_its_table_warns_naming_the_table():
    frame = pd.DataFrame({"controlled_goods": [1.0, 0.0], "license_check_failures": [np.nan, np.nan]})
    warnings = rule_warnings([LICENSE_RULE], frame, {"declarations": frame, "licenses": None})
    assert len(warnings) == 1
    assert "controlled_without_valid_license" in warnings[0] and "licenses.csv" in warnings[0]
    assert rule_warnings([LICENSE_RULE], frame, {"licenses": pd.DataFrame({"license_id": ["L"]})}) == []
    empty = Rule("r", "d", "red", ((Condition("watch_score", ">=", 97),),))
    warned = rule_warnings([empty], pd.DataFrame({"watch_score": [np.nan]}), {})
    assert warned and "watch_score" in warned[0]


def test_rules_read_needs_and_reason_from_the_config_form():
    (rule,) = rules_from_config(
        [
            {
                "name": "n",
                "description": "d",
                "channel": "red",
                "needs": ["licenses"],
                "reason": "{license_problem}",
                "any_of": [[{"column": "c", "op": ">=", "value": 1}]],
            }
        ]
    )
    assert rule.needs == ("licenses",) and rule.reason == "{license_problem}" and rule.columns == ["c"]
