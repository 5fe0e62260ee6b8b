"""Socket.IO events of the dispatch domain, emitted after commit (eldercare.core.events).

- `offer.created` (/provider, room `provider:<id>`): an offer to that company (`id` = the offer, `status`
  pending) with the order, service type, community and deadline — never the resident's name, phone or address.
- `offer.withdrawn` (/provider, room `provider:<id>`): the offer is gone (another company accepted, the order
  was escalated, reassigned or cancelled, or it expired unanswered); `status` is the offer's new state.
- `order.updated` (/ops, room `ops`; and /provider, room `provider:<id>` of the order's company): the order's
  `status`, `provider_id` and `escalated` reason (provider staff get the same minimal payload).
- `order.escalated` (/ops, room `ops:supervisors`): an order is on the supervisors' queue, with its reason.
"""

from __future__ import annotations

import marshmallow as ma

from eldercare.core.events import EventPayloadSchema, SocketEvent


class OfferPayloadSchema(EventPayloadSchema):
    order_id = ma.fields.Integer(required=True)
    provider_id = ma.fields.Integer(required=True)
    service_type = ma.fields.String(required=True)
    service_name_zh = ma.fields.String(allow_none=True)
    community = ma.fields.String(allow_none=True)
    scheduled_for = ma.fields.String(allow_none=True)
    expires_at = ma.fields.String(allow_none=True)


class OrderPayloadSchema(EventPayloadSchema):
    provider_id = ma.fields.Integer(allow_none=True)
    household_id = ma.fields.Integer(allow_none=True)
    service_type = ma.fields.String(allow_none=True)
    escalation_reason = ma.fields.String(allow_none=True)


OFFER_CREATED = SocketEvent("offer.created", OfferPayloadSchema())
OFFER_WITHDRAWN = SocketEvent("offer.withdrawn", OfferPayloadSchema())
ORDER_UPDATED = SocketEvent("order.updated", OrderPayloadSchema())
ORDER_ESCALATED = SocketEvent("order.escalated", OrderPayloadSchema())


class CallbackPayloadSchema(EventPayloadSchema):
    household_id = ma.fields.Integer(required=True)
    presses = ma.fields.Integer(required=True)


# `callback.updated` (/ops, room `ops`): a call-back task opened (or pressed again: `presses`) by a device's
# green "service" key, or closed by an operator (`status` done / cancelled).
CALLBACK_UPDATED = SocketEvent("callback.updated", CallbackPayloadSchema())
