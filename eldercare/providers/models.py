"""Franchised provider companies, their workers, and the 12 emergency teams."""

from __future__ import annotations

from datetime import datetime, time

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from eldercare.core.db import TimestampMixin, enum_column
from eldercare.extensions import db
from eldercare.geo.models import Coordinate

PROVIDER_STATUSES = ("active", "suspended", "do_not_dispatch", "pending_approval")
TEAM_STATES = ("available", "committed", "en_route", "on_scene", "returning", "off_duty")

provider_service_types = sa.Table(
    "provider_service_types",
    db.metadata,
    sa.Column("provider_id", sa.ForeignKey("providers.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("service_type_id", sa.ForeignKey("service_types.id"), primary_key=True, index=True),
)

provider_coverage = sa.Table(
    "provider_coverage",
    db.metadata,
    sa.Column("provider_id", sa.ForeignKey("providers.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("community_id", sa.ForeignKey("communities.id"), primary_key=True, index=True),
)


class Provider(TimestampMixin, db.Model):
    __tablename__ = "providers"
    __table_args__ = (
        sa.CheckConstraint("daily_capacity >= 0", name="capacity_not_negative"),
        sa.CheckConstraint("rating IS NULL OR (rating >= 1 AND rating <= 5)", name="rating_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(24), unique=True)
    name_zh: Mapped[str] = mapped_column(sa.String(100))
    name_en: Mapped[str] = mapped_column(sa.String(150))
    contact_name: Mapped[str | None] = mapped_column(sa.String(50))
    phone: Mapped[str] = mapped_column(sa.String(20))
    address: Mapped[str | None] = mapped_column(sa.String(200))
    district_id: Mapped[int] = mapped_column(sa.ForeignKey("districts.id"), index=True)
    base_lat: Mapped[float] = mapped_column(Coordinate)
    base_lng: Mapped[float] = mapped_column(Coordinate)
    # Orders the company can take in one day, and at once; matching never exceeds either.
    daily_capacity: Mapped[int] = mapped_column(default=20)
    concurrent_capacity: Mapped[int] = mapped_column(default=5)
    status: Mapped[str] = mapped_column(enum_column(*PROVIDER_STATUSES, name="provider_status"), default="active")
    status_reason: Mapped[str | None] = mapped_column(sa.String(200))
    rating: Mapped[float | None] = mapped_column(sa.Numeric(3, 2, asdecimal=False))
    joined_on: Mapped[datetime | None]

    service_types = relationship("ServiceType", secondary=provider_service_types, order_by="ServiceType.id")
    communities = relationship("Community", secondary=provider_coverage, order_by="Community.id")
    hours = relationship("ProviderHours", back_populates="provider", order_by="ProviderHours.weekday",
                         cascade="all, delete-orphan")
    workers = relationship("ProviderWorker", back_populates="provider", order_by="ProviderWorker.id")


class ProviderHours(db.Model):
    """Working hours per weekday (0 = Monday); a weekday without a row is closed."""

    __tablename__ = "provider_hours"
    __table_args__ = (
        sa.UniqueConstraint("provider_id", "weekday"),
        sa.CheckConstraint("weekday >= 0 AND weekday <= 6", name="weekday_range"),
        sa.CheckConstraint("opens_at < closes_at", name="opens_before_closes"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(sa.ForeignKey("providers.id", ondelete="CASCADE"))
    weekday: Mapped[int]
    opens_at: Mapped[time]
    closes_at: Mapped[time]

    provider = relationship("Provider", back_populates="hours")


class ProviderWorker(TimestampMixin, db.Model):
    """A person a company sends to a home (may or may not have a console login)."""

    __tablename__ = "provider_workers"

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(sa.ForeignKey("providers.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(50))
    phone: Mapped[str] = mapped_column(sa.String(20))
    skills: Mapped[str | None] = mapped_column(sa.String(200))
    active: Mapped[bool] = mapped_column(default=True)

    provider = relationship("Provider", back_populates="workers")


class EmergencyTeam(TimestampMixin, db.Model):
    __tablename__ = "emergency_teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(16), unique=True)
    name_zh: Mapped[str] = mapped_column(sa.String(50))
    name_en: Mapped[str] = mapped_column(sa.String(80))
    district_id: Mapped[int] = mapped_column(sa.ForeignKey("districts.id"), index=True)
    base_lat: Mapped[float] = mapped_column(Coordinate)
    base_lng: Mapped[float] = mapped_column(Coordinate)
    phone: Mapped[str] = mapped_column(sa.String(20))
    state: Mapped[str] = mapped_column(enum_column(*TEAM_STATES, name="team_state"), default="available")
    state_changed_at: Mapped[datetime | None]

    members = relationship("TeamMember", back_populates="team", order_by="TeamMember.id")


class TeamMember(db.Model):
    __tablename__ = "team_members"

    id: Mapped[int] = mapped_column(primary_key=True)
    team_id: Mapped[int] = mapped_column(sa.ForeignKey("emergency_teams.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(50))
    phone: Mapped[str] = mapped_column(sa.String(20))
    role: Mapped[str] = mapped_column(sa.String(24), default="member")  # leader, member, driver, nurse
    on_duty: Mapped[bool] = mapped_column(default=True)

    team = relationship("EmergencyTeam", back_populates="members")


CHANGE_REQUEST_STATUSES = ("pending", "approved", "rejected")


class ProviderChangeRequest(db.Model):
    """A company's request to change what matching knows of it (coverage, service types, hours, capacity).

    The company proposes, the centre decides: nothing in `payload` reaches the provider's row (and so
    matching) until a supervisor or administrator approves it (eldercare.providers.changes). `previous` keeps
    what the approval replaced, for the record."""

    __tablename__ = "provider_change_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[int] = mapped_column(sa.ForeignKey("providers.id"), index=True)
    status: Mapped[str] = mapped_column(enum_column(*CHANGE_REQUEST_STATUSES, name="change_request_status"),
                                        default="pending", index=True)
    payload: Mapped[dict] = mapped_column(sa.JSON)
    note: Mapped[str | None] = mapped_column(sa.String(500))
    submitted_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    submitted_at: Mapped[datetime]
    reviewed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    reviewed_at: Mapped[datetime | None]
    review_note: Mapped[str | None] = mapped_column(sa.String(500))
    previous: Mapped[dict | None] = mapped_column(sa.JSON)

    provider = relationship("Provider")
    submitted_by = relationship("User", foreign_keys=[submitted_by_id])
    reviewed_by = relationship("User", foreign_keys=[reviewed_by_id])
