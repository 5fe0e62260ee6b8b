"""Standing orders: create, pause, resume, end, and release each occurrence as an Order at its lead time.

Release (`release_due`, run by the beat task `dispatch.release_recurring`): a recurrence is due when
`next_release_at` (= next occurrence − lead minutes, indexed) has passed; the sweep reads only those rows, so
its work is what is due, not how many recurrences exist. Releasing one occurrence is two statements decided by
the database, never by a read-then-write in Python:
1. a compare-and-set UPDATE moves the recurrence to its following occurrence `WHERE next_occurrence_at =
   <the one seen>`: of two workers racing for it, PostgreSQL lets exactly one match the row;
2. the order is inserted `ON CONFLICT (recurrence_id, scheduled_for) DO NOTHING`: even a recurrence moved back
   by hand can never release the same occurrence twice.
Services flush, never commit; the task or view commits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa

from eldercare.core.errors import ApiError
from eldercare.core.sql import dialect_insert
from eldercare.core.states import Actor, StateMachine
from eldercare.core.time import utcnow
from eldercare.dispatch import rules
from eldercare.dispatch.models import Order, RecurringOrder
from eldercare.dispatch.services import ORDER
from eldercare.extensions import db

log = logging.getLogger(__name__)

RECURRENCE = StateMachine("recurrence", RecurringOrder, {
    "active": {"paused", "ended"},
    "paused": {"active", "ended"},
})
SYSTEM = "system:recurrence"
RELEASE_BATCH = 500
# A release that comes this late (a worker down for hours) would send someone for a meal already missed:
# the occurrence is skipped and logged instead.
MISSED_AFTER = timedelta(hours=1)


@dataclass(frozen=True)
class RecurrenceSpec:
    household_id: int
    service_type_id: int
    rrule: str
    starts_on: date
    ends_on: date | None
    lead_minutes: int
    resident_id: int | None = None
    preferred_provider_id: int | None = None
    notes: str | None = None


def rule_of(recurrence: RecurringOrder) -> rules.rrule:
    return rules.parse(recurrence.rrule, recurrence.starts_on)


def create(spec: RecurrenceSpec, *, actor: Actor, now: datetime | None = None) -> RecurringOrder:
    try:
        rules.validate(spec.rrule, spec.starts_on, spec.ends_on)
    except rules.RuleError as exc:
        raise ApiError(400, "bad_request", "Invalid input.", {"rrule": [str(exc)]}) from exc
    recurrence = RecurringOrder(
        household_id=spec.household_id, service_type_id=spec.service_type_id, rrule=rules.normalise(spec.rrule),
        starts_on=spec.starts_on, ends_on=spec.ends_on, lead_minutes=spec.lead_minutes,
        resident_id=spec.resident_id, preferred_provider_id=spec.preferred_provider_id, notes=spec.notes,
        status="active", created_by_id=getattr(actor, "id", None),
    )
    db.session.add(recurrence)
    db.session.flush()
    RECURRENCE.record_new(recurrence.id, "active", actor=actor, reason="recurrence created")
    _schedule_after(recurrence, now or utcnow(), actor=actor)
    return recurrence


def pause(recurrence: RecurringOrder, *, actor: Actor, reason: str | None = None) -> None:
    RECURRENCE.transition(recurrence, "paused", actor=actor, reason=reason,
                          values={"next_occurrence_at": None, "next_release_at": None})


def resume(recurrence: RecurringOrder, *, actor: Actor, reason: str | None = None,
           now: datetime | None = None) -> None:
    """Occurrences that passed while paused are not released; the next one after now (and after the last
    released one) is."""
    RECURRENCE.transition(recurrence, "active", actor=actor, reason=reason)
    last = db.session.scalar(sa.select(sa.func.max(Order.scheduled_for)).where(Order.recurrence_id == recurrence.id))
    now = now or utcnow()
    _schedule_after(recurrence, max(now, last) if last is not None else now, actor=actor)


def end(recurrence: RecurringOrder, *, actor: Actor, reason: str | None = None) -> None:
    """No further occurrence is released; orders already released stay with dispatch."""
    RECURRENCE.transition(recurrence, "ended", actor=actor, reason=reason,
                          values={"next_occurrence_at": None, "next_release_at": None})


def _schedule_after(recurrence: RecurringOrder, after: datetime, *, actor: Actor) -> None:
    occurrence = rules.next_occurrence(rule_of(recurrence), after, recurrence.ends_on)
    if occurrence is None:
        end(recurrence, actor=actor, reason="no further occurrences")
        return
    recurrence.next_occurrence_at = occurrence
    recurrence.next_release_at = occurrence - timedelta(minutes=recurrence.lead_minutes)
    db.session.flush()


# --- release at lead time --------------------------------------------------------------------------------

def due_ids(now: datetime, limit: int = RELEASE_BATCH) -> list[int]:
    query = (sa.select(RecurringOrder.id)
             .where(RecurringOrder.status == "active", RecurringOrder.next_release_at <= now)
             .order_by(RecurringOrder.next_release_at).limit(limit))
    if db.engine.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)  # two sweeping workers split the work
    return list(db.session.scalars(query))


def release_due(now: datetime | None = None, limit: int = RELEASE_BATCH) -> list[int]:
    """Release every due occurrence; returns the ids of the orders created."""
    now = now or utcnow()
    return [order_id for rid in due_ids(now, limit) if (order_id := release(rid, now)) is not None]


def release(recurrence_id: int, now: datetime | None = None) -> int | None:
    """Release the recurrence's next occurrence if it is due and nobody has; returns the new order's id."""
    now = now or utcnow()
    seen = db.session.execute(
        sa.select(RecurringOrder.next_occurrence_at, RecurringOrder.next_release_at)
        .where(RecurringOrder.id == recurrence_id, RecurringOrder.status == "active")
    ).first()
    if seen is None or seen.next_release_at is None or seen.next_release_at > now:
        return None
    occurrence = seen.next_occurrence_at
    if not _advance(recurrence_id, occurrence):
        return None  # another worker released it meanwhile
    if occurrence < now - MISSED_AFTER:
        log.warning("recurrence %d: occurrence %s released too late (%s); skipped", recurrence_id,
                    occurrence.isoformat(), now.isoformat())
        return None
    return _create_order(recurrence_id, occurrence)


def _advance(recurrence_id: int, occurrence: datetime) -> bool:
    recurrence = db.session.get(RecurringOrder, recurrence_id)
    following = rules.next_occurrence(rule_of(recurrence), occurrence, recurrence.ends_on)
    release_at = None if following is None else following - timedelta(minutes=recurrence.lead_minutes)
    moved = db.session.execute(
        sa.update(RecurringOrder)
        .where(RecurringOrder.id == recurrence_id, RecurringOrder.status == "active",
               RecurringOrder.next_occurrence_at == occurrence)
        .values(next_occurrence_at=following, next_release_at=release_at, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount == 1
    db.session.refresh(recurrence)
    if moved and following is None:
        end(recurrence, actor=SYSTEM, reason="no further occurrences")
    return moved


def _create_order(recurrence_id: int, occurrence: datetime) -> int | None:
    recurrence = db.session.get(RecurringOrder, recurrence_id)
    now = utcnow()
    order_id = db.session.scalar(
        dialect_insert(Order).values(
            household_id=recurrence.household_id, resident_id=recurrence.resident_id,
            service_type_id=recurrence.service_type_id, status="created", source="schedule",
            scheduled_for=occurrence, notes=recurrence.notes, recurrence_id=recurrence.id,
            created_by_id=recurrence.created_by_id, created_at=now, updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["recurrence_id", "scheduled_for"])
        .returning(Order.id)
    )
    if order_id is None:
        log.info("recurrence %d: occurrence %s was already released", recurrence_id, occurrence.isoformat())
        return None
    ORDER.record_new(order_id, "created", actor=SYSTEM,
                     reason=f"recurrence {recurrence_id}, occurrence {occurrence.isoformat()}")
    db.session.flush()
    on_order_released(db.session.get(Order, order_id))
    return order_id


def on_order_released(order: Order) -> None:
    """Hand-off point to dispatch (matching and offers, dispatch/matching.py, built separately).

    Called inside the releasing transaction, right after the order (status `created`, source `schedule`)
    and its birth event are flushed. Whatever dispatch starts from here must be enqueued with
    `core.db.on_commit`, so that a rolled-back release starts nothing (dispatch publishes its events and arms
    its timers that way)."""
    from eldercare.dispatch import orders  # orders → offers → matching; recurring is imported by the API first

    log.info("order %d released from recurrence %d for %s", order.id, order.recurrence_id,
             order.scheduled_for.isoformat())
    orders.start_dispatch(order, actor=SYSTEM)
