"""Reading bundles and manifests (CSV or Parquet, optional column mapping) and writing outputs.

This is the one place that knows file formats. Reading never drops a row silently:
malformed rows are quarantined with a reason, and a file that cannot be used at all
raises :class:`DataFileError` naming the file and the problem.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from data.arrays import isin
from data.contract import TABLES
from data.errors import ConfigError, DataFileError
from data.validate import (
    ROW,
    Validated,
    empty_problems,
    row_level_problems,
    summarise_problems,
    validate_table,
)

TABULAR_SUFFIXES = {".csv", ".parquet", ".pq"}
BUNDLE_FILES = {  # table -> file stem inside the bundle folder
    "inspections": "inspections",
    "companies": "companies",
    "ownership": "ownership",
    "officers": "officers",
    "watchlist": "watchlist",
    "licenses": "licenses",
}
MAPPING_HINT = (
    "rename the columns in your export, or map them in a column-mapping YAML "
    "(--mapping FILE; see the README, 'Bring your own data')"
)


# ---------------------------------------------------------------- column mapping
def load_mapping(path: Path | str | None) -> dict[str, dict[str, str]]:
    """Read a column-mapping YAML: ``{table: {their_column: contract_column}}``.

    A flat mapping ``{their_column: contract_column}`` applies to every table.
    """
    if path is None:
        return {}
    import yaml

    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise ConfigError(
            f"{path}: cannot read the column mapping ({err.__class__.__name__}: {str(err).splitlines()[0]})"
        ) from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: a column mapping must be a YAML mapping of names")
    flat = all(isinstance(v, str) for v in doc.values())
    if flat:
        doc = {t: dict(doc) for t in TABLES}
    mapping: dict[str, dict[str, str]] = {}
    for table, cols in doc.items():
        if table not in TABLES:
            raise ConfigError(f"{path}: unknown table '{table}' (known: {', '.join(TABLES)})")
        if not isinstance(cols, dict) or not all(isinstance(v, str) for v in cols.values()):
            raise ConfigError(f"{path}: '{table}' must map your column names to contract names")
        unknown = sorted(set(cols.values()) - set(TABLES[table].column_names))
        if unknown and not flat:
            raise ConfigError(f"{path}: {table}: not contract columns: {', '.join(unknown)}")
        mapping[table] = {str(k): v for k, v in cols.items()}
    return mapping


# ---------------------------------------------------------------- reading one file
@dataclass
class RawTable:
    frame: pd.DataFrame
    row_numbers: np.ndarray
    problems: pd.DataFrame  # rows that could not even be split into fields


def _is_parquet(path: Path, head: bytes) -> bool:
    return path.suffix.lower() in {".parquet", ".pq"} or head[:4] == b"PAR1"


def read_raw(path: Path, table: str) -> RawTable:
    """Read a CSV or Parquet file as raw columns (CSV: every value as text)."""
    if not path.exists():
        raise DataFileError(path, "file not found", "check the path")
    if path.is_dir():
        raise DataFileError(path, "is a folder, not a file", "give the CSV or Parquet file itself")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise DataFileError(path, f"cannot be read ({err.strerror})", "check the permissions") from None
    if len(data) == 0:
        raise DataFileError(path, "is empty (0 bytes)", "export the table again with its header row")
    if _is_parquet(path, data[:4]):
        return _read_parquet(path, data)
    return _read_csv(path, data, table)


def _read_parquet(path: Path, data: bytes) -> RawTable:
    import pyarrow.parquet as pq

    try:
        frame = pq.read_table(io.BytesIO(data)).to_pandas()
    except Exception as err:  # pyarrow raises many types for corrupt files
        raise DataFileError(
            path,
            f"is not a readable Parquet file ({str(err).splitlines()[0]})",
            "export it again as Parquet or as UTF-8 CSV",
        ) from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return RawTable(frame, np.arange(1, len(frame) + 1), empty_problems())


def _decode(path: Path, data: bytes) -> str:
    if b"\x00" in data[:65536]:
        raise DataFileError(
            path,
            "is not a CSV text file (it contains binary data)",
            "export the table as UTF-8 CSV or Parquet",
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise DataFileError(
            path,
            f"is not UTF-8 encoded: byte 0x{data[err.start]:02x} on line {line} is invalid",
            "re-export the file as UTF-8 (e.g. 'CSV UTF-8' in a spreadsheet, or iconv -t UTF-8)",
        ) from None


def _read_csv(path: Path, data: bytes, table: str) -> RawTable:
    text = _decode(path, data)
    if not text.strip():
        raise DataFileError(path, "is empty (no header row)", "export the table with its header row")
    header = next(csv.reader(io.StringIO(text)))
    header = [h.strip() for h in header]
    if len(header) < 2:
        raise DataFileError(
            path,
            f"does not look like a comma-separated file (its header has one field: {header[0][:60]!r})",
            "export it as comma-separated UTF-8 CSV",
        )
    if len(set(header)) != len(header):
        dups = sorted({h for h in header if header.count(h) > 1})
        raise DataFileError(
            path,
            f"has duplicate column names: {', '.join(dups)}",
            "give every column a distinct name",
        )
    try:
        frame = _read_csv_fast(text, header)
        rows = np.arange(1, len(frame) + 1)
        problems = empty_problems()
    except _RaggedRows:
        frame, rows, problems = _read_csv_careful(text, header, str(path), table)
    return RawTable(frame, rows, problems)


class _RaggedRows(Exception):
    pass


def _read_csv_fast(text: str, header: list[str]) -> pd.DataFrame:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    ragged: list[int] = []

    def on_invalid(_row) -> str:
        ragged.append(1)
        return "skip"

    try:
        tbl = pacsv.read_csv(
            io.BytesIO(text.encode("utf-8")),
            read_options=pacsv.ReadOptions(column_names=header, skip_rows=1, block_size=1 << 24),
            parse_options=pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(
                column_types={h: pa.string() for h in header},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except Exception as err:  # any parse trouble: fall back to the careful reader
        raise _RaggedRows from err
    if ragged:
        raise _RaggedRows
    return tbl.to_pandas()


def _read_csv_careful(text: str, header: list[str], source: str, table: str):
    """Row-by-row reader used only when the fast one meets malformed rows: finds each one."""
    reader = csv.reader(io.StringIO(text))
    next(reader)
    good: list[list[str]] = []
    good_rows: list[int] = []
    bad_rows: list[int] = []
    bad_keys: list[str] = []
    bad_text: list[str] = []
    width = len(header)
    for i, record in enumerate(reader, start=1):
        if len(record) == width:
            good.append(record)
            good_rows.append(i)
        elif len(record) == 0:
            continue  # blank line
        else:
            bad_rows.append(i)
            bad_keys.append(record[0][:128] if record else "")
            bad_text.append(f"has {len(record)} fields where the header has {width}")
    frame = pd.DataFrame(good, columns=header, dtype="str")
    problems = row_level_problems(source, table, np.array(bad_rows), bad_keys, bad_text)
    return frame, np.array(good_rows, dtype="int64"), problems


# ---------------------------------------------------------------- one table, validated
def apply_mapping(frame: pd.DataFrame, table: str, mapping: dict[str, dict[str, str]]) -> pd.DataFrame:
    cols = mapping.get(table, {})
    return frame.rename(columns=cols) if cols else frame


def load_table(
    path: Path | str,
    table: str,
    mapping: dict[str, dict[str, str]] | None = None,
    allow_empty: bool | None = None,
) -> Validated:
    """Read and validate one contract table from a CSV or Parquet file."""
    path = Path(path)
    spec = TABLES[table]
    raw = read_raw(path, table)
    frame = apply_mapping(raw.frame, table, mapping or {})
    missing = [c for c in spec.required_columns if c not in frame.columns]
    if missing:
        raise DataFileError(
            path, f"is missing required {table} column(s): {', '.join(missing)}", MAPPING_HINT
        )
    if allow_empty is None:
        allow_empty = table != "declarations"
    if len(frame) == 0 and len(raw.problems) == 0 and not allow_empty:
        raise DataFileError(path, f"has a header but no {table} rows", "check that the export contains data")
    if (
        table in {"declarations", "inspections", "licenses"}
        and "hs_code" in frame.columns
        and frame["hs_code"].dtype.kind in "if"
    ):
        raise DataFileError(
            path,
            "stores hs_code as numbers, so leading zeros are lost",
            "store codes as text (string) columns",
        )
    result = validate_table(frame, table, str(path), raw.row_numbers)
    if len(raw.problems):
        result.problems = pd.concat([raw.problems, result.problems], ignore_index=True)
        result.rows_in += len(raw.problems)
    return result


def load_manifest(path: Path | str, mapping: dict[str, dict[str, str]] | None = None) -> Validated:
    """Read and validate a day's declarations file (the manifest to score)."""
    return load_table(path, "declarations", mapping, allow_empty=False)


# ---------------------------------------------------------------- a bundle folder
@dataclass
class Bundle:
    """A validated data bundle: clean typed tables, everything quarantined, and notes."""

    path: Path
    tables: dict[str, pd.DataFrame]
    problems: pd.DataFrame
    rows_in: dict[str, int]
    notes: list[str] = field(default_factory=list)

    @property
    def quarantine(self) -> pd.DataFrame:
        return summarise_problems(self.problems)

    def table(self, name: str) -> pd.DataFrame | None:
        return self.tables.get(name)

    def summary(self) -> str:
        lines = [f"Bundle {self.path}"]
        q = self.quarantine
        for name in TABLES:
            if name in self.tables:
                nq = int((q["table"] == name).sum()) if len(q) else 0
                lines.append(
                    f"  {name:<13} {self.rows_in.get(name, 0):>10,} rows in, "
                    f"{len(self.tables[name]):>10,} clean, {nq:>7,} quarantined"
                )
            else:
                lines.append(f"  {name:<13} absent")
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def _find_table_file(folder: Path, stem: str) -> Path | None:
    hits = [folder / f"{stem}{s}" for s in (".csv", ".parquet", ".pq") if (folder / f"{stem}{s}").exists()]
    if len(hits) > 1:
        raise DataFileError(
            folder,
            f"has more than one file for table {stem}: {', '.join(h.name for h in hits)}",
            "keep one of them",
        )
    return hits[0] if hits else None


def declaration_files(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in TABULAR_SUFFIXES)
    if not files:
        raise DataFileError(
            folder,
            "holds no CSV or Parquet declaration files",
            "put the history of declarations there as .csv or .parquet files",
        )
    return files


def load_bundle(path: Path | str, mapping: dict[str, dict[str, str]] | None = None) -> Bundle:
    """Read and validate a bundle folder laid out as in the data contract."""
    root = Path(path)
    if not root.is_dir():
        raise DataFileError(
            root,
            "is not a bundle folder",
            "give the folder that holds declarations/, inspections.csv, companies.csv...",
        )
    mapping = mapping or {}
    tables: dict[str, pd.DataFrame] = {}
    problems: list[pd.DataFrame] = []
    rows_in: dict[str, int] = {}
    notes: list[str] = []

    decl_dir = root / "declarations"
    if not decl_dir.is_dir():
        single = _find_table_file(root, "declarations")
        if single is None:
            raise DataFileError(
                root,
                "has no declarations/ folder",
                "put the history of declarations in BUNDLE/declarations/",
            )
        decl_files = [single]
    else:
        decl_files = declaration_files(decl_dir)
    parts = [load_table(f, "declarations", mapping, allow_empty=True) for f in decl_files]
    decl = pd.concat([p.clean.assign(_source=p.source) for p in parts], ignore_index=True)
    problems += [p.problems for p in parts]
    notes += sorted({n for p in parts for n in p.notes})
    rows_in["declarations"] = sum(p.rows_in for p in parts)
    # ids must be unique across files too
    dup = decl["declaration_id"].duplicated(keep="first")
    if dup.any():
        problems.append(
            _cross_problems(
                decl[dup],
                "declarations",
                "declaration_id",
                "appears in more than one declarations file",
            )
        )
        decl = decl[~dup]
    tables["declarations"] = decl.reset_index(drop=True)

    for table, stem in BUNDLE_FILES.items():
        f = _find_table_file(root, stem)
        if f is None:
            if TABLES[table].required_in_bundle:
                raise DataFileError(
                    root,
                    f"has no {stem}.csv (or .parquet), a required table",
                    f"add {stem}.csv to the bundle",
                )
            notes.append(f"optional table {table} is absent: features that need it are left out")
            continue
        part = load_table(f, table, mapping)
        tables[table] = part.clean.assign(_source=part.source)
        problems.append(part.problems)
        notes += part.notes
        rows_in[table] = part.rows_in

    ins = tables["inspections"]
    orphan = ~isin(ins["declaration_id"], tables["declarations"]["declaration_id"])
    if orphan.any():
        problems.append(
            _cross_problems(
                ins[orphan],
                "inspections",
                "declaration_id",
                "does not match any declaration in the bundle",
            )
        )
        tables["inspections"] = ins[~orphan].reset_index(drop=True)

    allp = [p for p in problems if len(p)]
    return Bundle(
        root,
        tables,
        pd.concat(allp, ignore_index=True) if allp else empty_problems(),
        rows_in,
        notes,
    )


def _cross_problems(rows: pd.DataFrame, table: str, column: str, problem: str) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "source": rows["_source"].astype("str").to_numpy(),
            "table": table,
            ROW: rows["_row_number"].astype("int64").to_numpy(),
            "key": rows[column].astype("str").to_numpy(),
            "column": column,
            "value": rows[column].astype("str").to_numpy(),
            "problem": problem,
        }
    )


# ---------------------------------------------------------------- writing, atomically
@contextmanager
def atomic_dir(target: Path | str) -> Iterator[Path]:
    """Yield a temporary folder beside ``target``; on success it replaces ``target`` whole.

    If the body raises, the temporary folder is removed and ``target`` is left untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if target.exists():
        old = target.parent / f".{target.name}.old-{os.getpid()}"
        os.replace(target, old)
    os.replace(tmp, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Neutralise text cells a spreadsheet would run as formulas (=, +, -, @ at the start)."""
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            text = out[col].astype("str")
            risky = text.str.match(r"^[=+\-@\t\r]") & out[col].notna()
            if risky.any():
                out[col] = text.where(~risky, "'" + text).where(out[col].notna())
    return out


def write_frame(frame: pd.DataFrame, path: Path, safe_for_spreadsheets: bool = False) -> Path:
    """Write a frame as CSV or Parquet by suffix (dates ISO 8601, codes as text)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in {".parquet", ".pq"}:
        frame.to_parquet(path, index=False)
    else:
        data = spreadsheet_safe(frame) if safe_for_spreadsheets else frame
        if any(data[c].dtype.kind == "M" for c in data.columns):
            data.to_csv(path, index=False, date_format="%Y-%m-%dT%H:%M:%S", lineterminator="\n")
        else:  # Arrow's writer is several times faster for big outputs such as scored rows
            import pyarrow as pa
            import pyarrow.csv as pacsv

            pacsv.write_csv(pa.Table.from_pandas(data, preserve_index=False), path)
    return path
