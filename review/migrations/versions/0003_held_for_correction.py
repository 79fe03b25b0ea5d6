"""Cases held for correction: channel and status 'held' for quarantined declarations.

Revision ID: 0003_held_for_correction
Revises: 0002_audit_field_width
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_held_for_correction"
down_revision = "0002_audit_field_width"
branch_labels = None
depends_on = None

OLD = {
    "ck_cases_channel": "channel IN ('red', 'yellow')",
    "ck_cases_status": "status IN ('open', 'in_review', 'closed')",
}
NEW = {
    "ck_cases_channel": "channel IN ('red', 'yellow', 'held')",
    "ck_cases_status": "status IN ('open', 'in_review', 'closed', 'held')",
}


def _replace_checks(checks: dict[str, str]) -> None:
    # SQLite rebuilds the table (its CHECK constraints are reflected by name); PostgreSQL
    # drops and adds the two constraints in place
    with op.batch_alter_table("cases", recreate="auto") as batch:
        for name in checks:
            batch.drop_constraint(name, type_="check")
        for name, condition in checks.items():
            batch.create_check_constraint(name, condition)


def upgrade() -> None:
    _replace_checks(NEW)


def downgrade() -> None:
    bind = op.get_bind()
    decided = bind.execute(
        sa.text("SELECT COUNT(*) FROM cases WHERE channel = 'held' AND outcome IS NOT NULL")
    ).scalar_one()
    if decided:
        raise RuntimeError(
            f"cannot downgrade: {decided} held case(s) carry an investigator's outcome, which the "
            "older schema cannot keep"
        )
    op.execute("DELETE FROM cases WHERE channel = 'held'")  # scoring holds them again when re-run
    op.execute("UPDATE cases SET status = 'open' WHERE status = 'held'")
    _replace_checks(OLD)
