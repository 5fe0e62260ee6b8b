"""The follow-up call (回访) after a completed job, and the provider scorecard it feeds (issue 6, item 6).
Services flush, never commit.

A completed order puts a FollowUp on the operators' list, due FOLLOW_UP_DELAY later. The operator records the
resident's rating (1–5), a complaint flag and notes (`done`, which verifies the order), or that nobody
answered (`unreachable`). The scorecard's figures are the ones the ranking uses (eldercare.dispatch.matching):
the Bayesian rating and the acceptance rate with their priors, beside the raw counts.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from eldercare.core.errors import ApiError, conflict, not_found
from eldercare.core.models import User
from eldercare.core.time import utcnow
from eldercare.dispatch import matching
from eldercare.dispatch.models import FollowUp, Offer, Order
from eldercare.dispatch.services import ORDER, announce_order
from eldercare.extensions import db
from eldercare.providers.models import Provider

FOLLOW_UP_DELAY = timedelta(hours=2)
ARRIVED_STATUSES = ("in_service", "completed", "verified", "settled")


def schedule(order: Order, now: datetime) -> FollowUp:
    follow_up = FollowUp(order_id=order.id, due_at=now + FOLLOW_UP_DELAY, status="pending")
    db.session.add(follow_up)
    db.session.flush()
    return follow_up


def get_follow_up(follow_up_id: int) -> FollowUp:
    follow_up = db.session.get(FollowUp, follow_up_id)
    if follow_up is None:
        raise not_found("Follow-up")
    return follow_up


def record(follow_up: FollowUp, user: User, data: dict) -> FollowUp:
    """Once: a conditional UPDATE on `pending`, so two operators calling back cannot both record."""
    status = data["status"]
    if status == "done" and data.get("rating") is None:
        raise ApiError(400, "bad_request", "Invalid input.", {"rating": ["Required when the call was answered."]})
    result = db.session.execute(
        sa.update(FollowUp).where(FollowUp.id == follow_up.id, FollowUp.status == "pending")
        .values(status=status, rating=data.get("rating"), complaint=bool(data.get("complaint")),
                notes=data.get("notes"), operator_id=user.id, done_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(follow_up)
    if result.rowcount != 1:
        raise conflict(f"Follow-up {follow_up.id} is already {follow_up.status}.", status=follow_up.status)
    order = db.session.get(Order, follow_up.order_id)
    if status == "done" and order.status == "completed":
        ORDER.transition(order, "verified", actor=user, reason=f"follow-up {follow_up.id}: rating {data['rating']}",
                         data={"rating": data["rating"], "complaint": bool(data.get("complaint"))})
        announce_order(order)  # consoles showing the order see it verified
    return follow_up


def scorecard(provider_id: int) -> dict:
    provider = db.session.get(Provider, provider_id)
    if provider is None:
        raise not_found("Provider")
    since = utcnow() - matching.STATS_WINDOW
    offers = dict(db.session.execute(
        sa.select(Offer.status, sa.func.count()).where(Offer.provider_id == provider_id, Offer.created_at >= since)
        .group_by(Offer.status)).all())
    decided = sum(offers.get(s, 0) for s in ("accepted", "declined", "expired"))
    arrived = db.session.execute(
        sa.select(sa.func.count(), sa.func.sum(sa.case((Order.started_at <= Order.sla_due_at, 1), else_=0)))
        .where(Order.provider_id == provider_id, Order.status.in_(ARRIVED_STATUSES), Order.started_at.is_not(None))
    ).one()
    ratings = db.session.execute(
        sa.select(sa.func.count(FollowUp.rating), sa.func.sum(FollowUp.rating),
                  sa.func.sum(sa.case((FollowUp.complaint.is_(True), 1), else_=0)))
        .join(Order, Order.id == FollowUp.order_id).where(Order.provider_id == provider_id)
    ).one()
    n_ratings, rating_sum = ratings[0] or 0, int(ratings[1] or 0)
    prior = provider.rating or matching.DEFAULT_PRIOR_RATING
    return {
        "provider_id": provider.id, "name_zh": provider.name_zh, "status": provider.status,
        "offers": {s: offers.get(s, 0) for s in ("pending", "accepted", "declined", "expired", "withdrawn")},
        "acceptance_rate": offers.get("accepted", 0) / decided if decided else None,
        "acceptance_score": matching.acceptance_rate(offers.get("accepted", 0), decided),
        "jobs_arrived": arrived[0] or 0,
        "on_time_rate": (arrived[1] or 0) / arrived[0] if arrived[0] else None,
        "ratings": n_ratings,
        "rating_mean": rating_sum / n_ratings if n_ratings else None,
        "rating_bayesian": matching.bayesian_rating(prior, rating_sum, n_ratings),
        "rating_prior": prior,
        "complaints": int(ratings[2] or 0),
        "window_days": matching.STATS_WINDOW.days,
    }
