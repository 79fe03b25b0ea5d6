"""Outcomes: what investigators decided, the four-eyes confirmation, reopening, the export."""

from __future__ import annotations

import math
from pathlib import Path

from sqlalchemy import Engine, select

from review.schema import OUTCOMES
from review.stores.cases import Cases
from review.stores.common import (
    CASES,
    EXPORTED_OUTCOMES,
    INSPECTIONS_COLUMNS,
    MAX_REASON_LENGTH,
    Account,
    OutcomeValues,
    Repository,
    WriteResult,
    csv_safe,
    has_nul,
    utcnow,
    write_csv_atomically,
)


class Outcomes(Repository):
    """Decisions on cases and the export of labels for training."""

    def __init__(self, engine: Engine, cases: Cases) -> None:
        super().__init__(engine)
        self.cases = cases

    def record_outcome(
        self, declaration_id: str, expected_version: int, actor: Account, values: OutcomeValues
    ) -> WriteResult:
        """Record the outcome of an undecided case, if nobody changed it since ``expected_version``.

        A decided case is ``decided`` (whoever holds it now: a decision stays decided until a
        supervisor reopens it). A violation waits for a supervisor's confirmation (status
        ``unconfirmed``); a clear or not-inspected outcome closes the case.
        """
        if values.outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}")
        if values.typology is not None and len(values.typology) > CASES.c.typology.type.length:
            raise ValueError(f"typology has at most {CASES.c.typology.type.length} characters")
        seized = values.seized_value_usd
        if seized is not None and not (math.isfinite(seized) and seized >= 0):
            raise ValueError("seized_value_usd must be a finite number from 0 up")
        if has_nul(values.typology, values.note):
            raise ValueError("the typology and note cannot contain a NUL character")
        now = utcnow()
        new = {
            "outcome": values.outcome,
            "typology": values.typology,
            "seized_value_usd": values.seized_value_usd,
            "note": values.note,
            "status": "unconfirmed" if values.outcome == "violation" else "closed",
        }
        return self.cases.change_case(declaration_id, expected_version, actor, new, decided_at=now)

    def confirm_outcome(self, declaration_id: str, expected_version: int, actor: Account) -> WriteResult:
        """Four eyes: a supervisor other than the one who recorded it confirms a violation."""
        if actor.role != "supervisor":
            return WriteResult("forbidden")
        new = {"status": "closed", "confirmed_by": actor.username, "confirmed_at": utcnow()}
        return self.cases.change_case(declaration_id, expected_version, actor, new, action="confirm")

    def reopen_case(
        self, declaration_id: str, expected_version: int, actor: Account, reason: str
    ) -> WriteResult:
        """A supervisor takes back a decision (with a reason, audited): the case is undecided again."""
        if actor.role != "supervisor":
            return WriteResult("forbidden")
        reason = reason.strip()
        if not reason or len(reason) > MAX_REASON_LENGTH or has_nul(reason):
            raise ValueError(f"give a reason for reopening (at most {MAX_REASON_LENGTH:,} characters)")
        new = {
            "outcome": None,
            "typology": None,
            "seized_value_usd": None,
            "decided_by": None,
            "decided_at": None,
            "confirmed_by": None,
            "confirmed_at": None,
        }
        return self.cases.change_case(
            declaration_id, expected_version, actor, new, action="reopen", reason=reason
        )

    def export_outcomes(self, path: Path | str, *, confirmed_only: bool = False) -> int:
        """Write recorded violations and clears in the contract's inspections layout (CSV).

        "Not inspected" outcomes are left out: those items are unlabelled, not clean; with
        ``confirmed_only``, so are violations still waiting for a supervisor's confirmation.
        Text cells a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``, tab, CR
        first) start with a ``'`` (:func:`csv_safe`; :func:`csv_unsafe` reads them back).
        The file is replaced atomically. Returns the number of rows written.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        query = (
            select(
                CASES.c.declaration_id,
                CASES.c.decided_at,
                CASES.c.outcome,
                CASES.c.typology,
                CASES.c.seized_value_usd,
                CASES.c.selected_by,
            )
            .where(
                CASES.c.outcome.in_(EXPORTED_OUTCOMES),
                *([CASES.c.status != "unconfirmed"] if confirmed_only else []),
            )
            .order_by(CASES.c.decided_at, self._by_code_point(CASES.c.declaration_id))
        )
        with self.engine.connect() as conn:
            rows = (
                [
                    csv_safe(r.declaration_id),
                    r.decided_at.date().isoformat(),
                    r.outcome,
                    csv_safe(r.typology or ""),
                    "",
                    "" if r.seized_value_usd is None else repr(r.seized_value_usd),
                    r.selected_by,
                ]
                for r in conn.execute(query)
            )
            return write_csv_atomically(path, INSPECTIONS_COLUMNS, rows)
