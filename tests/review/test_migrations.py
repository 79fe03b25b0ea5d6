"""A case store made by the first schema version is brought up to date in place, its data kept,
on both backends."""

from __future__ import annotations

from sqlalchemy import text


def test_a_store_of_the_first_schema_is_upgraded_with_its_audit_log_kept(empty_database_url: str):
    from alembic import command
    from alembic.config import Config

    from review.db import MIGRATIONS_DIR, make_engine, write_transaction
    from review.store import open_store

    engine = make_engine(empty_database_url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with write_transaction(engine) as conn:  # a store as the first release left it
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001_initial")
        conn.execute(
            text(
                "INSERT INTO audit_log (at, username, declaration_id, field, before, after) "
                "VALUES ('2026-11-01 08:00:00', 'ada', 'DCL1', 'outcome', NULL, 'violation')"
            )
        )
    engine.dispose()

    store = open_store(empty_database_url)  # migrates to the newest schema
    name = "u" * 64  # the longest username: "user:NAME.password" needs the wider audit column
    store.add_user("ada", "admin", "a long enough password", actor="test")
    store.add_user(name, "admin", "a long enough password", actor="test")
    store.update_user(name, actor="ada", password="another long password")
    with store.engine.connect() as conn:
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        fields = [r[0] for r in conn.execute(text("SELECT field FROM audit_log ORDER BY id"))]
    assert version == "0002_audit_field_width"
    assert fields[0] == "outcome"  # the old entry is still there
    assert f"user:{name}.password" in fields
    store.close()
