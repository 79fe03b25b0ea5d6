"""Plumbing of the review app: settings, the logged-in viewer, guards, rendering, filters.

Server-rendered with Jinja2 (autoescape on, no ``|safe`` on data) and no JavaScript.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from functools import cache
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from pathlib import Path
from typing import Annotated
from urllib.parse import quote, urlencode, urlsplit

import anyio.to_thread
from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from review.auth import token_digest, tokens_match
from review.forms import OUTCOME_LABELS, typologies
from review.schema import CHANNELS, STATUSES
from review.store import MAX_SEARCH_LENGTH, SORTS, UNASSIGNED, Account, CaseQuery, CaseStore, csv_safe

HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "customs_risk_session"
LOGIN_COOKIE = "customs_risk_login"
PER_PAGE_CHOICES = (25, 50, 100)
DEFAULT_PER_PAGE = 25
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
ROLE_HOME = {"admin": "/admin/users", "supervisor": "/cases", "investigator": "/cases"}


TRUSTED_PROXIES_ENV = "CUSTOMS_RISK_TRUSTED_PROXIES"
Network = IPv4Network | IPv6Network


@dataclass(frozen=True)
class Settings:
    """What the app needs besides the store."""

    secret: str
    secure_cookies: bool = False
    session_lifetime: timedelta = timedelta(hours=12)
    # reverse proxies whose X-Forwarded-For is believed (none by default: the peer is the client)
    trusted_proxies: tuple[Network, ...] = ()

    @property
    def cookie_name(self) -> str:
        return f"__Host-{SESSION_COOKIE}" if self.secure_cookies else SESSION_COOKIE


@dataclass(frozen=True)
class Viewer:
    """The logged-in user of a request, with their session's CSRF token."""

    account: Account
    csrf_token: str
    stamp: tuple[int, ...] = ()  # changes with the user's own writes (see CaseStore.live_session)

    @property
    def username(self) -> str:
        return self.account.username

    @property
    def role(self) -> str:
        return self.account.role


class LoginRequired(Exception):
    """No valid session: send the browser to the login page."""


class PageError(Exception):
    """Show an error page with a status code and a plain message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class TypedWorkKept(Exception):
    """A form could not be saved and its case can no longer be shown: show what was typed."""

    def __init__(self, form: object, viewer: Viewer) -> None:
        super().__init__("typed work kept")
        self.form = form
        self.viewer = viewer


SECURITY_HEADERS = (
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
)
MAX_BODY_BYTES = 256 * 1024  # forms; login and attachments have their own limits
LOGIN_BODY_BYTES = 8 * 1024


class SecurityHeaders:
    """The outermost layer: security headers on every response (error pages and 500s too), and
    request bodies refused past a size limit before anything reads them (413)."""

    def __init__(self, app: ASGIApp, *, hsts: bool = False, attachment_bytes: int = 0) -> None:
        self.app = app
        self.hsts = hsts
        self.attachment_bytes = attachment_bytes

    def _limit(self, path: str) -> int:
        if path == "/login":
            return LOGIN_BODY_BYTES
        if path.endswith("/attachments") and self.attachment_bytes:
            return self.attachment_bytes + 64 * 1024  # the file and the multipart framing
        return MAX_BODY_BYTES

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"].startswith("/static/")
        started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() not in _OWN_HEADER_NAMES
                ]
                headers += SECURITY_HEADERS
                if self.hsts:
                    headers.append((b"strict-transport-security", b"max-age=31536000"))
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        limit = self._limit(scope["path"])
        declared = dict(scope.get("headers", [])).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await _too_large(send_with_headers)
            return
        seen = 0

        async def counted_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _BodyTooLarge
            return message

        try:
            await self.app(scope, counted_receive, send_with_headers)
        except _BodyTooLarge:
            if not started:
                await _too_large(send_with_headers)


_OWN_HEADER_NAMES = {name for name, _ in SECURITY_HEADERS} | {b"cache-control", b"strict-transport-security"}


class _BodyTooLarge(Exception):
    pass


async def _too_large(send: Send) -> None:
    body = b"Request too large: nothing was read or saved."
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


# ---------------------------------------------------------------- client address
def parse_trusted_proxies(text: str) -> tuple[Network, ...]:
    """Addresses or networks ("10.0.0.5, 10.1.0.0/16, ::1"), separated by commas or spaces."""
    networks = []
    for item in text.replace(",", " ").split():
        try:
            networks.append(ip_network(item, strict=False))
        except ValueError:
            raise ValueError(
                f"{TRUSTED_PROXIES_ENV}: {item!r} is not an IP address or network "
                "(e.g. 10.0.0.5 or 10.0.0.0/8)"
            ) from None
    return tuple(networks)


def _address(text: str) -> IPv4Address | IPv6Address | None:
    """An address as a proxy writes it: '203.0.113.9', '203.0.113.9:5144', '[2001:db8::1]:443'."""
    text = text.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        return ip_address(text)
    except ValueError:
        return None


def forwarded_client(peer: str, forwarded_for: list[str], trusted: tuple[Network, ...]) -> str:
    """The client's address: the peer, unless the peer is a trusted proxy; then X-Forwarded-For is
    read from the right (each proxy appends whom it heard from), past the trusted proxies, to
    the first address that is not one. What the client wrote itself (further left) is never
    believed; a hop that is not an address ends the walk at the last trusted one."""

    def is_trusted(address: IPv4Address | IPv6Address | None) -> bool:
        return address is not None and any(address in network for network in trusted)

    current = _address(peer)
    if not is_trusted(current):
        return peer
    hops = [hop for value in forwarded_for for hop in value.split(",") if hop.strip()]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            break
        current = address
        if not is_trusted(address):
            break
    return str(current)


def client_address(request: Request) -> str:
    """Where a request comes from, for the login throttle (see :func:`forwarded_client`)."""
    peer = request.client.host if request.client else "unknown"
    trusted = get_settings(request).trusted_proxies
    if not trusted:
        return peer
    return forwarded_client(peer, request.headers.getlist("x-forwarded-for"), trusted)


# ---------------------------------------------------------------- helpers
def case_url(declaration_id: str) -> str:
    """The case page of a declaration (any characters in the id are safe)."""
    return "/cases/" + quote(declaration_id, safe="")


def safe_next(target: str) -> str:
    """A local path to go to after login (anything else goes home)."""
    if target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


csv_cell = csv_safe  # a CSV cell that a spreadsheet will not run as a formula


def make_templates() -> Jinja2Templates:
    env = Environment(  # templates are part of the release: compiled once, never re-checked on disk
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.globals.update(
        case_url=case_url,
        outcome_labels=OUTCOME_LABELS,
        unassigned=UNASSIGNED,
        entity_key=lambda key: quote(str(key), safe=""),
        display_zone=display_zone,
    )
    env.filters["localtime"] = local_time
    return Jinja2Templates(env=env)


# ---------------------------------------------------------------- request plumbing
def get_store(request: Request) -> CaseStore:
    return request.app.state.store


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def current_viewer(request: Request) -> Viewer:
    """The logged-in user, or LoginRequired.

    Every request asks: on SQLite the one indexed read of a local file runs right here, which
    costs less than handing it to a worker thread and back; a database over the network is
    asked from a worker thread, so that the server keeps answering meanwhile.
    """
    settings = get_settings(request)
    token = request.cookies.get(settings.cookie_name, "")
    if not token:
        raise LoginRequired
    store = get_store(request)
    digest = token_digest(settings.secret, token)
    if store.engine.dialect.name == "sqlite":
        found = store.live_session(digest)
    else:
        found = await anyio.to_thread.run_sync(store.live_session, digest)
    if found is None:
        raise LoginRequired
    return Viewer(found.account, found.csrf_token, found.stamp)


async def optional_viewer(request: Request) -> Viewer | None:
    """The logged-in user, or None (a form sent after the session ended is kept, not lost)."""
    try:
        return await current_viewer(request)
    except LoginRequired:
        return None


class PerUserCache:
    """What is worked out for one user (the saved filters' counts), kept for ``ttl`` seconds and
    dropped as soon as the user's own write stamp changes: their own actions always show at
    once; other people's show within ``ttl``. Bounded to ``capacity`` users (oldest first)."""

    def __init__(self, ttl: float = 10.0, capacity: int = 1_000) -> None:
        import threading
        from collections import OrderedDict

        self.ttl, self.capacity = ttl, capacity
        self._items: OrderedDict[tuple[str, str], tuple[float, tuple[int, ...], object]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, viewer: Viewer, compute):  # noqa: ANN001, ANN201 - any value
        """The value kept for ``viewer`` at their current stamp, else ``compute()`` (then kept)."""
        import time

        key = (viewer.username, viewer.role)
        now = time.monotonic()
        with self._lock:
            kept = self._items.get(key)
        if kept is not None and kept[1] == viewer.stamp and now - kept[0] < self.ttl and viewer.stamp:
            return kept[2]
        value = compute()
        with self._lock:
            self._items[key] = (now, viewer.stamp, value)
            self._items.move_to_end(key)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return value


async def case_worker(viewer: Annotated[Viewer, Depends(current_viewer)]) -> Viewer:
    """Investigators and supervisors only."""
    if viewer.role not in ("investigator", "supervisor"):
        raise PageError(403, "Case review is for investigators and supervisors; admins manage users.")
    return viewer


async def audit_reader(viewer: Annotated[Viewer, Depends(current_viewer)]) -> Viewer:
    """Supervisors and admins only."""
    if viewer.role not in ("supervisor", "admin"):
        raise PageError(403, "Only supervisors and admins can see the audit log.")
    return viewer


async def user_admin(viewer: Annotated[Viewer, Depends(current_viewer)]) -> Viewer:
    """Admins only."""
    if viewer.role != "admin":
        raise PageError(403, "Only admins manage users.")
    return viewer


def check_post(request: Request, expected_token: str, given_token: str) -> None:
    """Reject a POST from another origin or without the right CSRF token."""
    origin = request.headers.get("origin")
    if origin is not None and urlsplit(origin).netloc != request.headers.get("host", ""):
        raise PageError(403, "This form was sent from another site; it was not accepted.")
    if not tokens_match(expected_token, given_token):
        raise PageError(
            403,
            "The form's security token is missing or wrong (the page may "
            "be out of date). Reload the page and try again; nothing was saved.",
        )


def render(
    request: Request, name: str, viewer: Viewer | None, status: int = 200, **context: object
) -> HTMLResponse:
    """Render a template with the viewer and their CSRF token."""
    templates: Jinja2Templates = request.app.state.templates
    return templates.TemplateResponse(
        request,
        name,
        {"viewer": viewer, "csrf_token": viewer.csrf_token if viewer else "", **context},
        status_code=status,
    )


# ---------------------------------------------------------------- queue filters
def parse_queue_query(params: dict[str, str], viewer: Viewer) -> tuple[CaseQuery, list[str]]:
    """Read the queue's filters from the query string; bad values are dropped and named."""
    notes: list[str] = []
    day = None
    if params.get("day"):
        try:
            day = date.fromisoformat(params["day"])
        except ValueError:
            notes.append("The day filter is not a date (YYYY-MM-DD); it was ignored.")

    def choice(name: str, allowed: tuple[str, ...]) -> str:
        value = params.get(name, "")
        if value and value not in allowed:
            notes.append(f"Unknown {name} {value!r}; the filter was ignored.")
            return ""
        return value

    def number(name: str, default: int, allowed: tuple[int, ...] | None = None) -> int:
        raw = params.get(name, "")
        if raw.isdigit() and int(raw) >= 1 and (allowed is None or int(raw) in allowed):
            return min(int(raw), 1_000_000)
        if raw:
            notes.append(f"Bad {name.replace('_', ' ')} {raw!r}; showing {default}.")
        return default

    assignee = params.get("assignee", "")
    if viewer.role != "supervisor" and assignee not in ("", UNASSIGNED, viewer.username):
        notes.append("Investigators see their own and unassigned cases only.")
        assignee = ""
    sort = params.get("sort", "") or "risk_desc"
    if sort not in SORTS:
        notes.append(f"Unknown sort {sort!r}; showing the highest risk first.")
        sort = "risk_desc"
    q = " ".join(params.get("q", "").split())
    if len(q) > MAX_SEARCH_LENGTH or "\x00" in q:
        notes.append(f"The search is cut to {MAX_SEARCH_LENGTH} characters.")
        q = q.replace("\x00", "")[:MAX_SEARCH_LENGTH]
    query = CaseQuery(
        day=day,
        channel=choice("channel", CHANNELS),
        status=choice("status", STATUSES),
        typology=choice("typology", typologies()),
        assignee=assignee,
        sort=sort,
        page=number("page", 1),
        per_page=number("per_page", DEFAULT_PER_PAGE, PER_PAGE_CHOICES),
        q=q,
    )
    return query, notes


def queue_link(query: CaseQuery, **changes: object) -> str:
    """The queue URL for ``query`` with some filters changed."""
    q = replace(query, **changes)
    params = {
        "q": q.q,
        "day": q.day.isoformat() if q.day else "",
        "channel": q.channel,
        "status": q.status,
        "typology": q.typology,
        "assignee": q.assignee,
        "sort": q.sort if q.sort != "risk_desc" else "",
        "page": str(q.page) if q.page != 1 else "",
        "per_page": str(q.per_page) if q.per_page != DEFAULT_PER_PAGE else "",
    }
    encoded = urlencode({k: v for k, v in params.items() if v})
    return "/cases" + (f"?{encoded}" if encoded else "")


def sort_link(query: CaseQuery, column: str) -> tuple[str, str]:
    """The queue URL sorted by ``column`` (toggling its direction) and the header's arrow."""
    current, descending = SORTS.get(query.sort, SORTS["risk_desc"])
    first = "desc" if column in ("risk", "day") else "asc"
    if SORT_COLUMNS[column] == current:
        direction = "asc" if descending else "desc"
        arrow = " \u2193" if descending else " \u2191"
    else:
        direction, arrow = first, ""
    return queue_link(query, sort=f"{column}_{direction}", page=1), arrow


SORT_COLUMNS = {
    "risk": "risk_score",
    "day": "manifest_day",
    "id": "declaration_id",
    "status": "status",
    "assignee": "assignee",
    "channel": "channel",
}


def local_time(value: object, zone: str = "") -> str:
    """A stored (naive UTC) time in the app's zone, with the zone shown: '2026-12-01 09:00 CET'."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    if not isinstance(value, datetime):
        return ""
    tz = ZoneInfo(zone or display_zone())
    return value.replace(tzinfo=UTC).astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")


def display_zone() -> str:
    """The zone times are shown in: $CUSTOMS_RISK_TIMEZONE (an IANA name), else UTC."""
    import os

    return _known_zone(os.environ.get("CUSTOMS_RISK_TIMEZONE", "") or "UTC")


@cache
def _known_zone(zone: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        return "UTC"
    return zone
