"""The case store's tables, declared once with the SQLAlchemy ORM (migrations mirror them)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ROLES = ("investigator", "supervisor", "admin")
CHANNELS = ("red", "yellow", "held")  # held: quarantined, held for correction (not scored)
# unconfirmed: a violation recorded, awaiting a supervisor's confirmation (four eyes)
STATUSES = ("open", "in_review", "unconfirmed", "closed", "held")
OUTCOMES = ("violation", "clear", "not_inspected")
SELECTED_BY = ("rule", "model", "exploration")
QUEUE_COLUMNS = ("channel", "status", "assignee", "typology", "typology_hint", "declaration_id")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    """Declarative base of the review tables."""


class User(Base):
    """A person who may log in: investigator, supervisor or admin."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint(_in("role", ROLES), name="ck_users_role"),)

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class Case(Base):
    """One flagged declaration: what scoring said about it and what the investigator found."""

    __tablename__ = "cases"
    __table_args__ = (
        CheckConstraint(_in("channel", CHANNELS), name="ck_cases_channel"),
        CheckConstraint(_in("status", STATUSES), name="ck_cases_status"),
        CheckConstraint(f"outcome IS NULL OR {_in('outcome', OUTCOMES)}", name="ck_cases_outcome"),
        CheckConstraint("seized_value_usd IS NULL OR seized_value_usd >= 0", name="ck_cases_seized_value"),
        # Covering indexes: the queue filters, sorts, counts and pages inside them and
        # reads whole rows only for the page it shows.
        Index("ix_cases_queue", "risk_score", *QUEUE_COLUMNS),
        Index("ix_cases_day_queue", "manifest_day", "risk_score", *QUEUE_COLUMNS),
        Index("ix_cases_exporter_key", "exporter_key"),
        Index("ix_cases_consignee_key", "consignee_key"),
        Index("ix_cases_license_key", "license_key"),
        Index("ix_cases_address_key", "address_key"),
        Index("ix_cases_search", "risk_score", "search_text", "assignee", "declaration_id"),
        Index("ix_cases_status_assignee", "status", "assignee"),
    )

    declaration_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    manifest_day: Mapped[date] = mapped_column(Date)
    declared_at: Mapped[datetime | None] = mapped_column(DateTime)
    channel: Mapped[str] = mapped_column(String(8))
    risk_score: Mapped[float] = mapped_column(Float)
    selected_by: Mapped[str] = mapped_column(String(16))
    rule_hits: Mapped[str] = mapped_column(Text, default="")
    reasons: Mapped[str] = mapped_column(Text, default="[]")
    declaration: Mapped[str] = mapped_column(Text, default="{}")
    route: Mapped[str] = mapped_column(Text, default="")
    ownership_path: Mapped[str] = mapped_column(Text, default="[]")
    exporter_history: Mapped[str] = mapped_column(Text, default="[]")
    model_version: Mapped[str] = mapped_column(String(64), default="")
    typology_hint: Mapped[str] = mapped_column(String(160), default="")  # ';'-separated
    status: Mapped[str] = mapped_column(String(16), default="open")
    assignee: Mapped[str | None] = mapped_column(String(64), ForeignKey("users.username"))
    outcome: Mapped[str | None] = mapped_column(String(16))
    typology: Mapped[str | None] = mapped_column(String(160))  # ';'-separated: several per case
    seized_value_usd: Mapped[float | None] = mapped_column(Float)
    note: Mapped[str] = mapped_column(Text, default="")
    decided_by: Mapped[str | None] = mapped_column(String(64))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime)
    confirmed_by: Mapped[str | None] = mapped_column(String(64))  # four eyes: a supervisor's second look
    confirmed_at: Mapped[datetime | None] = mapped_column(DateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    # structured reasons / ownership steps from scoring (JSON); NULL: read reasons / ownership_path
    reasons_json: Mapped[str | None] = mapped_column(Text)
    ownership_json: Mapped[str | None] = mapped_column(Text)
    # what the queue's search and the related cases read (review.keys.case_keys)
    search_text: Mapped[str] = mapped_column(Text, default="", server_default="")
    exporter_key: Mapped[str | None] = mapped_column(String(128))
    consignee_key: Mapped[str | None] = mapped_column(String(128))
    license_key: Mapped[str | None] = mapped_column(String(128))
    # the parties' registered addresses (company registry, via scoring) and the one that links
    # related cases: the exporter's, else the consignee's, normalised (review.keys.address_keys)
    exporter_address: Mapped[str] = mapped_column(Text, default="", server_default="")
    consignee_address: Mapped[str] = mapped_column(Text, default="", server_default="")
    address_key: Mapped[str | None] = mapped_column(String(128))


class AuditEntry(Base):
    """One change: who changed which field of which case (or user), when, from what to what."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_at", "at"),
        Index("ix_audit_log_declaration_id", "declaration_id"),
        Index("ix_audit_log_username", "username"),
        # a user's last change, read with every request's session (PostgreSQL needs the id in it)
        Index("ix_audit_log_username_id", "username", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime)
    username: Mapped[str] = mapped_column(String(64))
    declaration_id: Mapped[str | None] = mapped_column(String(128))
    field: Mapped[str] = mapped_column(String(128))  # "user:NAME.password" for any NAME
    before: Mapped[str | None] = mapped_column(Text)
    after: Mapped[str | None] = mapped_column(Text)


class WebSession(Base):
    """A logged-in browser: the cookie token is stored only as a keyed hash."""

    __tablename__ = "web_sessions"
    __table_args__ = (Index("ix_web_sessions_username", "username"),)

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), ForeignKey("users.username"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime)


class CaseNote(Base):
    """One note in a case's thread: kept, never overwritten."""

    __tablename__ = "case_notes"
    __table_args__ = (Index("ix_case_notes_declaration_id", "declaration_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    declaration_id: Mapped[str] = mapped_column(String(128), ForeignKey("cases.declaration_id"))
    username: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime)
    body: Mapped[str] = mapped_column(Text)


class CaseAttachment(Base):
    """A file attached to a case (inspection photo, lab report), stored outside the web root."""

    __tablename__ = "case_attachments"
    __table_args__ = (Index("ix_case_attachments_declaration_id", "declaration_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    declaration_id: Mapped[str] = mapped_column(String(128), ForeignKey("cases.declaration_id"))
    username: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    stored_name: Mapped[str] = mapped_column(String(80), unique=True)


class SavedFilter(Base):
    """A user's named queue filter (the query string of the queue)."""

    __tablename__ = "saved_filters"
    __table_args__ = (UniqueConstraint("username", "name", name="uq_saved_filters_username_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), ForeignKey("users.username"))
    name: Mapped[str] = mapped_column(String(64))
    query: Mapped[str] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(DateTime)


class LoginFailures(Base):
    """Recent failed logins of one key of the login throttle, shared by every app process.

    scope "pair": a client address and a username; "client": an address ('' username);
    "account": a username ('' client); "everyone": both ''. ``times`` holds the failures' times
    (seconds since the epoch, oldest first, space-separated, at most a few dozen; the
    "everyone" row its limit + 1). Rows expire with the window and each scope is capped.
    """

    __tablename__ = "login_failures"
    __table_args__ = (
        CheckConstraint("scope IN ('pair', 'client', 'account', 'everyone')", name="ck_login_failures_scope"),
        Index("ix_login_failures_scope_last_at", "scope", "last_at"),
        Index("ix_login_failures_last_at", "last_at"),
    )

    scope: Mapped[str] = mapped_column(String(8), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    client: Mapped[str] = mapped_column(String(100), primary_key=True)
    times: Mapped[str] = mapped_column(Text)
    last_at: Mapped[float] = mapped_column(Float)


class ResumeForm(Base):
    """What a user typed into a form their ended session could not save, until they log in again
    (keyed by a hash of the random token their browser holds; few, size-limited, expiring)."""

    __tablename__ = "resume_forms"
    __table_args__ = (Index("ix_resume_forms_created_at", "created_at"),)

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    path: Mapped[str] = mapped_column(Text)
    fields: Mapped[str] = mapped_column(Text)  # JSON object
    created_at: Mapped[float] = mapped_column(Float)
