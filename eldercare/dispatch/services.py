"""Order and offer state machines (DESIGN.md, "State machines"). Services flush, never commit."""

from __future__ import annotations

from eldercare.core.states import StateMachine
from eldercare.dispatch.models import Offer, Order

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

