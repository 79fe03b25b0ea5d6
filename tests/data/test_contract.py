"""The contract in code: valid rows pass, each kind of bad value is quarantined with a reason."""

from __future__ import annotations

import string

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from data.contract import TABLES, contract_markdown
from data.validate import validate_table
from tests.conftest import VALID_DECLARATION
from tests.examples import examples


def test_contract_matches_the_published_tables():
    decl = TABLES["declarations"]
    assert decl.required_columns[:4] == [
        "declaration_id",
        "declared_at",
        "exporter_id",
        "exporter_name",
    ]
    assert len(decl.required_columns) == 14
    assert set(TABLES) == {
        "declarations",
        "inspections",
        "companies",
        "ownership",
        "officers",
        "watchlist",
        "licenses",
    }
    assert TABLES["watchlist"].required_columns == ["id", "name"]


def test_valid_rows_pass_and_keep_codes_as_text(declarations_frame):
    v = validate_table(declarations_frame(3), "declarations", "m.csv")
    assert len(v.clean) == 3 and v.rows_quarantined == 0
    assert v.clean["hs_code"].tolist() == ["0101210000"] * 3
    assert v.clean["gross_weight_kg"].dtype == "float64"
    assert v.clean["declared_at"].iloc[0] == pd.Timestamp("2026-11-23 08:15:00")


def test_each_problem_is_named_with_row_column_and_value(declarations_frame):
    df = declarations_frame(4)
    df.loc[1, "gross_weight_kg"] = "-5"
    df.loc[1, "hs_code"] = "26O111"  # letter O instead of zero
    df.loc[2, "consignee_country"] = "Netherlands"
    df.loc[3, "declaration_id"] = "D0000"  # duplicate of row 1
    v = validate_table(df, "declarations", "m.csv")
    assert len(v.clean) == 1 and v.rows_in == 4 and v.rows_quarantined == 3
    p = v.problems.set_index(["row_number", "column"])["problem"]
    assert p[(2, "gross_weight_kg")] == "must be greater than 0"
    assert "6 to 10 digits" in p[(2, "hs_code")]
    assert "ISO 3166-1" in p[(3, "consignee_country")]
    assert p[(4, "declaration_id")] == "is a duplicate of row 1"
    summary = v.quarantine.set_index("row_number")["problems"]
    assert "gross_weight_kg '-5' must be greater than 0" in summary[2]


def test_blank_required_value_and_bad_date(declarations_frame):
    df = declarations_frame(2)
    df.loc[0, "exporter_id"] = "  "
    df.loc[1, "declared_at"] = "23/11/2026"
    v = validate_table(df, "declarations", "m.csv")
    assert v.rows_quarantined == 2
    assert "is empty but required" in v.quarantine["problems"].iloc[0]
    assert "ISO 8601" in v.quarantine["problems"].iloc[1]


def test_codes_are_normalised_not_mangled(declarations_frame):
    df = declarations_frame(2)
    df.loc[0, "hs_code"] = "2601.11.00"
    df.loc[1, "port_of_loading"] = "cnsha"
    v = validate_table(df, "declarations", "m.csv")
    assert v.clean["hs_code"].tolist() == ["26011100", "0101210000"]
    assert v.clean["port_of_loading"].tolist() == ["CNSHA", "CNSHA"]


def test_contract_docs_are_generated_from_the_schema():
    md = contract_markdown()
    for spec in TABLES.values():
        for col in spec.columns:
            assert f"| {col.name} |" in md


# ---------------------------------------------------------------- hostile input
hostile_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "",
            " ",
            "NaN",
            "inf",
            "-inf",
            "1e400",
            "-0",
            "null",
            "None",
            "0x1F",
            "=cmd|'/c calc'!A1",
            "<script>alert(1)</script>",
            "\x00",
            "9" * 400,
            "9223372036854775296",  # near the int64 limit: once a traceback, now quarantined
            "-9223372036854775809",
            "9007199254740993",
            "1e18",
            "2026-02-30",
            "2026-11-23T25:00:00",
            "١٢٣",
            "CNSHA;",
            ";",
            "a" * 3000,
        ]
    ),
    st.text(alphabet=string.digits, min_size=0, max_size=12),
)


def test_whole_numbers_beyond_what_a_float_holds_are_quarantined():
    big = ["9223372036854775296", "-9223372036854775809", "9007199254740993", "1e18", "12"]
    rows = [{**VALID_DECLARATION, "declaration_id": f"D{i}", "packages": p} for i, p in enumerate(big)]
    df = pd.DataFrame(rows, dtype="str")
    v = validate_table(df, "declarations", "big.csv")
    assert v.clean["packages"].tolist() == [12]
    bad = v.problems[v.problems["column"] == "packages"]
    assert sorted(bad["row_number"]) == [1, 2, 3, 4]
    assert bad["problem"].str.contains("whole number").all()


# derandomize: the same examples on every run, so CI is reproducible; the hostile values
# above carry the cases random search has found
@settings(
    max_examples=examples(150, quick=10),
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    rows=st.lists(
        st.fixed_dictionaries({}, optional={c: hostile_text for c in VALID_DECLARATION}),
        min_size=1,
        max_size=8,
    )
)
def test_hostile_rows_always_end_valid_or_quarantined(rows):
    df = pd.DataFrame([{**VALID_DECLARATION, **r} for r in rows], dtype="str")
    v = validate_table(df, "declarations", "hostile.csv")
    kept = set(v.clean["_row_number"])
    quarantined = set(v.problems["row_number"])
    assert kept.isdisjoint(quarantined)
    assert kept | quarantined == set(range(1, len(rows) + 1))
    assert v.problems["problem"].str.len().gt(0).all()
    # what passes really is valid
    if len(v.clean):
        assert v.clean["gross_weight_kg"].gt(0).all()
        assert v.clean["hs_code"].str.fullmatch(r"\d{6,10}").all()
        assert v.clean["declared_at"].notna().all()
