"""The provider's side of a job (issue 6, item 5): its offers and jobs, a worker, progress, the end.
Services flush, never commit.

Provider staff see only their own company's offers and jobs, and of the resident only what the job needs:
before acceptance (offers) the community and the service; from acceptance to the end of the job also the
resident's name, phone and exact address (each showing is an audit event); after the end, none of it again.

    accepted → assigned (a worker of the company) → en_route → in_service ("arrived") → completed
    assigned | en_route | in_service → cannot_complete (with the reason)

Completion records notes, duration and the final price and puts a follow-up call (回访) on the operators'
list (eldercare.dispatch.followups).
"""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa

from eldercare.core import audit
from eldercare.core.errors import ApiError, conflict, not_found
from eldercare.core.models import User
from eldercare.core.time import utcnow
from eldercare.dispatch import followups
from eldercare.dispatch.models import Offer, Order
from eldercare.dispatch.services import ORDER, announce_order
from eldercare.extensions import db
from eldercare.geo.models import Community
from eldercare.households.models import Household, Resident
from eldercare.providers.models import ProviderWorker

# While the company is doing the job it needs to reach the resident; before and after, it does not.
RESIDENT_VISIBLE = ("accepted", "assigned", "en_route", "in_service")
JOB_STATUSES = (*RESIDENT_VISIBLE, "completed", "verified", "settled", "cannot_complete", "no_show")


def company_offers(user: User, status: str | None) -> sa.Select:
    query = sa.select(Offer).where(Offer.provider_id == user.provider_id).order_by(Offer.id.desc())
    return query.where(Offer.status == status) if status else query


def company_jobs(user: User, status: str | None, finished: bool | None = None) -> sa.Select:
    query = (sa.select(Order).where(Order.provider_id == user.provider_id, Order.status.in_(JOB_STATUSES))
             .order_by(Order.id.desc()))
    if finished is not None:
        in_hand = Order.status.in_(RESIDENT_VISIBLE)
        query = query.where(sa.not_(in_hand) if finished else in_hand)
    return query.where(Order.status == status) if status else query


def get_job(order_id: int, user: User) -> Order:
    """One of the company's jobs; another company's is "not found" (its existence is not theirs to know)."""
    order = db.session.get(Order, order_id)
    if order is None or order.provider_id != user.provider_id or order.status not in JOB_STATUSES:
        raise not_found("Job")
    return order


def community_of(order: Order) -> str | None:
    return db.session.scalar(sa.select(Community.name_zh).join(Household, Household.community_id == Community.id)
                             .where(Household.id == order.household_id))


def resident_view(order: Order, user: User) -> dict | None:
    """Name, phone and address while the job is in hand (audited), else None."""
    if order.status not in RESIDENT_VISIBLE:
        return None
    household = db.session.get(Household, order.household_id)
    resident = db.session.get(Resident, order.resident_id) if order.resident_id else None
    audit.record("order.resident_shown", target_type="order", target_id=order.id, actor=user,
                 household_id=household.id, resident_id=resident.id if resident else None)
    return {"name": resident.name if resident else None,
            "phone": (resident.phone if resident and resident.phone else household.phone),
            "address": household.address, "lat": household.lat, "lng": household.lng,
            "access_info": household.access_info}


def _move(order: Order, user: User, wanted: str, *, allowed: tuple[str, ...], reason: str,
          values: dict | None = None) -> Order:
    if order.status not in allowed:
        raise conflict(f"Job {order.id} is {order.status}; cannot become {wanted}.", status=order.status)
    ORDER.transition(order, wanted, actor=user, reason=reason, values=values, only_from=allowed)
    announce_order(order)
    return order


def assign_worker(order: Order, user: User, worker_id: int) -> Order:
    worker = db.session.get(ProviderWorker, worker_id)
    if worker is None or worker.provider_id != user.provider_id or not worker.active:
        raise ApiError(400, "bad_request", "Invalid input.", {"worker_id": ["Not an active worker of your company."]})
    if order.status == "assigned" and order.worker_id != worker.id:
        # Another worker takes over (or the first one is named after a manual assignment): no state change.
        db.session.execute(sa.update(Order).where(Order.id == order.id, Order.status == "assigned")
                           .values(worker_id=worker.id).execution_options(synchronize_session=False))
        audit.record("order.worker_changed", target_type="order", target_id=order.id, actor=user,
                     worker_id=worker.id, previous=order.worker_id)
        db.session.refresh(order)
        announce_order(order)
        return order
    return _move(order, user, "assigned", allowed=("accepted",), reason=f"worker {worker.id}",
                 values={"worker_id": worker.id})


def en_route(order: Order, user: User) -> Order:
    if order.status == "assigned" and order.worker_id is None:
        raise conflict(f"Job {order.id} has no worker yet; assign one first.", status=order.status)
    return _move(order, user, "en_route", allowed=("assigned",), reason="on the way", values={"en_route_at": utcnow()})


def arrived(order: Order, user: User) -> Order:
    return _move(order, user, "in_service", allowed=("en_route",), reason="arrived", values={"started_at": utcnow()})


def complete(order: Order, user: User, *, notes: str | None, duration_minutes: int,
             price: Decimal | None) -> Order:
    now = utcnow()
    values = {"completed_at": now, "completion_notes": notes, "duration_minutes": duration_minutes}
    if price is not None:
        values["price"] = price
    _move(order, user, "completed", allowed=("in_service",), reason="completed", values=values)
    followups.schedule(order, now)
    return order


def cannot_complete(order: Order, user: User, reason: str) -> Order:
    return _move(order, user, "cannot_complete", allowed=("assigned", "en_route", "in_service"), reason=reason,
                 values={"completion_notes": reason, "completed_at": utcnow()})
