"""The one-pass as-of sums give the same exact sums as the sorted cumulative-sum path."""

from __future__ import annotations

import numpy as np
import pandas as pd

from features import base
from features.base import Rows, as_of_sums_of, sums_before_sorted


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(0, 50, n)) * 3_600_000_000_000  # many rows share a time
    return pd.DataFrame(
        {
            "declared_at": pd.to_datetime(t),
            "exporter_id": rng.choice(["E1", "E2", "E3", None], n),
            "_is_target": rng.random(n) < 0.7,
        }
    )


def test_sums_before_sorted_equals_as_of_sums_of():
    rng = np.random.default_rng(1)
    et = np.sort(rng.integers(0, 40, 500))
    qt = np.sort(rng.integers(0, 45, 300))
    ek, qk = rng.integers(-1, 6, 500), rng.integers(-1, 6, 300)
    values = [rng.integers(-50, 50, 500).astype("float64"), None]
    merged = sums_before_sorted(qt, qk, et, ek, values)
    expected = as_of_sums_of(qt, qk, et, ek, values, whole=True)
    for got, want in zip(merged, expected, strict=True):
        np.testing.assert_array_equal(got, want)
    # the count of the first query's key strictly before its time, by hand
    mine = (ek == qk[-1]) & (et < qt[-1]) if qk[-1] >= 0 else np.zeros(500, bool)
    assert merged[1][-1] == mine.sum()


def test_sums_before_sorted_declines_unsorted_times():
    assert sums_before_sorted(np.array([2, 1]), np.zeros(2), np.array([0, 1]), np.zeros(2), [None]) is None


def test_rows_earlier_one_pass_equals_sorted_path(monkeypatch):
    decl = _frame(2_000, 3)
    rng = np.random.default_rng(4)
    whole = rng.integers(0, 1000, len(decl)).astype("float64")
    codes = Rows(decl).codes("exporter_id")
    fast = Rows(decl).earlier(codes, [None, whole], whole=True)
    monkeypatch.setattr(base, "_sums_before", None)
    slow = Rows(decl).earlier(codes, [None, whole], whole=True)
    for a, b in zip(fast, slow, strict=True):
        np.testing.assert_array_equal(a, b)
    assert fast[0].max() > 0  # there was history to count
