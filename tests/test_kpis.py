"""Answer-time KPIs (eldercare.reports.kpis) from incidents with known StateEvent timestamps, and the
`/api/v1/kpis/alarms` endpoint."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from eldercare.alerts.models import Incident, TeamDispatch
from eldercare.core.models import StateEvent
from eldercare.providers.models import EmergencyTeam
from eldercare.reports.kpis import alarm_kpis, percentile, period_of

DAY = date(2031, 3, 14)  # far from the demo data: the period holds only this test's incidents
T0 = datetime(2031, 3, 14, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai


def add_incident(session, *, priority: int = 1, at: datetime = T0, claim_s: float | None = None,
                 first_action_s: float | None = None, resolve_s: float | None = None, on_scene_s: float | None = None,
                 cancelled_s: float | None = None, review: bool = False) -> Incident:
    def after(seconds: float) -> datetime:
        return at + timedelta(seconds=seconds)

    incident = Incident(type="sos" if priority == 1 else "low_battery", priority=priority, status="new",
                        created_at=at, updated_at=at, review_flag=review,
                        first_action_at=None if first_action_s is None else after(first_action_s))
    session.add(incident)
    session.flush()
    history = [(None, "new", at)]
    if claim_s is not None:
        history += [("new", "claimed", after(claim_s)), ("claimed", "new", after(claim_s + 1)),
                    ("new", "claimed", after(claim_s + 2))]  # released and claimed again: the first counts
    if resolve_s is not None:
        history += [("claimed", "resolved", after(resolve_s))]
    if cancelled_s is not None:
        history += [(history[-1][1], "cancelled", after(cancelled_s))]
    for from_state, to_state, when in history:
        session.add(StateEvent(entity_type="incident", entity_id=incident.id, from_state=from_state,
                               to_state=to_state, at=when, actor_label="test"))
    incident.status = history[-1][1]
    if on_scene_s is not None:
        team = session.scalars(sa.select(EmergencyTeam).order_by(EmergencyTeam.id)).first()
        session.add(TeamDispatch(incident_id=incident.id, team_id=team.id, called_at=at, on_scene_at=after(on_scene_s)))
        session.add(TeamDispatch(incident_id=incident.id, team_id=team.id, called_at=at,
                                 on_scene_at=after(on_scene_s + 100)))
    session.flush()
    return incident


@pytest.fixture
def day_of_alarms(db_session):
    # Life-safety: answered at 10, 14, 50, 120, 200 s; one never answered; one cancelled at the device
    # before an answer (left out of the shares); one of another day (left out of everything).
    add_incident(db_session, claim_s=10, first_action_s=20, resolve_s=300, on_scene_s=600)
    add_incident(db_session, claim_s=14, first_action_s=30, resolve_s=100)
    add_incident(db_session, claim_s=50, first_action_s=70)
    add_incident(db_session, claim_s=120)
    add_incident(db_session, claim_s=200, review=True)
    add_incident(db_session, review=True)
    add_incident(db_session, cancelled_s=5)
    add_incident(db_session, claim_s=1, at=T0 - timedelta(days=1))
    # Technical: one answered at 16 s.
    add_incident(db_session, priority=2, claim_s=16, resolve_s=40)
    # The day's edges in Shanghai: 00:00 and 23:59:59 local belong to it, 00:00 of the next day does not.
    add_incident(db_session, priority=3, at=datetime(2031, 3, 13, 16, 0, tzinfo=UTC), claim_s=400)
    add_incident(db_session, priority=3, at=datetime(2031, 3, 14, 15, 59, 59, tzinfo=UTC), claim_s=5)
    add_incident(db_session, priority=3, at=datetime(2031, 3, 14, 16, 0, tzinfo=UTC), claim_s=5)


def test_percentile_nearest_rank():
    assert percentile([], 0.9) is None
    assert percentile([7.0], 0.9) == 7.0
    assert percentile([float(v) for v in range(1, 11)], 0.9) == 9.0
    assert percentile([float(v) for v in range(1, 12)], 0.9) == 10.0


def test_period_is_the_local_day():
    day, start, end = period_of(DAY)
    assert (day, start, end) == (DAY, datetime(2031, 3, 13, 16, tzinfo=UTC), datetime(2031, 3, 14, 16, tzinfo=UTC))


def test_life_safety_figures(db_session, day_of_alarms):
    life = alarm_kpis(DAY)["by_priority"][0]
    assert (life["priority"], life["priority_class"]) == (1, "life_safety")
    assert (life["alarms"], life["needing_answer"], life["answered"], life["unanswered"],
            life["cancelled_before_answer"], life["review_flagged"]) == (7, 6, 5, 1, 1, 2)
    assert life["time_to_claim"] == {"count": 5, "median_s": 50.0, "p90_s": 200.0}
    assert life["time_to_first_action"] == {"count": 3, "median_s": 30.0, "p90_s": 70.0}
    assert life["time_to_resolution"] == {"count": 2, "median_s": 200.0, "p90_s": 300.0}
    assert life["time_to_on_scene"] == {"count": 1, "median_s": 600.0, "p90_s": 600.0}
    assert life["answered_within"] == {"15s": round(2 / 6, 4), "60s": 0.5, "180s": round(4 / 6, 4)}


def test_overall_and_other_classes(db_session, day_of_alarms):
    kpis = alarm_kpis(DAY)
    overall = kpis["overall"]
    assert (overall["alarms"], overall["needing_answer"], overall["answered"], overall["review_flagged"]) == (
        10, 9, 8, 2)
    # Claims of the day: 5, 10, 14, 16, 50, 120, 200, 400 s.
    assert overall["time_to_claim"] == {"count": 8, "median_s": 33.0, "p90_s": 400.0}
    assert overall["answered_within"] == {"15s": round(3 / 9, 4), "60s": round(5 / 9, 4), "180s": round(6 / 9, 4)}
    technical, info = kpis["by_priority"][1], kpis["by_priority"][2]
    assert (technical["alarms"], technical["time_to_claim"]["median_s"], technical["answered_within"]["15s"]) == (
        1, 16.0, 0.0)
    assert technical["time_to_resolution"] == {"count": 1, "median_s": 40.0, "p90_s": 40.0}
    assert (info["alarms"], info["answered_within"]["15s"]) == (2, 0.5)  # the edge incidents of this day
    assert info["time_to_claim"] == {"count": 2, "median_s": 202.5, "p90_s": 400.0}


def test_empty_day_has_no_figures(db_session):
    kpis = alarm_kpis(date(2031, 1, 1))
    assert kpis["overall"]["alarms"] == 0
    assert kpis["overall"]["time_to_claim"] == {"count": 0, "median_s": None, "p90_s": None}
    assert kpis["overall"]["answered_within"] == {"15s": None, "60s": None, "180s": None}


def test_api_for_ops_roles(client, auth_headers, day_of_alarms):
    response = client.get("/api/v1/kpis/alarms?date=2031-03-14", headers=auth_headers("supervisor1"))
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["date"] == "2031-03-14" and body["timezone"] == "Asia/Shanghai"
    assert body["overall"]["alarms"] == 10
    assert body["by_priority"][0]["answered_within"]["60s"] == 0.5
    assert client.get("/api/v1/kpis/alarms", headers=auth_headers("operator1")).status_code == 200
    assert client.get("/api/v1/kpis/alarms?date=yesterday", headers=auth_headers("operator1")).status_code == 400
    assert client.get("/api/v1/kpis/alarms").status_code == 401


def test_documented_in_openapi(client, auth_headers):
    spec = client.get("/api/openapi.json", headers=auth_headers("supervisor1")).get_json()
    operation = spec["paths"]["/api/v1/kpis/alarms"]["get"]
    assert "AlarmKpis" in operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert {"15s", "60s", "180s"} <= set(spec["components"]["schemas"]["AnsweredWithin"]["properties"])
