"""Action plans per incident type, the steps the holder records, outcome codes (a service referral creates
an order) and closing; every change reaches the consoles as `incident.updated` after commit."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from eldercare.alerts import plans
from eldercare.alerts.models import ActionStep, Incident
from eldercare.alerts.services import LIFE_SAFETY_TYPES
from eldercare.catalog.models import ServiceType
from eldercare.core.events import OPS_NAMESPACE
from eldercare.core.models import StateEvent
from eldercare.dispatch.models import Order
from eldercare.extensions import socketio
from eldercare.households.models import Contact
from tests.helpers import error_of, open_incident, quiet_homes, user_named

TYPES = ("sos", "fall", "smoke", "gas", "no_activity", "water", "low_battery", "power_loss", "device_removed",
         "offline")
LIFE_SAFETY_SCRIPT = ["call_resident", "call_contacts", "call_grid_leader", "dispatch_team",
                      "call_emergency_services"]


@pytest.fixture(autouse=True)
def _celery(app) -> None:
    app.extensions["celery"].set_current()
    app.extensions["celery"].set_default()




@pytest.fixture
def sos(db_session) -> Incident:
    return open_incident(db_session, quiet_homes(db_session, 1)[0])


def post(client, headers, incident_id: int, action: str, **body):
    return client.post(f"/api/v1/incidents/{incident_id}/{action}", json=body, headers=headers)


@pytest.fixture
def claimed(client, ops, sos) -> Incident:
    assert post(client, ops("operator1"), sos.id, "claim").status_code == 200
    return sos


def step(client, headers, incident_id: int, kind: str = "call_resident", result: str = "no_answer", **extra):
    return post(client, headers, incident_id, "steps", kind=kind, result=result, **extra)


# --- the scripts --------------------------------------------------------------------------------------

@pytest.mark.parametrize("type_", TYPES)
def test_every_alarm_type_has_a_script_of_known_steps(type_):
    kinds = plans.PLANS[type_]
    assert kinds[0] == "call_resident" and set(kinds) <= set(plans.STEP_KINDS)
    if type_ in LIFE_SAFETY_TYPES:
        assert list(kinds) == LIFE_SAFETY_SCRIPT
        assert plans.EMERGENCY_ORDER[type_][0] == ("119" if type_ in ("smoke", "gas") else "120")
    else:
        assert kinds[-1] == "create_repair_order" and "call_contact" in kinds
    for label_zh, label_en in plans.STEP_KINDS.values():
        assert label_zh and label_en.isascii()


def test_plan_lists_targets_in_cascade_order(client, db_session, ops):
    homes = quiet_homes(db_session, 3)
    sos, smoke, battery = (open_incident(db_session, d, t) for d, t in zip(homes, ("sos", "smoke", "low_battery"),
                                                                            strict=True))
    body = client.get(f"/api/v1/incidents/{sos.id}/plan", headers=ops("operator2")).get_json()
    assert (body["incident_id"], body["type"], body["category"]) == (sos.id, "sos", "life_safety")
    assert [s["kind"] for s in body["steps"]] == LIFE_SAFETY_SCRIPT
    assert [s["seq"] for s in body["steps"]] == [1, 2, 3, 4, 5]
    assert all(s["label_zh"] and s["label_en"] and s["done"] is False and s["results"] == [] for s in body["steps"])
    contacts = db_session.scalars(sa.select(Contact.id).where(Contact.household_id == sos.household_id)
                                  .order_by(Contact.priority)).all()
    by_kind = {s["kind"]: s for s in body["steps"]}
    assert [t["ref"] for t in by_kind["call_contacts"]["targets"]] == [f"contact:{c}" for c in contacts]
    assert [t["ref"] for t in by_kind["call_emergency_services"]["targets"]] == ["120", "110"]

    smoke_plan = client.get(f"/api/v1/incidents/{smoke.id}/plan", headers=ops("operator1")).get_json()
    emergency = next(s for s in smoke_plan["steps"] if s["kind"] == "call_emergency_services")
    assert [t["ref"] for t in emergency["targets"]] == ["119", "120"]

    technical = client.get(f"/api/v1/incidents/{battery.id}/plan", headers=ops("operator1")).get_json()
    assert technical["category"] == "technical"
    assert [s["kind"] for s in technical["steps"]] == ["call_resident", "call_contact", "create_repair_order"]
    assert client.get("/api/v1/incidents/999999/plan", headers=ops("operator1")).status_code == 404
    assert client.get(f"/api/v1/incidents/{sos.id}/plan", headers=ops("provider1")).status_code == 403


# --- steps --------------------------------------------------------------------------------------------

def test_first_step_starts_the_response(client, db_session, ops, claimed):
    first = step(client, ops("operator1"), claimed.id, target_ref="resident:1", notes="rang 8 times")
    assert first.status_code == 201, first.get_json()
    body = first.get_json()
    operator1 = user_named(db_session, "operator1")
    assert (body["kind"], body["result"], body["actor_id"], body["notes"]) == (
        "call_resident", "no_answer", operator1.id, "rang 8 times")
    assert body["started_at"] and body["incident"]["status"] == "in_progress"
    first_action_at = body["incident"]["first_action_at"]
    assert first_action_at

    second = step(client, ops("operator1"), claimed.id, kind="call_contacts", result="answered")
    assert second.status_code == 201
    assert second.get_json()["incident"]["first_action_at"] == first_action_at
    moves = db_session.scalars(sa.select(StateEvent).where(
        StateEvent.entity_type == "incident", StateEvent.entity_id == claimed.id,
        StateEvent.to_state == "in_progress")).all()
    assert [(m.from_state, m.actor_label) for m in moves] == [("claimed", "operator1")]

    plan = client.get(f"/api/v1/incidents/{claimed.id}/plan", headers=ops("operator1")).get_json()
    by_kind = {s["kind"]: s for s in plan["steps"]}
    assert by_kind["call_resident"]["done"] and by_kind["call_resident"]["results"][0]["target_ref"] == "resident:1"
    assert [r["result"] for r in by_kind["call_contacts"]["results"]] == ["answered"]
    assert not by_kind["dispatch_team"]["done"]


def test_only_the_holder_or_a_supervisor_records_steps(client, db_session, ops, sos):
    unclaimed = step(client, ops("operator1"), sos.id)
    assert unclaimed.status_code == 409 and error_of(unclaimed)["code"] == "conflict"
    post(client, ops("operator1"), sos.id, "claim")
    other = step(client, ops("operator2"), sos.id)
    assert other.status_code == 409 and "operator1" in error_of(other)["message"]
    assert step(client, ops("provider1"), sos.id).status_code == 403
    assert step(client, ops("supervisor1"), sos.id, kind="call_grid_leader", result="attending").status_code == 201
    assert db_session.scalar(sa.select(sa.func.count()).select_from(ActionStep)
                             .where(ActionStep.incident_id == sos.id)) == 1


@pytest.mark.parametrize("body", [
    {"kind": "sing_a_song", "result": "done"},
    {"kind": "call_resident", "result": "maybe"},
    {"kind": "call_resident"},
    {"result": "done"},
    {"kind": "call_resident", "result": "done", "colour": "red"},
])
def test_bad_steps_are_refused(client, ops, claimed, body):
    response = client.post(f"/api/v1/incidents/{claimed.id}/steps", json=body, headers=ops("operator1"))
    assert response.status_code == 400 and error_of(response)["fields"]


# --- outcome and close --------------------------------------------------------------------------------

def test_resolve_with_an_outcome_then_close(client, db_session, ops, claimed):
    step(client, ops("operator1"), claimed.id, result="answered")
    assert post(client, ops("operator1"), claimed.id, "close").status_code == 409  # not resolved yet
    assert post(client, ops("operator2"), claimed.id, "resolve", outcome="reassurance").status_code == 409
    resolved = post(client, ops("operator1"), claimed.id, "resolve", outcome="reassurance",
                    notes="pressed by mistake", follow_up=True)
    assert resolved.status_code == 200, resolved.get_json()
    body = resolved.get_json()
    assert (body["status"], body["outcome"], body["outcome_notes"], body["follow_up"], body["order_id"]) == (
        "resolved", "reassurance", "pressed by mistake", True, None)
    assert body["resolved_at"] and body["closed_at"] is None
    again = post(client, ops("operator1"), claimed.id, "resolve", outcome="false_alarm")
    assert again.status_code == 409
    assert step(client, ops("operator1"), claimed.id).status_code == 409  # no steps after the outcome

    assert post(client, ops("operator2"), claimed.id, "close").status_code == 409
    closed = post(client, ops("operator1"), claimed.id, "close")
    assert closed.status_code == 200
    assert (closed.get_json()["status"], bool(closed.get_json()["closed_at"])) == ("closed", True)
    states = db_session.scalars(sa.select(StateEvent.to_state).where(
        StateEvent.entity_type == "incident", StateEvent.entity_id == claimed.id).order_by(StateEvent.id)).all()
    assert states == ["new", "claimed", "in_progress", "resolved", "closed"]


def test_a_supervisor_may_resolve_and_close_what_another_holds(client, ops, claimed):
    resolved = post(client, ops("supervisor1"), claimed.id, "resolve", outcome="false_alarm")
    assert resolved.status_code == 200 and resolved.get_json()["follow_up"] is False
    assert post(client, ops("supervisor1"), claimed.id, "close").status_code == 200


@pytest.mark.parametrize(("body", "field"), [
    ({"outcome": "abducted_by_aliens"}, "outcome"),
    ({}, "outcome"),
    ({"outcome": "service_referral"}, "service_type"),
    ({"outcome": "false_alarm", "service_type": "tv"}, "service_type"),
    ({"outcome": "service_referral", "service_type": "no_such_service"}, "service_type"),
    ({"outcome": "false_alarm", "follow_up": "perhaps"}, "follow_up"),
])
def test_bad_outcomes_are_refused(client, db_session, ops, claimed, body, field):
    response = client.post(f"/api/v1/incidents/{claimed.id}/resolve", json=body, headers=ops("operator1"))
    assert response.status_code == 400 and field in error_of(response)["fields"]
    db_session.expire_all()
    assert db_session.get(Incident, claimed.id).status == "claimed"


@pytest.mark.parametrize("outcome", ["false_alarm", "reassurance", "family_attended", "grid_leader_attended",
                                     "team_dispatched", "ambulance", "no_answer_forced_entry", "device_fault"])
def test_every_plain_outcome_resolves(client, db_session, ops, claimed, outcome):
    response = post(client, ops("operator1"), claimed.id, "resolve", outcome=outcome)
    assert response.status_code == 200 and response.get_json()["outcome"] == outcome
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Order)
                             .where(Order.incident_id == claimed.id)) == 0


def test_service_referral_creates_a_service_order(client, db_session, ops, claimed):
    service = db_session.scalar(sa.select(ServiceType).where(ServiceType.active.is_(True)).order_by(ServiceType.id))
    response = post(client, ops("operator1"), claimed.id, "resolve", outcome="service_referral",
                    service_type=service.code, notes="needs a hand with the shopping")
    assert response.status_code == 200, response.get_json()
    order = db_session.get(Order, response.get_json()["order_id"])
    operator1 = user_named(db_session, "operator1")
    assert (order.household_id, order.service_type_id, order.source, order.incident_id, order.created_by_id) == (
        claimed.household_id, service.id, "incident", claimed.id, operator1.id)
    assert order.price == service.unit_price  # priced like any order
    # ... and dispatched like any order: offered to a provider, or escalated when nobody can take it.
    assert order.status in ("offered", "escalated")
    history = db_session.scalars(sa.select(StateEvent).where(StateEvent.entity_type == "order",
                                                             StateEvent.entity_id == order.id)
                                 .order_by(StateEvent.id)).all()
    assert [(e.from_state, e.to_state, e.actor_label) for e in history][:2] == [
        (None, "created", "operator1"), ("created", "pending_dispatch", "operator1")]


# --- events -------------------------------------------------------------------------------------------

def test_each_change_is_announced_after_commit(app, client, ops, sos):
    # The watcher connects first, as a console does (its connection ends the test's own session).
    watcher = socketio.test_client(app, namespace=OPS_NAMESPACE,
                                   auth={"token": ops("supervisor1")["Authorization"].split()[1]})
    try:
        watcher.get_received(OPS_NAMESPACE)

        def updates() -> list[tuple[int, str]]:
            return [(m["args"][0]["id"], m["args"][0]["status"]) for m in watcher.get_received(OPS_NAMESPACE)
                    if m["name"] == "incident.updated"]

        assert post(client, ops("operator1"), sos.id, "claim").status_code == 200
        assert updates() == [(sos.id, "claimed")]
        step(client, ops("operator1"), sos.id)
        assert updates() == [(sos.id, "in_progress")]
        assert client.post(f"/api/v1/incidents/{sos.id}/resolve", json={"outcome": "nonsense"},
                           headers=ops("operator1")).status_code == 400
        assert updates() == []  # nothing changed, nothing announced
        post(client, ops("operator1"), sos.id, "resolve", outcome="false_alarm")
        assert updates() == [(sos.id, "resolved")]
        post(client, ops("operator1"), sos.id, "close")
        assert updates() == [(sos.id, "closed")]
    finally:
        watcher.disconnect(namespace=OPS_NAMESPACE)
