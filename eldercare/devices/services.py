"""From device events to device state and incidents. Services flush, never commit.

`ingest_batch` is called by the intake batcher with everything that arrived within one batch window and
runs in one transaction: store each event once (the (device, idempotency key) constraint decides), update
the device (last seen, battery, next heartbeat deadline, back online), then let the event open, merge,
cancel or restore an incident. Heartbeats only touch the device row, in one statement for the batch.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

import sqlalchemy as sa

from eldercare.alerts import services as alerts
from eldercare.core.sql import dialect_insert
from eldercare.devices import supervision
from eldercare.devices.events import DEVICE_ONLINE
from eldercare.devices.intake import Inbound, Outcome
from eldercare.devices.models import Device, DeviceEvent
from eldercare.extensions import db
from eldercare.households.models import Household

log = logging.getLogger(__name__)

LIFE_SAFETY = frozenset({"sos", "fall", "smoke", "gas", "no_activity"})
TECHNICAL = frozenset({"low_battery", "power_loss", "device_removed", "offline", "water"})
# Signs of life in the home: they push the household's no-activity deadline back.
ACTIVITY = frozenset({"sos", "fall", "cancel", "activity", "service_request"})
RESTORE_QUALIFIERS = frozenset({"restore", "3"})
# A device is offline when it misses two heartbeats plus this grace.
HEARTBEAT_GRACE = timedelta(seconds=30)


def heartbeat_deadline(seen_at: datetime, interval_s: int) -> datetime:
    return seen_at + timedelta(seconds=2 * interval_s) + HEARTBEAT_GRACE


def ingest_batch(items: list[Inbound]) -> list[Outcome]:
    heartbeats = [item for item in items if item.type == "heartbeat"]
    intervals = _intervals({item.device_id for item in items})
    dropped, recovered = supervision.battery_changes(
        {item.device_id: item.battery_pct for item in items if item.battery_pct is not None})
    _record_heartbeats(heartbeats, intervals)
    outcomes = [Outcome(None, False, None) if item.type == "heartbeat" else _ingest_event(item, intervals)
                for item in items]
    _battery_incidents(dropped, recovered, items[-1].received_at)
    return outcomes


def _battery_incidents(dropped: list[int], recovered: list[int], at: datetime) -> None:
    for device_id in dropped:
        alerts.open_or_merge(device=db.session.get(Device, device_id), type_="low_battery", at=at,
                             actor=f"device:{device_id}")
    for device_id in recovered:
        alerts.resolve_technical(device_id, "low_battery", actor=f"device:{device_id}", reason="battery recharged")


def _intervals(device_ids: set[int]) -> dict[int, int]:
    if not device_ids:
        return {}
    return dict(db.session.execute(
        sa.select(Device.id, Device.heartbeat_interval_s).where(Device.id.in_(device_ids))
    ).all())


def _record_heartbeats(heartbeats: list[Inbound], intervals: dict[int, int]) -> None:
    if not heartbeats:
        return
    latest: dict[int, Inbound] = {}
    for item in heartbeats:  # a batch may hold several heartbeats of one device: the last one counts
        latest[item.device_id] = item
    _bring_back_online(latest.keys())
    table = Device.__table__
    statement = (
        table.update().where(table.c.id == sa.bindparam("d_id"))
        .values(last_seen_at=sa.bindparam("seen"), next_heartbeat_due=sa.bindparam("due"), online=True,
                battery_pct=sa.func.coalesce(sa.bindparam("battery", type_=sa.Integer), table.c.battery_pct),
                last_lat=sa.func.coalesce(sa.bindparam("lat", type_=table.c.last_lat.type), table.c.last_lat),
                last_lng=sa.func.coalesce(sa.bindparam("lng", type_=table.c.last_lng.type), table.c.last_lng))
    )
    db.session.connection().execute(statement, [
        {"d_id": item.device_id, "seen": item.received_at, "battery": item.battery_pct, "lat": item.lat,
         "lng": item.lng, "due": heartbeat_deadline(item.received_at, intervals.get(item.device_id, 300))}
        for item in latest.values()
    ])


def _bring_back_online(device_ids: Iterable[int]) -> None:
    """A device heard from after `device.offline` is back: its offline incident is resolved."""
    returning = db.session.scalars(
        sa.select(Device).where(Device.id.in_(list(device_ids)), Device.online.is_(False))
        .execution_options(populate_existing=True)  # the batch's bulk UPDATEs bypass the identity map
    ).all()
    for device in returning:
        device.online = True
        alerts.resolve_technical(device.id, "offline", actor=f"device:{device.id}", reason="device back online")
        DEVICE_ONLINE.publish({"id": device.id, "status": "online", "uid": device.uid,
                               "household_id": device.household_id}, namespace=alerts.OPS_NAMESPACE,
                              room=alerts.OPS_ROOM)


def _ingest_event(item: Inbound, intervals: dict[int, int]) -> Outcome:
    event_id = _insert_event(item)
    if event_id is None:
        existing = db.session.execute(
            sa.select(DeviceEvent.id, DeviceEvent.incident_id)
            .where(DeviceEvent.device_id == item.device_id, DeviceEvent.idempotency_key == item.idempotency_key)
        ).one()
        return Outcome(existing.id, True, existing.incident_id)
    device = _touch_device(item, intervals.get(item.device_id, 300))
    incident_id = _apply_to_incidents(item, device)
    db.session.execute(sa.update(DeviceEvent).where(DeviceEvent.id == event_id)
                       .values(incident_id=incident_id, processed_at=sa.func.now()))
    return Outcome(event_id, False, incident_id)


def _insert_event(item: Inbound) -> int | None:
    values = {
        "device_id": item.device_id, "idempotency_key": item.idempotency_key, "type": item.type,
        "qualifier": item.qualifier, "zone": item.zone, "code": item.code, "lat": item.lat, "lng": item.lng,
        "accuracy_m": item.accuracy_m, "battery_pct": item.battery_pct, "detail": item.detail,
        "occurred_at": item.occurred_at, "received_at": item.received_at, "protocol": item.protocol,
        "raw": item.raw,
    }
    statement = (dialect_insert(DeviceEvent).values(values)
                 .on_conflict_do_nothing(index_elements=["device_id", "idempotency_key"])
                 .returning(DeviceEvent.id))
    return db.session.scalar(statement)


def _touch_device(item: Inbound, interval_s: int) -> Device:
    device = db.session.get(Device, item.device_id, populate_existing=True)
    if not device.online:
        _bring_back_online([device.id])
    device.last_seen_at = item.received_at
    device.next_heartbeat_due = heartbeat_deadline(item.received_at, interval_s)
    if item.battery_pct is not None:
        device.battery_pct = item.battery_pct
    if item.lat is not None and item.lng is not None:
        device.last_lat, device.last_lng = item.lat, item.lng
    if item.type in ACTIVITY:
        device.last_activity_at = item.received_at
        if device.household_id is not None:
            _household_active(device.household_id, item.received_at)
    return device


def _household_active(household_id: int, at: datetime) -> None:
    household = db.session.get(Household, household_id)
    household.last_activity_at = at
    if household.no_activity_hours:
        household.no_activity_due_at = at + timedelta(hours=household.no_activity_hours)
        household.no_activity_stage = 0


def _apply_to_incidents(item: Inbound, device: Device) -> int | None:
    actor = f"device:{device.id}"
    if item.qualifier in RESTORE_QUALIFIERS or item.type == "restore":
        if item.type != "restore":
            alerts.resolve_technical(device.id, item.type, actor=actor, reason=f"{item.type} restored")
        return None
    if item.type == "cancel":
        return alerts.cancel_by_device(device.household_id, device.id, actor=actor)
    if item.type in LIFE_SAFETY:
        return alerts.open_or_merge(device=device, type_=item.type, at=item.received_at, actor=actor,
                                    lat=item.lat, lng=item.lng)
    if item.type in TECHNICAL:
        return alerts.open_or_merge(device=device, type_=item.type, at=item.received_at, actor=actor)
    return None  # test, activity, service_request (handled by dispatch): device state only
