"""Several processes or threads opening a brand-new SQLite case store at the same moment
(scoring and the review app starting together) all get in: none sees "database is locked"."""

from __future__ import annotations

import threading

from sqlalchemy import text


def test_concurrent_first_connections_to_a_new_file_all_succeed(tmp_path):
    from review.db import make_engine

    errors: list[Exception] = []
    for i in range(25):  # the race is rare per file: before the fix, about 1 file in 13 failed
        url = f"sqlite:///{tmp_path / f'cases_{i}.db'}"

        def connect() -> None:
            engine = make_engine(url)  # noqa: B023 - each thread of this round uses this round's file
            try:
                with engine.connect() as conn:
                    conn.execute(text("select 1"))
            except Exception as err:  # collected and asserted below
                errors.append(err)
            finally:
                engine.dispose()

        threads = [threading.Thread(target=connect) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
    engine = make_engine(f"sqlite:///{tmp_path / 'cases_0.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    engine.dispose()
