"""Loaders: CSV and Parquet, column mapping, and whole-file problems stopped with a clear message."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from data.errors import DataFileError
from data.io import load_manifest, load_mapping
from tests.conftest import VALID_DECLARATION


def _write_csv(tmp_path: Path, df: pd.DataFrame, name: str = "manifest.csv") -> Path:
    path = tmp_path / name
    df.to_csv(path, index=False)
    return path


def test_csv_keeps_leading_zeros(tmp_path, declarations_frame):
    path = _write_csv(tmp_path, declarations_frame(3))
    v = load_manifest(path)
    assert v.clean["hs_code"].tolist() == ["0101210000"] * 3
    assert v.rows_in == 3 and v.rows_quarantined == 0


def test_parquet_reads_the_same_as_csv(tmp_path, declarations_frame):
    df = declarations_frame(3)
    df.to_parquet(tmp_path / "m.parquet", index=False)
    a = load_manifest(tmp_path / "m.parquet").clean.drop(columns="_row_number")
    b = load_manifest(_write_csv(tmp_path, df)).clean.drop(columns="_row_number")
    pd.testing.assert_frame_equal(a, b)


def test_parquet_with_typed_columns(tmp_path, declarations_frame):
    df = declarations_frame(2)
    df["gross_weight_kg"] = df["gross_weight_kg"].astype(float)
    df["declared_at"] = pd.to_datetime(df["declared_at"])
    df.to_parquet(tmp_path / "m.parquet", index=False)
    v = load_manifest(tmp_path / "m.parquet")
    assert v.rows_quarantined == 0 and v.clean["gross_weight_kg"].iloc[0] == 1200.5


def test_column_mapping(tmp_path, declarations_frame):
    df = declarations_frame(2).rename(columns={"hs_code": "HS_CODE", "declaration_id": "DECL_NO"})
    path = _write_csv(tmp_path, df)
    mapping_file = tmp_path / "map.yaml"
    mapping_file.write_text("declarations:\n  HS_CODE: hs_code\n  DECL_NO: declaration_id\n")
    v = load_manifest(path, load_mapping(mapping_file))
    assert v.clean["declaration_id"].tolist() == ["D0000", "D0001"]
    with pytest.raises(DataFileError, match="missing required declarations column"):
        load_manifest(path)


def test_bad_row_is_quarantined_and_the_rest_kept(tmp_path, declarations_frame):
    df = declarations_frame(3)
    df.loc[1, "declared_value_usd"] = "lots"
    v = load_manifest(_write_csv(tmp_path, df))
    assert v.rows_in == 3 and len(v.clean) == 2 and v.rows_quarantined == 1
    assert v.quarantine.iloc[0]["row_number"] == 2
    assert v.quarantine.iloc[0]["key"] == "D0001"


def test_ragged_row_is_quarantined_with_its_row_number(tmp_path, declarations_frame):
    path = _write_csv(tmp_path, declarations_frame(3))
    lines = path.read_text().splitlines()
    lines[2] += ",surplus,fields"
    path.write_text("\n".join(lines) + "\n")
    v = load_manifest(path)
    assert v.rows_in == 3 and len(v.clean) == 2
    assert v.quarantine["row_number"].tolist() == [2]
    assert "fields where the header has" in v.quarantine["problems"].iloc[0]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "not a CSV text file"),
        ("declaration_id,hs_code\nD1,caf\xe9\n".encode("latin-1"), "not UTF-8"),
        (b"declaration_id,hs_code\nD1,260111\n", "missing required declarations column"),
        (b"PAR1garbage-not-parquet", "not a readable Parquet file"),
    ],
)
def test_whole_file_problems_name_the_file(tmp_path, content, expected):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(DataFileError) as err:
        load_manifest(path)
    assert expected in err.value.message
    assert str(path) in err.value.message
    assert "What to do" in err.value.message


def test_header_only_manifest_is_an_error(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text(",".join(VALID_DECLARATION) + "\n")
    with pytest.raises(DataFileError, match="no declarations rows"):
        load_manifest(path)


@pytest.mark.slow
def test_cli_reports_a_bad_file_without_traceback(tmp_path):
    path = tmp_path / "photo.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    proc = subprocess.run(
        [sys.executable, "-m", "pipelines.cli", "validate", "--manifest", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 2
    assert "photo.csv: is not a CSV text file" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
