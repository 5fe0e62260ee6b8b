"""Guarded transitions (eldercare.core.states) on the incident machine, and append-only history."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from eldercare.alerts.models import Incident
from eldercare.alerts.services import INCIDENT
from eldercare.core import audit
from eldercare.core.audit import AppendOnlyError
from eldercare.core.models import AuditEvent, StateEvent, User
from eldercare.core.states import TransitionConflict, history
from eldercare.extensions import db


def new_incident(session) -> Incident:
    incident = Incident(household_id=session.scalar(sa.select(sa.func.min(Incident.household_id))), type="sos",
                        priority=1)
    session.add(incident)
    session.flush()
    return incident


def user(session, username: str) -> User:
    return session.scalar(sa.select(User).where(User.username == username))


def events_of(session, incident_id: int) -> list[tuple]:
    return [tuple(row) for row in session.execute(
        sa.select(StateEvent.from_state, StateEvent.to_state, StateEvent.actor_label)
        .where(StateEvent.entity_type == "incident", StateEvent.entity_id == incident_id).order_by(StateEvent.id)
    )]


# --- one transaction ------------------------------------------------------------------------------

def test_allowed_transition_updates_the_row_and_writes_its_event(db_session):
    operator = user(db_session, "operator1")
    incident = new_incident(db_session)
    INCIDENT.record_new(incident.id, "new", actor="device:1", reason="sos pressed")

    left = INCIDENT.transition(incident, "claimed", actor=operator, reason="taking it",
                               values={"claimed_by_id": operator.id}, data={"console": "ops"})

    assert left == "new"
    assert incident.status == "claimed" and incident.claimed_by_id == operator.id  # refreshed from the row
    assert db_session.scalar(sa.select(Incident.status).where(Incident.id == incident.id)) == "claimed"
    birth, claim = history("incident", incident.id)
    assert (birth.from_state, birth.to_state, birth.actor_id, birth.actor_label) == (None, "new", None, "device:1")
    assert (claim.from_state, claim.to_state) == ("new", "claimed")
    assert (claim.actor_id, claim.actor_label, claim.reason) == (operator.id, "operator1", "taking it")
    assert claim.data == {"console": "ops"}
    assert claim.at is not None and claim.at.tzinfo is not None


def test_system_actor_is_recorded_by_label(db_session):
    incident = new_incident(db_session)
    INCIDENT.transition(incident, "escalated", actor="system:escalation", reason="unanswered for 60 s")
    [event] = history("incident", incident.id)
    assert (event.actor_id, event.actor_label, event.reason) == (None, "system:escalation", "unanswered for 60 s")


@pytest.mark.parametrize(("path", "wanted"), [
    ((), "closed"),  # new → closed skips resolution
    ((), "in_progress"),
    (("resolved",), "claimed"),
    (("resolved", "closed"), "new"),  # closed is final
    (("cancelled",), "claimed"),
])
def test_disallowed_transition_is_a_409_and_changes_nothing(db_session, path, wanted):
    incident = new_incident(db_session)
    for state in path:
        INCIDENT.transition(incident, state, actor="test")
    before = events_of(db_session, incident.id)

    with pytest.raises(TransitionConflict) as caught:
        INCIDENT.transition(incident, wanted, actor="test")

    current = path[-1] if path else "new"
    assert (caught.value.status, caught.value.code) == (409, "conflict")
    assert caught.value.current == current and caught.value.fields == {"status": current}
    assert db_session.scalar(sa.select(Incident.status).where(Incident.id == incident.id)) == current
    assert events_of(db_session, incident.id) == before


def test_transition_decides_on_the_row_not_on_a_stale_object(db_session):
    incident = new_incident(db_session)
    db_session.execute(sa.update(Incident).where(Incident.id == incident.id).values(status="resolved")
                       .execution_options(synchronize_session=False))
    assert incident.status == "new"  # stale in memory
    with pytest.raises(TransitionConflict) as caught:
        INCIDENT.transition(incident, "claimed", actor="test")
    assert caught.value.current == "resolved"


def test_transition_of_a_missing_row_is_a_conflict(db_session):
    ghost = Incident(id=2_000_000_000, type="sos", priority=1)
    with pytest.raises(TransitionConflict) as caught:
        INCIDENT.transition(ghost, "claimed", actor="test")
    assert caught.value.current is None and "gone" in caught.value.message


# --- append-only history ----------------------------------------------------------------------------

def state_event(session) -> StateEvent:
    incident = new_incident(session)
    INCIDENT.transition(incident, "claimed", actor="test")
    return history("incident", incident.id)[0]


def audit_event(session) -> AuditEvent:
    entry = audit.record("test.append_only", actor_label="test", detail_key="v")
    session.flush()
    return entry


@pytest.mark.parametrize("make", [state_event, audit_event], ids=["StateEvent", "AuditEvent"])
@pytest.mark.parametrize("change", ["update", "delete"])
def test_history_rows_cannot_be_rewritten(db_session, make, change):
    row = make(db_session)
    if change == "update":
        if isinstance(row, StateEvent):
            row.reason = "rewritten"
        else:
            row.action = "rewritten"
    else:
        db_session.delete(row)
    with pytest.raises(AppendOnlyError):
        db_session.flush()
    db_session.rollback()


def test_appending_more_history_is_allowed(db_session):
    row = state_event(db_session)
    audit.record("test.append", actor_label="test")
    db_session.add(StateEvent(entity_type="incident", entity_id=row.entity_id, from_state="claimed",
                              to_state="in_progress", actor_label="test"))
    db_session.flush()  # no AppendOnlyError: new rows are fine


# --- concurrency: two connections, committed rows ---------------------------------------------------

@pytest.fixture
def committed_incident(app) -> Iterator[int]:
    with app.app_context():
        incident_id = new_incident(db.session).id
        db.session.commit()
    yield incident_id
    with app.app_context():
        # Core statements: the ORM guard forbids deleting history, but a test cleans up after itself.
        db.session.execute(sa.delete(StateEvent).where(StateEvent.entity_type == "incident",
                                                       StateEvent.entity_id == incident_id))
        db.session.execute(sa.delete(Incident).where(Incident.id == incident_id))
        db.session.commit()


def wait_for_lock_waiter(timeout: float = 10) -> None:
    """Until some other backend of this database is blocked on a row lock."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with db.engine.connect() as conn:
            waiting = conn.scalar(sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid != pg_backend_pid()"))
        if waiting:
            return
        time.sleep(0.02)
    raise AssertionError("the second transition never waited for the first one's lock")


def test_second_transition_blocked_by_the_first_loses_when_it_commits(app, committed_incident):
    """A read "new" (B had not committed), passed the Python check, then its UPDATE waited for B's lock:
    only the database's compare-and-set can refuse it."""
    outcome: dict[str, object] = {}

    def escalate() -> None:
        with app.app_context():
            incident = db.session.get(Incident, committed_incident)
            try:
                INCIDENT.transition(incident, "escalated", actor="system:escalation")
                db.session.commit()
                outcome["a"] = "won"
            except TransitionConflict as exc:
                db.session.rollback()
                outcome["a"] = exc

    with app.app_context():
        incident = db.session.get(Incident, committed_incident)
        INCIDENT.transition(incident, "claimed", actor="operator:b")  # row locked, not committed
        racer = threading.Thread(target=escalate)
        racer.start()
        wait_for_lock_waiter()
        db.session.commit()
    racer.join(10)

    assert isinstance(outcome["a"], TransitionConflict)
    assert outcome["a"].current == "claimed"
    with app.app_context():
        assert db.session.get(Incident, committed_incident).status == "claimed"
        assert events_of(db.session, committed_incident) == [("new", "claimed", "operator:b")]


def test_concurrent_claims_exactly_one_wins(app, committed_incident):
    racers = 6
    start = threading.Barrier(racers)
    results: list[str] = []

    def claim(n: int) -> None:
        with app.app_context():
            incident = db.session.get(Incident, committed_incident)
            start.wait(5)
            try:
                INCIDENT.transition(incident, "claimed", actor=f"operator:{n}")
                time.sleep(0.2)  # hold the row while the others try
                db.session.commit()
                results.append(f"won:{n}")
            except TransitionConflict:
                db.session.rollback()
                results.append("conflict")

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)

    winners = [r for r in results if r.startswith("won")]
    assert len(results) == racers
    assert len(winners) == 1, results
    with app.app_context():
        events = events_of(db.session, committed_incident)
    assert events == [("new", "claimed", f"operator:{winners[0].split(':')[1]}")]
