"""Incident state machine and in-app notices. Services flush, never commit."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import NamedTuple

import sqlalchemy as sa

from eldercare.alerts import cascade
from eldercare.alerts.escalation import escalation_timers
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
from eldercare.core import timers
from eldercare.core.db import on_commit
from eldercare.core.errors import ApiError
from eldercare.core.events import (
    OPS_NAMESPACE,
    OPS_ROOM,
    PROVIDER_NAMESPACE,
    SUPERVISORS_ROOM,
    SocketEvent,
    provider_room,
    team_room,
)
from eldercare.core.models import User
from eldercare.core.sql import among, insert_rows, rows_parameters
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


def dedupe_key_for(device_id: int, household_id: int | None, type_: str) -> str:
    """Life-safety alarms of one home share an incident; technical faults are per device and kind."""
    if type_ in LIFE_SAFETY_TYPES:
        return f"life:h{household_id}" if household_id else f"life:d{device_id}"
    return f"tech:d{device_id}:{type_}"


def dedupe_key(device: Device, type_: str) -> str:
    return dedupe_key_for(device.id, device.household_id, type_)


@dataclass(frozen=True)
class Alarm:
    """What a batch of device events asks of one open incident: open it, or count `count` more events."""

    key: str
    household_id: int | None
    device_id: int
    type: str
    at: datetime
    count: int = 1
    lat: float | None = None
    lng: float | None = None


def alarm_for(device: Device, type_: str, at: datetime, **extra: object) -> Alarm:
    return Alarm(dedupe_key(device, type_), device.household_id, device.id, type_, at, **extra)


def open_or_merge_many(alarms: list[Alarm], *, actor_prefix: str = "device",
                       homes: Mapping[int, HomeLabel] | None = None) -> dict[str, int]:
    # actor_prefix "device" records each incident as opened by "device:<id>"; a full label such as
    # "system:supervision" is used as it is.
    """Open or merge every alarm's incident in one statement; returns {dedupe key: incident id}.

    Decided by the database: INSERT … ON CONFLICT (the partial unique index of open incidents) DO UPDATE
    counts the events into the open incident atomically, so concurrent batches in several processes can
    neither open two incidents for one home nor lose a count. A returned count equal to the alarm's own
    count means the row is new (an existing incident already had at least one event).

    `homes` ({household id: its label}, as the intake reads them with its devices) lets the announced
    payloads be built from the upsert's own RETURNING instead of a query of their own.
    """
    if not alarms:
        return {}
    by_key: dict[str, Alarm] = {}
    for alarm in alarms:  # one row per key: ON CONFLICT DO UPDATE may touch a row once per statement
        seen = by_key.get(alarm.key)
        by_key[alarm.key] = alarm if seen is None else replace(seen, count=seen.count + alarm.count,
                                                                    at=max(seen.at, alarm.at))
    # Rows in key order: concurrent batches (several web workers) then lock the incidents they share in
    # the same order and cannot deadlock.
    rows = db.session.connection().execute(_incidents_upsert(db.engine.dialect.name), rows_parameters(
        INCIDENT_COLUMNS,
        [{"household_id": a.household_id, "device_id": a.device_id, "type": a.type, "priority": priority_of(a.type),
          "status": "new", "dedupe_key": a.key, "event_count": a.count, "last_event_at": a.at, "lat": a.lat,
          "lng": a.lng, "created_at": a.at, "updated_at": a.at, "escalation_level": 0, "follow_up": False,
          "review_flag": False}
         for _, a in sorted(by_key.items())],
    )).all()
    created = [row for row in rows if row.event_count == by_key[row.dedupe_key].count]
    # The births, escalation and cascade timers of every new incident: two statements for the batch,
    # not a few round trips per incident; neither waits for the server (core.sql.queued).
    INCIDENT.record_new_many([(row.id, _opener(actor_prefix, by_key[row.dedupe_key]),
                               f"{by_key[row.dedupe_key].type} from device {by_key[row.dedupe_key].device_id}")
                              for row in created], "new")
    timers.arm_many({
        **escalation_timers({row.id: by_key[row.dedupe_key].at for row in created}),
        **cascade.start_timers([(row.id, by_key[row.dedupe_key].type, by_key[row.dedupe_key].at) for row in created]),
    })
    created_ids = {row.id for row in created}
    if homes is None:
        payloads = incident_payloads([row.id for row in rows])
    else:
        payloads = [_payload(row, homes.get(row.household_id, NO_HOME)) for row in sorted(rows, key=_by_id)]
    for payload in payloads:
        event = INCIDENT_CREATED if payload["id"] in created_ids else INCIDENT_UPDATED
        event.publish(payload, namespace=OPS_NAMESPACE, room=OPS_ROOM)
    return {row.dedupe_key: row.id for row in rows}


class HomeLabel(NamedTuple):
    """How the operators' queue names a home."""

    code: str | None
    address: str | None
    community: str | None


NO_HOME = HomeLabel(None, None, None)

INCIDENT_COLUMNS = ("household_id", "device_id", "type", "priority", "status", "dedupe_key", "event_count",
                    "last_event_at", "lat", "lng", "created_at", "updated_at", "escalation_level", "follow_up",
                    "review_flag")
# What the queue shows of an incident (`incident_payloads`), all of it returned by the upsert.
PAYLOAD_COLUMNS = ("id", "status", "household_id", "device_id", "type", "priority", "event_count", "created_at",
                   "claimed_by_id")


def _by_id(row: sa.Row) -> int:
    return row.id


@functools.cache
def _incidents_upsert(dialect: str) -> sa.Insert:
    table = Incident.__table__
    insert = insert_rows(table, INCIDENT_COLUMNS)
    return (insert.on_conflict_do_update(
        index_elements=["dedupe_key"], index_where=OPEN_PREDICATE,
        set_={"event_count": table.c.event_count + insert.excluded.event_count,
              "last_event_at": insert.excluded.last_event_at, "updated_at": insert.excluded.updated_at})
        .returning(table.c.dedupe_key, *(table.c[name] for name in PAYLOAD_COLUMNS)))


def _opener(actor_prefix: str, alarm: Alarm) -> str:
    return actor_prefix if ":" in actor_prefix else f"{actor_prefix}:{alarm.device_id}"


def open_or_merge(*, device: Device, type_: str, at: datetime, actor: Actor, lat: float | None = None,
                  lng: float | None = None) -> int:
    """The open incident for one alarm (see `open_or_merge_many`)."""
    alarm = alarm_for(device, type_, at, lat=lat, lng=lng)
    prefix = actor.split(":", 1)[0] if isinstance(actor, str) else "user"
    return open_or_merge_many([alarm], actor_prefix=prefix)[alarm.key]


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
        cascade.stop(incident.id, reason="cancelled at the device")
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


def incident_payloads(incident_ids: list[int]) -> list[dict]:
    """Incidents as the operators' queue shows them, read fresh (one query for any number)."""
    if not incident_ids:
        return []
    rows = db.session.execute(_payloads_query(db.engine.dialect.name), {"ids": list(incident_ids)}).all()
    return [_payload(r, HomeLabel(r.code, r.address, r.name_zh)) for r in rows]


def _payload(row: sa.Row, home: HomeLabel) -> dict:
    return {"id": row.id, "status": row.status, "household_id": row.household_id, "device_id": row.device_id,
            "type": row.type, "priority": row.priority, "event_count": row.event_count,
            "created_at": isoformat(row.created_at), "claimed_by": row.claimed_by_id, "household_code": home.code,
            "address": home.address, "community": home.community}


@functools.cache  # built once per dialect
def _payloads_query(dialect: str) -> sa.Select:
    return (sa.select(Incident.id, Incident.status, Incident.household_id, Incident.device_id, Incident.type,
                      Incident.priority, Incident.event_count, Incident.created_at, Incident.claimed_by_id,
                      Household.code, Household.address, Community.name_zh)
            .outerjoin(Household, Household.id == Incident.household_id)
            .outerjoin(Community, Community.id == Household.community_id)
            .where(among(Incident.id, "ids", dialect)).order_by(Incident.id))


def _announce(event: SocketEvent, incident_id: int) -> None:
    for payload in incident_payloads([incident_id]):
        event.publish(payload, namespace=OPS_NAMESPACE, room=OPS_ROOM)
