"""The intake's committer keeps its own database connection (no ping per batch); if that connection dies
(a database restart), the batch in hand is retried on a new one: the device still gets its answer, and the
event is stored once. Runs on the real engine, not the tests' one-connection harness."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from eldercare.core.time import utcnow
from eldercare.devices.intake import Inbound, intake_for
from eldercare.extensions import db


def heard(device_id: int, key: str) -> Inbound:
    return Inbound(device_id=device_id, protocol="dc09", idempotency_key=key, type="test", received_at=utcnow(),
                   occurred_at=datetime.now(UTC))


def test_a_killed_committer_connection_loses_no_event(app, migrated_db):
    with app.app_context():  # the real engine (not the one-connection harness): the committer keeps its own
        assert isinstance(db.engine, sa.Engine) and db.engine.dialect.name == "postgresql"
    engine = sa.create_engine(migrated_db)
    intake = intake_for(app)
    with engine.connect() as conn:
        device_id = conn.execute(sa.text("SELECT max(id) FROM devices WHERE protocol = 'dc09'")).scalar()
    try:
        stored_through_a_killed_connection(intake, engine, device_id)
    finally:  # committed for real: other tests share this database and this device
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM device_events WHERE device_id = :d AND idempotency_key LIKE 'conn-%'"),
                         {"d": device_id})
        engine.dispose()


def stored_through_a_killed_connection(intake, engine, device_id: int) -> None:
    first = intake.store_sync(heard(device_id, "conn-1"))
    assert first.event_id is not None and intake.batcher.backend_pids
    with engine.begin() as conn:  # the committer's server process goes away, as in a database restart
        killed = conn.execute(sa.text("SELECT pg_terminate_backend(pid) FROM unnest(CAST(:pids AS int[])) pid"),
                              {"pids": sorted(intake.batcher.backend_pids)}).scalars().all()
    assert killed and all(killed)
    second = intake.store_sync(heard(device_id, "conn-2"))
    again = intake.store_sync(heard(device_id, "conn-2"))
    assert second.event_id is not None and again.duplicate and again.event_id == second.event_id
    with engine.connect() as conn:
        keys = conn.execute(sa.text("SELECT idempotency_key FROM device_events WHERE device_id = :d"
                                    " AND idempotency_key LIKE 'conn-%' ORDER BY id"), {"d": device_id}).scalars()
        assert list(keys) == ["conn-1", "conn-2"]
