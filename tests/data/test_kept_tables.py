"""Validated reference tables kept between runs: used only while the file, the mapping and the
code are as they were; the same rows, problems and notes as validating again."""

from __future__ import annotations

import pandas as pd

from data.io import load_table
from data.kept import load_table_kept

HEADER = '"company_id","name","country","address","incorporated_on","registered_agent","employees"\n'
ROWS = (
    '"C1","Baotou Rare Earth Trading Co., Ltd","CN","12 Steel Road, Baotou, CN","2019-10-17",,51\n'
    '"C2","Rotterdam Metals BV","NL","Havenweg 3, Rotterdam, NL","2011-02-01","Agent One",12\n'
    '"","No Id Ltd","XX","nowhere","not a date",,-3\n'
)


def _same(a, b) -> None:
    pd.testing.assert_frame_equal(a.clean, b.clean)
    pd.testing.assert_frame_equal(a.problems.reset_index(drop=True), b.problems.reset_index(drop=True))
    assert (a.rows_in, a.notes, a.source) == (b.rows_in, b.notes, b.source)


def test_an_unchanged_table_is_kept_and_equals_validating_it_again(tmp_path):
    path = tmp_path / "companies.csv"
    path.write_text(HEADER + ROWS, encoding="utf-8")
    first, kept = load_table_kept(path, "companies", None, tmp_path / "kept")
    assert not kept and len(first.problems)  # the bad row is quarantined, not lost
    second, kept = load_table_kept(path, "companies", None, tmp_path / "kept")
    assert kept
    _same(second, load_table(path, "companies"))


def test_a_changed_file_or_mapping_is_validated_again(tmp_path):
    path = tmp_path / "companies.csv"
    path.write_text(HEADER + ROWS, encoding="utf-8")
    load_table_kept(path, "companies", None, tmp_path / "kept")
    path.write_text(
        HEADER + ROWS + '"C3","Osaka Magnetics K.K.","JP","1 Bay St, Osaka, JP","2020-01-01",,9\n'
    )
    again, kept = load_table_kept(path, "companies", None, tmp_path / "kept")
    assert not kept and "C3" in set(again.clean["company_id"])
    renamed = tmp_path / "registry.csv"
    renamed.write_text((HEADER + ROWS).replace('"company_id"', '"firm_no"', 1), encoding="utf-8")
    mapping = {"companies": {"firm_no": "company_id"}}
    load_table_kept(renamed, "companies", mapping, tmp_path / "kept2")
    other, kept = load_table_kept(
        renamed, "companies", {"companies": {"firm_no": "company_id", "x": "y"}}, tmp_path / "kept2"
    )
    assert not kept and set(other.clean["company_id"]) == {"C1", "C2"}


def test_a_damaged_keep_is_read_again_without_an_error(tmp_path):
    path = tmp_path / "companies.csv"
    path.write_text(HEADER + ROWS, encoding="utf-8")
    load_table_kept(path, "companies", None, tmp_path / "kept")
    (tmp_path / "kept" / "companies.clean.parquet").write_bytes(b"not parquet")
    part, kept = load_table_kept(path, "companies", None, tmp_path / "kept")
    assert not kept
    _same(part, load_table(path, "companies"))
    assert load_table_kept(path, "companies", None, tmp_path / "kept")[1]  # kept anew
