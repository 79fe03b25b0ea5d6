"""Initial case store: users, cases, audit log, web sessions.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("username", sa.String(64), primary_key=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("role IN ('investigator', 'supervisor', 'admin')", name="ck_users_role"),
    )
    op.create_table(
        "cases",
        sa.Column("declaration_id", sa.String(128), primary_key=True),
        sa.Column("manifest_day", sa.Date(), nullable=False),
        sa.Column("declared_at", sa.DateTime(), nullable=True),
        sa.Column("channel", sa.String(8), nullable=False),
        sa.Column("risk_score", sa.Float(), nullable=False),
        sa.Column("selected_by", sa.String(16), nullable=False),
        sa.Column("rule_hits", sa.Text(), nullable=False),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("declaration", sa.Text(), nullable=False),
        sa.Column("route", sa.Text(), nullable=False),
        sa.Column("ownership_path", sa.Text(), nullable=False),
        sa.Column("exporter_history", sa.Text(), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("typology_hint", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("assignee", sa.String(64), sa.ForeignKey("users.username"), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("typology", sa.String(32), nullable=True),
        sa.Column("seized_value_usd", sa.Float(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("decided_by", sa.String(64), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("channel IN ('red', 'yellow')", name="ck_cases_channel"),
        sa.CheckConstraint("status IN ('open', 'in_review', 'closed')", name="ck_cases_status"),
        sa.CheckConstraint(
            "outcome IS NULL OR outcome IN ('violation', 'clear', 'not_inspected')", name="ck_cases_outcome"
        ),
        sa.CheckConstraint("seized_value_usd IS NULL OR seized_value_usd >= 0", name="ck_cases_seized_value"),
    )
    queue = ["channel", "status", "assignee", "typology", "typology_hint", "declaration_id"]
    op.create_index("ix_cases_queue", "cases", ["risk_score", *queue])
    op.create_index("ix_cases_day_queue", "cases", ["manifest_day", "risk_score", *queue])
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("declaration_id", sa.String(128), nullable=True),
        sa.Column("field", sa.String(64), nullable=False),
        sa.Column("before", sa.Text(), nullable=True),
        sa.Column("after", sa.Text(), nullable=True),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at"])
    op.create_index("ix_audit_log_declaration_id", "audit_log", ["declaration_id"])
    op.create_index("ix_audit_log_username", "audit_log", ["username"])
    op.create_table(
        "web_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("username", sa.String(64), sa.ForeignKey("users.username"), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_web_sessions_username", "web_sessions", ["username"])


def downgrade() -> None:
    op.drop_table("web_sessions")
    op.drop_table("audit_log")
    op.drop_table("cases")
    op.drop_table("users")
