"""What is usual, learned from the bundle's history: backoff and shrinkage over code levels, the
reference as a weak prior, what the description says, and track records where no record is no
record. Tiny hand-built frames, values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from data.reference import hs_profiles
from features import base, behaviour, hs_mismatch
from features.base import FeatureContext, Rows, track_record, usual_by_code

PROFILES = hs_profiles()


def decl_of(rows: list[dict]) -> pd.DataFrame:
    defaults = {
        "exporter_id": "E1",
        "hs_code": "2601110000",
        "goods_description": "iron ore fines",
        "declared_value_usd": 110.0,
        "gross_weight_kg": 1000.0,
        "declared_at": "2024-01-10",
        "consignee_name": "Foo Co., Ltd",
        "consignee_country": "JP",
        "port_of_loading": "CNSHA",
        "declarant_id": "B1",
        "license_id": None,
    }
    frame = pd.DataFrame([{**defaults, **r} for r in rows])
    frame["declaration_id"] = [f"D{i}" for i in range(len(frame))]
    frame["declared_at"] = pd.to_datetime(frame["declared_at"], format="ISO8601")
    return frame


def at(day: int, hour: int = 0) -> str:
    return f"2024-01-{day:02d} {hour:02d}:00"


# ================================================================ backoff and shrinkage
def test_usual_backs_off_to_the_heading_and_shrinks_toward_it():
    # heading 2846: 20 rows of 284610 at ln 1; code 2846901000 has 3 rows at ln 100
    rows = [{"hs_code": "2846100000", "declared_at": at(1, h % 24)} for h in range(20)]
    rows += [{"hs_code": "2846901000", "declared_at": at(2, h)} for h in range(3)]
    rows += [{"hs_code": "2846901000", "declared_at": at(5)}, {"hs_code": "2846990000", "declared_at": at(5)}]
    decl = decl_of(rows)
    x = np.log(np.r_[np.full(20, 1.0), np.full(3, 100.0), 1.0, 1.0])
    u = usual_by_code(Rows(decl), {"v": x})["v"]
    k = base.SHRINK_ROWS
    overall = 3 * math.log(100.0) / 23  # the whole history = chapter 28 = heading 2846
    # 284690 holds 3 rows (its 8 and 10 digits the same 3: counted once)
    expected = (3 * math.log(100.0) + k * overall) / (3 + k)
    assert u.mean[-2] == pytest.approx(expected, abs=1e-3)  # logs summed in steps of 1/1024
    assert u.n_code[-2] == 3 and u.n_hs6[-2] == 3
    # a code never declared before (284699) takes the heading's usual
    assert u.mean[-1] == pytest.approx(overall, abs=1e-3)
    assert u.n_code[-1] == 0
    # the very first row has no history and no prior: nothing is usual yet
    assert np.isnan(u.mean[0])
    # the spread of a level with identical rows is shrunk toward the broader one, never 0
    assert u.sd[-2] > base.LOG_SD_MIN


def test_reference_is_a_weak_prior_that_history_outweighs():
    target = {"declared_value_usd": 5000.0, "declared_at": "2024-02-10"}  # 5 USD/kg of iron ore
    thin = hs_mismatch.compute(decl_of([target]), FeatureContext(hs_profiles=PROFILES)).features.iloc[-1]
    # no history: the reference (0.11 USD/kg typical) is all there is
    assert thin["value_per_kg_log_ratio_to_code"] == pytest.approx(math.log(5.0 / 0.11), abs=1e-3)
    # 200 earlier declarations at 2 USD/kg: the usual moves to about 2 USD/kg
    history = [
        {"declared_value_usd": 2000.0, "declared_at": at(1 + i % 28, i % 24), "exporter_id": f"H{i}"}
        for i in range(200)
    ]
    f = hs_mismatch.compute(decl_of([*history, target]), FeatureContext(hs_profiles=PROFILES))
    got = f.features.iloc[-1]["value_per_kg_log_ratio_to_code"]
    assert got == pytest.approx(math.log(5.0 / 2.0), abs=0.1)
    assert f.context.iloc[-1]["code_value_history"] == 200
    # a code absent from the reference still gets every value feature from its own history
    other = [{**r, "hs_code": "9999990000"} for r in history] + [{**target, "hs_code": "9999990000"}]
    g = hs_mismatch.compute(decl_of(other), FeatureContext(hs_profiles=PROFILES)).features.iloc[-1]
    assert g["value_per_kg_log_ratio_to_code"] == pytest.approx(math.log(5.0 / 2.0), abs=1e-3)
    assert np.isfinite(g["value_per_kg_robust_z"])


def test_value_against_the_exporters_own_lane():
    rows = [
        {"declared_value_usd": 1000.0, "declared_at": at(d), "exporter_id": "E1"} for d in range(1, 6)
    ]  # E1 always ships at 1 USD/kg
    rows += [{"declared_value_usd": 1000.0, "declared_at": at(9), "exporter_id": "E1"}]  # same as usual
    rows += [{"declared_value_usd": 8000.0, "declared_at": at(9), "exporter_id": "E1"}]  # 8x its usual
    rows += [{"declared_value_usd": 8000.0, "declared_at": at(9), "exporter_id": "E9"}]  # E9: no lane
    f = hs_mismatch.compute(decl_of(rows), FeatureContext()).features["value_per_kg_z_exporter"]
    assert np.isnan(f[0]) and np.isnan(f[7])
    assert f[5] == pytest.approx(0.0, abs=1e-2)
    assert f[6] > 3


# ================================================================ the description
def test_description_seen_under_the_code_and_from_the_exporter():
    rows = [
        {"goods_description": "Iron ore fines, Fe 62%", "declared_at": at(1)},
        {"goods_description": "IRON ORE FINES  Fe 58%", "declared_at": at(2)},  # same once normalised
        {"goods_description": "iron ore fines fe", "declared_at": at(3), "hs_code": "6909110000"},
        {"goods_description": "Iron ore fines (Fe 60 %)", "declared_at": at(4), "exporter_id": "E2"},
        {"goods_description": "neodymium oxide", "declared_at": at(5)},
        {"goods_description": None, "declared_at": at(6)},
    ]
    f = hs_mismatch.compute(decl_of(rows), FeatureContext()).features
    assert f["description_times_seen_under_code"].tolist()[:5] == [0.0, 1.0, 0.0, 2.0, 0.0]
    assert np.isnan(f["description_times_seen_under_code"][5])  # no description at all
    # share of the code's earlier described declarations: 2 of 2 for D3, 0 of 3 for D4
    assert f["description_share_under_code"][3] == pytest.approx(1.0)
    assert f["description_share_under_code"][4] == pytest.approx(0.0)
    assert np.isnan(f["description_share_under_code"][0])  # the code has no history yet
    # from the exporter: E1 used it twice before D2 (any code); E2's first shipment is empty
    seen = f["description_times_seen_from_exporter"]
    assert np.isnan(seen[0]) and np.isnan(seen[3])
    assert seen[1:3].tolist() == [1.0, 2.0]
    assert seen[4] == 0.0


def test_rare_word_share_against_the_codes_history():
    history = [
        {"goods_description": "iron ore fines", "declared_at": at(1 + i % 20, i % 24)} for i in range(40)
    ]
    history += [{"goods_description": "iron ore lump", "declared_at": at(21, 1)}]
    rows = [
        *history,
        {"goods_description": "iron ore fines", "declared_at": at(25)},  # nothing rare
        {"goods_description": "neodymium oxide powder", "declared_at": at(25)},  # every word new
        {"goods_description": "iron ore lump neodymium", "declared_at": at(25)},  # lump 1 of 41: rare
        {"goods_description": "neodymium oxide", "declared_at": at(25), "hs_code": "9999990000"},
    ]
    result = hs_mismatch.compute(decl_of(rows), FeatureContext())
    f, c = result.features.iloc[-4:], result.context.iloc[-4:]
    share = f["description_rare_word_share"].tolist()
    assert share[0] == 0.0
    assert share[1] == 1.0
    # "lump" was seen once in 41 earlier declarations (2.4%, not under 1%): only "neodymium" is rare
    assert share[2] == pytest.approx(1 / 4)
    assert np.isnan(share[3])  # a code without history: no word can be judged rare
    assert c["rarest_word_times_seen"].tolist()[1:3] == [0.0, 0.0]
    assert c["rarest_word"].tolist()[2] == "neodymium"
    assert c["code_described_history"].tolist()[0] == 41


# ================================================================ learned cover codes
def test_code_share_by_strategic_exporters_is_learned_point_in_time():
    rows = [
        # S ships rare-earth oxide (controlled), then starts declaring iron ore
        {"exporter_id": "S", "hs_code": "2846901000", "declared_value_usd": 56000.0, "declared_at": at(1)},
        {"exporter_id": "S", "declared_at": at(2)},
        {"exporter_id": "L", "declared_at": at(3)},  # an ordinary iron ore trader
        {"exporter_id": "L", "declared_at": at(4)},
    ]
    result = hs_mismatch.compute(decl_of(rows), FeatureContext(hs_profiles=PROFILES))
    f, c = result.features, result.context
    k = hs_mismatch.STRATEGIC_SHRINK
    # D2 (iron ore by S, who had declared controlled goods): D3 sees 1 such of 1 iron ore rows;
    # overall, D1 (S's first, no strategic past) and D2 (S, with one) -> 1 of 2
    assert f.loc[2, "code_share_by_strategic_exporters"] == pytest.approx((1 + k * 0.5) / (1 + k))
    assert c.loc[2, "strategic_share_overall"] == pytest.approx(0.5)
    assert np.isnan(f.loc[1, "code_share_by_strategic_exporters"])  # iron ore's first declaration
    assert f.loc[1, "exporter_strategic_share"] == 1.0
    assert np.isnan(f.loc[2, "exporter_strategic_share"])  # L's first shipment
    assert f.loc[3, "exporter_strategic_share"] == 0.0


# ================================================================ no record is not a record
def labels(rows: list[tuple[str, str, int]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "declaration_id": [r[0] for r in rows],
            "label_time": pd.to_datetime([r[1] for r in rows]),
            "violation": [float(r[2]) for r in rows],
        }
    )


def test_track_records_are_empty_without_a_record_and_shrunk_with_one():
    decl = decl_of(
        [
            {"declared_at": at(1)},  # D0: found violating on day 3
            {
                "declared_at": at(2),
                "exporter_id": "E2",
                "consignee_name": "Bar KK",
                "declarant_id": "B2",
                "port_of_loading": "VNSGN",
            },  # D1: found clear on day 3; shares no party with D2 (only the country JP)
            {"declared_at": at(5)},  # D2: E1, consignee Foo, CNSHA, B1 all have a record
            {
                "declared_at": at(5),
                "exporter_id": "E3",
                "consignee_name": "New GmbH",
                "declarant_id": "B7",
                "port_of_loading": "KRPUS",
            },  # D3: no party has a record
        ]
    )
    lab = labels([("D0", at(3), 1), ("D1", at(3), 0)])
    f = behaviour.compute(decl, FeatureContext(labels=lab)).features
    prior = (1 + 1) / (2 + 30)  # the overall rate known on day 5
    s = behaviour.RATE_STRENGTH
    for key in ("exporter", "consignee", "declarant", "loading_port"):
        assert f.loc[2, f"{key}_violation_rate"] == pytest.approx((1 + s * prior) / (1 + s)), key
        assert f.loc[2, f"{key}_inspections_before"] == 1.0
        assert f.loc[2, f"{key}_violations_before"] == 1.0
        assert np.isnan(f.loc[3, f"{key}_violation_rate"]), key  # never inspected: no rate
        assert f.loc[3, f"{key}_inspections_before"] == 0.0
        assert f.loc[3, f"{key}_violations_before"] == 0.0
    # the consignee country JP has both outcomes on record
    assert f.loc[3, "consignee_country_violation_rate"] == pytest.approx((1 + s * prior) / (2 + s))


def test_track_record_primitive_counts_only_outcomes_known_before():
    decl = decl_of([{"declared_at": at(1)}, {"declared_at": at(3)}, {"declared_at": at(4)}])
    rows = Rows(decl)
    n, hits, rate = track_record(rows, labels([("D0", at(3), 1)]), rows.codes("exporter_id"))
    assert n.tolist() == [0.0, 0.0, 1.0]  # known at day 3 00:00: D1 declared at that moment sees it not
    assert hits.tolist() == [0.0, 0.0, 1.0]
    assert np.isnan(rate[:2]).all() and rate[2] > 0
    n, hits, rate = track_record(rows, None, rows.codes("exporter_id"))
    assert n.tolist() == [0.0, 0.0, 0.0] and np.isnan(rate).all()


def test_declarations_found_violating_leave_what_is_normal_once_known():
    history = [
        {"declared_value_usd": 1000.0, "declared_at": at(1, h), "exporter_id": f"H{h}"} for h in range(9)
    ]
    history += [{"declared_value_usd": 1e6, "declared_at": at(2), "exporter_id": "X"}]  # D9: 1,000 USD/kg
    decl = decl_of([*history, *({"declared_value_usd": 1000.0, "declared_at": at(d)} for d in (5, 9))])
    x = np.log(decl["declared_value_usd"] / decl["gross_weight_kg"]).to_numpy()
    found = labels([("D9", at(7), 1)])  # found violating on day 7
    u = usual_by_code(Rows(decl), {"v": x}, labels=found)["v"]
    # day 5: the violation is not known yet, D9 is part of the history (10 rows); day 9: the 11
    # earlier rows (the day-5 row among them) but D9
    assert u.n_code[-2] == 10 and u.n_code[-1] == 10
    assert np.exp(u.mean[-1]) == pytest.approx(1.0, rel=1e-3)
    assert np.exp(u.mean[-2]) > 1.5
    # without outcomes every earlier row counts
    assert usual_by_code(Rows(decl), {"v": x})["v"].n_code[-1] == 11
