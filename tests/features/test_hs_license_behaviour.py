"""Unit tests of the hs_mismatch, license and behaviour families on hand-built frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from data.reference import hs_profiles
from features import behaviour, hs_mismatch, license
from features.base import FeatureContext
from features.build import portable_state

PROFILES = hs_profiles()
TYPICAL = PROFILES.set_index("hs_code")["value_per_kg_typical"]


def make_decl(rows: list[dict], index: list | None = None) -> pd.DataFrame:
    """Declarations with defaults for every column a test does not care about."""
    base = {
        "exporter_id": "E1",
        "hs_code": "2601110000",
        "goods_description": "iron ore fines",
        "declared_value_usd": 110.0,
        "gross_weight_kg": 1000.0,
        "net_weight_kg": 1000.0,
        "declared_at": "2024-01-10",
        "consignee_name": "Foo Co., Ltd",
        "consignee_country": "JP",
        "destination_country": "JP",
        "license_id": None,
        "declarant_id": "B1",
    }
    frame = pd.DataFrame([{**base, **r} for r in rows])
    frame["declaration_id"] = [f"D{i}" for i in range(len(frame))]
    frame["declared_at"] = pd.to_datetime(frame["declared_at"], format="ISO8601")
    for col in ("license_id", "consignee_name", "exporter_id", "hs_code"):
        frame[col] = frame[col].astype("str").where(frame[col].notna())
    if index is not None:
        frame.index = index
    return frame


def labels_frame(rows: list[tuple[str, str, int]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "declaration_id": [r[0] for r in rows],
            "label_time": pd.to_datetime([r[1] for r in rows], format="ISO8601"),
            "violation": [float(r[2]) for r in rows],
        }
    )


# ================================================================ hs_mismatch
def test_exporter_profile_share_of_heading_and_new_chapter():
    decl = make_decl(
        [
            {"declared_at": "2024-01-01", "hs_code": "2601110000"},  # D0 iron ore (26, 2601)
            {"declared_at": "2024-01-02", "hs_code": "2601120000"},  # D1 iron ore pellets (2601)
            {"declared_at": "2024-01-03", "hs_code": "2615100000"},  # D2 zircon sand (26, 2615)
            {"declared_at": "2024-01-04", "hs_code": "6909110000"},  # D3 ceramics: chapter 69 is new
            {"declared_at": "2024-01-05", "hs_code": "260111"},  # D4 iron ore again
            {"declared_at": "2024-01-05", "hs_code": "7202990000"},  # D5 same moment as D4
            {"declared_at": "2024-01-06", "hs_code": "6909110000", "exporter_id": "E2"},  # D6
        ]
    )
    f = hs_mismatch.compute(decl, FeatureContext(hs_profiles=PROFILES)).features
    share = f["exporter_share_of_this_heading"]
    assert np.isnan(share[0])  # nothing shipped before
    assert share[1:6].tolist() == pytest.approx([1 / 1, 0 / 2, 0 / 3, 2 / 4, 0 / 4])
    assert np.isnan(share[6])  # E2's first shipment; E1's history is not E2's
    # a new chapter counts only for an exporter with at least 3 earlier shipments
    assert f["exporter_new_chapter"].tolist() == [0.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0]


# A small corpus of the kind the text model learns from: description -> declared heading.
CORPUS = [
    ("Iron ore fines, Fe 62%", "2601110000"),
    ("iron ore lump 58% Fe", "2601110000"),
    ("IRON ORE CONCENTRATE IN BULK BAGS", "2601110000"),
    ("Hematite iron ore fines", "2601110000"),
    ("iron ore, non-agglomerated", "2601110000"),
    ("Iron ore pellets", "2601120000"),
    ("Neodymium oxide Nd2O3 99.5%", "2846901000"),
    ("Dysprosium oxide powder", "2846901000"),
    ("rare earth oxide powder in steel drums", "2846901000"),
    ("Terbium oxide 99.99%", "2846901000"),
    ("Praseodymium-neodymium oxide", "2846901000"),
    ("NEODYMIUM OXIDE IN DRUMS", "2846901000"),
    ("Technical ceramic insulators", "6909110000"),
    ("Alumina ceramic parts", "6909110000"),
    ("ceramic wares for laboratory use", "6909110000"),
    ("Zircon sand", "2615100000"),
    ("zirconium ore concentrate", "2615100000"),
    ("Zircon flour in bags", "2615100000"),
]


def _text_decl(extra_training: list[tuple[str, str]] = ()) -> tuple[pd.DataFrame, np.ndarray]:
    """Corpus twice over as training rows, plus two rows to describe (not trained on)."""
    train = [*CORPUS, *CORPUS, *extra_training]
    targets = [("neodymium oxide powder", "2601110000"), ("iron ore fines", "2601110000")]
    rows = [
        {
            "goods_description": text,
            "hs_code": code,
            "declared_at": pd.Timestamp("2024-01-01") + pd.Timedelta(hours=i),
        }
        for i, (text, code) in enumerate([*train, *targets])
    ]
    decl = make_decl(rows)
    return decl, np.arange(len(decl)) < len(train)


def test_text_model_flags_rare_earths_declared_as_iron_ore():
    decl, train = _text_decl()
    ctx = FeatureContext(hs_profiles=PROFILES)
    ctx.state = {hs_mismatch.FAMILY: hs_mismatch.fit(decl, ctx, train)}
    result = hs_mismatch.compute(decl, ctx)
    f, c = result.features, result.context
    rare_earth, iron_ore = len(decl) - 2, len(decl) - 1
    assert f.loc[rare_earth, "description_fits_declared_heading"] < 0.05
    assert f.loc[rare_earth, "description_suggests_controlled"] > 0.9
    assert c.loc[rare_earth, "predicted_heading"] == "2846"
    assert c.loc[rare_earth, "predicted_heading_description"].startswith("Compounds of rare-earth")
    assert f.loc[iron_ore, "description_fits_declared_heading"] > 0.9
    assert f.loc[iron_ore, "description_suggests_controlled"] < 0.1
    assert c.loc[iron_ore, "predicted_heading"] == "2601"
    assert not result.missing


def test_text_model_ignores_descriptions_of_known_violations():
    # a rare-earth description under the iron-ore heading, found violating on inspection,
    # must not teach the model that neodymium oxide is iron ore
    decl, train = _text_decl([("neodymium oxide powder 99%", "2601110000")] * 3)
    bad = decl.loc[train, "declaration_id"].iloc[-3:]
    labels = labels_frame([(d, "2024-01-20", 1) for d in bad])
    ctx = FeatureContext(hs_profiles=PROFILES, labels=labels)
    ctx.state = {hs_mismatch.FAMILY: hs_mismatch.fit(decl, ctx, train)}
    with_bad = hs_mismatch.compute(decl, ctx).features

    clean_decl, clean_train = _text_decl()
    clean_ctx = FeatureContext(hs_profiles=PROFILES, labels=labels)
    clean_ctx.state = {hs_mismatch.FAMILY: hs_mismatch.fit(clean_decl, clean_ctx, clean_train)}
    without = hs_mismatch.compute(clean_decl, clean_ctx).features
    cols = ["description_fits_declared_heading", "description_suggests_controlled"]
    np.testing.assert_allclose(with_bad[cols].iloc[-2:].to_numpy(), without[cols].iloc[-2:].to_numpy())


def test_without_a_text_model_description_features_are_empty():
    decl, _ = _text_decl()
    result = hs_mismatch.compute(decl, FeatureContext(hs_profiles=PROFILES))
    assert result.features["description_fits_declared_heading"].isna().all()
    assert result.features["description_suggests_controlled"].isna().all()
    assert any("no fitted text model" in m for m in result.missing)


def test_code_cover_violation_rate_pools_national_codes_by_hs6():
    decl = make_decl(
        [
            {"declared_at": "2024-01-01", "hs_code": "2601110000"},
            {"declared_at": "2024-02-10", "hs_code": "26011100"},  # same HS6, other national code
            {"declared_at": "2024-02-10", "hs_code": "6909110000"},
            {"declared_at": "2024-01-10", "hs_code": "2601110000"},  # before the outcome is known
        ]
    )
    labels = labels_frame([("D0", "2024-01-15", 1)])
    f = hs_mismatch.compute(decl, FeatureContext(hs_profiles=PROFILES, labels=labels)).features
    prior = (1 + 1) / (1 + 30)
    rate = f["code_cover_violation_rate"]
    assert rate[1] == pytest.approx((1 + 20 * prior) / (1 + 20))
    assert np.isnan(rate[2])  # ceramics were never inspected: no record, not the overall rate
    assert np.isnan(rate[3])  # the outcome was not known yet


# ================================================================ license
LICENSES = pd.DataFrame(
    {
        "license_id": ["L1", "L2", "L3"],
        "exporter_id": ["E1", "E1", "E9"],
        "hs_code": ["2846", "284690", "850511"],  # L1 covers a whole heading, L2 one HS6
        "destination_country": ["JP", "JP", "DE"],
        "consignee_name": ["Foo Co., Ltd", "Foo Co., Ltd", "Magnet GmbH"],
        "quantity_kg": [1000.0, 5000.0, 2000.0],
        "valid_from": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-01"]),
        "valid_to": pd.to_datetime(["2024-06-30", "2024-12-31", "2024-12-31"]),
    }
)
LICENSE_FLAGS = [
    "license_outside_validity",
    "license_held_by_other_exporter",
    "license_other_destination",
    "license_other_consignee",
    "license_code_not_covered",
]


def _license(rows: list[dict], index: list | None = None, licenses=LICENSES):
    base = {"hs_code": "2846901000", "net_weight_kg": 100.0, "gross_weight_kg": 110.0}
    decl = make_decl([{**base, **r} for r in rows], index=index)
    return license.compute(decl, FeatureContext(hs_profiles=PROFILES, licenses=licenses))


def test_controlled_goods_without_a_registered_license():
    result = _license(
        [
            {"license_id": None, "exporter_id": "E3"},  # controlled, nothing quoted, none held
            {"license_id": "EL-NOT-IN-REGISTER"},  # quoted, but unknown
            {"license_id": None, "hs_code": "2601110000"},  # iron ore needs no license
            {"license_id": "L1"},  # fine
        ]
    )
    f = result.features
    assert f["controlled_goods"].tolist() == [1.0, 1.0, 0.0, 1.0]
    assert f["license_missing"].tolist() == [1.0, 1.0, 0.0, 0.0]
    # without a license found, its details are unknown, not "fine"
    assert f.loc[:2, LICENSE_FLAGS + ["license_quantity_used_share"]].isna().all().all()
    assert (f.loc[3, LICENSE_FLAGS] == 0.0).all()
    assert result.context.loc[0, "license_quoted"] == "none"


def test_license_validity_holder_destination_and_code():
    f = _license(
        [
            {"license_id": "L1", "declared_at": "2024-06-30 23:00"},  # last valid day
            {"license_id": "L1", "declared_at": "2024-07-01 08:00"},  # expired
            {"license_id": "L1", "declared_at": "2023-12-31 23:59"},  # not yet valid
            {"license_id": "L1", "exporter_id": "E2"},  # someone else's license
            {"license_id": "L1", "destination_country": "KR"},  # licensed for JP
            {"license_id": "L2", "hs_code": "2805300000"},  # L2 covers 284690 only
            {"license_id": "L1", "hs_code": "2846100000"},  # heading 2846 covers it
        ]
    ).features
    assert f["license_outside_validity"].tolist() == [0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]
    assert f["license_held_by_other_exporter"].tolist() == [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]
    assert f["license_other_destination"].tolist() == [0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0]
    assert f["license_code_not_covered"].tolist() == [0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    assert f["license_missing"].sum() == 0.0


def test_consignee_name_variants_are_not_another_consignee():
    f = _license(
        [
            {"license_id": "L1", "consignee_name": "FOO COMPANY LIMITED"},
            {"license_id": "L1", "consignee_name": "foo co. ltd."},
            {"license_id": "L1", "consignee_name": "Bar Trading GmbH"},
            {"license_id": "L1", "consignee_name": None},
        ]
    ).features
    assert f["license_other_consignee"].tolist() == [0.0, 0.0, 1.0, 1.0]


def test_quantity_ledger_follows_time_not_row_order():
    rows = [
        {"license_id": "L1", "declared_at": "2024-03-01", "net_weight_kg": 400.0},
        {"license_id": "L1", "declared_at": "2024-01-15", "net_weight_kg": 400.0},
        {"license_id": "L2", "declared_at": "2024-01-20", "net_weight_kg": 900.0},  # other license
        {"license_id": "L1", "declared_at": "2024-02-01", "net_weight_kg": 400.0},
    ]
    result = _license(rows, index=[30, 10, 40, 20])
    share = result.features["license_quantity_used_share"]
    assert share.index.tolist() == [30, 10, 40, 20]
    # 1000 kg licensed: 400 (Jan 15), 800 (Feb 1), 1200 kg (Mar 1: exhausted)
    assert share[10] == pytest.approx(0.4)
    assert share[20] == pytest.approx(0.8)
    assert share[30] == pytest.approx(1.2)
    assert share[40] == pytest.approx(900 / 5000)
    assert result.context.loc[30, "license_quantity_kg"] == 1000.0


def test_quantity_ledger_falls_back_to_gross_weight():
    f = _license(
        [
            {
                "license_id": "L1",
                "declared_at": "2024-01-15",
                "net_weight_kg": np.nan,
                "gross_weight_kg": 300.0,
            },
            {"license_id": "L1", "declared_at": "2024-01-16", "net_weight_kg": 200.0},
        ]
    ).features
    assert f["license_quantity_used_share"].tolist() == pytest.approx([0.3, 0.5])


def test_exporter_holds_a_covering_license():
    f = _license(
        [
            {"license_id": None, "exporter_id": "E1"},  # holds L1 and L2
            {"license_id": None, "exporter_id": "E3"},  # holds nothing
            {"license_id": None, "exporter_id": "E1", "declared_at": "2025-03-01"},  # all expired
            {"license_id": None, "exporter_id": "E9", "hs_code": "8505110000"},  # holds L3
            {"license_id": None, "exporter_id": "E9"},  # L3 is for magnets
            {"license_id": None, "hs_code": "2601110000"},  # not controlled
        ]
    ).features
    got = f["exporter_holds_covering_license"]
    assert got[:5].tolist() == [1.0, 0.0, 0.0, 1.0, 0.0]
    assert np.isnan(got[5])


def test_without_license_register_coverage_is_empty():
    result = _license([{"license_id": "L1"}, {"license_id": None}], licenses=None)
    f = result.features
    assert list(f.columns) == [x.name for x in license.FEATURES]
    assert f["controlled_goods"].tolist() == [1.0, 1.0]
    assert f.drop(columns="controlled_goods").isna().all().all()
    assert any("licenses table absent" in m for m in result.missing)


# ================================================================ behaviour
def test_shipment_counts_in_30_and_90_days():
    decl = make_decl(
        [
            {"declared_at": "2024-01-01"},  # t0
            {"declared_at": "2024-01-15"},
            {"declared_at": "2024-01-31"},  # t0 + 30 days
            {"declared_at": "2024-03-31"},  # t0 + 90 days
            {"declared_at": "2024-04-01"},
            {"declared_at": "2024-01-15", "exporter_id": "E2"},
        ]
    )
    f = behaviour.compute(decl, FeatureContext()).features
    # [t - 30 d, t): Jan 31 sees Jan 1 (on the boundary) and Jan 15; Mar 31 sees nothing since Mar 1
    assert f["exporter_shipments_30d"].tolist() == [0.0, 1.0, 2.0, 0.0, 1.0, 0.0]
    # [t - 90 d, t): Mar 31 sees Jan 1, 15, 31; Apr 1 has lost Jan 1 but gained Mar 31
    assert f["exporter_shipments_90d"].tolist() == [0.0, 1.0, 2.0, 3.0, 3.0, 0.0]
    assert f["exporter_first_shipment"].tolist() == [1.0, 0.0, 0.0, 0.0, 0.0, 1.0]
    # a first shipment has no trading history: empty, with 0 shipments before
    days = f["exporter_days_trading"]
    assert np.isnan(days[0]) and np.isnan(days[5])
    assert days[1:5].tolist() == [14.0, 30.0, 90.0, 91.0]
    assert f["exporter_shipments_before"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0, 0.0]


def test_consignee_volume_by_id_or_by_normalised_name():
    decl = make_decl(
        [
            {"declared_at": "2024-01-01", "consignee_name": "Foo Co., Ltd"},
            {"declared_at": "2024-01-02", "consignee_name": "FOO COMPANY LIMITED"},
            {"declared_at": "2024-01-03", "consignee_name": "Bar GmbH"},
            {"declared_at": "2024-01-04", "consignee_name": "foo co ltd"},
        ]
    )
    f = behaviour.compute(decl, FeatureContext()).features
    assert f["consignee_shipments_90d"].tolist() == [0.0, 1.0, 0.0, 2.0]
    # a registry id wins over the name: the same name under two ids are two consignees
    decl["consignee_id"] = pd.Series(["C1", "C2", None, "C1"], dtype="str")
    f = behaviour.compute(decl, FeatureContext()).features
    assert f["consignee_shipments_90d"].tolist() == [0.0, 0.0, 0.0, 1.0]


def test_violation_rate_uses_only_outcomes_recorded_before():
    decl = make_decl(
        [
            {"declared_at": "2024-01-01"},  # D0: found violating Jan 20
            {"declared_at": "2024-01-10"},  # D1: outcome not known yet
            {"declared_at": "2024-01-20"},  # D2: same moment as the outcome
            {"declared_at": "2024-01-25"},  # D3: outcome known
            {"declared_at": "2024-01-25", "exporter_id": "E2", "declarant_id": "B2"},
        ]
    )
    labels = labels_frame([("D0", "2024-01-20", 1)])
    f = behaviour.compute(decl, FeatureContext(labels=labels)).features
    prior = (1 + 1) / (1 + 30)
    rate = f["exporter_violation_rate"]
    # no outcome known yet: no record (empty), never the overall rate
    assert rate[:3].isna().all()
    assert rate[3] == pytest.approx((1 + 20 * prior) / (1 + 20))
    assert np.isnan(rate[4])  # E2 has no record of its own
    assert f["exporter_inspections_before"].tolist() == [0.0, 0.0, 0.0, 1.0, 0.0]
    assert f["exporter_violations_before"].tolist() == [0.0, 0.0, 0.0, 1.0, 0.0]
    assert f["declarant_violation_rate"][3] == pytest.approx((1 + 20 * prior) / 21)
    assert np.isnan(f["declarant_violation_rate"][4])
    assert f["consignee_country_violation_rate"][4] == pytest.approx((1 + 20 * prior) / 21)


def test_behaviour_without_outcomes_or_declarant():
    decl = make_decl([{}, {"declared_at": "2024-02-01"}]).drop(columns="declarant_id")
    result = behaviour.compute(decl, FeatureContext())
    f = result.features
    rates = ["exporter_violation_rate", "consignee_country_violation_rate", "declarant_violation_rate"]
    assert f[rates].isna().all().all()
    assert f["exporter_inspections_before"].tolist() == [0.0, 0.0]
    assert f["exporter_shipments_30d"].tolist() == [0.0, 1.0]  # Jan 10 is 22 days before
    assert any("no inspection outcomes" in m for m in result.missing)
    assert any("declarant_id absent" in m for m in result.missing)


# ================================================================ all three families
@pytest.mark.parametrize("family", [hs_mismatch, license, behaviour], ids=lambda m: m.FAMILY)
def test_families_do_not_mutate_inputs_and_keep_the_index(family):
    decl, train = _text_decl()
    decl = decl.assign(
        license_id=np.where(np.arange(len(decl)) % 3 == 0, "L1", None),
        hs_code=np.where(np.arange(len(decl)) % 2 == 0, "2846901000", decl["hs_code"]),
    )
    decl.index = decl.index * 10 + 5
    labels = labels_frame(
        [
            (decl["declaration_id"].iloc[0], "2024-01-01 05:00", 1),
            (decl["declaration_id"].iloc[3], "2024-01-02", 0),
        ]
    )
    ctx = FeatureContext(hs_profiles=PROFILES, licenses=LICENSES.copy(), labels=labels)
    frames = {"decl": decl, "licenses": ctx.licenses, "labels": labels}
    before = {k: v.copy(deep=True) for k, v in frames.items()}
    if family is hs_mismatch:
        ctx.state = {family.FAMILY: family.fit(decl, ctx, train)}
    result = family.compute(decl, ctx)
    for name, frame in frames.items():
        pd.testing.assert_frame_equal(frame, before[name], obj=name)
    names = [f.name for f in family.FEATURES]
    assert list(result.features.columns) == names
    assert result.features.index.equals(decl.index)
    assert (result.features.dtypes == "float64").all()
    if len(result.context.columns):
        assert result.context.index.equals(decl.index)


@pytest.mark.parametrize("family", [hs_mismatch, license, behaviour], ids=lambda m: m.FAMILY)
def test_families_handle_an_empty_frame_with_a_scoring_state(family):
    decl, train = _text_decl()
    ctx = FeatureContext(
        hs_profiles=PROFILES, licenses=LICENSES, labels=labels_frame([("D0", "2024-01-02", 1)])
    )
    # a trained model carries the text model without its out-of-fold table
    ctx.state = portable_state({hs_mismatch.FAMILY: hs_mismatch.fit(decl, ctx, train)})
    result = family.compute(decl.iloc[:0], ctx)
    assert result.features.shape == (0, len(family.FEATURES))
