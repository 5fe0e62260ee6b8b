"""Incident state machine and in-app notices. Services flush, never commit."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from eldercare.alerts.events import INCIDENT_CREATED, INCIDENT_UPDATED, NOTICE
from eldercare.alerts.models import (
    OPEN_INCIDENT_STATUSES,
    OPEN_PREDICATE,
    PRIORITY_INFO,
    PRIORITY_LIFE_SAFETY,
    PRIORITY_TECHNICAL,
    Incident,
    Notification,
)
from eldercare.core.db import on_commit
from eldercare.core.errors import ApiError
from eldercare.core.events import (
    OPS_NAMESPACE,
    OPS_ROOM,
    PROVIDER_NAMESPACE,
    SUPERVISORS_ROOM,
    provider_room,
    team_room,
)
from eldercare.core.models import User
from eldercare.core.sql import dialect_insert
from eldercare.core.states import Actor, StateMachine, TransitionConflict
from eldercare.core.time import isoformat, utcnow
from eldercare.devices.models import Device
from eldercare.extensions import db
from eldercare.geo.models import Community
from eldercare.households.models import Household
from eldercare.providers.models import EmergencyTeam, Provider

INCIDENT = StateMachine("incident", Incident, {
    "new": {"claimed", "escalated", "cancelled", "resolved"},
    "escalated": {"claimed", "cancelled", "resolved"},
    "claimed": {"in_progress", "on_hold", "new", "dispatched", "resolved", "cancelled"},
    "on_hold": {"claimed", "new", "escalated"},
    "in_progress": {"dispatched", "on_hold", "resolved", "cancelled"},
    "dispatched": {"in_progress", "resolved"},
    "resolved": {"closed"},
})


def _room(audience: str) -> tuple[str, str]:
    """(namespace, room) of an audience, after checking that the company or team exists."""
    if audience == "ops":
        return OPS_NAMESPACE, OPS_ROOM
    if audience == "supervisors":
        return OPS_NAMESPACE, SUPERVISORS_ROOM
    kind, _, raw_id = audience.partition(":")
    model, room = (Provider, provider_room) if kind == "provider" else (EmergencyTeam, team_room)
    if db.session.get(model, int(raw_id)) is None:
        raise ApiError(400, "bad_request", "Invalid input.", {"audience": [f"Unknown {kind}."]})
    return PROVIDER_NAMESPACE, room(int(raw_id))


def send_notice(audience: str, text: str, *, sender: User, deliver_in_s: int = 0) -> Notification:
    """Record an in-app notice and have the worker deliver it (after `deliver_in_s`)."""
    from eldercare.alerts.tasks import deliver_in_app

    namespace, room = _room(audience)
    due = utcnow() + timedelta(seconds=deliver_in_s)
    notification = Notification(
        purpose_type="notice", recipient_type="room", to_address=f"{namespace}#{room}", channel="in_app",
        template="notice", body=text, language=sender.language, next_attempt_at=due, created_by_id=sender.id,
    )
    db.session.add(notification)
    db.session.flush()
    notification_id = notification.id
    on_commit(db.session, lambda: deliver_in_app.apply_async((notification_id,), countdown=deliver_in_s))
    return notification


def deliver_notice(notification_id: int) -> bool:
    """Emit a queued notice once; a second delivery of the same task finds it sent and does nothing."""
    sent_at = utcnow()
    row = db.session.execute(
        sa.update(Notification)
        .where(Notification.id == notification_id, Notification.state == "queued")
        .values(state="sent", sent_at=sent_at, attempts=Notification.attempts + 1)
        .returning(Notification.to_address, Notification.body, Notification.created_by_id)
    ).first()
    if row is None:
        return False
    namespace, _, room = row.to_address.partition("#")
    sender = db.session.get(User, row.created_by_id) if row.created_by_id else None
    audience = room if namespace == PROVIDER_NAMESPACE else ("supervisors" if room == SUPERVISORS_ROOM else "ops")
    NOTICE.publish({"id": notification_id, "status": "sent", "audience": audience, "text": row.body,
                    "sent_at": isoformat(sent_at), "sender": sender.username if sender else "system"},
                   namespace=namespace, room=room)
    return True


# --- incidents opened by devices ---------------------------------------------------------------------

LIFE_SAFETY_TYPES = frozenset({"sos", "fall", "smoke", "gas", "no_activity"})
CANCELLABLE_BY_DEVICE = ("new", "escalated")  # once an operator holds it, only the operator closes it


def priority_of(type_: str) -> int:
    if type_ in LIFE_SAFETY_TYPES:
        return PRIORITY_LIFE_SAFETY
    return PRIORITY_INFO if type_ in ("test", "restore") else PRIORITY_TECHNICAL


def dedupe_key(device: Device, type_: str) -> str:
    """Life-safety alarms of one home share an incident; technical faults are per device and kind."""
    if type_ in LIFE_SAFETY_TYPES:
        return f"life:h{device.household_id}" if device.household_id else f"life:d{device.id}"
    return f"tech:d{device.id}:{type_}"


def open_or_merge(*, device: Device, type_: str, at: datetime, actor: Actor, lat: float | None = None,
                  lng: float | None = None) -> int:
    """The open incident for this alarm: a new one, or the home's open one with one more event counted.

    Decided by the database: INSERT … ON CONFLICT DO NOTHING on the partial unique index of open
    incidents, else UPDATE the open one. Between the two an operator may close it, hence the retry.
    """
    key = dedupe_key(device, type_)
    for _ in range(3):
        incident_id = db.session.scalar(
            dialect_insert(Incident)
            .values(household_id=device.household_id, device_id=device.id, type=type_, priority=priority_of(type_),
                    status="new", dedupe_key=key, event_count=1, last_event_at=at, lat=lat, lng=lng,
                    created_at=at, updated_at=at, escalation_level=0, follow_up=False, review_flag=False)
            .on_conflict_do_nothing(index_elements=["dedupe_key"], index_where=OPEN_PREDICATE)
            .returning(Incident.id)
        )
        if incident_id is not None:
            INCIDENT.record_new(incident_id, "new", actor=actor, reason=f"{type_} from device {device.uid}")
            _announce(INCIDENT_CREATED, incident_id)
            return incident_id
        incident_id = db.session.scalar(
            sa.update(Incident)
            .where(Incident.dedupe_key == key, Incident.status.in_(OPEN_INCIDENT_STATUSES))
            .values(event_count=Incident.event_count + 1, last_event_at=at, updated_at=utcnow())
            .returning(Incident.id)
        )
        if incident_id is not None:
            _announce(INCIDENT_UPDATED, incident_id)
            return incident_id
    raise RuntimeError(f"could not open or merge incident {key}")


def cancel_by_device(household_id: int | None, device_id: int, *, actor: Actor) -> int | None:
    """The resident pressed cancel: an unclaimed alarm closes as cancelled by the device, with a record."""
    key = f"life:h{household_id}" if household_id else f"life:d{device_id}"
    incident = db.session.scalar(sa.select(Incident).where(Incident.dedupe_key == key,
                                                           Incident.status.in_(OPEN_INCIDENT_STATUSES)))
    if incident is None:
        return None
    if incident.status in CANCELLABLE_BY_DEVICE:
        try:
            INCIDENT.transition(incident, "cancelled", actor=actor, reason="cancelled at the device",
                                values={"outcome": "cancelled_by_device", "closed_at": utcnow()})
        except TransitionConflict:
            return incident.id  # claimed meanwhile: the operator decides
    _announce(INCIDENT_UPDATED, incident.id)
    return incident.id


def resolve_technical(device_id: int, type_: str, *, actor: Actor, reason: str) -> int | None:
    """A fault the device reports as restored (power back, device online again) resolves its incident."""
    incident = db.session.scalar(sa.select(Incident).where(Incident.dedupe_key == f"tech:d{device_id}:{type_}",
                                                           Incident.status.in_(OPEN_INCIDENT_STATUSES)))
    if incident is None or not INCIDENT.can(incident.status, "resolved"):
        return None
    try:
        INCIDENT.transition(incident, "resolved", actor=actor, reason=reason, values={"resolved_at": utcnow()})
    except TransitionConflict:
        return None
    _announce(INCIDENT_UPDATED, incident.id)
    return incident.id


def incident_payload(incident_id: int) -> dict:
    row = db.session.execute(
        sa.select(Incident, Household.code, Household.address, Community.name_zh)
        .outerjoin(Household, Household.id == Incident.household_id)
        .outerjoin(Community, Community.id == Household.community_id)
        .where(Incident.id == incident_id)
    ).one()
    incident = row[0]
    return {"id": incident.id, "status": incident.status, "household_id": incident.household_id,
            "device_id": incident.device_id, "type": incident.type, "priority": incident.priority,
            "event_count": incident.event_count, "created_at": isoformat(incident.created_at),
            "claimed_by": incident.claimed_by_id, "household_code": row[1], "address": row[2],
            "community": row[3]}


def _announce(event: object, incident_id: int) -> None:
    event.publish(incident_payload(incident_id), namespace=OPS_NAMESPACE, room=OPS_ROOM)
