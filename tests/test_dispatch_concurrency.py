"""Issue 6: acceptance is decided by the database. On committed data with real threads: 50 concurrent
accepts of one offer give exactly one 200; concurrent accepts of several offers to one company never exceed
its capacity. And a property (hypothesis): whatever the sequence of answers, the company of an accepted order
was eligible when it accepted, and no company ever holds more jobs than its concurrent capacity."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eldercare.alerts.models import Notification
from eldercare.core import events, presence, timers
from eldercare.core.auth import issue_token
from eldercare.core.models import StateEvent, Timer, User
from eldercare.core.time import CITY_TZ, utcnow
from eldercare.dispatch import matching, orders
from eldercare.dispatch.matching import ACTIVE_JOB_STATUSES
from eldercare.dispatch.models import Offer, Order
from eldercare.extensions import db
from eldercare.households.models import Household
from eldercare.providers.models import Provider, ProviderHours, provider_coverage, provider_service_types
from tests.conftest import NoCountdown, RequestScopedClient
from tests.dispatch_helpers import bearer, busy_household, next_local, place, staff_of
from tests.helpers import user_named

ACCEPTS = 50


@pytest.fixture
def committed(app) -> Iterator[dict]:
    """Committed rows made by a test, deleted afterwards: orders (with their offers, events, timers and
    notifications), users, and providers' capacities to restore."""
    made: dict = {"orders": [], "users": [], "capacity": {}}
    matching.invalidate()
    yield made
    with app.app_context():
        order_ids = made["orders"]
        offer_ids = list(db.session.scalars(sa.select(Offer.id).where(Offer.order_id.in_(order_ids))))
        db.session.execute(sa.delete(Notification).where(Notification.purpose_type == "offer",
                                                         Notification.purpose_id.in_(offer_ids)))
        db.session.execute(sa.delete(Timer).where(sa.or_(
            sa.and_(Timer.kind == "offer.expire", Timer.ref_id.in_(offer_ids)),
            sa.and_(Timer.kind == "order.sla", Timer.ref_id.in_(order_ids)))))
        db.session.execute(sa.delete(StateEvent).where(sa.or_(
            sa.and_(StateEvent.entity_type == "offer", StateEvent.entity_id.in_(offer_ids)),
            sa.and_(StateEvent.entity_type == "order", StateEvent.entity_id.in_(order_ids)))))
        db.session.execute(sa.delete(Offer).where(Offer.id.in_(offer_ids)))
        db.session.execute(sa.delete(Order).where(Order.id.in_(order_ids)))
        db.session.execute(sa.delete(User).where(User.id.in_(made["users"])))
        for provider_id, capacity in made["capacity"].items():
            db.session.execute(sa.update(Provider).where(Provider.id == provider_id)
                               .values(concurrent_capacity=capacity))
        db.session.commit()
        db.session.remove()
    matching.invalidate()


def _order(made: dict, household_id: int) -> Order:
    order = orders.create_order({"household_id": household_id, "service_type": "care.home_visit",
                                 "scheduled_for": next_local()}, user_named(db.session, "operator1"))
    db.session.commit()
    made["orders"].append(order.id)
    return order


def _staff_token(made: dict, provider_id: int) -> str:
    user = User(username=f"race{provider_id}-{utcnow().timestamp():.0f}", role="provider_staff",
                provider_id=provider_id)
    user.set_password("irrelevant-pw")
    db.session.add(user)
    db.session.commit()
    made["users"].append(user.id)
    return issue_token(user)[0]


def _race(app, token: str, paths: list[str]) -> list[tuple[int, dict]]:
    start = threading.Barrier(len(paths))
    results: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def post(path: str) -> None:
        client = RequestScopedClient(app, app.response_class)
        start.wait(10)
        response = client.post(path, headers={"Authorization": f"Bearer {token}"})
        with lock:
            results.append((response.status_code, response.get_json()))

    threads = [threading.Thread(target=post, args=(path,)) for path in paths]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_fifty_concurrent_accepts_of_one_offer_exactly_one_wins(app, committed):
    with app.app_context():
        order = _order(committed, busy_household(db.session))
        [offer] = order.offers
        offer_id, provider_id = offer.id, offer.provider_id
        token = _staff_token(committed, provider_id)
        db.session.remove()
    results = _race(app, token, [f"/api/v1/offers/{offer_id}/accept"] * ACCEPTS)
    statuses = sorted(status for status, _ in results)
    assert statuses == [200] + [409] * (ACCEPTS - 1), statuses
    assert all(body["error"]["fields"]["status"] == "accepted" for status, body in results if status == 409)
    with app.app_context():
        row = db.session.get(Order, committed["orders"][0])
        assert (row.status, row.provider_id) == ("accepted", provider_id)
        accepted = db.session.scalar(sa.select(sa.func.count()).select_from(StateEvent).where(
            StateEvent.entity_type == "order", StateEvent.entity_id == row.id, StateEvent.to_state == "accepted"))
        assert accepted == 1
        db.session.remove()


def test_concurrent_accepts_never_exceed_the_company_capacity(app, committed):
    """Five orders offered to one company that can hold two jobs at once, all accepted at the same moment."""
    with app.app_context():
        household_id = busy_household(db.session)
        first = _order(committed, household_id)
        provider_id = first.offers[0].provider_id
        provider = db.session.get(Provider, provider_id)
        committed["capacity"][provider_id] = provider.concurrent_capacity
        provider.concurrent_capacity = 2
        type_id = first.service_type_id
        now = utcnow()
        offer_ids = [first.offers[0].id]
        for _ in range(4):  # four more orders, each with a pending offer to the same company
            order = Order(household_id=household_id, service_type_id=type_id, status="offered", source="operator",
                          scheduled_for=first.scheduled_for, sla_due_at=first.sla_due_at, created_at=now)
            db.session.add(order)
            db.session.flush()
            committed["orders"].append(order.id)
            offer = Offer(order_id=order.id, provider_id=provider_id, status="pending", rank=1, created_at=now,
                          expires_at=now + timedelta(minutes=30))
            db.session.add(offer)
            db.session.flush()
            offer_ids.append(offer.id)
        db.session.commit()
        token = _staff_token(committed, provider_id)
        db.session.remove()
    results = _race(app, token, [f"/api/v1/offers/{offer_id}/accept" for offer_id in offer_ids])
    statuses = sorted(status for status, _ in results)
    assert statuses == [200, 200, 409, 409, 409], results
    assert {body["error"]["fields"]["status"] for status, body in results if status == 409} == {"capacity"}
    with app.app_context():
        held = db.session.scalar(sa.select(sa.func.count()).select_from(Order).where(
            Order.provider_id == provider_id, Order.status.in_(ACTIVE_JOB_STATUSES)))
        assert held == 2
        db.session.remove()


# --- the property, in one transaction ----------------------------------------------------------------

def eligible_now(session, provider_id: int, order: Order) -> bool:
    """Recomputed with SQL of its own: the rules of eldercare.dispatch.matching at this moment."""
    provider = session.get(Provider, provider_id)
    household = session.get(Household, order.household_id)
    at = order.scheduled_for.astimezone(CITY_TZ)
    offers_type = session.scalar(sa.select(sa.func.count()).select_from(provider_service_types).where(
        provider_service_types.c.provider_id == provider_id,
        provider_service_types.c.service_type_id == order.service_type_id))
    covers = session.scalar(sa.select(sa.func.count()).select_from(provider_coverage).where(
        provider_coverage.c.provider_id == provider_id, provider_coverage.c.community_id == household.community_id))
    hours = session.scalar(sa.select(ProviderHours).where(ProviderHours.provider_id == provider_id,
                                                          ProviderHours.weekday == at.weekday()))
    held = session.scalar(sa.select(sa.func.count()).select_from(Order).where(
        Order.provider_id == provider_id, Order.status.in_(ACTIVE_JOB_STATUSES)))
    return bool(offers_type and covers and provider.status == "active" and hours is not None
                and hours.opens_at <= at.time() < hours.closes_at and held < provider.concurrent_capacity)


def over_capacity(session) -> list[int]:
    held = (sa.select(Order.provider_id, sa.func.count().label("n"))
            .where(Order.status.in_(ACTIVE_JOB_STATUSES)).group_by(Order.provider_id).subquery())
    return list(session.scalars(sa.select(Provider.id).join(held, held.c.provider_id == Provider.id)
                                .where(held.c.n > Provider.concurrent_capacity)))


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(capacity=st.integers(1, 3), count=st.integers(1, 4),
       answers=st.lists(st.sampled_from(("accept", "decline", "expire")), min_size=1, max_size=10))
def test_accepted_means_eligible_and_capacity_holds(client, db_session, monkeypatch, capacity, count, answers):
    monkeypatch.setattr(events, "emit_now", lambda *a, **k: None)
    monkeypatch.setattr(timers, "fire_timer", NoCountdown)
    presence.forget_all()
    household_id = busy_household(db_session)
    # Each example starts from no open work for this household (earlier examples share the transaction).
    db_session.execute(sa.update(Offer).where(Offer.status == "pending").values(status="withdrawn"))
    db_session.execute(sa.update(Order).where(Order.household_id == household_id,
                                              Order.status.not_in(("cancelled", "completed")))
                       .values(status="cancelled"))
    db_session.execute(sa.update(Provider).values(concurrent_capacity=capacity))
    db_session.commit()
    matching.invalidate()
    operator = bearer(user_named(db_session, "operator1"))
    placed = [place(client, operator, household_id).get_json()["id"] for _ in range(count)]
    for answer in answers:
        db_session.expire_all()
        offer = db_session.scalars(sa.select(Offer).where(Offer.order_id.in_(placed), Offer.status == "pending")
                                   .order_by(Offer.id)).first()
        if offer is None:
            break
        if answer == "expire":
            timer = db_session.scalar(sa.select(Timer).where(Timer.kind == "offer.expire", Timer.ref_id == offer.id))
            timers.fire(timer.id, now=timer.due_at + timedelta(seconds=1))
            db_session.commit()
            continue
        staff = bearer(staff_of(db_session, offer.provider_id))
        if answer == "decline":
            assert client.post(f"/api/v1/offers/{offer.id}/decline", json={"reason": "busy"},
                               headers=staff).status_code == 200
            continue
        was_eligible = eligible_now(db_session, offer.provider_id, offer.order)
        response = client.post(f"/api/v1/offers/{offer.id}/accept", headers=staff)
        assert response.status_code in (200, 409), response.get_json()
        if response.status_code == 200:
            assert was_eligible
        else:
            assert not was_eligible and response.get_json()["error"]["fields"]["status"] == "capacity"
        assert over_capacity(db_session) == []
    matching.invalidate()


