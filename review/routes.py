"""The review app's pages and forms: login, queue, case, outcome, audit log, users."""

from __future__ import annotations

import csv
import io
import secrets
from collections.abc import Iterator
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, StreamingResponse
from sqlalchemy import Row

from review.auth import LoginThrottle, new_token, token_digest
from review.forms import OUTCOME_LABELS, OutcomeForm, parse_outcome_form, parse_version, typologies
from review.schema import CHANNELS, ROLES, STATUSES
from review.store import WriteResult, can_see_case
from review.views import case_view, queue_rows
from review.web import (
    LOGIN_COOKIE,
    PER_PAGE_CHOICES,
    ROLE_HOME,
    PageError,
    Viewer,
    audit_reader,
    case_url,
    case_worker,
    check_post,
    csv_cell,
    current_viewer,
    get_settings,
    get_store,
    parse_queue_query,
    queue_link,
    render,
    safe_next,
    user_admin,
)

router = APIRouter()


@router.get("/health")
def health(request: Request) -> JSONResponse:
    """Liveness for monitors: answers without a session; 503 when the database does not."""
    try:
        ok = get_store(request).ping()
    except Exception:  # any database failure means unhealthy
        ok = False
    return JSONResponse({"status": "ok" if ok else "database unavailable"}, status_code=200 if ok else 503)


@router.get("/login")
def login_page(request: Request, next: str = "/") -> HTMLResponse:
    """The login form (with its own CSRF token in a cookie scoped to /login)."""
    return _login_form(request, next)


@router.post("/login")
def login(
    request: Request,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> HTMLResponse:
    """Check the password (throttled), start a session, go where the user was heading."""
    check_post(request, request.cookies.get(LOGIN_COOKIE, ""), csrf_token)
    throttle: LoginThrottle = request.app.state.throttle
    username = username.strip().lower()
    if throttle.blocked(username):
        return _login_form(
            request, next, 429, "Too many failed attempts for this user: wait 15 minutes or ask an admin."
        )
    account = get_store(request).authenticate(username, password)
    if account is None:
        throttle.failed(username)
        return _login_form(request, next, 401, "Wrong username or password.")
    throttle.succeeded(username)
    settings = get_settings(request)
    token = new_token()
    get_store(request).create_session(
        account.username, token_digest(settings.secret, token), new_token(), settings.session_lifetime
    )
    target = safe_next(next)
    response = RedirectResponse(target if target != "/" else ROLE_HOME[account.role], status_code=303)
    response.set_cookie(
        settings.cookie_name, token, httponly=True, samesite="lax", secure=settings.secure_cookies, path="/"
    )
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(
    request: Request,
    viewer: Annotated[Viewer, Depends(current_viewer)],
    csrf_token: Annotated[str, Form()] = "",
) -> RedirectResponse:
    """End the session on the server, not just in the browser."""
    check_post(request, viewer.csrf_token, csrf_token)
    settings = get_settings(request)
    token = request.cookies.get(settings.cookie_name, "")
    get_store(request).end_session(token_digest(settings.secret, token))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(settings.cookie_name, path="/")
    return response


@router.get("/")
def home(viewer: Annotated[Viewer, Depends(current_viewer)]) -> RedirectResponse:
    """Send each role to its start page."""
    return RedirectResponse(ROLE_HOME[viewer.role], status_code=303)


@router.get("/cases")
def queue(request: Request, viewer: Annotated[Viewer, Depends(case_worker)]) -> HTMLResponse:
    """The case queue: filters, risk order, pages; investigators see theirs and unassigned."""
    query, notes = parse_queue_query(dict(request.query_params), viewer)
    store = get_store(request)
    page = store.query_cases(query, viewer.account)
    rows = queue_rows(page.rows, case_url, OUTCOME_LABELS)
    assignees = store.list_accounts(active_only=True) if viewer.role == "supervisor" else [viewer.account]
    return render(
        request,
        "queue.html",
        viewer,
        page=page,
        rows=rows,
        query=query,
        notes=notes,
        days=store.manifest_days(),
        channels=CHANNELS,
        statuses=STATUSES,
        typologies=typologies(),
        assignees=[a for a in assignees if a.role != "admin"],
        per_page_choices=PER_PAGE_CHOICES,
        link=queue_link,
    )


@router.get("/cases/{declaration_id:path}")
def case_page(
    request: Request, declaration_id: str, viewer: Annotated[Viewer, Depends(case_worker)]
) -> HTMLResponse:
    """One case: the declaration, why it was selected, reasons, route, ownership, history."""
    case = _visible_case(request, viewer, declaration_id)
    notice = {
        "outcome": "Outcome saved.",
        "assign": "Assignment saved.",
        "unchanged": "Nothing changed.",
    }.get(request.query_params.get("saved", ""), "")
    return _case_page(request, viewer, case, notice=notice)


@router.post("/cases/{declaration_id:path}/outcome")
def record_outcome(
    request: Request,
    declaration_id: str,
    viewer: Annotated[Viewer, Depends(case_worker)],
    csrf_token: Annotated[str, Form()] = "",
    version: Annotated[str, Form()] = "",
    outcome: Annotated[str, Form()] = "",
    typology: Annotated[list[str] | None, Form()] = None,
    seized_value_usd: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """Record an outcome; bad values or a stale version save nothing and say why."""
    check_post(request, viewer.csrf_token, csrf_token)
    case = _visible_case(request, viewer, declaration_id)
    form = OutcomeForm(outcome, ";".join(typology or []), seized_value_usd, note)
    values, errors = parse_outcome_form(form)
    expected = parse_version(version)
    if expected is None:
        errors.append("The form has no case version; reload the case and try again.")
    if values is None or expected is None:
        return _case_page(request, viewer, case, form=form, errors=errors, status=422)
    result = get_store(request).record_outcome(declaration_id, expected, viewer.account, values)
    return _after_write(request, viewer, result, declaration_id, "outcome", form)


@router.post("/cases/{declaration_id:path}/assign")
def assign(
    request: Request,
    declaration_id: str,
    viewer: Annotated[Viewer, Depends(case_worker)],
    csrf_token: Annotated[str, Form()] = "",
    version: Annotated[str, Form()] = "",
    assignee: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """Assign a case (supervisors), or take / release it (investigators)."""
    check_post(request, viewer.csrf_token, csrf_token)
    case = _visible_case(request, viewer, declaration_id)
    expected = parse_version(version)
    if expected is None:
        return _case_page(
            request,
            viewer,
            case,
            status=422,
            errors=["The form has no case version; reload the case and try again."],
        )
    try:
        result = get_store(request).assign(declaration_id, expected, viewer.account, assignee.strip() or None)
    except ValueError as err:
        return _case_page(request, viewer, case, status=422, errors=[str(err)])
    return _after_write(request, viewer, result, declaration_id, "assign", None)


@router.get("/audit")
def audit(
    request: Request,
    viewer: Annotated[Viewer, Depends(audit_reader)],
    case: str = "",
    user: str = "",
    page: int = 1,
) -> HTMLResponse:
    """The audit log, newest first, by case and/or user."""
    page = max(page, 1)
    rows, total = get_store(request).audit_page(case, user, page, 100)
    filters = urlencode({k: v for k, v in {"case": case, "user": user}.items() if v})
    return render(
        request,
        "audit.html",
        viewer,
        rows=rows,
        total=total,
        page=page,
        pages=max(1, -(-total // 100)),
        case=case,
        user=user,
        filters=filters,
    )


@router.get("/audit.csv")
def audit_csv(
    request: Request, viewer: Annotated[Viewer, Depends(audit_reader)], case: str = "", user: str = ""
) -> StreamingResponse:
    """The audit log as CSV (cells that a spreadsheet would run as formulas are defused)."""
    entries = get_store(request).iter_audit(case, user)

    def lines() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["at_utc", "username", "declaration_id", "field", "before", "after"])
        for e in entries:
            writer.writerow(
                [
                    e.at.isoformat(timespec="seconds"),
                    csv_cell(e.username),
                    csv_cell(e.declaration_id),
                    csv_cell(e.field),
                    csv_cell(e.before),
                    csv_cell(e.after),
                ]
            )
            if buffer.tell() > 65_536:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    return StreamingResponse(
        lines(),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": 'attachment; filename="review-audit-log.csv"'},
    )


@router.get("/admin/users")
def users_page(request: Request, viewer: Annotated[Viewer, Depends(user_admin)]) -> HTMLResponse:
    """Users, their roles and the forms to change them."""
    notice = "Saved." if request.query_params.get("saved") else ""
    return _users_page(request, viewer, notice=notice)


@router.post("/admin/users")
def add_user(
    request: Request,
    viewer: Annotated[Viewer, Depends(user_admin)],
    csrf_token: Annotated[str, Form()] = "",
    username: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """Add a user."""
    check_post(request, viewer.csrf_token, csrf_token)
    try:
        get_store(request).add_user(username.strip().lower(), role, password, actor=viewer.username)
    except ValueError as err:
        return _users_page(request, viewer, errors=[str(err)], status=422)
    return RedirectResponse("/admin/users?saved=1", status_code=303)


@router.post("/admin/users/{username}")
def update_user(
    request: Request,
    username: str,
    viewer: Annotated[Viewer, Depends(user_admin)],
    csrf_token: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "",
    active: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """Change a user's role, active flag or password (their sessions end)."""
    check_post(request, viewer.csrf_token, csrf_token)
    try:
        get_store(request).update_user(
            username,
            actor=viewer.username,
            role=role or None,
            active={"yes": True, "no": False}.get(active),
            password=password or None,
        )
    except ValueError as err:
        return _users_page(request, viewer, errors=[f"{username}: {err}"], status=422)
    return RedirectResponse("/admin/users?saved=1", status_code=303)


# ---------------------------------------------------------------- page builders
def _login_form(request: Request, next_path: str, status: int = 200, error: str = "") -> HTMLResponse:
    token = secrets.token_urlsafe(32)
    response = render(
        request, "login.html", None, status, login_csrf=token, next=safe_next(next_path), error=error
    )
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        httponly=True,
        samesite="lax",
        secure=get_settings(request).secure_cookies,
        path="/login",
        max_age=3600,
    )
    return response


def _visible_case(request: Request, viewer: Viewer, declaration_id: str) -> Row:
    case = get_store(request).get_case(declaration_id)
    if case is None:
        raise PageError(404, "No such case.")
    if not can_see_case(viewer.account, case.assignee):
        raise PageError(403, "This case is assigned to another investigator.")
    return case


def _case_page(
    request: Request,
    viewer: Viewer,
    case: Row,
    *,
    form: OutcomeForm | None = None,
    errors: list[str] | None = None,
    conflict: bool = False,
    notice: str = "",
    status: int = 200,
) -> HTMLResponse:
    if form is None:
        seized = "" if case.seized_value_usd is None else f"{case.seized_value_usd:.2f}"
        form = OutcomeForm(case.outcome or "", case.typology or "", seized, case.note or "")
    store = get_store(request)
    assignees = (
        [a for a in store.list_accounts(active_only=True) if a.role != "admin"]
        if viewer.role == "supervisor"
        else []
    )
    history, _ = (
        store.audit_page(case.declaration_id, per_page=50) if viewer.role == "supervisor" else ([], 0)
    )
    return render(
        request,
        "case.html",
        viewer,
        status,
        case=case,
        view=case_view(case),
        form=form,
        errors=errors or [],
        conflict=conflict,
        notice=notice,
        typologies=typologies(),
        assignees=assignees,
        history=history,
    )


def _after_write(
    request: Request,
    viewer: Viewer,
    result: WriteResult,
    declaration_id: str,
    what: str,
    form: OutcomeForm | None,
) -> HTMLResponse:
    if result.status == "not_found":
        raise PageError(404, "No such case.")
    if result.status == "forbidden":
        raise PageError(403, "This case is assigned to another investigator; nothing was saved.")
    if result.status == "conflict":
        case = result.case
        last, _ = get_store(request).audit_page(declaration_id, per_page=1)
        who = last[0].username if last else "someone else"
        message = (
            f"{who} changed this case while you were looking at it (now version "
            f"{case.version}, last change {case.updated_at:%Y-%m-%d %H:%M} UTC). "
            f"Your {'outcome' if what == 'outcome' else 'assignment'} was NOT saved. "
            "Check the current values below"
            + (
                "; your entries are still in the form: submit again to replace them."
                if form is not None
                else "."
            )
        )
        return _case_page(request, viewer, case, form=form, errors=[message], conflict=True, status=409)
    saved = what if result.status == "saved" else "unchanged"
    return RedirectResponse(case_url(declaration_id) + f"?saved={saved}", status_code=303)


def _users_page(
    request: Request, viewer: Viewer, *, errors: list[str] | None = None, notice: str = "", status: int = 200
) -> HTMLResponse:
    return render(
        request,
        "users.html",
        viewer,
        status,
        users=get_store(request).list_accounts(),
        roles=ROLES,
        errors=errors or [],
        notice=notice,
    )
