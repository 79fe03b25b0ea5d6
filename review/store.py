"""The case store: one facade over its aggregates (:mod:`review.stores`): cases, accounts,
audit and outcomes, each with its own repository on the shared engine.

The scoring flow calls :func:`open_store`, :meth:`CaseStore.upsert_cases` and
:meth:`CaseStore.export_outcomes`; the web app calls the rest. The aggregates are also
reachable as ``store.cases``, ``store.accounts``, ``store.audit`` and ``store.outcomes``; the
login state shared by every app process as ``store.throttle`` and ``store.form_stash``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine, Row, func, select, text

from review.db import make_engine, migrate
from review.stores.accounts import Accounts, LiveSession
from review.stores.audit import AuditLog
from review.stores.cases import CasePanels, Cases
from review.stores.common import (  # noqa: F401 - the store's public names, as before the split
    ATTACHMENTS,
    AUDIT,
    CASES,
    DAYS_CACHE_SECONDS,
    FILTERS,
    INSPECTIONS_COLUMNS,
    MAX_NOTE_LENGTH,
    MAX_SEARCH_LENGTH,
    NOTES,
    OPTIONAL_CASE_JSON,
    OPTIONAL_CASE_TEXT,
    PG_LOCK_MIGRATE,
    REQUIRED_CASE_COLUMNS,
    SESSIONS,
    SORTS,
    UNASSIGNED,
    USERS,
    Account,
    CasePage,
    CaseQuery,
    OutcomeValues,
    WriteResult,
    WriteStatus,
    can_see_case,
    csv_safe,
    csv_unsafe,
    lock_key,
    prepare_cases,
    utcnow,
    write_csv_atomically,
)
from review.stores.logins import FormStash, LoginThrottle
from review.stores.outcomes import Outcomes


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
        conn.execute(select(func.pg_advisory_lock(lock_key(PG_LOCK_MIGRATE))))
        conn.commit()
        try:
            yield
        finally:
            conn.execute(select(func.pg_advisory_unlock(lock_key(PG_LOCK_MIGRATE))))
            conn.commit()


class CaseStore:
    """All reads and writes of the review database, through one object."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.audit = AuditLog(engine)
        self.accounts = Accounts(engine, self.audit)
        self.cases = Cases(engine, self.audit, self.accounts)
        self.outcomes = Outcomes(engine, self.cases)
        self.throttle = LoginThrottle(engine)
        self.form_stash = FormStash(engine)

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    def ping(self) -> bool:
        """True when the database answers."""
        with self.engine.connect() as conn:
            return conn.execute(text("SELECT 1")).scalar_one() == 1

    # ------------------------------------------------------------ audit
    def audit_page(
        self, declaration_id: str = "", username: str = "", page: int = 1, per_page: int = 100
    ) -> tuple[list[Row], int]:
        """Newest audit entries first, filtered by case and/or user, and their total."""
        return self.audit.audit_page(declaration_id, username, page, per_page)

    def iter_audit(self, declaration_id: str = "", username: str = "", batch: int = 2000) -> Iterator[Row]:
        """Every matching audit entry, oldest first, read in batches."""
        return self.audit.iter_audit(declaration_id, username, batch)

    # ------------------------------------------------------------ accounts
    def add_user(self, username: str, role: str, password: str, *, actor: str) -> Account:
        """Create a user; raises ValueError with a plain reason when it cannot."""
        return self.accounts.add_user(username, role, password, actor=actor)

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
        return self.accounts.update_user(username, actor=actor, role=role, active=active, password=password)

    def get_account(self, username: str) -> Account | None:
        """A user by name, or None."""
        return self.accounts.get_account(username)

    def list_accounts(self, role: str | None = None, active_only: bool = False) -> list[Account]:
        """Every user (optionally one role, only active ones), by name."""
        return self.accounts.list_accounts(role, active_only)

    def authenticate(self, username: str, password: str) -> Account | None:
        """The active user with this name and password, or None (same work either way)."""
        return self.accounts.authenticate(username, password)

    def create_session(self, username: str, token_hash: str, csrf_token: str, lifetime: timedelta) -> None:
        """Remember a logged-in browser (and forget expired ones)."""
        self.accounts.create_session(username, token_hash, csrf_token, lifetime)

    def session_account(self, token_hash: str) -> tuple[Account, str] | None:
        """The active user and CSRF token of a live session, or None."""
        return self.accounts.session_account(token_hash)

    def live_session(self, token_hash: str) -> LiveSession | None:
        """The live session of a token hash: user, CSRF token and the stamp of the user's own
        writes (one query), or None."""
        return self.accounts.live_session(token_hash)

    def end_session(self, token_hash: str) -> None:
        """Forget a session (logout)."""
        self.accounts.end_session(token_hash)

    # ------------------------------------------------------------ cases
    def upsert_cases(self, cases: pd.DataFrame) -> dict[str, int]:
        """Insert new cases, refresh undecided ones, never touch decided ones."""
        return self.cases.upsert_cases(cases)

    def manifest_days(self, max_age_seconds: float = DAYS_CACHE_SECONDS) -> list[date]:
        """Days that have cases, newest first (remembered for a minute: a day comes daily)."""
        return self.cases.manifest_days(max_age_seconds)

    def count_cases(self, query: CaseQuery, viewer: Account) -> int:
        """How many cases the viewer may see match ``query`` (for saved filters' counts)."""
        return self.cases.count_cases(query, viewer)

    def query_cases(self, query: CaseQuery, viewer: Account) -> CasePage:
        """One page of the cases the viewer may see, filtered, searched and sorted."""
        return self.cases.query_cases(query, viewer)

    def get_case(self, declaration_id: str) -> Row | None:
        """The whole case, or None."""
        return self.cases.get_case(declaration_id)

    def assign(
        self, declaration_id: str, expected_version: int, actor: Account, assignee: str | None
    ) -> WriteResult:
        """Give a case to an investigator (None: back to the pool)."""
        return self.cases.assign(declaration_id, expected_version, actor, assignee)

    def bulk_assign(
        self, declaration_ids: Sequence[str], actor: Account, assignee: str | None
    ) -> dict[str, int]:
        """A supervisor gives many cases at once (each at its current version); counts by result."""
        return self.cases.bulk_assign(declaration_ids, actor, assignee)

    def neighbours(
        self, declaration_id: str, viewer: Account, case: Row | None = None
    ) -> tuple[str | None, str | None]:
        """The previous and next undecided case in the queue's default order that the viewer may see."""
        return self.cases.neighbours(declaration_id, viewer, case)

    def count_many(self, queries: Sequence[CaseQuery], viewer: Account) -> list[int]:
        """How many visible cases match each query, in one pass (saved filters' counts)."""
        return self.cases.count_many(queries, viewer)

    def case_history(self, declaration_id: str, limit: int = 50) -> list[Row]:
        """A case's newest changes first."""
        return self.audit.case_history(declaration_id, limit)

    def case_panels(self, case: Row, viewer: Account, *, with_assignees: bool = False) -> CasePanels:
        """Notes, attachments, history and related cases of a case (and, for a supervisor, whom
        it may be given to), read on one connection."""
        return self.cases.case_panels(case, viewer, with_assignees=with_assignees)

    def related_cases(self, case: Row, viewer: Account) -> list[tuple[str, Row]]:
        """Other cases the viewer may see with the same exporter, consignee, licence or registered
        address, as (what links them, case), newest first."""
        return self.cases.related_cases(case, viewer)

    def entity_cases(self, kind: str, key: str, viewer: Account, limit: int = 200) -> list[Row]:
        """The cases the viewer may see of one company (``kind``: exporter, consignee, licence)."""
        return self.cases.entity_cases(kind, key, viewer, limit)

    def add_note(self, declaration_id: str, actor: Account, body: str) -> WriteStatus:
        """Add a note to a case's thread (kept, never overwritten)."""
        return self.cases.add_note(declaration_id, actor, body)

    def notes(self, declaration_id: str) -> list[Row]:
        """A case's notes, oldest first."""
        return self.cases.notes(declaration_id)

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
        return self.cases.add_attachment(
            declaration_id,
            actor,
            filename=filename,
            content_type=content_type,
            size=size,
            sha256=sha256,
            stored_name=stored_name,
        )

    def attachments(self, declaration_id: str) -> list[Row]:
        """A case's attachments, oldest first."""
        return self.cases.attachments(declaration_id)

    def attachment_by_id(self, attachment_id: int) -> Row | None:
        """One attachment, or None."""
        return self.cases.attachment_by_id(attachment_id)

    def save_filter(self, username: str, name: str, query: str) -> None:
        """Keep (or replace) a user's named queue filter."""
        self.cases.save_filter(username, name, query)

    def saved_filters(self, username: str) -> list[Row]:
        """A user's saved filters, by name."""
        return self.cases.saved_filters(username)

    def delete_filter(self, username: str, filter_id: int) -> None:
        """Forget one of a user's saved filters."""
        self.cases.delete_filter(username, filter_id)

    # ------------------------------------------------------------ outcomes
    def record_outcome(
        self, declaration_id: str, expected_version: int, actor: Account, values: OutcomeValues
    ) -> WriteResult:
        """Record the outcome of an undecided case, if nobody changed it since ``expected_version``."""
        return self.outcomes.record_outcome(declaration_id, expected_version, actor, values)

    def confirm_outcome(self, declaration_id: str, expected_version: int, actor: Account) -> WriteResult:
        """Four eyes: a supervisor other than the one who recorded it confirms a violation."""
        return self.outcomes.confirm_outcome(declaration_id, expected_version, actor)

    def reopen_case(
        self, declaration_id: str, expected_version: int, actor: Account, reason: str
    ) -> WriteResult:
        """A supervisor takes back a decision (with a reason, audited): the case is undecided again."""
        return self.outcomes.reopen_case(declaration_id, expected_version, actor, reason)

    def export_outcomes(self, path: Path | str, *, confirmed_only: bool = False) -> int:
        """Write recorded violations and clears in the contract's inspections layout (CSV)."""
        return self.outcomes.export_outcomes(path, confirmed_only=confirmed_only)
