"""The supervisor view's API: operator load and /ops presence, unclaimed alarms, mass cancel of false alarms
(through the INCIDENT state machine, skipping what was claimed meanwhile, decided by the database), and the
review list of alarms answered after 3 minutes."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa

from eldercare.alerts import escalation
from eldercare.alerts.models import Incident
from eldercare.alerts.services import open_or_merge
from eldercare.core import events, presence
from eldercare.core.auth import issue_token
from eldercare.core.events import OPS_NAMESPACE
from eldercare.core.models import AuditEvent, StateEvent, Timer
from eldercare.core.time import utcnow
from eldercare.extensions import db, socketio
from tests.conftest import RequestScopedClient
from tests.helpers import error_of, open_incident, quiet_homes, user_named


@pytest.fixture(autouse=True)
def _setup(app) -> Iterator[None]:
    app.extensions["celery"].set_current()
    app.extensions["celery"].set_default()
    with app.app_context():
        presence.forget_all()
    yield
    with app.app_context():
        presence.forget_all()


def token(ops, username: str) -> str:
    return ops(username)["Authorization"].split()[1]


def operator_row(client, ops, username: str) -> dict:
    response = client.get("/api/v1/supervisor/operators", headers=ops("supervisor1"))
    assert response.status_code == 200, response.get_json()
    return next(item for item in response.get_json()["items"] if item["username"] == username)


def history_of(session, incident_id: int) -> list[StateEvent]:
    return session.scalars(sa.select(StateEvent).where(StateEvent.entity_type == "incident",
                                                       StateEvent.entity_id == incident_id)
                           .order_by(StateEvent.id)).all()


# --- operators and their load ----------------------------------------------------------------------------

def test_operator_load_counts_what_each_holds(client, db_session, ops):
    homes = quiet_homes(db_session, 2)
    first, second = (open_incident(db_session, home, "sos", ago_s=30) for home in homes)
    before = operator_row(client, ops, "operator2")["held"]
    for incident in (first, second):
        assert client.post(f"/api/v1/incidents/{incident.id}/claim", headers=ops("operator2")).status_code == 200
    row = operator_row(client, ops, "operator2")
    assert row["held"] == before + 2 and row["role"] == "operator"
    assert row["oldest_claim_at"] and row["oldest_claim_age_s"] >= 0
    usernames = [item["username"] for item in
                 client.get("/api/v1/supervisor/operators", headers=ops("admin")).get_json()["items"]]
    assert "provider1" not in usernames and "team1" not in usernames  # the call centre only


def test_presence_follows_the_ops_socket_and_supervisors_hear_of_it(app, client, db_session, ops):
    watcher = socketio.test_client(app, namespace=OPS_NAMESPACE, auth={"token": token(ops, "supervisor1")})
    operator = None
    try:
        assert operator_row(client, ops, "operator1")["online"] is False
        watcher.get_received(OPS_NAMESPACE)
        operator = socketio.test_client(app, namespace=OPS_NAMESPACE, auth={"token": token(ops, "operator1")})
        assert operator.is_connected(OPS_NAMESPACE)
        row = operator_row(client, ops, "operator1")
        assert (row["online"], row["connections"]) == (True, 1)
        operator1 = user_named(db_session, "operator1")
        heard = [m["args"][0] for m in watcher.get_received(OPS_NAMESPACE) if m["name"] == "operator.presence"]
        assert heard == [{"id": operator1.id, "status": "online", "connections": 1}]
        assert [item["online"] for item in client.get("/api/v1/supervisor/operators", headers=ops(
            "supervisor1")).get_json()["items"]][:1] == [True]  # online first
        operator.disconnect(namespace=OPS_NAMESPACE)
        assert operator_row(client, ops, "operator1")["online"] is False
        heard = [m["args"][0] for m in watcher.get_received(OPS_NAMESPACE) if m["name"] == "operator.presence"]
        assert heard == [{"id": operator1.id, "status": "offline", "connections": 0}]
    finally:
        watcher.disconnect(namespace=OPS_NAMESPACE)


def test_operators_see_no_presence_events(app, db_session, ops):
    other = socketio.test_client(app, namespace=OPS_NAMESPACE, auth={"token": token(ops, "operator2")})
    try:
        other.get_received(OPS_NAMESPACE)
        operator = socketio.test_client(app, namespace=OPS_NAMESPACE, auth={"token": token(ops, "operator1")})
        operator.disconnect(namespace=OPS_NAMESPACE)
        assert [m for m in other.get_received(OPS_NAMESPACE) if m["name"] == "operator.presence"] == []
    finally:
        other.disconnect(namespace=OPS_NAMESPACE)


# --- unclaimed alarms ------------------------------------------------------------------------------------

def test_unclaimed_lists_and_filters(client, db_session, ops):
    homes = quiet_homes(db_session, 3)
    old_sos = open_incident(db_session, homes[0], "sos", ago_s=900)
    battery = open_incident(db_session, homes[1], "low_battery", ago_s=60)
    claimed = open_incident(db_session, homes[2], "fall", ago_s=30)
    client.post(f"/api/v1/incidents/{claimed.id}/claim", headers=ops("operator1"))
    headers = ops("supervisor1")

    body = client.get("/api/v1/supervisor/unclaimed?per_page=500", headers=headers).get_json()
    ids = [item["id"] for item in body["items"]]
    assert old_sos.id in ids and battery.id in ids and claimed.id not in ids
    assert ids.index(old_sos.id) < ids.index(battery.id)  # oldest first
    item = next(item for item in body["items"] if item["id"] == battery.id)
    assert item["community_id"] == homes[1].household.community_id and item["status"] in ("new", "escalated")

    community = homes[0].household.community_id
    only = client.get(f"/api/v1/supervisor/unclaimed?community_id={community}&per_page=500", headers=headers)
    assert {i["household_id"] for i in only.get_json()["items"]} <= set(db_session.scalars(sa.text(
        "SELECT id FROM households WHERE community_id = :c").bindparams(c=community)))
    technical = client.get("/api/v1/supervisor/unclaimed?priorities=2&per_page=500", headers=headers).get_json()
    assert battery.id in [i["id"] for i in technical["items"]] and {i["priority"] for i in technical["items"]} == {2}
    since = (utcnow() - timedelta(minutes=5)).isoformat()
    recent = client.get("/api/v1/supervisor/unclaimed", query_string={"created_from": since, "per_page": 500},
                        headers=headers).get_json()
    assert battery.id in [i["id"] for i in recent["items"]] and old_sos.id not in [i["id"] for i in recent["items"]]


@pytest.mark.parametrize("query", ["priorities=7", "community_id=abc", "created_from=yesterday",
                                   "created_from=2031-01-02T00:00:00Z&created_to=2031-01-01T00:00:00Z",
                                   "per_page=0"])
def test_unclaimed_bad_filters_are_400(client, ops, query):
    response = client.get(f"/api/v1/supervisor/unclaimed?{query}", headers=ops("supervisor1"))
    assert response.status_code == 400 and error_of(response)["fields"]


# --- mass cancel -----------------------------------------------------------------------------------------

def test_mass_cancel_cancels_the_unclaimed_and_skips_the_claimed(app, client, db_session, ops):
    # Connected first: a socket handler ends the test's session, which would roll back what came before.
    watcher = socketio.test_client(app, namespace=OPS_NAMESPACE, auth={"token": token(ops, "operator2")})
    try:
        homes = quiet_homes(db_session, 3)
        first, second, taken = (open_incident(db_session, home, "power_loss") for home in homes)
        assert client.post(f"/api/v1/incidents/{taken.id}/claim", headers=ops("operator1")).status_code == 200
        watcher.get_received(OPS_NAMESPACE)
        response = client.post("/api/v1/incidents/mass-cancel", headers=ops("supervisor1"), json={
            "incident_ids": [second.id, first.id, taken.id, 999999], "reason": " Power cut in 新城区 "})
        assert response.status_code == 200, response.get_json()
        updates = [m["args"][0] for m in watcher.get_received(OPS_NAMESPACE) if m["name"] == "incident.updated"]
    finally:
        watcher.disconnect(namespace=OPS_NAMESPACE)

    operator1 = user_named(db_session, "operator1")
    body = response.get_json()
    assert body["cancelled"] == sorted([first.id, second.id]) and body["reason"] == "Power cut in 新城区"
    assert body["skipped"] == [{"id": taken.id, "status": "claimed", "claimed_by": operator1.id},
                               {"id": 999999, "status": None, "claimed_by": None}]
    assert sorted((u["id"], u["status"]) for u in updates) == sorted([(first.id, "cancelled"),
                                                                       (second.id, "cancelled")])
    for incident in (first, second):
        db_session.refresh(incident)
        assert (incident.status, incident.outcome, incident.outcome_notes) == (
            "cancelled", "false_alarm", "Power cut in 新城区")
        last = history_of(db_session, incident.id)[-1]
        assert (last.from_state, last.to_state, last.actor_label) == ("new", "cancelled", "supervisor1")
        assert "Power cut in 新城区" in last.reason and last.data["outcome"] == "false_alarm"
        assert db_session.scalar(sa.select(Timer).where(Timer.kind == escalation.TIMER_KIND,
                                                        Timer.ref_id == incident.id,
                                                        Timer.fired_at.is_(None))) is None
    db_session.refresh(taken)
    assert (taken.status, taken.claimed_by_id, taken.outcome) == ("claimed", operator1.id, None)
    audit = db_session.scalars(sa.select(AuditEvent).where(AuditEvent.action == "incident.mass_cancel")
                               .order_by(AuditEvent.id.desc())).first()
    assert audit.actor_label == "supervisor1" and audit.detail["cancelled"] == body["cancelled"]


def test_mass_cancel_by_filter_takes_only_the_matching_unclaimed(client, db_session, ops):
    homes = quiet_homes(db_session, 2)
    inside = open_incident(db_session, homes[0], "low_battery")
    community = homes[0].household.community_id
    outside = next(home for home in quiet_homes(db_session, 50)
                   if home.household.community_id != community and home.household_id != homes[0].household_id)
    elsewhere = open_incident(db_session, outside, "low_battery")
    response = client.post("/api/v1/incidents/mass-cancel", headers=ops("admin"), json={
        "reason": "power cut", "filter": {"community_id": community, "priorities": [2]}})
    assert response.status_code == 200, response.get_json()
    assert inside.id in response.get_json()["cancelled"] and elsewhere.id not in response.get_json()["cancelled"]
    db_session.refresh(elsewhere)
    assert elsewhere.status == "new"


@pytest.mark.parametrize(("body", "field"), [
    ({}, "reason"),
    ({"reason": "x"}, "incident_ids"),
    ({"reason": "   ", "incident_ids": [1]}, "reason"),
    ({"reason": "x" * 201, "incident_ids": [1]}, "reason"),
    ({"reason": "x", "incident_ids": []}, "incident_ids"),
    ({"reason": "x", "incident_ids": ["a"]}, "incident_ids"),
    ({"reason": "x", "incident_ids": [1], "filter": {"community_id": 1}}, "incident_ids"),
    ({"reason": "x", "filter": {}}, "filter"),
    ({"reason": "x", "filter": {"priorities": [1, 2]}}, "filter"),
    ({"reason": "x", "filter": {"community_id": 1, "colour": "red"}}, "filter"),
    ({"reason": "x", "incident_ids": [1], "all": True}, "all"),
])
def test_mass_cancel_bad_input_is_400_with_fields(client, ops, body, field):
    response = client.post("/api/v1/incidents/mass-cancel", headers=ops("supervisor1"), json=body)
    assert response.status_code == 400, response.get_json()
    assert field in error_of(response)["fields"]


def test_operators_may_not_mass_cancel(client, db_session, ops):
    incident = open_incident(db_session, quiet_homes(db_session, 1)[0], "power_loss")
    response = client.post("/api/v1/incidents/mass-cancel", headers=ops("operator1"),
                           json={"reason": "x", "incident_ids": [incident.id]})
    assert response.status_code == 403
    db_session.refresh(incident)
    assert incident.status == "new"


@pytest.fixture
def committed_pair(app) -> Iterator[tuple[int, int]]:
    """Two unclaimed alarms of two homes, committed (the concurrent test needs two real transactions)."""
    with app.app_context():
        homes = quiet_homes(db.session, 2)
        ids = tuple(open_or_merge(device=home, type_="power_loss", at=utcnow(), actor="device:test") for home in homes)
        db.session.commit()
    yield ids
    with app.app_context():
        db.session.execute(sa.delete(StateEvent).where(StateEvent.entity_type == "incident",
                                                       StateEvent.entity_id.in_(ids)))
        db.session.execute(sa.delete(Timer).where(Timer.ref_id.in_(ids), Timer.kind.like("incident.%")))
        db.session.execute(sa.delete(Incident).where(Incident.id.in_(ids)))
        db.session.commit()


def test_an_incident_claimed_concurrently_is_not_cancelled(app, committed_pair):
    """The operator's claim holds the row when the mass cancel reaches it; the database makes the cancel
    wait, then see the claim, so the incident is skipped and keeps its holder."""
    free_id, claimed_id = committed_pair
    with app.app_context():
        supervisor = issue_token(user_named(db.session, "supervisor1"))[0]
        operator_id = user_named(db.session, "operator1").id
        claim = db.engine.connect()
        in_flight = claim.begin()
        claim.execute(sa.update(Incident).where(Incident.id == claimed_id, Incident.status == "new")
                      .values(status="claimed", claimed_by_id=operator_id, claimed_at=utcnow()))
        results: dict[str, object] = {}

        def mass_cancel() -> None:
            client = RequestScopedClient(app, app.response_class)
            response = client.post("/api/v1/incidents/mass-cancel", headers={"Authorization": f"Bearer {supervisor}"},
                                   json={"incident_ids": [free_id, claimed_id], "reason": "power cut"})
            results["status"], results["body"] = response.status_code, response.get_json()

        thread = threading.Thread(target=mass_cancel)
        thread.start()
        time.sleep(1.0)
        assert thread.is_alive(), "the cancel should be waiting for the claim's row lock"
        in_flight.commit()
        claim.close()
        thread.join(15)

        assert results["status"] == 200, results
        assert results["body"]["cancelled"] == [free_id]
        assert results["body"]["skipped"] == [{"id": claimed_id, "status": "claimed", "claimed_by": operator_id}]
        db.session.expire_all()
        claimed = db.session.get(Incident, claimed_id)
        assert (claimed.status, claimed.claimed_by_id, claimed.outcome) == ("claimed", operator_id, None)
        assert db.session.get(Incident, free_id).status == "cancelled"
        assert "cancelled" not in [e.to_state for e in history_of(db.session, claimed_id)]
        db.session.remove()


# --- review list -----------------------------------------------------------------------------------------

@pytest.fixture
def late(client, db_session, ops) -> Incident:
    """An alarm answered after 4 minutes: flagged for review by the claim."""
    incident = open_incident(db_session, quiet_homes(db_session, 1)[0], "fall", ago_s=240)
    assert client.post(f"/api/v1/incidents/{incident.id}/claim", headers=ops("operator1")).status_code == 200
    db_session.refresh(incident)
    assert incident.review_flag
    return incident


def review_ids(client, ops, state: str = "pending") -> list[int]:
    response = client.get(f"/api/v1/incidents/reviews?state={state}&per_page=500", headers=ops("supervisor1"))
    assert response.status_code == 200, response.get_json()
    return [item["id"] for item in response.get_json()["items"]]


def test_review_list_and_mark_reviewed(client, db_session, ops, late, monkeypatch):
    listed = client.get("/api/v1/incidents/reviews?per_page=500", headers=ops("supervisor1")).get_json()
    item = next(item for item in listed["items"] if item["id"] == late.id)
    assert item["answer_s"] >= 240 and item["reviewed"] is False and item["reviewed_by"] is None
    assert late.id not in review_ids(client, ops, "reviewed")

    sent: list[tuple[str, dict]] = []
    monkeypatch.setattr(events, "emit_now", lambda name, data, *, namespace, room: sent.append((name, data)))
    response = client.post(f"/api/v1/incidents/{late.id}/review", headers=ops("supervisor1"),
                           json={"note": "operator on a long call; staffing checked"})
    assert response.status_code == 200, response.get_json()
    assert [(name, data["id"]) for name, data in sent] == [("incident.updated", late.id)]
    body = response.get_json()
    assert (body["reviewed"], body["reviewed_by"], body["review_note"]) == (
        True, "supervisor1", "operator on a long call; staffing checked")
    assert late.id not in review_ids(client, ops) and late.id in review_ids(client, ops, "reviewed")
    assert late.id in review_ids(client, ops, "all")
    last = history_of(db_session, late.id)[-1]
    assert (last.from_state, last.to_state, last.actor_label) == ("claimed", "claimed", "supervisor1")

    again = client.post(f"/api/v1/incidents/{late.id}/review", headers=ops("admin"), json={})
    assert again.status_code == 409 and error_of(again)["code"] == "conflict"


def test_only_flagged_incidents_are_reviewed(client, db_session, ops):
    incident = open_incident(db_session, quiet_homes(db_session, 1)[0], "sos")
    response = client.post(f"/api/v1/incidents/{incident.id}/review", headers=ops("supervisor1"), json={})
    assert response.status_code == 409
    assert client.post("/api/v1/incidents/999999/review", headers=ops("supervisor1"), json={}).status_code == 404


@pytest.mark.parametrize("body", [{"note": "x" * 201}, {"note": 5}, {"reviewed": True}, []])
def test_review_bad_input_is_400(client, ops, late, body):
    response = client.post(f"/api/v1/incidents/{late.id}/review", headers=ops("supervisor1"), json=body)
    assert response.status_code == 400, response.get_json()


def test_review_list_bad_state_is_400(client, ops):
    response = client.get("/api/v1/incidents/reviews?state=maybe", headers=ops("supervisor1"))
    assert response.status_code == 400 and "state" in error_of(response)["fields"]


def test_documented_in_openapi(client, ops):
    paths = client.get("/api/openapi.json", headers=ops("supervisor1")).get_json()["paths"]
    assert {"/api/v1/supervisor/operators", "/api/v1/supervisor/unclaimed", "/api/v1/incidents/mass-cancel",
            "/api/v1/incidents/reviews", "/api/v1/incidents/{incident_id}/review"} <= set(paths)
