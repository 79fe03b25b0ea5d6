"""Validate a raw table against the contract: typed clean rows plus a quarantine with reasons.

No row is ever dropped silently: every input row ends either in ``clean`` or in
``quarantine``, with one plain-language problem per thing found wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pandera.pandas as pa

from data.contract import TABLES, ColumnSpec, pandera_schema

ROW = "row_number"
PROBLEM_COLUMNS = ["source", "table", ROW, "key", "column", "value", "problem"]
MIN_DATE = pd.Timestamp("1900-01-01")
MAX_DATE = pd.Timestamp("2100-12-31")
_UPPER_KINDS = {"country", "locode", "locodes"}
_STRING_KINDS = {
    "id",
    "text",
    "hs_code",
    "hs_prefix",
    "country",
    "countries",
    "locode",
    "locodes",
    "choice",
    "labels",
}
_LABEL_SPLIT = r"\s*[;,|/+]\s*"


@dataclass
class Validated:
    """Result of validating one table: clean typed rows and what was quarantined."""

    table: str
    source: str
    clean: pd.DataFrame
    problems: pd.DataFrame  # one row per problem found (long form)
    rows_in: int
    notes: list[str] = field(default_factory=list)
    # problems in fields the row does not need: the value was blanked and the row kept (long form)
    warnings: pd.DataFrame = field(default_factory=lambda: empty_problems())
    # outcomes tables: the outcome of each quarantined row where readable (source, row_number, outcome)
    quarantined_outcomes: pd.DataFrame | None = None

    @property
    def quarantine(self) -> pd.DataFrame:
        """One row per quarantined input row, its problems joined in plain language."""
        return summarise_problems(self.problems)

    @property
    def rows_quarantined(self) -> int:
        return int(self.problems[ROW].nunique()) if len(self.problems) else 0


def summarise_problems(problems: pd.DataFrame) -> pd.DataFrame:
    """Collapse the long problem list to one row per quarantined input row."""
    cols = ["source", "table", ROW, "key", "problems"]
    if problems.empty:
        return pd.DataFrame({c: pd.Series(dtype="int64" if c == ROW else "str") for c in cols})
    text = problems.assign(
        line=np.where(
            problems["column"].eq(""),
            problems["problem"],
            problems["column"] + " " + problems["value"].map(_show) + " " + problems["problem"],
        )
    )
    out = (
        text.groupby(["source", "table", ROW], sort=True)
        .agg(key=("key", "first"), problems=("line", "; ".join))
        .reset_index()
    )
    return out[cols]


def _show(value: str) -> str:
    """Show an offending value safely: quoted, control characters escaped, truncated."""
    if value == "":
        return "(empty)"
    shown = value if len(value) <= 60 else value[:57] + "..."
    return repr(shown)


def _as_text(s: pd.Series) -> pd.Series:
    """Raw column as stripped strings ('' for missing), whatever it was read as."""
    if s.dtype.kind in "fiub":
        text = s.astype("str").where(s.notna(), "")
    elif s.dtype.kind == "M":
        text = s.dt.strftime("%Y-%m-%dT%H:%M:%S").where(s.notna(), "")
    else:
        text = s.astype("str").where(s.notna(), "")
    return text.str.strip()


def _parse(col: ColumnSpec, raw: pd.Series) -> tuple[pd.Series, pd.Series, str, pd.Series]:
    """Parse one raw column to its kind: (parsed, failed-mask, problem text, blank-mask).

    Text is only made where needed: columns Parquet already stores as numbers or timestamps
    are checked as they are.
    """
    native_number = raw.dtype.kind in "fiu"  # a boolean is no count or amount: checked as text
    native_date = raw.dtype.kind == "M"
    if col.kind in _STRING_KINDS:
        text = _as_text(raw)
        if col.kind in _UPPER_KINDS:
            text = text.str.upper()
        if col.kind in {"hs_code", "hs_prefix"}:
            text = text.str.replace(r"[.\s]", "", regex=True)  # 2601.11.00 -> 26011100
        if col.kind == "choice":
            text = _canonical_choice(col, text)
        if col.kind == "labels":
            text = _label_list(text)
        blank = text.eq("")
        has_nul = text.str.contains("\x00", regex=False)
        parsed = text.where(~blank, None).astype("str")
        return parsed, has_nul, "contains a NUL character", blank
    if col.kind == "date":
        if native_date:
            # as for text with an offset: the moment in UTC, not the wall clock of the zone it came in
            parsed = raw.dt.tz_convert("UTC").dt.tz_localize(None) if getattr(raw.dt, "tz", None) else raw
            unreadable = pd.Series(False, index=raw.index)
            blank = raw.isna()
        else:
            text = _as_text(raw)
            blank = text.eq("")
            parsed = pd.to_datetime(
                text.where(~blank), format="ISO8601", errors="coerce", utc=True
            ).dt.tz_localize(None)
            unreadable = parsed.isna() & ~blank
        out_of_range = parsed.notna() & ((parsed < MIN_DATE) | (parsed > MAX_DATE))
        parsed = parsed.where(~out_of_range).astype("datetime64[ns]")
        return (
            parsed,
            unreadable | out_of_range,
            "is not an ISO 8601 date (YYYY-MM-DD) between 1900 and 2100",
            blank,
        )
    # numbers
    if native_number:
        number = raw.astype("float64")
        blank = number.isna()
        bad = pd.Series(np.isinf(number.to_numpy()), index=raw.index)
    else:
        text = _as_text(raw)
        blank = text.eq("")
        number = pd.to_numeric(text.where(~blank), errors="coerce").astype("float64")
        bad = (number.isna() & ~blank) | np.isinf(number.fillna(0))
    if col.kind == "int":
        # from 2**53 on, a float no longer holds every whole number (and int64 ends soon after)
        not_whole = number.notna() & ~bad & ((number != np.round(number)) | (number.abs() >= 2**53))
        parsed = number.where(~(bad | not_whole)).round().astype("Int64")
        return parsed, bad | not_whole, "is not a whole number below 2^53 (9,007,199,254,740,992)", blank
    return number.where(~bad), bad, "is not a number", blank


def _canonical_choice(col: ColumnSpec, text: pd.Series) -> pd.Series:
    """Map other spellings of a choice (case, spaces, listed synonyms) to the contract's word."""
    lookup = {c.lower(): c for c in col.choices} | {k.lower(): v for k, v in col.synonyms}
    uniques = pd.Series(text.unique())
    folded = uniques.str.lower().str.replace(r"[\s_-]+", " ", regex=True)
    mapped = folded.map(lookup).fillna(folded.str.replace(" ", "_").map(lookup))
    table = dict(zip(uniques, mapped.where(mapped.notna(), uniques), strict=True))
    return text.map(table).astype("str") if len(table) else text


def _label_list(text: pd.Series) -> pd.Series:
    """A list of words (e.g. typologies) as ';'-joined lower-case words, repeats removed, order kept."""

    def one(value: str) -> str:
        words = [w.strip().lower().replace(" ", "_").replace("-", "_") for w in re.split(_LABEL_SPLIT, value)]
        return ";".join(dict.fromkeys(w for w in words if w))

    uniques = pd.Series(text.unique())
    table = dict(zip(uniques, uniques.map(one), strict=True))
    return text.map(table).astype("str") if len(table) else text


def label_words(values: pd.Series) -> pd.Series:
    """The words of a ';'-separated list column, one row per word (index repeated), blanks dropped."""
    words = values.fillna("").astype("str").str.split(";").explode()
    return words[words.ne("")]


def validate_table(
    raw: pd.DataFrame, table: str, source: str, row_numbers: np.ndarray | None = None
) -> Validated:
    """Validate a raw frame (already column-mapped) against the contract table ``table``.

    The caller has checked that required columns are present. ``row_numbers`` gives the
    1-based data-row number of each raw row in its file (default 1..n).
    """
    spec = TABLES[table]
    n = len(raw)
    rows = np.arange(1, n + 1) if row_numbers is None else np.asarray(row_numbers)
    raw = raw.reset_index(drop=True)
    key_col = spec.key or spec.columns[0].name
    keys = _as_text(raw[key_col]) if key_col in raw.columns else pd.Series([""] * n, dtype="str")

    parsed: dict[str, pd.Series] = {}
    found: list[pd.DataFrame] = []
    warned: list[pd.DataFrame] = []  # defects in soft columns: value blanked, row kept
    to_blank: list[tuple[str, np.ndarray]] = []  # (soft column, positions) whose values are blanked

    def record(mask: pd.Series, column: str, problem: str, values: pd.Series | None = None) -> None:
        idx = np.flatnonzero(mask.to_numpy(dtype=bool, na_value=False))
        if len(idx) == 0:
            return
        if values is not None:
            shown = values.iloc[idx].astype("str").to_numpy()
        elif column in raw.columns:
            shown = _as_text(raw[column].iloc[idx]).to_numpy()
        else:
            shown = np.full(len(idx), "")
        soft = column in spec.soft_columns
        if soft and problem == "is empty but required":
            problem = "is empty; the row is kept"
        elif soft:
            problem += "; the field was left blank and the row kept"
            to_blank.append((column, idx))
        (warned if soft else found).append(
            pd.DataFrame({"index": idx, "column": column, "value": shown, "problem": problem})
        )

    notes: list[str] = []
    absent = [c.name for c in spec.columns if not c.required and c.name not in raw.columns]
    if absent:
        notes.append(f"{table}: optional columns absent: {', '.join(absent)}")
    for col in spec.columns:
        if col.name not in raw.columns:
            continue
        values, failed, problem, blank = _parse(col, raw[col.name])
        record(failed, col.name, problem)
        if col.required:
            record(blank, col.name, "is empty but required")
        if col.synonyms:
            said = _as_text(raw[col.name]).str.lower()
            other = values.notna() & ~blank & ~failed.astype(bool) & said.ne(values.str.lower())
            if other.any():
                pairs = pd.DataFrame({"said": _as_text(raw[col.name])[other], "read": values[other]})
                shown = ", ".join(
                    f"{a!r} as {b}" for a, b in pairs.drop_duplicates().head(5).itertuples(index=False)
                )
                n_other = int(other.sum())
                notes.append(f"{table}: {n_other:,} {col.name} values read as the contract's words ({shown})")
        if col.kind == "labels" and col.choices:
            words = label_words(values.where(~blank))
            unknown = words[~words.isin(col.choices)]
            if len(unknown):
                odd = pd.Series(False, index=values.index)
                odd.loc[unknown.index.unique()] = True
                warned.append(
                    pd.DataFrame(
                        {
                            "index": np.flatnonzero(odd.to_numpy()),
                            "column": col.name,
                            "value": values[odd].astype("str").to_numpy(),
                            "problem": "holds a word outside the usual list ("
                            + ", ".join(col.choices)
                            + "): kept as written",
                        }
                    )
                )
        parsed[col.name] = values.where(~failed.astype(bool)) if col.kind not in _STRING_KINDS else values
    extras = [c for c in raw.columns if c not in spec.column_names]
    for c in extras:
        parsed[c] = _as_text(raw[c]).astype("str")
    if extras:
        notes.append(f"{table}: extra columns kept as text: {', '.join(map(str, extras))}")

    frame = pd.DataFrame(parsed)
    # Constraint checks (codes, countries, ranges, choices) from the single schema definition.
    try:
        pandera_schema(table).validate(frame, lazy=True)
    except pa.errors.SchemaErrors as err:
        fc = err.failure_cases
        fc = fc[fc["index"].notna() & fc["column"].isin(spec.column_names)]
        for (column, check), grp in fc.groupby(["column", "check"], sort=False):
            mask = pd.Series(False, index=frame.index)
            mask.iloc[grp["index"].astype("int64").to_numpy()] = True
            record(mask, str(column), str(check))

    if spec.key and spec.unique_key and spec.key in frame.columns:
        dup = frame[spec.key].notna() & frame[spec.key].duplicated(keep="first")
        if dup.any():
            first = pd.Series(rows, index=frame.index).groupby(frame[spec.key]).transform("first")
            problem_text = "is a duplicate of row " + first.astype("str")
            idx = np.flatnonzero(dup.to_numpy())
            found.append(
                pd.DataFrame(
                    {
                        "index": idx,
                        "column": spec.key,
                        "value": frame[spec.key].iloc[idx].astype("str").to_numpy(),
                        "problem": problem_text.iloc[idx].to_numpy(),
                    }
                )
            )

    problems = _problem_frame(found, rows, keys, source, table)
    bad = np.zeros(n, dtype=bool)
    if found:
        bad[np.concatenate([f["index"].to_numpy() for f in found])] = True
    if to_blank:
        frame = frame.copy()
        for col, idx in to_blank:
            frame.iloc[idx, frame.columns.get_loc(col)] = (
                pd.NaT if frame[col].dtype.kind == "M" else None if frame[col].dtype == object else np.nan
            )
    warnings = _problem_frame(warned, rows, keys, source, table)
    warnings = warnings[~np.isin(warnings[ROW].to_numpy(), problems[ROW].to_numpy())].reset_index(drop=True)
    clean = frame.loc[~bad].copy()
    clean.insert(0, "_row_number", rows[~bad])
    clean.attrs["source"] = source
    return Validated(
        table=table,
        source=source,
        clean=clean.reset_index(drop=True),
        problems=problems,
        rows_in=n,
        notes=notes,
        warnings=warnings,
        quarantined_outcomes=(
            pd.DataFrame({"source": source, ROW: rows[bad], "outcome": frame["outcome"].to_numpy()[bad]})
            if "outcome" in frame.columns
            else None
        ),
    )


def _problem_frame(
    found: list[pd.DataFrame], rows: np.ndarray, keys: pd.Series, source: str, table: str
) -> pd.DataFrame:
    if not found:
        return empty_problems()
    allp = pd.concat(found, ignore_index=True)
    idx = allp["index"].to_numpy()
    out = pd.DataFrame(
        {
            "source": source,
            "table": table,
            ROW: rows[idx].astype("int64"),
            "key": keys.iloc[idx].astype("str").to_numpy(),
            "column": allp["column"].astype("str").to_numpy(),
            "value": allp["value"].astype("str").to_numpy(),
            "problem": allp["problem"].astype("str").to_numpy(),
        }
    )
    return out.sort_values([ROW, "column"], kind="stable").reset_index(drop=True)


def empty_problems() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="int64" if c == ROW else "str") for c in PROBLEM_COLUMNS})


def row_level_problems(
    source: str, table: str, rows: np.ndarray, keys: list[str], problems: list[str]
) -> pd.DataFrame:
    """Problems that concern a whole row (e.g. wrong number of fields), as a problem frame."""
    if len(rows) == 0:
        return empty_problems()
    return pd.DataFrame(
        {
            "source": source,
            "table": table,
            ROW: np.asarray(rows, dtype="int64"),
            "key": pd.Series(keys, dtype="str"),
            "column": "",
            "value": "",
            "problem": pd.Series(problems, dtype="str"),
        }
    )
