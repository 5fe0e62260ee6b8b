"""`POST /api/v1/device-events`: stored before 202, idempotent, alarms open or merge incidents, bad input
is refused with the right status and changes nothing."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from eldercare.alerts.models import Incident
from eldercare.core.events import OPS_NAMESPACE
from eldercare.core.models import StateEvent
from eldercare.devices import tokens
from eldercare.devices.models import DeviceEvent
from eldercare.extensions import socketio
from tests.conftest import token_for
from tests.helpers import error_of, quiet_device

NOW = datetime.now(UTC).isoformat()


@pytest.fixture
def http_device(db_session):
    """A demo HTTP device of a household without open incidents, given a fresh token."""
    device = quiet_device(db_session, "http")
    token, token_hash = tokens.new_token(device.id)
    device.token_hash = token_hash
    db_session.commit()
    return device, {"Authorization": f"Bearer {token}"}


def post(client, headers, **event):
    body = {"event_id": "e1", "type": "sos", "occurred_at": NOW, **event}
    return client.post("/api/v1/device-events", json=body, headers=headers)


def events_of(db_session, device_id):
    return db_session.scalars(sa.select(DeviceEvent).where(DeviceEvent.device_id == device_id)).all()


def test_sos_is_stored_and_opens_an_incident(client, db_session, http_device):
    device, headers = http_device
    response = post(client, headers, event_id="sos-1", battery_pct=80,
                    location={"lat": 40.84, "lng": 111.75, "accuracy_m": 12})
    assert response.status_code == 202
    body = response.get_json()
    assert body["event_id"] == "sos-1" and body["duplicate"] is False
    incident = db_session.get(Incident, body["incident_id"])
    assert (incident.status, incident.type, incident.priority) == ("new", "sos", 1)
    assert incident.household_id == device.household_id and incident.event_count == 1
    [stored] = events_of(db_session, device.id)
    assert (stored.type, stored.idempotency_key, stored.incident_id) == ("sos", "sos-1", incident.id)
    assert stored.processed_at is not None and stored.lat == pytest.approx(40.84)
    birth = db_session.scalars(sa.select(StateEvent).where(StateEvent.entity_type == "incident",
                                                           StateEvent.entity_id == incident.id)).one()
    assert (birth.from_state, birth.to_state, birth.actor_label) == (None, "new", f"device:{device.id}")
    db_session.refresh(device)
    assert device.battery_pct == 80 and device.last_seen_at is not None and device.next_heartbeat_due


def test_repeat_is_acknowledged_and_processed_once(client, db_session, http_device):
    device, headers = http_device
    first = post(client, headers, event_id="dup").get_json()
    second = post(client, headers, event_id="dup").get_json()
    assert second == {**first, "duplicate": True}
    assert len(events_of(db_session, device.id)) == 1
    assert db_session.get(Incident, first["incident_id"]).event_count == 1


def test_more_presses_merge_into_the_open_incident(client, db_session, http_device):
    _, headers = http_device
    ids = {post(client, headers, event_id=f"press-{i}", type=t).get_json()["incident_id"]
           for i, t in enumerate(["sos", "sos", "fall"])}
    assert len(ids) == 1
    assert db_session.get(Incident, ids.pop()).event_count == 3


def test_technical_fault_is_its_own_low_priority_incident(client, db_session, http_device):
    _, headers = http_device
    alarm = post(client, headers, event_id="a").get_json()["incident_id"]
    fault = post(client, headers, event_id="b", type="low_battery", battery_pct=9).get_json()["incident_id"]
    assert alarm != fault
    assert db_session.get(Incident, fault).priority == 2


def test_cancel_closes_an_unclaimed_alarm(client, db_session, http_device):
    _, headers = http_device
    incident_id = post(client, headers, event_id="press").get_json()["incident_id"]
    assert post(client, headers, event_id="cancel", type="cancel").get_json()["incident_id"] == incident_id
    incident = db_session.get(Incident, incident_id)
    db_session.refresh(incident)
    assert (incident.status, incident.outcome) == ("cancelled", "cancelled_by_device")
    assert post(client, headers, event_id="again").get_json()["incident_id"] != incident_id  # a new alarm


def test_heartbeat_updates_the_device_only(client, db_session, http_device):
    device, headers = http_device
    body = post(client, headers, event_id="hb", type="heartbeat", battery_pct=55).get_json()
    assert body["incident_id"] is None
    assert events_of(db_session, device.id) == []
    db_session.refresh(device)
    assert device.battery_pct == 55 and device.last_seen_at is not None


def test_test_event_is_recorded_without_incident(client, db_session, http_device):
    device, headers = http_device
    assert post(client, headers, event_id="t", type="test").get_json()["incident_id"] is None
    assert [e.type for e in events_of(db_session, device.id)] == ["test"]


def test_incident_created_reaches_ops_after_commit(app, client, db_session, http_device):
    _, headers = http_device
    ops = socketio.test_client(app, namespace=OPS_NAMESPACE, auth={"token": token_for(client, "operator1")})
    try:
        assert ops.is_connected(OPS_NAMESPACE)
        incident_id = post(client, headers, event_id="live").get_json()["incident_id"]
        received = [m for m in ops.get_received(OPS_NAMESPACE) if m["name"] == "incident.created"]
        assert [m["args"][0]["id"] for m in received] == [incident_id]
        payload = received[0]["args"][0]
        assert payload["status"] == "new" and payload["priority"] == 1 and payload["household_code"]
        post(client, headers, event_id="live-2")
        updates = [m for m in ops.get_received(OPS_NAMESPACE) if m["name"] == "incident.updated"]
        assert updates[0]["args"][0]["event_count"] == 2
    finally:
        ops.disconnect(OPS_NAMESPACE)


BAD_BODIES = [
    ({"type": "sos", "occurred_at": NOW}, "event_id"),
    ({"event_id": "x", "type": "explode", "occurred_at": NOW}, "type"),
    ({"event_id": "x", "type": "sos", "occurred_at": "yesterday"}, "occurred_at"),
    ({"event_id": "x", "type": "sos", "occurred_at": "2026-01-01T10:00:00"}, "occurred_at"),  # no offset
    ({"event_id": "x", "type": "sos", "occurred_at": NOW, "battery_pct": 101}, "battery_pct"),
    ({"event_id": "x", "type": "sos", "occurred_at": NOW, "battery_pct": "50"}, "battery_pct"),
    ({"event_id": "x", "type": "sos", "occurred_at": NOW, "battery_pct": True}, "battery_pct"),
    ({"event_id": "x", "type": "sos", "occurred_at": NOW, "location": {"lat": 91, "lng": 0}}, "location"),
    ({"event_id": "x", "type": "sos", "occurred_at": NOW, "location": "here"}, "location"),
    ({"event_id": "", "type": "sos", "occurred_at": NOW}, "event_id"),
    ({"event_id": "x" * 129, "type": "sos", "occurred_at": NOW}, "event_id"),
    ({"event_id": 5, "type": "sos", "occurred_at": NOW}, "event_id"),
]


@pytest.mark.parametrize(("body", "field"), BAD_BODIES)
def test_bad_schema_is_400_with_the_field_and_stores_nothing(client, db_session, http_device, body, field):
    device, headers = http_device
    response = client.post("/api/v1/device-events", json=body, headers=headers)
    assert response.status_code == 400
    assert field in error_of(response)["fields"]
    assert events_of(db_session, device.id) == []


def test_malformed_json_is_400(client, db_session, http_device):
    device, headers = http_device
    for raw in (b"{", b"[]", b"null", b"\xff", b'{"event_id": "x", }'):
        response = client.post("/api/v1/device-events", data=raw, headers={**headers,
                                                                          "Content-Type": "application/json"})
        assert response.status_code == 400, raw
    assert events_of(db_session, device.id) == []


def test_bad_tokens_are_401(client, db_session, http_device):
    device, _ = http_device
    for header in ({}, {"Authorization": "Bearer nope"}, {"Authorization": f"Bearer d{device.id}.{'x' * 43}"},
                   {"Authorization": f"Bearer d999999.{'x' * 43}"}):
        response = post(client, header)
        assert response.status_code == 401
        assert error_of(response)["code"] == "unauthenticated"
    assert events_of(db_session, device.id) == []


def test_retired_device_token_is_refused(client, db_session, http_device):
    device, headers = http_device
    device.status = "retired"
    db_session.commit()
    client.application.extensions.pop("eldercare.intake", None)  # a fresh cache, as after the TTL
    assert post(client, headers).status_code == 401


def test_body_over_64kb_is_413(client, db_session, http_device):
    device, headers = http_device
    body = json.dumps({"event_id": "big", "type": "sos", "occurred_at": NOW, "detail": "x" * 70_000})
    response = client.post("/api/v1/device-events", data=body, headers={**headers,
                                                                        "Content-Type": "application/json"})
    assert response.status_code == 413
    assert events_of(db_session, device.id) == []


def test_flood_from_one_device_is_429(client, db_session, http_device):
    _, headers = http_device
    statuses = [post(client, headers, event_id=f"f{i}", type="heartbeat").status_code for i in range(40)]
    assert statuses[:30] == [202] * 30
    assert set(statuses[30:]) == {429}
