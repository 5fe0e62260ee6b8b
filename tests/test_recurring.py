"""Standing orders (dispatch/rules.py, dispatch/recurring.py, dispatch/recurring_api.py): RRULE parsing and
validation in the centre's time zone, next occurrences, release at lead time exactly once, pause/resume/end,
and the API's answers to bad input."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from eldercare.catalog.models import ServiceType
from eldercare.core.models import StateEvent
from eldercare.core.states import TransitionConflict
from eldercare.dispatch import recurring, rules
from eldercare.dispatch.models import Order, RecurringOrder
from tests.helpers import error_of, user_named

MEALS = "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR;BYHOUR=11;BYMINUTE=30"
MONDAY = date(2026, 12, 7)  # 7 December 2026 is a Monday


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- rules (no database) ------------------------------------------------------------------------------

def test_local_wall_time_is_converted_to_utc():
    parsed = rules.validate(MEALS, MONDAY, None)
    # 11:30 in Asia/Shanghai (UTC+8, no daylight saving time) is 03:30 UTC, every weekday.
    assert rules.upcoming(parsed, utc(2026, 12, 1), None, 6) == [
        utc(2026, 12, 7, 3, 30), utc(2026, 12, 8, 3, 30), utc(2026, 12, 9, 3, 30), utc(2026, 12, 10, 3, 30),
        utc(2026, 12, 11, 3, 30), utc(2026, 12, 14, 3, 30)]


def test_next_occurrence_is_strictly_after_and_respects_the_local_date():
    parsed = rules.validate("FREQ=DAILY;BYHOUR=7", MONDAY, date(2026, 12, 9))
    # 07:00 local on the 8th is 23:00 UTC on the 7th: the local date decides, not the UTC one.
    assert rules.next_occurrence(parsed, utc(2026, 12, 6, 23), date(2026, 12, 9)) == utc(2026, 12, 7, 23)
    assert rules.next_occurrence(parsed, utc(2026, 12, 7, 23), date(2026, 12, 9)) == utc(2026, 12, 8, 23)
    assert rules.next_occurrence(parsed, utc(2026, 12, 8, 23), date(2026, 12, 9)) is None  # ends_on inclusive


def test_rule_accepts_the_rrule_prefix_and_lower_case():
    assert rules.normalise(" rrule:freq=daily;byhour=8 ") == "FREQ=DAILY;BYHOUR=8"
    rules.validate("rrule:freq=daily;byhour=8", MONDAY, None)


@pytest.mark.parametrize(("rule", "says"), [
    ("garbage", "Not an RFC 5545 RRULE"),
    ("FREQ=DAILY;BYHOUR=25", "Not an RFC 5545 RRULE"),
    ("FREQ=HOURLY", "FREQ must be DAILY"),
    ("FREQ=MINUTELY;INTERVAL=90", "FREQ must be DAILY"),
    ("FREQ=DAILY", "BYHOUR"),
    ("FREQ=DAILY;BYHOUR=8;BYMINUTE=0,30", "more often than hourly"),
    ("FREQ=DAILY;BYHOUR=8;UNTIL=20270101T000000Z", "UNTIL"),
    ("FREQ=DAILY;BYHOUR=8;COUNT=3", "COUNT"),
    ("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30;BYHOUR=8", "no occurrence"),
    ("FREQ=DAILY;BYHOUR=8\nFREQ=DAILY;BYHOUR=9", "one RRULE line"),
])
def test_bad_rules_are_refused(rule, says):
    with pytest.raises(rules.RuleError, match=says):
        rules.validate(rule, MONDAY, None)


def test_no_occurrence_before_ends_on_is_refused():
    with pytest.raises(rules.RuleError, match="no occurrence"):
        rules.validate("FREQ=WEEKLY;BYDAY=SA;BYHOUR=9", MONDAY, MONDAY + timedelta(days=2))


def test_an_impossible_rule_is_refused_quickly():
    started = datetime.now(UTC)
    with pytest.raises(rules.RuleError):
        rules.validate("FREQ=YEARLY;BYMONTH=4;BYMONTHDAY=31;BYHOUR=8", MONDAY, None)
    assert datetime.now(UTC) - started < timedelta(seconds=5)  # dateutil alone searches to the year 9999


# --- services ---------------------------------------------------------------------------------------

def _spec(session, **overrides) -> recurring.RecurrenceSpec:
    service_type = session.scalar(sa.select(ServiceType).where(ServiceType.active.is_(True)).order_by(ServiceType.id))
    values = {"household_id": 1, "service_type_id": service_type.id, "rrule": MEALS, "starts_on": MONDAY,
              "ends_on": None, "lead_minutes": 120, **overrides}
    return recurring.RecurrenceSpec(**values)


def _orders_of(session, recurrence_id: int) -> list[Order]:
    return list(session.scalars(sa.select(Order).where(Order.recurrence_id == recurrence_id).order_by(Order.id)))


def test_created_with_its_first_occurrence_and_release_time(db_session):
    operator = user_named(db_session, "operator1")
    recurrence = recurring.create(_spec(db_session), actor=operator, now=utc(2026, 12, 1))
    assert recurrence.status == "active"
    assert recurrence.next_occurrence_at == utc(2026, 12, 7, 3, 30)
    assert recurrence.next_release_at == utc(2026, 12, 7, 1, 30)  # two hours' lead
    birth = db_session.scalars(sa.select(StateEvent).where(StateEvent.entity_type == "recurrence",
                                                          StateEvent.entity_id == recurrence.id)).one()
    assert (birth.from_state, birth.to_state, birth.actor_label) == (None, "active", "operator1")


def test_released_at_lead_time_exactly_once(db_session):
    recurrence = recurring.create(_spec(db_session), actor="test", now=utc(2026, 12, 1))
    assert recurring.release(recurrence.id, now=utc(2026, 12, 7, 1, 29)) is None  # a minute early
    order_id = recurring.release(recurrence.id, now=utc(2026, 12, 7, 1, 30))
    assert order_id is not None
    assert recurring.release(recurrence.id, now=utc(2026, 12, 7, 1, 30)) is None  # the same sweep again
    assert recurring.release_due(now=utc(2026, 12, 7, 1, 31)) == []

    (order,) = _orders_of(db_session, recurrence.id)
    assert (order.id, order.source, order.scheduled_for) == (order_id, "schedule", utc(2026, 12, 7, 3, 30))
    # Released means handed to dispatch: offered to a provider, or escalated when nobody can take it.
    assert order.status in ("offered", "escalated")
    events = db_session.scalars(sa.select(StateEvent).where(StateEvent.entity_type == "order",
                                                           StateEvent.entity_id == order_id)
                                .order_by(StateEvent.id)).all()
    assert [(e.from_state, e.to_state, e.actor_label) for e in events][:2] == [
        (None, "created", recurring.SYSTEM), ("created", "pending_dispatch", recurring.SYSTEM)]
    db_session.refresh(recurrence)
    assert recurrence.next_occurrence_at == utc(2026, 12, 8, 3, 30)
    assert recurrence.next_release_at == utc(2026, 12, 8, 1, 30)


def test_the_database_refuses_a_second_order_for_one_occurrence(db_session):
    recurrence = recurring.create(_spec(db_session), actor="test", now=utc(2026, 12, 1))
    recurring.release(recurrence.id, now=utc(2026, 12, 7, 2))
    # Moved back by hand (or by a bug): the unique (recurrence_id, scheduled_for) still says no.
    db_session.execute(sa.update(RecurringOrder).where(RecurringOrder.id == recurrence.id)
                       .values(next_occurrence_at=utc(2026, 12, 7, 3, 30), next_release_at=utc(2026, 12, 7, 1, 30)))
    assert recurring.release(recurrence.id, now=utc(2026, 12, 7, 2)) is None
    assert len(_orders_of(db_session, recurrence.id)) == 1


def test_an_occurrence_released_too_late_is_skipped(db_session):
    recurrence = recurring.create(_spec(db_session), actor="test", now=utc(2026, 12, 1))
    assert recurring.release(recurrence.id, now=utc(2026, 12, 7, 5)) is None  # 90 min after 11:30 local
    assert _orders_of(db_session, recurrence.id) == []
    db_session.refresh(recurrence)
    assert recurrence.next_occurrence_at == utc(2026, 12, 8, 3, 30)


def test_pause_resume_end(db_session):
    operator = user_named(db_session, "operator1")
    recurrence = recurring.create(_spec(db_session), actor=operator, now=utc(2026, 12, 1))
    recurring.release(recurrence.id, now=utc(2026, 12, 7, 2))

    recurring.pause(recurrence, actor=operator, reason="in hospital")
    assert (recurrence.status, recurrence.next_release_at) == ("paused", None)
    assert recurring.release_due(now=utc(2026, 12, 20)) == []
    with pytest.raises(TransitionConflict):
        recurring.pause(recurrence, actor=operator)

    recurring.resume(recurrence, actor=operator, now=utc(2026, 12, 9, 4))  # Wednesday 12:00 local
    assert recurrence.status == "active"
    assert recurrence.next_occurrence_at == utc(2026, 12, 10, 3, 30)  # the missed ones are not made up

    recurring.end(recurrence, actor=operator, reason="moved away")
    assert (recurrence.status, recurrence.next_occurrence_at) == ("ended", None)
    with pytest.raises(TransitionConflict):
        recurring.resume(recurrence, actor=operator)
    states = db_session.scalars(sa.select(StateEvent.to_state).where(
        StateEvent.entity_type == "recurrence", StateEvent.entity_id == recurrence.id).order_by(StateEvent.id)).all()
    assert states == ["active", "paused", "active", "ended"]
    assert len(_orders_of(db_session, recurrence.id)) == 1  # the released order stays


def test_a_finite_recurrence_ends_after_its_last_occurrence(db_session):
    spec = _spec(db_session, rrule="FREQ=DAILY;BYHOUR=9", ends_on=MONDAY + timedelta(days=1), lead_minutes=0)
    recurrence = recurring.create(spec, actor="test", now=utc(2026, 12, 1))
    assert recurring.release_due(now=utc(2026, 12, 7, 1)) != []
    assert recurring.release_due(now=utc(2026, 12, 8, 1)) != []
    db_session.refresh(recurrence)
    assert (recurrence.status, recurrence.next_release_at) == ("ended", None)
    assert len(_orders_of(db_session, recurrence.id)) == 2


# --- API ----------------------------------------------------------------------------------------------

def _body(db_session, **overrides) -> dict:
    code = db_session.scalar(sa.select(ServiceType.code).where(ServiceType.active.is_(True)).order_by(ServiceType.id))
    return {"household_id": 1, "service_type": code, "rrule": MEALS, "starts_on": "2099-01-05", **overrides}


def test_api_create_get_pause_resume_end(client, ops, db_session):
    headers = ops("operator1")
    response = client.post("/api/v1/recurring-orders", json=_body(db_session, lead_minutes=90), headers=headers)
    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    assert created["status"] == "active" and created["lead_minutes"] == 90
    assert created["next_occurrence_at"] == "2099-01-05T03:30:00+00:00"  # a Monday, 11:30 local
    assert len(created["upcoming"]) == 5

    path = f"/api/v1/recurring-orders/{created['id']}"
    assert client.get(path, headers=headers).get_json()["rrule"] == MEALS
    listed = client.get("/api/v1/recurring-orders?household_id=1&status=active", headers=headers)
    assert listed.status_code == 200, listed.get_json()
    listed = listed.get_json()
    assert created["id"] in [item["id"] for item in listed["items"]]

    paused = client.post(f"{path}/pause", json={"reason": "in hospital"}, headers=headers)
    assert paused.status_code == 200 and paused.get_json()["status"] == "paused"
    assert client.post(f"{path}/pause", json={}, headers=headers).status_code == 409
    assert client.post(f"{path}/resume", json={}, headers=headers).get_json()["status"] == "active"
    assert client.post(f"{path}/end", json={}, headers=headers).get_json()["status"] == "ended"


@pytest.mark.parametrize(("overrides", "field"), [
    ({"rrule": "FREQ=DAILY;BYHOUR=8;BYMINUTE=0,30"}, "rrule"),
    ({"rrule": "not a rule"}, "rrule"),
    ({"household_id": 99999999}, "household_id"),
    ({"service_type": "no-such-type"}, "service_type"),
    ({"starts_on": "31/12/2026"}, "starts_on"),
    ({"ends_on": "2098-01-01"}, "ends_on"),
    ({"lead_minutes": -5}, "lead_minutes"),
    ({"preferred_provider_id": 99999999}, "preferred_provider_id"),
    ({"surprise": 1}, "surprise"),
])
def test_api_bad_input_is_400_with_the_field(client, ops, db_session, overrides, field):
    response = client.post("/api/v1/recurring-orders", json=_body(db_session, **overrides),
                           headers=ops("operator1"))
    assert response.status_code == 400, response.get_json()
    assert field in error_of(response)["fields"]


def test_api_unknown_recurrence_is_404(client, ops):
    assert client.get("/api/v1/recurring-orders/99999999", headers=ops("operator1")).status_code == 404
