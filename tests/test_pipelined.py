"""`core.sql.pipelined` / `queued`: writes nobody reads don't wait for the server, and nothing else changes —
reads see them, row counts are right, and an error in one fails the transaction at the next wait."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from eldercare.core.sql import pipelined, queued


@pytest.fixture
def conn(migrated_db) -> Iterator[sa.Connection]:
    engine = sa.create_engine(migrated_db)
    with engine.begin() as setup:
        setup.execute(sa.text("DROP TABLE IF EXISTS pipe"))
        setup.execute(sa.text("CREATE TABLE pipe (id int PRIMARY KEY, v int NOT NULL)"))
        setup.execute(sa.text("INSERT INTO pipe SELECT g, 0 FROM generate_series(1, 5) g"))
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        with engine.begin() as teardown:
            teardown.execute(sa.text("DROP TABLE pipe"))
        engine.dispose()


def values(conn: sa.Connection) -> list[int]:
    return list(conn.execute(sa.text("SELECT v FROM pipe ORDER BY id")).scalars())


def test_queued_writes_are_seen_by_the_next_read_and_committed(conn):
    bump = queued(sa.text("UPDATE pipe SET v = v + :n WHERE id = :id"))
    with pipelined(conn):
        conn.execute(bump, [{"n": 1, "id": 1}, {"n": 2, "id": 2}])  # executemany rides the pipeline
        conn.execute(bump, {"n": 5, "id": 3})
        assert values(conn) == [1, 2, 5, 0, 0]  # a read waits, and sees what was queued before it
        assert conn.execute(sa.text("UPDATE pipe SET v = 9 WHERE id > 3")).rowcount == 2  # waits: a real count
        conn.execute(queued(sa.text("UPDATE pipe SET v = 7 WHERE id = 1")))
        conn.commit()
    assert values(conn) == [7, 2, 5, 9, 9]


def write_then_fail(conn: sa.Connection) -> None:
    with pipelined(conn):
        conn.execute(queued(sa.text("UPDATE pipe SET v = 1 WHERE id = 1")))
        conn.execute(queued(sa.text("UPDATE pipe SET v = 1 / 0 WHERE id = 2")))  # sent, not waited for
        conn.commit()


def test_a_failing_queued_write_fails_the_transaction_at_the_commit(conn):
    with pytest.raises(sa.exc.DBAPIError, match="division by zero"):
        write_then_fail(conn)
    conn.invalidate()  # as the intake does with a connection whose batch failed
    conn.rollback()
    assert values(conn) == [0, 0, 0, 0, 0]  # neither write stayed (read on a new connection)


def test_outside_a_pipeline_queued_changes_nothing(conn):
    conn.execute(queued(sa.text("UPDATE pipe SET v = 3 WHERE id = 1")))
    assert values(conn) == [3, 0, 0, 0, 0]
