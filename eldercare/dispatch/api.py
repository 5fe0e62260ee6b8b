"""`/api/v1/orders` and `/api/v1/offers`: intake, the dispatch board, the supervisors' queue, and the
providers' answers to offers (CONTRACT.md, "Incidents and orders"; eldercare.dispatch.offers)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import g
from sqlalchemy.orm import selectinload

from eldercare.core.auth import OPS, roles
from eldercare.core.rest import ApiBlueprint, page_schema, paginate
from eldercare.dispatch import offers, orders
from eldercare.dispatch.models import Offer, Order
from eldercare.dispatch.schemas import (
    AssignSchema,
    CandidatesSchema,
    OfferListItemSchema,
    OfferQuerySchema,
    OrderCreatedSchema,
    OrderCreateSchema,
    OrderQuerySchema,
    OrderSchema,
    OrderSummarySchema,
    ProviderOfferSchema,
    ReasonSchema,
    RematchSchema,
)
from eldercare.dispatch.services import get_offer, get_order
from eldercare.extensions import db
from eldercare.providers.models import Provider

blp = ApiBlueprint("dispatch", __name__, description="Service orders, matching and offers")
BEARER = [{"bearer": []}]


@blp.route("/orders", methods=["POST"])
@roles(*OPS)
@blp.arguments(OrderCreateSchema)
@blp.response(201, OrderCreatedSchema)
@blp.alt_response(400, description="Invalid input (field errors)")
@blp.doc(security=BEARER)
def create_order(data: dict) -> Order:
    """Take an order and run its first dispatch round: the response is `offered`, or `escalated` with the
    reason when nobody can take it."""
    order = orders.create_order(data, g.user)
    db.session.commit()
    return order


@blp.route("/orders", methods=["GET"])
@roles(*OPS)
@blp.arguments(OrderQuerySchema, location="query")
@blp.response(200, page_schema(OrderSummarySchema))
@blp.doc(security=BEARER)
def list_orders(args: dict) -> dict:
    """Newest first. `escalated=true` is the supervisors' queue (oldest first there)."""
    query = sa.select(Order).options(selectinload(Order.service_type))
    for column in ("status", "household_id", "provider_id"):
        if args[column] is not None:
            query = query.where(getattr(Order, column) == args[column])
    if args["escalated"] is True:
        return paginate(query.where(Order.status == "escalated").order_by(Order.id), args)
    if args["escalated"] is False:
        query = query.where(Order.status != "escalated")
    return paginate(query.order_by(Order.id.desc()), args)


@blp.route("/orders/<int:order_id>", methods=["GET"])
@roles(*OPS)
@blp.response(200, OrderSchema)
@blp.doc(security=BEARER)
def get_order_view(order_id: int) -> Order:
    """The order with its offers (each with its ranking explanation) and its state history."""
    return get_order(order_id)


@blp.route("/orders/<int:order_id>/candidates", methods=["GET"])
@roles(*OPS)
@blp.response(200, CandidatesSchema)
@blp.doc(security=BEARER)
def order_candidates(order_id: int) -> dict:
    """The ranking the next dispatch round would use ("why ranked here"), and the rule each other provider
    of the type fails."""
    screening = orders.candidates(get_order(order_id))
    names = dict(db.session.execute(sa.select(Provider.id, Provider.name_zh)
                                    .where(Provider.id.in_(list(screening.rejected)))).all())
    return {"eligible": [{"provider_id": c.provider_id, "name_zh": c.name, **c.explanation(rank)}
                         for rank, c in enumerate(screening.eligible, start=1)],
            "rejected": [{"provider_id": p, "name_zh": names.get(p), "rule": rule}
                         for p, rule in sorted(screening.rejected.items())]}


@blp.route("/orders/<int:order_id>/assign", methods=["POST"])
@roles(*OPS)
@blp.arguments(AssignSchema)
@blp.response(200, OrderSchema)
@blp.alt_response(409, description="The order is no longer undispatched, or the provider has no room")
@blp.doc(security=BEARER)
def assign_order(data: dict, order_id: int) -> Order:
    """Place the order with a company by hand (it must be active, offer the type and have room)."""
    order = orders.assign_provider(get_order(order_id), data["provider_id"], g.user)
    db.session.commit()
    return order


@blp.route("/orders/<int:order_id>/rematch", methods=["POST"])
@roles(*OPS)
@blp.arguments(RematchSchema)
@blp.response(200, OrderSchema)
@blp.doc(security=BEARER)
def rematch_order(data: dict, order_id: int) -> Order:
    """Another dispatch round for an escalated or pending order (or the first for an order recorded without
    one, such as an alarm's referral); `widen` includes every company of the household's district."""
    order = orders.rematch(get_order(order_id), g.user, widen=data["widen"])
    db.session.commit()
    return order


@blp.route("/orders/<int:order_id>/cancel", methods=["POST"])
@roles(*OPS)
@blp.arguments(ReasonSchema)
@blp.response(200, OrderSchema)
@blp.doc(security=BEARER)
def cancel_order(data: dict, order_id: int) -> Order:
    order = orders.cancel(get_order(order_id), g.user, data["reason"])
    db.session.commit()
    return order


# --- offers ------------------------------------------------------------------------------------------

@blp.route("/offers", methods=["GET"])
@roles(*OPS, "provider_staff")
@blp.arguments(OfferQuerySchema, location="query")
@blp.response(200, page_schema(OfferListItemSchema))
@blp.doc(security=BEARER)
def list_offers(args: dict) -> dict:
    """Provider staff: their company's offers only (the service and the community, never the resident);
    the call centre: all, by order or provider."""
    query = sa.select(Offer).order_by(Offer.id.desc())
    if g.user.role == "provider_staff":
        query = query.where(Offer.provider_id == g.user.provider_id)
    elif args["provider_id"] is not None:
        query = query.where(Offer.provider_id == args["provider_id"])
    if args["status"] is not None:
        query = query.where(Offer.status == args["status"])
    if args["order_id"] is not None:
        query = query.where(Offer.order_id == args["order_id"])
    return paginate(query, args)


@blp.route("/offers/<int:offer_id>/accept", methods=["POST"])
@roles("provider_staff")
@blp.response(200, ProviderOfferSchema)
@blp.alt_response(409, description="The offer is no longer pending, or the company is at capacity")
@blp.doc(security=BEARER)
def accept_offer(offer_id: int) -> Offer:
    """Exactly one of any number of concurrent accepts of an order's offers succeeds; the rest get 409."""
    offer = get_offer(offer_id)
    offers.accept(offer, g.user)
    db.session.commit()
    return offer


@blp.route("/offers/<int:offer_id>/decline", methods=["POST"])
@roles("provider_staff")
@blp.arguments(ReasonSchema)
@blp.response(200, ProviderOfferSchema)
@blp.alt_response(409, description="The offer is no longer pending")
@blp.doc(security=BEARER)
def decline_offer(data: dict, offer_id: int) -> Offer:
    offer = get_offer(offer_id)
    offers.decline(offer, g.user, data["reason"])
    db.session.commit()
    return offer


@blp.route("/offers/<int:offer_id>/extend", methods=["POST"])
@roles("provider_staff")
@blp.response(200, ProviderOfferSchema)
@blp.alt_response(409, description="Already extended once, or no longer pending")
@blp.doc(security=BEARER)
def extend_offer(offer_id: int) -> Offer:
    """Ask once for more time: the deadline moves by the service type's offer time."""
    offer = get_offer(offer_id)
    offers.extend(offer, g.user)
    db.session.commit()
    return offer
