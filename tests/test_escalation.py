"""Escalation of unclaimed alarms (eldercare.alerts.escalation): supervisors at 30 s, every operator at
60 s, review flag at 180 s; claimed incidents never escalate; every firing idempotent. The end-to-end test
has the real worker and beat fire a timer from the committed database onto a supervisor's socket."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
import socketio
import sqlalchemy as sa

from eldercare.alerts import escalation
from eldercare.alerts.escalation import TIMER_KIND, arm_escalation, flag_if_late
from eldercare.alerts.models import Incident
from eldercare.alerts.services import INCIDENT
from eldercare.core import timers
from eldercare.core.models import StateEvent, Timer, User
from eldercare.core.time import utcnow


def new_incident(session, created_at: datetime) -> Incident:
    incident = Incident(type="sos", priority=1, status="new", created_at=created_at, updated_at=created_at)
    session.add(incident)
    session.flush()
    INCIDENT.record_new(incident.id, "new", actor="device:test", reason="test alarm")
    arm_escalation(incident.id, created_at)
    return incident


def timer_of(session, incident_id: int) -> Timer:
    session.expire_all()
    return session.scalar(sa.select(Timer).where(Timer.kind == TIMER_KIND, Timer.ref_id == incident_id))


def escalations(sent: list, incident_id: int) -> list[tuple[int, str | None]]:
    return [(data["level"], room) for name, data, room in sent if name == "incident.escalated"
            and data["id"] == incident_id]


def test_levels_supervisors_then_everyone_then_review(db_session, emitted):
    t0 = utcnow()
    incident = new_incident(db_session, t0)
    timer = timer_of(db_session, incident.id)
    assert timer.due_at == t0 + timedelta(seconds=30)
    assert timers.fire(timer.id, now=t0 + timedelta(seconds=29)) is False

    assert timers.fire(timer.id, now=t0 + timedelta(seconds=30)) is True
    db_session.commit()
    db_session.refresh(incident)
    assert (incident.status, incident.escalation_level, incident.review_flag) == ("escalated", 1, False)
    assert escalations(emitted, incident.id) == [(1, "ops:supervisors")]
    event = db_session.scalars(sa.select(StateEvent).where(StateEvent.entity_type == "incident",
                                                          StateEvent.entity_id == incident.id,
                                                          StateEvent.to_state == "escalated")).one()
    assert (event.from_state, event.actor_label, event.reason) == ("new", "system:escalation", "unclaimed 30 s")
    timer = timer_of(db_session, incident.id)
    assert timer.fired_at is None and timer.due_at == t0 + timedelta(seconds=60)

    assert timers.fire(timer.id, now=t0 + timedelta(seconds=61)) is True
    db_session.commit()
    db_session.refresh(incident)
    assert (incident.status, incident.escalation_level, incident.review_flag) == ("escalated", 2, False)
    assert escalations(emitted, incident.id) == [(1, "ops:supervisors"), (2, "ops")]
    assert timer_of(db_session, incident.id).due_at == t0 + timedelta(seconds=180)

    assert timers.fire(timer.id, now=t0 + timedelta(seconds=180)) is True
    db_session.commit()
    db_session.refresh(incident)
    assert (incident.status, incident.escalation_level, incident.review_flag) == ("escalated", 2, True)
    assert timer_of(db_session, incident.id).fired_at is not None  # nothing further armed
    assert len(escalations(emitted, incident.id)) == 2
    payload = next(data for name, data, _ in emitted if name == "incident.escalated")
    assert {"id", "status", "type", "priority", "created_at", "level"} <= set(payload)


def test_handler_running_twice_does_nothing_more(db_session, emitted):
    t0 = utcnow() - timedelta(seconds=31)
    incident = new_incident(db_session, t0)
    timer = timer_of(db_session, incident.id)
    assert timers.fire(timer.id) is True
    escalation.escalate(incident.id)  # a duplicate run (the re-armed timer is not due)
    escalation.escalate(incident.id)
    assert timers.fire(timer.id) is False
    db_session.commit()
    db_session.refresh(incident)
    assert incident.escalation_level == 1
    assert escalations(emitted, incident.id) == [(1, "ops:supervisors")]
    assert db_session.scalar(sa.select(sa.func.count()).select_from(StateEvent)
                             .where(StateEvent.entity_id == incident.id, StateEvent.entity_type == "incident",
                                    StateEvent.actor_label == "system:escalation")) == 1


def test_late_sweep_jumps_to_the_level_due(db_session, emitted):
    """A worker down for three minutes: the first firing alerts everyone and flags the alarm at once."""
    t0 = utcnow()
    incident = new_incident(db_session, t0)
    db_session.execute(sa.update(Timer).where(Timer.kind == TIMER_KIND, Timer.ref_id == incident.id)
                       .values(due_at=t0 + timedelta(seconds=190)))
    assert timers.fire(timer_of(db_session, incident.id).id, now=t0 + timedelta(seconds=200)) is True
    db_session.commit()
    db_session.refresh(incident)
    assert (incident.status, incident.escalation_level, incident.review_flag) == ("escalated", 2, True)
    assert escalations(emitted, incident.id) == [(2, "ops")]


def test_claimed_incident_does_not_escalate(db_session, emitted):
    t0 = utcnow()
    incident = new_incident(db_session, t0)
    operator = db_session.scalar(sa.select(User).where(User.username == "operator1"))
    INCIDENT.transition(incident, "claimed", actor=operator, values={"claimed_by_id": operator.id,
                                                                     "claimed_at": t0 + timedelta(seconds=10)})
    timer = timer_of(db_session, incident.id)
    assert timers.fire(timer.id, now=t0 + timedelta(seconds=30)) is True
    db_session.commit()
    db_session.refresh(incident)
    assert (incident.status, incident.escalation_level, incident.review_flag) == ("claimed", 0, False)
    assert escalations(emitted, incident.id) == []
    assert timer_of(db_session, incident.id).fired_at is not None  # not re-armed


def test_escalated_incident_claimed_before_level_two_stops(db_session, emitted):
    t0 = utcnow()
    incident = new_incident(db_session, t0)
    assert timers.fire(timer_of(db_session, incident.id).id, now=t0 + timedelta(seconds=31)) is True
    operator = db_session.scalar(sa.select(User).where(User.username == "operator1"))
    INCIDENT.transition(incident, "claimed", actor=operator, values={"claimed_by_id": operator.id,
                                                                     "claimed_at": t0 + timedelta(seconds=40)})
    assert timers.fire(timer_of(db_session, incident.id).id, now=t0 + timedelta(seconds=61)) is True
    db_session.commit()
    db_session.refresh(incident)
    assert (incident.status, incident.escalation_level) == ("claimed", 1)
    assert escalations(emitted, incident.id) == [(1, "ops:supervisors")]


def test_flag_if_late(db_session, emitted):
    t0 = utcnow() - timedelta(seconds=400)
    on_time = new_incident(db_session, t0)
    late = new_incident(db_session, t0)
    on_time.claimed_at = t0 + timedelta(seconds=180)
    late.claimed_at = t0 + timedelta(seconds=181)
    db_session.flush()
    assert flag_if_late(on_time) is False
    assert flag_if_late(late) is True
    assert flag_if_late(late) is False  # already flagged
    assert (on_time.review_flag, late.review_flag) == (False, True)


@pytest.mark.e2e
def test_worker_escalates_to_supervisor_socket(live_server, celery_worker, migrated_db):
    """The real worker and beat: a timer armed in the committed database, due in a second, reaches a
    supervisor's console as `incident.escalated` and raises the incident's level (defaults 30/60/180 s)."""
    engine = sa.create_engine(migrated_db)
    incident_id = None
    try:
        created = datetime.now(UTC) - timedelta(seconds=35)  # unclaimed for 35 s: level 1 is due
        with engine.begin() as conn:
            incident_id = conn.execute(sa.text(
                "INSERT INTO incidents (type, priority, status, event_count, escalation_level, follow_up,"
                " review_flag, created_at, updated_at) VALUES ('sos', 1, 'new', 1, 0, false, false, :c, :c)"
                " RETURNING id"), {"c": created}).scalar_one()
        client = socketio.SimpleClient()
        client.connect(live_server.url, namespace="/ops", auth={"token": live_server.token("supervisor1")},
                       transports=["websocket"])
        try:
            due = datetime.now(UTC) + timedelta(seconds=1)
            with engine.begin() as conn:
                conn.execute(sa.text("INSERT INTO timers (kind, ref_id, due_at, attempts, created_at)"
                                     " VALUES (:k, :r, :due, 0, now())"),
                             {"k": TIMER_KIND, "r": incident_id, "due": due})
            payload = None
            deadline = time.monotonic() + 15
            while payload is None and time.monotonic() < deadline:
                event, data = client.receive(timeout=deadline - time.monotonic())
                if event == "incident.escalated" and data["id"] == incident_id:
                    payload = data
            delay = (datetime.now(UTC) - due).total_seconds()
        finally:
            client.disconnect()
        assert payload is not None and payload["level"] == 1 and payload["status"] == "escalated"
        assert delay < 6, f"incident.escalated {delay:.1f}s after the timer was due"
        with engine.connect() as conn:
            level, status, due_next = conn.execute(sa.text(
                "SELECT i.escalation_level, i.status, t.due_at FROM incidents i JOIN timers t"
                " ON t.kind = :k AND t.ref_id = i.id WHERE i.id = :i"), {"k": TIMER_KIND, "i": incident_id}).one()
        assert (level, status) == (1, "escalated")
        assert due_next == created + timedelta(seconds=60)
    finally:
        if incident_id is not None:
            with engine.begin() as conn:  # leave no open alarm behind for other end-to-end tests
                conn.execute(sa.text("UPDATE incidents SET status = 'cancelled' WHERE id = :i"), {"i": incident_id})
                conn.execute(sa.text("DELETE FROM timers WHERE kind = :k AND ref_id = :i"),
                             {"k": TIMER_KIND, "i": incident_id})
        engine.dispose()
