"""Metrics at n% inspected, computed by hand on tiny examples; time split never mixes periods."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from data.errors import NotEnoughDataError
from models.drift import psi
from models.evaluate import ranking_metrics, rules_profile_score
from models.split import time_split


def test_precision_recall_revenue_at_rates():
    scores = np.arange(100, 0, -1) / 100.0  # item 0 ranks first
    y = np.zeros(100)
    y[[0, 1, 50]] = 1
    value = np.zeros(100)
    value[[0, 1, 50]] = [100.0, 300.0, 600.0]
    m = ranking_metrics(scores, y, value, rates=(2, 10))
    assert m["precision_at_2pct"] == 1.0  # top 2 items, both violations
    assert m["recall_at_2pct"] == pytest.approx(2 / 3)
    assert m["revenue_at_2pct"] == pytest.approx(0.4)  # 400 of 1000
    assert m["precision_at_10pct"] == pytest.approx(0.2)


def test_time_split_trains_on_the_past_only():
    t = pd.Series(pd.date_range("2026-01-01", periods=100, freq="D"))
    label = t + pd.Timedelta(days=3)
    s = time_split(t, label, validation_days=20)
    assert t[s.train].max() < s.cutoff <= t[s.valid].min()
    assert (label[s.train] < s.cutoff).all()  # outcomes known before the cut-off
    assert not (s.train & s.valid).any()


def test_time_split_refuses_an_empty_side():
    t = pd.Series(pd.date_range("2026-01-01", periods=5, freq="D"))
    with pytest.raises(NotEnoughDataError, match="split.validation_days, now 30"):
        time_split(t, t, validation_days=30)


def test_rules_profile_counts_hits():
    m = pd.DataFrame(
        {
            "exporter_watchlist_name_score": [95, 10, 0],
            "controlled_goods": [1, 0, 0],
            "value_per_kg_log_ratio_to_code": [0.0, 3.0, np.nan],
        }
    )
    assert rules_profile_score(m).tolist() == [2, 1, 0]


def test_psi_is_zero_for_same_and_large_for_shifted():
    rng = np.random.default_rng(0)
    a = pd.Series(rng.normal(size=5000))
    assert psi(a, a) < 1e-6
    assert psi(a, a + 2) > 1.0
