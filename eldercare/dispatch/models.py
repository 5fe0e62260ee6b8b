"""Service orders, the offers that place them with providers, recurrence and follow-up calls."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from eldercare.core.db import TimestampMixin, enum_column
from eldercare.core.time import utcnow
from eldercare.extensions import db

ORDER_STATUSES = ("created", "pending_dispatch", "offered", "accepted", "assigned", "en_route", "in_service",
                  "completed", "verified", "settled", "escalated", "cancelled", "cannot_complete", "no_show")
ORDER_SOURCES = ("operator", "device", "schedule", "incident", "api")
OFFER_STATUSES = ("pending", "accepted", "declined", "expired", "withdrawn")
RECURRENCE_STATUSES = ("active", "paused", "ended")
DISPATCH_MODES = ("sequential", "broadcast")


class Order(TimestampMixin, db.Model):
    __tablename__ = "orders"
    __table_args__ = (
        sa.Index("ix_orders_status_scheduled", "status", "scheduled_for"),
        sa.Index("ix_orders_provider_status", "provider_id", "status"),
        # A recurrence releases each of its occurrences once: decided here, whatever races in the workers.
        sa.UniqueConstraint("recurrence_id", "scheduled_for"),
        # A company's jobs of one service day (matching's daily capacity): scheduled ones by their time,
        # the others by their acceptance; with the index above the load query reads only the rows it counts.
        sa.Index("ix_orders_provider_scheduled", "provider_id", "scheduled_for"),
        sa.Index("ix_orders_provider_accepted", "provider_id", "accepted_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(sa.ForeignKey("households.id"), index=True)
    resident_id: Mapped[int | None] = mapped_column(sa.ForeignKey("residents.id"))
    service_type_id: Mapped[int] = mapped_column(sa.ForeignKey("service_types.id"), index=True)
    status: Mapped[str] = mapped_column(enum_column(*ORDER_STATUSES, name="order_status"), default="created")
    source: Mapped[str] = mapped_column(enum_column(*ORDER_SOURCES, name="order_source"), default="operator")
    scheduled_for: Mapped[datetime | None]
    sla_due_at: Mapped[datetime | None]
    notes: Mapped[str | None] = mapped_column(sa.Text)
    provider_id: Mapped[int | None] = mapped_column(sa.ForeignKey("providers.id"))
    worker_id: Mapped[int | None] = mapped_column(sa.ForeignKey("provider_workers.id"))
    incident_id: Mapped[int | None] = mapped_column(sa.ForeignKey("incidents.id"))
    recurrence_id: Mapped[int | None] = mapped_column(sa.ForeignKey("recurring_orders.id"), index=True)
    # Batch planning's proposal (dispatch/planning_runs.py), kept apart from `provider_id`, which only ever
    # names the company that accepted or was assigned the order: a plan is a suggestion for dispatch to
    # offer first, not a commitment, and the order's status does not change when it is made.
    planned_provider_id: Mapped[int | None] = mapped_column(sa.ForeignKey("providers.id"))
    planned_at: Mapped[datetime | None]
    offer_attempts: Mapped[int] = mapped_column(default=0)
    escalation_reason: Mapped[str | None] = mapped_column(sa.String(200))
    price: Mapped[Decimal | None] = mapped_column(sa.Numeric(10, 2))
    subsidy_amount: Mapped[Decimal | None] = mapped_column(sa.Numeric(10, 2))
    duration_minutes: Mapped[int | None]
    completion_notes: Mapped[str | None] = mapped_column(sa.Text)
    # Milestones of the job (the scorecard's on-time rate compares arrival, `started_at`, with `sla_due_at`).
    accepted_at: Mapped[datetime | None]
    en_route_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    # How offers go out: one provider at a time (best first), or the top K at once (first accept wins).
    dispatch_mode: Mapped[str] = mapped_column(enum_column(*DISPATCH_MODES, name="dispatch_mode"),
                                               default="sequential", server_default="sequential")
    # An operator widened the area: providers of the household's whole district are eligible too.
    widened: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    settlement_id: Mapped[int | None] = mapped_column(sa.ForeignKey("settlements.id"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    household = relationship("Household")
    service_type = relationship("ServiceType")
    provider = relationship("Provider", foreign_keys=[provider_id])
    worker = relationship("ProviderWorker")
    offers = relationship("Offer", back_populates="order", order_by="Offer.id")


class Offer(db.Model):
    __tablename__ = "offers"
    __table_args__ = (
        sa.Index("ix_offers_provider_status", "provider_id", "status"),
        sa.Index("ix_offers_pending_expiry", "expires_at",
                 postgresql_where=sa.text("status = 'pending'"), sqlite_where=sa.text("status = 'pending'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("orders.id"), index=True)
    provider_id: Mapped[int] = mapped_column(sa.ForeignKey("providers.id"))
    status: Mapped[str] = mapped_column(enum_column(*OFFER_STATUSES, name="offer_status"), default="pending")
    rank: Mapped[int | None]
    score: Mapped[float | None] = mapped_column(sa.Float)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    responded_at: Mapped[datetime | None]
    responded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    decline_reason: Mapped[str | None] = mapped_column(sa.String(200))
    # A provider may ask once for more time before the offer expires.
    extended: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    # Why this provider was ranked here: the score's components at the time of the offer.
    explanation: Mapped[dict | None] = mapped_column(sa.JSON)

    order = relationship("Order", back_populates="offers")
    provider = relationship("Provider")


class RecurringOrder(TimestampMixin, db.Model):
    """A standing order (e.g. meals Mon–Fri 11:30) as an RFC 5545 RRULE, released at its lead time.

    The rule is read in the centre's local time (core.time.CITY_TZ) from `starts_on` to `ends_on`
    (inclusive). `next_occurrence_at` is the next occurrence not yet released and `next_release_at` the
    moment it is due (occurrence − lead); both are NULL unless the recurrence is active. See
    dispatch/recurring.py."""

    __tablename__ = "recurring_orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(sa.ForeignKey("households.id"), index=True)
    resident_id: Mapped[int | None] = mapped_column(sa.ForeignKey("residents.id"))
    service_type_id: Mapped[int] = mapped_column(sa.ForeignKey("service_types.id"))
    rrule: Mapped[str] = mapped_column(sa.String(255))
    starts_on: Mapped[date]
    ends_on: Mapped[date | None]
    lead_minutes: Mapped[int] = mapped_column(default=120)
    status: Mapped[str] = mapped_column(enum_column(*RECURRENCE_STATUSES, name="recurrence_status"),
                                        default="active", server_default="active")
    next_occurrence_at: Mapped[datetime | None]
    next_release_at: Mapped[datetime | None] = mapped_column(index=True)
    preferred_provider_id: Mapped[int | None] = mapped_column(sa.ForeignKey("providers.id"))
    notes: Mapped[str | None] = mapped_column(sa.Text)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    household = relationship("Household")
    service_type = relationship("ServiceType")


class FollowUp(db.Model):
    """The call-back (回访) after a completed order: rating 1–5 and any complaint."""

    __tablename__ = "follow_ups"
    __table_args__ = (sa.CheckConstraint("rating IS NULL OR (rating >= 1 AND rating <= 5)", name="rating_range"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(sa.ForeignKey("orders.id"), unique=True)
    due_at: Mapped[datetime] = mapped_column(index=True)
    status: Mapped[str] = mapped_column(enum_column("pending", "done", "unreachable", name="follow_up_status"),
                                        default="pending")
    rating: Mapped[int | None]
    complaint: Mapped[bool] = mapped_column(default=False)
    notes: Mapped[str | None] = mapped_column(sa.Text)
    operator_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    done_at: Mapped[datetime | None]

    order = relationship("Order")


CALLBACK_STATUSES = ("pending", "done", "cancelled")


class CallbackTask(db.Model):
    """A device's green "service" key was pressed: an operator calls the household back (issue 6, item 4).

    Its own small table rather than a FollowUp: a follow-up belongs to a completed order (one per order),
    a call-back comes before any order exists. One pending task per household (the partial unique index):
    pressing the key again only counts `presses`. The intake writes it in one upsert per batch
    (eldercare.dispatch.callbacks.open_for_presses); an operator closes it `done` (often creating an order,
    then named in `order_id`) or `cancelled`."""

    __tablename__ = "callback_tasks"
    __table_args__ = (
        sa.Index("uq_callback_tasks_pending_household", "household_id", unique=True,
                 postgresql_where=sa.text("status = 'pending'"), sqlite_where=sa.text("status = 'pending'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    household_id: Mapped[int] = mapped_column(sa.ForeignKey("households.id"))
    device_id: Mapped[int | None] = mapped_column(sa.ForeignKey("devices.id"))
    status: Mapped[str] = mapped_column(enum_column(*CALLBACK_STATUSES, name="callback_status"), default="pending")
    presses: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    last_pressed_at: Mapped[datetime] = mapped_column(default=utcnow)
    done_at: Mapped[datetime | None]
    done_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    order_id: Mapped[int | None] = mapped_column(sa.ForeignKey("orders.id"))
    notes: Mapped[str | None] = mapped_column(sa.Text)

    household = relationship("Household")
