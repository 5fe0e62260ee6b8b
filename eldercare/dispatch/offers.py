"""Offers: placing an order with providers, their answers, expiry and escalation (issue 6). Flush, never commit.

A dispatch round ranks the eligible providers (eldercare.dispatch.matching) that have not been tried for the
order yet and offers it to the best one (sequential, the default) or to the top K at once (broadcast: the first
accept wins, the others are withdrawn). Each offer expires after the service type's `offer_expiry_s` (at least
ELDERCARE_SCHEDULED_OFFER_EXPIRY_S, 30 min, for an order scheduled later): the `offer.expire` timer
(eldercare.core.timers) marks it expired and, when no offer of the round is left, starts the next round.
A provider may ask once for more time (`extend`).

Acceptance is decided by the database: the company's row is locked (`FOR UPDATE`, so two offers of one
company are accepted one after the other and its capacity is re-counted under the lock), then the offer moves
pending → accepted and the order offered → accepted with compare-and-set UPDATEs (core.states): of any number
of concurrent accepts exactly one succeeds, the rest get 409.

Escalation (status `escalated`, the supervisors' queue, `order.escalated` to ops:supervisors): nobody eligible
(`no_eligible_provider`), ELDERCARE_DISPATCH_MAX_ROUNDS failed rounds (3; `too_many_failed_offers`), or the
SLA's slack running out (`sla_at_risk`: the `order.sla` timer, ELDERCARE_SLA_SLACK_MIN = 15 minutes before the
promised time, or a round whose offer window plus travel would already miss it).

A company with no console open (core.presence) is sent the "offer" SMS (urgent for "now" orders; scheduled
ones respect quiet hours).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from eldercare.core import presence, timers
from eldercare.core.errors import ApiError, conflict
from eldercare.core.events import OPS_NAMESPACE, PROVIDER_NAMESPACE, SUPERVISORS_ROOM, provider_room
from eldercare.core.models import User
from eldercare.core.states import Actor
from eldercare.core.time import isoformat, utcnow
from eldercare.dispatch import matching
from eldercare.dispatch.events import OFFER_CREATED, OFFER_WITHDRAWN, ORDER_ESCALATED
from eldercare.dispatch.models import Offer, Order
from eldercare.dispatch.services import OFFER, ORDER, announce_order, order_payload
from eldercare.extensions import db
from eldercare.geo.models import Community
from eldercare.households.models import Household
from eldercare.providers.models import Provider

EXPIRE_TIMER = "offer.expire"
SLA_TIMER = "order.sla"
EXPIRY_ACTOR = "system:offer-expiry"
SLA_ACTOR = "system:sla"
SCHEDULED_AHEAD = timedelta(hours=2)  # further out than this an order is "scheduled", not "now"


def _setting(name: str, default: int) -> int:
    return int(current_app.config.get(name, default))


def is_scheduled(order: Order, now: datetime) -> bool:
    return order.scheduled_for is not None and order.scheduled_for - now > SCHEDULED_AHEAD


def expiry_for(order: Order, now: datetime) -> timedelta:
    seconds = order.service_type.offer_expiry_s
    if is_scheduled(order, now):
        seconds = max(seconds, _setting("ELDERCARE_SCHEDULED_OFFER_EXPIRY_S", 1800))
    return timedelta(seconds=seconds)


def tried_providers(order: Order) -> set[int]:
    return set(db.session.scalars(sa.select(Offer.provider_id).where(Offer.order_id == order.id)))


def pending_offers(order_id: int) -> list[Offer]:
    return list(db.session.scalars(sa.select(Offer).where(Offer.order_id == order_id, Offer.status == "pending")
                                   .order_by(Offer.id)))


# --- a dispatch round --------------------------------------------------------------------------------

def dispatch_round(order: Order, *, actor: Actor, reason: str, check_sla: bool = True) -> list[Offer]:
    """Offer a pending_dispatch (or escalated) order to the next provider(s), or escalate it."""
    now = utcnow()
    if order.offer_attempts >= _setting("ELDERCARE_DISPATCH_MAX_ROUNDS", 3):
        escalate(order, "too_many_failed_offers", actor=actor)
        return []
    request = matching.request_for(order, now=now, exclude=tried_providers(order))
    candidates = matching.eligible_providers(request, now)
    if not candidates:
        escalate(order, "no_eligible_provider", actor=actor)
        return []
    window = expiry_for(order, now)
    if check_sla and order.sla_due_at is not None and \
            now + window + timedelta(minutes=candidates[0].eta_minutes) > order.sla_due_at:
        escalate(order, "sla_at_risk", actor=actor)
        return []
    width = _setting("ELDERCARE_DISPATCH_BROADCAST_K", 3) if order.dispatch_mode == "broadcast" else 1
    chosen = candidates[:width]
    ORDER.transition(order, "offered", actor=actor, reason=reason,
                     data={"providers": [c.provider_id for c in chosen], "mode": order.dispatch_mode})
    offers = [_make_offer(order, candidate, rank, now, now + window, actor=actor)
              for rank, candidate in enumerate(chosen, start=1)]
    announce_order(order)
    return offers


def _make_offer(order: Order, candidate: matching.Candidate, rank: int, now: datetime, expires_at: datetime, *,
                actor: Actor) -> Offer:
    offer = Offer(order_id=order.id, provider_id=candidate.provider_id, status="pending", rank=rank,
                  score=candidate.score, created_at=now, expires_at=expires_at,
                  explanation=candidate.explanation(rank))
    db.session.add(offer)
    db.session.flush()
    OFFER.record_new(offer.id, "pending", actor=actor, reason=f"rank {rank}, score {candidate.score:.3f}")
    timers.arm(EXPIRE_TIMER, offer.id, expires_at)
    OFFER_CREATED.publish(offer_payload(offer), namespace=PROVIDER_NAMESPACE, room=provider_room(offer.provider_id))
    if not presence.provider_online(offer.provider_id):
        _text_provider(offer, order)
    return offer


def offer_payload(offer: Offer) -> dict:
    order = offer.order
    community = db.session.scalar(sa.select(Community.name_zh).join(Household, Household.community_id == Community.id)
                                  .where(Household.id == order.household_id))
    return {"id": offer.id, "status": offer.status, "order_id": order.id, "provider_id": offer.provider_id,
            "service_type": order.service_type.code, "service_name_zh": order.service_type.name_zh,
            "community": community, "scheduled_for": isoformat(order.scheduled_for),
            "expires_at": isoformat(offer.expires_at)}


def _text_provider(offer: Offer, order: Order) -> None:
    from eldercare.alerts import notify  # alerts imports dispatch; only the send path needs it

    provider = db.session.get(Provider, offer.provider_id)
    payload = offer_payload(offer)
    minutes = max(1, math.ceil((offer.expires_at - utcnow()).total_seconds() / 60))
    notify.create(purpose_type="offer", purpose_id=offer.id,
                  recipient=notify.Recipient("provider", provider.id, provider.phone, "zh", provider.name_zh),
                  channel="sms", template="offer",
                  context={"service": payload["service_name_zh"], "community": payload["community"] or "",
                           "minutes": minutes},
                  urgent=not is_scheduled(order, utcnow()), expires_at=offer.expires_at)


# --- the end of an offer -----------------------------------------------------------------------------

def withdraw_pending(order: Order, *, actor: Actor, reason: str, keep: int | None = None) -> None:
    for offer in pending_offers(order.id):
        if offer.id == keep:
            continue
        OFFER.transition(offer, "withdrawn", actor=actor, reason=reason, values={"responded_at": utcnow()})
        timers.disarm(EXPIRE_TIMER, offer.id)
        OFFER_WITHDRAWN.publish(offer_payload(offer), namespace=PROVIDER_NAMESPACE,
                                room=provider_room(offer.provider_id))


def escalate(order: Order, reason: str, *, actor: Actor) -> None:
    withdraw_pending(order, actor=actor, reason=f"escalated: {reason}")
    ORDER.transition(order, "escalated", actor=actor, reason=reason, values={"escalation_reason": reason})
    ORDER_ESCALATED.publish(order_payload(order), namespace=OPS_NAMESPACE, room=SUPERVISORS_ROOM)
    announce_order(order)


def _round_failed(order: Order, *, actor: Actor, reason: str) -> None:
    """An offer ended without acceptance: when none of its round is pending, the next round starts."""
    db.session.refresh(order)
    if order.status != "offered" or pending_offers(order.id):
        return
    ORDER.transition(order, "pending_dispatch", actor=actor, reason=reason,
                     values={"offer_attempts": Order.offer_attempts + 1})
    dispatch_round(order, actor=actor, reason=f"next after {reason}")


@timers.timer_handler(EXPIRE_TIMER)
def expire_offer(offer_id: int) -> None:
    offer = db.session.get(Offer, offer_id)
    if offer is None or offer.status != "pending":
        return  # answered, withdrawn or already expired: nothing to do
    OFFER.transition(offer, "expired", actor=EXPIRY_ACTOR, reason="no answer in time",
                     values={"responded_at": utcnow()})
    # The company's consoles take it off their list (status `expired`) without waiting for their countdown.
    OFFER_WITHDRAWN.publish(offer_payload(offer), namespace=PROVIDER_NAMESPACE, room=provider_room(offer.provider_id))
    _round_failed(offer.order, actor=EXPIRY_ACTOR, reason=f"offer {offer.id} expired")


@timers.timer_handler(SLA_TIMER)
def sla_check(order_id: int) -> None:
    order = db.session.get(Order, order_id)
    if order is not None and order.status in ("pending_dispatch", "offered"):
        escalate(order, "sla_at_risk", actor=SLA_ACTOR)


def arm_sla(order: Order, now: datetime) -> None:
    if order.sla_due_at is None:
        return
    slack = timedelta(minutes=_setting("ELDERCARE_SLA_SLACK_MIN", 15))
    # A promise shorter than twice the slack is checked halfway instead (never at once).
    due = max(order.sla_due_at - slack, now + (order.sla_due_at - now) / 2)
    timers.arm(SLA_TIMER, order.id, due)


# --- the provider's answers --------------------------------------------------------------------------

def require_company(offer: Offer, user: User) -> None:
    if user.role != "provider_staff" or user.provider_id != offer.provider_id:
        raise ApiError(403, "forbidden", "Only staff of the company this offer was made to may answer it.")


def _require_pending(offer: Offer, now: datetime) -> None:
    if offer.status != "pending":
        raise conflict(f"Offer {offer.id} is {offer.status}.", status=offer.status)
    if offer.expires_at <= now:
        raise conflict(f"Offer {offer.id} has expired.", status="expired")


def lock_provider(provider_id: int) -> Provider:
    """The company's row, locked until commit: its acceptances are counted one at a time."""
    query = sa.select(Provider).where(Provider.id == provider_id).execution_options(populate_existing=True)
    if db.engine.dialect.name == "postgresql":
        query = query.with_for_update()
    return db.session.scalar(query)


def accept(offer: Offer, user: User) -> Order:
    require_company(offer, user)
    now = utcnow()
    _require_pending(offer, now)  # fail fast; the UPDATEs below decide
    provider = lock_provider(offer.provider_id)
    order = offer.order
    require_room(provider, order, now)
    OFFER.transition(offer, "accepted", actor=user, reason="accepted",
                     values={"responded_at": now, "responded_by_id": user.id})
    ORDER.transition(order, "accepted", actor=user, reason=f"offer {offer.id} accepted", only_from=("offered",),
                     values={"provider_id": provider.id, "accepted_at": now}, data={"offer_id": offer.id})
    timers.disarm(EXPIRE_TIMER, offer.id)
    timers.disarm(SLA_TIMER, order.id)
    withdraw_pending(order, actor=user, reason=f"offer {offer.id} accepted by another company", keep=offer.id)
    announce_order(order)
    return order


def require_room(provider: Provider, order: Order, now: datetime) -> None:
    if provider.status != "active":
        raise conflict(f"Provider {provider.id} is {provider.status}; it cannot take orders.",
                       status="provider_inactive")
    request = matching.request_for(order, now=now)
    load = matching.loads([provider.id], request.service_at).get(provider.id, matching.Load())
    if load.active >= provider.concurrent_capacity or load.day >= provider.daily_capacity:
        raise conflict(f"Provider {provider.id} is at capacity ({load.active} in hand, {load.day} that day).",
                       status="capacity")


def decline(offer: Offer, user: User, reason: str) -> None:
    require_company(offer, user)
    _require_pending(offer, utcnow())
    OFFER.transition(offer, "declined", actor=user, reason=reason,
                     values={"responded_at": utcnow(), "responded_by_id": user.id, "decline_reason": reason})
    timers.disarm(EXPIRE_TIMER, offer.id)
    _round_failed(offer.order, actor=user, reason=f"offer {offer.id} declined")


def extend(offer: Offer, user: User) -> Offer:
    """Once per offer: the deadline moves by the service type's offer time."""
    require_company(offer, user)
    now = utcnow()
    extra = timedelta(seconds=offer.order.service_type.offer_expiry_s)
    # The "not yet extended" condition makes this once only, whoever asks at the same time.
    result = db.session.execute(
        sa.update(Offer).where(Offer.id == offer.id, Offer.status == "pending", Offer.extended.is_(False),
                               Offer.expires_at > now)
        .values(extended=True, expires_at=offer.expires_at + extra).execution_options(synchronize_session=False)
    )
    db.session.refresh(offer)
    if result.rowcount != 1:
        if offer.status == "pending" and offer.extended:
            raise conflict(f"Offer {offer.id} was already extended once.", status=offer.status)
        raise conflict(f"Offer {offer.id} is {offer.status if offer.status != 'pending' else 'expired'}.",
                       status=offer.status)
    timers.arm(EXPIRE_TIMER, offer.id, offer.expires_at)
    return offer
