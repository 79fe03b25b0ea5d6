"""Login state in the case database, shared by every app process: the failed-login throttle and
the forms kept across a login. (In each process's memory, limits multiplied with the workers
and a form typed in one worker was lost when the login landed on another.)"""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from collections.abc import Iterable

from sqlalchemy import Connection, Engine, delete, func, insert, select, tuple_

from review.auth import Verdict, throttle_delay
from review.db import write_transaction
from review.schema import LoginFailures, ResumeForm
from review.stores.common import PG_LOCK_LOGINS, Repository, lock_key

FAILURES = LoginFailures.__table__
RESUME = ResumeForm.__table__
MAX_CLIENT = FAILURES.c.client.type.length
SCOPES = ("pair", "client", "account")
_SCOPE_NAMES = {"pair": "account", "client": "client", "account": "account"}  # what a refusal names


def _text(value: str, limit: int) -> str:
    """A key as stored: no NUL (PostgreSQL text cannot hold one), cut to the column's width."""
    return value.replace("\x00", "\ufffd")[:limit]


class LoginThrottle(Repository):
    """Slow down password guessing per account, per client address and for everyone.

    - an account and client pair: 5 failures, then a growing delay (30 s, 1 min, 2 min ... 15 min);
      the owner on another client is not slowed by a stranger's guesses;
    - a client address: 20 failures over any usernames (spraying), then a growing delay;
    - an account from every client: 50 failures (a distributed attack), then a growing delay that an
      admin can lift (:meth:`unlock`);
    - everyone: 1,000 failures in the window slow down every client that has failed before.
    Failures older than the window (15 minutes) are forgotten; each scope holds at most
    ``capacity`` keys (the longest untouched go first) and a key at most a few dozen times.
    Nothing is stored for fields that fail the length checks (:func:`review.auth.login_fields_problem`),
    which callers apply first. Kept in the case database, so every app process counts the same.
    """

    def __init__(
        self,
        engine: Engine,
        window_seconds: float = 900.0,
        pair_limit: int = 5,
        client_limit: int = 20,
        account_limit: int = 50,
        global_limit: int = 1_000,
        base_delay: float = 30.0,
        max_delay: float = 900.0,
        capacity: int = 10_000,
    ) -> None:
        super().__init__(engine)
        self.window = window_seconds
        self.limits = {"pair": pair_limit, "client": client_limit, "account": account_limit}
        self.global_limit = global_limit
        self.base_delay, self.max_delay = base_delay, max_delay
        self.capacity = capacity
        self.keep = max(pair_limit, client_limit, account_limit) + 16
        self.clock = time.time  # shared by processes: wall-clock seconds

    # ------------------------------------------------------------ keys and times
    @staticmethod
    def _keys(username: str, client: str) -> dict[str, tuple[str, str, str]]:
        """(scope, username, client) of each scope's row for an attempt."""
        username, client = _text(username, 64), _text(client, MAX_CLIENT)
        return {
            "pair": ("pair", username, client),
            "client": ("client", "", client),
            "account": ("account", username, ""),
            "everyone": ("everyone", "", ""),
        }

    def _recent(self, times: str, now: float) -> list[float]:
        return [t for t in map(float, times.split()) if now - t <= self.window]

    def _rows(self, conn: Connection, keys: Iterable[tuple[str, str, str]]) -> dict[str, str]:
        """scope -> stored times of the given keys."""
        key = tuple_(FAILURES.c.scope, FAILURES.c.username, FAILURES.c.client)
        query = select(FAILURES.c.scope, FAILURES.c.times).where(key.in_(list(keys)))
        return {row.scope: row.times for row in conn.execute(query)}

    # ------------------------------------------------------------ the throttle
    def check(self, username: str, client: str) -> Verdict:
        """May this client try this username now?"""
        now = self.clock()
        with self.engine.connect() as conn:
            stored = self._rows(conn, self._keys(username, client).values())
        recent = {scope: self._recent(times, now) for scope, times in stored.items()}
        worst = Verdict(True)
        for scope in SCOPES:
            times = recent.get(scope)
            if not times:
                continue
            wait = throttle_delay(len(times), self.limits[scope], self.base_delay, self.max_delay)
            left = times[-1] + wait - now
            if left > worst.retry_after:
                worst = Verdict(False, left, _SCOPE_NAMES[scope])
        if worst.allowed and len(recent.get("everyone", [])) > self.global_limit and recent.get("client"):
            worst = Verdict(False, self.base_delay, "everyone")
        return worst

    def failed(self, username: str, client: str) -> None:
        """Record a failed attempt (of a username that passed the length check)."""
        now = self.clock()
        keys = self._keys(username, client)
        with write_transaction(self.engine) as conn:
            if self._postgres:  # failures of one key from several processes take turns
                conn.execute(select(func.pg_advisory_xact_lock(lock_key(PG_LOCK_LOGINS))))
            stored = self._rows(conn, keys.values())
            rows = []
            for scope, key in keys.items():
                keep = self.global_limit + 1 if scope == "everyone" else self.keep
                times = [*self._recent(stored.get(scope, ""), now), now][-keep:]
                rows.append(
                    {
                        "scope": key[0],
                        "username": key[1],
                        "client": key[2],
                        "times": " ".join(f"{t:.3f}" for t in times),
                        "last_at": now,
                    }
                )
            key_column = tuple_(FAILURES.c.scope, FAILURES.c.username, FAILURES.c.client)
            conn.execute(delete(FAILURES).where(key_column.in_(list(keys.values()))))
            conn.execute(insert(FAILURES), rows)
            conn.execute(delete(FAILURES).where(FAILURES.c.last_at < now - self.window))  # all expired
            self._cap(conn)

    def _cap(self, conn: Connection) -> None:
        """At most ``capacity`` keys per scope: the longest untouched go first."""
        counts = conn.execute(
            select(FAILURES.c.scope, func.count())
            .where(FAILURES.c.scope.in_(SCOPES))
            .group_by(FAILURES.c.scope)
        )
        for scope, count in list(counts):
            if count <= self.capacity:
                continue
            oldest = (
                select(FAILURES.c.username, FAILURES.c.client)
                .where(FAILURES.c.scope == scope)
                .order_by(FAILURES.c.last_at)
                .limit(count - self.capacity)
            )
            victims = [(scope, r.username, r.client) for r in conn.execute(oldest)]
            key_column = tuple_(FAILURES.c.scope, FAILURES.c.username, FAILURES.c.client)
            conn.execute(delete(FAILURES).where(key_column.in_(victims)))

    def succeeded(self, username: str, client: str) -> None:
        """The owner got in from this client: forget that pair's failures."""
        scope, user, address = self._keys(username, client)["pair"]
        with write_transaction(self.engine) as conn:
            conn.execute(
                delete(FAILURES).where(
                    FAILURES.c.scope == scope, FAILURES.c.username == user, FAILURES.c.client == address
                )
            )

    def unlock(self, username: str) -> None:
        """An admin lifts the slowing-down of an account (from every client)."""
        user = _text(username, 64)
        with write_transaction(self.engine) as conn:
            conn.execute(
                delete(FAILURES).where(FAILURES.c.scope.in_(("account", "pair")), FAILURES.c.username == user)
            )

    def sizes(self) -> dict[str, int]:
        """How many keys each scope holds, and the failures counted for everyone, once the
        expired ones are dropped (for tests and monitoring)."""
        now = self.clock()
        with write_transaction(self.engine) as conn:
            conn.execute(delete(FAILURES).where(FAILURES.c.last_at < now - self.window))
            counts = dict(
                conn.execute(select(FAILURES.c.scope, func.count()).group_by(FAILURES.c.scope)).all()
            )
            everyone = conn.execute(select(FAILURES.c.times).where(FAILURES.c.scope == "everyone")).scalar()
        return {scope: int(counts.get(scope, 0)) for scope in SCOPES} | {
            "everyone": len(self._recent(everyone or "", now))
        }


class FormStash(Repository):
    """What a user typed into a form their ended session could not save, until they log in.

    Bounded: at most ``capacity`` entries of at most ``max_chars`` characters, each kept for
    ``ttl`` seconds; the oldest go first. Keyed by a random token that is also set as a cookie
    on the browser that typed it, so nobody else's link can fill someone's form; the database
    holds only the token's hash. Kept in the case database: the login may land on any process.
    """

    def __init__(
        self, engine: Engine, capacity: int = 500, ttl: float = 3600.0, max_chars: int = 20_000
    ) -> None:
        super().__init__(engine)
        self.capacity, self.ttl, self.max_chars = capacity, ttl, max_chars
        self.clock = time.time

    @staticmethod
    def _hash(token: str) -> str:
        return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()

    def put(self, path: str, fields: dict[str, object]) -> str | None:
        """Keep ``fields`` typed on ``path``; returns the token (None when too large)."""
        if sum(len(str(v)) for v in fields.values()) > self.max_chars or len(path) > self.max_chars:
            return None
        text = json.dumps({k: str(v) for k, v in fields.items()})
        if "\x00" in text or "\x00" in path:  # JSON escapes NUL; a path never holds one
            return None
        token = secrets.token_urlsafe(24)
        now = self.clock()
        with write_transaction(self.engine) as conn:
            conn.execute(delete(RESUME).where(RESUME.c.created_at < now - self.ttl))
            count = conn.execute(select(func.count()).select_from(RESUME)).scalar_one()
            if count >= self.capacity:
                oldest = (
                    select(RESUME.c.token_hash).order_by(RESUME.c.created_at).limit(count - self.capacity + 1)
                )
                conn.execute(
                    delete(RESUME).where(RESUME.c.token_hash.in_([r[0] for r in conn.execute(oldest)]))
                )
            conn.execute(
                insert(RESUME).values(token_hash=self._hash(token), path=path, fields=text, created_at=now)
            )
        return token

    def take(self, token: str, path: str) -> dict[str, object] | None:
        """The fields kept under ``token`` for ``path`` (once), or None."""
        if not token or "\x00" in path:
            return None
        digest = self._hash(token)
        with write_transaction(self.engine) as conn:
            row = conn.execute(
                select(RESUME.c.path, RESUME.c.fields, RESUME.c.created_at).where(
                    RESUME.c.token_hash == digest
                )
            ).first()
            if row is None or row.path != path or self.clock() - row.created_at > self.ttl:
                return None
            conn.execute(delete(RESUME).where(RESUME.c.token_hash == digest))
        fields = json.loads(row.fields)
        return fields if isinstance(fields, dict) else None

    def __len__(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(RESUME)).scalar_one())
