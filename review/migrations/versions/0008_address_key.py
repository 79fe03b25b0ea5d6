"""Cases: the parties' registered addresses (from the company registry, via scoring) and the
normalised address that links related cases ("same registered address"), with its index.
Cases stored before have no address on file: their key stays NULL until scoring refreshes them.

Revision ID: 0008_address_key
Revises: 0007_login_state
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_address_key"
down_revision = "0007_login_state"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("cases", sa.Column("exporter_address", sa.Text(), nullable=False, server_default=""))
    op.add_column("cases", sa.Column("consignee_address", sa.Text(), nullable=False, server_default=""))
    op.add_column("cases", sa.Column("address_key", sa.String(128), nullable=True))
    op.create_index("ix_cases_address_key", "cases", ["address_key"])


def downgrade() -> None:
    op.drop_index("ix_cases_address_key", table_name="cases")
    with op.batch_alter_table("cases", recreate="auto") as batch:
        batch.drop_column("address_key")
        batch.drop_column("consignee_address")
        batch.drop_column("exporter_address")
