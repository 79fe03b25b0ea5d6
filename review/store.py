"""The case store: flagged declarations, investigators' outcomes, users, sessions, audit log.

The scoring flow calls :func:`open_store`, :meth:`CaseStore.upsert_cases` and
:meth:`CaseStore.export_outcomes`; the web app calls the rest.
"""

from __future__ import annotations

import csv
import math
import os
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from sqlalchemy import (
    BigInteger,
    Connection,
    Engine,
    Row,
    and_,
    case,
    delete,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    text,
    update,
)
from sqlalchemy import case as sa_case

from review.auth import dummy_hash, hash_password, password_problem, username_problem
from review.auth import verify_password as check_password
from review.db import make_engine, migrate, write_transaction
from review.keys import case_keys
from review.schema import (
    CHANNELS,
    OUTCOMES,
    ROLES,
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
}
OPTIONAL_CASE_JSON = ("reasons_json", "ownership_json")  # structured, from scoring; NULL when absent
KEY_FIELDS = ("search_text", "exporter_key", "consignee_key", "license_key")
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
# PostgreSQL advisory lock keys: schema migration, and user changes (the last-admin rule).
PG_LOCK_MIGRATE = 0x6372_5F6D_6967  # "cr_mig"
PG_LOCK_USERS = 0x6372_5F75_7372  # "cr_usr"
NUL = "\x00"

WriteStatus = Literal[
    "saved", "unchanged", "conflict", "not_found", "forbidden", "decided", "not_pending", "own_decision"
]
# decided: the case already has an outcome (only a supervisor's reopening makes it editable);
# not_pending: nothing awaits confirmation; own_decision: four eyes, nobody confirms their own
MAX_REASON_LENGTH = 1_000


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


def open_store(database_url: str) -> CaseStore:
    """Open (and create or migrate) the case store at ``database_url``."""
    engine = make_engine(database_url)
    with _migration_lock(engine):
        migrate(engine)
    return CaseStore(engine)


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    """On PostgreSQL, one opener at a time creates or migrates the schema.

    (SQLite's write lock already does it: ``migrate`` runs in a BEGIN IMMEDIATE transaction.)
    """
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as conn:
        conn.execute(select(func.pg_advisory_lock(_lock_key(PG_LOCK_MIGRATE))))
        conn.commit()
        try:
            yield
        finally:
            conn.execute(select(func.pg_advisory_unlock(_lock_key(PG_LOCK_MIGRATE))))
            conn.commit()


def _lock_key(key: int) -> Any:
    return literal(key, BigInteger)  # a plain int would be bound as a (32-bit) INTEGER


def _has_nul(*values: str | None) -> bool:
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
        out[column] = pd.Series(
            [None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v) for v in values],
            index=cases.index,
            dtype=object,
        )
    _check_values(out)
    keys = [
        case_keys(i, d, r)
        for i, d, r in zip(out["declaration_id"], out["declaration"], out["route"], strict=True)
    ]
    for column in KEY_FIELDS:
        out[column] = pd.Series([k[column] for k in keys], index=cases.index, dtype=object)
    return out.drop_duplicates("declaration_id", keep="last").reset_index(drop=True)


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


CSV_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: object) -> str:
    """A CSV cell that a spreadsheet will not run as a formula (a ``'`` before it)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(CSV_FORMULA_STARTS) else text


def csv_unsafe(text: str) -> str:
    """The value :func:`csv_safe` wrote (for readers of the export)."""
    return text[1:] if text.startswith("'") and text[1:].startswith(CSV_FORMULA_STARTS) else text


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


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _text(value: object) -> str | None:
    """A field value as the audit log writes it."""
    if value is None:
        return None
    if isinstance(value, float):
        return repr(value)
    return str(value)


class CaseStore:
    """All reads and writes of the review database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._days: tuple[float, list[date]] | None = None  # (read at, days): the queue's menu
        self._postgres = engine.dialect.name == "postgresql"

    def _by_code_point(self, column: Any) -> Any:
        """Text in code point order, as SQLite sorts it, whatever the database's collation."""
        return column.collate("C") if self._postgres else column

    def _lock_users(self, conn: Connection) -> None:
        """On PostgreSQL, user changes take turns (SQLite's write lock already makes them).

        Without it two admins demoting each other at once could both pass the last-admin check.
        """
        if self._postgres:
            conn.execute(select(func.pg_advisory_xact_lock(_lock_key(PG_LOCK_USERS))))

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    # ------------------------------------------------------------ from scoring
    def upsert_cases(self, cases: pd.DataFrame) -> dict[str, int]:
        """Insert new cases, refresh undecided ones, never touch decided ones.

        Keyed by ``declaration_id`` (a repeated id in the frame: the last row wins).
        A case held for correction (channel ``held``) starts with status ``held``; an open
        case held again becomes ``held``, and a held one that is later scored (corrected)
        opens again; a case someone is reviewing keeps its status.
        Returns counts ``{"inserted", "updated", "unchanged_decided"}``.
        """
        frame = prepare_cases(cases)
        now = utcnow()
        columns = {
            **{c: frame[c].tolist() for c in frame.columns},
            "status": ["held" if c == "held" else "open" for c in frame["channel"]],
            "note": "",
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }
        ids = columns["declaration_id"]
        with write_transaction(self.engine) as conn:
            existing = self._decided_flags(conn, ids)
            sql, rows = self._upsert_rows(conn, columns, len(frame))
            for chunk in _chunks(rows, WRITE_CHUNK):
                conn.exec_driver_sql(sql, chunk)
        self._days = None
        decided = sum(existing.values())
        return {
            "inserted": len(ids) - len(existing),
            "updated": len(existing) - decided,
            "unchanged_decided": decided,
        }

    def _decided_flags(self, conn: Connection, ids: list[str]) -> dict[str, bool]:
        flags: dict[str, bool] = {}
        for chunk in _chunks(ids, ID_CHUNK):
            rows = conn.execute(
                select(CASES.c.declaration_id, CASES.c.outcome.is_not(None)).where(
                    CASES.c.declaration_id.in_(chunk)
                )
            )
            flags.update({r[0]: bool(r[1]) for r in rows})
        return flags

    def _upsert_rows(self, conn: Connection, columns: dict[str, Any], n: int) -> tuple[str, list]:
        """The INSERT ... ON CONFLICT statement and its rows, bound column by column.

        SQLAlchemy's own type processors convert the values, so stored values are the
        same as through the ORM; only the per-row dict handling is skipped (100k rows).
        """
        if conn.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        else:
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        statement = dialect_insert(CASES)
        refreshed = {c: statement.excluded[c] for c in (*SCORE_FIELDS, "updated_at")}
        # constants inline, so that the statement's only parameters are the rows' columns
        held_, open_ = literal_column("'held'"), literal_column("'open'")
        held = statement.excluded.channel == held_
        refreshed["status"] = case(
            (and_(held, CASES.c.status == open_), held_),
            (and_(~held, CASES.c.status == held_), open_),
            else_=CASES.c.status,
        )
        statement = statement.on_conflict_do_update(
            index_elements=[CASES.c.declaration_id], set_=refreshed, where=CASES.c.outcome.is_(None)
        )
        compiled = statement.compile(dialect=conn.dialect, column_keys=list(columns))
        order = list(compiled.positiontup or []) if compiled.positional else list(columns)
        bound: list[list[Any]] = []
        for name in order:
            values = columns[name] if isinstance(columns[name], list) else [columns[name]] * n
            process = CASES.c[name].type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
            bound.append([process(v) for v in values] if process else values)
        if compiled.positional:
            return compiled.string, list(zip(*bound, strict=True))
        return compiled.string, [dict(zip(order, row, strict=True)) for row in zip(*bound, strict=True)]

    def export_outcomes(self, path: Path | str, *, confirmed_only: bool = False) -> int:
        """Write recorded violations and clears in the contract's inspections layout (CSV).

        "Not inspected" outcomes are left out: those items are unlabelled, not clean; with
        ``confirmed_only``, so are violations still waiting for a supervisor's confirmation.
        Text cells a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``, tab, CR
        first) start with a ``'`` (:func:`csv_safe`; :func:`csv_unsafe` reads them back).
        The file is replaced atomically. Returns the number of rows written.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        query = (
            select(
                CASES.c.declaration_id,
                CASES.c.decided_at,
                CASES.c.outcome,
                CASES.c.typology,
                CASES.c.seized_value_usd,
                CASES.c.selected_by,
            )
            .where(
                CASES.c.outcome.in_(EXPORTED_OUTCOMES),
                *([CASES.c.status != "unconfirmed"] if confirmed_only else []),
            )
            .order_by(CASES.c.decided_at, self._by_code_point(CASES.c.declaration_id))
        )
        with self.engine.connect() as conn:
            rows = (
                [
                    csv_safe(r.declaration_id),
                    r.decided_at.date().isoformat(),
                    r.outcome,
                    csv_safe(r.typology or ""),
                    "",
                    "" if r.seized_value_usd is None else repr(r.seized_value_usd),
                    r.selected_by,
                ]
                for r in conn.execute(query)
            )
            return write_csv_atomically(path, INSPECTIONS_COLUMNS, rows)

    # ------------------------------------------------------------ users
    def add_user(self, username: str, role: str, password: str, *, actor: str) -> Account:
        """Create a user; raises ValueError with a plain reason when it cannot."""
        problem = username_problem(username) or password_problem(password, username)
        if role not in ROLES:
            problem = f"the role must be one of {', '.join(ROLES)}"
        if problem:
            raise ValueError(problem)
        password_hash = hash_password(password)
        with write_transaction(self.engine) as conn:
            self._lock_users(conn)
            if conn.execute(select(USERS.c.username).where(USERS.c.username == username)).first():
                raise ValueError(f"user {username!r} already exists")
            conn.execute(
                insert(USERS).values(
                    username=username,
                    role=role,
                    active=True,
                    password_hash=password_hash,
                    created_at=utcnow(),
                )
            )
            self._audit(conn, actor, None, [(f"user:{username}", None, f"created as {role}")])
        return Account(username, role, True)

    def update_user(
        self,
        username: str,
        *,
        actor: str,
        role: str | None = None,
        active: bool | None = None,
        password: str | None = None,
    ) -> Account:
        """Change a user's role, active flag or password (their sessions end on any change)."""
        if role is not None and role not in ROLES:
            raise ValueError(f"the role must be one of {', '.join(ROLES)}")
        if password is not None and (problem := password_problem(password, username)):
            raise ValueError(problem)
        if _has_nul(username):
            raise ValueError(f"no user {username!r}")
        new_hash = hash_password(password) if password is not None else None
        with write_transaction(self.engine) as conn:
            self._lock_users(conn)
            row = conn.execute(select(USERS).where(USERS.c.username == username)).first()
            if row is None:
                raise ValueError(f"no user {username!r}")
            values: dict[str, Any] = {}
            changes: list[tuple[str, str | None, str | None]] = []
            if role is not None and role != row.role:
                values["role"] = role
                changes.append((f"user:{username}.role", row.role, role))
            if active is not None and active != row.active:
                values["active"] = active
                changes.append((f"user:{username}.active", str(row.active), str(active)))
            if new_hash is not None:
                values["password_hash"] = new_hash
                changes.append((f"user:{username}.password", None, "(changed)"))
            demoted = values.get("role", "admin") != "admin" or values.get("active") is False
            if row.role == "admin" and demoted and self._active_admins(conn) <= 1:
                raise ValueError("this is the last active admin: add another admin first")
            if values:
                conn.execute(update(USERS).where(USERS.c.username == username).values(**values))
                conn.execute(delete(SESSIONS).where(SESSIONS.c.username == username))
                self._audit(conn, actor, None, changes)
            final = {**row._asdict(), **values}
        return Account(username, final["role"], final["active"])

    def _active_admins(self, conn: Connection) -> int:
        query = select(func.count()).where(USERS.c.role == "admin", USERS.c.active.is_(True))
        return int(conn.execute(query).scalar_one())

    def get_account(self, username: str) -> Account | None:
        """A user by name, or None."""
        if _has_nul(username):
            return None
        with self.engine.connect() as conn:
            row = conn.execute(
                select(USERS.c.username, USERS.c.role, USERS.c.active).where(USERS.c.username == username)
            ).first()
        return Account(row.username, row.role, row.active) if row else None

    def list_accounts(self, role: str | None = None, active_only: bool = False) -> list[Account]:
        """Every user (optionally one role, only active ones), by name."""
        query = select(USERS.c.username, USERS.c.role, USERS.c.active).order_by(
            self._by_code_point(USERS.c.username)
        )
        if role:
            query = query.where(USERS.c.role == role)
        if active_only:
            query = query.where(USERS.c.active.is_(True))
        with self.engine.connect() as conn:
            return [Account(r.username, r.role, r.active) for r in conn.execute(query)]

    def authenticate(self, username: str, password: str) -> Account | None:
        """The active user with this name and password, or None (same work either way)."""
        row = None
        if not _has_nul(username):
            with self.engine.connect() as conn:
                row = conn.execute(select(USERS).where(USERS.c.username == username)).first()
        if row is None:
            check_password(dummy_hash(), password)
            return None
        if not check_password(row.password_hash, password) or not row.active:
            return None
        return Account(row.username, row.role, row.active)

    # ------------------------------------------------------------ sessions
    def create_session(self, username: str, token_hash: str, csrf_token: str, lifetime: timedelta) -> None:
        """Remember a logged-in browser (and forget expired ones)."""
        now = utcnow()
        with write_transaction(self.engine) as conn:
            conn.execute(delete(SESSIONS).where(SESSIONS.c.expires_at < now))
            conn.execute(
                insert(SESSIONS).values(
                    token_hash=token_hash,
                    username=username,
                    csrf_token=csrf_token,
                    created_at=now,
                    expires_at=now + lifetime,
                )
            )

    def session_account(self, token_hash: str) -> tuple[Account, str] | None:
        """The active user and CSRF token of a live session, or None."""
        query = (
            select(USERS.c.username, USERS.c.role, USERS.c.active, SESSIONS.c.csrf_token)
            .join(USERS, USERS.c.username == SESSIONS.c.username)
            .where(
                SESSIONS.c.token_hash == token_hash,
                SESSIONS.c.expires_at > utcnow(),
                USERS.c.active.is_(True),
            )
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return (Account(row.username, row.role, row.active), row.csrf_token) if row else None

    def end_session(self, token_hash: str) -> None:
        """Forget a session (logout)."""
        with write_transaction(self.engine) as conn:
            conn.execute(delete(SESSIONS).where(SESSIONS.c.token_hash == token_hash))

    # ------------------------------------------------------------ cases
    def manifest_days(self, max_age_seconds: float = DAYS_CACHE_SECONDS) -> list[date]:
        """Days that have cases, newest first (remembered for a minute: a day comes daily)."""
        cached = self._days
        if cached is not None and time.monotonic() - cached[0] < max_age_seconds:
            return cached[1]
        query = select(CASES.c.manifest_day).distinct().order_by(CASES.c.manifest_day.desc())
        with self.engine.connect() as conn:
            days = [r[0] for r in conn.execute(query)]
        self._days = (time.monotonic(), days)
        return days

    def _queue_conditions(self, query: CaseQuery, viewer: Account) -> list | None:
        """The WHERE of the queue for a viewer (None: nothing can match)."""
        if _has_nul(query.channel, query.status, query.typology, query.assignee, query.q):
            return None
        conditions = [self._visible_to(viewer)]
        if query.day is not None:
            conditions.append(CASES.c.manifest_day == query.day)
        for column in ("channel", "status"):
            if value := getattr(query, column):
                conditions.append(CASES.c[column] == value)
        if query.typology:  # one word of a ';'-separated list

            def holds(column):
                return (literal(";") + column + literal(";")).contains(f";{query.typology};", autoescape=True)

            conditions.append(
                or_(holds(CASES.c.typology), and_(CASES.c.typology.is_(None), holds(CASES.c.typology_hint)))
            )
        if query.assignee == UNASSIGNED:
            conditions.append(CASES.c.assignee.is_(None))
        elif query.assignee:
            conditions.append(CASES.c.assignee == query.assignee)
        if phrase := " ".join(query.q.lower().split())[:MAX_SEARCH_LENGTH]:  # as typed, anywhere
            conditions.append(CASES.c.search_text.contains(phrase, autoescape=True))
        return conditions

    @staticmethod
    def _visible_to(viewer: Account) -> Any:
        if viewer.role == "supervisor":
            return literal(True)
        if viewer.role != "investigator":
            return literal(False)
        return or_(CASES.c.assignee == viewer.username, CASES.c.assignee.is_(None))

    def _order(self, sort: str) -> tuple:
        column, descending = SORTS.get(sort, SORTS["risk_desc"])
        key = CASES.c[column]
        if column in ("declaration_id", "assignee", "status", "channel"):
            key = self._by_code_point(key)
        ids = self._by_code_point(CASES.c.declaration_id)
        if column == "declaration_id":
            return (key.desc() if descending else key,)
        if column == "risk_score":
            return (key.desc() if descending else key, ids)
        if column == "assignee":  # unassigned last either way
            return (CASES.c.assignee.is_(None), key.desc() if descending else key, ids)
        return (key.desc() if descending else key, CASES.c.risk_score.desc(), ids)

    def count_cases(self, query: CaseQuery, viewer: Account) -> int:
        """How many cases the viewer may see match ``query`` (for saved filters' counts)."""
        conditions = self._queue_conditions(query, viewer)
        if conditions is None:
            return 0
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(CASES).where(*conditions)).scalar_one())

    def query_cases(self, query: CaseQuery, viewer: Account) -> CasePage:
        """One page of the cases the viewer may see, filtered, searched and sorted."""
        conditions = self._queue_conditions(query, viewer)
        if conditions is None:
            return CasePage([], 0, query.page, query.per_page)
        order = self._order(query.sort)
        page_ids = (
            select(CASES.c.declaration_id)
            .where(*conditions)
            .order_by(*order)
            .limit(query.per_page)
            .offset((query.page - 1) * query.per_page)
        )
        listing = (
            select(
                CASES.c.declaration_id,
                CASES.c.manifest_day,
                CASES.c.channel,
                CASES.c.risk_score,
                CASES.c.selected_by,
                CASES.c.typology_hint,
                CASES.c.typology,
                CASES.c.status,
                CASES.c.assignee,
                CASES.c.outcome,
                CASES.c.declaration,
            )
            .where(CASES.c.declaration_id.in_(page_ids.scalar_subquery()))
            .order_by(*order)
        )
        counting = select(func.count()).select_from(CASES).where(*conditions)
        with self.engine.connect() as conn:
            total = int(conn.execute(counting).scalar_one())
            rows = list(conn.execute(listing))
        return CasePage(rows, total, query.page, query.per_page)

    def get_case(self, declaration_id: str) -> Row | None:
        """The whole case, or None."""
        if _has_nul(declaration_id):
            return None
        with self.engine.connect() as conn:
            query = select(CASES).where(CASES.c.declaration_id == declaration_id)
            return conn.execute(query).first()

    def record_outcome(
        self, declaration_id: str, expected_version: int, actor: Account, values: OutcomeValues
    ) -> WriteResult:
        """Record the outcome of an undecided case, if nobody changed it since ``expected_version``.

        A decided case is ``decided`` (whoever holds it now: a decision stays decided until a
        supervisor reopens it). A violation waits for a supervisor's confirmation (status
        ``unconfirmed``); a clear or not-inspected outcome closes the case.
        """
        if values.outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}")
        if values.typology is not None and len(values.typology) > CASES.c.typology.type.length:
            raise ValueError(f"typology has at most {CASES.c.typology.type.length} characters")
        seized = values.seized_value_usd
        if seized is not None and not (math.isfinite(seized) and seized >= 0):
            raise ValueError("seized_value_usd must be a finite number from 0 up")
        if _has_nul(values.typology, values.note):
            raise ValueError("the typology and note cannot contain a NUL character")
        now = utcnow()
        new = {
            "outcome": values.outcome,
            "typology": values.typology,
            "seized_value_usd": values.seized_value_usd,
            "note": values.note,
            "status": "unconfirmed" if values.outcome == "violation" else "closed",
        }
        return self._change_case(declaration_id, expected_version, actor, new, decided_at=now)

    def confirm_outcome(self, declaration_id: str, expected_version: int, actor: Account) -> WriteResult:
        """Four eyes: a supervisor other than the one who recorded it confirms a violation."""
        if actor.role != "supervisor":
            return WriteResult("forbidden")
        new = {"status": "closed", "confirmed_by": actor.username, "confirmed_at": utcnow()}
        return self._change_case(declaration_id, expected_version, actor, new, action="confirm")

    def reopen_case(
        self, declaration_id: str, expected_version: int, actor: Account, reason: str
    ) -> WriteResult:
        """A supervisor takes back a decision (with a reason, audited): the case is undecided again."""
        if actor.role != "supervisor":
            return WriteResult("forbidden")
        reason = reason.strip()
        if not reason or len(reason) > MAX_REASON_LENGTH or _has_nul(reason):
            raise ValueError(f"give a reason for reopening (at most {MAX_REASON_LENGTH:,} characters)")
        new = {
            "outcome": None,
            "typology": None,
            "seized_value_usd": None,
            "decided_by": None,
            "decided_at": None,
            "confirmed_by": None,
            "confirmed_at": None,
        }
        return self._change_case(declaration_id, expected_version, actor, new, action="reopen", reason=reason)

    def assign(
        self, declaration_id: str, expected_version: int, actor: Account, assignee: str | None
    ) -> WriteResult:
        """Give a case to an investigator (None: back to the pool)."""
        if assignee is not None and actor.role != "supervisor" and assignee != actor.username:
            return WriteResult("forbidden")
        if assignee is not None:
            account = self.get_account(assignee)
            if account is None or not account.active or account.role == "admin":
                raise ValueError(f"{assignee!r} is not an active investigator or supervisor")
        return self._change_case(declaration_id, expected_version, actor, {"assignee": assignee})

    def bulk_assign(
        self, declaration_ids: Sequence[str], actor: Account, assignee: str | None
    ) -> dict[str, int]:
        """A supervisor gives many cases at once (each at its current version); counts by result."""
        if actor.role != "supervisor":
            raise ValueError("only supervisors assign cases in bulk")
        counts: dict[str, int] = {}
        for declaration_id in dict.fromkeys(declaration_ids):
            case = self.get_case(declaration_id)
            status = (
                "not_found"
                if case is None
                else self.assign(declaration_id, case.version, actor, assignee).status
            )
            counts[status] = counts.get(status, 0) + 1
        return counts

    def _change_case(
        self,
        declaration_id: str,
        expected_version: int,
        actor: Account,
        new: dict[str, Any],
        decided_at: datetime | None = None,
        action: str = "",
        reason: str = "",
    ) -> WriteResult:
        """Apply ``new`` under the optimistic lock; a conflict comes back with the case now."""
        status = self._write_change(declaration_id, expected_version, actor, new, decided_at, action, reason)
        refused = ("conflict", "decided", "not_pending", "own_decision")
        return WriteResult(status, self.get_case(declaration_id) if status in refused else None)

    def _write_change(
        self,
        declaration_id: str,
        expected_version: int,
        actor: Account,
        new: dict[str, Any],
        decided_at: datetime | None,
        action: str = "",
        reason: str = "",
    ) -> WriteStatus:
        if _has_nul(declaration_id):
            return "not_found"
        where = CASES.c.declaration_id == declaration_id
        editable = [CASES.c[c] for c in (*EDITABLE_FIELDS, *DECISION_FIELDS)]
        with write_transaction(self.engine) as conn:  # short: the write lock is held
            case = conn.execute(select(*editable).where(where)).first()
            if case is None:
                return "not_found"
            if not can_see_case(actor, case.assignee):
                return "forbidden"
            if case.version != expected_version:
                return "conflict"
            values = dict(new)
            if decided_at is not None and case.outcome is not None:  # a decision stays decided
                same = all(getattr(case, f) == v for f, v in values.items() if f != "status")
                return "unchanged" if same else "decided"
            if action == "confirm":
                if case.status != "unconfirmed":
                    return "not_pending"
                if case.decided_by == actor.username:
                    return "own_decision"
            if action == "reopen":
                if case.outcome is None:
                    return "not_pending"
                values["status"] = "open" if case.assignee is None else "in_review"
            if "assignee" in values:
                if case.outcome is None:
                    values["status"] = "open" if values["assignee"] is None else "in_review"
            elif case.assignee is None and action == "":
                values["assignee"] = actor.username
            changes = [(f, getattr(case, f), v) for f, v in values.items() if getattr(case, f) != v]
            if not changes:
                return "unchanged"
            if decided_at is not None:
                values |= {"decided_by": actor.username, "decided_at": decided_at}
            result = conn.execute(
                update(CASES)
                .where(where, CASES.c.version == expected_version)
                .values(**values, version=CASES.c.version + 1, updated_at=utcnow())
            )
            if result.rowcount != 1:  # another writer won the race (PostgreSQL)
                return "conflict"
            if action == "reopen":
                changes.append(("reopened", None, reason))
            self._audit(conn, actor.username, declaration_id, changes)
            return "saved"

    def neighbours(self, declaration_id: str, viewer: Account) -> tuple[str | None, str | None]:
        """The previous and next case in the queue's default order (risk, highest first) that
        the viewer may see and that is still undecided."""
        case = self.get_case(declaration_id)
        if case is None:
            return None, None
        ids = self._by_code_point(CASES.c.declaration_id)
        base = [self._visible_to(viewer), CASES.c.outcome.is_(None)]
        risk = case.risk_score
        higher = and_(CASES.c.risk_score >= risk, or_(CASES.c.risk_score > risk, ids < declaration_id))
        lower = and_(CASES.c.risk_score <= risk, or_(CASES.c.risk_score < risk, ids > declaration_id))
        before = select(CASES.c.declaration_id).where(*base, higher).order_by(CASES.c.risk_score, ids.desc())
        after = select(CASES.c.declaration_id).where(*base, lower).order_by(CASES.c.risk_score.desc(), ids)
        with self.engine.connect() as conn:
            previous = conn.execute(before.limit(1)).scalar()
            following = conn.execute(after.limit(1)).scalar()
        return previous, following

    def related_cases(self, case: Row, viewer: Account) -> list[tuple[str, Row]]:
        """Other cases the viewer may see with the same exporter, consignee or licence, as
        (what links them, case), newest first."""
        links = []
        for label, column in (
            ("exporter", "exporter_key"),
            ("consignee", "consignee_key"),
            ("licence", "license_key"),
        ):
            value = getattr(case, column, None)
            if value:
                links.append((label, CASES.c[column] == value))
        if not links:
            return []
        link_case = sa_case(*((cond, literal(label)) for label, cond in links), else_=literal(""))
        query = (
            select(
                link_case.label("link"),
                CASES.c.declaration_id,
                CASES.c.manifest_day,
                CASES.c.channel,
                CASES.c.risk_score,
                CASES.c.status,
                CASES.c.outcome,
                CASES.c.typology,
                CASES.c.assignee,
                CASES.c.declaration,
            )
            .where(
                or_(*(cond for _, cond in links)),
                CASES.c.declaration_id != case.declaration_id,
                self._visible_to(viewer),
            )
            .order_by(CASES.c.manifest_day.desc(), CASES.c.risk_score.desc())
            .limit(RELATED_LIMIT)
        )
        with self.engine.connect() as conn:
            return [(r.link, r) for r in conn.execute(query)]

    def entity_cases(self, kind: str, key: str, viewer: Account, limit: int = 200) -> list[Row]:
        """The cases the viewer may see of one company (``kind``: exporter, consignee, licence)."""
        column = {"exporter": "exporter_key", "consignee": "consignee_key", "licence": "license_key"}.get(
            kind
        )
        if column is None or not key or _has_nul(key):
            return []
        query = (
            select(CASES)
            .where(CASES.c[column] == key, self._visible_to(viewer))
            .order_by(CASES.c.manifest_day.desc(), CASES.c.risk_score.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return list(conn.execute(query))

    # ------------------------------------------------------------ notes and attachments
    def add_note(self, declaration_id: str, actor: Account, body: str) -> WriteStatus:
        """Add a note to a case's thread (kept, never overwritten)."""
        body = body.strip()
        if not body or len(body) > MAX_NOTE_LENGTH or _has_nul(body):
            raise ValueError(f"a note has 1 to {MAX_NOTE_LENGTH:,} characters")
        if _has_nul(declaration_id):
            return "not_found"
        with write_transaction(self.engine) as conn:
            assignee = conn.execute(
                select(CASES.c.assignee).where(CASES.c.declaration_id == declaration_id)
            ).first()
            if assignee is None:
                return "not_found"
            if not can_see_case(actor, assignee[0]):
                return "forbidden"
            conn.execute(
                insert(NOTES).values(
                    declaration_id=declaration_id, username=actor.username, at=utcnow(), body=body
                )
            )
        return "saved"

    def notes(self, declaration_id: str) -> list[Row]:
        """A case's notes, oldest first."""
        query = select(NOTES).where(NOTES.c.declaration_id == declaration_id).order_by(NOTES.c.id)
        with self.engine.connect() as conn:
            return list(conn.execute(query))

    def add_attachment(
        self,
        declaration_id: str,
        actor: Account,
        *,
        filename: str,
        content_type: str,
        size: int,
        sha256: str,
        stored_name: str,
    ) -> WriteStatus:
        """Describe a file already stored (outside the web root) as attached to a case."""
        with write_transaction(self.engine) as conn:
            assignee = conn.execute(
                select(CASES.c.assignee).where(CASES.c.declaration_id == declaration_id)
            ).first()
            if assignee is None:
                return "not_found"
            if not can_see_case(actor, assignee[0]):
                return "forbidden"
            conn.execute(
                insert(ATTACHMENTS).values(
                    declaration_id=declaration_id,
                    username=actor.username,
                    at=utcnow(),
                    filename=filename,
                    content_type=content_type,
                    size=size,
                    sha256=sha256,
                    stored_name=stored_name,
                )
            )
            self._audit(conn, actor.username, declaration_id, [("attachment", None, filename)])
        return "saved"

    def attachments(self, declaration_id: str) -> list[Row]:
        """A case's attachments, oldest first."""
        query = (
            select(ATTACHMENTS)
            .where(ATTACHMENTS.c.declaration_id == declaration_id)
            .order_by(ATTACHMENTS.c.id)
        )
        with self.engine.connect() as conn:
            return list(conn.execute(query))

    def attachment_by_id(self, attachment_id: int) -> Row | None:
        """One attachment, or None."""
        with self.engine.connect() as conn:
            return conn.execute(select(ATTACHMENTS).where(ATTACHMENTS.c.id == attachment_id)).first()

    # ------------------------------------------------------------ saved filters
    def save_filter(self, username: str, name: str, query: str) -> None:
        """Keep (or replace) a user's named queue filter."""
        name = " ".join(name.split())
        if not name or len(name) > 64 or len(query) > 1000 or _has_nul(name, query):
            raise ValueError("a saved filter needs a name of 1 to 64 characters")
        with write_transaction(self.engine) as conn:
            conn.execute(delete(FILTERS).where(FILTERS.c.username == username, FILTERS.c.name == name))
            count = conn.execute(select(func.count()).where(FILTERS.c.username == username)).scalar_one()
            if count >= MAX_SAVED_FILTERS:
                raise ValueError(f"at most {MAX_SAVED_FILTERS} saved filters: delete one first")
            conn.execute(
                insert(FILTERS).values(username=username, name=name, query=query, created_at=utcnow())
            )

    def saved_filters(self, username: str) -> list[Row]:
        """A user's saved filters, by name."""
        query = select(FILTERS).where(FILTERS.c.username == username).order_by(FILTERS.c.name)
        with self.engine.connect() as conn:
            return list(conn.execute(query))

    def delete_filter(self, username: str, filter_id: int) -> None:
        """Forget one of a user's saved filters."""
        with write_transaction(self.engine) as conn:
            conn.execute(delete(FILTERS).where(FILTERS.c.username == username, FILTERS.c.id == filter_id))

    # ------------------------------------------------------------ audit log
    def _audit(
        self,
        conn: Connection,
        username: str,
        declaration_id: str | None,
        changes: Sequence[tuple[str, object, object]],
    ) -> None:
        now = utcnow()
        conn.execute(
            insert(AUDIT),
            [
                {
                    "at": now,
                    "username": username,
                    "declaration_id": declaration_id,
                    "field": field,
                    "before": _text(before),
                    "after": _text(after),
                }
                for field, before, after in changes
            ],
        )

    def _audit_conditions(self, declaration_id: str, username: str) -> list:
        conditions = []
        if declaration_id:
            conditions.append(AUDIT.c.declaration_id == declaration_id)
        if username:
            conditions.append(AUDIT.c.username == username)
        return conditions

    def audit_page(
        self, declaration_id: str = "", username: str = "", page: int = 1, per_page: int = 100
    ) -> tuple[list[Row], int]:
        """Newest audit entries first, filtered by case and/or user, and their total."""
        if _has_nul(declaration_id, username):
            return [], 0
        conditions = self._audit_conditions(declaration_id, username)
        listing = (
            select(AUDIT)
            .where(*conditions)
            .order_by(AUDIT.c.id.desc())
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
        with self.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(AUDIT).where(*conditions))
            return list(conn.execute(listing)), int(total.scalar_one())

    def iter_audit(self, declaration_id: str = "", username: str = "", batch: int = 2_000) -> Iterator[Row]:
        """Every matching audit entry, oldest first, read in batches."""
        if _has_nul(declaration_id, username):
            return
        conditions = self._audit_conditions(declaration_id, username)
        last = 0
        while True:
            query = select(AUDIT).where(*conditions, AUDIT.c.id > last).order_by(AUDIT.c.id).limit(batch)
            with self.engine.connect() as conn:
                rows = list(conn.execute(query))
            yield from rows
            if len(rows) < batch:
                return
            last = rows[-1].id

    def ping(self) -> bool:
        """True when the database answers."""
        with self.engine.connect() as conn:
            return conn.execute(text("SELECT 1")).scalar_one() == 1
