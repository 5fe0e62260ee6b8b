"""Order and offer state machines (DESIGN.md, "State machines"). Services flush, never commit."""

from __future__ import annotations

from eldercare.core.errors import not_found
from eldercare.core.events import OPS_NAMESPACE, OPS_ROOM, PROVIDER_NAMESPACE, provider_room
from eldercare.core.states import StateMachine
from eldercare.dispatch.events import ORDER_UPDATED
from eldercare.dispatch.models import Offer, Order
from eldercare.extensions import db

ORDER = StateMachine("order", Order, {
    "created": {"pending_dispatch", "cancelled"},
    "pending_dispatch": {"offered", "escalated", "assigned", "cancelled"},
    # A declined or expired offer puts the order back in the dispatch pool.
    "offered": {"accepted", "pending_dispatch", "escalated", "cancelled"},
    "accepted": {"assigned", "pending_dispatch", "escalated", "cancelled"},
    "assigned": {"en_route", "pending_dispatch", "cannot_complete", "cancelled"},
    "en_route": {"in_service", "no_show", "cannot_complete"},
    "in_service": {"completed", "cannot_complete"},
    "completed": {"verified"},
    "verified": {"settled"},
    # An operator takes an escalated order: re-offer it, widen the area, assign by hand, or cancel.
    "escalated": {"pending_dispatch", "offered", "assigned", "cancelled"},
})

OFFER = StateMachine("offer", Offer, {
    "pending": {"accepted", "declined", "expired", "withdrawn"},
})



ESCALATION_REASONS = ("no_eligible_provider", "too_many_failed_offers", "sla_at_risk")


def get_order(order_id: int) -> Order:
    order = db.session.get(Order, order_id)
    if order is None:
        raise not_found("Order")
    return order


def get_offer(offer_id: int) -> Offer:
    offer = db.session.get(Offer, offer_id)
    if offer is None:
        raise not_found("Offer")
    return offer


def order_payload(order: Order) -> dict:
    return {"id": order.id, "status": order.status, "provider_id": order.provider_id,
            "household_id": order.household_id, "service_type": order.service_type.code,
            "escalation_reason": order.escalation_reason if order.status == "escalated" else None}


def announce_order(order: Order) -> None:
    """`order.updated` to the call centre, and (without the household) to the order's company."""
    payload = order_payload(order)
    ORDER_UPDATED.publish(payload, namespace=OPS_NAMESPACE, room=OPS_ROOM)
    if order.provider_id is not None:
        ORDER_UPDATED.publish({**payload, "household_id": None}, namespace=PROVIDER_NAMESPACE,
                              room=provider_room(order.provider_id))
