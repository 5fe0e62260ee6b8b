"""What a supervisor watches (issue 4, item 8): operators and their load, the unclaimed alarms, and the
review list of alarms answered after 3 minutes.

Reviewing adds no column: it is a StateEvent on the incident (same state in and out, reason starting with
`reviewed`), so the review is part of the incident's append-only history with its actor and time, and
"pending review" is "flagged, and no such event yet". Two supervisors reviewing at once are serialised by
a row lock on the incident. Services flush, never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from eldercare.alerts.claims import HELD, UNCLAIMED, get_incident
from eldercare.alerts.events import INCIDENT_UPDATED
from eldercare.alerts.models import Incident
from eldercare.alerts.services import INCIDENT, incident_payloads
from eldercare.core import presence
from eldercare.core.auth import OPS
from eldercare.core.errors import conflict
from eldercare.core.events import OPS_NAMESPACE, OPS_ROOM
from eldercare.core.models import StateEvent, User
from eldercare.core.states import actor_fields
from eldercare.core.time import utcnow
from eldercare.extensions import db
from eldercare.households.models import Household

REVIEWED = "reviewed"
REVIEW_STATES = ("pending", "reviewed", "all")


@dataclass
class OperatorLoad:
    user: User
    connections: int
    held: int
    oldest_claim_at: datetime | None

    @property
    def online(self) -> bool:
        return self.connections > 0

    @property
    def oldest_claim_age_s(self) -> float | None:
        if self.oldest_claim_at is None:
            return None
        return max(0.0, (utcnow() - self.oldest_claim_at).total_seconds())


def operator_load() -> list[OperatorLoad]:
    """Every active call-centre user: online first, then the busiest."""
    held = (sa.select(Incident.claimed_by_id, sa.func.count().label("held"),
                      sa.func.min(Incident.claimed_at).label("oldest"))
            .where(Incident.status.in_(HELD), Incident.claimed_by_id.is_not(None))
            .group_by(Incident.claimed_by_id).subquery())
    rows = db.session.execute(
        sa.select(User, held.c.held, sa.type_coerce(held.c.oldest, Incident.claimed_at.type))
        .outerjoin(held, held.c.claimed_by_id == User.id)
        .where(User.role.in_(OPS), User.active.is_(True)).order_by(User.username)).all()
    online = presence.connections_by_user()
    loads = [OperatorLoad(user, online[user.id], count or 0, oldest) for user, count, oldest in rows]
    return sorted(loads, key=lambda load: (not load.online, -load.held, load.user.username))


def unclaimed_query(*, community_id: int | None = None, priorities: list[int] | None = None,
                    created_from: datetime | None = None, created_to: datetime | None = None) -> sa.Select:
    """The unclaimed alarms (new or escalated) matching the filters, oldest first."""
    query = (sa.select(Incident).where(Incident.status.in_(UNCLAIMED))
             .options(joinedload(Incident.household).joinedload(Household.community))
             .order_by(Incident.created_at, Incident.id))
    if community_id is not None:
        query = query.where(Incident.household_id.in_(
            sa.select(Household.id).where(Household.community_id == community_id)))
    if priorities:
        query = query.where(Incident.priority.in_(priorities))
    if created_from is not None:
        query = query.where(Incident.created_at >= created_from)
    if created_to is not None:
        query = query.where(Incident.created_at < created_to)
    return query


# --- review list -------------------------------------------------------------------------------------

def _review_event(incident_id: object = Incident.id) -> sa.Select:
    """The review events of an incident (correlated with the outer query's incident by default)."""
    return sa.select(StateEvent.id).where(StateEvent.entity_type == INCIDENT.entity_type,
                                          StateEvent.entity_id == incident_id,
                                          StateEvent.reason.like(f"{REVIEWED}%"))


def review_query(state: str = "pending") -> sa.Select:
    query = (sa.select(Incident).where(Incident.review_flag.is_(True))
             .options(joinedload(Incident.household).joinedload(Household.community))
             .order_by(Incident.created_at.desc(), Incident.id.desc()))
    if state == "pending":
        query = query.where(~_review_event().exists())
    elif state == "reviewed":
        query = query.where(_review_event().exists())
    return query


@dataclass
class ReviewItem:
    """A flagged incident, when it was first answered, and its review if done; reads through."""

    incident: Incident
    answered_at: datetime | None
    review: StateEvent | None

    def __getattr__(self, name: str) -> object:
        return getattr(self.incident, name)

    @property
    def answer_s(self) -> float | None:
        if self.answered_at is None:
            return None
        return max(0.0, (self.answered_at - self.incident.created_at).total_seconds())


def review_items(incidents: list[Incident]) -> list[ReviewItem]:
    """Two statements for a whole page: the first claims and the reviews of these incidents."""
    ids = [incident.id for incident in incidents]
    events = db.session.scalars(
        sa.select(StateEvent).where(StateEvent.entity_type == INCIDENT.entity_type, StateEvent.entity_id.in_(ids),
                                    sa.or_(StateEvent.to_state == "claimed",
                                           StateEvent.reason.like(f"{REVIEWED}%")))
        .order_by(StateEvent.id)).all() if ids else []
    answered: dict[int, datetime] = {}
    reviews: dict[int, StateEvent] = {}
    for event in events:
        if event.reason and event.reason.startswith(REVIEWED):
            reviews.setdefault(event.entity_id, event)
        elif event.to_state == "claimed" and event.from_state != "claimed":
            answered.setdefault(event.entity_id, event.at)
    return [ReviewItem(incident, answered.get(incident.id), reviews.get(incident.id)) for incident in incidents]


def mark_reviewed(incident_id: int, user: User, note: str | None) -> ReviewItem:
    """Record the review of a flagged incident; a second review of the same incident is a 409."""
    incident = get_incident(incident_id)
    db.session.scalar(sa.select(Incident.id).where(Incident.id == incident.id).with_for_update())
    db.session.refresh(incident)
    if not incident.review_flag:
        raise conflict(f"Incident {incident.id} is not flagged for review.", review_flag=False)
    if db.session.scalar(_review_event(incident.id).limit(1)) is not None:
        raise conflict(f"Incident {incident.id} has been reviewed already.")
    reason = f"{REVIEWED}: {note}" if note else REVIEWED
    db.session.add(StateEvent(entity_type=INCIDENT.entity_type, entity_id=incident.id, from_state=incident.status,
                              to_state=incident.status, reason=reason[:255], data={"reviewed": True, "note": note},
                              **actor_fields(user)))
    db.session.flush()
    for payload in incident_payloads([incident.id]):  # other supervisors' review lists move on
        INCIDENT_UPDATED.publish(payload, namespace=OPS_NAMESPACE, room=OPS_ROOM)
    return review_items([incident])[0]
