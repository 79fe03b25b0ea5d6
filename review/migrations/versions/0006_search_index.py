"""Cases: a covering index for the queue's search (risk order, search text, assignee, id), so a
search reads the index instead of every whole case; and one by status and assignee for the
saved filters' counts ("my open", "awaiting confirmation").

Revision ID: 0006_search_index
Revises: 0005_decisions_notes
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0006_search_index"
down_revision = "0005_decisions_notes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("UPDATE cases SET search_text = substr(search_text, 1, 400) WHERE length(search_text) > 400")
    op.create_index("ix_cases_search", "cases", ["risk_score", "search_text", "assignee", "declaration_id"])
    op.create_index("ix_cases_status_assignee", "cases", ["status", "assignee"])


def downgrade() -> None:
    op.drop_index("ix_cases_status_assignee", table_name="cases")
    op.drop_index("ix_cases_search", table_name="cases")
