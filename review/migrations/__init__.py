"""Alembic migrations of the case store; run programmatically by ``review.db.migrate``."""
