"""Validated reference tables kept between runs: used only while the file (unchanged, or touched
with the same content), the mapping and the code are as they were; the same rows, problems and
notes as validating again."""

from __future__ import annotations

import json
import os

import pandas as pd

from data import kept as kept_module
from data.io import load_table
from data.kept import compare_file, file_stamp, load_table_kept

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


def _validations(monkeypatch) -> list[str]:
    """Record every table read and validated (not taken from the keep)."""
    import data.io

    seen: list[str] = []
    real = data.io.load_table

    def spy(path, table, *args, **kwargs):
        seen.append(table)
        return real(path, table, *args, **kwargs)

    monkeypatch.setattr(data.io, "load_table", spy)
    return seen


def _hashes(monkeypatch) -> list[str]:
    """Record every file whose content is hashed."""
    seen: list[str] = []
    real = kept_module.content_hash

    def spy(path):
        seen.append(str(path))
        return real(path)

    monkeypatch.setattr(kept_module, "content_hash", spy)
    return seen


def _touch(path, seconds: int = 5) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + seconds * 1_000_000_000))


def test_a_touched_file_of_the_same_content_is_not_validated_again(tmp_path, monkeypatch):
    path = tmp_path / "companies.csv"
    path.write_text(HEADER + ROWS, encoding="utf-8")
    keep = tmp_path / "kept"
    load_table_kept(path, "companies", None, keep)
    frames = {f.name: f.stat().st_mtime_ns for f in keep.glob("*.parquet")}
    _touch(path)
    validated, hashed = _validations(monkeypatch), _hashes(monkeypatch)
    part, kept = load_table_kept(path, "companies", None, keep)
    assert kept and validated == [] and hashed == [str(path)]
    _same(part, load_table(path, "companies"))
    # the kept rows are as they were; the stamp carries the new time, so it is not hashed again
    assert {f.name: f.stat().st_mtime_ns for f in keep.glob("*.parquet")} == frames
    stamp = json.loads((keep / "companies.json").read_text(encoding="utf-8"))["stamp"]
    assert stamp["content"][:2] == [path.stat().st_size, path.stat().st_mtime_ns]
    assert not list(keep.glob(".*.partial"))
    hashed.clear()
    assert load_table_kept(path, "companies", None, keep)[1] and validated == [] and hashed == []


def test_a_touched_file_changed_at_the_same_size_is_validated_again(tmp_path, monkeypatch):
    path = tmp_path / "companies.csv"
    path.write_text(HEADER + ROWS, encoding="utf-8")
    load_table_kept(path, "companies", None, tmp_path / "kept")
    before = path.stat()
    path.write_text(HEADER + ROWS.replace("Agent One", "Agent Two"), encoding="utf-8")
    assert path.stat().st_size == before.st_size
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 5_000_000_000))
    validated = _validations(monkeypatch)
    part, kept = load_table_kept(path, "companies", None, tmp_path / "kept")
    assert not kept and validated == ["companies"]
    assert "Agent Two" in set(part.clean["registered_agent"].dropna())
    _same(part, load_table(path, "companies"))


def test_a_keep_stamped_in_the_older_layout_is_validated_again(tmp_path, monkeypatch):
    """A table kept by an earlier version (size and time beside the path, no content hash) is
    read again, and kept anew in the current layout."""
    path = tmp_path / "companies.csv"
    path.write_text(HEADER + ROWS, encoding="utf-8")
    keep = tmp_path / "kept"
    load_table_kept(path, "companies", None, keep)
    meta = json.loads((keep / "companies.json").read_text(encoding="utf-8"))
    size, mtime, _ = meta["stamp"].pop("content")
    meta["stamp"].update(size=size, mtime_ns=mtime)
    (keep / "companies.json").write_text(json.dumps(meta), encoding="utf-8")
    validated = _validations(monkeypatch)
    part, kept = load_table_kept(path, "companies", None, keep)
    assert not kept and validated == ["companies"]
    _same(part, load_table(path, "companies"))
    assert load_table_kept(path, "companies", None, keep)[1] and validated == ["companies"]


def test_compare_file_tells_unchanged_touched_and_changed(tmp_path):
    path = tmp_path / "inspections.csv"
    path.write_bytes(b"declaration_id,outcome\nD1,clear\n")
    stamp = file_stamp(path)
    assert stamp[:2] == [path.stat().st_size, path.stat().st_mtime_ns]
    assert compare_file(path, stamp) == ("unchanged", stamp)
    _touch(path)
    assert compare_file(path, stamp) == ("touched", [stamp[0], path.stat().st_mtime_ns, stamp[2]])
    path.write_bytes(b"declaration_id,outcome\nD1,viola\n")  # same size, other content
    _touch(path, 10)
    assert compare_file(path, stamp) == ("changed", None)
    # a stamp of another layout (no hash), damaged, or a file gone: changed, never an error
    for was in (stamp[:2], None, "x", [stamp[0], "t", stamp[2]], {"size": stamp[0]}):
        assert compare_file(path, was) == ("changed", None)
    fresh = file_stamp(path)
    path.unlink()
    assert compare_file(path, fresh) == ("changed", None)
