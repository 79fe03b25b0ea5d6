"""Engines and migrations: SQLite (WAL, busy timeout) by default, PostgreSQL by URL."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000


def sqlite_file(database_url: str) -> Path | None:
    """The database file of a SQLite URL (None for other databases or in-memory SQLite)."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    return Path(url.database)


def secret_file_beside(database_url: str) -> Path | None:
    """Where a generated session secret is kept for a SQLite file: beside it (else None)."""
    db = sqlite_file(database_url)
    return db.with_name(db.name + ".review-secret") if db else None


def make_engine(database_url: str) -> Engine:
    """Create an engine; SQLite files get WAL, a busy timeout and BEGIN IMMEDIATE for writes."""
    url = make_url(database_url)
    backend = url.get_backend_name()
    if backend == "postgresql":
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    if backend != "sqlite":
        raise ValueError(f"unsupported database {backend!r}: use sqlite:///FILE or postgresql://...")
    path = sqlite_file(database_url)
    if path is None:
        raise ValueError("an in-memory SQLite database cannot be shared: give sqlite:///FILE")
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():  # it holds password hashes: readable by its owner only
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    engine = create_engine(
        url,
        pool_size=10,
        max_overflow=40,
        pool_timeout=60,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
    )
    event.listen(engine, "connect", _sqlite_on_connect)
    event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _sqlite_on_connect(dbapi_connection, _record) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy's begin event emits BEGIN itself
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    _switch_to_wal(cursor)
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _switch_to_wal(cursor) -> None:
    """``PRAGMA journal_mode=WAL``, waiting while another connection holds the file.

    Two processes opening a brand-new file at once: the switch answers "database is locked"
    at once instead of calling the busy handler, so it is retried here up to the busy timeout.
    """
    import sqlite3
    import time

    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _sqlite_on_begin(conn: Connection) -> None:
    immediate = conn.get_execution_options().get("write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


_WRITE_LOCKS: WeakKeyDictionary[Engine, threading.Lock] = WeakKeyDictionary()
_WRITE_LOCKS_GUARD = threading.Lock()


def _write_lock(engine: Engine) -> threading.Lock | None:
    """One lock per SQLite engine: this process's writers wait in line, not in a busy loop."""
    if engine.dialect.name != "sqlite":
        return None
    with _WRITE_LOCKS_GUARD:
        return _WRITE_LOCKS.setdefault(engine, threading.Lock())


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that takes SQLite's write lock up front, so writers queue, never deadlock.

    Within a process, SQLite writers also wait on a Python lock: SQLite's own busy handler
    sleeps and retries, which lets an unlucky writer starve under a steady stream of writes.
    """
    lock = _write_lock(engine)
    with lock if lock is not None else nullcontext(), engine.connect() as conn:
        conn.execution_options(write=True)
        with conn.begin():
            yield conn


def _head_revision() -> str | None:
    """The newest migration's id, read from the migration files' ``revision`` / ``down_revision``
    lines (the one no other migration builds on); None if that cannot be told."""
    import re

    pattern = re.compile(r'^(down_revision|revision)\s*=\s*["\']?([^"\'\s]+)["\']?', re.M)
    revisions, parents = set(), set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        found = dict(pattern.findall(path.read_text()))
        if "revision" in found:
            revisions.add(found["revision"])
            parents.add(found.get("down_revision"))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None for a new or unversioned database)."""
    from sqlalchemy import inspect, text

    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        rows = conn.execute(text("SELECT version_num FROM alembic_version")).fetchall()
    return rows[0][0] if len(rows) == 1 else None


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (creates it on an empty database). A database
    already at the newest one is left alone without loading Alembic (every scoring run opens
    the store: Alembic's start-up costs more than the day's cases)."""
    head = _head_revision()
    if head is not None and _current_revision(engine) == head:
        return
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with write_transaction(engine) as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
