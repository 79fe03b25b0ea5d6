"""The investigators' case review web app: build it with :func:`create_app`.

Queue, case page, outcome form, audit log and user admin, server-rendered with Jinja2
(autoescape on, no ``|safe`` on data) and no JavaScript; ``customs-risk review`` serves it.
"""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlencode

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from review.attachments import MAX_ATTACHMENT_BYTES, attachments_folder
from review.auth import resolve_secret
from review.db import secret_file_beside
from review.forms import typologies
from review.routes import router
from review.store import CaseStore, open_store
from review.views import declaration_columns
from review.web import (
    HERE,
    TRUSTED_PROXIES_ENV,
    LoginRequired,
    PageError,
    PerUserCache,
    SecurityHeaders,
    Settings,
    TypedWorkKept,
    get_settings,
    make_templates,
    parse_trusted_proxies,
    render,
)

__all__ = ["create_app"]
CASE_ACTION = re.compile(r"(/cases/.+)/(?:outcome|notes|assign|confirm|reopen|attachments)")
WORKER_THREADS = int(os.environ.get("CUSTOMS_RISK_REVIEW_THREADS", "8"))


@asynccontextmanager
async def _lifespan(_app: FastAPI) -> AsyncIterator[None]:
    # Requests run in worker threads that share one GIL and one SQLite write lock; a few
    # threads keep them from convoying (the default is 40).
    anyio.to_thread.current_default_thread_limiter().total_tokens = WORKER_THREADS
    yield


class _ReviewApp(FastAPI):
    """FastAPI with the security layer outside everything, even the 500 page."""

    def build_middleware_stack(self):  # noqa: ANN201 - Starlette's own signature
        return SecurityHeaders(
            super().build_middleware_stack(),
            hsts=self.state.settings.secure_cookies,
            attachment_bytes=getattr(self.state, "attachment_bytes", 0),
        )


def _settings_from(
    database_url: str | None,
    secret: str | None,
    secret_file: Path | None,
    secure_cookies: bool,
    trusted_proxies: str | None,
) -> Settings:
    if secret is None:
        if secret_file is None and database_url is not None:
            secret_file = secret_file_beside(database_url)
        secret = resolve_secret(secret_file)
    if trusted_proxies is None:
        trusted_proxies = os.environ.get(TRUSTED_PROXIES_ENV, "")
    return Settings(
        secret=secret, secure_cookies=secure_cookies, trusted_proxies=parse_trusted_proxies(trusted_proxies)
    )


def create_app(
    database_url: str | None = None,
    *,
    store: CaseStore | None = None,
    secret: str | None = None,
    secret_file: Path | None = None,
    secure_cookies: bool = False,
    attachments_dir: Path | None = None,
    trusted_proxies: str | None = None,
) -> FastAPI:
    """Build the review app on a store (opened from ``database_url`` when not given).

    The session secret is ``secret``, else $CUSTOMS_RISK_SECRET, else a generated one kept
    in ``secret_file`` (default: beside a SQLite database file, mode 0600). Attachments are
    kept in ``attachments_dir``, else $CUSTOMS_RISK_ATTACHMENTS, else beside a SQLite file.
    ``trusted_proxies`` (else $CUSTOMS_RISK_TRUSTED_PROXIES; default none): addresses or
    networks of reverse proxies whose X-Forwarded-For names the client the login throttle counts.
    """
    if store is None:
        if database_url is None:
            raise ValueError("give a database_url or a store")
        store = open_store(database_url)
    settings = _settings_from(database_url, secret, secret_file, secure_cookies, trusted_proxies)
    typologies(), declaration_columns()  # load the contract now, not in the first request
    app = _ReviewApp(
        title="customs-risk case review", docs_url=None, redoc_url=None, openapi_url=None, lifespan=_lifespan
    )
    app.state.store = store
    app.state.settings = settings
    app.state.templates = make_templates()
    app.state.throttle = store.throttle  # in the database: the same for every app process
    app.state.form_stash = store.form_stash
    app.state.filter_counts = PerUserCache()
    app.state.attachments_dir = attachments_dir or attachments_folder(
        database_url or store.engine.url.render_as_string(hide_password=True)
    )
    app.state.attachment_bytes = MAX_ATTACHMENT_BYTES
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    _add_error_handlers(app)
    app.include_router(router)
    return app


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    async def to_login(request: Request, _exc: LoginRequired) -> RedirectResponse:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.method != "GET":  # after login, go back to the page the form was on, not its action
            action = CASE_ACTION.fullmatch(request.url.path)
            target = action.group(1) if action else "/"
        response = RedirectResponse("/login?" + urlencode({"next": target}), status_code=303)
        response.delete_cookie(get_settings(request).cookie_name, path="/")
        return response

    @app.exception_handler(PageError)
    async def page_error(request: Request, exc: PageError) -> HTMLResponse:
        return render(request, "error.html", None, exc.status, message=exc.message)

    @app.exception_handler(TypedWorkKept)
    async def typed_work(request: Request, exc: TypedWorkKept) -> HTMLResponse:
        return render(request, "typed_work.html", exc.viewer, 403, form=exc.form)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> HTMLResponse:
        message = "No such page." if exc.status_code == 404 else str(exc.detail)
        return render(request, "error.html", None, exc.status_code, message=message)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, _exc: RequestValidationError) -> HTMLResponse:
        return render(
            request, "error.html", None, 400, message="The request was malformed; go back and try again."
        )
