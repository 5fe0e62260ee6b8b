"""The device registry API: register (per-protocol uid rules, credentials, defaults), list, change, move, retire,
rotate tokens, CSV import (all or nothing, an error per bad row), device models; roles and audit events."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from eldercare.core.models import AuditEvent
from eldercare.devices.intake import intake_for
from eldercare.devices.models import Device, DeviceModel
from eldercare.households.models import Household
from tests.helpers import error_of

NOW = datetime.now(UTC).isoformat()
HEADER = "uid,protocol,household_code,model,phone,aes_key,heartbeat_interval_s"


@pytest.fixture
def admin(auth_headers):
    return auth_headers("admin")


@pytest.fixture
def homes(db_session):
    """Two households being served."""
    return db_session.scalars(sa.select(Household).where(Household.active.is_(True)).order_by(Household.id)
                              .limit(2)).all()


def register(client, headers, **body):
    return client.post("/api/v1/devices", json=body, headers=headers)


def device_of(db_session, device_id):
    device = db_session.get(Device, device_id)
    db_session.refresh(device)
    return device


def audits(db_session, action, target_id=None, since=0):
    query = sa.select(AuditEvent).where(AuditEvent.action == action, AuditEvent.id > since).order_by(AuditEvent.id)
    if target_id is not None:
        query = query.where(AuditEvent.target_id == target_id)
    return db_session.scalars(query).all()


def last_audit_id(db_session):
    """Browser tests commit audit events of their own to the shared database: count only what follows."""
    return db_session.scalar(sa.select(sa.func.coalesce(sa.func.max(AuditEvent.id), 0)))


def count_devices(db_session):
    return db_session.scalar(sa.select(sa.func.count()).select_from(Device))


def send_event(client, token, event_id="e1", type_="sos"):
    return client.post("/api/v1/device-events", headers={"Authorization": f"Bearer {token}"},
                       json={"event_id": event_id, "type": type_, "occurred_at": NOW})


# --- register ---------------------------------------------------------------------------------------

def test_http_device_gets_a_token_once_stored_as_a_hash_and_it_works(client, db_session, admin, homes):
    response = register(client, admin, uid="hub-0001", protocol="http", household_id=homes[0].id)
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == {"id", "uid", "protocol", "token"}
    assert (body["uid"], body["protocol"]) == ("hub-0001", "http")
    device = device_of(db_session, body["id"])
    secret = body["token"].split(".", 1)[1]
    assert body["token"].startswith(f"d{device.id}.")
    assert device.token_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in str(db_session.execute(sa.select(Device.__table__).where(Device.id == device.id)).one())
    assert (device.household_id, device.status, device.heartbeat_interval_s) == (homes[0].id, "active", 300)

    shown = client.get(f"/api/v1/devices/{device.id}", headers=admin).get_json()
    assert "token" not in shown and "token_hash" not in shown and shown["has_token"] is True
    accepted = send_event(client, body["token"])
    assert accepted.status_code == 202 and accepted.get_json()["incident_id"]

    [entry] = audits(db_session, "device.register", device.id)
    assert entry.actor_label == "admin" and entry.target_type == "device"
    assert entry.detail["uid"] == "hub-0001" and body["token"] not in str(entry.detail)


@pytest.mark.parametrize(("protocol", "uid"), [("dc09", "1234AB"), ("watch", "862012345678"),
                                               ("sms", "+8613800001111")])
def test_other_protocols_get_no_token(client, db_session, admin, homes, protocol, uid):
    body = register(client, admin, uid=uid, protocol=protocol, household_id=homes[0].id).get_json()
    assert set(body) == {"id", "uid", "protocol"}
    assert device_of(db_session, body["id"]).token_hash is None


@pytest.mark.parametrize("written", ["13812345678", "138 1234 5678", "+86 138-1234-5678", "008613812345678"])
def test_sms_uid_is_the_e164_number(client, db_session, admin, homes, written):
    body = register(client, admin, uid=written, protocol="sms", household_id=homes[0].id).get_json()
    assert body["uid"] == "+8613812345678"
    device = device_of(db_session, body["id"])
    assert device.uid == device.phone == "+8613812345678"
    assert device.heartbeat_interval_s == 86_400  # no model: the protocol's default


def test_phone_of_other_devices_is_normalised_too(client, db_session, admin, homes):
    body = register(client, admin, uid="8620000001", protocol="watch", household_id=homes[0].id,
                    phone="139 0000 1111").get_json()
    assert device_of(db_session, body["id"]).phone == "+8613900001111"


def test_dc09_account_and_key_are_stored_upper_case_and_the_key_never_shown(client, db_session, admin, homes):
    key = "00112233445566778899aabbccddeeff"
    body = register(client, admin, uid="ab12", protocol="dc09", household_id=homes[0].id, aes_key=key).get_json()
    assert body["uid"] == "AB12"
    device = device_of(db_session, body["id"])
    assert device.aes_key == key.upper()
    shown = client.get(f"/api/v1/devices/{device.id}", headers=admin).get_json()
    assert shown["has_aes_key"] is True and "aes_key" not in shown
    assert key.upper() not in str(audits(db_session, "device.register", device.id)[0].detail)


def test_heartbeat_interval_defaults_to_the_model_then_the_protocol(client, db_session, admin, homes):
    model = register(client, admin, uid="AB01", protocol="dc09", household_id=homes[0].id, model="HX-EN300")
    unknown = register(client, admin, uid="AB02", protocol="dc09", household_id=homes[0].id, model="Other-9")
    explicit = register(client, admin, uid="AB03", protocol="dc09", household_id=homes[0].id, model="HX-EN300",
                        heartbeat_interval_s=120)
    intervals = [device_of(db_session, r.get_json()["id"]).heartbeat_interval_s for r in (model, unknown, explicit)]
    assert intervals == [900, 3600, 120]
    assert device_of(db_session, unknown.get_json()["id"]).model == "Other-9"


BAD = [
    ({"protocol": "dc09", "uid": "XYZ1"}, "uid"),
    ({"protocol": "dc09", "uid": "12"}, "uid"),
    ({"protocol": "dc09", "uid": "1" * 17}, "uid"),
    ({"protocol": "watch", "uid": "12345"}, "uid"),
    ({"protocol": "watch", "uid": "12345a7"}, "uid"),
    ({"protocol": "sms", "uid": "12345"}, "uid"),
    ({"protocol": "sms", "uid": "call me"}, "uid"),
    ({"protocol": "http", "uid": "has space"}, "uid"),
    ({"protocol": "http", "uid": "x" * 65}, "uid"),
    ({"protocol": "http", "uid": ""}, "uid"),
    ({"protocol": "zigbee", "uid": "A1"}, "protocol"),
    ({"protocol": "watch", "uid": "8620000002", "aes_key": "0" * 32}, "aes_key"),
    ({"protocol": "dc09", "uid": "AB1", "aes_key": "0" * 31}, "aes_key"),
    ({"protocol": "dc09", "uid": "AB1", "aes_key": "0" * 40}, "aes_key"),
    ({"protocol": "dc09", "uid": "AB1", "aes_key": "g" * 32}, "aes_key"),
    ({"protocol": "dc09", "uid": "AB1", "heartbeat_interval_s": 29}, "heartbeat_interval_s"),
    ({"protocol": "dc09", "uid": "AB1", "heartbeat_interval_s": 172_801}, "heartbeat_interval_s"),
    ({"protocol": "dc09", "uid": "AB1", "heartbeat_interval_s": "300"}, "heartbeat_interval_s"),
    ({"protocol": "dc09", "uid": "AB1", "heartbeat_interval_s": True}, "heartbeat_interval_s"),
    ({"protocol": "dc09", "uid": "AB1", "phone": "12"}, "phone"),
    ({"protocol": "dc09", "uid": "AB1", "model": "GW-S6"}, "model"),  # a watch model
    ({"protocol": "sms", "uid": "13812345678", "phone": "13900000000"}, "phone"),
    ({"protocol": "dc09", "uid": "AB1", "household_id": 99_999_999}, "household_id"),
    ({"protocol": "dc09", "uid": "AB1", "household_id": "1"}, "household_id"),
    ({"protocol": "dc09", "uid": "AB1", "colour": "red"}, "colour"),
]


@pytest.mark.parametrize(("body", "field"), BAD)
def test_bad_input_is_a_400_field_error_and_registers_nothing(client, db_session, admin, homes, body, field):
    before = count_devices(db_session)
    response = register(client, admin, **{"household_id": homes[0].id, **body})
    assert response.status_code == 400, response.get_json()
    assert field in error_of(response)["fields"]
    assert count_devices(db_session) == before


def test_missing_fields_are_named(client, admin):
    fields = error_of(register(client, admin))["fields"]
    assert {"uid", "protocol", "household_id"} <= set(fields)


def test_messages_follow_the_language(client, admin, homes):
    zh = error_of(register(client, admin, uid="12", protocol="watch", household_id=homes[0].id))
    en = client.post("/api/v1/devices?lang=en", headers=admin,
                     json={"uid": "12", "protocol": "watch", "household_id": homes[0].id})
    assert zh["fields"]["uid"] == ["手表编号：6 至 20 位数字。"]
    assert error_of(en)["fields"]["uid"] == ["A watch id: 6 to 20 digits."]


def test_a_retired_household_cannot_get_devices(client, db_session, admin, homes):
    homes[1].active = False
    db_session.commit()
    response = register(client, admin, uid="AB1", protocol="dc09", household_id=homes[1].id)
    assert response.status_code == 400 and "household_id" in error_of(response)["fields"]


def test_the_same_uid_twice_is_409(client, db_session, admin, homes):
    assert register(client, admin, uid="13812345678", protocol="sms", household_id=homes[0].id).status_code == 201
    again = register(client, admin, uid="+86 138 1234 5678", protocol="sms", household_id=homes[1].id)
    assert again.status_code == 409
    assert error_of(again)["code"] == "conflict" and "uid" in error_of(again)["fields"]
    # The same id under another protocol is another device.
    assert register(client, admin, uid="13812345678", protocol="http", household_id=homes[1].id).status_code == 201


def test_the_database_decides_a_race_between_two_registrations(client, db_session, admin, homes, monkeypatch):
    from eldercare.devices import registry

    assert register(client, admin, uid="ACE01", protocol="dc09", household_id=homes[0].id).status_code == 201
    monkeypatch.setattr(registry, "_refuse_duplicate", lambda protocol, uid: None)  # both passed the check
    again = register(client, admin, uid="ace01", protocol="dc09", household_id=homes[1].id)
    assert again.status_code == 409 and "uid" in error_of(again)["fields"]
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Device).where(Device.uid == "ACE01")) == 1


def test_a_retired_devices_uid_stays_taken(client, admin, homes):
    device_id = register(client, admin, uid="AB77", protocol="dc09", household_id=homes[0].id).get_json()["id"]
    client.post(f"/api/v1/devices/{device_id}/retire", headers=admin)
    again = register(client, admin, uid="AB77", protocol="dc09", household_id=homes[0].id)
    assert again.status_code == 409 and f"#{device_id}" in error_of(again)["fields"]["uid"][0]


def test_registering_forgets_an_unknown_uid_the_intake_had_cached(app, client, admin, homes):
    directory = intake_for(app).directory
    assert directory.lookup("watch", "8620009999") is None  # a device that reported before registration
    register(client, admin, uid="8620009999", protocol="watch", household_id=homes[0].id)
    assert directory.lookup("watch", "8620009999") is not None


@pytest.mark.parametrize(("username", "status"), [("supervisor1", 403), ("operator1", 403), ("provider1", 403),
                                                  ("team1", 403)])
def test_only_admins_register(client, auth_headers, homes, username, status):
    response = register(client, auth_headers(username), uid="AB1", protocol="dc09", household_id=homes[0].id)
    assert response.status_code == status and error_of(response)["code"] == "forbidden"


def test_without_credentials_every_registry_route_is_401(client):
    for method, path in [("GET", "/api/v1/devices"), ("POST", "/api/v1/devices"), ("GET", "/api/v1/devices/1"),
                         ("PATCH", "/api/v1/devices/1"), ("POST", "/api/v1/devices/1/retire"),
                         ("POST", "/api/v1/devices/1/token"), ("POST", "/api/v1/devices/import"),
                         ("GET", "/api/v1/device-models"), ("POST", "/api/v1/device-models")]:
        response = client.open(path, method=method, json={})
        assert response.status_code == 401, (method, path)
        assert error_of(response)["code"] == "unauthenticated"


# --- list and read ------------------------------------------------------------------------------------

def test_list_is_paginated_and_filtered_for_the_call_centre(client, db_session, auth_headers, admin, homes):
    device_id = register(client, admin, uid="FIND-ME-1", protocol="http", household_id=homes[1].id).get_json()["id"]
    for username in ("operator1", "supervisor1", "admin"):
        body = client.get("/api/v1/devices?per_page=5", headers=auth_headers(username)).get_json()
        assert len(body["items"]) == 5 and body["total"] == count_devices(db_session)
    headers = auth_headers("operator1")
    found = client.get("/api/v1/devices?q=find-me", headers=headers).get_json()
    assert [d["id"] for d in found["items"]] == [device_id] and found["total"] == 1
    assert found["items"][0]["household_code"] == homes[1].code
    by_home = client.get(f"/api/v1/devices?household_id={homes[1].id}", headers=headers).get_json()
    assert device_id in [d["id"] for d in by_home["items"]]
    assert all(d["household_id"] == homes[1].id for d in by_home["items"])
    dc09 = client.get("/api/v1/devices?protocol=dc09&status=active&per_page=500", headers=headers).get_json()
    assert dc09["total"] > 0 and {(d["protocol"], d["status"]) for d in dc09["items"]} == {("dc09", "active")}
    assert client.get("/api/v1/devices?q=" + homes[1].code, headers=headers).get_json()["total"] >= 1


def test_list_never_shows_secrets(client, admin):
    for item in client.get("/api/v1/devices?protocol=dc09&per_page=200", headers=admin).get_json()["items"]:
        assert not {"aes_key", "token_hash", "token"} & set(item)
        assert isinstance(item["has_aes_key"], bool)


def test_list_filters_are_validated(client, admin):
    for query in ("protocol=zigbee", "status=lost", "per_page=501", "household_id=x", "q="):
        response = client.get(f"/api/v1/devices?{query}", headers=admin)
        assert response.status_code == 400, query


def test_field_staff_cannot_read_the_registry(client, auth_headers):
    for username in ("provider1", "team1"):
        assert client.get("/api/v1/devices", headers=auth_headers(username)).status_code == 403
        assert client.get("/api/v1/devices/1", headers=auth_headers(username)).status_code == 403


def test_unknown_device_is_404(client, admin):
    for method, path in [("GET", "/api/v1/devices/99999999"), ("PATCH", "/api/v1/devices/99999999"),
                         ("POST", "/api/v1/devices/99999999/retire"), ("POST", "/api/v1/devices/99999999/token")]:
        response = client.open(path, method=method, json={}, headers=admin)
        assert response.status_code == 404 and error_of(response)["code"] == "not_found", (method, path)


# --- change, move -------------------------------------------------------------------------------------

def test_move_to_another_household_is_audited(client, db_session, admin, homes):
    device_id = register(client, admin, uid="8620000003", protocol="watch", household_id=homes[0].id).get_json()["id"]
    response = client.patch(f"/api/v1/devices/{device_id}", json={"household_id": homes[1].id}, headers=admin)
    assert response.status_code == 200
    assert response.get_json()["household_id"] == homes[1].id
    assert device_of(db_session, device_id).household_id == homes[1].id
    [move] = audits(db_session, "device.move", device_id)
    assert move.detail == {"from_household_id": homes[0].id, "to_household_id": homes[1].id}
    assert audits(db_session, "device.update", device_id) == []  # nothing else changed


def test_changes_to_model_interval_phone_and_key(client, db_session, admin, homes):
    device_id = register(client, admin, uid="AB20", protocol="dc09", household_id=homes[0].id,
                         model="HX-EN200").get_json()["id"]
    assert device_of(db_session, device_id).heartbeat_interval_s == 3600

    def patch(**changes):
        return client.patch(f"/api/v1/devices/{device_id}", json=changes, headers=admin)

    assert patch(model="HX-EN300").get_json()["heartbeat_interval_s"] == 900  # the new model's rhythm
    assert patch(heartbeat_interval_s=600).get_json()["heartbeat_interval_s"] == 600
    assert patch(phone="13700001111").get_json()["phone"] == "+8613700001111"
    assert patch(aes_key="ab" * 24).get_json()["has_aes_key"] is True
    assert device_of(db_session, device_id).aes_key == "AB" * 24
    assert patch(aes_key=None, phone=None).get_json()["has_aes_key"] is False
    device = device_of(db_session, device_id)
    assert device.aes_key is None and device.phone is None
    changes = [e.detail["changes"] for e in audits(db_session, "device.update", device_id)]
    assert changes[0] == {"model": ["HX-EN200", "HX-EN300"], "heartbeat_interval_s": [3600, 900]}
    assert changes[3] == {"aes_key": [None, "set"]}  # the key itself is never written down
    assert patch().status_code == 200  # nothing to change
    assert len(audits(db_session, "device.update", device_id)) == 5


@pytest.mark.parametrize(("changes", "field"), [
    ({"household_id": 99_999_999}, "household_id"), ({"heartbeat_interval_s": 10}, "heartbeat_interval_s"),
    ({"phone": "0"}, "phone"), ({"aes_key": "0" * 32}, "aes_key"), ({"model": "HX-EN200"}, "model"),
    ({"uid": "123456"}, "uid"), ({"protocol": "sms"}, "protocol"),
])
def test_bad_changes_are_400_and_change_nothing(client, db_session, admin, homes, changes, field):
    device_id = register(client, admin, uid="8620000004", protocol="watch", household_id=homes[0].id).get_json()["id"]
    response = client.patch(f"/api/v1/devices/{device_id}", json=changes, headers=admin)
    assert response.status_code == 400 and field in error_of(response)["fields"]
    device = device_of(db_session, device_id)
    assert (device.household_id, device.heartbeat_interval_s, device.phone) == (homes[0].id, 300, None)


def test_an_sms_devices_phone_stays_its_uid(client, admin, homes):
    device_id = register(client, admin, uid="13812340000", protocol="sms", household_id=homes[0].id).get_json()["id"]
    assert client.patch(f"/api/v1/devices/{device_id}", json={"phone": "13812340001"},
                        headers=admin).status_code == 400
    assert client.patch(f"/api/v1/devices/{device_id}", json={"phone": None}, headers=admin).status_code == 400
    assert client.patch(f"/api/v1/devices/{device_id}", json={"phone": "138 1234 0000"},
                        headers=admin).status_code == 200


def test_only_admins_change_devices(client, auth_headers):
    for username in ("supervisor1", "operator1"):
        headers = auth_headers(username)
        assert client.patch("/api/v1/devices/1", json={"heartbeat_interval_s": 600},
                            headers=headers).status_code == 403
        assert client.post("/api/v1/devices/1/retire", headers=headers).status_code == 403
        assert client.post("/api/v1/devices/1/token", headers=headers).status_code == 403


# --- retire ---------------------------------------------------------------------------------------------

def test_retire_refuses_the_devices_events_and_is_audited_once(app, client, db_session, admin, homes):
    body = register(client, admin, uid="hub-retire", protocol="http", household_id=homes[0].id).get_json()
    assert send_event(client, body["token"], "before").status_code == 202
    directory = intake_for(app).directory
    assert directory.lookup("http", "hub-retire") is not None  # cached by the intake

    response = client.post(f"/api/v1/devices/{body['id']}/retire", json={"reason": "moved to a care home"},
                           headers=admin)
    assert response.status_code == 200
    shown = response.get_json()
    assert shown["status"] == "retired" and shown["retired_at"] and shown["has_token"] is False
    assert directory.lookup("http", "hub-retire") is None  # forgotten at once, not after the TTL

    refused = send_event(client, body["token"], "after")  # this process forgot the token at once too
    assert refused.status_code == 401 and error_of(refused)["code"] == "unauthenticated"

    assert client.post(f"/api/v1/devices/{body['id']}/retire", headers=admin).status_code == 200  # no-op
    [entry] = audits(db_session, "device.retire", body["id"])
    assert entry.detail["reason"] == "moved to a care home" and entry.actor_label == "admin"
    assert device_of(db_session, body["id"]).retired_at is not None


def test_a_retired_dc09_account_is_unknown_to_the_receivers_at_once(app, client, admin, homes):
    device_id = register(client, admin, uid="DEAD01", protocol="dc09", household_id=homes[0].id).get_json()["id"]
    directory = intake_for(app).directory
    assert directory.lookup("dc09", "DEAD01").id == device_id
    client.post(f"/api/v1/devices/{device_id}/retire", headers=admin)
    assert directory.lookup("dc09", "DEAD01") is None


def test_a_retired_device_cannot_be_changed(client, admin, homes):
    body = register(client, admin, uid="hub-gone", protocol="http", household_id=homes[0].id).get_json()
    client.post(f"/api/v1/devices/{body['id']}/retire", headers=admin)
    for response in (client.patch(f"/api/v1/devices/{body['id']}", json={"household_id": homes[1].id},
                                  headers=admin),
                     client.post(f"/api/v1/devices/{body['id']}/token", headers=admin)):
        assert response.status_code == 409 and error_of(response)["code"] == "retired"


# --- tokens ---------------------------------------------------------------------------------------------

def test_rotating_a_token_kills_the_old_one(app, client, db_session, admin, homes):
    body = register(client, admin, uid="hub-rotate", protocol="http", household_id=homes[0].id).get_json()
    response = client.post(f"/api/v1/devices/{body['id']}/token", headers=admin)
    assert response.status_code == 200
    rotated = response.get_json()
    assert set(rotated) == {"id", "uid", "protocol", "token"} and rotated["token"] != body["token"]
    assert send_event(client, body["token"], "old").status_code == 401
    assert send_event(client, rotated["token"], "new").status_code == 202
    assert len(audits(db_session, "device.token_rotate", body["id"])) == 1


def test_only_http_devices_have_tokens(client, admin, homes):
    device_id = register(client, admin, uid="8620000005", protocol="watch", household_id=homes[0].id).get_json()["id"]
    response = client.post(f"/api/v1/devices/{device_id}/token", headers=admin)
    assert response.status_code == 400 and error_of(response)["code"] == "not_http"


# --- CSV import -----------------------------------------------------------------------------------------

def csv_text(*rows):
    return "\n".join([HEADER, *rows]) + "\n"


def upload(client, headers, text, *, encoding="utf-8", filename="devices.csv"):
    data = {"file": (io.BytesIO(text.encode(encoding) if isinstance(text, str) else text), filename)}
    return client.post("/api/v1/devices/import", data=data, headers=headers, content_type="multipart/form-data")


def test_import_registers_every_row_and_returns_the_http_tokens_once(client, db_session, admin, homes):
    a, b = homes[0].code, homes[1].code
    since = last_audit_id(db_session)
    response = upload(client, admin, csv_text(
        f"cafe01,dc09,{a},HX-EN300,,{'1f' * 16},",
        f"8620001001,watch,{b},GW-S8,13600001111,,",
        f"13600002222,sms,{a},SOS-M1,,,",
        f"imp-hub-1,http,{a},EC-HUB2,,,",
        f"imp-hub-2,http,{b},,,,700",
    ))
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["count"] == 5
    assert [(t["line"], t["uid"]) for t in body["tokens"]] == [(5, "imp-hub-1"), (6, "imp-hub-2")]
    devices = {d.uid: d for d in db_session.scalars(sa.select(Device).where(Device.uid.in_(
        ["CAFE01", "8620001001", "+8613600002222", "imp-hub-1", "imp-hub-2"])))}
    assert len(devices) == 5
    assert devices["CAFE01"].aes_key == "1F" * 16 and devices["CAFE01"].heartbeat_interval_s == 900
    assert devices["8620001001"].phone == "+8613600001111" and devices["8620001001"].household_id == homes[1].id
    assert devices["+8613600002222"].phone == "+8613600002222"
    assert devices["imp-hub-2"].heartbeat_interval_s == 700 and devices["imp-hub-1"].heartbeat_interval_s == 300
    assert devices["imp-hub-1"].token_hash and devices["CAFE01"].token_hash is None
    for token in body["tokens"]:
        assert send_event(client, token["token"], f"imp-{token['line']}", "test").status_code == 202
    [entry] = audits(db_session, "device.import", since=since)
    assert entry.detail["count"] == 5 and sorted(entry.detail["ids"]) == sorted(d.id for d in devices.values())
    assert entry.detail["filename"] == "devices.csv"
    assert not any(t["token"] in str(entry.detail) for t in body["tokens"])


def test_import_is_all_or_nothing_with_an_error_per_bad_row(client, db_session, admin, homes):
    a = homes[0].code
    register(client, admin, uid="8620002000", protocol="watch", household_id=homes[0].id)
    before, since = count_devices(db_session), last_audit_id(db_session)
    response = upload(client, admin, csv_text(
        f"beef01,dc09,{a},,,,",  # line 2: good
        "beef02,dc09,NO-SUCH-HOME,,,,",  # 3: unknown household
        f"beef03,zigbee,{a},,,,",  # 4: protocol
        f"beef01,dc09,{a},,,,",  # 5: twice in the file
        f"8620002000,watch,{a},,,,",  # 6: already registered
        f"beef06,dc09,{a},GW-S6,,,",  # 7: a watch model
        f"beef07,dc09,{a},,,,10",  # 8: interval
        f"beef08,dc09,{a},,,,,surplus",  # 9: more cells than columns
        f"12345,sms,{a},,,,",  # 10: not a phone number
        f"beef10,watch,{a},,,{'0' * 32},",  # 11: key on a watch, bad uid
        "",
        f"beef11,dc09,{a},,,,",  # 13: good (after a blank line)
    ))
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "invalid_rows"
    rows = error["fields"]["rows"]
    assert set(rows) == {"3", "4", "5", "6", "7", "8", "9", "10", "11"}
    assert set(rows["3"]) == {"household_code"} and set(rows["4"]) == {"protocol"}
    assert set(rows["5"]) == {"uid"} and "2" in rows["5"]["uid"][0]
    assert set(rows["6"]) == {"uid"} and set(rows["7"]) == {"model"}
    assert set(rows["8"]) == {"heartbeat_interval_s"} and set(rows["9"]) == {"_row"}
    assert set(rows["10"]) == {"uid"} and set(rows["11"]) == {"uid", "aes_key"}
    assert count_devices(db_session) == before  # nothing half-imported
    assert audits(db_session, "device.import", since=since) == []

    fixed = upload(client, admin, csv_text(f"beef01,dc09,{a},,,,", f"beef11,dc09,{a},,,,"))
    assert fixed.status_code == 201 and fixed.get_json() == {"count": 2, "tokens": []}


def test_an_import_racing_a_registration_imports_nothing(client, db_session, admin, homes, monkeypatch):
    from eldercare.devices import registry

    register(client, admin, uid="8620002100", protocol="watch", household_id=homes[0].id)
    before = count_devices(db_session)
    monkeypatch.setattr(registry, "_check_duplicates", lambda rows, errors: None)  # registered after the check
    response = upload(client, admin, csv_text(f"8620002101,watch,{homes[0].code},,,,",
                                              f"8620002100,watch,{homes[0].code},,,,"))
    assert response.status_code == 409 and error_of(response)["code"] == "conflict"
    assert count_devices(db_session) == before


def test_import_takes_a_text_csv_body_with_only_the_required_columns(client, db_session, admin, homes):
    text = f"protocol,uid,household_code\r\nwatch,8620003001,{homes[0].code}\r\n"
    response = client.post("/api/v1/devices/import", data=text.encode(), headers=admin, content_type="text/csv")
    assert response.status_code == 201 and response.get_json()["count"] == 1
    assert db_session.scalar(sa.select(Device.heartbeat_interval_s).where(Device.uid == "8620003001")) == 300


def test_import_reads_excel_files_utf8_with_bom_and_gbk(client, db_session, admin, homes):
    bom = "\ufeff" + csv_text(f"8620004001,watch,{homes[0].code},,,,")
    assert upload(client, admin, bom, encoding="utf-8").status_code == 201
    gbk = csv_text(f"8620004002,watch,{homes[0].code},老人手表,,,")
    assert upload(client, admin, gbk, encoding="gbk").status_code == 201
    assert db_session.scalar(sa.select(Device.model).where(Device.uid == "8620004002")) == "老人手表"


@pytest.mark.parametrize(("text", "code", "field"), [
    ("", "invalid_csv", "file"),
    (HEADER + "\n", "invalid_csv", "file"),
    ("uid,protocol\nAB1,dc09\n", "invalid_csv", "header"),
    ("uid,protocol,household_code,colour\nAB1,dc09,H1,red\n", "invalid_csv", "header"),
    ("uid,uid,protocol,household_code\n", "invalid_csv", "header"),
    (b"\x00\x01\x02binary", "invalid_csv", "file"),
    (b"\xff\xfe\xfa\xfb", "invalid_csv", "file"),
])
def test_unreadable_files_are_400(client, admin, text, code, field):
    response = upload(client, admin, text)
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == code and field in error["fields"]


def test_import_limits(client, db_session, admin, homes):
    rows = "".join(f"{i:06X},dc09,{homes[0].code},,,,\n" for i in range(50_001))
    too_many = upload(client, admin, HEADER + "\n" + rows)
    assert too_many.status_code == 400 and error_of(too_many)["code"] == "too_many_rows"
    huge = upload(client, admin, HEADER + "\n" + "x" * (5 * 1024 * 1024))
    assert huge.status_code == 413 and error_of(huge)["code"] == "payload_too_large"


def test_import_needs_a_file(client, admin):
    assert "file" in error_of(client.post("/api/v1/devices/import", json={}, headers=admin))["fields"]
    response = client.post("/api/v1/devices/import", data={"other": "x"}, headers=admin,
                           content_type="multipart/form-data")
    assert response.status_code == 400 and "file" in error_of(response)["fields"]


def test_only_admins_import(client, auth_headers, homes):
    response = upload(client, auth_headers("supervisor1"), csv_text(f"8620005001,watch,{homes[0].code},,,,"))
    assert response.status_code == 403


# --- device models ------------------------------------------------------------------------------------------

def test_device_models_are_listed_for_the_call_centre(client, auth_headers):
    body = client.get("/api/v1/device-models?protocol=watch", headers=auth_headers("operator1")).get_json()
    assert {m["code"] for m in body["items"]} == {"GW-S6", "GW-S8"}
    assert body["items"][0]["heartbeat_interval_s"] and body["items"][0]["low_battery_pct"]
    assert client.get("/api/v1/device-models", headers=auth_headers("provider1")).status_code == 403


def test_admins_add_and_tune_device_models(client, db_session, admin, auth_headers, homes):
    model = {"code": "GW-X1", "name": "GW-X1 手表", "protocol": "watch", "heartbeat_interval_s": 900,
             "low_battery_pct": 15}
    response = client.post("/api/v1/device-models", json=model, headers=admin)
    assert response.status_code == 201
    model_id = response.get_json()["id"]
    assert client.post("/api/v1/device-models", json=model, headers=admin).status_code == 409
    assert client.post("/api/v1/device-models", json=model, headers=auth_headers("supervisor1")).status_code == 403
    bad = client.post("/api/v1/device-models", json={**model, "code": "bad code", "low_battery_pct": 0,
                                                     "protocol": "x"}, headers=admin)
    assert set(error_of(bad)["fields"]) == {"code", "low_battery_pct", "protocol"}

    device_id = register(client, admin, uid="8620006001", protocol="watch", household_id=homes[0].id,
                         model="GW-X1").get_json()["id"]
    assert device_of(db_session, device_id).heartbeat_interval_s == 900
    tuned = client.patch(f"/api/v1/device-models/{model_id}", json={"heartbeat_interval_s": 1200}, headers=admin)
    assert tuned.status_code == 200 and tuned.get_json()["heartbeat_interval_s"] == 1200
    assert device_of(db_session, device_id).heartbeat_interval_s == 900  # only new registrations
    client.patch(f"/api/v1/device-models/{model_id}", json={"apply_to_devices": True}, headers=admin)
    assert device_of(db_session, device_id).heartbeat_interval_s == 1200
    assert [e.detail["devices_updated"] for e in audits(db_session, "device_model.update", model_id)] == [0, 1]
    assert len(audits(db_session, "device_model.create", model_id)) == 1
    assert db_session.get(DeviceModel, model_id).heartbeat_interval_s == 1200


def test_openapi_documents_the_registry(client):
    paths = client.get("/api/openapi.json").get_json()["paths"]
    create = paths["/api/v1/devices"]["post"]
    assert create["requestBody"] and {"201", "400", "409"} <= set(create["responses"])
    assert set(paths["/api/v1/devices/import"]["post"]["requestBody"]["content"]) == {"multipart/form-data",
                                                                                       "text/csv"}
    assert "patch" in paths["/api/v1/devices/{device_id}"]
