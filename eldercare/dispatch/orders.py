"""Service orders from the call centre: intake, manual assignment, a wider area, cancellation (issue 6).
Services flush, never commit.

Price and subsidy come from the catalogue: the type's unit price, and for a subsidy-eligible type the share of
it the civil-affairs bureau pays for the resident's subsidy level (SUBSIDY_RATES). The SLA is the type's
`default_sla_minutes` from the order (or the scheduled time itself).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa

from eldercare.catalog.models import ServiceType
from eldercare.core import timers
from eldercare.core.errors import ApiError, conflict
from eldercare.core.models import User
from eldercare.core.states import Actor
from eldercare.core.time import utcnow
from eldercare.dispatch import matching, offers
from eldercare.dispatch.models import Order
from eldercare.dispatch.services import ORDER, announce_order
from eldercare.extensions import db
from eldercare.households.models import Household, Resident
from eldercare.providers.models import Provider

# Share of the unit price the bureau pays, by the resident's subsidy level (the best level in the household).
SUBSIDY_RATES = {"low-income": Decimal("1.00"), "disabled": Decimal("0.80"), "80+": Decimal("0.50")}
CANCELLABLE = ("created", "pending_dispatch", "offered", "accepted", "assigned", "escalated")
# "created": an order recorded without a dispatch round (a referral from an alarm) is released by a rematch.
REMATCHABLE = ("created", "pending_dispatch", "escalated")


def bad_input(field: str, message: str) -> ApiError:
    return ApiError(400, "bad_request", "Invalid input.", {field: [message]})


def subsidy_for(service_type: ServiceType, residents: list[Resident]) -> Decimal:
    if not service_type.subsidy_eligible:
        return Decimal("0.00")
    rate = max((SUBSIDY_RATES.get(r.subsidy_level or "", Decimal(0)) for r in residents if r.active),
               default=Decimal(0))
    return (service_type.unit_price * rate).quantize(Decimal("0.01"))


def create_order(data: dict, actor: User, *, source: str = "operator") -> Order:
    """Record the order and run its first dispatch round (which may escalate it at once)."""
    now = utcnow()
    household = db.session.get(Household, data["household_id"])
    if household is None or not household.active:
        raise bad_input("household_id", "Unknown household.")
    service_type = db.session.scalar(sa.select(ServiceType).where(ServiceType.code == data["service_type"],
                                                                 ServiceType.active.is_(True)))
    if service_type is None:
        raise bad_input("service_type", "Unknown service type.")
    scheduled_for: datetime | None = data.get("scheduled_for")
    if scheduled_for is not None and scheduled_for < now - timedelta(minutes=5):
        raise bad_input("scheduled_for", "Must not be in the past.")
    residents = list(household.residents)
    sla_due = scheduled_for if scheduled_for is not None and scheduled_for > now else \
        now + timedelta(minutes=service_type.default_sla_minutes)
    order = Order(household_id=household.id, resident_id=next((r.id for r in residents if r.active), None),
                  service_type_id=service_type.id, status="created", source=source, scheduled_for=scheduled_for,
                  sla_due_at=sla_due, notes=data.get("notes"), price=service_type.unit_price,
                  subsidy_amount=subsidy_for(service_type, residents), created_by_id=actor.id,
                  dispatch_mode=data.get("dispatch_mode") or "sequential", created_at=now, updated_at=now)
    db.session.add(order)
    db.session.flush()
    ORDER.record_new(order.id, "created", actor=actor, reason=f"{source} intake")
    start_dispatch(order, actor=actor)
    return order


def start_dispatch(order: Order, *, actor: Actor) -> None:
    """A recorded order goes to dispatch: its SLA timer and the first round of offers (or escalation).
    For every way an order comes in: the operator's form, an alarm's referral, a standing order's release."""
    now = utcnow()
    if order.sla_due_at is None:
        service_type = db.session.get(ServiceType, order.service_type_id)
        order.sla_due_at = order.scheduled_for if order.scheduled_for is not None and order.scheduled_for > now \
            else now + timedelta(minutes=service_type.default_sla_minutes)
    ORDER.transition(order, "pending_dispatch", actor=actor, reason="to dispatch")
    offers.arm_sla(order, now)
    offers.dispatch_round(order, actor=actor, reason="first round")


def assign_provider(order: Order, provider_id: int, actor: User) -> Order:
    """An operator places the order with a company by hand (outside the ranking and the coverage): it must
    be active, offer the type and have room, re-counted under its row lock as for an acceptance."""
    if order.status not in ("pending_dispatch", "offered", "escalated"):
        raise conflict(f"Order {order.id} is {order.status}; only an undispatched order is assigned by hand.",
                       status=order.status)
    provider = db.session.get(Provider, provider_id)
    if provider is None:
        raise bad_input("provider_id", "Unknown provider.")
    if order.service_type not in provider.service_types:
        raise bad_input("provider_id", "This provider does not offer the service type.")
    provider = offers.lock_provider(provider_id)  # the same lock as an acceptance
    offers.require_room(provider, order, utcnow())
    offers.withdraw_pending(order, actor=actor, reason="assigned by hand")
    if order.status == "offered":
        ORDER.transition(order, "pending_dispatch", actor=actor, reason="taken back for manual assignment")
    ORDER.transition(order, "assigned", actor=actor, reason=f"assigned by hand to provider {provider.id}",
                     values={"provider_id": provider.id, "accepted_at": utcnow(), "escalation_reason": None},
                     data={"provider_id": provider.id})
    timers.disarm(offers.SLA_TIMER, order.id)
    announce_order(order)
    return order


def rematch(order: Order, actor: User, *, widen: bool) -> Order:
    """Another dispatch round on the operator's word: the failed-round count starts again, providers already
    tried stay excluded, and `widen` lets every company of the household's district in."""
    if order.status not in REMATCHABLE:
        raise conflict(f"Order {order.id} is {order.status}; only an undispatched or escalated order is rematched.",
                       status=order.status)
    values = {"offer_attempts": 0, "widened": order.widened or widen}
    if order.status in ("created", "escalated"):
        ORDER.transition(order, "pending_dispatch", actor=actor, reason="rematch" + (" (widened)" if widen else ""),
                         values=values)
    else:
        db.session.execute(sa.update(Order).where(Order.id == order.id).values(**values)
                           .execution_options(synchronize_session=False))
        db.session.refresh(order)
    offers.dispatch_round(order, actor=actor, reason="rematch", check_sla=False)
    return order


def cancel(order: Order, actor: User, reason: str) -> Order:
    if order.status not in CANCELLABLE:
        raise conflict(f"Order {order.id} is {order.status}; it can no longer be cancelled.", status=order.status)
    offers.withdraw_pending(order, actor=actor, reason=f"order cancelled: {reason}")
    ORDER.transition(order, "cancelled", actor=actor, reason=reason)
    timers.disarm(offers.SLA_TIMER, order.id)
    announce_order(order)
    return order


def candidates(order: Order) -> matching.Screening:
    """The ranking the next round would use, and why the others are out (for the operator's screen)."""
    request = matching.request_for(order, exclude=offers.tried_providers(order))
    return matching.evaluate(request)
