"""Elderly households, the residents living there and the people to call for them."""

from __future__ import annotations

from datetime import datetime, time

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from eldercare.core.db import TimestampMixin, enum_column
from eldercare.extensions import db
from eldercare.geo.models import Coordinate


class Household(TimestampMixin, db.Model):
    __tablename__ = "households"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(24), unique=True)
    community_id: Mapped[int] = mapped_column(sa.ForeignKey("communities.id"), index=True)
    grid_cell_id: Mapped[int | None] = mapped_column(sa.ForeignKey("grid_cells.id"), index=True)
    address: Mapped[str] = mapped_column(sa.String(200))
    lat: Mapped[float] = mapped_column(Coordinate)
    lng: Mapped[float] = mapped_column(Coordinate)
    phone: Mapped[str | None] = mapped_column(sa.String(20))
    # How a responder gets in: door codes, key safe, which neighbour holds a key.
    access_info: Mapped[str | None] = mapped_column(sa.Text)
    key_safe_code: Mapped[str | None] = mapped_column(sa.String(16))
    # Family notified at the same time as the operator's call-back rather than after it.
    notify_family_parallel: Mapped[bool] = mapped_column(default=False)
    # Hours without any activity before a no-activity alarm; NULL = supervision off.
    no_activity_hours: Mapped[int | None]
    last_activity_at: Mapped[datetime | None]
    # Next no-activity check; stage 1 = the second chance was given (the resident was prompted).
    no_activity_due_at: Mapped[datetime | None] = mapped_column(index=True)
    no_activity_stage: Mapped[int] = mapped_column(default=0, server_default="0")
    notes: Mapped[str | None] = mapped_column(sa.Text)
    active: Mapped[bool] = mapped_column(default=True)

    community = relationship("Community")
    grid_cell = relationship("GridCell")
    residents = relationship("Resident", back_populates="household", order_by="Resident.id")
    contacts = relationship("Contact", back_populates="household", order_by="Contact.priority")
    devices = relationship("Device", back_populates="household", order_by="Device.id")


class Resident(TimestampMixin, db.Model):
    __tablename__ = "residents"
    __table_args__ = (sa.CheckConstraint("birth_year >= 1900 AND birth_year <= 2100", name="birth_year_range"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(sa.ForeignKey("households.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(50))
    gender: Mapped[str] = mapped_column(enum_column("f", "m", name="gender"))
    birth_year: Mapped[int]
    phone: Mapped[str | None] = mapped_column(sa.String(20))
    language: Mapped[str] = mapped_column(sa.String(8), default="zh")  # zh, mn (Mongolian), ...
    dialect: Mapped[str | None] = mapped_column(sa.String(32))
    health_notes: Mapped[str | None] = mapped_column(sa.Text)
    medication: Mapped[str | None] = mapped_column(sa.Text)
    mobility: Mapped[str | None] = mapped_column(sa.String(32))  # independent, cane, wheelchair, bedridden
    lives_alone: Mapped[bool] = mapped_column(default=False)
    subsidy_level: Mapped[str | None] = mapped_column(sa.String(16))  # e.g. low-income, disabled, 80+
    registered_on: Mapped[datetime | None]
    active: Mapped[bool] = mapped_column(default=True)

    household = relationship("Household", back_populates="residents")


class Contact(db.Model):
    """Family, neighbours and friends, called in `priority` order by the response cascade."""

    __tablename__ = "contacts"
    __table_args__ = (sa.UniqueConstraint("household_id", "priority"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(sa.ForeignKey("households.id"))
    priority: Mapped[int]
    name: Mapped[str] = mapped_column(sa.String(50))
    relation: Mapped[str] = mapped_column(enum_column("child", "spouse", "relative", "neighbour", "friend",
                                                      "carer", "other", name="contact_relation"))
    phone: Mapped[str] = mapped_column(sa.String(20))
    language: Mapped[str] = mapped_column(sa.String(8), default="zh")
    has_key: Mapped[bool] = mapped_column(default=False)
    lives_nearby: Mapped[bool] = mapped_column(default=False)
    # Hours the contact can be reached (local time); NULL = any time.
    available_from: Mapped[time | None]
    available_to: Mapped[time | None]
    available_note: Mapped[str | None] = mapped_column(sa.String(100))

    household = relationship("Household", back_populates="contacts")
