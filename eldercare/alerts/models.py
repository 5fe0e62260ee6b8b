"""Alarm incidents, their action-plan steps and response cascade, and every outbound notification."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from eldercare.core.db import TimestampMixin, enum_column
from eldercare.core.time import utcnow
from eldercare.extensions import db

INCIDENT_STATUSES = ("new", "claimed", "in_progress", "on_hold", "dispatched", "escalated", "resolved",
                     "closed", "cancelled")
OPEN_INCIDENT_STATUSES = ("new", "claimed", "in_progress", "on_hold", "dispatched", "escalated")
OPEN_PREDICATE = sa.text("status IN ('new', 'claimed', 'in_progress', 'on_hold', 'dispatched', 'escalated')")
# Lower is more urgent: life-safety, then technical, then information.
PRIORITY_LIFE_SAFETY, PRIORITY_TECHNICAL, PRIORITY_INFO = 1, 2, 3
OUTCOMES = ("false_alarm", "reassurance", "service_referral", "family_attended", "grid_leader_attended",
            "team_dispatched", "ambulance", "no_answer_forced_entry", "device_fault", "cancelled_by_device")
NOTIFICATION_CHANNELS = ("sms", "voice", "in_app")
NOTIFICATION_STATES = ("queued", "sent", "delivered", "failed", "answered", "acknowledged", "expired")
CASCADE_TARGETS = ("resident", "contact", "grid_leader", "team", "emergency_services")
CASCADE_STATES = ("pending", "active", "acknowledged", "no_answer", "skipped", "cancelled")
DISPATCH_STATES = ("called", "acknowledged", "en_route", "on_scene", "returning", "done", "declined",
                   "timed_out", "cancelled")


class Incident(TimestampMixin, db.Model):
    __tablename__ = "incidents"
    __table_args__ = (
        sa.Index("ix_incidents_queue", "status", "priority", "created_at"),
        sa.Index("ix_incidents_household_status", "household_id", "status"),
        sa.CheckConstraint("priority >= 1 AND priority <= 3", name="priority_range"),
        # One open incident per key ("life:<household>", "tech:<device>:<type>"): concurrent alarms from one
        # home merge into it, decided by the database (INSERT … ON CONFLICT on this partial index).
        sa.Index("uq_incidents_open_dedupe_key", "dedupe_key", unique=True,
                 postgresql_where=OPEN_PREDICATE, sqlite_where=OPEN_PREDICATE),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int | None] = mapped_column(sa.ForeignKey("households.id"))
    device_id: Mapped[int | None] = mapped_column(sa.ForeignKey("devices.id"), index=True)
    type: Mapped[str] = mapped_column(sa.String(24))  # the device event type that opened it
    priority: Mapped[int]
    status: Mapped[str] = mapped_column(enum_column(*INCIDENT_STATUSES, name="incident_status"), default="new")
    event_count: Mapped[int] = mapped_column(default=1)  # repeated presses merged into it
    dedupe_key: Mapped[str | None] = mapped_column(sa.String(64))
    last_event_at: Mapped[datetime | None]
    claimed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    claimed_at: Mapped[datetime | None]
    first_action_at: Mapped[datetime | None]
    hold_until: Mapped[datetime | None]
    escalation_level: Mapped[int] = mapped_column(default=0)
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(enum_column(*OUTCOMES, name="incident_outcome"))
    outcome_notes: Mapped[str | None] = mapped_column(sa.Text)
    follow_up: Mapped[bool] = mapped_column(default=False)
    review_flag: Mapped[bool] = mapped_column(default=False)  # over 3 minutes to answer
    lat: Mapped[float | None] = mapped_column(sa.Numeric(9, 6, asdecimal=False))
    lng: Mapped[float | None] = mapped_column(sa.Numeric(9, 6, asdecimal=False))

    household = relationship("Household")
    device = relationship("Device")
    claimed_by = relationship("User")
    steps = relationship("ActionStep", back_populates="incident", order_by="ActionStep.id")
    cascade = relationship("CascadeStep", back_populates="incident", order_by="CascadeStep.seq")


class ActionStep(db.Model):
    """One scripted step of the action plan as the operator carried it out."""

    __tablename__ = "action_steps"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(sa.ForeignKey("incidents.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(32))  # call_resident, call_contact, call_grid_leader, ...
    target_ref: Mapped[str | None] = mapped_column(sa.String(64))
    result: Mapped[str | None] = mapped_column(sa.String(32))  # answered, no_answer, busy, attending, ...
    notes: Mapped[str | None] = mapped_column(sa.Text)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]

    incident = relationship("Incident", back_populates="steps")


class CascadeStep(db.Model):
    """One rung of the automatic response cascade: who is called, when, and whether they took it."""

    __tablename__ = "cascade_steps"
    __table_args__ = (sa.UniqueConstraint("incident_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(sa.ForeignKey("incidents.id"))
    seq: Mapped[int]
    target_type: Mapped[str] = mapped_column(enum_column(*CASCADE_TARGETS, name="cascade_target"))
    target_id: Mapped[int | None]
    parallel: Mapped[bool] = mapped_column(default=False)
    state: Mapped[str] = mapped_column(enum_column(*CASCADE_STATES, name="cascade_state"), default="pending")
    started_at: Mapped[datetime | None]
    due_at: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]

    incident = relationship("Incident", back_populates="cascade")


class TeamDispatch(db.Model):
    """An emergency team called to an incident; the team must acknowledge within its deadline."""

    __tablename__ = "team_dispatches"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(sa.ForeignKey("incidents.id"), index=True)
    team_id: Mapped[int] = mapped_column(sa.ForeignKey("emergency_teams.id"), index=True)
    state: Mapped[str] = mapped_column(enum_column(*DISPATCH_STATES, name="dispatch_state"), default="called")
    eta_minutes: Mapped[int | None]
    called_at: Mapped[datetime] = mapped_column(default=utcnow)
    ack_due_at: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]
    on_scene_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    called_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    incident = relationship("Incident")
    team = relationship("EmergencyTeam")


class Notification(TimestampMixin, db.Model):
    """Every SMS, voice call and in-app message: its purpose, recipient, channel and delivery state."""

    __tablename__ = "notifications"
    __table_args__ = (
        sa.Index("ix_notifications_purpose", "purpose_type", "purpose_id"),
        sa.Index("ix_notifications_retry_due", "next_attempt_at",
                 postgresql_where=sa.text("state = 'queued'"), sqlite_where=sa.text("state = 'queued'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    purpose_type: Mapped[str] = mapped_column(sa.String(24))  # cascade_step, offer, team_dispatch, notice, ...
    purpose_id: Mapped[int | None]
    recipient_type: Mapped[str] = mapped_column(sa.String(24))  # contact, grid_leader, team, provider, room
    recipient_id: Mapped[int | None]
    to_address: Mapped[str] = mapped_column(sa.String(64))  # E.164 number or Socket.IO room
    channel: Mapped[str] = mapped_column(enum_column(*NOTIFICATION_CHANNELS, name="notification_channel"))
    template: Mapped[str] = mapped_column(sa.String(48))
    urgent: Mapped[bool] = mapped_column(default=False, server_default=sa.false())  # alarms: any hour, no limit
    language: Mapped[str] = mapped_column(sa.String(8), default="zh")
    body: Mapped[str] = mapped_column(sa.Text)
    state: Mapped[str] = mapped_column(enum_column(*NOTIFICATION_STATES, name="notification_state"),
                                       default="queued")
    provider_sid: Mapped[str | None] = mapped_column(sa.String(64), unique=True)  # Twilio's SM.../CA...
    error_code: Mapped[str | None] = mapped_column(sa.String(16))
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    duration_s: Mapped[int | None]  # a call's length, from Twilio's status callback (cost report)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
