"""Cases: what scoring flagged, the queue, assignment, notes, attachments, saved filters."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pandas as pd
from sqlalchemy import (
    Connection,
    Engine,
    Row,
    and_,
    bindparam,
    case,
    delete,
    false,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    true,
    update,
)
from sqlalchemy import case as sa_case

from review.db import write_transaction
from review.stores.accounts import Accounts
from review.stores.audit import AuditLog
from review.stores.common import (
    ATTACHMENTS,
    CASES,
    DAYS_CACHE_SECONDS,
    DECISION_FIELDS,
    EDITABLE_FIELDS,
    FILTERS,
    ID_CHUNK,
    MAX_NOTE_LENGTH,
    MAX_SAVED_FILTERS,
    MAX_SEARCH_LENGTH,
    NOTES,
    RELATED_LIMIT,
    SCORE_FIELDS,
    SORTS,
    UNASSIGNED,
    WRITE_CHUNK,
    Account,
    CasePage,
    CaseQuery,
    Repository,
    WriteResult,
    WriteStatus,
    can_see_case,
    chunks,
    has_nul,
    prepare_cases,
    utcnow,
)

_CASE_QUERY = select(CASES).where(CASES.c.declaration_id == bindparam("declaration_id"))
_NOTES_QUERY = select(NOTES).where(NOTES.c.declaration_id == bindparam("declaration_id")).order_by(NOTES.c.id)
_ATTACHMENTS_QUERY = (
    select(ATTACHMENTS)
    .where(ATTACHMENTS.c.declaration_id == bindparam("declaration_id"))
    .order_by(ATTACHMENTS.c.id)
)


RELATED_KEYS = (  # (what links two cases, its column); the first shared one names the link
    ("exporter", "exporter_key"),
    ("consignee", "consignee_key"),
    ("licence", "license_key"),
    ("address", "address_key"),  # the same registered address (company registry)
)
_RELATED_STATEMENTS: dict[tuple[tuple[str, ...], str], Any] = {}


def _related_statement(present: tuple[str, ...], kind: str) -> Any:
    """Other cases sharing any of the ``present`` keys, visible to a viewer of role ``kind``,
    newest first (values bound by name: each key's label, ``declaration_id``, ``viewer``)."""
    columns = dict(RELATED_KEYS)
    links = [(label, CASES.c[columns[label]] == bindparam(label)) for label in present]
    labels = ((cond, literal_column(f"'{label}'")) for label, cond in links)
    link_case = sa_case(*labels, else_=literal_column("''"))
    visible = {
        "supervisor": true(),
        "investigator": or_(CASES.c.assignee == bindparam("viewer"), CASES.c.assignee.is_(None)),
    }.get(kind, false())
    return (
        select(
            link_case.label("link"),
            CASES.c.declaration_id,
            CASES.c.manifest_day,
            CASES.c.channel,
            CASES.c.risk_score,
            CASES.c.status,
            CASES.c.outcome,
            CASES.c.typology,
            CASES.c.assignee,
            CASES.c.typology_hint,
        )
        .where(
            or_(*(cond for _, cond in links)), CASES.c.declaration_id != bindparam("declaration_id"), visible
        )
        .order_by(CASES.c.manifest_day.desc(), CASES.c.risk_score.desc())
        .limit(RELATED_LIMIT)
    )


def _like_escaped(text: str) -> str:
    """Text matched literally inside a LIKE pattern whose escape character is '/'."""
    return text.replace("/", "//").replace("%", "/%").replace("_", "/_")


def _queue_conditions(shape: tuple[str, ...]) -> list:
    """The queue's WHERE of a shape (see Cases._queue_filter), values bound by name."""
    visible = {
        "supervisor": true(),
        "investigator": or_(CASES.c.assignee == bindparam("viewer"), CASES.c.assignee.is_(None)),
    }.get(shape[0], false())
    conditions = [visible]
    if "day" in shape:
        conditions.append(CASES.c.manifest_day == bindparam("day"))
    for column in ("channel", "status"):
        if column in shape:
            conditions.append(CASES.c[column] == bindparam(column))
    if "typology" in shape:

        def holds(column: Any) -> Any:
            return (literal(";") + column + literal(";")).like(bindparam("typology"), escape="/")

        conditions.append(
            or_(holds(CASES.c.typology), and_(CASES.c.typology.is_(None), holds(CASES.c.typology_hint)))
        )
    if "unassigned" in shape:
        conditions.append(CASES.c.assignee.is_(None))
    elif "assignee" in shape:
        conditions.append(CASES.c.assignee == bindparam("assignee"))
    if "q" in shape:
        conditions.append(CASES.c.search_text.like(bindparam("q"), escape="/"))
    return conditions


@dataclass(frozen=True)
class CasePanels:
    """What the case page shows beside the case itself."""

    notes: list[Row]
    attachments: list[Row]
    history: list[Row]
    related: list[tuple[str, Row]]
    assignees: list[Account]


class Cases(Repository):
    """Flagged declarations and the work on them (not their outcomes)."""

    def __init__(self, engine: Engine, audit: AuditLog, accounts: Accounts) -> None:
        super().__init__(engine)
        self.audit = audit
        self.accounts = accounts
        self._days: tuple[float, list[date]] | None = None  # (read at, days): the queue's menu
        self._statements: dict[tuple[str, tuple[str, ...], str], Any] = {}  # the queue's, by shape

    def upsert_cases(self, cases: pd.DataFrame) -> dict[str, int]:
        """Insert new cases, refresh undecided ones, never touch decided ones.

        Keyed by ``declaration_id`` (a repeated id in the frame: the last row wins).
        A case held for correction (channel ``held``) starts with status ``held``; an open
        case held again becomes ``held``, and a held one that is later scored (corrected)
        opens again; a case someone is reviewing keeps its status.
        Returns counts ``{"inserted", "updated", "unchanged_decided"}``.
        """
        frame = prepare_cases(cases)
        now = utcnow()
        columns = {
            **{c: frame[c].tolist() for c in frame.columns},
            "status": ["held" if c == "held" else "open" for c in frame["channel"]],
            "note": "",
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }
        ids = columns["declaration_id"]
        with write_transaction(self.engine) as conn:
            existing = self._decided_flags(conn, ids)
            sql, rows = self._upsert_rows(conn, columns, len(frame))
            for chunk in chunks(rows, WRITE_CHUNK):
                conn.exec_driver_sql(sql, chunk)
        self._days = None
        decided = sum(existing.values())
        return {
            "inserted": len(ids) - len(existing),
            "updated": len(existing) - decided,
            "unchanged_decided": decided,
        }

    def _decided_flags(self, conn: Connection, ids: list[str]) -> dict[str, bool]:
        flags: dict[str, bool] = {}
        for chunk in chunks(ids, ID_CHUNK):
            rows = conn.execute(
                select(CASES.c.declaration_id, CASES.c.outcome.is_not(None)).where(
                    CASES.c.declaration_id.in_(chunk)
                )
            )
            flags.update({r[0]: bool(r[1]) for r in rows})
        return flags

    def _upsert_rows(self, conn: Connection, columns: dict[str, Any], n: int) -> tuple[str, list]:
        """The INSERT ... ON CONFLICT statement and its rows, bound column by column.

        SQLAlchemy's own type processors convert the values, so stored values are the
        same as through the ORM; only the per-row dict handling is skipped (100k rows).
        """
        if conn.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        else:
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        statement = dialect_insert(CASES)
        refreshed = {c: statement.excluded[c] for c in (*SCORE_FIELDS, "updated_at")}
        # constants inline, so that the statement's only parameters are the rows' columns
        held_, open_ = literal_column("'held'"), literal_column("'open'")
        held = statement.excluded.channel == held_
        refreshed["status"] = case(
            (and_(held, CASES.c.status == open_), held_),
            (and_(~held, CASES.c.status == held_), open_),
            else_=CASES.c.status,
        )
        statement = statement.on_conflict_do_update(
            index_elements=[CASES.c.declaration_id], set_=refreshed, where=CASES.c.outcome.is_(None)
        )
        compiled = statement.compile(dialect=conn.dialect, column_keys=list(columns))
        order = list(compiled.positiontup or []) if compiled.positional else list(columns)
        bound: list[list[Any]] = []
        for name in order:
            values = columns[name] if isinstance(columns[name], list) else [columns[name]] * n
            process = CASES.c[name].type.dialect_impl(conn.dialect).bind_processor(conn.dialect)
            bound.append([process(v) for v in values] if process else values)
        if compiled.positional:
            return compiled.string, list(zip(*bound, strict=True))
        return compiled.string, [dict(zip(order, row, strict=True)) for row in zip(*bound, strict=True)]

    def manifest_days(self, max_age_seconds: float = DAYS_CACHE_SECONDS) -> list[date]:
        """Days that have cases, newest first (remembered for a minute: a day comes daily)."""
        cached = self._days
        if cached is not None and time.monotonic() - cached[0] < max_age_seconds:
            return cached[1]
        query = select(CASES.c.manifest_day).distinct().order_by(CASES.c.manifest_day.desc())
        with self.engine.connect() as conn:
            days = [r[0] for r in conn.execute(query)]
        self._days = (time.monotonic(), days)
        return days

    def _queue_filter(
        self, query: CaseQuery, viewer: Account
    ) -> tuple[tuple[str, ...], dict[str, Any]] | None:
        """The shape of the queue's WHERE for a viewer (the viewer's role and which filters are
        set) and its values; None when nothing can match. Statements are built once per shape."""
        if has_nul(query.channel, query.status, query.typology, query.assignee, query.q):
            return None
        shape = [viewer.role if viewer.role in ("supervisor", "investigator") else "nobody"]
        values: dict[str, Any] = {"viewer": viewer.username}
        if query.day is not None:
            shape.append("day")
            values["day"] = query.day
        for column in ("channel", "status"):
            if value := getattr(query, column):
                shape.append(column)
                values[column] = value
        if query.typology:  # one word of a ';'-separated list
            shape.append("typology")
            values["typology"] = f"%;{_like_escaped(query.typology)};%"
        if query.assignee == UNASSIGNED:
            shape.append("unassigned")
        elif query.assignee:
            shape.append("assignee")
            values["assignee"] = query.assignee
        if phrase := " ".join(query.q.lower().split())[:MAX_SEARCH_LENGTH]:  # as typed, anywhere
            shape.append("q")
            values["q"] = f"%{_like_escaped(phrase)}%"
        return tuple(shape), values

    def _statement(self, kind: str, shape: tuple[str, ...], sort: str = "") -> Any:
        """The queue's counting or listing statement of a shape (built once, values bound by name)."""
        key = (kind, shape, sort)
        statement = self._statements.get(key)
        if statement is not None:
            return statement
        conditions = _queue_conditions(shape)
        if kind == "count":
            statement = select(func.count()).select_from(CASES).where(*conditions)
        else:
            order = self._order(sort)
            page_ids = (
                select(CASES.c.declaration_id)
                .where(*conditions)
                .order_by(*order)
                .limit(bindparam("limit"))
                .offset(bindparam("offset"))
            )
            statement = (
                select(
                    CASES.c.declaration_id,
                    CASES.c.manifest_day,
                    CASES.c.channel,
                    CASES.c.risk_score,
                    CASES.c.selected_by,
                    CASES.c.typology_hint,
                    CASES.c.typology,
                    CASES.c.status,
                    CASES.c.assignee,
                    CASES.c.outcome,
                    CASES.c.declaration,
                )
                .where(CASES.c.declaration_id.in_(page_ids.scalar_subquery()))
                .order_by(*order)
            )
        self._statements[key] = statement
        return statement

    @staticmethod
    def _visible_to(viewer: Account) -> Any:
        if viewer.role == "supervisor":
            return literal(True)
        if viewer.role != "investigator":
            return literal(False)
        return or_(CASES.c.assignee == viewer.username, CASES.c.assignee.is_(None))

    def _order(self, sort: str) -> tuple:
        column, descending = SORTS.get(sort, SORTS["risk_desc"])
        key = CASES.c[column]
        if column in ("declaration_id", "assignee", "status", "channel"):
            key = self._by_code_point(key)
        ids = self._by_code_point(CASES.c.declaration_id)
        if column == "declaration_id":
            return (key.desc() if descending else key,)
        if column == "risk_score":
            return (key.desc() if descending else key, ids)
        if column == "assignee":  # unassigned last either way
            return (CASES.c.assignee.is_(None), key.desc() if descending else key, ids)
        return (key.desc() if descending else key, CASES.c.risk_score.desc(), ids)

    def count_cases(self, query: CaseQuery, viewer: Account) -> int:
        """How many cases the viewer may see match ``query`` (for saved filters' counts)."""
        return self.count_many([query], viewer)[0]

    def count_many(self, queries: Sequence[CaseQuery], viewer: Account) -> list[int]:
        """How many visible cases match each query, on one connection (saved filters' counts;
        the usual ones, by status and assignee, are index seeks)."""
        counts = []
        with self.engine.connect() as conn:
            for query in queries:
                found = self._queue_filter(query, viewer)
                if found is None:
                    counts.append(0)
                    continue
                shape, values = found
                counts.append(int(conn.execute(self._statement("count", shape), values).scalar_one()))
        return counts

    def query_cases(self, query: CaseQuery, viewer: Account) -> CasePage:
        """One page of the cases the viewer may see, filtered, searched and sorted."""
        found = self._queue_filter(query, viewer)
        if found is None:
            return CasePage([], 0, query.page, query.per_page)
        shape, values = found
        sort = query.sort if query.sort in SORTS else "risk_desc"
        page = values | {"limit": query.per_page, "offset": (query.page - 1) * query.per_page}
        with self.engine.connect() as conn:
            total = int(conn.execute(self._statement("count", shape), values).scalar_one())
            rows = list(conn.execute(self._statement("list", shape, sort), page))
        return CasePage(rows, total, query.page, query.per_page)

    def get_case(self, declaration_id: str) -> Row | None:
        """The whole case, or None."""
        if has_nul(declaration_id):
            return None
        with self.engine.connect() as conn:
            return conn.execute(_CASE_QUERY, {"declaration_id": declaration_id}).first()

    def assign(
        self, declaration_id: str, expected_version: int, actor: Account, assignee: str | None
    ) -> WriteResult:
        """Give a case to an investigator (None: back to the pool)."""
        if assignee is not None and actor.role != "supervisor" and assignee != actor.username:
            return WriteResult("forbidden")
        if assignee is not None:
            account = self.accounts.get_account(assignee)
            if account is None or not account.active or account.role == "admin":
                raise ValueError(f"{assignee!r} is not an active investigator or supervisor")
        return self.change_case(declaration_id, expected_version, actor, {"assignee": assignee})

    def bulk_assign(
        self, declaration_ids: Sequence[str], actor: Account, assignee: str | None
    ) -> dict[str, int]:
        """A supervisor gives many cases at once (each at its current version); counts by result."""
        if actor.role != "supervisor":
            raise ValueError("only supervisors assign cases in bulk")
        counts: dict[str, int] = {}
        for declaration_id in dict.fromkeys(declaration_ids):
            case = self.get_case(declaration_id)
            status = (
                "not_found"
                if case is None
                else self.assign(declaration_id, case.version, actor, assignee).status
            )
            counts[status] = counts.get(status, 0) + 1
        return counts

    def change_case(
        self,
        declaration_id: str,
        expected_version: int,
        actor: Account,
        new: dict[str, Any],
        decided_at: datetime | None = None,
        action: str = "",
        reason: str = "",
    ) -> WriteResult:
        """Apply ``new`` under the optimistic lock; a conflict comes back with the case now."""
        status = self._write_change(declaration_id, expected_version, actor, new, decided_at, action, reason)
        refused = ("conflict", "decided", "not_pending", "own_decision")
        return WriteResult(status, self.get_case(declaration_id) if status in refused else None)

    def _write_change(
        self,
        declaration_id: str,
        expected_version: int,
        actor: Account,
        new: dict[str, Any],
        decided_at: datetime | None,
        action: str = "",
        reason: str = "",
    ) -> WriteStatus:
        if has_nul(declaration_id):
            return "not_found"
        where = CASES.c.declaration_id == declaration_id
        editable = [CASES.c[c] for c in (*EDITABLE_FIELDS, *DECISION_FIELDS)]
        with write_transaction(self.engine) as conn:  # short: the write lock is held
            case = conn.execute(select(*editable).where(where)).first()
            if case is None:
                return "not_found"
            if not can_see_case(actor, case.assignee):
                return "forbidden"
            if case.version != expected_version:
                return "conflict"
            values = dict(new)
            if decided_at is not None and case.outcome is not None:  # a decision stays decided
                same = all(getattr(case, f) == v for f, v in values.items() if f != "status")
                return "unchanged" if same else "decided"
            if action == "confirm":
                if case.status != "unconfirmed":
                    return "not_pending"
                if case.decided_by == actor.username:
                    return "own_decision"
            if action == "reopen":
                if case.outcome is None:
                    return "not_pending"
                values["status"] = "open" if case.assignee is None else "in_review"
            if "assignee" in values:
                if case.outcome is None:
                    values["status"] = "open" if values["assignee"] is None else "in_review"
            elif case.assignee is None and action == "":
                values["assignee"] = actor.username
            changes = [(f, getattr(case, f), v) for f, v in values.items() if getattr(case, f) != v]
            if not changes:
                return "unchanged"
            if decided_at is not None:
                values |= {"decided_by": actor.username, "decided_at": decided_at}
            result = conn.execute(
                update(CASES)
                .where(where, CASES.c.version == expected_version)
                .values(**values, version=CASES.c.version + 1, updated_at=utcnow())
            )
            if result.rowcount != 1:  # another writer won the race (PostgreSQL)
                return "conflict"
            if action == "reopen":
                changes.append(("reopened", None, reason))
            self.audit.record(conn, actor.username, declaration_id, changes)
            return "saved"

    def neighbours(
        self, declaration_id: str, viewer: Account, case: Row | None = None
    ) -> tuple[str | None, str | None]:
        """The previous and next case in the queue's default order (risk, highest first) that
        the viewer may see and that is still undecided (``case``: the case, when already read)."""
        case = case if case is not None else self.get_case(declaration_id)
        if case is None:
            return None, None
        ids = self._by_code_point(CASES.c.declaration_id)
        base = [self._visible_to(viewer), CASES.c.outcome.is_(None)]
        risk = case.risk_score
        higher = and_(CASES.c.risk_score >= risk, or_(CASES.c.risk_score > risk, ids < declaration_id))
        lower = and_(CASES.c.risk_score <= risk, or_(CASES.c.risk_score < risk, ids > declaration_id))
        before = select(CASES.c.declaration_id).where(*base, higher).order_by(CASES.c.risk_score, ids.desc())
        after = select(CASES.c.declaration_id).where(*base, lower).order_by(CASES.c.risk_score.desc(), ids)
        with self.engine.connect() as conn:
            previous = conn.execute(before.limit(1)).scalar()
            following = conn.execute(after.limit(1)).scalar()
        return previous, following

    def related_cases(self, case: Row, viewer: Account) -> list[tuple[str, Row]]:
        """Other cases the viewer may see with the same exporter, consignee, licence or registered
        address, as (what links them, case), newest first."""
        query = self._related_query(case, viewer)
        if query is None:
            return []
        with self.engine.connect() as conn:
            return [(r.link, r) for r in conn.execute(*query)]

    def _related_query(self, case: Row, viewer: Account) -> tuple[Any, dict[str, Any]] | None:
        """The related cases' statement (built once per shape: which keys the case has, the
        viewer's role) and its values, or None when the case has no keys."""
        present = tuple(label for label, column in RELATED_KEYS if getattr(case, column, None))
        if not present:
            return None
        kind = viewer.role if viewer.role in ("supervisor", "investigator") else "none"
        statement = _RELATED_STATEMENTS.get((present, kind))
        if statement is None:
            statement = _RELATED_STATEMENTS[(present, kind)] = _related_statement(present, kind)
        values = {label: getattr(case, dict(RELATED_KEYS)[label]) for label in present}
        return statement, values | {"declaration_id": case.declaration_id, "viewer": viewer.username}

    def case_panels(self, case: Row, viewer: Account, *, with_assignees: bool = False) -> CasePanels:
        """What the case page shows beside the case, read on one connection: notes, attachments,
        history, related cases (and the people a supervisor may assign it to)."""
        declaration_id = case.declaration_id
        related = self._related_query(case, viewer)
        with self.engine.connect() as conn:
            return CasePanels(
                notes=list(conn.execute(_NOTES_QUERY, {"declaration_id": declaration_id})),
                attachments=list(conn.execute(_ATTACHMENTS_QUERY, {"declaration_id": declaration_id})),
                history=self.audit.case_history(declaration_id, conn=conn),
                related=[(r.link, r) for r in conn.execute(*related)] if related is not None else [],
                assignees=self.accounts.assignable(conn) if with_assignees else [],
            )

    def entity_cases(self, kind: str, key: str, viewer: Account, limit: int = 200) -> list[Row]:
        """The cases the viewer may see of one company (``kind``: exporter, consignee, licence)."""
        column = {"exporter": "exporter_key", "consignee": "consignee_key", "licence": "license_key"}.get(
            kind
        )
        if column is None or not key or has_nul(key):
            return []
        query = (
            select(CASES)
            .where(CASES.c[column] == key, self._visible_to(viewer))
            .order_by(CASES.c.manifest_day.desc(), CASES.c.risk_score.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return list(conn.execute(query))

    def add_note(self, declaration_id: str, actor: Account, body: str) -> WriteStatus:
        """Add a note to a case's thread (kept, never overwritten)."""
        body = body.strip()
        if not body or len(body) > MAX_NOTE_LENGTH or has_nul(body):
            raise ValueError(f"a note has 1 to {MAX_NOTE_LENGTH:,} characters")
        if has_nul(declaration_id):
            return "not_found"
        with write_transaction(self.engine) as conn:
            refused = _refused(conn, declaration_id, actor)
            if refused:
                return refused
            conn.execute(
                insert(NOTES).values(
                    declaration_id=declaration_id, username=actor.username, at=utcnow(), body=body
                )
            )
        return "saved"

    def notes(self, declaration_id: str) -> list[Row]:
        """A case's notes, oldest first."""
        with self.engine.connect() as conn:
            return list(conn.execute(_NOTES_QUERY, {"declaration_id": declaration_id}))

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
        with write_transaction(self.engine) as conn:
            refused = _refused(conn, declaration_id, actor)
            if refused:
                return refused
            conn.execute(
                insert(ATTACHMENTS).values(
                    declaration_id=declaration_id,
                    username=actor.username,
                    at=utcnow(),
                    filename=filename,
                    content_type=content_type,
                    size=size,
                    sha256=sha256,
                    stored_name=stored_name,
                )
            )
            self.audit.record(conn, actor.username, declaration_id, [("attachment", None, filename)])
        return "saved"

    def attachments(self, declaration_id: str) -> list[Row]:
        """A case's attachments, oldest first."""
        with self.engine.connect() as conn:
            return list(conn.execute(_ATTACHMENTS_QUERY, {"declaration_id": declaration_id}))

    def attachment_by_id(self, attachment_id: int) -> Row | None:
        """One attachment, or None."""
        with self.engine.connect() as conn:
            return conn.execute(select(ATTACHMENTS).where(ATTACHMENTS.c.id == attachment_id)).first()

    def save_filter(self, username: str, name: str, query: str) -> None:
        """Keep (or replace) a user's named queue filter."""
        name = " ".join(name.split())
        if not name or len(name) > 64 or len(query) > 1000 or has_nul(name, query):
            raise ValueError("a saved filter needs a name of 1 to 64 characters")
        with write_transaction(self.engine) as conn:
            conn.execute(delete(FILTERS).where(FILTERS.c.username == username, FILTERS.c.name == name))
            count = conn.execute(select(func.count()).where(FILTERS.c.username == username)).scalar_one()
            if count >= MAX_SAVED_FILTERS:
                raise ValueError(f"at most {MAX_SAVED_FILTERS} saved filters: delete one first")
            conn.execute(
                insert(FILTERS).values(username=username, name=name, query=query, created_at=utcnow())
            )

    def saved_filters(self, username: str) -> list[Row]:
        """A user's saved filters, by name."""
        query = select(FILTERS).where(FILTERS.c.username == username).order_by(FILTERS.c.name)
        with self.engine.connect() as conn:
            return list(conn.execute(query))

    def delete_filter(self, username: str, filter_id: int) -> None:
        """Forget one of a user's saved filters."""
        with write_transaction(self.engine) as conn:
            conn.execute(delete(FILTERS).where(FILTERS.c.username == username, FILTERS.c.id == filter_id))


def _refused(conn, declaration_id: str, actor: Account) -> WriteStatus | None:
    """Why ``actor`` may not add to the case's thread or files ("not_found", "forbidden"), or None."""
    assignee = conn.execute(select(CASES.c.assignee).where(CASES.c.declaration_id == declaration_id)).first()
    if assignee is None:
        return "not_found"
    if not can_see_case(actor, assignee[0]):
        return "forbidden"
    return None
