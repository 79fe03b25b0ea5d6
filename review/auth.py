"""Passwords, session tokens, the session secret and a login throttle."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
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


def throttle_delay(failures: int, limit: int, base: float, cap: float) -> float:
    """Growing delay once ``limit`` failures are reached: base, 2x base, 4x base ... up to cap."""
    if failures < limit:
        return 0.0
    return min(cap, base * 2 ** min(failures - limit, 30))


# The login throttle itself (per account, client and everyone) keeps its failures in the case
# database, shared by every app process: review.stores.logins.LoginThrottle.


MAX_LOGIN_USERNAME = 64
MAX_LOGIN_FORM_BYTES = 8_192


def login_fields_problem(username: str, password: str) -> str | None:
    """Refuse over-long login fields before anything about them is kept."""
    if len(username) > MAX_LOGIN_USERNAME or len(password) > MAX_PASSWORD_LENGTH:
        return "The username or password is too long."
    return None
