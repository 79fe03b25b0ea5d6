"""Audit log: a wider ``field`` column, so any username fits in "user:NAME.password".

Revision ID: 0002_audit_field_width
Revises: 0001_initial
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_audit_field_width"
down_revision = "0001_initial"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:  # SQLite rebuilds the table; PostgreSQL alters it
        batch.alter_column(
            "field", existing_type=sa.String(64), type_=sa.String(128), existing_nullable=False
        )


def downgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.alter_column(
            "field", existing_type=sa.String(128), type_=sa.String(64), existing_nullable=False
        )
