"""Backtest logic on tiny frames: selection within capacity, the strategies' exploration picks,
the bandit over shares, what inspecting reveals, and the weekly metrics."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from models.backtest import (
    Bandit,
    ShareBandit,
    drift_share,
    pick_diverse_uncertain,
    pick_random,
    pick_uncertain,
    revealable_outcomes,
    select_day,
    select_week,
    summary,
    week_starts,
)
from models.select import Capacity


def _day(n=200, seed=0):
    rng = np.random.default_rng(seed)
    scores = rng.random(n)
    ids = np.array([f"D{i:04d}" for i in range(n)])
    matrix = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    return scores, ids, matrix


@pytest.mark.parametrize("share", [0.0, 0.1, 0.5, 1.0])
@pytest.mark.parametrize("picker", [None, pick_random, pick_uncertain, pick_diverse_uncertain])
def test_select_day_stays_within_both_capacities(share, picker):
    scores, ids, matrix = _day()
    rules = np.full(len(scores), "", dtype=object)
    rules[:12] = "red"  # more red rule hits than red capacity (4)
    rules[12:20] = "yellow"
    cap = Capacity(red_rate=0.02, yellow_rate=0.05)
    channel, by = select_day(scores, ids, rules, cap, share, picker, matrix, np.random.default_rng(0))
    assert (channel == "red").sum() == 4
    assert (channel == "yellow").sum() == 10
    assert set(by[channel == "green"]) == {""}


def test_select_day_rule_hits_first_then_exploration_then_top_scores():
    scores, ids, matrix = _day(n=500)
    rules = np.full(len(scores), "", dtype=object)
    rules[[7, 9]] = "red"
    cap = Capacity(red_rate=0.04, yellow_rate=0.0)  # 20 red: 2 rules, 2 explored (10%), 16 top scores
    channel, by = select_day(scores, ids, rules, cap, 0.10, pick_random, matrix, np.random.default_rng(1))
    assert set(np.flatnonzero(by == "rule")) == {7, 9}
    assert (by == "exploration").sum() == 2
    model = np.flatnonzero(by == "model")
    assert len(model) == 16
    best_other = np.sort(np.delete(scores, [7, 9]))[::-1][:16]
    assert np.allclose(np.sort(scores[model])[::-1], best_other)
    explored = np.flatnonzero(by == "exploration")
    assert scores[explored].max() < scores[model].min()  # never what the top scores take anyway


def test_exploit_takes_only_top_scores():
    scores, ids, matrix = _day()
    rules = np.full(len(scores), "", dtype=object)
    channel, by = select_day(
        scores, ids, rules, Capacity(0.05, 0.0), 0.3, None, matrix, np.random.default_rng(0)
    )
    assert set(np.flatnonzero(channel == "red")) == set(np.argsort(-scores)[:10])
    assert "exploration" not in by


def test_uncertain_picks_closest_to_the_boundary():
    pool = np.arange(6)
    scores = np.array([0.9, 0.52, 0.1, 0.47, 0.7, 0.01])
    assert set(pick_uncertain(pool, 2, scores, None, np.random.default_rng(0))) == {1, 3}


def test_diverse_uncertain_spreads_over_clusters():
    # two groups of uncertain items far apart in feature space: one pick from each
    n = 40
    scores = np.full(n, 0.5)
    scores[20:] = 0.45
    matrix = pd.DataFrame({"x": np.r_[np.zeros(20), np.full(20, 100.0)], "_declared_value_usd": 1000.0})
    picked = pick_diverse_uncertain(np.arange(n), 2, scores, matrix, np.random.default_rng(0), 20)
    assert len(picked) == 2
    assert {int(p >= 20) for p in picked} == {0, 1}


def test_select_week_uses_each_days_own_capacity():
    n = 300
    context = pd.DataFrame(
        {
            "declared_at": pd.to_datetime("2026-01-05")
            + pd.to_timedelta(np.repeat([0, 1, 2], 100), unit="D"),
            "declaration_id": [f"D{i}" for i in range(n)],
        }
    )
    scores = np.random.default_rng(3).random(n)
    sel = select_week(
        scores,
        context,
        pd.DataFrame({"a": scores}),
        np.full(n, ""),
        Capacity(0.03, 0.02),
        0.34,
        pick_random,
        "k",
    )
    per_day = pd.crosstab(context["declared_at"], sel.channel)
    assert (per_day["red"] == 3).all() and (per_day["yellow"] == 2).all()
    assert (sel.selected_by == "exploration").sum() == 3  # round(0.34 * 3) = 1 a day


def test_bandit_moves_toward_the_arm_that_pays():
    bandit = ShareBandit(Bandit(arms=(0.0, 0.2), discount=1.0, pseudo_count=20, drift_gain=0.0))
    rng = np.random.default_rng(0)
    for _ in range(30):
        share = bandit.choose(0.0, rng)
        bandit.update(0.9 if share == 0.2 else 0.1)
    assert bandit.alpha[1] > bandit.alpha[0]
    picks = [bandit.choose(0.0, rng) for _ in range(50)]
    assert np.mean(np.array(picks) == 0.2) > 0.9


def test_bandit_discount_forgets_and_drift_raises_the_share():
    bandit = ShareBandit(Bandit(arms=(0.0,), discount=0.5, pseudo_count=10, drift_gain=0.5, max_share=0.3))
    bandit.choose(0.0, np.random.default_rng(0))
    bandit.update(1.0)
    assert bandit.alpha[0] == pytest.approx(11.0)
    bandit.update(0.0)  # the same arm again: its evidence halves, then a miss
    assert bandit.alpha[0] == pytest.approx(1 + 10 * 0.5)
    assert bandit.choose(0.2, np.random.default_rng(0)) == pytest.approx(0.1)
    assert bandit.choose(5.0, np.random.default_rng(0)) == pytest.approx(0.3)  # capped at max_share


def test_bandit_reward_counts_new_patterns():
    bandit = ShareBandit(Bandit(novelty_weight=2.0))
    assert bandit.reward(found=10, new_patterns=5, selected=100) == pytest.approx(0.2)


def _period():
    decl = pd.DataFrame(
        {
            "declaration_id": ["A", "B", "C", "D"],
            "declared_at": pd.to_datetime(["2026-01-01", "2026-02-02", "2026-02-03", "2026-02-04"]),
            "exporter_id": ["E1", "E2", "E3", "E4"],
        }
    )
    return decl, pd.Timestamp("2026-02-01")


def test_truth_reveals_what_an_inspection_would_find():
    decl, start = _period()
    truth = pd.DataFrame(
        {
            "declaration_id": ["A", "B", "C"],
            "is_violation": [True, True, False],
            "found_if_inspected": [True, False, False],  # B's violation is missed by inspectors
            "typology": ["mislabel", "routing", ""],
            "secondary_typology": ["", "shell", ""],
            "true_value_usd": [1.0, 2.0, 3.0],
        }
    )
    out = revealable_outcomes(decl, truth, None, start).set_index("declaration_id")
    assert list(out.index) == ["B", "C"]  # A is before the replay, D is not in the truth
    assert out.loc["B", "y"] == 0 and out.loc["B", "violation"] == 1
    assert out.loc["B", "typology"] == "routing;shell"


def test_without_truth_only_actual_inspections_reveal():
    decl, start = _period()
    inspections = pd.DataFrame(
        {"declaration_id": ["C"], "outcome": ["violation"], "typology": ["shell"], "seized_value_usd": [5.0]}
    )
    out = revealable_outcomes(decl, None, inspections, start)
    assert list(out["declaration_id"]) == ["C"] and out["y"].tolist() == [1.0]


def test_week_starts_end_with_the_last_day():
    t = pd.Series(pd.to_datetime(["2026-01-01 00:00", "2026-03-10 15:00"]))
    starts = week_starts(t, 3)
    assert starts[-1] + pd.Timedelta(days=7) == pd.Timestamp("2026-03-11")
    assert [s.day for s in starts] == [18, 25, 4]


def test_drift_share_sees_a_shifted_feature():
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"a": rng.normal(size=2000), "b": rng.normal(size=2000)})
    new = pd.DataFrame({"a": rng.normal(size=2000), "b": rng.normal(3, 1, size=2000)})
    assert drift_share(ref, new, 0.25) == 0.5
    assert drift_share(ref, ref, 0.25) == 0.0


def test_summary_totals_over_weeks():
    rows = pd.DataFrame(
        {
            "week": [1, 1, 2, 2],
            "strategy": ["exploit", "random"] * 2,
            "selected": [10] * 4,
            "revealed": [10] * 4,
            "violations_found": [4, 3, 2, 5],
            "week_violations": [8, 8, 12, 12],
            "recall": [0.5, 0.375, 2 / 12, 5 / 12],
            "revenue_share": [0.5, 0.4, 0.2, 0.6],
            "exploration_share": [0.0, 0.1, 0.0, 0.1],
            "new_patterns": [1, 2, 0, 1],
            "seconds": [1.0] * 4,
        }
    )
    table = summary(rows).set_index("strategy")
    assert table.loc["exploit", "recall"] == pytest.approx(6 / 20)
    assert table.loc["random", "found"] == 8
    assert table.loc["random", "last_week_recall"] == pytest.approx(5 / 12)


def _state_with(booster):
    from models.backtest import StrategyState

    X = pd.DataFrame({"a": [0.0, 1.0]})
    return StrategyState(
        "exploit", pd.DataFrame(), X, np.array([0.0, 1.0]), np.array(["A", "B"]), booster=booster
    )


def _engine(fitted: list, scores_of: dict):
    from models.engine import Engine
    from models.train import FitResult

    def fit(X, y, Xv, yv, params, rounds, early, weight_train=None):
        fitted.append(len(X))
        return FitResult(booster=f"model{len(fitted)}", best_iteration=rounds - 1, params=params)

    return Engine(fit=fit, predict=lambda booster, X, margin=False: scores_of[booster])


def test_weekly_retrain_replaces_the_model_at_once_without_a_gate():
    from models.backtest import ReplayConfig, _retrain

    fitted: list = []
    st = _state_with("model0")
    data = type("D", (), {"params": {}, "trees": 10})()
    _retrain(
        st,
        np.zeros(2),
        pd.DataFrame({"a": [0, 1]}),
        np.ones(2, bool),
        np.array([0.0, 1.0]),
        data,
        ReplayConfig(gate="none"),
        _engine(fitted, {}),
    )
    assert st.booster == "model1" and st.version == 1 and fitted == [2]


def test_shadow_gate_promotes_only_a_refit_that_ranked_the_week_at_least_as_well():
    from models.backtest import ReplayConfig, _retrain

    cfg = ReplayConfig(gate="shadow")
    data = type("D", (), {"params": {}, "trees": 10})()
    week = pd.DataFrame({"a": [0.0, 1.0, 2.0]})
    y = np.array([0.0, 1.0, 0.0])
    reveal = np.ones(3, bool)
    current = np.array([0.9, 0.1, 0.5])  # ranks the violation last
    fitted: list = []
    # the shadow ranks the violation first: it takes over
    st = _state_with("model0")
    st.shadow = "shadow"
    _retrain(st, current, week, reveal, y, data, cfg, _engine(fitted, {"shadow": np.array([0.1, 0.9, 0.2])}))
    assert st.booster == "shadow" and st.version == 1 and st.shadow == "model1"
    # the shadow ranks worse than the current model: the current one stays, the new refit waits
    st = _state_with("model0")
    st.shadow = "shadow"
    _retrain(st, y + 0.1, week, reveal, y, data, cfg, _engine(fitted, {"shadow": current}))
    assert st.booster == "model0" and st.version == 0 and st.shadow == "model2"
