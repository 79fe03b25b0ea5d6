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
    from alembic.script import ScriptDirectory

    assert version == ScriptDirectory.from_config(cfg).get_current_head()  # the newest migration
    assert fields[0] == "outcome"  # the old entry is still there
    assert f"user:{name}.password" in fields
    store.close()


def test_a_store_of_the_second_schema_takes_held_cases_and_keeps_its_cases(empty_database_url: str):
    import pandas as pd
    import pytest
    from alembic import command
    from alembic.config import Config
    from sqlalchemy.exc import IntegrityError

    from models.scoring import held_for_correction
    from review.db import MIGRATIONS_DIR, make_engine, write_transaction
    from review.demo import demo_cases
    from review.store import open_store, prepare_cases

    engine = make_engine(empty_database_url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with write_transaction(engine) as conn:  # a store as the second release left it, with a case
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0002_audit_field_width")
        case = prepare_cases(demo_cases(1, seed=2)).iloc[0].to_dict()
        conn.execute(
            text(
                "INSERT INTO cases (declaration_id, manifest_day, channel, risk_score, selected_by, "
                "rule_hits, reasons, declaration, route, ownership_path, exporter_history, model_version, "
                "typology_hint, status, note, version, created_at, updated_at) "
                "VALUES (:id, '2026-11-23', 'red', 0.9, 'model', '', '[]', '{}', '', '[]', '[]', '3', '', "
                "'open', '', 1, '2026-11-23 07:00:00', "
                "'2026-11-23 07:00:00')"
            ),
            {"id": case["declaration_id"]},
        )
    engine.dispose()

    store = open_store(empty_database_url)
    quarantine = pd.DataFrame({"row_number": [4], "declaration_id": ["H-9"], "problems": ["hs_code missing"]})
    held = held_for_correction(quarantine, pd.Series([], dtype=str), "2026-11-24")
    assert store.upsert_cases(held.cases)["inserted"] == 1
    assert store.get_case("H-9").channel == "held"
    assert store.get_case(case["declaration_id"]).channel == "red"  # the old case is still there
    with store.engine.begin() as conn, pytest.raises(IntegrityError):  # the constraint still holds
        conn.execute(text("UPDATE cases SET channel = 'green' WHERE declaration_id = 'H-9'"))
    store.close()


def test_an_up_to_date_store_is_left_alone_and_the_newest_migration_is_alembics(
    empty_database_url: str, monkeypatch
):
    from alembic import command
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from review.db import MIGRATIONS_DIR, _head_revision, make_engine, migrate

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert _head_revision() == ScriptDirectory.from_config(cfg).get_current_head()
    engine = make_engine(empty_database_url)
    migrate(engine)  # a new store: created by Alembic

    def no_alembic(*_args, **_kw):
        raise AssertionError("an up-to-date store must not run Alembic")

    monkeypatch.setattr(command, "upgrade", no_alembic)
    migrate(engine)  # already at the newest migration: nothing to do
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == _head_revision()
    engine.dispose()


def test_a_store_of_the_seventh_schema_gains_the_address_key_and_keeps_its_cases(empty_database_url: str):
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import inspect

    from review.db import MIGRATIONS_DIR, make_engine, write_transaction
    from review.store import open_store
    from tests.review.test_related_by_address import SAME_1, address_cases

    engine = make_engine(empty_database_url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with write_transaction(engine) as conn:  # a store as 0007 left it, with a case
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0007_login_state")
        conn.execute(
            text(
                "INSERT INTO cases (declaration_id, manifest_day, channel, risk_score, selected_by, "
                "rule_hits, reasons, declaration, route, ownership_path, exporter_history, model_version, "
                "typology_hint, status, note, version, created_at, updated_at, exporter_key) "
                "VALUES ('A000000', '2026-11-23', 'red', 0.9, 'model', '', '[]', '{}', '', '[]', '[]', '3', "
                "'', 'open', '', 1, '2026-11-23 07:00:00', '2026-11-23 07:00:00', 'VN-X0')"
            )
        )
    engine.dispose()

    store = open_store(empty_database_url)
    try:
        with store.engine.connect() as conn:
            columns = {c["name"] for c in inspect(conn).get_columns("cases")}
            indexes = {i["name"] for i in inspect(conn).get_indexes("cases")}
        assert {"address_key", "exporter_address", "consignee_address"} <= columns
        assert "ix_cases_address_key" in indexes
        old = store.get_case("A000000")  # kept; no address on file yet
        assert old.exporter_key == "VN-X0" and old.address_key is None and old.exporter_address == ""

        store.add_user("sam", "supervisor", "a long enough password", actor="test")
        store.upsert_cases(address_cases())  # scoring refreshes the old case and adds two
        assert store.get_case("A000000").exporter_address == SAME_1
        pairs = store.related_cases(store.get_case("A000000"), store.get_account("sam"))
        assert [(link, row.declaration_id) for link, row in pairs] == [("address", "A000001")]
    finally:
        store.close()
