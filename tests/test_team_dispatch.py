"""Emergency-team dispatch (issue 4, item 7): ETA maths, the nearest available team, the team's
acknowledgement and progress, the acknowledgement deadline, and two dispatches racing for one team."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa

from eldercare.alerts import teams
from eldercare.alerts.models import Incident, TeamDispatch
from eldercare.alerts.services import open_or_merge
from eldercare.core import timers
from eldercare.core.auth import issue_token
from eldercare.core.events import OPS_NAMESPACE, PROVIDER_NAMESPACE
from eldercare.core.models import StateEvent, Timer, User
from eldercare.core.time import utcnow
from eldercare.extensions import db, socketio
from eldercare.geo import distance
from eldercare.geo.models import Community, District
from eldercare.households.models import Household
from eldercare.providers.models import EmergencyTeam
from tests.conftest import RequestScopedClient
from tests.helpers import error_of, open_incident, quiet_homes, user_named

# --- ETA maths (pure) ---------------------------------------------------------------------------------

def test_haversine_known_distances():
    assert distance.haversine_km(0, 0, 0, 1) == pytest.approx(111.195, abs=0.01)  # one degree of the equator
    assert distance.haversine_km(40.8, 111.7, 40.8, 111.7) == 0
    # Xincheng to Togtoh county seat, both ways
    there = distance.haversine_km(40.865, 111.755, 40.277, 111.194)
    assert there == pytest.approx(distance.haversine_km(40.277, 111.194, 40.865, 111.755))
    assert 75 < there < 85


def test_eta_is_turnout_plus_road_distance_at_the_area_speed():
    assert distance.eta_minutes(0, urban=True) == pytest.approx(3.0)
    assert distance.eta_minutes(10, urban=True) == pytest.approx(3 + 1.3 * 10 / 25 * 60)  # 34.2
    assert distance.eta_minutes(10, urban=False) == pytest.approx(3 + 1.3 * 10 / 50 * 60)  # 18.6
    assert distance.eta_between((0, 0), (0, 1), urban=False) == pytest.approx(3 + 1.3 * 111.195 / 50 * 60, abs=0.1)


def test_a_trip_is_urban_only_inside_the_four_urban_districts():
    assert distance.is_urban_trip("150102", "150105")
    assert not distance.is_urban_trip("150102", "150122")
    assert not distance.is_urban_trip("150104", None)


# --- helpers ------------------------------------------------------------------------------------------

def expected_ranking(session, household_id: int) -> list[int]:
    """Available teams by ETA, computed here from the coordinates (independently of the service)."""
    home = session.execute(sa.select(Household.lat, Household.lng, District.code)
                           .join(Community, Community.id == Household.community_id)
                           .join(District, District.id == Community.district_id)
                           .where(Household.id == household_id)).one()
    rows = session.execute(sa.select(EmergencyTeam, District.code).join(District)
                           .where(EmergencyTeam.state == "available")).all()
    etas = {team.id: distance.eta_minutes(distance.haversine_km(team.base_lat, team.base_lng, home.lat, home.lng),
                                          urban=code in distance.URBAN_DISTRICT_CODES
                                          and home.code in distance.URBAN_DISTRICT_CODES)
            for team, code in rows}
    return sorted(etas, key=lambda team_id: (etas[team_id], team_id))


@pytest.fixture
def headers(auth_headers):
    cache: dict[str, dict] = {}

    def for_user(username: str) -> dict[str, str]:
        if username not in cache:
            cache[username] = auth_headers(username)
        return cache[username]

    return for_user


@pytest.fixture
def incident(db_session) -> Incident:
    return open_incident(db_session, quiet_homes(db_session, 1)[0])


def dispatch(client, headers, incident_id: int, **body):
    return client.post(f"/api/v1/incidents/{incident_id}/dispatch-team", json=body, headers=headers("operator1"))


def set_team_state(session, team_id: int, state: str) -> None:
    session.execute(sa.update(EmergencyTeam).where(EmergencyTeam.id == team_id).values(state=state))
    session.commit()


def team_state(session, team_id: int) -> str:
    return session.scalar(sa.select(EmergencyTeam.state).where(EmergencyTeam.id == team_id))


def as_team(session, dispatch_body: dict) -> str:
    """The demo account of the called team's members (teams 1 and 2 have one: team1, team2)."""
    return f"team{dispatch_body['team_id']}"


def only_teams_available(session, team_ids: tuple[int, ...]) -> None:
    session.execute(sa.update(EmergencyTeam).where(EmergencyTeam.id.not_in(team_ids)).values(state="off_duty"))
    session.execute(sa.update(EmergencyTeam).where(EmergencyTeam.id.in_(team_ids)).values(state="available"))
    session.commit()


# --- dispatch -----------------------------------------------------------------------------------------

def test_the_nearest_available_team_is_called(app, client, db_session, headers, incident):
    ranking = expected_ranking(db_session, incident.household_id)
    ops = socketio.test_client(app, namespace=OPS_NAMESPACE,
                               auth={"token": headers("operator1")["Authorization"].split()[1]})
    try:
        claimed = client.post(f"/api/v1/incidents/{incident.id}/claim", headers=headers("operator1"))
        assert claimed.status_code == 200
        ops.get_received(OPS_NAMESPACE)
        response = dispatch(client, headers, incident.id)
        received = ops.get_received(OPS_NAMESPACE)
    finally:
        ops.disconnect(namespace=OPS_NAMESPACE)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["team_id"] == ranking[0] and body["state"] == "called"
    assert body["eta_minutes"] >= 3 and body["called_by_id"] == user_named(db_session, "operator1").id
    db_session.expire_all()
    row = db_session.get(TeamDispatch, body["id"])
    assert timedelta(seconds=55) < row.ack_due_at - row.called_at <= timedelta(seconds=60)
    assert team_state(db_session, ranking[0]) == "committed"
    assert db_session.get(Incident, incident.id).status == "dispatched"
    timer = db_session.scalar(sa.select(Timer).where(Timer.kind == "team.ack", Timer.ref_id == row.id))
    assert timer is not None and timer.due_at == row.ack_due_at
    updates = [m["args"][0] for m in received if m["name"] == "incident.updated"]
    assert [(u["id"], u["status"]) for u in updates] == [(incident.id, "dispatched")]
    assert json.loads(json.dumps(updates[0])) == updates[0]


def test_a_busy_team_is_skipped_and_a_named_busy_team_is_refused(client, db_session, headers, incident):
    ranking = expected_ranking(db_session, incident.household_id)
    set_team_state(db_session, ranking[0], "on_scene")
    response = dispatch(client, headers, incident.id)
    assert response.status_code == 201 and response.get_json()["team_id"] == ranking[1]
    assert db_session.get(Incident, incident.id).status == "new"  # unclaimed: stays in the queue
    refused = dispatch(client, headers, incident.id, team_id=ranking[0])
    assert refused.status_code == 409 and error_of(refused)["code"] == "conflict"
    unknown = dispatch(client, headers, incident.id, team_id=999_999)
    assert unknown.status_code == 400 and "team_id" in error_of(unknown)["fields"]


def test_dispatch_needs_an_open_incident_and_an_ops_role(client, db_session, headers, incident):
    db_session.execute(sa.update(Incident).where(Incident.id == incident.id).values(status="closed"))
    db_session.commit()
    closed = dispatch(client, headers, incident.id)
    assert closed.status_code == 409
    assert dispatch(client, headers, 999_999).status_code == 404
    for username in ("team1", "provider1"):
        refused = client.post(f"/api/v1/incidents/{incident.id}/dispatch-team", json={}, headers=headers(username))
        assert refused.status_code == 403


def test_no_team_available_is_a_conflict(client, db_session, headers, incident):
    db_session.execute(sa.update(EmergencyTeam).values(state="off_duty"))
    db_session.commit()
    response = dispatch(client, headers, incident.id)
    assert response.status_code == 409 and "No emergency team" in error_of(response)["message"]


# --- the team's side ----------------------------------------------------------------------------------

def test_callout_reaches_the_team_and_only_that_team_acknowledges(app, client, db_session, headers, incident):
    only_teams_available(db_session, (1,))
    team = socketio.test_client(app, namespace=PROVIDER_NAMESPACE,
                                auth={"token": headers("team1")["Authorization"].split()[1]})
    team.get_received(PROVIDER_NAMESPACE)
    try:
        body = dispatch(client, headers, incident.id).get_json()
        callouts = [m["args"][0] for m in team.get_received(PROVIDER_NAMESPACE) if m["name"] == "team.callout"]
    finally:
        team.disconnect(namespace=PROVIDER_NAMESPACE)
    assert body["team_id"] == 1
    [callout] = callouts
    assert (callout["id"], callout["status"], callout["incident_id"]) == (body["id"], "called", incident.id)
    assert callout["address"] and callout["eta_minutes"] == body["eta_minutes"] and callout["ack_due_at"]

    url = f"/api/v1/team-dispatches/{body['id']}/ack"
    for username in ("team2", "operator1", "supervisor1", "provider1"):
        refused = client.post(url, headers=headers(username))
        assert refused.status_code == 403 and error_of(refused)["code"] == "forbidden", username
    acked = client.post(url, headers=headers("team1"))
    assert acked.status_code == 200
    assert acked.get_json()["state"] == "acknowledged" and acked.get_json()["acknowledged_at"]
    assert client.post(url, headers=headers("team1")).status_code == 409
    assert db_session.scalar(sa.select(Timer).where(Timer.kind == "team.ack", Timer.ref_id == body["id"])) is None


def test_state_progression_drives_the_team(client, db_session, headers, incident):
    only_teams_available(db_session, (2,))
    body = dispatch(client, headers, incident.id).get_json()
    url = f"/api/v1/team-dispatches/{body['id']}/state"
    early = client.post(url, json={"state": "en_route"}, headers=headers("team2"))
    assert early.status_code == 409  # acknowledge first
    assert client.post(url, json={"state": "parked"}, headers=headers("team2")).status_code == 400
    assert client.post(url, json={"state": "en_route"}, headers=headers("team1")).status_code == 403
    client.post(f"/api/v1/team-dispatches/{body['id']}/ack", headers=headers("team2"))
    for state in ("en_route", "on_scene", "returning", "done"):
        response = client.post(url, json={"state": state}, headers=headers("team2"))
        assert response.status_code == 200 and response.get_json()["state"] == state, response.get_json()
        expected_team = "available" if state == "done" else state
        assert team_state(db_session, 2) == expected_team
    final = response.get_json()
    assert final["on_scene_at"] and final["finished_at"]
    team_history = db_session.scalars(sa.select(StateEvent.to_state).where(
        StateEvent.entity_type == "team", StateEvent.entity_id == 2).order_by(StateEvent.id)).all()
    assert team_history[-5:] == ["committed", "en_route", "on_scene", "returning", "available"]


def test_dispatch_list_for_ops_and_for_the_team(client, db_session, headers):
    homes = quiet_homes(db_session, 2)
    only_teams_available(db_session, (1, 2))
    first, second = (open_incident(db_session, device) for device in homes)
    called = {dispatch(client, headers, i.id).get_json()["team_id"] for i in (first, second)}
    assert called == {1, 2}
    everything = client.get("/api/v1/team-dispatches?active=1&per_page=500", headers=headers("supervisor1"))
    assert everything.status_code == 200
    assert {(d["incident_id"], d["state"]) for d in everything.get_json()["items"]} >= {
        (first.id, "called"), (second.id, "called")}
    own = client.get("/api/v1/team-dispatches?active=1&per_page=500", headers=headers("team1")).get_json()
    assert own["items"] and {d["team_id"] for d in own["items"]} == {1}
    assert client.get("/api/v1/team-dispatches", headers=headers("provider1")).status_code == 403


# --- the acknowledgement deadline ---------------------------------------------------------------------

def test_unacknowledged_call_times_out_next_team_called_and_supervisors_alerted(app, client, db_session, headers,
                                                                               incident):
    ranking = expected_ranking(db_session, incident.household_id)
    # Connected first: a socket connection ends the test's session (as a request's teardown would).
    supervisors = socketio.test_client(app, namespace=OPS_NAMESPACE,
                                       auth={"token": headers("supervisor1")["Authorization"].split()[1]})
    try:
        body = dispatch(client, headers, incident.id).get_json()
        assert body["team_id"] == ranking[0]
        timer = db_session.scalar(sa.select(Timer).where(Timer.kind == "team.ack", Timer.ref_id == body["id"]))
        assert not timers.fire(timer.id, now=timer.due_at - timedelta(seconds=1))  # not due yet
        supervisors.get_received(OPS_NAMESPACE)
        assert timers.fire(timer.id, now=timer.due_at + timedelta(seconds=1))
        db_session.commit()
        received = supervisors.get_received(OPS_NAMESPACE)
    finally:
        supervisors.disconnect(namespace=OPS_NAMESPACE)
    db_session.expire_all()
    assert db_session.get(TeamDispatch, body["id"]).state == "timed_out"
    assert team_state(db_session, ranking[0]) == "available"
    calls = db_session.scalars(sa.select(TeamDispatch).where(TeamDispatch.incident_id == incident.id)
                               .order_by(TeamDispatch.id)).all()
    assert [(c.team_id, c.state) for c in calls] == [(ranking[0], "timed_out"), (ranking[1], "called")]
    assert team_state(db_session, ranking[1]) == "committed"
    [alert] = [m["args"][0] for m in received if m["name"] == "team.unacknowledged"]
    assert (alert["id"], alert["team_id"], alert["next_team_id"]) == (body["id"], ranking[0], ranking[1])
    assert alert["status"] == "timed_out" and alert["team_code"]
    assert not timers.fire(timer.id, now=timer.due_at + timedelta(seconds=2))  # fires once


def test_a_late_timer_after_the_ack_does_nothing(client, db_session, headers, incident):
    only_teams_available(db_session, (1, 2))
    body = dispatch(client, headers, incident.id).get_json()
    client.post(f"/api/v1/team-dispatches/{body['id']}/ack", headers=headers(as_team(db_session, body)))
    teams.ack_timed_out(body["id"])
    db_session.commit()
    db_session.expire_all()
    assert db_session.get(TeamDispatch, body["id"]).state == "acknowledged"
    assert db_session.scalar(sa.select(sa.func.count()).select_from(TeamDispatch)
                             .where(TeamDispatch.incident_id == incident.id)) == 1


def test_timeout_with_no_team_left_still_alerts_the_supervisors(client, db_session, headers, incident):
    only_teams_available(db_session, (1,))
    body = dispatch(client, headers, incident.id).get_json()
    timer = db_session.scalar(sa.select(Timer).where(Timer.kind == "team.ack", Timer.ref_id == body["id"]))
    assert timers.fire(timer.id, now=timer.due_at + timedelta(seconds=1))
    db_session.commit()
    db_session.expire_all()
    assert db_session.get(TeamDispatch, body["id"]).state == "timed_out"
    assert team_state(db_session, 1) == "available"  # free again, but not re-called for this incident
    assert db_session.scalar(sa.select(sa.func.count()).select_from(TeamDispatch)
                             .where(TeamDispatch.incident_id == incident.id)) == 1


# --- two dispatches racing for one team, on committed data --------------------------------------------

@pytest.fixture
def committed_incidents(app) -> Iterator[list[int]]:
    with app.app_context():
        saved = dict(db.session.execute(sa.select(EmergencyTeam.id, EmergencyTeam.state)).all())
        homes = quiet_homes(db.session, 2, first=True)
        ids = [open_or_merge(device=d, type_="gas", at=utcnow(), actor="device:test") for d in homes]
        db.session.commit()
        first_event = db.session.scalar(sa.select(sa.func.max(StateEvent.id))) or 0
    yield ids
    with app.app_context():
        dispatch_ids = db.session.scalars(sa.select(TeamDispatch.id).where(TeamDispatch.incident_id.in_(ids))).all()
        db.session.execute(sa.delete(Timer).where(Timer.kind == "team.ack", Timer.ref_id.in_(dispatch_ids)))
        db.session.execute(sa.delete(Timer).where(Timer.ref_id.in_(ids), Timer.kind.like("incident.%")))
        db.session.execute(sa.delete(TeamDispatch).where(TeamDispatch.id.in_(dispatch_ids)))
        db.session.execute(sa.delete(StateEvent).where(StateEvent.id > first_event))
        db.session.execute(sa.delete(Incident).where(Incident.id.in_(ids)))
        for team_id, state in saved.items():
            db.session.execute(sa.update(EmergencyTeam).where(EmergencyTeam.id == team_id).values(state=state))
        db.session.commit()


def _race(app, paths_and_bodies: list[tuple[str, dict]]) -> list[tuple[int, dict]]:
    with app.app_context():
        token = issue_token(db.session.scalar(sa.select(User).where(User.username == "operator1")))[0]
    start = threading.Barrier(len(paths_and_bodies))
    results: list[tuple[int, dict]] = []

    def post(path: str, body: dict) -> None:
        client = RequestScopedClient(app, app.response_class)
        start.wait(5)
        response = client.post(path, json=body, headers={"Authorization": f"Bearer {token}"})
        results.append((response.status_code, response.get_json()))

    threads = [threading.Thread(target=post, args=pb) for pb in paths_and_bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(15)
    return results


def _committed_events(app, team_id: int) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(StateEvent).where(
            StateEvent.entity_type == "team", StateEvent.entity_id == team_id, StateEvent.to_state == "committed"))


def test_two_dispatches_of_one_team_exactly_one_wins(app, committed_incidents):
    with app.app_context():
        before = _committed_events(app, 3)
        db.session.execute(sa.update(EmergencyTeam).where(EmergencyTeam.id == 3).values(state="available"))
        db.session.commit()
    results = _race(app, [(f"/api/v1/incidents/{i}/dispatch-team", {"team_id": 3}) for i in committed_incidents])
    assert sorted(status for status, _ in results) == [201, 409], results
    assert _committed_events(app, 3) == before + 1
    with app.app_context():
        assert db.session.scalar(sa.select(EmergencyTeam.state).where(EmergencyTeam.id == 3)) == "committed"
        rows = db.session.scalars(sa.select(TeamDispatch).where(TeamDispatch.incident_id.in_(committed_incidents),
                                                                TeamDispatch.team_id == 3)).all()
        assert len(rows) == 1


def test_the_loser_of_a_race_for_the_nearest_team_gets_the_next(app, committed_incidents):
    incident_id = committed_incidents[0]
    results = _race(app, [(f"/api/v1/incidents/{incident_id}/dispatch-team", {})] * 2)
    assert [status for status, _ in results] == [201, 201], results
    called = [body["team_id"] for _, body in results]
    assert len(set(called)) == 2
    with app.app_context():
        for team_id in called:
            assert db.session.scalar(sa.select(EmergencyTeam.state).where(EmergencyTeam.id == team_id)) == "committed"
            commits = db.session.scalars(sa.select(StateEvent).where(
                StateEvent.entity_type == "team", StateEvent.entity_id == team_id,
                StateEvent.to_state == "committed").order_by(StateEvent.id.desc())).first()
            assert commits.data["incident_id"] == incident_id
