"""Fair validation under an old inspection regime: a simulated administration where every declaration's
truth is known, but only rule hits and a small random quota were inspected."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score

from models.evaluate import ranking_metrics, top_n_mask
from models.fairness import (
    RANDOM_PICKS,
    bootstrap_interval,
    inspection_propensity,
    ipw_weights,
    paired_bootstrap,
    pr_auc_on,
    promotion_gate,
    weighted_metrics,
)
from models.split import rolling_splits

RATES = (1, 2, 5, 10)


@pytest.fixture(scope="module")
def world():
    """60,000 declarations; violations depend on two signals; the old regime inspects every rule hit
    (signal a high) and a random 3% of all traffic."""
    rng = np.random.default_rng(7)
    n = 60_000
    a, b, c = rng.normal(size=n), rng.normal(size=n), rng.normal(size=n)
    y = (rng.random(n) < 1 / (1 + np.exp(-(-4.2 + 1.3 * a + 1.5 * b)))).astype(float)
    rule = a > 1.6
    random_pick = rng.random(n) < 0.03  # the quota draws from all traffic, rule hits included
    inspected = rule | random_pick
    selected_by = np.where(random_pick, "random", np.where(rule, "rule", ""))
    good = 1.3 * a + 1.5 * b + rng.normal(scale=0.8, size=n)  # a model that learned both signals
    value = rng.lognormal(8, 1, n)
    matrix = pd.DataFrame({"signal_a": a, "signal_b": b, "noise": c})
    return {
        "y": y,
        "inspected": inspected,
        "selected_by": selected_by,
        "good": good,
        "a": a,
        "b": b,
        "value": value,
        "matrix": matrix,
        "rng": rng,
    }


def _fair(world, scores, propensity):
    lab = np.flatnonzero(world["inspected"])
    w = ipw_weights(propensity[lab], 50)
    return weighted_metrics(scores, lab, world["y"][lab], world["value"][lab], w, RATES), lab, w


@pytest.mark.slow
@pytest.mark.parametrize("knows_selected_by", [True, False])
def test_fair_metric_is_within_its_interval_of_the_truth_and_labelled_is_optimistic(world, knows_selected_by):
    sel = pd.Series(world["selected_by"]) if knows_selected_by else None
    prop = inspection_propensity(world["matrix"], world["inspected"], sel)
    assert prop.method == ("selected_by" if knows_selected_by else "estimated")
    truth = ranking_metrics(world["good"], world["y"], world["value"], RATES)
    fair, lab, w = _fair(world, world["good"], prop.p)
    low, high, _ = bootstrap_interval(pr_auc_on(world["y"][lab], world["good"][lab], w), len(lab), 200)
    assert low <= truth["pr_auc"] <= high, (low, truth["pr_auc"], high)
    # n% of all declarations: the weighted precision and recall at 5% land near the truth's
    assert abs(fair["precision_at_5pct"] - truth["precision_at_5pct"]) < 0.08
    assert abs(fair["recall_at_5pct"] - truth["recall_at_5pct"]) < 0.08
    # the labelled-only figure, graded on the old regime's picks, is optimistic
    labelled = ranking_metrics(world["good"][lab], world["y"][lab], world["value"][lab], RATES)
    assert labelled["pr_auc"] > high
    assert labelled["precision_at_5pct"] > truth["precision_at_5pct"] + 0.15


@pytest.mark.slow
def test_random_quota_metric_covers_the_truth(world):
    rnd = np.isin(world["selected_by"], RANDOM_PICKS)
    truth = average_precision_score(world["y"], world["good"])
    low, high, _ = bootstrap_interval(pr_auc_on(world["y"][rnd], world["good"][rnd]), int(rnd.sum()), 200)
    assert low <= truth <= high


@pytest.mark.slow
def test_estimated_propensity_separates_rule_hits_from_the_rest(world):
    prop = inspection_propensity(world["matrix"], world["inspected"], None)
    rule = world["a"] > 1.6
    assert np.median(prop.p[rule]) > 0.8
    assert np.median(prop.p[~rule]) < 0.1
    assert "estimated" in prop.description and "no selected_by" in prop.description


@pytest.mark.slow
def test_challenger_better_only_on_the_biased_labelled_set_is_not_promoted(world):
    """The challenger ranks rule hits perfectly and ignores everything else: it wins on the labelled
    items (mostly rule hits) and loses on traffic."""
    y, lab = world["y"], np.flatnonzero(world["inspected"])
    champion = world["good"]
    rule = world["a"] > 1.6
    noise = world["rng"].normal(scale=3.0, size=len(y))
    challenger = np.where(rule, 10 + 5 * y + world["rng"].normal(scale=0.1, size=len(y)), noise)
    labelled_ch = average_precision_score(y[lab], challenger[lab])
    labelled_champ = average_precision_score(y[lab], champion[lab])
    assert labelled_ch > labelled_champ  # the biased view prefers the challenger
    prop = inspection_propensity(world["matrix"], world["inspected"], pd.Series(world["selected_by"]))
    w = ipw_weights(prop.p[lab], 50)
    mine = average_precision_score(y[lab], challenger[lab], sample_weight=w)
    theirs = average_precision_score(y[lab], champion[lab], sample_weight=w)
    _, sd = paired_bootstrap(
        pr_auc_on(y[lab], challenger[lab], w), pr_auc_on(y[lab], champion[lab], w), len(lab)
    )
    promote, needed = promotion_gate(mine, theirs, sd, 0.0, 1.0)
    assert not promote and needed > 0
    # and the same gate promotes a challenger that is really better on traffic
    better = 1.3 * world["a"] + 1.5 * world["b"]  # the champion without its noise
    mine_b = average_precision_score(y[lab], better[lab], sample_weight=w)
    _, sd_b = paired_bootstrap(
        pr_auc_on(y[lab], better[lab], w), pr_auc_on(y[lab], champion[lab], w), len(lab)
    )
    assert promotion_gate(mine_b, theirs, sd_b, 0.0, 1.0)[0]


def test_a_gain_inside_the_noise_is_no_gain():
    assert not promotion_gate(0.80, 0.79, 0.02, 0.0, 1.0)[0]
    assert promotion_gate(0.85, 0.79, 0.02, 0.0, 1.0)[0]
    assert not promotion_gate(0.85, 0.79, 0.02, 0.1, 1.0)[0]  # min_improvement still applies


def test_weighted_rates_count_all_declarations_not_only_labelled():
    scores = np.arange(100, dtype=float)  # 100 declarations, highest last
    lab = np.array([99, 98, 50, 10])  # four inspected
    y = np.array([1.0, 0.0, 1.0, 0.0])
    m = weighted_metrics(scores, lab, y, None, np.ones(4), (2, 5))
    assert top_n_mask(scores, 2).sum() == 2  # 2% of 100 declarations = 2, both labelled
    assert m["precision_at_2pct"] == 0.5 and m["recall_at_2pct"] == 0.5
    assert m["n_items"] == 100 and m["n_labelled"] == 4


def test_rolling_folds_validate_each_window_on_the_past():
    t = pd.Series(pd.date_range("2026-01-01", periods=120, freq="D")).repeat(10).reset_index(drop=True)
    folds = rolling_splits(t, t + pd.Timedelta(days=2), validation_days=20, folds=3)
    assert len(folds) == 3
    for f in folds:
        assert t[f.train].max() < f.cutoff <= t[f.valid].min()
        assert (t[f.train] + pd.Timedelta(days=2) < f.cutoff).all()  # outcomes known before the cut-off
    assert folds[0].end == folds[1].cutoff and folds[-1].end is None
    assert t[folds[-1].valid].max() == t.max()


def test_truth_evaluation_leaves_out_rows_the_truth_does_not_cover():
    """A scored day appended to the history without its truth is left out, not counted as clean."""
    import xgboost as xgb

    from features.build import FeatureSet, feature_names
    from models.evaluate import generic_matrix
    from models.split import TimeSplit
    from models.training import TrainingData, evaluate_on_truth

    rng = np.random.default_rng(3)
    n = 400
    ids = pd.Series([f"D{i:04d}" for i in range(n)])
    t = pd.Series(pd.date_range("2026-01-01", periods=n, freq="h"))
    matrix = pd.DataFrame(rng.random((n, len(feature_names()))), columns=feature_names())
    context = pd.DataFrame(
        {"declared_at": t, "declared_value_usd": 1000.0, "gross_weight_kg": 10.0, "hs_code": "2846900000"}
    )
    y = (matrix.iloc[:, 0] > 0.9).astype(float).to_numpy()
    booster = xgb.train({"max_depth": 2}, xgb.DMatrix(matrix, label=y), 5)
    generic = xgb.train({"max_depth": 2}, xgb.DMatrix(generic_matrix(matrix, context), label=y), 5)
    split = TimeSplit(np.ones(1, bool), np.ones(1, bool), t.iloc[200])
    data = TrainingData(FeatureSet(ids, matrix, context), pd.DataFrame(), split, t.iloc[:1])
    covered = ids.iloc[:300]  # the last 100 rows (an appended day) have no truth
    truth = pd.DataFrame({"declaration_id": covered, "is_violation": y[:300], "true_value_usd": 1.0})
    metrics, uncovered = evaluate_on_truth(data, booster, generic, truth, [5])
    assert uncovered == 100
    assert metrics["model"]["n_items"] == 100  # rows 200..299: the window's rows with a truth
    assert metrics["model"]["n_violations"] == y[200:300].sum()
