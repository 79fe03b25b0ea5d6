"""Accounts: users, their passwords and roles, and their web sessions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, delete, func, insert, select, update

from review.auth import dummy_hash, hash_password, password_problem, username_problem
from review.auth import verify_password as check_password
from review.db import write_transaction
from review.schema import ROLES
from review.stores.audit import AuditLog
from review.stores.common import (
    AUDIT,
    FILTERS,
    PG_LOCK_USERS,
    SESSIONS,
    USERS,
    Account,
    Repository,
    has_nul,
    lock_key,
    utcnow,
)


@dataclass(frozen=True)
class LiveSession:
    """A live session's user and CSRF token, and a stamp of the user's own writes: it changes
    whenever they change a case (their last audit entry) or their saved filters, so what is
    worked out from their own actions can be kept until it does."""

    account: Account
    csrf_token: str
    stamp: tuple[int, int, int]


# Built once: every request reads its session, so the statement is not rebuilt each time.
_SESSION_QUERY = (
    select(
        USERS.c.username,
        USERS.c.role,
        USERS.c.active,
        SESSIONS.c.csrf_token,
        select(func.max(AUDIT.c.id)).where(AUDIT.c.username == USERS.c.username).scalar_subquery(),
        select(func.count()).where(FILTERS.c.username == USERS.c.username).scalar_subquery(),
        select(func.max(FILTERS.c.id)).where(FILTERS.c.username == USERS.c.username).scalar_subquery(),
    )
    .join(USERS, USERS.c.username == SESSIONS.c.username)
    .where(
        SESSIONS.c.token_hash == bindparam("token_hash"),
        SESSIONS.c.expires_at > bindparam("now"),
        USERS.c.active.is_(True),
    )
)


class Accounts(Repository):
    """Users and web sessions."""

    def __init__(self, engine: Engine, audit: AuditLog) -> None:
        super().__init__(engine)
        self.audit = audit

    def _lock_users(self, conn: Connection) -> None:
        """On PostgreSQL, user changes take turns (SQLite's write lock already makes them).

        Without it two admins demoting each other at once could both pass the last-admin check.
        """
        if self._postgres:
            conn.execute(select(func.pg_advisory_xact_lock(lock_key(PG_LOCK_USERS))))

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
            self.audit.record(conn, actor, None, [(f"user:{username}", None, f"created as {role}")])
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
        if has_nul(username):
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
                self.audit.record(conn, actor, None, changes)
            final = {**row._asdict(), **values}
        return Account(username, final["role"], final["active"])

    def _active_admins(self, conn: Connection) -> int:
        query = select(func.count()).where(USERS.c.role == "admin", USERS.c.active.is_(True))
        return int(conn.execute(query).scalar_one())

    def get_account(self, username: str) -> Account | None:
        """A user by name, or None."""
        if has_nul(username):
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

    def assignable(self, conn: Connection) -> list[Account]:
        """The active investigators and supervisors, by name (on ``conn``)."""
        query = (
            select(USERS.c.username, USERS.c.role, USERS.c.active)
            .where(USERS.c.active.is_(True), USERS.c.role != "admin")
            .order_by(self._by_code_point(USERS.c.username))
        )
        return [Account(r.username, r.role, r.active) for r in conn.execute(query)]

    def authenticate(self, username: str, password: str) -> Account | None:
        """The active user with this name and password, or None (same work either way)."""
        row = None
        if not has_nul(username):
            with self.engine.connect() as conn:
                row = conn.execute(select(USERS).where(USERS.c.username == username)).first()
        if row is None:
            check_password(dummy_hash(), password)
            return None
        if not check_password(row.password_hash, password) or not row.active:
            return None
        return Account(row.username, row.role, row.active)

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
        live = self.live_session(token_hash)
        return (live.account, live.csrf_token) if live else None

    def live_session(self, token_hash: str) -> LiveSession | None:
        """The live session of a token hash with its user's write stamp (one query), or None."""
        if has_nul(token_hash):
            return None
        with self.engine.connect() as conn:
            row = conn.execute(_SESSION_QUERY, {"token_hash": token_hash, "now": utcnow()}).first()
        if row is None:
            return None
        stamp = (row[4] or 0, row[5] or 0, row[6] or 0)
        return LiveSession(Account(row.username, row.role, row.active), row.csrf_token, stamp)

    def end_session(self, token_hash: str) -> None:
        """Forget a session (logout)."""
        with write_transaction(self.engine) as conn:
            conn.execute(delete(SESSIONS).where(SESSIONS.c.token_hash == token_hash))
