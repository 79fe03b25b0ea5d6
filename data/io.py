"""Reading bundles and manifests (CSV or Parquet, optional column mapping) and writing outputs.

This is the one place that knows file formats. Reading never drops a row silently:
malformed rows are quarantined with a reason, and a file that cannot be used at all
raises :class:`DataFileError` naming the file and the problem.
"""

from __future__ import annotations

import csv
import io
import os
import re
import secrets
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

from data.contract import TABLES
from data.errors import ConfigError, DataFileError
from data.outcomes import OutcomeReport, settle_outcomes
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
        known = {c for spec in TABLES.values() for c in spec.column_names} if flat else None
        unknown = sorted(set(cols.values()) - (known or set(TABLES[table].column_names)))
        if unknown:
            where = "" if flat else f"{table}: "
            raise ConfigError(f"{path}: {where}not contract columns: {', '.join(map(repr, unknown))}")
        targets: dict[str, list[str]] = {}
        for source, target in cols.items():
            targets.setdefault(target, []).append(str(source))
        for target, sources in targets.items():
            if len(sources) > 1:
                raise ConfigError(
                    f"{path}: {', '.join(map(repr, sources))} are all mapped to {target}; "
                    "map exactly one of your columns to each contract column"
                )
        mapping[table] = {str(k): v for k, v in cols.items()}
    return mapping


# ---------------------------------------------------------------- reading one file
@dataclass
class RawTable:
    frame: pd.DataFrame
    row_numbers: np.ndarray
    problems: pd.DataFrame  # rows that could not even be split into fields
    nested: dict[str, str] = field(default_factory=dict)  # Parquet list/struct columns -> their type


def _is_parquet(path: Path, head: bytes) -> bool:
    return path.suffix.lower() in {".parquet", ".pq"} or head[:4] == b"PAR1"


def read_raw(path: Path, table: str, columns: list[str] | None = None) -> RawTable:
    """Read a CSV or Parquet file as raw columns (CSV: every value as text); ``columns``: read
    only these of a Parquet file (those it holds)."""
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
        return _read_parquet(path, data, columns)
    return _read_csv(path, data, table)


def _read_parquet(path: Path, data: bytes, columns: list[str] | None = None) -> RawTable:
    """Read Parquet as the columns it holds (its pandas metadata, attacker-written too, is ignored);
    ``columns``: only those of them (the others are never decoded)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(io.BytesIO(data))
        if columns is not None:
            wanted = set(columns)
            columns = [c for c in pf.schema_arrow.names if c.strip() in wanted]
        table = pf.read(columns=columns)
    except Exception as err:  # pyarrow raises many types for corrupt files
        raise DataFileError(
            path,
            f"is not a readable Parquet file ({str(err).splitlines()[0]})",
            "export it again as Parquet or as UTF-8 CSV",
        ) from None
    names = [str(c).strip() for c in table.column_names]
    _check_unique_names(path, names)
    keep, columns, nested = [], [], {}
    for name, col in zip(names, table.columns, strict=True):
        if _PANDAS_INDEX.match(name):
            continue  # a pandas index written alongside the data, not a column of it
        if pa.types.is_dictionary(col.type):  # dictionary-encoded: read the values themselves
            col = col.cast(col.type.value_type)
        if pa.types.is_binary(col.type) or pa.types.is_large_binary(col.type):
            try:
                col = col.cast(pa.large_string())
            except pa.ArrowInvalid:
                raise DataFileError(
                    path,
                    f"column {name!r} holds bytes that are not UTF-8 text",
                    "store text columns as UTF-8 strings",
                ) from None
        if pa.types.is_nested(col.type):
            nested[name] = str(col.type)
        keep.append(name)
        columns.append(col)
    try:
        frame = pa.Table.from_arrays(columns, names=keep).to_pandas(ignore_metadata=True)
    except Exception as err:  # e.g. a type pandas has no counterpart for
        raise DataFileError(
            path,
            f"has columns that cannot be read ({str(err).splitlines()[0]})",
            "store plain text, numbers and dates (one value per cell)",
        ) from None
    return RawTable(frame, np.arange(1, len(frame) + 1), empty_problems(), nested)


_PANDAS_INDEX = re.compile(r"^__index_level_\d+__$")
_BINARY_SIGNATURES = {
    b"PK\x03\x04": "a zip archive, e.g. an Excel .xlsx workbook",
    b"\xd0\xcf\x11\xe0": "an Excel .xls or other Office document",
    b"\x1f\x8b": "a gzip archive",
    b"%PDF": "a PDF document",
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"7z\xbc\xaf": "a 7-Zip archive",
    b"Rar!": "a RAR archive",
}


def _looks_utf16(head: bytes) -> bool:
    """UTF-16 text without a byte-order mark: every other byte of ASCII text is NUL."""
    sample = head[:2000]
    if len(sample) < 8:
        return False
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    return max(even, odd) > 0.3 * (len(sample) / 2) and min(even, odd) < 0.05 * (len(sample) / 2)


def _decode(path: Path, data: bytes) -> str:
    head = data[:65536]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or _looks_utf16(head):
        raise DataFileError(
            path,
            "is UTF-16 encoded, not UTF-8",
            "re-export the file as UTF-8 CSV ('CSV UTF-8' in a spreadsheet, or iconv -f UTF-16 -t UTF-8)",
        )
    kind = next((what for magic, what in _BINARY_SIGNATURES.items() if head.startswith(magic)), None)
    # A stray NUL inside a field is the row's problem (quarantined), not the file's.
    if kind is not None or head.count(b"\x00") > len(head) // 100:
        raise DataFileError(
            path,
            f"is not a CSV text file (it {'is ' + kind if kind else 'contains binary data'})",
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
    text = _decode(path, data).lstrip("\r\n")  # blank lines before the header are no data
    if not text.strip():
        raise DataFileError(path, "is empty (no header row)", "export the table with its header row")
    with _csv_errors(path):
        header = next(csv.reader(io.StringIO(text, newline="")))
    header = [h.strip() for h in header]
    if len(header) < 2:
        seps = [name for sep, name in ((";", "semicolons"), ("\t", "tabs"), ("|", "'|'")) if sep in header[0]]
        looks = f"; it seems separated by {seps[0]}" if seps else ""
        raise DataFileError(
            path,
            "does not look like a comma-separated file "
            f"(its header has one field: {header[0][:60]!r}{looks})",
            "export it as comma-separated UTF-8 CSV",
        )
    _check_unique_names(path, header)
    try:
        frame = _read_csv_fast(text, header)
        rows = np.arange(1, len(frame) + 1)
        problems = empty_problems()
    except _RaggedRows:
        with _csv_errors(path):
            frame, rows, problems = _read_csv_careful(text, header, str(path), table)
    return RawTable(frame, rows, problems)


def _check_unique_names(path: Path, names: list[str]) -> None:
    dups = sorted({h for h in names if names.count(h) > 1})
    if dups:
        shown = ", ".join(repr(d) if d else "'' (a blank name)" for d in dups)
        raise DataFileError(path, f"has duplicate column names: {shown}", "give every column a distinct name")


@contextmanager
def _csv_errors(path: Path) -> Iterator[None]:
    """Let the csv module read fields of any length; turn what it cannot parse into a file error."""
    limit = csv.field_size_limit()
    csv.field_size_limit(2**31 - 1)  # long fields are quarantined by validation, with their row
    try:
        yield
    except csv.Error as err:
        raise DataFileError(
            path, f"cannot be read as CSV ({err})", "export it again as comma-separated UTF-8 CSV"
        ) from None
    finally:
        csv.field_size_limit(limit)


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
    reader = csv.reader(io.StringIO(text, newline=""))
    next(reader)
    good: list[list[str]] = []
    good_rows: list[int] = []
    bad_rows: list[int] = []
    bad_keys: list[str] = []
    bad_text: list[str] = []
    width = len(header)
    i = 0
    last_line = reader.line_num
    for record in reader:
        first_line, last_line = last_line + 1, reader.line_num
        if len(record) == 0:
            continue  # blank line (the fast reader skips them too, uncounted)
        i += 1
        if len(record) == width:
            good.append(record)
            good_rows.append(i)
        else:
            bad_rows.append(i)
            bad_keys.append(record[0][:128])
            problem = f"has {len(record)} fields where the header has {width}"
            if last_line > first_line:
                problem += (
                    f" (it spans lines {first_line}-{last_line} of the file: a quote opened and never"
                    " closed joins the lines after it into this row)"
                )
            bad_text.append(problem)
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
    columns: list[str] | None = None,
) -> Validated:
    """Read and validate one contract table from a CSV or Parquet file; ``columns``: the contract
    columns wanted (a Parquet file's others are not read; the required ones always are)."""
    path = Path(path)
    spec = TABLES[table]
    if columns is not None:
        renames = (mapping or {}).get(table, {})
        wanted = set(columns) | set(spec.required_columns)
        columns = sorted(wanted | {src for src, dst in renames.items() if dst in wanted})
    raw = read_raw(path, table, columns)
    renames = (mapping or {}).get(table, {})
    frame = apply_mapping(raw.frame, table, mapping or {})
    _check_mapped_columns(path, table, list(raw.frame.columns), list(frame.columns), renames)
    missing = [c for c in spec.required_columns if c not in frame.columns]
    if missing:
        raise DataFileError(
            path,
            f"is missing required {table} column(s): {', '.join(missing)}"
            + _near_misses(missing, list(raw.frame.columns), renames),
            MAPPING_HINT,
        )
    nested = [(renames.get(c, c), t) for c, t in raw.nested.items() if renames.get(c, c) in spec.column_names]
    if nested:
        raise DataFileError(
            path,
            "holds lists or records instead of one value per cell in column(s): "
            + ", ".join(f"{c} ({t})" for c, t in nested),
            "store one plain value per cell (lists as ';'-separated text, e.g. ports 'VNHPH;MYPKG')",
        )
    if allow_empty is None:
        allow_empty = table != "declarations"
    if len(frame) == 0 and len(raw.problems) == 0 and not allow_empty:
        raise DataFileError(path, f"has a header but no {table} rows", "check that the export contains data")
    numeric_codes = [
        c.name
        for c in spec.columns
        if c.kind in {"hs_code", "hs_prefix"} and c.name in frame.columns and _holds_numbers(frame[c.name])
    ]
    soft_numeric = [c for c in numeric_codes if c in spec.soft_columns]
    if soft_numeric:  # the label does not need it: blank it rather than lose the outcomes
        frame = frame.assign(**{c: None for c in soft_numeric})
        numeric_codes = [c for c in numeric_codes if c not in soft_numeric]
    if numeric_codes:
        raise DataFileError(
            path,
            f"stores {', '.join(numeric_codes)} as numbers, so leading zeros are lost",
            "store codes as text (string) columns",
        )
    result = validate_table(frame, table, str(path), raw.row_numbers)
    for c in soft_numeric:
        result.notes.append(
            f"{path.name}: {c} is stored as numbers, so leading zeros are lost: the column was left blank "
            "(store codes as text); the outcomes are kept"
        )
    if len(raw.problems):
        result.problems = pd.concat([raw.problems, result.problems], ignore_index=True)
        result.rows_in += len(raw.problems)
    return result


def _fold(name: str) -> str:
    return "".join(str(name).split()).lower()


def _check_mapped_columns(
    path: Path, table: str, before: list[str], after: list[str], renames: dict[str, str]
) -> None:
    """Exactly one column per contract name, once mapped; none that merely looks like one."""
    for name in sorted({c for c in after if after.count(c) > 1}):
        sources = [b for b, a in zip(before, after, strict=True) if a == name]
        raise DataFileError(
            path,
            f"has more than one column named {name} once the column mapping is applied "
            f"(from {', '.join(map(repr, sources))})",
            "map exactly one of your columns to each contract column",
        )
    spec = TABLES[table]
    for contract in spec.column_names:
        alike = [c for c in after if c != contract and _fold(c) == _fold(contract)]
        if not alike:
            continue
        if contract in after:
            raise DataFileError(
                path,
                f"has columns whose names differ only in case or spaces: {contract}, "
                f"{', '.join(map(repr, alike))}; it is unclear which one holds {contract}",
                "keep one of them, or give the other a distinct name",
            )
        if not spec.column(contract).required:  # required ones are reported as missing
            raise DataFileError(
                path,
                f"has column {alike[0]!r}, which differs from the {table} column {contract} only "
                "in case or spaces, so it would not be read",
                f"rename it to {contract} ({MAPPING_HINT})",
            )


def _near_misses(missing: list[str], columns: list[str], renames: dict[str, str]) -> str:
    """Why a required column may be missing: a mapped name not in the file, or a near spelling."""
    notes = []
    for c in missing:
        sources = [s for s, t in renames.items() if t == c and s not in columns]
        alike = [h for h in columns if _fold(h) == _fold(c)]
        if sources:
            notes.append(f"the column mapping takes {c} from {sources[0]!r}, which the file does not have")
        elif alike:
            notes.append(f"found {alike[0]!r}: column names must match exactly")
    return f" ({'; '.join(notes)})" if notes else ""


def _holds_numbers(column: pd.Series) -> bool:
    """A code column stored as numbers (integers, floats, decimals) has lost its leading zeros."""
    if column.dtype.kind in "iuf":
        return True
    if column.dtype != object:
        return False
    first = column.dropna().head(1)
    return (
        bool(len(first))
        and isinstance(first.iloc[0], (int, float, Decimal))
        and not isinstance(first.iloc[0], bool)
    )


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
    warnings: pd.DataFrame = field(default_factory=empty_problems)  # kept rows with a blanked field
    outcomes: OutcomeReport = field(default_factory=OutcomeReport)

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
        lines += ["  " + line for line in self.outcomes.lines()]
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


def load_bundle(
    path: Path | str,
    mapping: dict[str, dict[str, str]] | None = None,
    extra_outcomes: list[Path] | tuple[Path, ...] = (),
    known_declarations: Callable[[pd.Series], pd.DataFrame] | None = None,
    settled_outcomes: tuple[pd.DataFrame, OutcomeReport] | None = None,
    kept: Path | None = None,
) -> Bundle:
    """Read and validate a bundle folder laid out as in the data contract.

    ``extra_outcomes``: more files in the inspections layout (e.g. exported from the review
    app), read after the bundle's own; a later outcome for a declaration supersedes an earlier.
    ``known_declarations``: the history is not read (``declarations`` is None): given the outcomes'
    declaration ids, it returns (declaration_id, declared_at) of those the history holds (a feature
    state's index of the history), which the outcomes are settled against.
    ``settled_outcomes``: (outcomes, report) settled before (kept with a feature state): no
    outcome file is read, and the history neither.
    ``kept``: a folder where validated reference tables are kept between runs (``data.kept``).
    """
    root = Path(path)
    if settled_outcomes is not None and extra_outcomes:
        raise ValueError("extra outcome files cannot join outcomes already settled")
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

    if known_declarations is None and settled_outcomes is None:
        history = load_history(root, mapping)
        tables["declarations"] = history.clean
        problems += history.problems
        notes += history.notes
        rows_in["declarations"] = history.rows_in

    outcome_parts: list[Validated] = []
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
        if table == "inspections":
            if settled_outcomes is None:
                outcome_parts.append(load_table(f, table, mapping))
            continue
        if kept is not None:
            from data.kept import load_table_kept

            part, _ = load_table_kept(f, table, mapping, kept)
        else:
            part = load_table(f, table, mapping)
        tables[table] = part.clean.assign(_source=part.source)
        problems.append(part.problems)
        notes += part.notes
        rows_in[table] = part.rows_in
    for f in extra_outcomes:  # exported by the review app: ids like =D001 were written '=D001
        part = load_table(Path(f), "inspections", mapping)
        outcome_parts.append(replace(part, clean=spreadsheet_unsafe(part.clean)))

    if settled_outcomes is not None:
        (ins, report), aside = settled_outcomes, empty_problems()
        tables["declarations"] = None
    elif known_declarations is None:
        ins, aside, report = _settle(outcome_parts, tables["declarations"])
    else:
        ids = pd.concat([p.clean["declaration_id"] for p in outcome_parts], ignore_index=True)
        ins, aside, report = _settle(outcome_parts, known_declarations(ids.drop_duplicates()))
        tables["declarations"] = None
    tables["inspections"] = ins
    rows_in["inspections"] = (
        report.read if settled_outcomes is not None else sum(p.rows_in for p in outcome_parts)
    )
    notes += [n for p in outcome_parts for n in p.notes]
    problems += [p.problems for p in outcome_parts] + [aside]
    warnings = [p.warnings for p in outcome_parts if len(p.warnings)]

    allp = [p for p in problems if len(p)]
    return Bundle(
        root,
        tables,
        pd.concat(allp, ignore_index=True) if allp else empty_problems(),
        rows_in,
        notes,
        pd.concat(warnings, ignore_index=True) if warnings else empty_problems(),
        report,
    )


@dataclass
class History:
    """The bundle's declarations (valid rows, ids unique across files), what was read."""

    clean: pd.DataFrame
    files: list[Path]
    problems: list[pd.DataFrame]
    notes: list[str]
    rows_in: int


def history_files(bundle: Path | str) -> list[Path]:
    """The files of a bundle's history of declarations, in reading order."""
    root = Path(bundle)
    decl_dir = root / "declarations"
    if decl_dir.is_dir():
        return declaration_files(decl_dir)
    single = _find_table_file(root, "declarations")
    if single is None:
        raise DataFileError(
            root,
            "has no declarations/ folder",
            "put the history of declarations in BUNDLE/declarations/",
        )
    return [single]


def load_history(
    bundle: Path | str,
    mapping: dict[str, dict[str, str]] | None = None,
    columns: list[str] | None = None,
    files: list[Path] | None = None,
) -> History:
    """The bundle's history of declarations, validated as ``load_bundle`` does; ``columns``: the
    contract columns wanted (Parquet files are read for those only), ``files``: these of the
    history's files only."""
    decl_files = history_files(bundle) if files is None else files
    parts = [load_table(f, "declarations", mapping, allow_empty=True, columns=columns) for f in decl_files]
    decl = pd.concat([p.clean.assign(_source=p.source) for p in parts], ignore_index=True)
    problems = [p.problems for p in parts]
    notes = sorted({n for p in parts for n in p.notes})
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
    rows_in = sum(p.rows_in for p in parts)
    return History(decl.reset_index(drop=True), list(decl_files), problems, notes, rows_in)


class HistoryInSlices:
    """The bundle's history of declarations, validated as ``load_history`` does (ids unique across
    files, the first file's kept), given in time order a part at a time: never the whole history
    in memory at once.

    Each file is read and validated once (in reading order) and its valid rows written, sorted by
    time, to a spill folder as Parquet row groups; iterating merges those files by time and
    yields frames (declaration time, then id, order) of about ``rows`` rows, each declared
    strictly after the one before, so that rows of the same moment are never split. Meanwhile
    ``known`` answers from an index of every valid declaration (id hash and time).
    """

    def __init__(
        self,
        bundle: Path | str,
        spill: Path,
        mapping: dict[str, dict[str, str]] | None = None,
        columns: list[str] | None = None,
        rows: int = 200_000,
        files: list[Path] | None = None,
    ):
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.files = history_files(bundle) if files is None else list(files)
        self.rows = max(int(rows), 1)
        self.problems: list[pd.DataFrame] = []
        self.rows_in = 0
        notes: set[str] = set()
        self._parts: list[tuple[Path, list[int]]] = []  # spill file, first time of each row group
        hashes, times, seen = [], [], np.zeros(0, np.uint64)
        group = max(self.rows // 4, 1)
        for i, f in enumerate(self.files):
            part = load_table(f, "declarations", mapping, allow_empty=True, columns=columns)
            self.problems.append(part.problems)
            notes.update(part.notes)
            self.rows_in += part.rows_in
            decl = part.clean.assign(_source=part.source)
            del part
            h = _id_hashes(decl["declaration_id"])
            pos = np.minimum(np.searchsorted(seen, h), max(len(seen) - 1, 0))
            dup = (seen[pos] == h) if len(seen) else np.zeros(len(h), dtype=bool)
            dup |= pd.Series(h).duplicated(keep="first").to_numpy()
            if dup.any():  # ids must be unique across files too (within one, validation saw to it)
                self.problems.append(
                    _cross_problems(
                        decl[dup],
                        "declarations",
                        "declaration_id",
                        "appears in more than one declarations file",
                    )
                )
                decl, h = decl[~dup], h[~dup]
            t = _times(decl)
            order = np.argsort(t, kind="stable")
            decl, t, h = decl.iloc[order].reset_index(drop=True), t[order], h[order]
            hashes.append(h)
            times.append(t)
            seen = np.sort(np.concatenate([seen, np.sort(h)]), kind="stable")  # two sorted runs: merged
            if not len(decl):
                continue
            target = Path(spill) / f"part-{i:05d}.parquet"
            table = pa.Table.from_pandas(decl, preserve_index=False)
            pq.write_table(table, target, row_group_size=group, compression="lz4")
            meta = pq.ParquetFile(target).metadata
            sizes = [meta.row_group(j).num_rows for j in range(meta.num_row_groups)]
            firsts = np.r_[0, np.cumsum(sizes)[:-1]].astype(np.int64)
            self._parts.append((target, [int(x) for x in t[firsts]]))
            del decl, table
        h, t = (
            np.concatenate(hashes) if hashes else np.zeros(0, np.uint64),
            (np.concatenate(times) if times else np.zeros(0, np.int64)),
        )
        order = np.argsort(h, kind="stable")
        self.ids, self.id_time = h[order], t[order]
        self.notes = sorted(notes)

    @property
    def n(self) -> int:
        return len(self.ids)

    def forget_index(self) -> None:
        """Let go of the index of every declaration (``known`` answers nothing after)."""
        self.ids, self.id_time = np.zeros(0, np.uint64), np.zeros(0, np.int64)

    def known(self, ids: pd.Series) -> pd.DataFrame:
        """(declaration_id, declared_at) of those of ``ids`` the history holds."""
        ids = pd.Series(ids, dtype=object).dropna().reset_index(drop=True)
        h = _id_hashes(ids)
        pos = np.minimum(np.searchsorted(self.ids, h), max(len(self.ids) - 1, 0))
        hit = (self.ids[pos] == h) if len(self.ids) else np.zeros(len(h), dtype=bool)
        return pd.DataFrame(
            {
                "declaration_id": ids[hit].to_numpy(dtype=object),
                "declared_at": pd.to_datetime(self.id_time[pos[hit]] if len(self.ids) else []),
            }
        )

    def __iter__(self) -> Iterator[pd.DataFrame]:
        import pyarrow.parquet as pq

        readers = [pq.ParquetFile(path) for path, _ in self._parts]
        nxt = [0] * len(readers)  # each file's next row group
        starts = [firsts for _, firsts in self._parts]
        buffer: list[pd.DataFrame] = []
        held = 0
        latest = np.iinfo(np.int64).max
        while True:
            waiting = [starts[i][nxt[i]] for i in range(len(readers)) if nxt[i] < len(starts[i])]
            horizon = min(waiting) if waiting else latest  # no later row group holds an earlier row
            if buffer and (held >= self.rows or not waiting):
                frame = pd.concat(buffer, ignore_index=True) if len(buffer) > 1 else buffer[0]
                t = _times(frame)
                ready = t < horizon
                buffer, held = [frame], len(frame)
                if ready.any() and (int(ready.sum()) >= self.rows or not waiting):
                    rest = frame[~ready].reset_index(drop=True)
                    buffer, held = ([rest] if len(rest) else []), len(rest)
                    out = frame[ready]
                    yield out.iloc[np.argsort(t[ready], kind="stable")].reset_index(drop=True)
                    continue
            if not waiting:
                return
            i = min(
                (i for i in range(len(readers)) if nxt[i] < len(starts[i])), key=lambda i: starts[i][nxt[i]]
            )
            part = readers[i].read_row_group(nxt[i]).to_pandas()
            nxt[i] += 1
            buffer.append(part)
            held += len(part)


def _times(decl: pd.DataFrame) -> np.ndarray:
    return decl["declared_at"].to_numpy(dtype="datetime64[ns]").view(np.int64)


def _id_hashes(ids: pd.Series) -> np.ndarray:
    """Stable 64-bit hashes of declaration ids as text (as ``features.state.id_hashes``)."""
    text = pd.Series(ids, dtype=object).astype("str").to_numpy(dtype=object)
    return pd.util.hash_array(text) if len(text) else np.zeros(0, np.uint64)


def _settle(parts: list[Validated], declarations: pd.DataFrame):
    """Every outcome file's rows together, settled against the declarations."""
    clean = pd.concat([p.clean.assign(_source=p.source) for p in parts], ignore_index=True)
    held = [p.quarantined_outcomes for p in parts if p.quarantined_outcomes is not None]
    return settle_outcomes(
        clean,
        declarations,
        _concat([p.warnings for p in parts]),
        _concat([p.problems for p in parts]),
        pd.concat(held, ignore_index=True) if held else None,
    )


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else empty_problems()


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
PARTIAL = ".partial-"
OLD = ".old-"


def current_umask() -> int:
    """The process umask, read without changing it (Linux), else by setting it back at once."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stale_partials(parent: Path, name: str) -> list[Path]:
    """Hidden ``.<name>.partial-<pid>-*`` / ``.<name>.old-<pid>`` folders whose writer is gone
    (a crash or a kill mid-write). A folder of a process still running is left alone."""
    if not parent.is_dir():
        return []
    stale = []
    for path in parent.iterdir():
        for marker in (PARTIAL, OLD):
            prefix = f".{name}{marker}"
            if not path.name.startswith(prefix):
                continue
            pid = path.name.removeprefix(prefix).split("-", 1)[0]
            if not pid.isdigit() or not _pid_alive(int(pid)) or int(pid) == os.getpid():
                stale.append(path)
    return sorted(stale)


def remove_stale_partials(parent: Path, name: str) -> list[Path]:
    """Remove what :func:`stale_partials` finds; returns what was removed."""
    removed = stale_partials(parent, name)
    for path in removed:
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
    return removed


@contextmanager
def atomic_dir(target: Path | str) -> Iterator[Path]:
    """Yield a hidden folder beside ``target``; on success it replaces ``target`` whole, with the
    permissions the umask gives a new folder (not the owner-only ones of a temporary folder).

    If the body raises, the hidden folder is removed and ``target`` is left untouched. A folder
    left by a process that died (SIGKILL, power loss) is removed by the next call for ``target``."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(target.parent, target.name)
    tmp = target.parent / f".{target.name}{PARTIAL}{os.getpid()}-{secrets.token_hex(4)}"
    tmp.mkdir()
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~current_umask())
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = None
    if target.exists():
        old = target.parent / f".{target.name}{OLD}{os.getpid()}"
        os.replace(target, old)
    os.replace(tmp, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# A text cell a spreadsheet would run as a formula (=, +, -, @, tab or CR first) is written with a
# ' before it; so that reading back is exact, so is a cell that already starts with ' before one.
# Written once here: pipeline outputs, the review app's exports and the outcomes training reads.
_NEEDS_ESCAPE = r"^'*[=+\-@\t\r]"
_ESCAPED = r"^'+[=+\-@\t\r]"


def spreadsheet_escape(value: object) -> str:
    """One cell as text a spreadsheet will not run as a formula (``'`` before it when needed)."""
    text = "" if value is None else str(value)
    return "'" + text if re.match(_NEEDS_ESCAPE, text) else text


def spreadsheet_unescape(text: str) -> str:
    """The value :func:`spreadsheet_escape` wrote: ``'=D001`` reads back as ``=D001``."""
    return text[1:] if re.match(_ESCAPED, text) else text


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """Neutralise text cells a spreadsheet would run as formulas (:func:`spreadsheet_escape`)."""
    return _each_text_column(frame, _NEEDS_ESCAPE, lambda text: "'" + text)


def spreadsheet_unsafe(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame :func:`spreadsheet_safe` wrote, read back (:func:`spreadsheet_unescape`)."""
    return _each_text_column(frame, _ESCAPED, lambda text: text.str.slice(1))


def _each_text_column(frame: pd.DataFrame, pattern: str, change) -> pd.DataFrame:
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            text = out[col].astype("str")
            hit = text.str.match(pattern) & out[col].notna()
            if hit.any():
                out[col] = text.where(~hit, change(text)).where(out[col].notna())
    return out


def write_frame(frame: pd.DataFrame, path: Path, safe_for_spreadsheets: bool = False) -> Path:
    """Write a frame as CSV or Parquet by suffix (dates ISO 8601, codes as text)."""
    try:
        return _write_frame(frame, path, safe_for_spreadsheets)
    except OSError as err:
        raise DataFileError(
            path,
            f"cannot be written ({err.strerror or err})",
            "give a file path in a folder you can write to",
        ) from None


def _write_frame(frame: pd.DataFrame, path: Path, safe_for_spreadsheets: bool) -> Path:
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
