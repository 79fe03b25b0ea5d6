"""Login state shared by every app process: the failed-login throttle and the forms kept across
a login (both were held in each process's memory, so limits multiplied with the workers); an
index for a user's last change, which every request's session lookup reads.

Revision ID: 0007_login_state
Revises: 0006_search_index
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_login_state"
down_revision = "0006_search_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_failures",
        sa.Column("scope", sa.String(8), primary_key=True),
        sa.Column("username", sa.String(64), primary_key=True),
        sa.Column("client", sa.String(100), primary_key=True),
        sa.Column("times", sa.Text(), nullable=False),
        sa.Column("last_at", sa.Float(), nullable=False),
        sa.CheckConstraint(
            "scope IN ('pair', 'client', 'account', 'everyone')", name="ck_login_failures_scope"
        ),
    )
    op.create_index("ix_login_failures_scope_last_at", "login_failures", ["scope", "last_at"])
    op.create_index("ix_login_failures_last_at", "login_failures", ["last_at"])
    op.create_table(
        "resume_forms",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("fields", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
    )
    op.create_index("ix_resume_forms_created_at", "resume_forms", ["created_at"])
    op.create_index("ix_audit_log_username_id", "audit_log", ["username", "id"])


def downgrade() -> None:
    op.drop_index("ix_audit_log_username_id", table_name="audit_log")
    op.drop_table("resume_forms")
    op.drop_table("login_failures")
