"""The review app's pages and forms: login, queue, case, outcome, audit log, users."""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated
from urllib.parse import parse_qsl, urlencode

import anyio.to_thread
from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, StreamingResponse
from sqlalchemy import Row

from review.attachments import save_upload
from review.auth import login_fields_problem, new_token, token_digest, tokens_match
from review.forms import OUTCOME_LABELS, OutcomeForm, parse_outcome_form, parse_version, typologies
from review.schema import CHANNELS, ROLES, STATUSES
from review.store import UNASSIGNED, FormStash, LoginThrottle, WriteResult, can_see_case
from review.views import ENTITY_KINDS, case_view, entity_view, queue_rows, related_rows
from review.web import (
    LOGIN_COOKIE,
    PER_PAGE_CHOICES,
    ROLE_HOME,
    PageError,
    TypedWorkKept,
    Viewer,
    audit_reader,
    case_url,
    case_worker,
    check_post,
    client_address,
    csv_cell,
    current_viewer,
    display_zone,
    get_settings,
    get_store,
    local_time,
    optional_viewer,
    parse_queue_query,
    queue_link,
    render,
    safe_next,
    sort_link,
    user_admin,
)

router = APIRouter()
RESUME_COOKIE = "customs_risk_resume"
MAX_PAGE = 1_000_000
SORT_CHOICES = (
    ("risk_desc", "highest risk first"),
    ("risk_asc", "lowest risk first"),
    ("day_desc", "newest day first"),
    ("day_asc", "oldest day first"),
    ("id_asc", "declaration id"),
    ("status_asc", "status"),
    ("assignee_asc", "assignee"),
    ("channel_asc", "channel"),
)
OUTCOME_FORM_FIELDS = {f.name for f in dataclasses.fields(OutcomeForm)}
THROTTLED = {
    "account": (
        "Too many failed attempts for this user from here: try again in {wait}, or ask an admin to unlock."
    ),
    "client": "Too many failed logins from this address: try again in {wait}.",
    "everyone": "Too many failed logins on this server just now: try again in {wait}.",
}


def _duration(seconds: int) -> str:
    return f"{seconds} seconds" if seconds < 120 else f"{math.ceil(seconds / 60)} minutes"


NO_VERSION = "The form has no case version; reload the case and try again."
SAVED_NOTICES = {
    "outcome": "Outcome saved.",
    "assign": "Assignment saved.",
    "confirm": "Violation confirmed: the decision is final.",
    "reopen": "Decision reopened: the case can be decided again.",
    "note": "Note added.",
    "attachment": "File attached.",
    "unchanged": "Nothing changed.",
}
WHAT_TEXT = {"outcome": "outcome", "assign": "assignment", "confirm": "confirmation", "reopen": "reopening"}


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
    if problem := login_fields_problem(username, password):  # before anything about it is kept
        return _login_form(request, next, 400, problem)
    throttle: LoginThrottle = request.app.state.throttle
    username = username.strip().lower()
    client = client_address(request)
    verdict = throttle.check(username, client)
    if not verdict.allowed:
        wait = max(1, math.ceil(verdict.retry_after))
        response = _login_form(request, next, 429, THROTTLED[verdict.scope].format(wait=_duration(wait)))
        response.headers["retry-after"] = str(wait)
        return response
    account = get_store(request).authenticate(username, password)
    if account is None:
        throttle.failed(username, client)
        return _login_form(request, next, 401, "Wrong username or password.")
    throttle.succeeded(username, client)
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
    """The case queue: search, filters, sortable columns, saved filters with counts, pages."""
    query, notes = parse_queue_query(dict(request.query_params), viewer)
    store = get_store(request)
    page = store.query_cases(query, viewer.account)
    rows = queue_rows(page.rows, case_url, OUTCOME_LABELS)
    assignees = store.list_accounts(active_only=True) if viewer.role == "supervisor" else [viewer.account]
    notice = {"bulk": _bulk_notice(request.query_params), "filter": "Filter saved."}.get(
        request.query_params.get("saved", ""), ""
    )
    return render(
        request,
        "queue.html",
        viewer,
        page=page,
        rows=rows,
        query=query,
        notes=notes,
        notice=notice,
        shortcuts=request.app.state.filter_counts.get(viewer, lambda: _filter_counts(store, viewer)),
        days=store.manifest_days(),
        channels=CHANNELS,
        statuses=STATUSES,
        typologies=typologies(),
        assignees=[a for a in assignees if a.role != "admin"],
        per_page_choices=PER_PAGE_CHOICES,
        link=queue_link,
        sort_link=sort_link,
        sort_choices=SORT_CHOICES,
        query_string=request.url.query,
    )


def _filter_counts(store, viewer: Viewer) -> list[dict[str, object]]:
    """The built-in and saved filters with how many cases each holds now."""
    if viewer.role == "supervisor":
        builtin = [
            ("awaiting confirmation", "status=unconfirmed"),
            ("unassigned open", f"status=open&assignee={UNASSIGNED}"),
        ]
    else:
        builtin = [
            ("my open", f"status=in_review&assignee={viewer.username}"),
            ("unassigned open", "status=open"),
        ]
    items = [{"name": n, "query": q, "id": None} for n, q in builtin]
    items += [{"name": f.name, "query": f.query, "id": f.id} for f in store.saved_filters(viewer.username)]
    queries = [parse_queue_query(dict(parse_qsl(str(item["query"]))), viewer)[0] for item in items]
    for item, count in zip(items, store.count_many(queries, viewer.account), strict=True):
        item["count"] = count
        item["url"] = "/cases?" + str(item["query"]) if item["query"] else "/cases"
    return items


def _bulk_notice(params) -> str:
    done, other = params.get("done", "0"), params.get("other", "0")
    text = f"{done} case(s) assigned."
    if other not in ("", "0"):
        text += f" {other} not: decided, changed meanwhile or not found."
    return text


@router.post("/cases/filters")
def save_filter(
    request: Request,
    viewer: Annotated[Viewer, Depends(case_worker)],
    csrf_token: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    query: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """Save the queue's current filters under a name."""
    check_post(request, viewer.csrf_token, csrf_token)
    parsed, _ = parse_queue_query(dict(parse_qsl(query)), viewer)
    clean = queue_link(dataclasses.replace(parsed, page=1)).partition("?")[2]
    try:
        get_store(request).save_filter(viewer.username, name, clean)
    except ValueError as err:
        raise PageError(422, f"The filter was not saved: {err}.") from None
    return RedirectResponse("/cases?" + (clean + "&" if clean else "") + "saved=filter", status_code=303)


@router.post("/cases/filters/{filter_id}/delete")
def delete_filter(
    request: Request,
    filter_id: int,
    viewer: Annotated[Viewer, Depends(case_worker)],
    csrf_token: Annotated[str, Form()] = "",
) -> RedirectResponse:
    """Forget a saved filter."""
    check_post(request, viewer.csrf_token, csrf_token)
    get_store(request).delete_filter(viewer.username, filter_id)
    return RedirectResponse("/cases", status_code=303)


@router.post("/cases/bulk-assign")
def bulk_assign(
    request: Request,
    viewer: Annotated[Viewer, Depends(case_worker)],
    csrf_token: Annotated[str, Form()] = "",
    ids: Annotated[list[str] | None, Form()] = None,
    assignee: Annotated[str, Form()] = "",
    back: Annotated[str, Form()] = "",
) -> RedirectResponse:
    """A supervisor assigns the ticked cases at once."""
    check_post(request, viewer.csrf_token, csrf_token)
    if viewer.role != "supervisor":
        raise PageError(403, "Only supervisors assign cases in bulk.")
    chosen = (ids or [])[:500]
    if not chosen:
        raise PageError(422, "Tick at least one case to assign.")
    try:
        counts = get_store(request).bulk_assign(chosen, viewer.account, assignee.strip() or None)
    except ValueError as err:
        raise PageError(422, f"Nothing was assigned: {err}.") from None
    done = counts.get("saved", 0) + counts.get("unchanged", 0)
    target = safe_next(back) if back.startswith("/cases") else "/cases"
    joiner = "&" if "?" in target else "?"
    return RedirectResponse(
        f"{target}{joiner}saved=bulk&done={done}&other={len(set(chosen)) - done}", status_code=303
    )


@router.get("/attachments/{attachment_id}")
def download_attachment(
    request: Request, attachment_id: int, viewer: Annotated[Viewer, Depends(case_worker)]
) -> FileResponse:
    """An attachment of a case the viewer may see, as a download of its checked type."""
    store = get_store(request)
    found = store.attachment_by_id(attachment_id)
    if found is None:
        raise PageError(404, "No such attachment.")
    _visible_case(request, viewer, found.declaration_id)
    folder: Path | None = request.app.state.attachments_dir
    path = folder / found.stored_name if folder else None
    if path is None or not path.is_file():
        raise PageError(404, "The attachment's file is missing.")
    return FileResponse(
        path,
        media_type=found.content_type,
        filename=found.filename,
        content_disposition_type="inline" if found.content_type.startswith("image/") else "attachment",
    )


@router.get("/entities/{kind}/{key:path}")
def entity_page(
    request: Request, kind: str, key: str, viewer: Annotated[Viewer, Depends(case_worker)]
) -> HTMLResponse:
    """A company: its shipments the viewer may see, their outcomes, and its ownership paths."""
    if kind not in ENTITY_KINDS:
        raise PageError(404, "No such page.")
    rows = get_store(request).entity_cases(kind, key, viewer.account)
    if not rows:
        raise PageError(404, "No cases of this company that you may see.")
    return render(request, "entity.html", viewer, **entity_view(kind, key, rows, case_url))


@router.get("/cases/{declaration_id:path}/next")
def next_case(
    request: Request, declaration_id: str, viewer: Annotated[Viewer, Depends(case_worker)]
) -> RedirectResponse:
    """The next undecided case in queue order (found when asked, not on every case page)."""
    return _step(request, viewer, declaration_id, 1)


@router.get("/cases/{declaration_id:path}/previous")
def previous_case(
    request: Request, declaration_id: str, viewer: Annotated[Viewer, Depends(case_worker)]
) -> RedirectResponse:
    """The previous undecided case in queue order."""
    return _step(request, viewer, declaration_id, 0)


def _step(request: Request, viewer: Viewer, declaration_id: str, which: int) -> RedirectResponse:
    case = _visible_case(request, viewer, declaration_id)
    target = get_store(request).neighbours(declaration_id, viewer.account, case)[which]
    if target is None:
        return RedirectResponse("/cases", status_code=303)
    return RedirectResponse(case_url(target), status_code=303)


@router.get("/cases/{declaration_id:path}")
def case_page(
    request: Request, declaration_id: str, viewer: Annotated[Viewer, Depends(case_worker)]
) -> HTMLResponse:
    """One case: the declaration, why it was selected, reasons, route, ownership, history."""
    case = _visible_case(request, viewer, declaration_id)
    notice = SAVED_NOTICES.get(request.query_params.get("saved", ""), "")
    form, draft = None, ""
    resume = request.query_params.get("resume", "")
    if resume and tokens_match(request.cookies.get(RESUME_COOKIE, ""), resume):
        kept = request.app.state.form_stash.take(resume, case_url(declaration_id))
        if kept is not None:
            kind = kept.pop("kind", "outcome")
            if kind == "note":
                draft = str(kept.get("body", ""))
            else:
                form = OutcomeForm(**{k: str(v) for k, v in kept.items() if k in OUTCOME_FORM_FIELDS})
            notice = (
                f"Your session had ended before your {kind} was saved. You are logged in again and "
                "what you typed is back in the form: check it and save."
            )
    response = _case_page(request, viewer, case, form=form, notice=notice, draft=draft)
    if resume:
        response.delete_cookie(RESUME_COOKIE, path="/")
    return response


@router.post("/cases/{declaration_id:path}/outcome")
def record_outcome(
    request: Request,
    declaration_id: str,
    viewer: Annotated[Viewer | None, Depends(optional_viewer)],
    csrf_token: Annotated[str, Form()] = "",
    version: Annotated[str, Form()] = "",
    outcome: Annotated[str, Form()] = "",
    typology: Annotated[list[str] | None, Form()] = None,
    seized_value_usd: Annotated[str, Form()] = "",
    note: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """Record an outcome; bad values, a stale version or a decided case save nothing and say why,
    with what was typed still in the form (kept across a login when the session had ended)."""
    form = OutcomeForm(outcome, ";".join(typology or []), seized_value_usd, note)
    if viewer is None:
        return _resume_after_login(request, declaration_id, form)
    viewer = _case_worker_now(viewer)
    check_post(request, viewer.csrf_token, csrf_token)
    case = _case_for_post(request, viewer, declaration_id, form)
    values, errors = parse_outcome_form(form)
    expected = parse_version(version)
    if expected is None:
        errors.append("The form has no case version; reload the case and try again.")
    if values is None or expected is None:
        return _case_page(request, viewer, case, form=form, errors=errors, status=422)
    result = get_store(request).record_outcome(declaration_id, expected, viewer.account, values)
    return _after_write(request, viewer, result, declaration_id, "outcome", form)


@router.post("/cases/{declaration_id:path}/notes")
def add_note(
    request: Request,
    declaration_id: str,
    viewer: Annotated[Viewer | None, Depends(optional_viewer)],
    csrf_token: Annotated[str, Form()] = "",
    body: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """Add a note to the case's thread (kept across a login when the session had ended)."""
    if viewer is None:
        return _resume_after_login(request, declaration_id, None, body)
    viewer = _case_worker_now(viewer)
    check_post(request, viewer.csrf_token, csrf_token)
    case = _case_for_post(request, viewer, declaration_id, OutcomeForm(note=body))
    try:
        status = get_store(request).add_note(declaration_id, viewer.account, body)
    except ValueError as err:
        return _case_page(
            request, viewer, case, status=422, errors=[f"The note was not added: {err}."], draft=body
        )
    if status == "forbidden":
        raise TypedWorkKept(OutcomeForm(note=body), viewer)
    if status == "not_found":
        raise PageError(404, "No such case.")
    return RedirectResponse(case_url(declaration_id) + "?saved=note#notes", status_code=303)


@router.post("/cases/{declaration_id:path}/attachments")
async def add_attachment(
    request: Request,
    declaration_id: str,
    viewer: Annotated[Viewer, Depends(case_worker)],
    csrf_token: Annotated[str, Form()] = "",
    file: Annotated[UploadFile | None, File()] = None,
) -> HTMLResponse:
    """Attach an inspection photo or a lab report (JPEG, PNG or PDF; size-limited)."""
    check_post(request, viewer.csrf_token, csrf_token)
    store = get_store(request)
    case = await anyio.to_thread.run_sync(_visible_case, request, viewer, declaration_id)
    folder: Path | None = request.app.state.attachments_dir
    try:
        if folder is None:
            raise ValueError("attachments are not set up on this server (no folder for them)")
        if file is None or not file.filename:
            raise ValueError("choose a file")
        stored = await save_upload(file, folder, request.app.state.attachment_bytes)
    except ValueError as err:
        message = f"The file was not attached: {err}."
        return await anyio.to_thread.run_sync(
            lambda: _case_page(request, viewer, case, status=422, errors=[message])
        )
    status = await anyio.to_thread.run_sync(
        lambda: store.add_attachment(declaration_id, viewer.account, **stored)
    )
    if status != "saved":
        (folder / stored["stored_name"]).unlink(missing_ok=True)
        raise PageError(404, "No such case.")
    return RedirectResponse(case_url(declaration_id) + "?saved=attachment#attachments", status_code=303)


@router.post("/cases/{declaration_id:path}/confirm")
def confirm_outcome(
    request: Request,
    declaration_id: str,
    viewer: Annotated[Viewer, Depends(case_worker)],
    csrf_token: Annotated[str, Form()] = "",
    version: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """Four eyes: a supervisor confirms a violation someone else recorded."""
    return _case_action(
        request,
        viewer,
        declaration_id,
        csrf_token,
        version,
        "confirm",
        lambda expected: get_store(request).confirm_outcome(declaration_id, expected, viewer.account),
    )


@router.post("/cases/{declaration_id:path}/reopen")
def reopen_case(
    request: Request,
    declaration_id: str,
    viewer: Annotated[Viewer, Depends(case_worker)],
    csrf_token: Annotated[str, Form()] = "",
    version: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """A supervisor reopens a decided case, with a reason (audited)."""
    return _case_action(
        request,
        viewer,
        declaration_id,
        csrf_token,
        version,
        "reopen",
        lambda expected: get_store(request).reopen_case(declaration_id, expected, viewer.account, reason),
        reopen_reason=reason,
    )


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
    chosen = assignee.strip() or None
    return _case_action(
        request,
        viewer,
        declaration_id,
        csrf_token,
        version,
        "assign",
        lambda expected: get_store(request).assign(declaration_id, expected, viewer.account, chosen),
    )


def _case_action(
    request: Request,
    viewer: Viewer,
    declaration_id: str,
    csrf_token: str,
    version: str,
    what: str,
    write: Callable[[int], WriteResult],
    *,
    reopen_reason: str = "",
) -> HTMLResponse:
    """What every action on a case's decision panel does (confirm, reopen, assign): check the
    form's origin and token, find the case the viewer may see (else 404), read the version the
    form was typed on, ``write`` at that version, and answer: the case page again with why
    (422 for a bad form or value, 409 for a conflict, what was typed kept) or a redirect."""
    check_post(request, viewer.csrf_token, csrf_token)
    case = _visible_case(request, viewer, declaration_id)
    expected = parse_version(version)
    if expected is None:
        return _case_page(request, viewer, case, status=422, errors=[NO_VERSION], reopen_reason=reopen_reason)
    try:
        result = write(expected)
    except ValueError as err:
        return _case_page(request, viewer, case, status=422, errors=[str(err)], reopen_reason=reopen_reason)
    return _after_write(request, viewer, result, declaration_id, what, None, reopen_reason=reopen_reason)


@router.get("/audit")
def audit(
    request: Request,
    viewer: Annotated[Viewer, Depends(audit_reader)],
    case: str = "",
    user: str = "",
    page: int = 1,
) -> HTMLResponse:
    """The audit log, newest first, by case and/or user."""
    page = min(max(page, 1), MAX_PAGE)  # any number is a page: past the end shows the last one
    rows, total = get_store(request).audit_page(case, user, page, 100)
    if page > (last := max(1, -(-total // 100))):
        page = last
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


@router.post("/admin/users/{username}/unlock")
def unlock_user(
    request: Request,
    username: str,
    viewer: Annotated[Viewer, Depends(user_admin)],
    csrf_token: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """Lift the login slowing-down of an account (after failed attempts by someone else)."""
    check_post(request, viewer.csrf_token, csrf_token)
    request.app.state.throttle.unlock(username.strip().lower())
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
    if case is None or not can_see_case(viewer.account, case.assignee):
        raise PageError(404, "No such case.")  # the same answer: a case id is not an oracle
    return case


def _case_worker_now(viewer: Viewer) -> Viewer:
    if viewer.role not in ("investigator", "supervisor"):
        raise PageError(403, "Case review is for investigators and supervisors; admins manage users.")
    return viewer


def _case_for_post(request: Request, viewer: Viewer, declaration_id: str, form: OutcomeForm) -> Row:
    """The case a form was typed on; when it was given to someone else meanwhile, a page with
    what was typed (nothing saved) instead of a bare refusal."""
    case = get_store(request).get_case(declaration_id)
    if case is None:
        raise PageError(404, "No such case.")
    if not can_see_case(viewer.account, case.assignee):
        raise TypedWorkKept(form, viewer)
    return case


def _resume_after_login(
    request: Request, declaration_id: str, form: OutcomeForm | None, note: str = ""
) -> RedirectResponse:
    """The session ended while the user typed: keep the form (an outcome or a note), log in,
    come back to the case with it filled in."""
    settings = get_settings(request)
    target = case_url(declaration_id)
    stash: FormStash = request.app.state.form_stash
    kept = (
        {"kind": "outcome", **dataclasses.asdict(form)}
        if form is not None
        else {"kind": "note", "body": note}
    )
    token = stash.put(target, kept)
    if token is not None:
        target += "?" + urlencode({"resume": token})
    response = RedirectResponse("/login?" + urlencode({"next": target}), status_code=303)
    response.delete_cookie(settings.cookie_name, path="/")
    if token is not None:
        response.set_cookie(
            RESUME_COOKIE,
            token,
            httponly=True,
            samesite="lax",
            secure=settings.secure_cookies,
            path="/",
            max_age=int(stash.ttl),
        )
    return response


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
    reopen_reason: str = "",
    draft: str = "",
) -> HTMLResponse:
    unsaved = None
    if case.outcome is not None and form is not None:
        unsaved, form = form, None  # decided meanwhile: what was typed is shown, not offered to save
    if form is None:
        form = OutcomeForm()
    supervisor = viewer.role == "supervisor"
    panels = get_store(request).case_panels(case, viewer.account, with_assignees=supervisor)
    return render(
        request,
        "case.html",
        viewer,
        status,
        case=case,
        view=case_view(case),
        form=form,
        unsaved=unsaved,
        errors=errors or [],
        conflict=conflict,
        notice=notice,
        typologies=typologies(),
        assignees=panels.assignees,
        history=panels.history,
        reopen_reason=reopen_reason,
        draft=draft,
        notes=panels.notes,
        attachments=panels.attachments,
        related=related_rows(panels.related, case_url, OUTCOME_LABELS),
        zone=display_zone(),
        can_confirm=viewer.role == "supervisor"
        and case.status == "unconfirmed"
        and case.decided_by != viewer.username,
    )


def _after_write(
    request: Request,
    viewer: Viewer,
    result: WriteResult,
    declaration_id: str,
    what: str,
    form: OutcomeForm | None,
    reopen_reason: str = "",
) -> HTMLResponse:
    if result.status == "not_found":
        raise PageError(404, "No such case.")
    if result.status == "forbidden":
        if form is not None:
            raise TypedWorkKept(form, viewer)
        raise PageError(403, "You may not do this on this case; nothing was saved.")
    case = result.case
    if result.status == "conflict":
        last, _ = get_store(request).audit_page(declaration_id, per_page=1)
        who = last[0].username if last else "someone else"
        message = (
            f"{who} changed this case while you were looking at it (now version "
            f"{case.version}, last change {local_time(case.updated_at)}). "
            f"Your {WHAT_TEXT[what]} was NOT saved. "
            "Check the current values below"
            + (
                "; your entries are still in the form: submit again to replace them."
                if form is not None and case.outcome is None
                else ("; what you typed is shown below, unsaved." if form is not None else ".")
            )
        )
        return _case_page(
            request,
            viewer,
            case,
            form=form,
            errors=[message],
            conflict=True,
            status=409,
            reopen_reason=reopen_reason,
        )
    if result.status in ("decided", "not_pending", "own_decision"):
        message = {
            "decided": (
                f"This case was already decided by {case.decided_by or 'someone'}"
                f" ({OUTCOME_LABELS.get(case.outcome or '', case.outcome)}). A decision stays decided: only "
                "a supervisor can reopen it, with a reason. Your outcome was NOT saved"
                + ("; what you typed is shown below." if form is not None else ".")
            ),
            "not_pending": "There is no decision here to confirm or reopen any more; nothing was saved.",
            "own_decision": (
                "Four eyes: a violation is confirmed by a supervisor other than the person who "
                "recorded it. Nothing was saved."
            ),
        }[result.status]
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
