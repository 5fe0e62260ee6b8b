"""`core.sql.insert_rows`: many rows in one constant statement (a JSON recordset on PostgreSQL), with the
columns' own checks — a string too long for its column is refused as by a plain INSERT, never cut."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from eldercare.core.models import StateEvent, Timer
from eldercare.core.sql import insert_rows, rows_parameters

AT = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
COLUMNS = ("kind", "ref_id", "due_at", "attempts")


def test_rows_of_every_type_arrive_as_given(db_session):
    rows = [{"kind": "test.rows", "ref_id": n, "due_at": AT + timedelta(seconds=n), "attempts": n} for n in range(3)]
    db_session.connection().execute(insert_rows(Timer.__table__, COLUMNS), rows_parameters(COLUMNS, rows))
    stored = db_session.execute(sa.select(Timer.ref_id, Timer.due_at, Timer.attempts)
                                .where(Timer.kind == "test.rows").order_by(Timer.ref_id)).all()
    assert [tuple(r) for r in stored] == [(n, AT + timedelta(seconds=n), n) for n in range(3)]

    columns = ("entity_type", "entity_id", "from_state", "to_state", "at", "reason", "data", "actor_id",
               "actor_label")
    birth = {"entity_type": "incident", "entity_id": 987654, "from_state": None, "to_state": "new", "at": AT,
             "reason": "老人按了求助键", "data": {"zone": "卧室", "n": 2}, "actor_id": None, "actor_label": "device:1"}
    db_session.connection().execute(insert_rows(StateEvent.__table__, columns), rows_parameters(columns, [birth]))
    row = db_session.scalars(sa.select(StateEvent).where(StateEvent.entity_id == 987654)).one()
    assert (row.reason, row.data, row.at, row.from_state) == ("老人按了求助键", {"zone": "卧室", "n": 2}, AT, None)


def test_a_string_too_long_for_its_column_is_refused_not_cut(db_session):
    row = {"kind": "k" * 49, "ref_id": 1, "due_at": AT, "attempts": 0}  # kind is VARCHAR(48)
    with pytest.raises(sa.exc.DataError, match="too long"), db_session.begin_nested():
        db_session.connection().execute(insert_rows(Timer.__table__, COLUMNS), rows_parameters(COLUMNS, [row]))


def test_a_naive_datetime_is_refused_before_anything_is_sent(db_session):
    with pytest.raises(ValueError, match="naive"):
        rows_parameters(COLUMNS, [{"kind": "test.naive", "ref_id": 1, "due_at": datetime(2026, 1, 1), "attempts": 0}])
