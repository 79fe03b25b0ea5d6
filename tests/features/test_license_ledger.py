"""The license check, one failure kind at a time, on tiny hand-built frames.

Each declaration that needs a license (or quotes one) is checked against the quoted license,
or the exporter's own license covering the code when none is quoted: it exists, covers the
code, belongs to the exporter, is for the destination and the consignee, is valid on the day,
and has quantity left, drawn from the declared quantity in kg by earlier declarations first.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from data.reference import hs_profiles
from features import license
from features.base import FeatureContext

PROFILES = hs_profiles()

REGISTER = pd.DataFrame(
    {
        "license_id": ["L-0042", "L-0043", "L-0099"],
        "exporter_id": ["E1", "E1", "E9"],
        "hs_code": ["2846", "850511", "280530"],
        "destination_country": ["JP", "DE", "KR"],
        "consignee_name": ["Kobe Magnetics Co., Ltd", "Magnet Werk GmbH", "Busan Metals Co"],
        "quantity_kg": [12_000.0, 2_000.0, 500.0],
        "valid_from": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-01"]),
        "valid_to": pd.to_datetime(["2024-06-30", "2024-12-31", "2024-12-31"]),
        "end_use": ["magnets", "motors", "alloys"],
    }
)

# a declaration that passes every check against L-0042
GOOD = {
    "exporter_id": "E1",
    "hs_code": "2846901000",
    "declared_at": "2024-03-01 09:00",
    "consignee_name": "KOBE MAGNETICS COMPANY LIMITED",
    "destination_country": "JP",
    "license_id": "L-0042",
    "quantity": 1_000.0,
    "quantity_unit": "kg",
    "net_weight_kg": 1_000.0,
    "gross_weight_kg": 1_050.0,
}


def decl(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame([{**GOOD, **r} for r in rows])
    frame["declaration_id"] = [f"D{i}" for i in range(len(frame))]
    frame["declared_at"] = pd.to_datetime(frame["declared_at"], format="ISO8601")
    for col in ("license_id", "consignee_name", "exporter_id", "hs_code", "quantity_unit"):
        frame[col] = frame[col].astype("str").where(frame[col].notna())
    return frame


def check(rows: list[dict], register: pd.DataFrame | None = REGISTER):
    result = license.compute(decl(rows), FeatureContext(hs_profiles=PROFILES, licenses=register))
    return result.features, result.context


def one(
    rows: list[dict], register: pd.DataFrame | None = REGISTER, at: int = -1
) -> tuple[pd.Series, pd.Series]:
    f, c = check(rows, register)
    return f.iloc[at], c.iloc[at]


# ---------------------------------------------------------------- each failure kind
def test_a_good_declaration_passes_every_check():
    f, c = one([{}])
    assert f["license_check_failures"] == 0.0
    assert c["license_checks_failed"] == ""
    assert pd.isna(c["license_problem"])
    assert f["license_missing"] == 0.0
    assert c["license_checked"] == "L-0042"


def test_nothing_quoted_and_none_held_fails_existence():
    f, c = one([{"license_id": None, "exporter_id": "E5"}])
    assert f["license_check_failures"] == 1.0 and f["license_missing"] == 1.0
    assert c["license_checks_failed"] == "exists"
    assert c["license_problem"] == "no license quoted for 2846901000 and exporter E5 holds none for it"
    # nothing to compare against: the other checks are unknown, not passed
    assert np.isnan(f["license_outside_validity"]) and np.isnan(f["license_quantity_used_share"])


def test_a_quoted_license_missing_from_the_register_fails_existence():
    f, c = one([{"license_id": "L-FAKE"}])
    assert f["license_check_failures"] == 1.0 and f["license_missing"] == 1.0
    assert c["license_problem"] == "license L-FAKE quoted for 2846901000 is not in the register"


def test_code_not_covered():
    f, c = one([{"license_id": "L-0043", "destination_country": "DE", "consignee_name": "Magnet Werk GmbH"}])
    assert c["license_checks_failed"] == "code"
    assert f["license_code_not_covered"] == 1.0 and f["license_check_failures"] == 1.0
    assert c["license_problem"] == "license L-0043 covers 850511, not 2846901000"


def test_someone_elses_license():
    f, c = one(
        [
            {
                "license_id": "L-0099",
                "hs_code": "2805301000",
                "destination_country": "KR",
                "consignee_name": "Busan Metals Co",
                "quantity": 100.0,
            }
        ]
    )
    assert c["license_checks_failed"] == "exporter"
    assert f["license_held_by_other_exporter"] == 1.0
    assert c["license_problem"] == "license L-0099 belongs to exporter E9, not E1"


def test_other_destination():
    f, c = one([{"destination_country": "KR"}])
    assert c["license_checks_failed"] == "destination" and f["license_other_destination"] == 1.0
    assert c["license_problem"] == "license L-0042 covers 2846 to JP but this goes to KR"


def test_other_consignee_after_normalisation_and_typos():
    f, c = check(
        [
            {"consignee_name": "Kobe Magnetics Co. Ltd."},  # legal form spelt otherwise
            {"consignee_name": "Kobe Magnetcis Co., Ltd"},  # a typo
            {"consignee_name": "Osaka Trading"},  # another company
            {"consignee_name": None},  # nobody named
        ]
    )
    assert f["license_other_consignee"].tolist() == [0.0, 0.0, 1.0, 1.0]
    assert c["license_problem"].iloc[2] == (
        "license L-0042 covers 2846 for consignee 'Kobe Magnetics Co., Ltd' but this goes to 'Osaka Trading'"
    )


def test_the_holder_is_the_same_exporter_whatever_the_brokers_id_format():
    """A broker whose software drops the leading zero, or writes the number with a dash, still
    declares for the license's holder; another number is another exporter."""
    register = REGISTER.assign(exporter_id=["0116766265", "E1", "E9"])
    f, c = check(
        [
            {"exporter_id": "116766265"},
            {"exporter_id": "0116-766265"},
            {"exporter_id": "0116766266"},
        ],
        register,
    )
    assert f["license_held_by_other_exporter"].tolist() == [0.0, 0.0, 1.0]
    assert c["license_problem"].iloc[2] == "license L-0042 belongs to exporter 0116766265, not 0116766266"


def _consignee_history(names: list[str]) -> list[dict]:
    """Earlier clean declarations from other exporters' lanes, so that the bundle's names show
    how its legal forms alternate."""
    return [
        {
            "exporter_id": "E5",
            "license_id": None,
            "hs_code": "6907210000",
            "consignee_name": n,
            "declared_at": t,
            "_is_target": False,
        }
        for n, t in zip(names, pd.date_range("2024-01-02", periods=len(names), freq="h"), strict=True)
    ]


def test_legal_forms_the_bundle_uses_are_learned_from_its_names():
    """rigour does not know 'K.K.' or 'Kabushiki Kaisha'; the bundle's names show that they
    alternate with 'Co., Ltd.' after the same names, so a license for 'Tokai Magnetics K.K.'
    covers 'Tokai Magnetics Kabushiki Kaisha' and not 'Osaka Magnetics K.K.'."""
    seen = [
        f"{stem} {form}"
        for stem in ("Sanwa Jisho", "Kitamura Kinzoku", "Hokuriku Seiko", "Tokai Magnetics")
        for form in ("K.K.", "Kabushiki Kaisha", "Co., Ltd.")
    ]
    register = REGISTER.assign(consignee_name=["TOKAI MAGNETICS K.K.", "Magnet Werk GmbH", "Busan Metals Co"])
    rows = _consignee_history(seen) + [
        {"consignee_name": name, "_is_target": True}
        for name in (
            "Tokai Magnetics Kabushiki Kaisha",
            "Tokai Magnetics Co., Ltd.",
            "Osaka Magnetics K.K.",
            "Tokai Materials K.K.",
        )
    ]
    f, _ = check(rows, register)
    assert f["license_other_consignee"].iloc[-4:].tolist() == [0.0, 0.0, 1.0, 1.0]


def test_outside_validity():
    f, c = check([{"declared_at": "2024-06-30 23:00"}, {"declared_at": "2024-07-01 00:30"}])
    assert f["license_outside_validity"].tolist() == [0.0, 1.0]
    assert (
        c["license_problem"].iloc[1] == "license L-0042 is valid 2024-01-01 to 2024-06-30, not on 2024-07-01"
    )


def test_quota_used_up_by_earlier_shipments_in_time_order():
    rows = [
        {"declared_at": "2024-02-01 10:00", "quantity": 5_000.0},
        {"declared_at": "2024-02-01 08:00", "quantity": 4_000.0},  # same day, earlier: draws first
        {"declared_at": "2024-02-03 08:00", "quantity": 3_000.0},  # 12,000 kg: exactly used up
        {"declared_at": "2024-02-04 08:00", "quantity": 100.0},
    ]
    f, c = check(rows)
    assert f["license_quantity_used_share"].tolist() == pytest.approx([0.75, 4 / 12, 1.0, 12_100 / 12_000])
    assert f["license_check_failures"].tolist() == [0.0, 0.0, 0.0, 1.0]
    assert c["license_problem"].iloc[3] == "license L-0042 has quota 12,000 kg used up by 3 earlier shipments"


def test_a_shipment_over_the_rest_of_the_quota_says_by_how_much_was_drawn():
    f, c = check([{"quantity": 11_000.0, "declared_at": "2024-02-01"}, {"quantity": 2_000.0}])
    assert c["license_checks_failed"].iloc[1] == "quota"
    assert c["license_problem"].iloc[1] == (
        "license L-0042 has quota 12,000 kg: 11,000 kg drawn by 1 earlier shipment, "
        "this one's 2,000 kg goes over"
    )


def test_several_failures_make_one_sentence_that_every_license_reason_shows():
    rows = [
        {"declared_at": "2024-02-01", "quantity": 12_000.0},
        {"consignee_name": "Osaka Trading", "quantity": 10.0},
        {"consignee_name": "Osaka Trading", "quantity": 10.0, "declared_at": "2024-03-02"},
        {"consignee_name": "Osaka Trading", "quantity": 10.0, "declared_at": "2024-03-03"},
    ]
    f, c = check(rows)
    last_f, last_c = f.iloc[-1], c.iloc[-1]
    assert last_f["license_check_failures"] == 2.0
    assert last_c["license_checks_failed"] == "consignee, quota"
    sentence = (
        "license L-0042 covers 2846 for consignee 'Kobe Magnetics Co., Ltd' "
        "but this goes to 'Osaka Trading'; quota 12,000 kg used up by 3 earlier shipments"
    )
    assert last_c["license_problem"] == sentence
    record = {**decl(rows).iloc[-1].to_dict(), **last_c.to_dict(), **last_f.to_dict()}
    flagged = [ft for ft in license.FEATURES if ft.name != "controlled_goods" and last_f[ft.name] > 0]
    texts = {ft.reason.format(**record) for ft in flagged if ft.name != "exporter_holds_covering_license"}
    assert texts == {sentence}


# ---------------------------------------------------------------- what is drawn
@pytest.mark.parametrize(
    "quantity, unit, kg",
    [(1.5, "t", 1_500.0), (1.5, "TNE", 1_500.0), (2_000.0, "lb", 907.18474), (500_000.0, "g", 500.0)],
)
def test_declared_quantity_is_converted_to_kg(quantity, unit, kg):
    f, _ = one([{"quantity": quantity, "quantity_unit": unit, "net_weight_kg": 9.0}])
    assert f["license_quantity_used_share"] == pytest.approx(kg / 12_000)


def test_falls_back_to_net_then_gross_mass_and_says_so():
    rows = [
        {"quantity": 40.0, "quantity_unit": "u", "net_weight_kg": 7_000.0, "declared_at": "2024-02-01"},
        {"quantity": None, "quantity_unit": None, "net_weight_kg": None, "gross_weight_kg": 6_000.0},
    ]
    f, c = check(rows)
    assert f["license_quantity_used_share"].tolist() == pytest.approx([7_000 / 12_000, 13_000 / 12_000])
    assert c["license_problem"].iloc[1] == (
        "license L-0042 has quota 12,000 kg: 7,000 kg drawn by 1 earlier shipment, this one's 6,000 kg "
        "goes over (drawn as gross mass: no quantity declared)"
    )
    f, c = check([{"quantity": 20_000.0, "quantity_unit": "u", "net_weight_kg": 13_000.0}])
    assert c["license_problem"].iloc[0].endswith("(drawn as net mass: quantity in 'u', not a mass unit)")


def test_only_the_holders_quoting_declarations_draw_on_the_quota():
    rows = [
        {"exporter_id": "E7", "quantity": 11_000.0, "declared_at": "2024-02-01"},  # someone else quotes it
        {"license_id": None, "quantity": 11_000.0, "declared_at": "2024-02-02"},  # the holder, not quoting
        {"quantity": 2_000.0},
    ]
    f, _ = check(rows)
    assert f["license_quantity_used_share"].iloc[2] == pytest.approx(2_000 / 12_000)


def test_later_declarations_never_change_an_earlier_ones_check():
    first = [{"quantity": 11_500.0, "declared_at": "2024-02-01"}, {"quantity": 400.0}]
    f1, c1 = check(first)
    f2, c2 = check(first + [{"quantity": 5_000.0, "declared_at": "2024-03-15"}])
    pd.testing.assert_frame_equal(f1, f2.iloc[:2])
    assert c2["license_checks_failed"].iloc[2] == "quota"


# ---------------------------------------------------------------- the exporter's own license
def test_nothing_quoted_is_checked_against_the_exporters_own_license():
    f, c = check(
        [
            {"license_id": None},  # E1 holds L-0042, which fits: no check fails, but nothing was quoted
            {"license_id": None, "consignee_name": "Osaka Trading"},
        ]
    )
    assert f["license_check_failures"].tolist() == [0.0, 1.0]
    assert f["license_missing"].tolist() == [1.0, 1.0]
    assert c["license_checked"].tolist() == ["L-0042", "L-0042"]
    assert c["license_problem"].iloc[0] == (
        "no license quoted for 2846901000; the exporter's own license L-0042 would cover it"
    )
    assert (
        c["license_problem"]
        .iloc[1]
        .startswith("no license quoted; the exporter's license L-0042 covers 2846 ")
    )


# ---------------------------------------------------------------- which codes need a license
def test_codes_are_learned_from_registered_quotes_not_from_a_covering_prefix_alone():
    # cerium compounds (284610) are only "watch" in the reference table; L-0042's prefix 2846
    # covers them, but that alone does not make every cerium shipment need a license
    cerium = {"hs_code": "2846100000", "license_id": None, "exporter_id": "E5"}
    f, c = one([cerium])
    assert f["controlled_goods"] == 0.0 and np.isnan(f["license_check_failures"])
    # once most earlier cerium shipments quoted a registered license covering them, it does
    quotes = [
        {"hs_code": "2846100000", "declared_at": f"2024-02-{d:02d}", "quantity": 10.0} for d in range(1, 6)
    ]
    f, c = check(
        quotes + [{**cerium, "declared_at": "2024-02-04 12:00"}, {**cerium, "declared_at": "2024-03-01"}]
    )
    assert f["controlled_goods"].tolist() == [0.0] * 5 + [0.0, 1.0]  # 4 quotes before Feb 4 noon, 5 by March
    assert c["license_required_why"].iloc[-1] == (
        "5 earlier declarations under 284610 quoted a registered license"
    )
    assert c["license_checks_failed"].iloc[-1] == "exists"


def test_without_the_register_only_the_prior_is_known():
    f, c = check([{}, {"hs_code": "2601110000", "license_id": None}], register=None)
    assert f["controlled_goods"].tolist() == [1.0, 0.0]
    assert f.drop(columns="controlled_goods").isna().all().all()


def test_declarations_without_a_license_column_are_checked_against_the_exporters_own():
    frame = decl([{}, {"exporter_id": "E5"}, {"consignee_name": "Osaka Trading"}]).drop(columns="license_id")
    result = license.compute(frame, FeatureContext(hs_profiles=PROFILES, licenses=REGISTER))
    f, c = result.features, result.context
    assert f["license_missing"].tolist() == [1.0, 1.0, 1.0]  # nothing quoted
    assert f["license_check_failures"].tolist() == [0.0, 1.0, 1.0]
    assert c["license_checks_failed"].tolist() == ["", "exists", "consignee"]
