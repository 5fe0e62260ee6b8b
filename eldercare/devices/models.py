"""Electronic-nanny devices and every event they send, normalised across the four protocols."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from eldercare.core.db import TimestampMixin, enum_column
from eldercare.core.time import utcnow
from eldercare.extensions import db
from eldercare.geo.models import Coordinate

PROTOCOLS = ("http", "dc09", "watch", "sms")
DEVICE_STATUSES = ("active", "retired")
EVENT_TYPES = ("sos", "fall", "no_activity", "smoke", "gas", "water", "low_battery", "power_loss",
               "device_removed", "test", "heartbeat", "cancel", "offline", "restore",
               # Extensions: motion/door/button activity (feeds no-activity supervision) and the green
               # "service" key, which asks the centre to call back about a service.
               "activity", "service_request")


class DeviceModel(db.Model):
    """A device model: its protocol and supervision defaults (heartbeat interval, low-battery threshold)."""

    __tablename__ = "device_models"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    protocol: Mapped[str] = mapped_column(enum_column(*PROTOCOLS, name="device_protocol"))
    heartbeat_interval_s: Mapped[int] = mapped_column(default=300)
    low_battery_pct: Mapped[int] = mapped_column(default=20)


class Device(TimestampMixin, db.Model):
    __tablename__ = "devices"
    __table_args__ = (
        sa.UniqueConstraint("protocol", "uid"),
        sa.CheckConstraint("battery_pct IS NULL OR (battery_pct >= 0 AND battery_pct <= 100)",
                           name="battery_range"),
        # Supervision reads only what is due: the index makes a sweep cost what expires, not the fleet.
        sa.Index("ix_devices_heartbeat_due", "next_heartbeat_due",
                 postgresql_where=sa.text("status = 'active'"), sqlite_where=sa.text("status = 'active'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(sa.String(64))
    protocol: Mapped[str] = mapped_column(enum_column(*PROTOCOLS, name="device_protocol"))
    household_id: Mapped[int | None] = mapped_column(sa.ForeignKey("households.id"), index=True)
    model: Mapped[str | None] = mapped_column(sa.String(64))
    phone: Mapped[str | None] = mapped_column(sa.String(20))  # E.164
    aes_key: Mapped[str | None] = mapped_column(sa.String(64))  # hex, DC-09 only
    token_hash: Mapped[str | None] = mapped_column(sa.String(128))  # HTTP devices; the token is shown once
    heartbeat_interval_s: Mapped[int] = mapped_column(default=300)
    status: Mapped[str] = mapped_column(enum_column(*DEVICE_STATUSES, name="device_status"), default="active")
    online: Mapped[bool] = mapped_column(default=True)
    battery_pct: Mapped[int | None]
    last_seen_at: Mapped[datetime | None]
    last_activity_at: Mapped[datetime | None]
    last_lat: Mapped[float | None] = mapped_column(Coordinate)
    last_lng: Mapped[float | None] = mapped_column(Coordinate)
    # NULL until the first message: a device is supervised from the moment it first reports.
    next_heartbeat_due: Mapped[datetime | None]
    installed_on: Mapped[datetime | None]
    retired_at: Mapped[datetime | None]

    household = relationship("Household", back_populates="devices")


class DeviceEvent(db.Model):
    """One message from a device, stored before the device is acknowledged.

    `idempotency_key` is the event id (HTTP), account + sequence (DC-09) or the frame's identity (watch,
    SMS); a repeat finds the unique constraint and is acknowledged again without being processed twice.
    """

    __tablename__ = "device_events"
    __table_args__ = (
        sa.UniqueConstraint("device_id", "idempotency_key"),
        sa.CheckConstraint("battery_pct IS NULL OR (battery_pct >= 0 AND battery_pct <= 100)",
                           name="battery_range"),
        sa.Index("ix_device_events_unprocessed", "received_at",
                 postgresql_where=sa.text("processed_at IS NULL"), sqlite_where=sa.text("processed_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True)
    device_id: Mapped[int] = mapped_column(sa.ForeignKey("devices.id"), index=True)
    idempotency_key: Mapped[str] = mapped_column(sa.String(128))
    type: Mapped[str] = mapped_column(enum_column(*EVENT_TYPES, name="device_event_type"))
    qualifier: Mapped[str | None] = mapped_column(sa.String(16))  # e.g. Contact ID new/restore
    zone: Mapped[str | None] = mapped_column(sa.String(16))
    code: Mapped[str | None] = mapped_column(sa.String(16))  # protocol's own code (CID 100, SIA FA, ...)
    lat: Mapped[float | None] = mapped_column(Coordinate)
    lng: Mapped[float | None] = mapped_column(Coordinate)
    accuracy_m: Mapped[int | None]
    battery_pct: Mapped[int | None]
    detail: Mapped[str | None] = mapped_column(sa.String(500))
    occurred_at: Mapped[datetime | None]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    protocol: Mapped[str] = mapped_column(enum_column(*PROTOCOLS, name="device_protocol"))
    raw: Mapped[str | None] = mapped_column(sa.Text)
    processed_at: Mapped[datetime | None]
    incident_id: Mapped[int | None] = mapped_column(sa.ForeignKey("incidents.id"), index=True)

    device = relationship("Device")
