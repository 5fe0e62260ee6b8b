"""`/api/v1/incidents`: the queue, detail with history, claim (one operator per resident, decided by the
database), release, hand-over, hold with its re-surfacing timer, and the audited screen-pop."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa

from eldercare.alerts import claims
from eldercare.alerts.models import Incident
from eldercare.alerts.services import open_or_merge
from eldercare.core import timers
from eldercare.core.auth import issue_token
from eldercare.core.events import OPS_NAMESPACE
from eldercare.core.models import AuditEvent, StateEvent, Timer
from eldercare.core.time import utcnow
from eldercare.devices.models import Device, DeviceEvent
from eldercare.extensions import db, socketio
from tests.conftest import RequestScopedClient
from tests.helpers import error_of, open_incident, quiet_device, quiet_homes, user_named


@pytest.fixture(autouse=True)
def _celery(app) -> None:
    app.extensions["celery"].set_current()
    app.extensions["celery"].set_default()


@pytest.fixture
def device(db_session) -> Device:
    return quiet_device(db_session, "http")


@pytest.fixture
def sos(db_session, device) -> Incident:
    return open_incident(db_session, device)




def post(client, headers, incident_id: int, action: str, **body):
    return client.post(f"/api/v1/incidents/{incident_id}/{action}", json=body, headers=headers)


# --- queue and detail ---------------------------------------------------------------------------------

def test_queue_orders_by_priority_then_age_and_filters_by_status(client, db_session, ops):
    homes = quiet_homes(db_session, 3)
    technical_old = open_incident(db_session, homes[0], "low_battery", ago_s=600)
    life_new = open_incident(db_session, homes[1], "sos", ago_s=10)
    life_old = open_incident(db_session, homes[2], "fall", ago_s=120)
    db_session.execute(sa.update(Incident).where(Incident.id == technical_old.id).values(status="cancelled"))
    db_session.commit()

    body = client.get("/api/v1/incidents?status=open&per_page=500", headers=ops("operator1")).get_json()
    ids = [item["id"] for item in body["items"]]
    assert technical_old.id not in ids and body["total"] == len(ids)
    assert ids.index(life_old.id) < ids.index(life_new.id)
    keys = [(item["priority"], item["created_at"]) for item in body["items"]]
    assert keys == sorted(keys)
    item = next(i for i in body["items"] if i["id"] == life_new.id)
    assert set(item) >= {"id", "household_id", "type", "priority", "status", "created_at", "claimed_by",
                         "claimed_at", "event_count", "device_id", "household_code", "address", "community"}
    assert item["household_code"] and item["address"] and item["community"]

    cancelled = client.get("/api/v1/incidents?status=cancelled", headers=ops("operator1")).get_json()
    assert technical_old.id in [i["id"] for i in cancelled["items"]]
    assert all(i["status"] == "cancelled" for i in cancelled["items"])
    bad = client.get("/api/v1/incidents?status=nonsense", headers=ops("operator1"))
    assert bad.status_code == 400 and "status" in error_of(bad)["fields"]


def test_detail_has_history_and_device_events(client, db_session, ops, sos, device):
    db_session.add(DeviceEvent(device_id=device.id, idempotency_key="d-1", type="sos", protocol=device.protocol,
                               battery_pct=55, lat=40.8, lng=111.7, incident_id=sos.id))
    db_session.commit()
    post(client, ops("operator1"), sos.id, "claim")
    body = client.get(f"/api/v1/incidents/{sos.id}", headers=ops("operator1")).get_json()
    assert body["id"] == sos.id and body["status"] == "claimed"
    assert [(h["from"], h["to"]) for h in body["history"]] == [(None, "new"), ("new", "claimed")]
    assert body["history"][1]["actor_label"] == "operator1" and body["history"][1]["at"]
    [event] = body["device_events"]
    assert (event["type"], event["battery"], event["lat"], event["lng"]) == ("sos", 55, 40.8, 111.7)
    assert event["received_at"]
    assert client.get("/api/v1/incidents/999999", headers=ops("operator1")).status_code == 404


# --- claim --------------------------------------------------------------------------------------------

def test_claim_then_second_operator_conflicts_and_reclaim_is_idempotent(app, client, db_session, ops, sos):
    watcher = socketio.test_client(app, namespace=OPS_NAMESPACE,
                                   auth={"token": ops("supervisor1")["Authorization"].split()[1]})
    try:
        watcher.get_received(OPS_NAMESPACE)
        first = post(client, ops("operator1"), sos.id, "claim")
        assert first.status_code == 200
        body = first.get_json()
        operator1 = user_named(db_session, "operator1")
        assert (body["status"], body["claimed_by"]) == ("claimed", operator1.id) and body["claimed_at"]
        updates = [m["args"][0] for m in watcher.get_received(OPS_NAMESPACE) if m["name"] == "incident.updated"]
        assert [(u["id"], u["status"], u["claimed_by"]) for u in updates] == [(sos.id, "claimed", operator1.id)]
    finally:
        watcher.disconnect(namespace=OPS_NAMESPACE)

    second = post(client, ops("operator2"), sos.id, "claim")
    assert second.status_code == 409 and error_of(second)["code"] == "conflict"
    assert "operator1" in error_of(second)["message"]
    again = post(client, ops("operator1"), sos.id, "claim")
    assert again.status_code == 200 and again.get_json()["claimed_by"] == operator1.id
    claims_written = db_session.scalars(sa.select(StateEvent).where(
        StateEvent.entity_type == "incident", StateEvent.entity_id == sos.id, StateEvent.to_state == "claimed")).all()
    assert len(claims_written) == 1


def test_household_incidents_are_claimed_together(client, db_session, ops, device, sos):
    technical = open_incident(db_session, device, "low_battery")
    other_home = next(d for d in quiet_homes(db_session, 2) if d.household_id != device.household_id)
    elsewhere = open_incident(db_session, other_home, "sos")
    assert post(client, ops("operator1"), technical.id, "claim").status_code == 200
    db_session.expire_all()
    operator1 = user_named(db_session, "operator1")
    for incident in (sos, technical):
        assert (incident.status, incident.claimed_by_id) == ("claimed", operator1.id)
    assert (elsewhere.status, elsewhere.claimed_by_id) == ("new", None)
    sibling = db_session.scalars(sa.select(StateEvent).where(StateEvent.entity_type == "incident",
                                                             StateEvent.entity_id == sos.id)).all()[-1]
    assert f"incident {technical.id}" in sibling.reason
    assert post(client, ops("operator2"), sos.id, "claim").status_code == 409


# --- release, hand-over, hold -------------------------------------------------------------------------

def test_release_by_holder_or_supervisor_only(client, db_session, ops, sos):
    post(client, ops("operator1"), sos.id, "claim")
    refused = post(client, ops("operator2"), sos.id, "release")
    assert refused.status_code == 403 and error_of(refused)["code"] == "forbidden"
    released = post(client, ops("operator1"), sos.id, "release")
    assert released.status_code == 200
    assert (released.get_json()["status"], released.get_json()["claimed_by"]) == ("new", None)
    assert post(client, ops("operator2"), sos.id, "claim").status_code == 200
    by_supervisor = post(client, ops("supervisor1"), sos.id, "release")
    assert by_supervisor.status_code == 200 and by_supervisor.get_json()["status"] == "new"


def test_handover_to_an_ops_user_only(client, db_session, ops, sos):
    post(client, ops("operator1"), sos.id, "claim")
    operator2, provider = user_named(db_session, "operator2"), user_named(db_session, "provider1")
    assert post(client, ops("operator2"), sos.id, "handover", to_user_id=operator2.id).status_code == 403
    bad = post(client, ops("operator1"), sos.id, "handover", to_user_id=provider.id)
    assert bad.status_code == 400 and "to_user_id" in error_of(bad)["fields"]
    assert post(client, ops("operator1"), sos.id, "handover").status_code == 400
    given = post(client, ops("operator1"), sos.id, "handover", to_user_id=operator2.id)
    assert given.status_code == 200
    assert (given.get_json()["status"], given.get_json()["claimed_by"]) == ("claimed", operator2.id)
    assert post(client, ops("operator1"), sos.id, "claim").status_code == 409
    supervisor1 = user_named(db_session, "supervisor1")
    back = post(client, ops("supervisor1"), sos.id, "handover", to_user_id=supervisor1.id)
    assert back.status_code == 200 and back.get_json()["claimed_by"] == supervisor1.id
    reasons = db_session.scalars(sa.select(StateEvent.reason).where(
        StateEvent.entity_type == "incident", StateEvent.entity_id == sos.id)).all()
    assert "handed over to operator2" in reasons and "handed over to supervisor1" in reasons


def test_hold_parks_it_and_the_timer_resurfaces_it(client, db_session, ops, sos):
    post(client, ops("operator1"), sos.id, "claim")
    assert post(client, ops("operator2"), sos.id, "hold", minutes=5).status_code == 403
    for minutes in (0, 121):
        assert post(client, ops("operator1"), sos.id, "hold", minutes=minutes).status_code == 400
    held = post(client, ops("operator1"), sos.id, "hold", minutes=5, reason="resident fetching glasses")
    assert held.status_code == 200
    body = held.get_json()
    assert body["status"] == "on_hold" and body["hold_until"]
    timer = db_session.scalar(sa.select(Timer).where(Timer.kind == "incident.hold", Timer.ref_id == sos.id))
    assert timer is not None and timer.fired_at is None
    assert timedelta(minutes=4) < timer.due_at - utcnow() <= timedelta(minutes=5)
    assert post(client, ops("operator2"), sos.id, "claim").status_code == 409

    assert timers.fire(timer.id, now=timer.due_at + timedelta(seconds=1))
    db_session.commit()
    db_session.expire_all()
    incident = db_session.get(Incident, sos.id)
    assert (incident.status, incident.claimed_by_id, incident.hold_until) == ("new", None, None)
    last = db_session.scalars(sa.select(StateEvent).where(StateEvent.entity_type == "incident",
                                                          StateEvent.entity_id == sos.id)).all()[-1]
    assert (last.from_state, last.to_state, last.actor_label) == ("on_hold", "new", "system:hold")


def test_holder_resumes_a_held_incident_and_the_expired_timer_does_nothing(client, db_session, ops, sos):
    post(client, ops("operator1"), sos.id, "claim")
    post(client, ops("operator1"), sos.id, "hold", minutes=1)
    resumed = post(client, ops("operator1"), sos.id, "claim")
    assert resumed.status_code == 200 and resumed.get_json()["status"] == "claimed"
    assert db_session.scalar(sa.select(Timer).where(Timer.kind == "incident.hold", Timer.ref_id == sos.id)) is None
    claims.resurface(sos.id)  # a late timer finds it no longer on hold
    db_session.expire_all()
    assert db_session.get(Incident, sos.id).status == "claimed"


def test_field_roles_are_refused(client, ops, sos):
    for username in ("provider1", "team1"):
        for method, path in (("GET", "/api/v1/incidents"), ("GET", f"/api/v1/incidents/{sos.id}"),
                             ("POST", f"/api/v1/incidents/{sos.id}/claim"),
                             ("GET", f"/api/v1/incidents/{sos.id}/screen")):
            response = client.open(path, method=method, headers=ops(username))
            assert response.status_code == 403, (username, path)
    assert client.get("/api/v1/incidents").status_code == 401


# --- screen-pop ---------------------------------------------------------------------------------------

def test_screen_pop_contents_and_audit(client, db_session, ops, sos):
    before = db_session.get(Incident, sos.id)
    previous = Incident(household_id=before.household_id, device_id=before.device_id, type="fall", priority=1,
                        status="closed", created_at=utcnow() - timedelta(days=3), outcome="false_alarm")
    db_session.add(previous)
    db_session.commit()

    assert client.get(f"/api/v1/incidents/{sos.id}/screen", headers=ops("operator1")).status_code == 403
    post(client, ops("operator1"), sos.id, "claim")
    response = client.get(f"/api/v1/incidents/{sos.id}/screen", headers=ops("operator1"))
    assert response.status_code == 200
    body = response.get_json()
    assert body["incident"]["id"] == sos.id and body["held_by_viewer"] is True
    household = body["household"]
    assert household["id"] == before.household_id
    assert set(household) >= {"address", "community", "lat", "lng", "access_info", "key_safe_code"}
    assert body["residents"]
    assert set(body["residents"][0]) >= {"name", "age", "photo", "language", "dialect", "health_notes",
                                         "medication", "mobility"}
    assert body["residents"][0]["photo"] is None and body["residents"][0]["age"] > 0
    assert body["devices"] and {"battery_pct", "online"} <= set(body["devices"][0])
    priorities = [c["priority"] for c in body["contacts"]]
    assert priorities == sorted(priorities)
    assert all(isinstance(c["available_now"], bool) for c in body["contacts"])
    if body["grid_leader"] is not None:
        assert body["grid_leader"]["name"] and body["grid_leader"]["phone"]
    assert [p["id"] for p in body["previous_incidents"]][:1] == [previous.id]
    assert body["previous_incidents"][0]["outcome"] == "false_alarm"

    assert client.get(f"/api/v1/incidents/{sos.id}/screen", headers=ops("supervisor1")).status_code == 200
    entries = db_session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "incident.screen_pop",
                                                             AuditEvent.target_id == before.household_id)
                                 .order_by(AuditEvent.id)).all()
    assert [(e.actor_label, e.target_type, e.detail["incident_id"]) for e in entries] == [
        ("operator1", "household", sos.id), ("supervisor1", "household", sos.id)]


def test_contact_availability_spans_midnight():
    from datetime import UTC, datetime, time

    from eldercare.households.models import Contact

    night = Contact(available_from=time(20, 0), available_to=time(7, 0))
    day = Contact(available_from=time(8, 0), available_to=time(18, 0))
    at_23_local = datetime(2026, 1, 1, 15, 0, tzinfo=UTC)  # 23:00 in Asia/Shanghai
    assert claims.contact_available(night, at_23_local) and not claims.contact_available(day, at_23_local)
    assert claims.contact_available(Contact(), at_23_local)


# --- two operators at the same instant, on committed data ---------------------------------------------

@pytest.fixture
def committed_incident(app) -> Iterator[int]:
    with app.app_context():
        device = quiet_homes(db.session, 1)[0]
        incident_id = open_or_merge(device=device, type_="gas", at=utcnow(), actor="device:test")
        db.session.commit()
    yield incident_id
    with app.app_context():
        db.session.execute(sa.delete(StateEvent).where(StateEvent.entity_type == "incident",
                                                       StateEvent.entity_id == incident_id))
        db.session.execute(sa.delete(Timer).where(Timer.kind == "incident.hold", Timer.ref_id == incident_id))
        db.session.execute(sa.delete(Incident).where(Incident.id == incident_id))
        db.session.commit()


def test_two_operators_claiming_at_the_same_instant_exactly_one_wins(app, committed_incident):
    with app.app_context():
        tokens = {name: issue_token(user_named(db.session, name))[0] for name in ("operator1", "operator2")}
    start = threading.Barrier(2)
    results: dict[str, int] = {}

    def claim_as(username: str) -> None:
        client = RequestScopedClient(app, app.response_class)
        headers = {"Authorization": f"Bearer {tokens[username]}"}
        start.wait(5)
        results[username] = client.post(f"/api/v1/incidents/{committed_incident}/claim", headers=headers).status_code

    threads = [threading.Thread(target=claim_as, args=(name,)) for name in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)

    assert sorted(results.values()) == [200, 409], results
    winner = next(name for name, status in results.items() if status == 200)
    with app.app_context():
        incident = db.session.get(Incident, committed_incident)
        assert incident.status == "claimed" and incident.claimed_by_id == user_named(db.session, winner).id
        claimed = db.session.scalars(sa.select(StateEvent).where(
            StateEvent.entity_type == "incident", StateEvent.entity_id == committed_incident,
            StateEvent.to_state == "claimed")).all()
        assert [e.actor_label for e in claimed] == [winner]
