"""Describing only the target rows: the same values as describing every row, for less work.

Families compute per-row values for the rows marked ``_is_target`` only and use every row as
history; the fast paths of the point-in-time primitives must agree with the plain ones.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from data.reference import hs_profiles, ports
from features import base, build
from features.base import (
    FamilyResult,
    Feature,
    Rows,
    as_of_monthly_stats,
    as_of_sum,
    as_of_sums_of,
    match_positions,
)
from features.build import build_features, combine, fit_state, make_context
from synth import generate_world

TABLES = ("companies", "ownership", "officers", "watchlist", "licenses", "inspections")


# ---------------------------------------------------------------- the builder, end to end
@pytest.fixture(scope="module")
def world_and_state():
    w = generate_world(seed=3, days=40, rows_per_day=150)
    tables = {name: getattr(w, name) for name in TABLES}
    tables["declarations"] = w.declarations
    decl = combine(None, w.declarations)
    ctx = make_context(tables, decl, hs_profiles(), ports())
    return w, tables, fit_state(decl, ctx, np.ones(len(decl), dtype=bool))


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Categorical context columns as plain objects (their category lists depend on the rows)."""
    return frame.apply(lambda c: c.astype(object) if isinstance(c.dtype, pd.CategoricalDtype) else c)


@pytest.mark.slow
@pytest.mark.parametrize("share", [0.03, 0.5])
def test_some_targets_give_exactly_their_rows_of_all_targets(world_and_state, share):
    w, tables, state = world_and_state
    every = combine(None, w.declarations)
    ctx = make_context(tables, every, hs_profiles(), ports(), state=state)
    full = build_features(every, ctx)
    rng = np.random.default_rng(1)
    some = every.assign(_is_target=rng.random(len(every)) < share)
    part = build_features(some, make_context(tables, some, hs_profiles(), ports(), state=state))
    keep = some["_is_target"].to_numpy()
    assert part.declaration_ids.tolist() == full.declaration_ids[keep].tolist()
    pd.testing.assert_frame_equal(part.matrix, full.matrix[keep].reset_index(drop=True), check_exact=True)
    pd.testing.assert_frame_equal(
        _plain(part.context), _plain(full.context[keep].reset_index(drop=True)), check_exact=True
    )
    assert part.missing == full.missing


@pytest.mark.slow
def test_a_manifest_against_history_is_described_as_if_every_row_were(world_and_state):
    w, tables, state = world_and_state
    decl = combine(w.declarations, w.manifest)
    fs = build_features(decl, make_context(tables, decl, hs_profiles(), ports(), state=state))
    assert fs.declaration_ids.tolist() == decl.loc[decl["_is_target"], "declaration_id"].tolist()
    every = decl.drop(columns="_is_target")
    full = build_features(every, make_context(tables, every, hs_profiles(), ports(), state=state))
    keep = decl["_is_target"].to_numpy()
    pd.testing.assert_frame_equal(fs.matrix, full.matrix[keep].reset_index(drop=True), check_exact=True)


def _family(features: pd.DataFrame, context: pd.DataFrame) -> SimpleNamespace:
    return SimpleNamespace(
        FAMILY="toy",
        FEATURES=[Feature("toy_value", "toy", "A toy value.", "{toy_value}")],
        compute=lambda decl, ctx: FamilyResult(features, context),
    )


def test_builder_accepts_every_row_or_only_the_target_rows(monkeypatch):
    decl = pd.DataFrame(
        {"declaration_id": ["A", "B", "C"], "_is_target": [False, True, True]}, index=[10, 11, 12]
    )
    every = _family(
        pd.DataFrame({"toy_value": [1.0, 2.0, 3.0]}, index=decl.index),
        pd.DataFrame({"toy_note": ["a", "b", "c"]}, index=decl.index),
    )
    targets = _family(
        pd.DataFrame({"toy_value": [2.0, 3.0]}, index=[11, 12]),
        pd.DataFrame({"toy_note": ["b", "c"]}, index=[11, 12]),
    )
    for family in (every, targets):
        monkeypatch.setattr(build, "FAMILIES", (family,))
        fs = build_features(decl, base.FeatureContext())
        assert fs.declaration_ids.tolist() == ["B", "C"]
        assert fs.matrix["toy_value"].tolist() == [2.0, 3.0]
        assert fs.context["toy_note"].tolist() == ["b", "c"]
    wrong = _family(pd.DataFrame({"toy_value": [1.0]}, index=[10]), pd.DataFrame())
    monkeypatch.setattr(build, "FAMILIES", (wrong,))
    with pytest.raises(ValueError, match="neither every row"):
        build_features(decl, base.FeatureContext())


# ---------------------------------------------------------------- primitives, fast paths
def _random_rows(rng, n: int, sorted_times: bool, keys: int = 30) -> pd.DataFrame:
    seconds = rng.integers(0, 40 * 86400, n)
    at = pd.Timestamp("2024-01-01") + pd.to_timedelta(np.sort(seconds) if sorted_times else seconds, unit="s")
    at = at.floor("h") if rng.random() < 0.5 else at  # many exact ties
    return pd.DataFrame(
        {
            "declared_at": at,
            "_is_target": rng.random(n) < 0.6,
            "key": rng.integers(-1, keys, n),
            "value": rng.normal(size=n),
        }
    )


@pytest.mark.parametrize("sorted_times", [True, False])
def test_earlier_rows_of_the_same_key_match_the_as_of_sums(sorted_times):
    rng = np.random.default_rng(7)
    for _ in range(20):
        frame = _random_rows(rng, int(rng.integers(1, 400)), sorted_times)
        rows = Rows(frame)
        key = frame["key"].to_numpy()
        value = np.where(rng.random(len(frame)) < 0.1, np.nan, frame["value"].to_numpy())
        whole = np.round(value * 3)
        got = rows.earlier(key, [None, value, whole])
        t = rows.times()
        want = as_of_sums_of(rows.at(t), rows.at(key), t, key, [None, value, whole])
        for g, w in zip(got, want, strict=True):
            np.testing.assert_array_equal(g, w)
        # and the plain as_of_sum, row by row
        target = frame[frame["_is_target"]]
        plain = as_of_sum(
            target["declared_at"],
            pd.Series(target["key"]).where(target["key"] >= 0),
            frame["declared_at"],
            pd.Series(key).where(key >= 0),
            whole,
        )
        np.testing.assert_array_equal(got[2], plain)


def test_as_of_sum_is_exact_to_the_nanosecond_and_whatever_the_key_count():
    start = pd.Timestamp("2024-01-01")
    events = pd.Series(start + pd.to_timedelta([0, 1, 2], unit="ns"))
    got = as_of_sum(
        pd.Series([start + pd.Timedelta(1, "ns")] * 2),
        pd.Series(["A", "B"]),
        events,
        pd.Series(["A", "A", "B"]),
    )
    np.testing.assert_array_equal(got, [1.0, 0.0])
    # too many keys for one integer with nanosecond times: the general sort is used
    rng = np.random.default_rng(0)
    t = pd.Series(start + pd.to_timedelta(rng.integers(0, 10**16, 3000), unit="ns"))
    k = pd.Series(rng.integers(0, 500, 3000).astype(str))
    got = as_of_sum(t[:300], k[:300], t, k)
    want = [((k == kq) & (t < tq)).sum() for tq, kq in zip(t[:300], k[:300], strict=True)]
    np.testing.assert_array_equal(got, want)


def test_monthly_stats_for_some_rows_are_those_rows_of_all():
    rng = np.random.default_rng(2)
    n = 500
    time = pd.Series(pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 200, n), "D"))
    group = pd.Series(rng.integers(0, 5, n).astype(str)).where(rng.random(n) > 0.05)
    values = pd.Series(rng.normal(size=n)).where(rng.random(n) > 0.05)
    stats = ("median", "q25", "q75")
    every = as_of_monthly_stats(values, group, time, stats)
    some = rng.random(n) < 0.2
    pd.testing.assert_frame_equal(
        as_of_monthly_stats(values, group, time, stats, queries=some), every[some], check_exact=True
    )


def test_match_positions_is_an_inner_join():
    left = pd.Series(["a", "b", None, "a", "z"])
    right = pd.Series(["b", "a", "a", None, "c"], dtype="str")
    i, j = match_positions(left, right)
    want = (
        pd.DataFrame({"k": left, "i": range(5)})
        .dropna()
        .merge(pd.DataFrame({"k": right, "j": range(5)}).dropna(), on="k")
    )
    assert sorted(zip(i.tolist(), j.tolist(), strict=True)) == sorted(zip(want["i"], want["j"], strict=True))


def test_combine_orders_by_time_then_id_with_missing_times_last():
    t = pd.to_datetime(["2024-01-02", "2024-01-01", None, "2024-01-01", "2024-01-01"])
    history = pd.DataFrame({"declaration_id": ["H2", "H1", "H0", "Z9", "T1"], "declared_at": t})
    targets = pd.DataFrame(
        {"declaration_id": ["T1", "A0"], "declared_at": pd.to_datetime(["2024-01-03", "2024-01-01"])}
    )
    decl = combine(history, targets)
    assert decl["declaration_id"].tolist() == ["A0", "H1", "Z9", "H2", "T1", "H0"]
    assert decl["_is_target"].tolist() == [True, False, False, False, True, False]
    assert decl.index.equals(pd.RangeIndex(6))


def test_consignee_codes_are_the_consignee_keys():
    from features.behaviour import _consignee_codes, consignee_key

    decl = pd.DataFrame(
        {
            "consignee_name": ["Foo Co., Ltd", "FOO COMPANY LIMITED", None, "Bar GmbH", None, "Baz"],
            "consignee_id": [None, None, None, "C1", "C1", "name:baz"],
        }
    )
    for frame in (decl, decl.drop(columns="consignee_id")):
        got = _consignee_codes(Rows(frame))
        got = pd.factorize(pd.Series(got).where(got >= 0))[0]  # numbered by first appearance
        np.testing.assert_array_equal(got, pd.factorize(consignee_key(frame))[0])
