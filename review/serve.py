"""Serving the review app with uvicorn (used by ``customs-risk review`` and the load script)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from review.db import secret_file_beside

LOOPBACK = {"127.0.0.1", "::1", "localhost"}
ENV_DATABASE_URL = "CUSTOMS_RISK_REVIEW_DATABASE_URL"
ENV_SECRET_FILE = "CUSTOMS_RISK_REVIEW_SECRET_FILE"
ENV_SECURE_COOKIES = "CUSTOMS_RISK_REVIEW_SECURE_COOKIES"


def default_secret_file(database_url: str, workdir: Path) -> Path:
    """Where a generated session secret is kept: beside a SQLite file, else in the workdir."""
    return secret_file_beside(database_url) or workdir / "review.secret"


def app_from_env():
    """App factory for uvicorn's worker processes, configured by ``serve`` through the env."""
    from review.app import create_app

    secret_file = os.environ.get(ENV_SECRET_FILE)
    return create_app(
        os.environ[ENV_DATABASE_URL],
        secret_file=Path(secret_file) if secret_file else None,
        secure_cookies=os.environ.get(ENV_SECURE_COOKIES) == "1",
    )


def serve(
    database_url: str,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    secret_file: Path | None = None,
    secure_cookies: bool = False,
    workers: int = 1,
    log_level: str = "info",
    access_log: bool = True,
    trusted_proxies: str | None = None,
) -> None:
    """Open the store and serve the app until interrupted (``workers`` processes).

    The workers share everything through the database (sessions, the login throttle, forms
    kept across a login). ``trusted_proxies``: reverse proxies whose X-Forwarded-For names the
    client (else $CUSTOMS_RISK_TRUSTED_PROXIES; default none).
    """
    import uvicorn

    from review.app import create_app
    from review.auth import resolve_secret
    from review.store import open_store
    from review.web import TRUSTED_PROXIES_ENV, parse_trusted_proxies

    if host not in LOOPBACK and not secure_cookies:
        print(
            f"warning: serving on {host} without --secure-cookies; put it behind HTTPS "
            "and pass --secure-cookies",
            file=sys.stderr,
        )
    options = {
        "host": host,
        "port": port,
        "log_level": log_level,
        "access_log": access_log,
        "server_header": False,
        "proxy_headers": False,
    }
    if trusted_proxies is not None:
        parse_trusted_proxies(trusted_proxies)  # refuse a bad list before starting
        os.environ[TRUSTED_PROXIES_ENV] = trusted_proxies  # the workers' apps read it
    if workers <= 1:
        app = create_app(database_url, secret_file=secret_file, secure_cookies=secure_cookies)
        uvicorn.run(app, **options)
        return
    open_store(database_url).close()  # migrate once, before the workers start
    if secret_file is None:
        secret_file = secret_file_beside(database_url)
    resolve_secret(secret_file)  # create the shared secret file once
    os.environ[ENV_DATABASE_URL] = database_url
    os.environ[ENV_SECRET_FILE] = str(secret_file or "")
    os.environ[ENV_SECURE_COOKIES] = "1" if secure_cookies else "0"
    uvicorn.run("review.serve:app_from_env", factory=True, workers=workers, **options)
