"""Passwords, session tokens, the session secret and a login throttle."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

SECRET_ENV = "CUSTOMS_RISK_SECRET"
MIN_SECRET_LENGTH = 32
USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024


@cache
def _hasher() -> PasswordHasher:
    # OWASP's argon2id minimum (19 MiB, 2 passes, 1 lane): ~30 ms on a small server.
    return PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1)


def hash_password(password: str) -> str:
    """Hash a password with argon2id."""
    return _hasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when the password matches the stored hash."""
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@cache
def dummy_hash() -> str:
    """A hash to verify against when the user does not exist, so timing does not tell."""
    return hash_password(secrets.token_urlsafe(16))


def username_problem(username: str) -> str | None:
    """Why a username is not acceptable, or None."""
    if not USERNAME_PATTERN.fullmatch(username):
        return (
            "a username is 2-64 characters: lower-case letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return None


MIN_PASSWORD_SCORE = 3  # zxcvbn: 0 (a top password) to 4 (beyond 10^10 guesses); 3 is 10^8 and up
ZXCVBN_MAX_LENGTH = 72  # zxcvbn refuses longer input; the first 72 characters decide


@cache
def common_passwords() -> frozenset[str]:
    """The 30,000 most common passwords, as zxcvbn ships them (lower case)."""
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def password_problem(password: str, username: str = "") -> str | None:
    """Why a password is not acceptable, or None: length, the common-password list, and how
    guessable zxcvbn finds it (the username counts as known to an attacker)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"a password needs at least {MIN_PASSWORD_LENGTH} characters"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"a password has at most {MAX_PASSWORD_LENGTH} characters"
    if password.lower() in common_passwords():
        return "this password is on the list of the most common passwords: choose another"
    from zxcvbn import zxcvbn

    result = zxcvbn(password[:ZXCVBN_MAX_LENGTH], user_inputs=[username] if username else [])
    if result["score"] < MIN_PASSWORD_SCORE:
        hint = result.get("feedback", {}).get("warning") or "it would be guessed too easily"
        hint = hint.rstrip(".").lower()
        return f"this password is too easy to guess ({hint}): a few unrelated words work well"
    return None


def new_token() -> str:
    """A random, URL-safe token (256 bits)."""
    return secrets.token_urlsafe(32)


def token_digest(secret: str, token: str) -> str:
    """The keyed hash under which a session token is stored (the token itself never is)."""
    return hmac.new(secret.encode(), token.encode(), hashlib.sha256).hexdigest()


def tokens_match(expected: str, given: str) -> bool:
    """Constant-time comparison of two tokens; an empty token never matches."""
    return bool(expected) and bool(given) and hmac.compare_digest(expected, given)


def load_or_create_secret(path: Path) -> str:
    """Read the session secret from ``path``, creating it (mode 0600) on first use."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)
        secret = path.read_text(encoding="utf-8").strip()
        if len(secret) < MIN_SECRET_LENGTH:
            raise ValueError(
                f"{path}: the session secret is too short; delete the file to have a new one generated"
            ) from None
        return secret
    secret = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secret + "\n")
    return secret


def resolve_secret(secret_file: Path | None) -> str:
    """The session secret: $CUSTOMS_RISK_SECRET, else the generated file."""
    from_env = os.environ.get(SECRET_ENV, "")
    if from_env:
        if len(from_env) < MIN_SECRET_LENGTH:
            raise ValueError(f"{SECRET_ENV} must be at least {MIN_SECRET_LENGTH} characters")
        return from_env
    if secret_file is None:
        raise ValueError(f"set {SECRET_ENV} (no file to keep a generated secret in)")
    return load_or_create_secret(secret_file)


@dataclass(frozen=True)
class Verdict:
    """Whether a login attempt may go ahead, and if not for how long and why."""

    allowed: bool
    retry_after: float = 0.0
    scope: str = ""  # "account", "client" or "everyone": what is slowed down


class _Failures:
    """Recent failures per key: a bounded, expiring table (oldest-touched keys go first)."""

    def __init__(self, window: float, capacity: int, keep: int) -> None:
        self.window, self.capacity, self.keep = window, capacity, keep
        self._table: OrderedDict[str, deque[float]] = OrderedDict()

    def recent(self, key: str, now: float) -> deque[float] | None:
        times = self._table.get(key)
        if times is None:
            return None
        while times and now - times[0] > self.window:
            times.popleft()
        if not times:
            del self._table[key]
            return None
        return times

    def add(self, key: str, now: float) -> int:
        times = self.recent(key, now)
        if times is None:
            while len(self._table) >= self.capacity:
                self._table.popitem(last=False)
            times = self._table[key] = deque(maxlen=self.keep)
        else:
            self._table.move_to_end(key)
        times.append(now)
        return len(times)

    def forget(self, key: str) -> None:
        self._table.pop(key, None)

    def expire(self, now: float) -> None:
        """Drop keys whose failures are all out of the window (the oldest-touched first)."""
        for key in list(self._table):
            times = self._table[key]
            if times and now - times[-1] <= self.window:
                break
            del self._table[key]

    def __len__(self) -> int:
        return len(self._table)


def _delay(failures: int, limit: int, base: float, cap: float) -> float:
    """Growing delay once ``limit`` failures are reached: base, 2x base, 4x base ... up to cap."""
    if failures < limit:
        return 0.0
    return min(cap, base * 2 ** min(failures - limit, 30))


class LoginThrottle:
    """Slow down password guessing per account, per client address and for everyone (in memory).

    - an account and client pair: 5 failures, then a growing delay (30 s, 1 min, 2 min ... 15 min);
      the owner on another client is not slowed by a stranger's guesses;
    - a client address: 20 failures over any usernames (spraying), then a growing delay;
    - an account from every client: 50 failures (a distributed attack), then a growing delay that an
      admin can lift (:meth:`unlock`);
    - everyone: 1,000 failures in the window slow down every client that has failed before.
    Failures older than the window (15 minutes) are forgotten; each table holds at most
    ``capacity`` keys and a key at most a few dozen times. Nothing is stored for fields that
    fail the length checks (:func:`login_fields_problem`), which callers apply first.
    """

    def __init__(
        self,
        window_seconds: float = 900.0,
        pair_limit: int = 5,
        client_limit: int = 20,
        account_limit: int = 50,
        global_limit: int = 1_000,
        base_delay: float = 30.0,
        max_delay: float = 900.0,
        capacity: int = 10_000,
    ) -> None:
        self.window = window_seconds
        self.limits = {"pair": pair_limit, "client": client_limit, "account": account_limit}
        self.global_limit = global_limit
        self.base_delay, self.max_delay = base_delay, max_delay
        keep = max(pair_limit, client_limit, account_limit) + 16
        self._tables = {name: _Failures(window_seconds, capacity, keep) for name in self.limits}
        self._everyone: deque[float] = deque(maxlen=global_limit + 1)
        self._lock = threading.Lock()
        self.clock = time.monotonic

    @staticmethod
    def _keys(username: str, client: str) -> dict[str, str]:
        return {"pair": f"{client}\x00{username}", "client": client, "account": username}

    def check(self, username: str, client: str) -> Verdict:
        """May this client try this username now?"""
        with self._lock:
            now = self.clock()
            keys = self._keys(username, client)
            worst = Verdict(True)
            for name, table in self._tables.items():
                times = table.recent(keys[name], now)
                if times is None:
                    continue
                wait = _delay(len(times), self.limits[name], self.base_delay, self.max_delay)
                left = times[-1] + wait - now
                if left > worst.retry_after:
                    worst = Verdict(False, left, {"pair": "account"}.get(name, name))
            while self._everyone and now - self._everyone[0] > self.window:
                self._everyone.popleft()
            if (
                worst.allowed
                and len(self._everyone) > self.global_limit
                and self._tables["client"].recent(client, now) is not None
            ):
                worst = Verdict(False, self.base_delay, "everyone")
            return worst

    def failed(self, username: str, client: str) -> None:
        """Record a failed attempt (of a username that passed the length check)."""
        with self._lock:
            now = self.clock()
            keys = self._keys(username, client)
            for name, table in self._tables.items():
                table.add(keys[name], now)
                table.expire(now)
            self._everyone.append(now)

    def succeeded(self, username: str, client: str) -> None:
        """The owner got in from this client: forget that pair's failures."""
        with self._lock:
            self._tables["pair"].forget(self._keys(username, client)["pair"])

    def unlock(self, username: str) -> None:
        """An admin lifts the slowing-down of an account (from every client)."""
        with self._lock:
            self._tables["account"].forget(username)
            pair = self._tables["pair"]
            for key in [k for k in pair._table if k.endswith("\x00" + username)]:
                pair.forget(key)

    def sizes(self) -> dict[str, int]:
        """How many keys each table holds (for tests and monitoring)."""
        with self._lock:
            return {name: len(table) for name, table in self._tables.items()} | {
                "everyone": len(self._everyone)
            }


MAX_LOGIN_USERNAME = 64
MAX_LOGIN_FORM_BYTES = 8_192


def login_fields_problem(username: str, password: str) -> str | None:
    """Refuse over-long login fields before anything about them is kept."""
    if len(username) > MAX_LOGIN_USERNAME or len(password) > MAX_PASSWORD_LENGTH:
        return "The username or password is too long."
    return None
