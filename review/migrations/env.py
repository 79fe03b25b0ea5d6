"""Alembic environment: always given a live connection by ``review.db.migrate``."""

from __future__ import annotations

from alembic import context

from review.schema import Base

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through review.db.migrate (open_store does it)")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
