"""The automatic response cascade: contacts in order (or in parallel), SMS then call, grid leader, team;
the first acknowledgement stops it; resolving stops it; the start timer only for unclaimed alarms."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from eldercare.alerts import cascade, notify
from eldercare.alerts.models import ActionStep, CascadeStep, Notification, TeamDispatch
from eldercare.core import timers
from eldercare.core.models import Timer, User
from eldercare.households.models import Contact, Household
from tests.conftest import DEMO_PASSWORD
from tests.helpers import open_incident, quiet_homes


@pytest.fixture
def emitted(emitted, monkeypatch):
    monkeypatch.setattr(notify, "schedule", lambda nid, countdown=0: None)  # nothing leaves in these tests
    return emitted


@pytest.fixture
def home(db_session, emitted):
    """A quiet home with three reachable contacts (distinct numbers) in sequence, and a grid leader."""
    [device] = quiet_homes(db_session, 1)
    household = db_session.get(Household, device.household_id)
    household.notify_family_parallel = False
    db_session.execute(sa.delete(Contact).where(Contact.household_id == household.id))
    for priority, (name, phone) in enumerate((("长子", "13600000001"), ("女儿", "13600000002"),
                                              ("邻居", "13600000003")), start=1):
        db_session.add(Contact(household_id=household.id, priority=priority, name=name, relation="child",
                               phone=phone, language="zh"))
    db_session.commit()
    return device


def rungs(session, incident_id: int) -> list[tuple[str, str]]:
    return [(s.target_type, s.state) for s in cascade.steps_of(incident_id)]


def messages_of(session, incident_id: int) -> list[tuple[int, str, str, str]]:
    """(rung seq, channel, number, state) of every message the cascade sent, in order."""
    rows = session.execute(
        sa.select(CascadeStep.seq, Notification.channel, Notification.to_address, Notification.state)
        .join(CascadeStep, sa.and_(Notification.purpose_type == "cascade_step",
                                   Notification.purpose_id == CascadeStep.id))
        .where(CascadeStep.incident_id == incident_id).order_by(Notification.id)
        .execution_options(populate_existing=True)).all()
    return [tuple(row) for row in rows]


def fire(session, kind: str, ref_id: int) -> bool:
    """The rung's time is up: its timer fires as the sweep would."""
    timer = session.scalar(sa.select(Timer).where(Timer.kind == kind, Timer.ref_id == ref_id,
                                                  Timer.fired_at.is_(None)))
    if timer is None:
        return False
    session.execute(sa.update(Timer).where(Timer.id == timer.id)
                    .values(due_at=datetime.now(UTC) - timedelta(seconds=1)))
    fired = timers.fire(timer.id)
    session.commit()
    return fired


def active_step(session, incident_id: int) -> CascadeStep:
    [step] = [s for s in cascade.steps_of(incident_id) if s.state == "active"]
    return step


def test_rungs_in_order_sms_then_call_then_next_then_grid_leader_then_team(db_session, home, emitted):
    incident = open_incident(db_session, home)
    cascade.start(incident, actor="system:test", reason="test")
    db_session.commit()
    assert rungs(db_session, incident.id) == [("contact", "active"), ("contact", "pending"), ("contact", "pending"),
                                              ("grid_leader", "pending"), ("team", "pending")]
    assert messages_of(db_session, incident.id) == [(1, "sms", "+8613600000001", "queued")]
    sms = db_session.scalar(sa.select(Notification).where(
        Notification.purpose_type == "cascade_step",
        Notification.purpose_id == cascade.steps_of(incident.id)[0].id))
    assert sms.urgent and "回复1" in sms.body
    assert fire(db_session, cascade.STEP_TIMER, active_step(db_session, incident.id).id)  # SMS unanswered
    assert messages_of(db_session, incident.id) == [(1, "sms", "+8613600000001", "expired"),
                                                    (1, "voice", "+8613600000001", "queued")]
    first = active_step(db_session, incident.id)
    assert first.seq == 1
    assert fire(db_session, cascade.STEP_TIMER, first.id)  # the call unanswered too: next contact
    assert rungs(db_session, incident.id)[:2] == [("contact", "no_answer"), ("contact", "active")]
    assert messages_of(db_session, incident.id)[-1] == (2, "sms", "+8613600000002", "queued")
    for _ in range(4):  # contacts 2 and 3: SMS, then call
        fire(db_session, cascade.STEP_TIMER, active_step(db_session, incident.id).id)
    leader = active_step(db_session, incident.id)
    assert leader.target_type == "grid_leader"
    assert [m[:2] for m in messages_of(db_session, incident.id)][-1] == (4, "sms")
    fire(db_session, cascade.STEP_TIMER, leader.id)
    fire(db_session, cascade.STEP_TIMER, leader.id)
    team_rung = active_step(db_session, incident.id)
    assert team_rung.target_type == "team" and team_rung.target_id is not None
    dispatch = db_session.scalar(sa.select(TeamDispatch).where(TeamDispatch.incident_id == incident.id))
    assert (dispatch.team_id, dispatch.state) == (team_rung.target_id, "called")
    cascades = [data for name, data, _ in emitted if name == "incident.cascade"]
    assert cascades and cascades[-1]["steps"][-1]["state"] == "active"


def test_a_reply_acknowledges_its_rung_and_stops_the_rest(app, client, db_session, home, emitted, monkeypatch):
    from tests.test_notifications import signed

    monkeypatch.setitem(app.config, "TWILIO_AUTH_TOKEN", "test-twilio-token")
    incident = open_incident(db_session, home)
    cascade.start(incident, actor="system:test", reason="test")
    db_session.commit()
    fire(db_session, cascade.STEP_TIMER, active_step(db_session, incident.id).id)
    fire(db_session, cascade.STEP_TIMER, active_step(db_session, incident.id).id)  # on to contact 2
    second = active_step(db_session, incident.id)
    db_session.execute(sa.update(Notification).where(Notification.purpose_id == second.id)
                       .values(state="sent", provider_sid="SMcascade2"))  # as the worker would have
    db_session.commit()
    response = signed(client, app, "/twilio/sms", {"From": "+8613600000002", "Body": "收到", "MessageSid": "SMa"})
    assert response.status_code == 200
    assert rungs(db_session, incident.id) == [("contact", "no_answer"), ("contact", "acknowledged"),
                                              ("contact", "cancelled"), ("grid_leader", "cancelled"),
                                              ("team", "cancelled")]
    assert not db_session.scalar(sa.select(sa.func.count()).select_from(Timer).where(
        Timer.kind == cascade.STEP_TIMER, Timer.fired_at.is_(None),
        Timer.ref_id.in_([s.id for s in cascade.steps_of(incident.id)])))
    step = db_session.scalar(sa.select(ActionStep).where(ActionStep.incident_id == incident.id,
                                                         ActionStep.result == "attending"))
    assert step.kind == "cascade_contact" and step.target_ref == "女儿"
    assert emitted[-1][0] == "incident.cascade" and emitted[-1][1]["steps"][1]["state"] == "acknowledged"
    assert db_session.scalar(sa.select(TeamDispatch).where(TeamDispatch.incident_id == incident.id)) is None


def test_family_in_parallel_when_the_household_says_so(db_session, home):
    db_session.get(Household, home.household_id).notify_family_parallel = True
    incident = open_incident(db_session, home)
    cascade.start(incident, actor="system:test", reason="test")
    db_session.commit()
    assert rungs(db_session, incident.id)[:3] == [("contact", "active")] * 3
    assert sorted(m[2] for m in messages_of(db_session, incident.id)) == [
        "+8613600000001", "+8613600000002", "+8613600000003"]
    for step in cascade.steps_of(incident.id)[:3]:  # nobody answers the texts nor the calls
        fire(db_session, cascade.STEP_TIMER, step.id)
    assert rungs(db_session, incident.id)[3] == ("grid_leader", "pending")  # waits for the whole group
    for step in cascade.steps_of(incident.id)[:3]:
        fire(db_session, cascade.STEP_TIMER, step.id)
    assert rungs(db_session, incident.id)[3] == ("grid_leader", "active")


def test_an_undeliverable_text_becomes_a_call_at_once(db_session, home):
    incident = open_incident(db_session, home)
    cascade.start(incident, actor="system:test", reason="test")
    db_session.commit()
    [(sms_id,)] = db_session.execute(sa.select(Notification.id).where(
        Notification.purpose_type == "cascade_step",
        Notification.purpose_id.in_([s.id for s in cascade.steps_of(incident.id)])))
    notify.fail(sms_id, "30003")  # Twilio: unreachable handset
    db_session.commit()
    assert [m[1:] for m in messages_of(db_session, incident.id)] == [
        ("sms", "+8613600000001", "failed"), ("voice", "+8613600000001", "queued")]


def test_a_contact_without_a_valid_number_is_passed_over(db_session, home):
    db_session.execute(sa.update(Contact).where(Contact.household_id == home.household_id, Contact.priority == 1)
                       .values(phone="000"))
    incident = open_incident(db_session, home)
    cascade.start(incident, actor="system:test", reason="test")
    db_session.commit()
    assert rungs(db_session, incident.id)[:2] == [("contact", "no_answer"), ("contact", "active")]


def test_start_twice_is_one_cascade(db_session, home):
    incident = open_incident(db_session, home)
    first = cascade.start(incident, actor="system:test", reason="test")
    second = cascade.start(incident, actor="system:test", reason="again")
    assert [s.id for s in first] == [s.id for s in second]


def test_start_timer_starts_only_an_unclaimed_alarm(db_session, home, client, ops):
    incident = open_incident(db_session, home)
    assert db_session.scalar(sa.select(Timer).where(Timer.kind == cascade.START_TIMER, Timer.ref_id == incident.id))
    assert client.post(f"/api/v1/incidents/{incident.id}/claim", headers=ops("operator1")).status_code == 200
    assert fire(db_session, cascade.START_TIMER, incident.id)
    assert cascade.steps_of(incident.id) == []
    [other] = quiet_homes(db_session, 1)
    unclaimed = open_incident(db_session, other)
    fire(db_session, cascade.START_TIMER, unclaimed.id)
    assert cascade.steps_of(unclaimed.id)[0].state in ("active", "skipped", "no_answer")


def test_technical_incidents_have_no_cascade(db_session, home):
    incident = open_incident(db_session, home, type_="low_battery")
    assert db_session.scalar(sa.select(Timer).where(Timer.kind == cascade.START_TIMER,
                                                    Timer.ref_id == incident.id)) is None


def test_resident_not_answering_starts_it_and_resolving_stops_it(db_session, home, client, ops):
    incident = open_incident(db_session, home)
    headers = ops("operator1")
    assert client.post(f"/api/v1/incidents/{incident.id}/claim", headers=headers).status_code == 200
    response = client.post(f"/api/v1/incidents/{incident.id}/steps", headers=headers,
                           json={"kind": "call_resident", "result": "no_answer"})
    assert response.status_code in (200, 201), response.get_json()
    view = client.get(f"/api/v1/incidents/{incident.id}/cascade", headers=headers).get_json()
    assert [s["state"] for s in view["steps"]][:2] == ["active", "pending"] and view["steps"][0]["name"] == "长子"
    assert view["steps"][0]["channel"] == "sms"
    resolved = client.post(f"/api/v1/incidents/{incident.id}/resolve", headers=headers,
                           json={"outcome": "family_attended"})
    assert resolved.status_code == 200
    assert {s.state for s in cascade.steps_of(incident.id)} == {"cancelled"}
    assert messages_of(db_session, incident.id)[0][3] == "expired"


def test_only_the_holder_or_a_supervisor_starts_or_stops_it(db_session, home, client, ops):
    incident = open_incident(db_session, home)
    assert client.post(f"/api/v1/incidents/{incident.id}/claim", headers=ops("operator1")).status_code == 200
    other = client.post(f"/api/v1/incidents/{incident.id}/cascade", headers=ops("operator2"), json={})
    assert other.status_code == 409 and cascade.steps_of(incident.id) == []
    started = client.post(f"/api/v1/incidents/{incident.id}/cascade", headers=ops("supervisor1"),
                          json={"reason": "resident's line busy"})
    assert started.status_code == 200 and started.get_json()["steps"][0]["state"] == "active"
    stopped = client.post(f"/api/v1/incidents/{incident.id}/cascade/stop", headers=ops("operator1"))
    assert stopped.status_code == 200 and {s["state"] for s in stopped.get_json()["steps"]} == {"cancelled"}
    bad = client.post(f"/api/v1/incidents/{incident.id}/cascade", headers=ops("operator1"), json={"reason": 5})
    assert bad.status_code == 400


def test_team_acknowledging_ends_the_cascade(db_session, home, client, ops):
    incident = open_incident(db_session, home)
    db_session.execute(sa.delete(Contact).where(Contact.household_id == home.household_id))
    db_session.execute(sa.update(Household).where(Household.id == home.household_id).values(grid_cell_id=None))
    cascade.start(incident, actor="system:test", reason="test")
    db_session.commit()
    [team_rung] = cascade.steps_of(incident.id)
    assert team_rung.state == "active"
    dispatch = db_session.scalar(sa.select(TeamDispatch).where(TeamDispatch.incident_id == incident.id))
    member = User(username="cascade-team-member", role="team_member", team_id=dispatch.team_id)
    member.set_password(DEMO_PASSWORD)
    db_session.add(member)
    db_session.commit()
    response = client.post(f"/api/v1/team-dispatches/{dispatch.id}/ack", headers=ops(member.username))
    assert response.status_code == 200, response.get_json()
    assert rungs(db_session, incident.id) == [("team", "acknowledged")]
