"""Shell-company features on hand-built registries with hand-computed answers."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from features import ownership
from features.base import FeatureContext
from features.names import name_cores, normalise_names, normalise_text
from tests.examples import examples

FEATURE_NAMES = [f.name for f in ownership.FEATURES]


# ---------------------------------------------------------------- builders
def companies(*rows: tuple) -> pd.DataFrame:
    """Registry rows: (id, name, country, address, incorporated_on, agent)."""
    cols = ["company_id", "name", "country", "address", "incorporated_on", "registered_agent"]
    df = pd.DataFrame(list(rows), columns=cols)
    df["incorporated_on"] = pd.to_datetime(df["incorporated_on"])
    df["employees"] = 3
    df["_row_number"] = range(1, len(df) + 1)  # loader bookkeeping: must be ignored
    return df


def owns(*pairs: tuple[str, str]) -> pd.DataFrame:
    return pd.DataFrame([(a, b, 100.0) for a, b in pairs], columns=["owner_id", "owned_id", "share_pct"])


def officers(*rows: tuple[str, str, str]) -> pd.DataFrame:
    """Officer rows: (person_id, person_name, company_id), all directors."""
    df = pd.DataFrame(list(rows), columns=["person_id", "person_name", "company_id"])
    df["role"] = "director"
    return df


def watchlist(*rows: tuple[str, str, str | None]) -> pd.DataFrame:
    """Listed rows: (id, name, aliases)."""
    df = pd.DataFrame(list(rows), columns=["id", "name", "aliases"])
    df["schema"] = "Company"
    df["dataset"] = "us_trade_csl"
    df["countries"] = np.nan
    return df


def decl(*rows: tuple, consignee_id: list | None = None) -> pd.DataFrame:
    """Declaration rows: (declared_at, exporter_id, exporter_name, consignee_name, country)."""
    df = pd.DataFrame(
        list(rows),
        columns=["declared_at", "exporter_id", "exporter_name", "consignee_name", "consignee_country"],
    )
    df["declared_at"] = pd.to_datetime(df["declared_at"])
    for col in ("exporter_id", "exporter_name", "consignee_name", "consignee_country"):
        df[col] = df[col].astype("str").where(df[col].notna())
    if consignee_id is not None:
        df["consignee_id"] = pd.Series(consignee_id, dtype="str")
    return df


REGISTRY = companies(
    ("A", "Alpha Trading Ltd", "HK", "Room 5, 1 Main St", "2026-01-01", "Quick Formations Ltd"),
    ("H", "Beta Holdings", "VG", "PO Box 9", "2015-06-01", "Quick Formations Ltd"),
    ("G", "Gamma Rare Metals Co., Ltd", "CN", "8 Mine Rd", "2005-01-01", None),
    ("S1", "Shell One Ltd", "HK", "ROOM 5 1 MAIN ST.", "2025-01-01", "Quick Formations Limited"),
    ("S2", "Shell Two Ltd", "HK", "room 5,  1 main st", "2025-01-01", None),
    ("S3", "Shell Three Ltd", "HK", None, "2025-01-01", None),
    ("S4", "Shell Four Ltd", "HK", None, "2025-01-01", None),
    ("N", "Nominee Client Co", "HK", "2 Side St", "2024-01-01", None),
)
WATCHLIST = watchlist(
    ("G", "Gamma Rare Metals Company Limited", "GRM Group;Gamma RM Ltd"),
    ("NK-omega", "Omega Magnets", "Omega Magnetics LLC;OMX"),
)


def run(d: pd.DataFrame, **tables) -> ownership.FamilyResult:
    ctx = FeatureContext(**tables)
    return ownership.compute(d, ctx)


def full_ctx() -> dict:
    return dict(
        companies=REGISTRY,
        ownership=owns(("H", "A"), ("H", "G")),
        officers=officers(
            ("P1", "Ivan Nominee", "S1"),
            ("P1", "Ivan Nominee", "S2"),
            ("P1", "Ivan Nominee", "S3"),
            ("P1", "Ivan Nominee", "S4"),
            ("P1", "Ivan Nominee", "N"),
            ("P2", "Li Wei", "G"),
        ),
        watchlist=WATCHLIST,
    )


# ---------------------------------------------------------------- names
@pytest.mark.parametrize(
    "a, b",
    [
        ("Baotou Rare Earth Co., Ltd", "BAOTOU RARE EARTH COMPANY LIMITED"),
        ("Baotou Rare Earth Co.,Ltd.", "Baotou Rare Earth Co Ltd"),
        ("Alpha L.L.C.", "ALPHA LLC"),
        ("Alpha Limited Liability Company", "Alpha LLC"),
        ("Müller Metalle GmbH", "MULLER METALLE G.m.b.H."),
        ("Société Générale S.A.", "Societe Generale SA"),
        ("Gamma Sdn. Bhd.", "Gamma Sendirian Berhad"),
        ("Delta Pte. Ltd.", "Delta Private Limited"),
        ("Eta JSC", "Eta Joint Stock Company"),
        ("Theta Corp.", "THETA CORPORATION"),
        ("Iota Inc", "Iota Incorporated"),
        ("Kappa Intl Trading", "KAPPA INTERNATIONAL TRADE"),
        ("ＡＢＣ Ｍｅｔａｌｓ", "abc metals"),
        ("  A&B   Metals ", "a and b metals"),
        # Polish, Russian, Turkish legal forms, written out, abbreviated and across scripts
        ("Miedziownia Sp. z o.o.", "Miedziownia Sp z oo"),
        ("Miedziownia Sp. z o.o.", "MIEDZIOWNIA SPÓŁKA Z OGRANICZONĄ ODPOWIEDZIALNOŚCIĄ"),
        ("Romashka OOO", "Romashka LLC"),
        ("ООО Ромашка", "Romashka LLC"),
        ("Общество с ограниченной ответственностью «Ромашка»", "OOO Romashka"),
        ("Anadolu Madencilik A.Ş.", "ANADOLU MADENCILIK AS"),
        ("Anadolu Madencilik Anonim Şirketi", "Anadolu Madencilik A.S."),
        ("İstanbul Maden Ticaret Ltd. Şti.", "Istanbul Maden Ticaret Limited Sirketi"),
        ("Eta OAO", "ETA PJSC"),
        ("Omega (HK) Limited", "Omega (Hong Kong) Ltd"),
        ("包头稀土有限公司", "Baotouxitu Co., Ltd"),
    ],
)
def test_legal_form_variants_normalise_to_one_name(a, b):
    got = normalise_names(pd.Series([a, b]))
    assert got[0] == got[1]


@pytest.mark.parametrize(
    "a, b",
    [
        ("Alpha Metals GmbH", "Beta Metals GmbH"),
        ("Alpha Metals LLC", "Alpha Minerals LLC"),
        ("Omega Magnets", "Omega Magnetics LLC"),
        ("Romashka OOO", "Vasilek OOO"),
    ],
)
def test_different_names_stay_different(a, b):
    got = normalise_names(pd.Series([a, b]))
    assert got[0] != got[1]


def test_legal_forms_of_one_class_are_one_form_in_any_language():
    # limited-liability forms of five countries are one class, joint-stock forms another
    llc = normalise_names(pd.Series([f"Alpha {f}" for f in ("GmbH", "OOO", "Sp. z o.o.", "Ltd", "Sdn Bhd")]))
    jsc = normalise_names(pd.Series([f"Alpha {f}" for f in ("AG", "PJSC", "A.Ş.", "S.A.")]))
    assert llc.nunique() == 1 and jsc.nunique() == 1
    assert llc[0] != jsc[0]


def test_normalised_forms_and_cores():
    got = normalise_names(pd.Series(["Baotou Rare Earth Co., Ltd", None, "  ", "Trading Co. Ltd"]))
    assert got[0] == "baotou rare earth llc"
    assert got[1:3].isna().all()
    cores = name_cores(
        pd.Series(["Baotou Rare Earth Co., Ltd", "Gamma Holdings Sdn Bhd", "Trading Co. Ltd", "ООО Ромашка"])
    )
    assert cores.tolist() == ["baotou rare earth", "gamma", "trade llc", "romashka"]  # all-generic kept
    assert normalise_text(pd.Series(["Room 5, 1 Main St."]))[0] == "room 5 1 main st"
    assert normalise_text(pd.Series(["ул. Ленина, 5"]))[0] == "ul lenina 5"


def test_transliterated_names_score_high_against_their_latin_listing():
    d = decl(
        ("2026-03-01", "A", "ООО «Омега Магнетикс»", "包头稀土有限公司", "RU"),
        ("2026-03-01", "A", "Omega Magnetics Sp. z o.o.", "Baotou Xitu Co., Ltd", "PL"),
    )
    listed = watchlist(
        ("NK-omega", "Omega Magnetics LLC", None), ("NK-bt", "Baotouxitu Company Limited", None)
    )
    r = run(d, watchlist=listed)
    f, c = r.features, r.context
    assert f.loc[0, "exporter_watchlist_name_score"] > 90  # Cyrillic "Магнетикс" reads "magnetiks"
    assert f.loc[1, "exporter_watchlist_name_score"] == 100.0
    assert c["exporter_watchlist_best_id"].tolist() == ["NK-omega", "NK-omega"]
    assert f.loc[0, "consignee_watchlist_name_score"] == 100.0  # Chinese characters, one word
    assert f.loc[1, "consignee_watchlist_name_score"] > 90  # pinyin written as two words
    assert c["consignee_watchlist_best_id"].tolist() == ["NK-bt", "NK-bt"]


_TOKENS = [
    "Baotou",
    "Rare",
    "Earth",
    "Müller",
    "Co.",
    "Ltd",
    "LIMITED",
    "Company",
    "L.L.C.",
    "S.A.",
    "Sdn",
    "Bhd",
    "Pte",
    "Private",
    "GmbH",
    "&",
    "Trading",
    "İstanbul",
    "ß",
    "x",
    "ООО",
    "Ромашка",
    "Sp. z o.o.",
    "A.Ş.",
    "有限公司",
    "稀土",
    "Hong",
    "Kong",
    "International",
]


_NAMES = st.lists(
    st.tuples(st.sampled_from(_TOKENS), st.sampled_from([" ", ", ", ".", "  ", "-"])), max_size=8
).map(lambda parts: "".join(t + sep for t, sep in parts))


@settings(max_examples=examples(50), deadline=None)
@given(st.lists(_NAMES, min_size=1, max_size=30))
def test_normalising_twice_changes_nothing(names):
    once = normalise_names(pd.Series(names))
    twice = normalise_names(once)
    pd.testing.assert_series_equal(once, twice)


# ---------------------------------------------------------------- watchlist names
def test_consignee_written_as_listed_alias_scores_full_marks():
    d = decl(
        ("2026-03-01", "A", "Alpha Trading Ltd", "OMEGA MAGNETICS L.L.C.", "DE"),
        ("2026-03-01", "A", "Alpha Trading Ltd", "Omega Magnet", "DE"),
        ("2026-03-01", "A", None, "Totally Unrelated Ceramics", "DE"),
    )
    r = run(d, watchlist=WATCHLIST)
    score = r.features["consignee_watchlist_name_score"]
    assert score[0] == pytest.approx(100.0)
    assert r.context.loc[0, "consignee_watchlist_best_name"] == "Omega Magnetics LLC"
    assert r.context.loc[0, "consignee_watchlist_best_id"] == "NK-omega"
    # written exactly as a listed alias: identified as the listed entity itself
    assert r.features.loc[0, "consignee_steps_to_listed_entity"] == 0
    path = r.context.loc[0, "consignee_listed_path"]
    assert path == "Omega Magnets (listed: NK-omega, us_trade_csl)"
    assert 85 < score[1] < 100  # a one-letter variant of the listed name
    assert score[2] == 0 and pd.isna(r.context.loc[2, "consignee_watchlist_best_name"])
    assert np.isnan(r.features.loc[2, "exporter_watchlist_name_score"])  # no name: unknown


# ---------------------------------------------------------------- steps to listed entities
def test_two_step_chain_gives_two_and_the_path_in_words():
    d = decl(
        ("2026-03-01", "A", "Alpha Trading Ltd", "Gamma Rare Metals Company Limited", "CN"),
        ("2026-03-01", "S1", "Shell One Ltd", "Nobody GmbH", "DE"),
    )
    r = run(d, **full_ctx())
    f, c = r.features, r.context
    assert f.loc[0, "exporter_steps_to_listed_entity"] == 2
    assert c.loc[0, "exporter_listed_path"] == (
        "Alpha Trading Ltd -owned by-> Beta Holdings -owns-> Gamma Rare Metals Co., Ltd "
        "(listed: G, us_trade_csl)"
    )
    assert c.loc[0, "exporter_listed_entity_id"] == "G"
    # the same path as data, for the case page: who, their id, the tie to the next, how listed
    steps = json.loads(c.loc[0, "exporter_listed_path_json"])
    assert [(s["name"], s["id"], s["relation"]) for s in steps] == [
        ("Alpha Trading Ltd", "A", "owned by"),
        ("Beta Holdings", "H", "owns"),
        ("Gamma Rare Metals Co., Ltd", "G", ""),
    ]
    assert steps[-1]["listed_as"] == "listed: G, us_trade_csl" and not steps[0]["listed_as"]
    # consignee resolved by name to the listed registry company itself
    assert f.loc[0, "consignee_steps_to_listed_entity"] == 0
    assert c.loc[0, "consignee_registry_id"] == "G"
    # S1 has no ownership or officer link to G within 6 steps
    assert np.isnan(f.loc[1, "exporter_steps_to_listed_entity"])
    assert pd.isna(c.loc[1, "exporter_listed_path"])


def test_officer_links_count_and_read_as_roles():
    ctx = dict(
        companies=REGISTRY,
        officers=officers(("P9", "Anna Front", "A"), ("P9", "Anna Front", "G")),
        watchlist=WATCHLIST,
        ownership=None,
    )
    r = run(decl(("2026-03-01", "A", "Alpha Trading Ltd", "X", "DE")), **ctx)
    assert r.features.loc[0, "exporter_steps_to_listed_entity"] == 2
    assert r.context.loc[0, "exporter_listed_path"].startswith(
        "Alpha Trading Ltd -has director-> Anna Front -director of-> Gamma Rare Metals"
    )
    assert any("ownership table absent" in m for m in r.missing)


def test_cyclic_ownership_terminates_with_correct_distances():
    reg = companies(
        ("A", "A Co", "HK", None, "2020-01-01", None),
        ("B", "B Co", "HK", None, "2020-01-01", None),
        ("C", "C Co", "HK", None, "2020-01-01", None),
        ("L", "Listed Co", "CN", None, "2020-01-01", None),
    )
    own = owns(("A", "B"), ("B", "A"), ("B", "C"), ("C", "A"), ("C", "L"))
    d = decl(*[("2026-03-01", e, f"{e} Co", "x", "DE") for e in ("A", "B", "C", "L")])
    r = run(d, companies=reg, ownership=own, watchlist=watchlist(("L", "Listed Co", None)))
    assert r.features["exporter_steps_to_listed_entity"].tolist() == [2.0, 2.0, 1.0, 0.0]
    assert r.context.loc[2, "exporter_listed_path"] == ("C Co -owns-> Listed Co (listed: L, us_trade_csl)")


def test_registry_company_named_like_a_listed_entity_counts_as_listed():
    reg = companies(
        ("Z", "Omega Magnetics, L.L.C.", "AE", None, "2024-01-01", None),
        ("Y", "Yankee Ltd", "AE", None, "2024-01-01", None),
    )
    r = run(
        decl(("2026-03-01", "Y", "Yankee Ltd", "x", "DE")),
        companies=reg,
        ownership=owns(("Z", "Y")),
        watchlist=WATCHLIST,
    )
    assert r.features.loc[0, "exporter_steps_to_listed_entity"] == 1
    assert r.context.loc[0, "exporter_listed_path"] == (
        "Yankee Ltd -owned by-> Omega Magnetics, L.L.C. (name of listed NK-omega 'Omega Magnetics LLC')"
    )


# ---------------------------------------------------------------- registry facts
def test_company_missing_from_registry_is_flagged_with_no_age():
    d = decl(
        ("2026-03-01", "A", "Alpha Trading Ltd", "Shell One Ltd", "HK"),
        ("2026-03-01", "Q-404", "Ghost Ltd", "Never Registered BV", "NL"),
        ("2024-06-01", "S1", "Shell One Ltd", "x", "HK"),
    )  # before S1 was incorporated
    r = run(d, **full_ctx())
    f = r.features
    assert f["exporter_unknown_to_registry"].tolist() == [0.0, 1.0, 1.0]
    assert f.loc[0, "exporter_company_age_days"] == 59  # 2026-01-01 -> 2026-03-01
    assert f.loc[1:, "exporter_company_age_days"].isna().all()
    assert f["consignee_unknown_to_registry"].tolist() == [0.0, 1.0, 1.0]
    assert (
        f.loc[0, "consignee_company_age_days"]
        == (pd.Timestamp("2026-03-01") - pd.Timestamp("2025-01-01")).days
    )


def test_consignee_id_wins_over_name():
    d = decl(
        ("2026-03-01", "A", "Alpha", "Some Trade Name", "HK"),
        ("2026-03-01", "A", "Alpha", "Shell Two Ltd", "HK"),
        consignee_id=["S1", None],
    )
    c = run(d, **full_ctx()).context
    assert c["consignee_registry_id"].tolist() == ["S1", "S2"]


def test_shared_address_and_agent_counts():
    d = decl(
        ("2026-03-01", "A", "Alpha", "x", "HK"),
        ("2026-03-01", "G", "Gamma", "x", "CN"),
        ("2026-03-01", "S3", "Shell Three", "x", "HK"),
    )
    f = run(d, **full_ctx()).features
    # "Room 5, 1 Main St" is also S1's and S2's address, written differently
    assert f["exporter_address_shared_count"].tolist()[:2] == [2.0, 0.0]
    assert np.isnan(f.loc[2, "exporter_address_shared_count"])  # no address on file
    assert f.loc[0, "exporter_agent_shared_count"] == 2  # H and S1 ("Limited" = "Ltd")


def test_nominee_director_on_five_boards():
    d = decl(
        ("2026-03-01", "N", "Nominee Client", "Gamma Rare Metals Co Ltd", "CN"),
        ("2026-03-01", "A", "Alpha", "x", "HK"),
    )
    r = run(d, **full_ctx())
    assert r.features.loc[0, "exporter_max_director_boards"] == 5
    assert r.context.loc[0, "exporter_busiest_officer"] == "Ivan Nominee"
    assert r.features.loc[0, "consignee_max_director_boards"] == 1
    assert np.isnan(r.features.loc[1, "exporter_max_director_boards"])  # no officers on file


# ---------------------------------------------------------------- robustness
def test_all_reference_tables_absent_gives_empty_features_and_says_why():
    d = decl(("2026-03-01", "A", "Alpha", "x", "HK"), ("2026-03-02", None, None, None, None))
    r = run(d)
    assert list(r.features.columns) == FEATURE_NAMES
    assert r.features.isna().all().all() and (r.features.dtypes == "float64").all()
    assert r.features.index.equals(d.index) and r.context.index.equals(d.index)
    text = " ".join(r.missing)
    for what in (
        "company registry absent",
        "officers table absent",
        "ownership table absent",
        "watchlist absent",
    ):
        assert what in text


def test_empty_tables_missing_columns_and_empty_declarations_do_not_crash():
    empty = dict(
        companies=REGISTRY.iloc[:0], ownership=owns(), officers=officers(), watchlist=WATCHLIST.iloc[:0]
    )
    d = decl(("2026-03-01", "A", "Alpha", "x", "HK"))
    r = run(d, **empty)
    assert r.features.loc[0, "exporter_unknown_to_registry"] == 1
    assert r.features.loc[0, "exporter_watchlist_name_score"] == 0
    bare = dict(
        companies=REGISTRY[["company_id", "name", "country"]],
        watchlist=WATCHLIST[["id", "name"]],
        ownership=owns(("H", "A"), ("H", "G")),
    )
    r = run(d, **bare)
    assert np.isnan(r.features.loc[0, "exporter_company_age_days"])
    assert any("no incorporated_on column" in m for m in r.missing)
    assert r.features.loc[0, "exporter_steps_to_listed_entity"] == 2  # A <- H -> G (listed)
    r = run(d.iloc[:0], **full_ctx())
    assert r.features.empty and list(r.features.columns) == FEATURE_NAMES


def test_rows_in_any_order_keep_their_index_and_inputs_are_not_mutated():
    ctx = full_ctx()
    d = decl(
        ("2026-03-01", "A", "Alpha Trading Ltd", "Omega Magnets", "DE"),
        ("2026-02-01", "N", "Nominee Client", "Shell One", "HK"),
        ("2026-01-15", "G", "Gamma RM Ltd", "Beta Holdings", "VG"),
    )
    d = d.iloc[[2, 0, 1]]
    before = {k: v.copy() for k, v in ctx.items()}, d.copy()
    r = run(d, **ctx)
    for k, v in ctx.items():
        pd.testing.assert_frame_equal(v, before[0][k])
    pd.testing.assert_frame_equal(d, before[1])
    assert r.features.index.equals(d.index)
    assert r.features.loc[0, "exporter_steps_to_listed_entity"] == 2
    assert r.features.loc[2, "exporter_steps_to_listed_entity"] == 0


def test_every_reason_renders_with_the_columns_provided():
    d = decl(
        ("2026-03-01", "A", "Alpha Trading Ltd", "Omega Magnetics LLC", "DE"),
        ("2026-03-01", "N", "Gamma RM Ltd", "Shell One Ltd", "HK"),
    )
    r = run(d, **full_ctx())
    rows = pd.concat([d, r.features, r.context], axis=1).to_dict("records")
    shown = set()
    for row in rows:
        for feat in ownership.FEATURES:
            value = row[feat.name]
            if feat.show_when == "positive" and not value > 0:
                continue
            if feat.show_when in ("positive", "notna") and pd.isna(value):
                continue
            text = feat.reason.format(**row)
            assert "nan" not in text.split(), (feat.name, text)
            shown.add(feat.name)
    assert {
        "exporter_steps_to_listed_entity",
        "consignee_watchlist_name_score",
        "exporter_max_director_boards",
        "exporter_address_shared_count",
    } <= shown
