"""A company's profile changes: proposed by the company, decided by the centre (issue 6, item 6).
Services flush, never commit.

Provider staff propose a new coverage (communities), service types, opening hours or capacity for their own
company; nothing changes until a supervisor or administrator approves. Approval applies exactly the fields
the request carries (the others stay as they are), keeps what they replaced in `previous`, and makes
matching forget its cached directory once the change is committed (eldercare.dispatch.matching.invalidate:
this process at once, the others within ELDERCARE_MATCHING_CACHE_S). A rejection changes nothing.

    pending → approved | rejected    (compare-and-set: two reviewers at once, one wins, the other gets 409)

Each decision is a StateEvent (`provider_change`) and a `change_request.updated` event to the company's
console.
"""

from __future__ import annotations

from datetime import time

import sqlalchemy as sa

from eldercare.catalog.models import ServiceType
from eldercare.core.db import on_commit
from eldercare.core.errors import ApiError, not_found
from eldercare.core.events import PROVIDER_NAMESPACE, provider_room
from eldercare.core.models import User
from eldercare.core.states import StateMachine
from eldercare.core.time import utcnow
from eldercare.dispatch import matching
from eldercare.extensions import db
from eldercare.geo.models import Community
from eldercare.providers.events import CHANGE_REQUEST_UPDATED
from eldercare.providers.models import Provider, ProviderChangeRequest, ProviderHours

CHANGE = StateMachine("provider_change", ProviderChangeRequest, {"pending": {"approved", "rejected"}})
FIELDS = ("community_ids", "service_types", "hours", "daily_capacity", "concurrent_capacity")


def get_provider(provider_id: int) -> Provider:
    provider = db.session.get(Provider, provider_id)
    if provider is None:
        raise not_found("Provider")
    return provider


def get_request(request_id: int) -> ProviderChangeRequest:
    change = db.session.get(ProviderChangeRequest, request_id)
    if change is None:
        raise not_found("Change request")
    return change


def require_own_company(user: User, provider_id: int) -> None:
    """Provider staff act for their own company only; the centre's supervisors for any."""
    if user.role == "provider_staff" and user.provider_id != provider_id:
        raise ApiError(403, "forbidden", "Provider staff may only see and change their own company.")


def profile(provider: Provider) -> dict:
    """The fields a request may change, as a request would carry them."""
    return {"community_ids": [c.id for c in provider.communities],
            "service_types": [t.code for t in provider.service_types],
            "hours": [{"weekday": h.weekday, "opens_at": h.opens_at.strftime("%H:%M"),
                       "closes_at": h.closes_at.strftime("%H:%M")} for h in provider.hours],
            "daily_capacity": provider.daily_capacity, "concurrent_capacity": provider.concurrent_capacity}


def _bad(field: str, message: str) -> ApiError:
    return ApiError(400, "bad_request", "Invalid input.", {field: [message]})


def _check(payload: dict, provider: Provider) -> None:
    """What the schema cannot know: the ids and codes exist, the capacities fit together."""
    if not any(field in payload for field in FIELDS):
        raise _bad("_schema", "Change at least one of: " + ", ".join(FIELDS) + ".")
    if "community_ids" in payload:
        known = set(db.session.scalars(sa.select(Community.id).where(Community.id.in_(payload["community_ids"]))))
        if missing := sorted(set(payload["community_ids"]) - known):
            raise _bad("community_ids", f"Unknown communities: {missing}.")
    if "service_types" in payload:
        known = set(db.session.scalars(sa.select(ServiceType.code)
                                       .where(ServiceType.code.in_(payload["service_types"]))))
        if missing := sorted(set(payload["service_types"]) - known):
            raise _bad("service_types", f"Unknown service types: {missing}.")
    daily = payload.get("daily_capacity", provider.daily_capacity)
    if payload.get("concurrent_capacity", provider.concurrent_capacity) > daily:
        raise _bad("concurrent_capacity", "Cannot exceed the daily capacity.")


def submit(provider: Provider, user: User, payload: dict, note: str | None) -> ProviderChangeRequest:
    require_own_company(user, provider.id)
    _check(payload, provider)
    change = ProviderChangeRequest(provider_id=provider.id, status="pending", payload=payload, note=note,
                                   submitted_by_id=user.id, submitted_at=utcnow())
    db.session.add(change)
    db.session.flush()
    CHANGE.record_new(change.id, "pending", actor=user, reason=note)
    _announce(change)
    return change


def approve(change: ProviderChangeRequest, user: User, note: str | None) -> ProviderChangeRequest:
    provider = get_provider(change.provider_id)
    previous = {field: value for field, value in profile(provider).items() if field in change.payload}
    CHANGE.transition(change, "approved", actor=user, reason=note, values=_reviewed(user, note, previous))
    _apply(provider, change.payload)
    on_commit(db.session, matching.invalidate)
    _announce(change)
    return change


def reject(change: ProviderChangeRequest, user: User, note: str | None) -> ProviderChangeRequest:
    CHANGE.transition(change, "rejected", actor=user, reason=note, values=_reviewed(user, note, None))
    _announce(change)
    return change


def _reviewed(user: User, note: str | None, previous: dict | None) -> dict:
    return {"reviewed_by_id": user.id, "reviewed_at": utcnow(), "review_note": note, "previous": previous}


def _apply(provider: Provider, payload: dict) -> None:
    if "community_ids" in payload:
        provider.communities = list(db.session.scalars(
            sa.select(Community).where(Community.id.in_(payload["community_ids"])).order_by(Community.id)))
    if "service_types" in payload:
        provider.service_types = list(db.session.scalars(
            sa.select(ServiceType).where(ServiceType.code.in_(payload["service_types"])).order_by(ServiceType.id)))
    if "hours" in payload:
        # Old rows go first: (provider, weekday) is unique and the unit of work would insert before deleting.
        db.session.execute(sa.delete(ProviderHours).where(ProviderHours.provider_id == provider.id))
        db.session.expire(provider, ["hours"])
        db.session.add_all(ProviderHours(provider_id=provider.id, weekday=h["weekday"],
                                         opens_at=_time(h["opens_at"]), closes_at=_time(h["closes_at"]))
                           for h in payload["hours"])
    for field in ("daily_capacity", "concurrent_capacity"):
        if field in payload:
            setattr(provider, field, payload[field])
    db.session.flush()
    db.session.expire(provider, ["hours"])


def _time(text: str) -> time:
    return time.fromisoformat(text)


def _announce(change: ProviderChangeRequest) -> None:
    CHANGE_REQUEST_UPDATED.publish({"id": change.id, "status": change.status, "provider_id": change.provider_id},
                                   namespace=PROVIDER_NAMESPACE, room=provider_room(change.provider_id))
