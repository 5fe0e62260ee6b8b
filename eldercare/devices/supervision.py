"""Supervision: devices that stop reporting, batteries running low, homes where nothing moves.

Each check reads only what is due, through an index on the deadline (`next_heartbeat_due`,
`no_activity_due_at`), so a sweep costs what expires, not the size of the fleet. Rows are claimed with
`FOR UPDATE SKIP LOCKED` on PostgreSQL, so two sweeping workers split the work instead of doubling it.
An offline device's deadline is cleared: it leaves the index range until it reports again.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from eldercare.alerts import services as alerts
from eldercare.alerts.models import Notification
from eldercare.core.time import utcnow
from eldercare.devices.events import DEVICE_OFFLINE
from eldercare.devices.models import Device
from eldercare.extensions import db
from eldercare.households.models import Household, Resident

log = logging.getLogger(__name__)

SWEEP_BATCH = 1000
DEFAULT_NO_ACTIVITY_GRACE = timedelta(minutes=30)


def _claim(query: sa.Select) -> sa.Select:
    if db.engine.dialect.name == "postgresql":
        return query.with_for_update(skip_locked=True)
    return query


def mark_overdue_offline(now: datetime | None = None, limit: int = SWEEP_BATCH) -> list[int]:
    """Devices past their heartbeat deadline go offline, with a technical incident and `device.offline`."""
    now = now or utcnow()
    due = db.session.scalars(_claim(
        sa.select(Device.id)
        .where(Device.status == "active", Device.next_heartbeat_due <= now)
        .order_by(Device.next_heartbeat_due).limit(limit)
    )).all()
    if not due:
        return []
    db.session.execute(sa.update(Device).where(Device.id.in_(due)).values(online=False, next_heartbeat_due=None)
                       .execution_options(synchronize_session=False))
    devices = db.session.scalars(sa.select(Device).where(Device.id.in_(due))
                                 .execution_options(populate_existing=True)).all()
    alerts.open_or_merge_many([alerts.alarm_for(device, "offline", now) for device in devices],
                              actor_prefix="system:supervision")
    for device in devices:
        DEVICE_OFFLINE.publish({"id": device.id, "status": "offline", "uid": device.uid,
                                "household_id": device.household_id},
                               namespace=alerts.OPS_NAMESPACE, room=alerts.OPS_ROOM)
    log.info("%d device(s) offline", len(devices))
    return [device.id for device in devices]


def check_no_activity(now: datetime | None = None, limit: int = SWEEP_BATCH) -> list[int]:
    """Homes with no sign of life for their N hours: first a second chance (the resident is asked to
    press a button), then, if still nothing, a no-activity alarm."""
    now = now or utcnow()
    grace = timedelta(seconds=current_app.config.get("ELDERCARE_NO_ACTIVITY_GRACE_S",
                                                     DEFAULT_NO_ACTIVITY_GRACE.total_seconds()))
    households = db.session.scalars(_claim(
        sa.select(Household).where(Household.no_activity_due_at <= now)
        .order_by(Household.no_activity_due_at).limit(limit)
    )).all()
    alarmed = []
    for household in households:
        if household.no_activity_stage == 0:
            _second_chance(household)
            household.no_activity_stage, household.no_activity_due_at = 1, now + grace
            continue
        device = db.session.scalar(sa.select(Device).where(Device.household_id == household.id,
                                                           Device.status == "active").order_by(Device.id))
        household.no_activity_due_at = None  # re-armed by the next sign of life
        if device is None:
            log.warning("household %d inactive but has no active device to report through", household.id)
            continue
        alarmed.append(alerts.open_or_merge(device=device, type_="no_activity", at=now,
                                            actor="system:supervision"))
    db.session.flush()
    return alarmed


def _second_chance(household: Household) -> None:
    """Ask the resident to show a sign of life: a call/SMS to the home phone through the notifications
    layer (outbox when there is no Twilio account)."""
    resident = db.session.scalar(sa.select(Resident).where(Resident.household_id == household.id)
                                 .order_by(Resident.id))
    phone = household.phone or (resident.phone if resident else None)
    if phone is None:
        return
    db.session.add(Notification(
        purpose_type="no_activity_check", purpose_id=household.id, recipient_type="household",
        recipient_id=household.id, to_address=phone, channel="sms", template="no_activity_check",
        language=resident.language if resident else "zh",
        body="为老服务信息中心：您好，我们有一段时间没有收到您家中的活动信号，请按一下设备上的任意键或回复1报平安。",
    ))


def battery_changes(readings: dict[int, int], devices: dict) -> tuple[list[int], list[int]]:
    """(devices whose battery fell below their model's threshold, devices back well above it), comparing
    the batch's readings with the stored ones in `devices` (facts read before the new readings are written)."""
    dropped, recovered = [], []
    for device_id, reading in readings.items():
        facts = devices.get(device_id)
        if facts is None:
            continue
        previous, threshold = facts.battery_pct, facts.low_battery_pct
        if reading < threshold and (previous is None or previous >= threshold):
            dropped.append(device_id)
        # Hysteresis: a battery hovering at the threshold must not open and close incidents all day.
        # Only readings crossing the upper band can close one; resolving finds nothing when none is open.
        elif previous is not None and previous < threshold + 15 <= reading:
            recovered.append(device_id)
    return dropped, recovered
