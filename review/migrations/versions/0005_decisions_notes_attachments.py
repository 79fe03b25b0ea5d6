"""Decisions that stay decided, case notes, attachments, saved filters, search keys.

- cases: status 'unconfirmed' (a violation waiting for a supervisor's confirmation),
  confirmed_by / confirmed_at; search_text and the party keys of related cases (filled here
  for the cases already stored); reasons_json / ownership_json for structured reasons and
  ownership steps from scoring (NULL: the text columns are read as before).
- case_notes: a thread per case, every note kept with its author and time.
- case_attachments: files kept outside the web root, described here.
- saved_filters: a user's named queue filters.

Revision ID: 0005_decisions_notes
Revises: 0004_typology_lists
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from review.keys import case_keys

revision = "0005_decisions_notes"
down_revision = "0004_typology_lists"
branch_labels = None
depends_on = None

OLD_STATUS = "status IN ('open', 'in_review', 'closed', 'held')"
NEW_STATUS = "status IN ('open', 'in_review', 'unconfirmed', 'closed', 'held')"
BATCH = 2_000


def _status_check(condition: str) -> None:
    with op.batch_alter_table("cases", recreate="auto") as batch:
        batch.drop_constraint("ck_cases_status", type_="check")
        batch.create_check_constraint("ck_cases_status", condition)


def upgrade() -> None:
    with op.batch_alter_table("cases", recreate="auto") as batch:
        batch.add_column(sa.Column("confirmed_by", sa.String(64), nullable=True))
        batch.add_column(sa.Column("confirmed_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("reasons_json", sa.Text(), nullable=True))
        batch.add_column(sa.Column("ownership_json", sa.Text(), nullable=True))
        batch.add_column(sa.Column("search_text", sa.Text(), nullable=False, server_default=""))
        batch.add_column(sa.Column("exporter_key", sa.String(128), nullable=True))
        batch.add_column(sa.Column("consignee_key", sa.String(128), nullable=True))
        batch.add_column(sa.Column("license_key", sa.String(128), nullable=True))
        batch.drop_constraint("ck_cases_status", type_="check")
        batch.create_check_constraint("ck_cases_status", NEW_STATUS)
    op.create_index("ix_cases_exporter_key", "cases", ["exporter_key"])
    op.create_index("ix_cases_consignee_key", "cases", ["consignee_key"])
    op.create_index("ix_cases_license_key", "cases", ["license_key"])
    _fill_keys()
    op.create_table(
        "case_notes",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("declaration_id", sa.String(128), sa.ForeignKey("cases.declaration_id"), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
    )
    op.create_index("ix_case_notes_declaration_id", "case_notes", ["declaration_id"])
    op.create_table(
        "case_attachments",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("declaration_id", sa.String(128), sa.ForeignKey("cases.declaration_id"), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("content_type", sa.String(64), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("stored_name", sa.String(80), nullable=False, unique=True),
    )
    op.create_index("ix_case_attachments_declaration_id", "case_attachments", ["declaration_id"])
    op.create_table(
        "saved_filters",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("username", sa.String(64), sa.ForeignKey("users.username"), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("query", sa.String(1000), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.UniqueConstraint("username", "name", name="uq_saved_filters_username_name"),
    )


def _fill_keys() -> None:
    bind = op.get_bind()
    last = ""
    update = sa.text(
        "UPDATE cases SET search_text = :search_text, exporter_key = :exporter_key, "
        "consignee_key = :consignee_key, license_key = :license_key WHERE declaration_id = :id"
    )
    while True:
        rows = bind.execute(
            sa.text(
                "SELECT declaration_id, declaration, route FROM cases WHERE declaration_id > :last "
                "ORDER BY declaration_id LIMIT :n"
            ),
            {"last": last, "n": BATCH},
        ).all()
        if not rows:
            return
        bind.execute(update, [{"id": r[0], **case_keys(r[0], r[1], r[2])} for r in rows])
        last = rows[-1][0]


def downgrade() -> None:
    bind = op.get_bind()
    op.drop_table("saved_filters")
    op.drop_table("case_attachments")
    op.drop_table("case_notes")
    bind.execute(sa.text("UPDATE cases SET status = 'closed' WHERE status = 'unconfirmed'"))
    for name in ("ix_cases_exporter_key", "ix_cases_consignee_key", "ix_cases_license_key"):
        op.drop_index(name, table_name="cases")
    with op.batch_alter_table("cases", recreate="auto") as batch:
        batch.drop_constraint("ck_cases_status", type_="check")
        batch.create_check_constraint("ck_cases_status", OLD_STATUS)
        for column in (
            "confirmed_by",
            "confirmed_at",
            "reasons_json",
            "ownership_json",
            "search_text",
            "exporter_key",
            "consignee_key",
            "license_key",
        ):
            batch.drop_column(column)
