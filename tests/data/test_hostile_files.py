"""Hostile input files: each stops with one plain message naming the file, or is read with
every row accounted for (rows in = valid + quarantined). Never a traceback."""

from __future__ import annotations

import io
import re
import zipfile
from decimal import Decimal

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from data.errors import ConfigError, DataFileError
from data.io import load_manifest, load_mapping, load_table
from pipelines.cli import app


def _csv_text(frame: pd.DataFrame) -> str:
    return frame.to_csv(index=False, lineterminator="\n")


def _accounted(v, rows: int) -> None:
    assert v.rows_in == rows
    assert v.rows_in == len(v.clean) + v.rows_quarantined


def _validate(*args: str):
    """Run `customs-risk validate ...` in process; return (exit code, everything printed)."""
    result = CliRunner().invoke(app, ["validate", *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"unexpected exception: {result.exception!r}")
    return result.exit_code, result.output


# ---------------------------------------------------------------- CSV text and layout
def test_old_mac_line_endings_are_read(tmp_path, declarations_frame):
    path = tmp_path / "cr.csv"
    path.write_text(_csv_text(declarations_frame(3)).replace("\n", "\r"), newline="")
    v = load_manifest(path)
    _accounted(v, 3)
    assert len(v.clean) == 3


def test_old_mac_line_endings_with_a_ragged_row(tmp_path, declarations_frame):
    lines = _csv_text(declarations_frame(3)).splitlines()
    lines[2] += ",surplus"
    path = tmp_path / "cr.csv"
    path.write_text("\r".join(lines) + "\r", newline="")
    v = load_manifest(path)
    _accounted(v, 3)
    assert v.quarantine["row_number"].tolist() == [2]


def test_blank_lines_before_the_header(tmp_path, declarations_frame):
    path = tmp_path / "m.csv"
    path.write_text("\n\r\n" + _csv_text(declarations_frame(2)))
    _accounted(load_manifest(path), 2)


def test_a_very_long_field_in_a_ragged_file_is_quarantined_not_fatal(tmp_path, declarations_frame):
    df = declarations_frame(3)
    df.loc[0, "goods_description"] = "x" * 300_000  # beyond the csv module's default field limit
    lines = _csv_text(df).splitlines()
    lines[3] += ",surplus"  # forces the row-by-row reader
    path = tmp_path / "m.csv"
    path.write_text("\n".join(lines) + "\n")
    v = load_manifest(path)
    _accounted(v, 3)
    assert sorted(v.quarantine["row_number"]) == [1, 3]
    assert "longer than" in v.quarantine["problems"].iloc[0]


def test_unclosed_quote_names_the_lines_it_swallowed(tmp_path, declarations_frame):
    lines = _csv_text(declarations_frame(5)).splitlines()
    lines[2] = lines[2].replace("live pure-bred", '"live pure-bred', 1)  # opened, never closed
    lines[4] = lines[4].replace("Rotterdam Metals BV", '"Rotterdam Metals BV"', 1)
    path = tmp_path / "m.csv"
    path.write_text("\n".join(lines) + "\n")
    v = load_manifest(path)
    assert v.rows_in == len(v.clean) + v.rows_quarantined
    problem = v.quarantine["problems"].iloc[0]
    assert "spans lines 3-" in problem and "never closed" in problem


def test_a_stray_nul_quarantines_its_row_not_the_whole_file(tmp_path, declarations_frame):
    df = declarations_frame(3)
    df.loc[1, "goods_description"] = "iron ore\x00"
    path = tmp_path / "m.csv"
    path.write_text(_csv_text(df))
    v = load_manifest(path)
    _accounted(v, 3)
    assert v.quarantine["row_number"].tolist() == [2]
    assert "NUL" in v.quarantine["problems"].iloc[0]


@pytest.mark.parametrize(
    ("encode", "expected"),
    [
        (lambda t: t.encode("utf-16"), "is UTF-16 encoded"),
        (lambda t: t.encode("utf-16-le"), "is UTF-16 encoded"),
        (lambda t: t.encode("utf-16-be"), "is UTF-16 encoded"),
    ],
)
def test_utf16_is_named(tmp_path, declarations_frame, encode, expected):
    path = tmp_path / "m.csv"
    path.write_bytes(encode(_csv_text(declarations_frame(3))))
    with pytest.raises(DataFileError, match=expected) as err:
        load_manifest(path)
    assert "iconv" in err.value.message


def test_semicolon_separated_says_so(tmp_path, declarations_frame):
    path = tmp_path / "m.csv"
    declarations_frame(2).to_csv(path, index=False, sep=";")
    with pytest.raises(DataFileError, match="separated by semicolons"):
        load_manifest(path)


def test_workbook_renamed_csv_says_what_it_is(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("xl/workbook.xml", "<workbook/>")
    path = tmp_path / "m.csv"
    path.write_bytes(buf.getvalue())
    with pytest.raises(DataFileError, match="not a CSV text file .*zip archive"):
        load_manifest(path)


# ---------------------------------------------------------------- column names
def test_columns_differing_only_in_case_are_ambiguous(tmp_path, declarations_frame):
    path = tmp_path / "m.csv"
    declarations_frame(2).assign(HS_CODE="9999999999").to_csv(path, index=False)
    with pytest.raises(DataFileError, match="differ only in case"):
        load_manifest(path)


def test_optional_column_in_the_wrong_case_is_not_silently_dropped(tmp_path, declarations_frame):
    path = tmp_path / "m.csv"
    declarations_frame(2).assign(License_ID="EL-1").to_csv(path, index=False)
    with pytest.raises(DataFileError, match="'License_ID'.*license_id only in case"):
        load_manifest(path)


def test_required_column_in_the_wrong_case_is_pointed_out(tmp_path, declarations_frame):
    path = tmp_path / "m.csv"
    declarations_frame(2).rename(columns={"hs_code": "HS_Code"}).to_csv(path, index=False)
    with pytest.raises(DataFileError, match="missing required .*hs_code .*found 'HS_Code'"):
        load_manifest(path)


def test_two_blank_column_names_are_shown_readably(tmp_path, declarations_frame):
    path = tmp_path / "m.csv"
    declarations_frame(2).assign(**{"": "a", " ": "b"}).to_csv(path, index=False)
    with pytest.raises(DataFileError, match="blank name"):
        load_manifest(path)


# ---------------------------------------------------------------- column mapping
def test_mapping_two_columns_to_one_is_refused(tmp_path):
    path = tmp_path / "map.yaml"
    path.write_text("declarations:\n  HS: hs_code\n  ALT: hs_code\n")
    with pytest.raises(ConfigError, match="'HS', 'ALT' are all mapped to hs_code"):
        load_mapping(path)


def test_flat_mapping_to_an_unknown_column_is_refused(tmp_path):
    path = tmp_path / "map.yaml"
    path.write_text("HS: hs_kode\n")
    with pytest.raises(ConfigError, match="not contract columns: 'hs_kode'"):
        load_mapping(path)


def test_mapping_onto_a_column_the_file_already_has(tmp_path, declarations_frame):
    data = tmp_path / "m.csv"
    declarations_frame(2).assign(foo="x").to_csv(data, index=False)
    mapping = tmp_path / "map.yaml"
    mapping.write_text("declarations:\n  foo: exporter_name\n")
    with pytest.raises(DataFileError, match="more than one column named exporter_name.*'foo'"):
        load_manifest(data, load_mapping(mapping))
    code, out = _validate("--manifest", str(data), "--mapping", str(mapping))
    assert code == 2 and "m.csv" in out and "Traceback" not in out


def test_mapping_from_a_column_the_file_lacks_is_explained(tmp_path, declarations_frame):
    data = tmp_path / "m.csv"
    declarations_frame(2).drop(columns="hs_code").to_csv(data, index=False)
    mapping = tmp_path / "map.yaml"
    mapping.write_text("declarations:\n  HSCODE: hs_code\n")
    with pytest.raises(DataFileError, match="takes hs_code from 'HSCODE', which the file does not have"):
        load_manifest(data, load_mapping(mapping))


# ---------------------------------------------------------------- Parquet
def _table(frame: pd.DataFrame, **replace) -> pa.Table:
    tbl = pa.table({c: pa.array(frame[c]) for c in frame.columns})
    for name, array in replace.items():
        tbl = tbl.set_column(tbl.schema.get_field_index(name), name, array)
    return tbl


def test_parquet_duplicate_names_after_trimming(tmp_path, declarations_frame):
    df = declarations_frame(2)
    tbl = _table(df).append_column("hs_code ", pa.array(["x", "y"]))
    pq.write_table(tbl, tmp_path / "m.parquet")
    with pytest.raises(DataFileError, match="duplicate column names: 'hs_code'"):
        load_manifest(tmp_path / "m.parquet")


def test_parquet_exact_duplicate_names(tmp_path, declarations_frame):
    tbl = _table(declarations_frame(2))
    tbl = pa.Table.from_arrays([*tbl.columns, tbl.column("hs_code")], names=[*tbl.column_names, "hs_code"])
    pq.write_table(tbl, tmp_path / "m.parquet")
    with pytest.raises(DataFileError, match="duplicate column names: 'hs_code'"):
        load_manifest(tmp_path / "m.parquet")


@pytest.mark.parametrize(
    ("column", "array", "shown"),
    [
        ("transshipment_ports", pa.array([["VNHPH"], []]), "transshipment_ports (list"),
        ("goods_description", pa.array([{"a": "x"}, {"a": "y"}]), "goods_description (struct"),
        ("gross_weight_kg", pa.array([[1.0], [2.0]]), "gross_weight_kg (list"),
    ],
)
def test_parquet_nested_contract_column(tmp_path, declarations_frame, column, array, shown):
    pq.write_table(_table(declarations_frame(2), **{column: array}), tmp_path / "m.parquet")
    with pytest.raises(DataFileError, match="lists or records") as err:
        load_manifest(tmp_path / "m.parquet")
    assert shown in err.value.message


def test_parquet_nested_extra_column_is_kept_as_text(tmp_path, declarations_frame):
    tbl = _table(declarations_frame(2)).append_column("tags", pa.array([["a"], ["b", "c"]]))
    pq.write_table(tbl, tmp_path / "m.parquet")
    _accounted(load_manifest(tmp_path / "m.parquet"), 2)


def test_parquet_binary_text_is_decoded_or_refused(tmp_path, declarations_frame):
    df = declarations_frame(2)
    ok = pa.array([s.encode() for s in df["goods_description"]], pa.binary())
    pq.write_table(_table(df, goods_description=ok), tmp_path / "ok.parquet")
    v = load_manifest(tmp_path / "ok.parquet")
    assert v.clean["goods_description"].tolist() == df["goods_description"].tolist()
    bad = pa.array([b"\xff\xfe", b"ok"], pa.binary())
    pq.write_table(_table(df, goods_description=bad), tmp_path / "bad.parquet")
    with pytest.raises(DataFileError, match="'goods_description' holds bytes that are not UTF-8"):
        load_manifest(tmp_path / "bad.parquet")


def test_parquet_dictionary_encoded_strings_read_as_text(tmp_path, declarations_frame):
    df = declarations_frame(3)
    tbl = _table(
        df,
        hs_code=pa.array(df["hs_code"]).dictionary_encode(),
        origin_country=pa.array(df["origin_country"]).dictionary_encode(),
    )
    pq.write_table(tbl, tmp_path / "m.parquet")
    v = load_manifest(tmp_path / "m.parquet")
    _accounted(v, 3)
    assert v.clean["hs_code"].tolist() == ["0101210000"] * 3


def test_parquet_written_with_a_pandas_index(tmp_path, declarations_frame):
    declarations_frame(3).set_index("declaration_id").to_parquet(tmp_path / "m.parquet")
    v = load_manifest(tmp_path / "m.parquet")
    assert v.clean["declaration_id"].tolist() == ["D0000", "D0001", "D0002"]
    assert not any(c.startswith("__index_level") for c in v.clean.columns)


@pytest.mark.parametrize(
    "array",
    [
        pa.array([101210000, 101210000], pa.uint64()),
        pa.array([Decimal("101210000"), Decimal("101210000")], pa.decimal128(12, 0)),
        pa.array([101210000, 101210000], pa.int64()).dictionary_encode(),
    ],
)
def test_parquet_codes_stored_as_numbers(tmp_path, declarations_frame, array):
    pq.write_table(_table(declarations_frame(2), hs_code=array), tmp_path / "m.parquet")
    with pytest.raises(DataFileError, match="stores hs_code as numbers"):
        load_manifest(tmp_path / "m.parquet")


def test_parquet_time_zones_read_like_csv_offsets(tmp_path, declarations_frame):
    df = declarations_frame(1)
    local = pa.array([pd.Timestamp("2026-05-20 22:00:00", tz="UTC")], pa.timestamp("us", tz="Asia/Shanghai"))
    pq.write_table(_table(df, declared_at=local), tmp_path / "m.parquet")
    df.loc[0, "declared_at"] = "2026-05-21T06:00:00+08:00"
    (tmp_path / "m.csv").write_text(_csv_text(df))
    from_parquet = load_manifest(tmp_path / "m.parquet").clean["declared_at"].iloc[0]
    from_csv = load_manifest(tmp_path / "m.csv").clean["declared_at"].iloc[0]
    assert from_parquet == from_csv == pd.Timestamp("2026-05-20 22:00:00")


def test_parquet_booleans_are_not_counts(tmp_path, declarations_frame):
    pq.write_table(_table(declarations_frame(2), packages=pa.array([True, False])), tmp_path / "m.parquet")
    v = load_manifest(tmp_path / "m.parquet")
    _accounted(v, 2)
    assert v.rows_quarantined == 2


# ---------------------------------------------------------------- bundle tables and the CLI
def test_bundle_table_with_old_mac_line_endings(tmp_path):
    path = tmp_path / "ownership.csv"
    path.write_text("owner_id,owned_id,share_pct\rP1,C1,100\rP2,C1,50\r", newline="")
    v = load_table(path, "ownership")
    _accounted(v, 2)


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("cr.csv", b"\x00\x00\x00", "not a CSV text file"),
        ("m.csv", "x\n".encode("utf-16"), "UTF-16"),
        ("m.csv", b"\n\nfoo\n", "one field"),
        ("m.parquet", b"declaration_id,hs_code\nD1,260111\n", "not a readable Parquet file"),
        ("m.csv", b"declaration_id,HS_CODE,hs_code\nD1,1,2\n", "differ only in case"),
    ],
)
def test_cli_validate_stops_plainly(tmp_path, name, content, expected):
    path = tmp_path / name
    path.write_bytes(content)
    code, out = _validate("--manifest", str(path))
    assert code == 2
    assert str(path) in out and expected in out
    assert "Traceback" not in out


def test_cli_quarantine_out_to_a_folder_stops_plainly(tmp_path, declarations_frame):
    data = tmp_path / "m.csv"
    declarations_frame(2).to_csv(data, index=False)
    folder = tmp_path / "out"
    folder.mkdir()
    code, out = _validate("--manifest", str(data), "--quarantine-out", str(folder))
    assert code == 2
    assert f"{folder}: cannot be written" in out
    assert "Traceback" not in out


def test_cli_bundle_with_a_crlf_less_table(tmp_path, declarations_frame):
    """A whole bundle whose inspections file uses bare CR line endings validates cleanly."""
    bundle = tmp_path / "bundle"
    (bundle / "declarations").mkdir(parents=True)
    declarations_frame(3).to_csv(bundle / "declarations" / "d.csv", index=False)
    (bundle / "inspections.csv").write_text(
        "declaration_id,inspected_on,outcome\rD0000,2026-11-24,clear\r", newline=""
    )
    (bundle / "companies.csv").write_text("company_id,name,country\rCN-E0001,Baotou,CN\r", newline="")
    (bundle / "ownership.csv").write_text("owner_id,owned_id\rP1,CN-E0001\r", newline="")
    (bundle / "watchlist.csv").write_text("id,name\rW1,Someone listed\r", newline="")
    code, out = _validate("--bundle", str(bundle))
    assert code == 0, out
    assert re.search(r"inspections +1 rows in, +1 clean", out), out
    assert re.search(r"watchlist +1 rows in, +1 clean", out), out
