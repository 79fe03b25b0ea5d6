"""What every part of the case store shares: tables, constants, records, small helpers and
the base of the repositories (one per aggregate: cases, accounts, audit, outcomes)."""

from __future__ import annotations

import csv
import json
import math
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from sqlalchemy import (
    BigInteger,
    Engine,
    Row,
    literal,
)

from data.io import spreadsheet_escape, spreadsheet_unescape
from review.keys import address_keys, case_keys
from review.schema import (
    CHANNELS,
    SELECTED_BY,
    AuditEntry,
    Case,
    CaseAttachment,
    CaseNote,
    SavedFilter,
    User,
    WebSession,
)

CASES = Case.__table__
USERS = User.__table__
AUDIT = AuditEntry.__table__
SESSIONS = WebSession.__table__
NOTES = CaseNote.__table__
ATTACHMENTS = CaseAttachment.__table__
FILTERS = SavedFilter.__table__

REQUIRED_CASE_COLUMNS = ("declaration_id", "manifest_day", "channel", "risk_score", "selected_by")
OPTIONAL_CASE_TEXT = {  # column -> value when absent or missing
    "rule_hits": "",
    "reasons": "[]",
    "declaration": "{}",
    "route": "",
    "ownership_path": "[]",
    "exporter_history": "[]",
    "model_version": "",
    "typology_hint": "",
    "exporter_address": "",  # the parties' registered addresses (company registry), as written
    "consignee_address": "",
}
OPTIONAL_CASE_JSON = ("reasons_json", "ownership_json")  # structured, from scoring; NULL when absent
KEY_FIELDS = ("search_text", "exporter_key", "consignee_key", "license_key", "address_key")
SCORE_FIELDS = (
    *REQUIRED_CASE_COLUMNS[1:],
    "declared_at",
    *OPTIONAL_CASE_TEXT,
    *OPTIONAL_CASE_JSON,
    *KEY_FIELDS,
)
INSPECTIONS_COLUMNS = (
    "declaration_id",
    "inspected_on",
    "outcome",
    "typology",
    "found_hs_code",
    "seized_value_usd",
    "selected_by",
)
EXPORTED_OUTCOMES = ("violation", "clear")
UNASSIGNED = "-"
ID_CHUNK = 5_000
WRITE_CHUNK = 10_000
DAYS_CACHE_SECONDS = 60.0
EDITABLE_FIELDS = ("assignee", "outcome", "typology", "seized_value_usd", "note", "status", "version")
DECISION_FIELDS = ("decided_by", "decided_at", "confirmed_by", "confirmed_at")
# PostgreSQL advisory lock keys: schema migration, user changes (the last-admin rule), failed logins.
PG_LOCK_MIGRATE = 0x6372_5F6D_6967  # "cr_mig"
PG_LOCK_USERS = 0x6372_5F75_7372  # "cr_usr"
PG_LOCK_LOGINS = 0x6372_5F6C_6F67  # "cr_log": failed logins of several processes take turns
NUL = "\x00"

WriteStatus = Literal[
    "saved", "unchanged", "conflict", "not_found", "forbidden", "decided", "not_pending", "own_decision"
]
# decided: the case already has an outcome (only a supervisor's reopening makes it editable);
# not_pending: nothing awaits confirmation; own_decision: four eyes, nobody confirms their own
MAX_REASON_LENGTH = 1_000

SORTS = {  # name -> (column, descending)
    "risk_desc": ("risk_score", True),
    "risk_asc": ("risk_score", False),
    "day_desc": ("manifest_day", True),
    "day_asc": ("manifest_day", False),
    "id_asc": ("declaration_id", False),
    "id_desc": ("declaration_id", True),
    "status_asc": ("status", False),
    "status_desc": ("status", True),
    "assignee_asc": ("assignee", False),
    "assignee_desc": ("assignee", True),
    "channel_asc": ("channel", False),
    "channel_desc": ("channel", True),
}
MAX_SEARCH_LENGTH = 100
MAX_NOTE_LENGTH = 4_000
MAX_SAVED_FILTERS = 20
RELATED_LIMIT = 25


def utcnow() -> datetime:
    """Now, in UTC, without tzinfo (how every timestamp is stored)."""
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class Account:
    """A user as the app sees it (never with the password hash)."""

    username: str
    role: str
    active: bool


@dataclass(frozen=True)
class OutcomeValues:
    """What an investigator records on a case (already validated)."""

    outcome: str
    typology: str | None
    seized_value_usd: float | None
    note: str


@dataclass(frozen=True)
class CaseQuery:
    """Filters, sort order and page of the case queue."""

    day: date | None = None
    channel: str = ""
    status: str = ""
    typology: str = ""
    assignee: str = ""  # a username, UNASSIGNED, or "" for anyone
    sort: str = "risk_desc"  # a key of SORTS
    page: int = 1
    per_page: int = 25
    q: str = ""  # search: declaration id, company, HS code, port (a phrase of search_text)


@dataclass(frozen=True)
class CasePage:
    """One page of the queue and the total number of matching cases."""

    rows: list[Row]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))


@dataclass(frozen=True)
class WriteResult:
    """How a change to a case went, with the case as it now stands."""

    status: WriteStatus
    case: Row | None = None


def lock_key(key: int) -> Any:
    return literal(key, BigInteger)  # a plain int would be bound as a (32-bit) INTEGER


def has_nul(*values: str | None) -> bool:
    """PostgreSQL text cannot hold NUL, nor be compared with it: no stored value has one."""
    return any(value is not None and NUL in value for value in values)


def can_see_case(user: Account, assignee: str | None) -> bool:
    """Supervisors see every case; investigators theirs and unassigned ones; admins none."""
    if user.role == "supervisor":
        return True
    return user.role == "investigator" and assignee in (None, user.username)


def prepare_cases(cases: pd.DataFrame) -> pd.DataFrame:
    """Check and normalise a frame of cases from scoring (the input frame is left untouched)."""
    missing = [c for c in REQUIRED_CASE_COLUMNS if c not in cases.columns]
    if missing:
        raise ValueError(f"cases lack required column(s): {', '.join(missing)}")
    out = pd.DataFrame(index=cases.index)
    out["declaration_id"] = cases["declaration_id"].astype("str")
    out["manifest_day"] = _to_datetime(cases["manifest_day"]).dt.date
    declared = (
        _to_datetime(cases["declared_at"])
        if "declared_at" in cases.columns
        else pd.Series(pd.NaT, index=cases.index, dtype="datetime64[ns]")
    )
    out["declared_at"] = pd.Series(
        [None if pd.isna(v) else v.to_pydatetime() for v in declared], index=cases.index, dtype=object
    )
    out["channel"] = cases["channel"].astype("str")
    out["risk_score"] = pd.to_numeric(cases["risk_score"], errors="coerce").astype("float64")
    out["selected_by"] = cases["selected_by"].astype("str")
    for column, default in OPTIONAL_CASE_TEXT.items():
        values = cases[column] if column in cases.columns else pd.Series(default, index=cases.index)
        out[column] = values.fillna(default).astype("str")
    for column in OPTIONAL_CASE_JSON:
        values = cases[column] if column in cases.columns else pd.Series(None, index=cases.index)
        out[column] = pd.Series([_json_text(v) for v in values], index=cases.index, dtype=object)
    _check_values(out)
    keys = [
        case_keys(i, d, r)
        for i, d, r in zip(out["declaration_id"], out["declaration"], out["route"], strict=True)
    ]
    for column in KEY_FIELDS[:-1]:
        out[column] = pd.Series([k[column] for k in keys], index=cases.index, dtype=object)
    out["address_key"] = address_keys(out["exporter_address"], out["consignee_address"])
    return out.drop_duplicates("declaration_id", keep="last").reset_index(drop=True)


def _json_text(value: object) -> str | None:
    """A structured column's value as JSON text (None when absent): text as given, lists and
    dicts encoded."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    text = str(value)
    return text or None


def _to_datetime(values: pd.Series) -> pd.Series:
    """Dates or datetimes (ISO 8601 text or datetime values) as naive UTC timestamps."""
    if pd.api.types.is_datetime64_any_dtype(values):
        parsed = pd.to_datetime(values, utc=True)
    else:
        parsed = pd.to_datetime(
            values.astype("str").replace({"": None, "nan": None, "None": None}), utc=True, format="ISO8601"
        )
    return parsed.dt.tz_localize(None)


def _check_values(frame: pd.DataFrame) -> None:
    problems = []
    for column, allowed in (("channel", CHANNELS), ("selected_by", SELECTED_BY)):
        bad = ~frame[column].isin(allowed)
        if bad.any():
            problems.append(
                f"{int(bad.sum())} row(s) with {column} not in {', '.join(allowed)} "
                f"(e.g. {frame.loc[bad, column].iloc[0]!r})"
            )
    score = frame["risk_score"]
    if (score.isna() | (score < 0) | (score > 1)).any():
        problems.append("risk_score must be a number from 0 to 1 in every row")
    if (frame["declaration_id"].str.len() == 0).any():
        problems.append("declaration_id must not be empty")
    for column in ("declaration_id", *OPTIONAL_CASE_TEXT):  # what PostgreSQL would refuse
        values = frame[column]
        if (nul := values.str.contains(NUL, regex=False)).any():
            problems.append(f"{int(nul.sum())} row(s) with a NUL character in {column}")
        limit = CASES.c[column].type.length
        if limit and (long := values.str.len() > limit).any():
            problems.append(f"{int(long.sum())} row(s) with {column} longer than {limit} characters")
    for column in OPTIONAL_CASE_JSON:
        if any(v is not None and NUL in v for v in frame[column]):
            problems.append(f"a NUL character in {column}")
    if problems:
        raise ValueError("cannot store cases: " + "; ".join(problems))


# A CSV cell a spreadsheet will not run as a formula, and back: the one rule of data.io, which the
# pipeline's outputs use too and training applies when it reads exported outcomes.
csv_safe = spreadsheet_escape
csv_unsafe = spreadsheet_unescape


def write_csv_atomically(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Write a CSV beside ``path`` and move it into place; returns the number of data rows."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    count = 0
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(header)
            for row in rows:
                writer.writerow(row)
                count += 1
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return count


def chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def audit_text(value: object) -> str | None:
    """A field value as the audit log writes it."""
    if value is None:
        return None
    if isinstance(value, float):
        return repr(value)
    return str(value)


class Repository:
    """One aggregate's reads and writes on the shared engine."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._postgres = engine.dialect.name == "postgresql"

    def _by_code_point(self, column: Any) -> Any:
        """Text in code point order, as SQLite sorts it, whatever the database's collation."""
        return column.collate("C") if self._postgres else column
