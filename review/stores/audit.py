"""The audit log: who changed which field of which case or user, when, from what to what."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from sqlalchemy import Connection, Engine, Row, bindparam, func, insert, select

from review.stores.common import (
    AUDIT,
    Repository,
    audit_text,
    has_nul,
    utcnow,
)

_HISTORY_QUERY = (
    select(AUDIT)
    .where(AUDIT.c.declaration_id == bindparam("declaration_id"))
    .order_by(AUDIT.c.id.desc())
    .limit(bindparam("limit"))
)


class AuditLog(Repository):
    """The audit log (written inside other aggregates' transactions)."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)

    def record(
        self,
        conn: Connection,
        username: str,
        declaration_id: str | None,
        changes: Sequence[tuple[str, object, object]],
    ) -> None:
        now = utcnow()
        conn.execute(
            insert(AUDIT),
            [
                {
                    "at": now,
                    "username": username,
                    "declaration_id": declaration_id,
                    "field": field,
                    "before": audit_text(before),
                    "after": audit_text(after),
                }
                for field, before, after in changes
            ],
        )

    def _audit_conditions(self, declaration_id: str, username: str) -> list:
        conditions = []
        if declaration_id:
            conditions.append(AUDIT.c.declaration_id == declaration_id)
        if username:
            conditions.append(AUDIT.c.username == username)
        return conditions

    def audit_page(
        self, declaration_id: str = "", username: str = "", page: int = 1, per_page: int = 100
    ) -> tuple[list[Row], int]:
        """Newest audit entries first, filtered by case and/or user, and their total."""
        if has_nul(declaration_id, username):
            return [], 0
        conditions = self._audit_conditions(declaration_id, username)
        listing = (
            select(AUDIT)
            .where(*conditions)
            .order_by(AUDIT.c.id.desc())
            .limit(per_page)
            .offset((page - 1) * per_page)
        )
        with self.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(AUDIT).where(*conditions))
            return list(conn.execute(listing)), int(total.scalar_one())

    def case_history(self, declaration_id: str, limit: int = 50, conn: Connection | None = None) -> list[Row]:
        """A case's newest changes first (no total counted), on ``conn`` when given."""
        if has_nul(declaration_id):
            return []
        values = {"declaration_id": declaration_id, "limit": limit}
        if conn is not None:
            return list(conn.execute(_HISTORY_QUERY, values))
        with self.engine.connect() as own:
            return list(own.execute(_HISTORY_QUERY, values))

    def iter_audit(self, declaration_id: str = "", username: str = "", batch: int = 2_000) -> Iterator[Row]:
        """Every matching audit entry, oldest first, read in batches."""
        if has_nul(declaration_id, username):
            return
        conditions = self._audit_conditions(declaration_id, username)
        last = 0
        while True:
            query = select(AUDIT).where(*conditions, AUDIT.c.id > last).order_by(AUDIT.c.id).limit(batch)
            with self.engine.connect() as conn:
                rows = list(conn.execute(query))
            yield from rows
            if len(rows) < batch:
                return
            last = rows[-1].id
