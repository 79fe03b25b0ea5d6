"""The committed HS name table: every chapter, every profiled code, one row per code."""

from __future__ import annotations

import pandas as pd

from data.reference import hs_profiles
from models.naming import _hs_table, format_hs, names_for


def test_the_table_names_all_97_chapters_and_every_profiled_code():
    t = _hs_table()
    assert not t["code"].duplicated().any()
    chapters = t[t["level"] == "chapter"]
    assert sorted(chapters["code"]) == [f"{i:02d}" for i in range(1, 98)]
    assert (t["short_name"].str.strip() != "").all()
    assert (t.loc[t["level"] != "subheading", "title"].str.strip() != "").all()
    assert t.loc[t["level"] == "heading", "code"].str.fullmatch(r"\d{4}").all()
    subheadings = set(t.loc[t["level"] == "subheading", "code"])
    assert set(hs_profiles()["hs_code"].str[:6]) <= subheadings
    # every profiled code's heading has a name of its own too
    assert set(hs_profiles()["hs_code"].str[:4]) <= set(t.loc[t["level"] == "heading", "code"])


def test_codes_are_written_as_tariffs_write_them():
    assert format_hs("2846900010") == "2846.90.00.10"
    assert format_hs("26011100") == "2601.11.00"
    assert format_hs("284690") == "2846.90"
    assert format_hs("2846") == "2846"
    assert format_hs("<script>") == "<script>"  # not a code: left as it is


def test_naming_a_column_works_per_distinct_value_and_keeps_missing_values_missing():
    names = names_for()
    col = names.column(pd.Series(["CNSHA", None, "CNSHA", "ZZZZZ", "nan"]), "port")
    assert col.tolist() == ["CNSHA (Shanghai)", None, "CNSHA (Shanghai)", "ZZZZZ", None]
    assert names.column(pd.Series(["69", "26"]), "chapter").tolist() == [
        "69 (ceramic products)",
        "26 (ores, slag and ash)",
    ]
