"""How scoring publishes the explanations: an exploration pick keeps what lowers its risk, a
waterfall gets the rule floor's raise as its last step, and the report draws it from the start
value through the reasons' text to the published score."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from models.scoring import AGAINST, MIN_REASONS, _with_rule_floor, lead_with_rules


def _reason(feature: str, contribution: float, prefix: str = "") -> dict:
    return {
        "feature": feature,
        "kind": "value",
        "text": f"{prefix}{feature} says so",
        "contribution": contribution,
    }


MODEL_REASONS = [
    _reason("a", 0.9, "raises the risk: "),
    _reason("b", 0.5, "raises the risk: "),
    _reason("c", 0.3, "raises the risk: "),
    _reason("d", 0.2, "raises the risk: "),
    _reason("e", 0.1, "raises the risk: "),
    _reason("f", 0.05, "raises the risk: "),
    _reason("g", -0.4, "lowers the risk: "),
    _reason("h", -0.6, "lowers the risk: "),
    _reason("i", -0.7, "lowers the risk: "),
]


def _publish(reason_lists, exploration, top_k=5):
    n = len(reason_lists)
    return lead_with_rules(
        reason_lists,
        np.full(n, "", dtype=object),
        np.full(n, "red", dtype=object),
        [],
        pd.DataFrame(index=range(n)),
        np.full(n, 0.1),
        np.full(n, 0.1),
        np.zeros(n),
        top_k,
        exploration=np.asarray(exploration),
    )


def test_an_exploration_pick_keeps_what_lowers_its_risk_after_what_raises_it():
    explored, targeted = _publish([MODEL_REASONS, MODEL_REASONS], [True, False])
    assert len(explored) == 5
    assert [r["feature"] for r in explored] == ["a", "b", "c", "g", "h"]
    assert sum(r["text"].startswith("lowers the risk: ") for r in explored) == AGAINST
    # a targeted pick shows only what raises its risk when it has enough of it
    assert [r["feature"] for r in targeted] == ["a", "b", "c", "d", "e"]


def test_an_exploration_pick_with_little_for_it_still_gets_the_minimum():
    few = [MODEL_REASONS[0], *MODEL_REASONS[6:]]
    (explored,) = _publish([few], [True])
    assert len(explored) >= MIN_REASONS
    assert [r["feature"] for r in explored] == ["a", "g", "h"]
    (none_up,) = _publish([MODEL_REASONS[6:]], [True])
    assert len(none_up) == MIN_REASONS and all(r["contribution"] < 0 for r in none_up)


def test_repeated_sentences_of_an_exploration_pick_are_merged():
    repeated = [_reason("a", 0.5), dict(_reason("a", 0.25), feature="a2"), _reason("g", -0.3)]
    (explored,) = _publish([repeated], [True])
    assert [r["feature"] for r in explored] == ["a", "g"]
    assert explored[0]["contribution"] == pytest.approx(0.75)


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def _waterfall(base: float, steps: list[tuple[str, float]], rest: float) -> dict:
    total = base + sum(v for _, v in steps) + rest
    return {
        "bias": base,
        "contributions": {"x": 1.0},
        "base": {"log_odds": base, "probability": round(_sigmoid(base), 4)},
        "steps": [{"feature": f"f{i}", "text": t, "log_odds": v} for i, (t, v) in enumerate(steps)],
        "rest": {"log_odds": rest},
        "score": round(_sigmoid(total), 6),
    }


def test_the_rule_floor_is_the_last_step_and_the_report_draws_the_published_score():
    from pipelines.report import score_chart

    steps = [
        ("value per kg far below the code's", 1.0),
        ("shipped direct", -0.3),
        ("value per kg far below the code's", 0.2),
    ]
    wf = _waterfall(-3.0, steps, 0.1)
    model_score = wf["score"]
    published = 0.7
    lift = math.log(published / (1 - published)) - math.log(model_score / (1 - model_score))
    floored = _with_rule_floor(wf, lift, published, "owned_by_listed;other_rule", "red")
    assert (
        floored["rule_floor"]["text"] == "hard rule owned_by_listed: score raised to the day's red threshold"
    )
    assert floored["rule_floor"]["probability_before"] == model_score
    assert floored["published"] == published and floored["contributions"]["rule floor"] == lift
    assert "rule_floor" not in wf and "rule floor" not in wf["contributions"]  # the input is untouched

    chart = score_chart(floored)
    labels = [b.full_label for b in chart.bars]
    assert labels == [
        "start: the model's average risk, before this declaration's evidence",
        "value per kg far below the code's",
        "shipped direct",
        "all other features together",
        "hard rule owned_by_listed: score raised to the day's red threshold",
        "risk score",
    ]
    assert chart.start == pytest.approx(_sigmoid(-3.0))
    assert chart.score == pytest.approx(published, abs=1e-6)
    assert chart.bars[-2].before == pytest.approx(model_score, abs=1e-4)
    # one sentence said by two features is one step with their sum
    assert chart.bars[1].after == pytest.approx(_sigmoid(-3.0 + 1.2), abs=1e-4)

    unfloored = _with_rule_floor(wf, 0.0, model_score, "", "yellow")
    assert "rule_floor" not in unfloored
    assert score_chart(unfloored).score == pytest.approx(model_score, abs=1e-6)
