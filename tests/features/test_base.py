"""Point-in-time primitives on tiny hand-built event lists with hand-computed answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from features.base import as_of_label_rate, as_of_monthly_stats, as_of_sum, as_of_window_sum


def ts(*values: str) -> pd.Series:
    return pd.Series(pd.to_datetime(list(values), format="ISO8601"))


# ---------------------------------------------------------------- as_of_sum
# Events: (time, key, value). The None-keyed event belongs to no key.
EVENTS = pd.DataFrame(
    {
        "t": pd.to_datetime(
            ["2024-01-01", "2024-01-02", "2024-01-02", "2024-01-03", "2024-01-01", "2024-01-02"]
        ),
        "k": ["A", "A", "B", "A", None, "A"],
        "v": [1.0, 2.0, 5.0, 4.0, 100.0, 10.0],
    }
)


def test_as_of_sum_same_key_strictly_before():
    q_t = ts("2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04", "2024-01-04", "2024-01-04")
    q_k = pd.Series(["A", "A", "A", "A", "B", "C"])
    got = as_of_sum(q_t, q_k, EVENTS["t"], EVENTS["k"], EVENTS["v"])
    # A before Jan 1: nothing; before Jan 2: 1; before Jan 3: 1 + 2 + 10 (two events on Jan 2);
    # before Jan 4: all four A events; B: 5; C: never seen
    np.testing.assert_array_equal(got, [0.0, 1.0, 13.0, 17.0, 5.0, 0.0])


def test_as_of_sum_counts_when_no_value_and_excludes_ties():
    q_t = ts("2024-01-02", "2024-01-02 00:00:01", "2024-01-03")
    q_k = pd.Series(["A", "A", "A"])
    got = as_of_sum(q_t, q_k, EVENTS["t"], EVENTS["k"])
    # at exactly Jan 2 00:00 the two Jan 2 events are ties: not before, not counted
    np.testing.assert_array_equal(got, [1.0, 3.0, 3.0])


def test_as_of_sum_without_key_counts_every_event():
    q_t = ts("2024-01-01", "2024-01-02", "2024-01-05")
    got = as_of_sum(q_t, None, EVENTS["t"], None, EVENTS["v"])
    # before Jan 2: 1 + 100 (the keyless event counts when no key is asked for)
    np.testing.assert_array_equal(got, [0.0, 101.0, 122.0])


def test_as_of_sum_missing_keys_times_and_values_give_zero_or_are_skipped():
    ev_t = ts("2024-01-01", "2024-01-01", "2024-01-01", "NaT")
    ev_k = pd.Series(["A", None, "A", "A"])
    ev_v = pd.Series([1.0, 50.0, np.nan, 7.0])
    q_t = ts("2024-02-01", "2024-02-01", "NaT")
    q_k = pd.Series(["A", None, "A"])
    got = as_of_sum(q_t, q_k, ev_t, ev_k, ev_v)
    # A: only the first event (missing key, missing value and missing time are skipped);
    # a query without key or without time gets 0
    np.testing.assert_array_equal(got, [1.0, 0.0, 0.0])


def test_as_of_sum_aligns_by_position_not_by_index():
    # queries in no time order, under a non-default index unrelated to the events' index
    q = pd.DataFrame(
        {"t": pd.to_datetime(["2024-01-04", "2024-01-02", "2024-01-03"]), "k": ["A", "A", "B"]},
        index=[42, 7, 0],
    )
    ev = EVENTS.set_index(pd.Index([5, 4, 3, 2, 1, 0]))
    got = as_of_sum(q["t"], q["k"], ev["t"], ev["k"], ev["v"])
    np.testing.assert_array_equal(got, [17.0, 1.0, 5.0])


def test_as_of_sum_keys_compare_as_text_and_empty_inputs():
    got = as_of_sum(ts("2024-01-02"), pd.Series([7]), ts("2024-01-01"), pd.Series(["7"]))
    np.testing.assert_array_equal(got, [1.0])
    assert as_of_sum(ts(), pd.Series([], dtype="str"), EVENTS["t"], EVENTS["k"]).shape == (0,)
    empty = as_of_sum(ts("2024-01-02"), pd.Series(["A"]), ts(), pd.Series([], dtype="str"))
    np.testing.assert_array_equal(empty, [0.0])


# ---------------------------------------------------------------- as_of_window_sum
def test_window_sum_30_day_boundaries():
    # query at Feb 1 00:00; the window is [Jan 2 00:00, Feb 1 00:00)
    ev_t = ts(
        "2024-01-01 23:59:59",  # one second too early
        "2024-01-02 00:00:00",  # exactly t - 30 days: inside
        "2024-01-15 12:00:00",  # inside
        "2024-02-01 00:00:00",  # same moment as the query: not before it
        "2024-02-02 00:00:00",
    )  # future
    ev_k = pd.Series(["A"] * 5)
    got = as_of_window_sum(ts("2024-02-01"), pd.Series(["A"]), ev_t, ev_k, pd.Timedelta(days=30))
    np.testing.assert_array_equal(got, [2.0])


def test_window_sum_with_values_and_several_queries():
    ev_t = ts("2024-01-01", "2024-01-10", "2024-01-20", "2024-01-20")
    ev_k = pd.Series(["A", "A", "A", "B"])
    ev_v = pd.Series([1.0, 10.0, 100.0, 1000.0])
    q_t = ts("2024-01-31", "2024-02-09", "2024-02-09 00:00:01", "2024-02-20")
    q_k = pd.Series(["A", "A", "A", "B"])
    got = as_of_window_sum(q_t, q_k, ev_t, ev_k, pd.Timedelta(days=30), ev_v)
    # Jan 31: [Jan 1, Jan 31) all three A; Feb 9: [Jan 10, Feb 9) drops Jan 1;
    # one second later Jan 10 00:00 falls out too; B on Feb 20: [Jan 21, Feb 20) is empty
    np.testing.assert_array_equal(got, [111.0, 110.0, 100.0, 0.0])


# ---------------------------------------------------------------- as_of_label_rate
def _rate_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    decl = pd.DataFrame(
        {
            "declaration_id": ["D0", "D1", "D2", "D3", "D4", "D5"],
            "declared_at": pd.to_datetime(
                ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-10", "2024-01-10", "2024-01-10"]
            ),
            "exporter": ["A", "A", "B", "A", "B", None],
        },
        index=[10, 11, 12, 13, 14, 15],
    )
    labels = pd.DataFrame(
        {
            "declaration_id": ["D0", "D1", "D2"],
            "label_time": pd.to_datetime(["2024-01-05", "2024-01-10", "2024-01-04"]),
            "violation": [1.0, 0.0, 0.0],
        }
    )
    return decl, labels


def test_label_rate_smoothing_toward_the_prior_known_at_the_time():
    decl, labels = _rate_frames()
    rate, count = as_of_label_rate(decl, labels, "exporter")
    # D0..D2: no outcome known yet -> base prior 1/30 (rate = 20 * (1/30) / 20)
    np.testing.assert_allclose(rate[:3], [1 / 30] * 3)
    # by Jan 10: D0 (violation, Jan 5) and D2 (clear, Jan 4) known; D1's outcome lands at Jan 10
    # exactly and is not yet known. Prior = (1 hit + 1) / (2 inspections + 30) = 1/16.
    prior = (1 + 1) / (2 + 30)
    assert rate[3] == pytest.approx((1 + 20 * prior) / (1 + 20))  # A: 1 violation in 1
    assert rate[4] == pytest.approx((0 + 20 * prior) / (1 + 20))  # B: 0 violations in 1
    assert rate[5] == pytest.approx(prior)  # no key: nothing of its own, the prior
    np.testing.assert_array_equal(count, [0, 0, 0, 1, 1, 0])


def test_label_rate_strength_parameter():
    decl, labels = _rate_frames()
    rate, _ = as_of_label_rate(decl, labels, "exporter", strength=5.0)
    assert rate[3] == pytest.approx((1 + 5 / 16) / (1 + 5))


def test_label_rate_without_labels_or_key_is_missing():
    decl, labels = _rate_frames()
    for lab, key in ((None, "exporter"), (labels.iloc[:0], "exporter"), (labels, "no_such_column")):
        rate, count = as_of_label_rate(decl, lab, key)
        assert np.isnan(rate).all()
        np.testing.assert_array_equal(count, np.zeros(len(decl)))


# ---------------------------------------------------------------- as_of_monthly_stats
def test_monthly_stats_never_see_the_own_month():
    frame = pd.DataFrame(
        {
            "t": pd.to_datetime(
                [
                    "2024-01-05",
                    "2024-01-10",
                    "2024-01-20",
                    "2024-01-25",
                    "2024-02-01",
                    "2024-02-15",
                    "2024-02-20",
                    "2024-03-01",
                    "2024-03-02",
                    "2024-05-31",
                    "NaT",
                ]
            ),
            "g": ["G", "G", "G", "H", "G", "G", "H", "G", "K", "G", "G"],
            "v": [1.0, 2.0, 3.0, 7.0, 10.0, 20.0, 8.0, 100.0, 5.0, np.nan, 4.0],
        },
        index=list("abcdefghijk"),
    )
    out = as_of_monthly_stats(frame["v"], frame["g"], frame["t"], ("median", "q25", "q75"))
    assert out.index.equals(frame.index)
    assert list(out.columns) == ["median", "q25", "q75", "n"]
    # January rows have no earlier month
    assert out.loc[["a", "b", "c", "d"]].isna().all().all()
    # February sees January only: G = {1, 2, 3}, H = {7}; Feb 15 does not see Feb 1's 10
    assert out.loc["e", "median"] == 2.0 and out.loc["f", "median"] == 2.0
    assert out.loc["e", "n"] == 3.0
    assert out.loc["e", "q25"] == 1.5 and out.loc["e", "q75"] == 2.5
    assert out.loc["g", "median"] == 7.0 and out.loc["g", "n"] == 1.0
    # March sees January and February: G = {1, 2, 3, 10, 20}
    assert out.loc["h", "median"] == 3.0 and out.loc["h", "n"] == 5.0
    assert out.loc["h", "q25"] == 2.0 and out.loc["h", "q75"] == 10.0
    # a group never seen before, a row without time
    assert out.loc["i"].isna().all()
    assert out.loc["k"].isna().all()
    # May (after an empty April) sees everything before May with a value: G = {1,2,3,10,20,100};
    # its own value is missing, which does not matter for what it sees
    assert out.loc["j", "median"] == 6.5 and out.loc["j", "n"] == 6.0


def test_monthly_stats_row_order_does_not_matter():
    frame = pd.DataFrame(
        {
            "t": pd.to_datetime(["2024-01-05", "2024-02-01", "2024-01-10", "2024-02-15"]),
            "g": ["G", "G", "G", "G"],
            "v": [1.0, 50.0, 3.0, 60.0],
        }
    )
    out = as_of_monthly_stats(frame["v"], frame["g"], frame["t"])
    shuffled = frame.iloc[[3, 1, 2, 0]]
    again = as_of_monthly_stats(shuffled["v"], shuffled["g"], shuffled["t"])
    pd.testing.assert_frame_equal(out, again.loc[out.index])
    assert out["median"].tolist()[1] == 2.0 and out["median"].tolist()[3] == 2.0


def test_ratio_text_says_how_many_times_or_what_fraction():
    from features.base import ratio_text

    got = ratio_text(np.array([373.2, 1 / 300, 1.5, 1 / 1.5, 0.97, np.nan])).tolist()
    assert got == ["373x", "1/300 of", "1.5x", "1/1.5 of", "about", None]


def test_party_ids_are_keyed_as_compared_so_a_dropped_leading_zero_is_the_same_exporter():
    from features.base import Rows
    from features.names import party_ids

    ids = pd.Series(["0116766265", "116766265", "0116-766265", "cn-e0001", "CN-E0001", "0116766266", None])
    assert party_ids(ids).iloc[:6].tolist() == [
        "116766265",
        "116766265",
        "116766265",
        "CNE0001",
        "CNE0001",
        "116766266",
    ]
    codes = Rows(pd.DataFrame({"exporter_id": ids})).codes("exporter_id")
    assert codes[0] == codes[1] == codes[2] and codes[3] == codes[4]
    assert len({codes[0], codes[3], codes[5]}) == 3 and codes[6] == -1
