"""Who holds an incident: claim, release, hand over, hold; and what the holder sees (the screen-pop).

One operator per resident: claiming an incident takes every other unclaimed open incident of the same
household with it, in the same transaction. Every decision is a compare-and-set UPDATE through the
INCIDENT state machine (or, for a hand-over that keeps the state, one on the holder column), so of two
operators claiming at the same instant exactly one wins. Services flush, never commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from eldercare.alerts import escalation
from eldercare.alerts.events import INCIDENT_UPDATED
from eldercare.alerts.models import OPEN_INCIDENT_STATUSES, Incident
from eldercare.alerts.services import INCIDENT, incident_payloads
from eldercare.core import audit, timers
from eldercare.core.auth import OPS, SUPERVISORS
from eldercare.core.errors import ApiError, conflict, not_found
from eldercare.core.events import OPS_NAMESPACE, OPS_ROOM
from eldercare.core.models import StateEvent, User
from eldercare.core.states import TransitionConflict, actor_fields, history
from eldercare.core.time import CITY_TZ, utcnow
from eldercare.devices.models import DeviceEvent
from eldercare.extensions import db
from eldercare.geo.models import GridCell
from eldercare.households.models import Contact, Household, Resident

UNCLAIMED = ("new", "escalated")
HELD = ("claimed", "in_progress", "on_hold", "dispatched")
HOLD_TIMER = "incident.hold"
PREVIOUS_INCIDENTS = 10
DEVICE_EVENTS_SHOWN = 200


def get_incident(incident_id: int) -> Incident:
    incident = db.session.get(Incident, incident_id)
    if incident is None:
        raise not_found("Incident")
    return incident


def _announce(incident_ids: list[int]) -> None:
    for payload in incident_payloads(sorted(set(incident_ids))):
        INCIDENT_UPDATED.publish(payload, namespace=OPS_NAMESPACE, room=OPS_ROOM)


def _held_by_other(incident: Incident) -> ApiError:
    holder = db.session.get(User, incident.claimed_by_id) if incident.claimed_by_id else None
    return conflict(f"Incident {incident.id} is {incident.status}"
                    + (f", held by {holder.username}." if holder else "."),
                    status=incident.status, claimed_by=incident.claimed_by_id)


def _lock_household(incident: Incident) -> list[Incident]:
    """Row-lock the household's open incidents in id order (two claims of one home cannot deadlock)."""
    where = (Incident.household_id == incident.household_id if incident.household_id is not None
             else Incident.id == incident.id)
    return list(db.session.scalars(
        sa.select(Incident).where(where, Incident.status.in_(OPEN_INCIDENT_STATUSES))
        .order_by(Incident.id).with_for_update().execution_options(populate_existing=True)))


def claim(incident: Incident, user: User) -> list[int]:
    """`user` holds `incident` and the household's other unclaimed open incidents; returns the ids taken.

    Claiming what one already holds changes nothing (idempotent); what someone else holds is a 409."""
    _lock_household(incident)
    db.session.refresh(incident)
    if incident.status in HELD and incident.claimed_by_id == user.id and incident.status != "on_hold":
        return []
    if incident.status == "on_hold" and incident.claimed_by_id != user.id:
        raise _held_by_other(incident)
    values = {"claimed_by_id": user.id, "claimed_at": utcnow(), "hold_until": None}
    try:
        INCIDENT.transition(incident, "claimed", actor=user, reason="claimed", values=values)
    except TransitionConflict:
        db.session.refresh(incident)
        raise _held_by_other(incident) from None
    timers.disarm(HOLD_TIMER, incident.id)
    escalation.flag_if_late(incident)  # answered after 3 minutes: on the review list
    taken = [incident.id, *_claim_siblings(incident, user, values)]
    _announce(taken)
    return taken


def _claim_siblings(incident: Incident, user: User, values: dict) -> list[int]:
    if incident.household_id is None:
        return []
    siblings = db.session.scalars(sa.select(Incident).where(
        Incident.household_id == incident.household_id, Incident.id != incident.id,
        Incident.status.in_(UNCLAIMED)).order_by(Incident.id)).all()
    taken = []
    for sibling in siblings:
        try:
            INCIDENT.transition(sibling, "claimed", actor=user, values=values,
                                reason=f"claimed with incident {incident.id} (same household)")
        except TransitionConflict:
            continue  # taken meanwhile by a concurrent claim: that operator has it
        taken.append(sibling.id)
    return taken


def _require_holder(incident: Incident, user: User, *, supervisors_too: bool) -> None:
    if incident.claimed_by_id == user.id and incident.status in HELD:
        return
    if supervisors_too and user.role in SUPERVISORS:
        return
    raise ApiError(403, "forbidden", "Only the operator holding this incident may do that.")


def release(incident: Incident, user: User) -> None:
    """Back to the queue (`new`), unclaimed. The holder or a supervisor."""
    _require_holder(incident, user, supervisors_too=True)
    INCIDENT.transition(incident, "new", actor=user, reason="released",
                        values={"claimed_by_id": None, "claimed_at": None, "hold_until": None})
    timers.disarm(HOLD_TIMER, incident.id)
    escalation.arm_escalation(incident.id, incident.created_at)  # unclaimed again: the clock still runs
    _announce([incident.id])


def handover(incident: Incident, user: User, target_id: int) -> None:
    """Give the incident to another call-centre user. The holder or a supervisor.

    A held incident keeps its state and changes holder in one conditional UPDATE on (status, holder); a
    parked one (on hold) is resumed for the new holder."""
    _require_holder(incident, user, supervisors_too=True)
    target = db.session.get(User, target_id)
    if target is None or not target.active or target.role not in OPS:
        raise ApiError(400, "bad_request", "Invalid input.",
                       {"to_user_id": ["Must be an active operator, supervisor or admin."]})
    if incident.status == "on_hold":
        INCIDENT.transition(incident, "claimed", actor=user, reason=f"handed over to {target.username}",
                            values={"claimed_by_id": target.id, "claimed_at": utcnow(), "hold_until": None},
                            data={"to_user_id": target.id})
        timers.disarm(HOLD_TIMER, incident.id)
    else:
        _change_holder(incident, user, target)
    _announce([incident.id])


def _change_holder(incident: Incident, user: User, target: User) -> None:
    seen_status, seen_holder = incident.status, incident.claimed_by_id
    result = db.session.execute(
        sa.update(Incident)
        .where(Incident.id == incident.id, Incident.status == seen_status, Incident.claimed_by_id == seen_holder)
        .values(claimed_by_id=target.id, claimed_at=utcnow())
        .execution_options(synchronize_session=False))
    if result.rowcount != 1:
        db.session.refresh(incident)
        raise conflict(f"Incident {incident.id} changed meanwhile.", status=incident.status)
    db.session.add(StateEvent(entity_type=INCIDENT.entity_type, entity_id=incident.id, from_state=seen_status,
                              to_state=seen_status, reason=f"handed over to {target.username}",
                              data={"from_user_id": seen_holder, "to_user_id": target.id}, **actor_fields(user)))
    db.session.flush()
    db.session.refresh(incident)


def hold(incident: Incident, user: User, minutes: int, reason: str | None) -> None:
    """Park the incident; it re-surfaces in the queue at `hold_until` unless resumed before. The holder."""
    _require_holder(incident, user, supervisors_too=False)
    due = utcnow() + timedelta(minutes=minutes)
    INCIDENT.transition(incident, "on_hold", actor=user, reason=reason or f"on hold for {minutes} min",
                        values={"hold_until": due}, data={"minutes": minutes})
    timers.arm(HOLD_TIMER, incident.id, due)
    _announce([incident.id])


@timers.timer_handler(HOLD_TIMER)
def resurface(incident_id: int) -> None:
    """The hold ran out: back to the queue, unclaimed, if it is still on hold (otherwise nothing to do)."""
    incident = db.session.get(Incident, incident_id, populate_existing=True)
    if incident is None or incident.status != "on_hold":
        return
    try:
        INCIDENT.transition(incident, "new", actor="system:hold", reason="hold expired",
                            values={"claimed_by_id": None, "claimed_at": None, "hold_until": None})
    except TransitionConflict:
        return  # resumed at the same instant: the operator has it
    escalation.arm_escalation(incident.id, incident.created_at)
    _announce([incident_id])


# --- reading -----------------------------------------------------------------------------------------

@dataclass
class IncidentDetail:
    """An incident with its history and device events; reads through to the incident's own fields."""

    incident: Incident
    history: list[StateEvent]
    device_events: list[DeviceEvent]

    def __getattr__(self, name: str) -> object:
        return getattr(self.incident, name)


def detail(incident: Incident) -> IncidentDetail:
    events = db.session.scalars(sa.select(DeviceEvent).where(DeviceEvent.incident_id == incident.id)
                                .order_by(DeviceEvent.received_at, DeviceEvent.id).limit(DEVICE_EVENTS_SHOWN))
    return IncidentDetail(incident, history(INCIDENT.entity_type, incident.id), list(events))


@dataclass
class Screen:
    """Everything an operator needs on the phone with a resident, on one page."""

    incident: Incident
    household: Household | None
    residents: list[Resident]
    devices: list
    contacts: list[Contact]
    grid_leader: GridCell | None
    previous_incidents: list[Incident]
    held_by_viewer: bool


def contact_available(contact: Contact, at: datetime) -> bool:
    """Whether the contact's reachable hours (local time, possibly over midnight) include `at`."""
    start, end = contact.available_from, contact.available_to
    if start is None or end is None:
        return True
    now: time = at.astimezone(CITY_TZ).time().replace(tzinfo=None)
    return start <= now < end if start <= end else (now >= start or now < end)


def screen(incident: Incident, user: User) -> Screen:
    """The screen-pop: for the holder (and supervisors); every opening is an audit event."""
    if user.role not in SUPERVISORS and not (incident.claimed_by_id == user.id and incident.status in HELD):
        raise ApiError(403, "forbidden", "Claim the incident to open its screen.")
    household = None
    if incident.household_id is not None:
        household = db.session.scalar(
            sa.select(Household).where(Household.id == incident.household_id)
            .options(selectinload(Household.residents), selectinload(Household.contacts),
                     selectinload(Household.devices), selectinload(Household.community),
                     selectinload(Household.grid_cell)))
    previous = [] if household is None else list(db.session.scalars(
        sa.select(Incident).where(Incident.household_id == household.id, Incident.id != incident.id)
        .order_by(Incident.created_at.desc(), Incident.id.desc()).limit(PREVIOUS_INCIDENTS)))
    residents = [r for r in household.residents if r.active] if household else []
    audit.record("incident.screen_pop", target_type="household",
                 target_id=household.id if household else None, incident_id=incident.id,
                 residents=[r.id for r in residents])
    return Screen(
        incident=incident, household=household, residents=residents,
        devices=list(household.devices) if household else ([incident.device] if incident.device else []),
        contacts=list(household.contacts) if household else [],
        grid_leader=household.grid_cell if household else None, previous_incidents=previous,
        held_by_viewer=incident.claimed_by_id == user.id)
