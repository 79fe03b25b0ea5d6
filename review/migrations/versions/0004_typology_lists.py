"""Cases: typology and typology hint hold a ';'-separated list (one case often shows several).

Revision ID: 0004_typology_lists
Revises: 0003_held_for_correction
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_typology_lists"
down_revision = "0003_held_for_correction"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:  # SQLite rebuilds the table; PostgreSQL alters it
        batch.alter_column(
            "typology", existing_type=sa.String(32), type_=sa.String(160), existing_nullable=True
        )
        batch.alter_column(
            "typology_hint", existing_type=sa.String(32), type_=sa.String(160), existing_nullable=False
        )


def downgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.alter_column(
            "typology", existing_type=sa.String(160), type_=sa.String(32), existing_nullable=True
        )
        batch.alter_column(
            "typology_hint", existing_type=sa.String(160), type_=sa.String(32), existing_nullable=False
        )
