"""From device events to device state and incidents. Services flush, never commit.

`ingest_batch` is called by the intake batcher with everything that arrived within one batch window and
runs in one transaction, with a handful of set-based statements whatever the batch size (a statement per
event would cap the intake at one database round trip per event):

0. the gate refuses events whose device token does not match or whose device is over its rate limit
   (HTTP), from the same read of the devices' rows; refused events are not written at all;

1. read the devices and which events are repeats (already stored, or twice in the batch): those are
   answered with the stored event and incident and change nothing;
2. update each device once (last seen, battery, position, next heartbeat deadline, back online);
3. homes showing a sign of life get their no-activity deadline pushed back;
4. alarms open or merge their incidents in one upsert; cancels and restores, rare, go one by one;
5. the new events are stored once, with their incident: a multi-row INSERT … ON CONFLICT (device,
   idempotency key) DO NOTHING; one that another process stored meanwhile makes the batch run again;
6. presses of the green "service" key (`service_request`) open or count up the households' call-back
   tasks in one upsert (eldercare.dispatch.callbacks), only when the batch has any.
Heartbeats are not kept as events: they only move the device's deadline.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from eldercare.alerts import services as alerts
from eldercare.core.sql import among, insert_rows, queued, rows_parameters
from eldercare.core.time import utcnow
from eldercare.devices import gate, supervision
from eldercare.devices.events import DEVICE_ONLINE
from eldercare.devices.intake import Inbound, Outcome, RetryBatch
from eldercare.devices.models import Device, DeviceEvent, DeviceModel
from eldercare.dispatch import callbacks
from eldercare.extensions import db
from eldercare.geo.models import Community
from eldercare.households.models import Household

log = logging.getLogger(__name__)

LIFE_SAFETY = frozenset({"sos", "fall", "smoke", "gas", "no_activity"})
TECHNICAL = frozenset({"low_battery", "power_loss", "device_removed", "offline", "water"})
# Signs of life in the home: they push the household's no-activity deadline back.
ACTIVITY = frozenset({"sos", "fall", "cancel", "activity", "service_request"})
RESTORE_QUALIFIERS = frozenset({"restore", "3"})
# A device is offline when it misses two heartbeats plus this grace.
HEARTBEAT_GRACE = timedelta(seconds=30)

Key = tuple[int, str]  # (device id, idempotency key)


class DeviceFacts(NamedTuple):
    """What a batch needs to know of a device, read once for the whole batch."""

    interval_s: int
    household_id: int | None
    online: bool
    battery_pct: int | None
    low_battery_pct: int
    status: str = "active"
    protocol: str = ""
    token_hash: str | None = None
    no_activity_hours: int | None = None  # of its household
    home: alerts.HomeLabel = alerts.NO_HOME  # how the operators' queue names its household


Facts = dict[int, DeviceFacts]
UNKNOWN = DeviceFacts(300, None, True, None, 20)  # a device gone from the table (never deleted in practice)


def heartbeat_deadline(seen_at: datetime, interval_s: int) -> datetime:
    return seen_at + timedelta(seconds=2 * interval_s) + HEARTBEAT_GRACE


def ingest_batch(items: list[Inbound]) -> list[Outcome]:
    devices, known = _device_facts(items)
    refused = gate.refusals(items, devices)
    if not refused:
        return _ingest(items, devices, known)
    accepted = [item for index, item in enumerate(items) if index not in refused]
    outcomes = iter(_ingest(accepted, devices, known) if accepted else ())
    return [Outcome(None, False, None, refused[index]) if index in refused else next(outcomes)
            for index in range(len(items))]


def _ingest(items: list[Inbound], devices: Facts, known: dict[Key, _Stored]) -> list[Outcome]:
    dropped, recovered = supervision.battery_changes(
        {item.device_id: item.battery_pct for item in items if item.battery_pct is not None}, devices)
    stored, fresh = _sort_events([item for item in items if item.type != "heartbeat"], known)
    _bring_back_online([device_id for device_id, facts in devices.items() if not facts.online])
    _update_devices([*(item for item in items if item.type == "heartbeat"), *fresh], devices)
    _record_activity([item for item in fresh if item.type in ACTIVITY], devices)
    incidents = _apply_to_incidents(fresh, devices)
    reported = {item.device_id for item in fresh if item.type == "low_battery"}  # already an alarm above
    _battery_incidents([d for d in dropped if d not in reported], recovered, devices, items[-1].received_at)
    _insert_events(fresh, stored, incidents)
    _open_callbacks([item for item in fresh if item.type == "service_request"], devices)
    return [Outcome(None, False, None) if item.type == "heartbeat" else _outcome(item, stored, incidents)
            for item in items]


def _device_facts(items: list[Inbound]) -> tuple[Facts, dict[Key, _Stored]]:
    """Every device of the batch, with its model's low-battery threshold, its household's no-activity setting
    and what the gate checks tokens against; and which of the batch's events are already stored (repeats).
    One query on PostgreSQL (the repeats ride along as a column computed once), two on SQLite."""
    if not items:
        return {}, {}
    keys = sorted({(item.device_id, item.idempotency_key) for item in items if item.type != "heartbeat"})
    dialect = db.engine.dialect.name
    rows = db.session.connection().execute(_facts_query(dialect), {
        "ids": list({item.device_id for item in items}),
        "pair_devices": [device_id for device_id, _ in keys], "pair_keys": [key for _, key in keys],
    }).all()
    facts = {row[0]: DeviceFacts(*row[1:10], home=alerts.HomeLabel(*row[10:13])) for row in rows}
    if dialect == "postgresql":
        repeats = (rows[0][13] or []) if rows else []
    else:
        repeats = [(r.device_id, r.idempotency_key, r.id, r.incident_id) for r in db.session.execute(
            sa.select(DeviceEvent.device_id, DeviceEvent.idempotency_key, DeviceEvent.id, DeviceEvent.incident_id)
            .where(sa.tuple_(DeviceEvent.device_id, DeviceEvent.idempotency_key).in_(keys)))] if keys else []
    known = {(device_id, key): _Stored(event_id, True, incident_id, None)
             for device_id, key, event_id, incident_id in repeats}
    return facts, known


# The batch's statements are built once: constructing and cache-keying a statement costs more CPU than
# running it, and the commit thread's CPU is what caps the intake.
@functools.cache
def _facts_query(dialect: str) -> sa.Select:
    query = (sa.select(Device.id, Device.heartbeat_interval_s, Device.household_id, Device.online, Device.battery_pct,
                       sa.func.coalesce(DeviceModel.low_battery_pct, 20), Device.status, Device.protocol,
                       Device.token_hash, Household.no_activity_hours, Household.code, Household.address,
                       Community.name_zh)
             .outerjoin(DeviceModel, DeviceModel.code == Device.model)
             .outerjoin(Household, Household.id == Device.household_id)
             .outerjoin(Community, Community.id == Household.community_id)
             .where(among(Device.id, "ids", dialect)))
    if dialect != "postgresql":
        return query
    # The batch's events already stored, as [[device, key, event id, incident id], …]: a subquery that does
    # not depend on the row, so PostgreSQL runs it once (an InitPlan) and the batch saves a round trip.
    pairs = sa.func.unnest(sa.bindparam("pair_devices", type_=postgresql.ARRAY(sa.Integer)),
                           sa.bindparam("pair_keys", type_=postgresql.ARRAY(sa.Text))
                           ).table_valued("device_id", "key").render_derived(with_types=False)
    events = DeviceEvent.__table__
    repeats = (sa.select(sa.func.json_agg(sa.func.json_build_array(events.c.device_id, events.c.idempotency_key,
                                                                   events.c.id, events.c.incident_id)))
               .select_from(events.join(pairs, sa.and_(events.c.device_id == pairs.c.device_id,
                                                       events.c.idempotency_key == pairs.c.key)))
               .scalar_subquery())
    return query.add_columns(repeats)


# --- 1. events ----------------------------------------------------------------------------------------

class _Stored:
    __slots__ = ("duplicate", "event_id", "incident_id", "item")

    def __init__(self, event_id: int | None, duplicate: bool, incident_id: int | None,
                 item: Inbound | None) -> None:
        self.event_id, self.duplicate, self.incident_id, self.item = event_id, duplicate, incident_id, item


def _sort_events(events: list[Inbound], known: dict[Key, _Stored]) -> tuple[dict[Key, _Stored], list[Inbound]]:
    """Every key's stored event (repeats: the one stored before; new: to be inserted), and the new events."""
    stored: dict[Key, _Stored] = dict(known)
    fresh = []
    for item in events:  # the same key twice in one batch: the first one counts
        key = (item.device_id, item.idempotency_key)
        if key not in stored:
            stored[key] = _Stored(None, False, None, item)
            fresh.append(item)
    return stored, fresh


def _insert_events(fresh: list[Inbound], stored: dict[Key, _Stored], incidents: dict[Key, int | None]) -> None:
    """The batch's new events, last and with their incident: a later UPDATE to link them would write every
    row again (and its five index entries). One statement of one JSON document (core.sql.insert_rows), in key
    order as every shared row of a batch: concurrent batches wait for each other, never deadlock."""
    if not fresh:
        return
    now = utcnow()
    rows = [_event_row(item, now, incidents.get((item.device_id, item.idempotency_key)))
            for item in sorted(fresh, key=_key_of)]
    inserted = db.session.connection().execute(_events_insert(db.engine.dialect.name),
                                               rows_parameters(EVENT_COLUMNS, rows)).all()
    if len(inserted) != len(rows):
        # Another process stored one of them first: run again, the batch sees it as a repeat and counts it
        # into its incident once.
        raise RetryBatch(f"{len(rows) - len(inserted)} of {len(rows)} events stored meanwhile by another batch")
    for row in inserted:
        stored[(row.device_id, row.idempotency_key)].event_id = row.id


def _key_of(item: Inbound) -> Key:
    return item.device_id, item.idempotency_key


EVENT_COLUMNS = ("device_id", "idempotency_key", "type", "qualifier", "zone", "code", "lat", "lng", "accuracy_m",
                 "battery_pct", "detail", "occurred_at", "received_at", "protocol", "raw", "processed_at",
                 "incident_id")


@functools.cache
def _events_insert(dialect: str) -> sa.Insert:
    table = DeviceEvent.__table__
    return (insert_rows(table, EVENT_COLUMNS).on_conflict_do_nothing(index_elements=["device_id", "idempotency_key"])
            .returning(table.c.id, table.c.device_id, table.c.idempotency_key))


def _event_row(item: Inbound, now: datetime, incident_id: int | None) -> dict:
    return {"device_id": item.device_id, "idempotency_key": item.idempotency_key, "type": item.type,
            "qualifier": item.qualifier, "zone": item.zone, "code": item.code, "lat": item.lat, "lng": item.lng,
            "accuracy_m": item.accuracy_m, "battery_pct": item.battery_pct, "detail": item.detail,
            "occurred_at": item.occurred_at, "received_at": item.received_at, "protocol": item.protocol,
            "raw": item.raw, "processed_at": now, "incident_id": incident_id}


def _outcome(item: Inbound, stored: dict[Key, _Stored], incidents: dict[Key, int | None]) -> Outcome:
    key = (item.device_id, item.idempotency_key)
    entry = stored[key]
    if entry.item is not item and not entry.duplicate:
        return Outcome(entry.event_id, True, incidents.get(key))  # repeated within this very batch
    return Outcome(entry.event_id, entry.duplicate, entry.incident_id if entry.duplicate else incidents.get(key))


# --- 2. devices ---------------------------------------------------------------------------------------

def _update_devices(items: list[Inbound], devices: Facts) -> None:
    """One UPDATE per device (executemany: one round trip), with the latest of its readings."""
    latest: dict[int, dict] = {}
    for item in sorted(items, key=lambda i: i.received_at):
        row = latest.setdefault(item.device_id, {"d_id": item.device_id, "battery": None, "lat": None,
                                                 "lng": None, "activity": None})
        row["seen"] = item.received_at
        row["due"] = heartbeat_deadline(item.received_at, devices.get(item.device_id, UNKNOWN).interval_s)
        if item.battery_pct is not None:
            row["battery"] = item.battery_pct
        if item.lat is not None and item.lng is not None:
            row["lat"], row["lng"] = item.lat, item.lng
        if item.type in ACTIVITY:
            row["activity"] = item.received_at
    if latest:  # in device order: two workers' batches lock shared devices in the same order
        db.session.connection().execute(_UPDATE_DEVICE, [latest[device_id] for device_id in sorted(latest)])


def _update_device_statement() -> sa.Update:
    table, keep = Device.__table__, sa.func.coalesce
    return table.update().where(table.c.id == sa.bindparam("d_id")).values(
        last_seen_at=sa.bindparam("seen"), next_heartbeat_due=sa.bindparam("due"), online=True,
        battery_pct=keep(sa.bindparam("battery", type_=sa.Integer), table.c.battery_pct),
        last_lat=keep(sa.bindparam("lat", type_=table.c.last_lat.type), table.c.last_lat),
        last_lng=keep(sa.bindparam("lng", type_=table.c.last_lng.type), table.c.last_lng),
        last_activity_at=keep(sa.bindparam("activity", type_=table.c.last_activity_at.type),
                              table.c.last_activity_at),
    )


_UPDATE_DEVICE = queued(_update_device_statement())


def _bring_back_online(device_ids: Iterable[int]) -> None:
    """A device heard from after `device.offline` is back: its offline incident is resolved."""
    device_ids = list(device_ids)
    if not device_ids:
        return  # the usual case: no query on the alarm path
    for device in db.session.scalars(sa.select(Device).where(Device.id.in_(device_ids))
                                     .execution_options(populate_existing=True)):
        alerts.resolve_technical(device.id, "offline", actor=f"device:{device.id}", reason="device back online")
        DEVICE_ONLINE.publish({"id": device.id, "status": "online", "uid": device.uid,
                               "household_id": device.household_id}, namespace=alerts.OPS_NAMESPACE,
                              room=alerts.OPS_ROOM)


def _record_activity(items: list[Inbound], devices: Facts) -> None:
    """Signs of life move the home's no-activity deadline to N hours from now and end a second chance."""
    latest: dict[int, datetime] = {}
    hours: dict[int, int | None] = {}
    for item in items:
        facts = devices.get(item.device_id, UNKNOWN)
        if facts.household_id is not None:
            latest[facts.household_id] = max(item.received_at, latest.get(facts.household_id, item.received_at))
            hours[facts.household_id] = facts.no_activity_hours
    if latest:  # in household order, as devices
        db.session.connection().execute(_ACTIVITY, [
            {"h_id": household_id, "at": at, "due": at + timedelta(hours=hours[household_id])
             if hours[household_id] else None} for household_id, at in sorted(latest.items())])


_ACTIVITY = queued(Household.__table__.update().where(Household.__table__.c.id == sa.bindparam("h_id"))
                   .values(last_activity_at=sa.bindparam("at"), no_activity_due_at=sa.bindparam("due"),
                           no_activity_stage=0))


# --- 4. incidents -------------------------------------------------------------------------------------

def _apply_to_incidents(fresh: list[Inbound], devices: Facts) -> dict[Key, int | None]:
    incidents: dict[Key, int | None] = {}
    alarms: dict[Key, alerts.Alarm] = {}
    for item in fresh:
        key = (item.device_id, item.idempotency_key)
        household_id = devices.get(item.device_id, UNKNOWN).household_id
        actor = f"device:{item.device_id}"
        if item.qualifier in RESTORE_QUALIFIERS or item.type == "restore":
            if item.type != "restore":
                alerts.resolve_technical(item.device_id, item.type, actor=actor, reason=f"{item.type} restored")
        elif item.type == "cancel":
            incidents[key] = alerts.cancel_by_device(household_id, item.device_id, actor=actor)
        elif item.type in LIFE_SAFETY or item.type in TECHNICAL:
            life = item.type in LIFE_SAFETY
            alarms[key] = alerts.Alarm(alerts.dedupe_key_for(item.device_id, household_id, item.type), household_id,
                                       item.device_id, item.type, item.received_at,
                                       lat=item.lat if life else None, lng=item.lng if life else None)
    opened = alerts.open_or_merge_many(list(alarms.values()), homes=_homes(devices))
    incidents.update({key: opened[alarm.key] for key, alarm in alarms.items()})
    return incidents


# --- 6. call-back tasks -------------------------------------------------------------------------------

def _open_callbacks(items: list[Inbound], devices: Facts) -> None:
    presses = [callbacks.Press(household_id, item.device_id, item.received_at) for item in items
               if (household_id := devices.get(item.device_id, UNKNOWN).household_id) is not None]
    if presses:  # the usual batch has none: no statement at all
        callbacks.open_for_presses(presses)


def _battery_incidents(dropped: list[int], recovered: list[int],
                       devices: Facts, at: datetime) -> None:
    alerts.open_or_merge_many([
        alerts.Alarm(alerts.dedupe_key_for(device_id, devices[device_id].household_id, "low_battery"),
                     devices[device_id].household_id, device_id, "low_battery", at)
        for device_id in dropped
    ], homes=_homes(devices))
    for device_id in recovered:
        alerts.resolve_technical(device_id, "low_battery", actor=f"device:{device_id}", reason="battery recharged")


def _homes(devices: Facts) -> dict[int, alerts.HomeLabel]:
    return {facts.household_id: facts.home for facts in devices.values() if facts.household_id is not None}
