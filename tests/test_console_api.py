"""The API pieces the consoles need beyond the incident and dispatch APIs: the hand-over picker
(`/api/v1/operators`), a team's duty (`/api/v1/teams/<id>/duty`, `team.updated`), the dispatches of one
incident, and what a team member sees of a call-out (where to go, nothing more of the resident)."""

from __future__ import annotations

import sqlalchemy as sa

from eldercare.core.events import OPS_NAMESPACE, PROVIDER_NAMESPACE
from eldercare.core.models import StateEvent
from eldercare.extensions import socketio
from eldercare.providers.models import EmergencyTeam
from tests.helpers import error_of, open_incident, quiet_homes, user_named


def token_of(headers: dict) -> str:
    return headers["Authorization"].split()[1]


def team_state(session, team_id: int) -> str:
    return session.scalar(sa.select(EmergencyTeam.state).where(EmergencyTeam.id == team_id))


def set_states(session, states: dict[int, str], others: str | None = None) -> None:
    if others is not None:
        session.execute(sa.update(EmergencyTeam).where(EmergencyTeam.id.not_in(states)).values(state=others))
    for team_id, state in states.items():
        session.execute(sa.update(EmergencyTeam).where(EmergencyTeam.id == team_id).values(state=state))
    session.commit()


# --- hand-over picker -----------------------------------------------------------------------------------

def test_operators_lists_the_active_call_centre_users_only(client, db_session, ops):
    response = client.get("/api/v1/operators?per_page=100", headers=ops("operator1"))
    assert response.status_code == 200
    users = response.get_json()["items"]
    names = {u["username"] for u in users}
    assert {"operator1", "operator2", "supervisor1", "admin"} <= names
    assert {u["role"] for u in users} <= {"admin", "supervisor", "operator"}
    assert "team1" not in names and "provider1" not in names
    user_named(db_session, "operator2").active = False
    db_session.commit()
    again = client.get("/api/v1/operators?per_page=100", headers=ops("operator1")).get_json()["items"]
    assert "operator2" not in {u["username"] for u in again}
    assert client.get("/api/v1/operators", headers=ops("team1")).status_code == 403


# --- duty -------------------------------------------------------------------------------------------

def test_a_member_sets_their_team_off_and_on_duty_live(app, client, db_session, ops):
    set_states(db_session, {1: "available"})
    member = socketio.test_client(app, namespace=PROVIDER_NAMESPACE, auth={"token": token_of(ops("team1"))})
    other = socketio.test_client(app, namespace=PROVIDER_NAMESPACE, auth={"token": token_of(ops("team2"))})
    centre = socketio.test_client(app, namespace=OPS_NAMESPACE, auth={"token": token_of(ops("operator1"))})
    try:
        for sock, namespace in ((member, PROVIDER_NAMESPACE), (other, PROVIDER_NAMESPACE), (centre, OPS_NAMESPACE)):
            sock.get_received(namespace)
        off = client.post("/api/v1/teams/1/duty", json={"on_duty": False}, headers=ops("team1"))
        heard = [m["args"][0] for m in member.get_received(PROVIDER_NAMESPACE) if m["name"] == "team.updated"]
        seen = [m["args"][0] for m in centre.get_received(OPS_NAMESPACE) if m["name"] == "team.updated"]
        overheard = [m for m in other.get_received(PROVIDER_NAMESPACE) if m["name"] == "team.updated"]
    finally:
        for sock, namespace in ((member, PROVIDER_NAMESPACE), (other, PROVIDER_NAMESPACE), (centre, OPS_NAMESPACE)):
            sock.disconnect(namespace=namespace)
    assert off.status_code == 200 and off.get_json()["state"] == "off_duty"
    assert heard == seen == [{"id": 1, "status": "off_duty", "code": off.get_json()["code"]}]
    assert overheard == []  # another team hears nothing of it
    assert team_state(db_session, 1) == "off_duty"
    again = client.post("/api/v1/teams/1/duty", json={"on_duty": False}, headers=ops("team1"))
    assert again.status_code == 200  # already off duty: nothing changes, nothing recorded twice
    on = client.post("/api/v1/teams/1/duty", json={"on_duty": True}, headers=ops("team1"))
    assert on.status_code == 200 and on.get_json()["state"] == "available"
    reasons = db_session.scalars(sa.select(StateEvent.reason).where(
        StateEvent.entity_type == "team", StateEvent.entity_id == 1).order_by(StateEvent.id.desc()).limit(2)).all()
    assert reasons == ["on duty", "off duty"]


def test_duty_is_for_the_team_itself_or_a_supervisor_and_not_during_a_callout(client, db_session, ops):
    set_states(db_session, {1: "available", 2: "on_scene"})
    refused = client.post("/api/v1/teams/1/duty", json={"on_duty": False}, headers=ops("team2"))
    assert refused.status_code == 403 and error_of(refused)["code"] == "forbidden"
    for username in ("operator1", "provider1"):
        assert client.post("/api/v1/teams/1/duty", json={"on_duty": False}, headers=ops(username)).status_code == 403
    assert client.post("/api/v1/teams/1/duty", json={"on_duty": False}, headers=ops("supervisor1")).status_code == 200
    busy = client.post("/api/v1/teams/2/duty", json={"on_duty": False}, headers=ops("team2"))
    assert busy.status_code == 409 and team_state(db_session, 2) == "on_scene"
    for body in ({}, {"on_duty": "perhaps"}, {"on_duty": True, "extra": 1}):
        bad = client.post("/api/v1/teams/1/duty", json=body, headers=ops("team1"))
        assert bad.status_code == 400 and error_of(bad)["fields"], body
    assert client.post("/api/v1/teams/999999/duty", json={"on_duty": True}, headers=ops("supervisor1")).status_code \
        == 404
    assert client.get("/api/v1/teams/1", headers=ops("team1")).get_json()["state"] == "off_duty"


# --- one incident's dispatches; what a team member sees ---------------------------------------------

def test_dispatches_of_one_incident_and_the_callout_a_team_sees(client, db_session, ops):
    first, second = (open_incident(db_session, device) for device in quiet_homes(db_session, 2))
    set_states(db_session, {1: "available", 2: "available"}, others="off_duty")
    for incident in (first, second):
        response = client.post(f"/api/v1/incidents/{incident.id}/dispatch-team", json={}, headers=ops("operator1"))
        assert response.status_code == 201, response.get_json()
    mine = client.get(f"/api/v1/team-dispatches?incident_id={first.id}", headers=ops("operator1")).get_json()
    assert [d["incident_id"] for d in mine["items"]] == [first.id]
    [callout] = mine["items"]
    assert callout["incident_type"] == "sos"
    assert callout["destination"]["address"] == first.household.address
    assert set(callout["destination"]) == {"address", "community", "lat", "lng"}  # no names, phones or notes
    assert client.get("/api/v1/team-dispatches?incident_id=0", headers=ops("operator1")).status_code == 400
    team = f"team{callout['team_id']}"
    others = client.get(f"/api/v1/team-dispatches?incident_id={second.id}", headers=ops(team)).get_json()
    assert others["items"] == []  # the other team's call-out is not theirs to see


def test_dispatch_updates_reach_the_called_team_only(app, client, db_session, ops):
    incident = open_incident(db_session, quiet_homes(db_session, 1)[0])
    set_states(db_session, {1: "available"}, others="off_duty")
    called = client.post(f"/api/v1/incidents/{incident.id}/dispatch-team", json={}, headers=ops("operator1"))
    assert called.status_code == 201 and called.get_json()["team_id"] == 1
    member = socketio.test_client(app, namespace=PROVIDER_NAMESPACE, auth={"token": token_of(ops("team1"))})
    other = socketio.test_client(app, namespace=PROVIDER_NAMESPACE, auth={"token": token_of(ops("team2"))})
    try:
        member.get_received(PROVIDER_NAMESPACE)
        other.get_received(PROVIDER_NAMESPACE)
        acked = client.post(f"/api/v1/team-dispatches/{called.get_json()['id']}/ack", headers=ops("team1"))
        heard = [m["args"][0] for m in member.get_received(PROVIDER_NAMESPACE) if m["name"] == "team.dispatch_updated"]
        overheard = other.get_received(PROVIDER_NAMESPACE)
    finally:
        member.disconnect(namespace=PROVIDER_NAMESPACE)
        other.disconnect(namespace=PROVIDER_NAMESPACE)
    assert acked.status_code == 200
    assert [(d["id"], d["status"], d["incident_id"]) for d in heard] == [
        (called.get_json()["id"], "acknowledged", incident.id)]
    assert overheard == []
