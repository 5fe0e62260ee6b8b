"""Release at lead time exactly once when workers race: real threads, each with its own connection and
transaction on PostgreSQL, over committed recurrences (deleted again afterwards)."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from eldercare.alerts.models import Notification
from eldercare.catalog.models import ServiceType
from eldercare.core.models import StateEvent, Timer
from eldercare.dispatch import recurring
from eldercare.dispatch.models import Offer, Order, RecurringOrder
from eldercare.extensions import db

THREADS = 4
RECURRENCES = 5
NOW = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # 10:00 local on a Monday: the 11:30 meal is due


@pytest.fixture
def committed_recurrences(app):
    with app.app_context():
        service_type_id = db.session.scalar(sa.select(ServiceType.id).where(ServiceType.active.is_(True))
                                            .order_by(ServiceType.id))
        ids = []
        for household_id in range(1, RECURRENCES + 1):
            spec = recurring.RecurrenceSpec(
                household_id=household_id, service_type_id=service_type_id,
                rrule="FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR;BYHOUR=11;BYMINUTE=30", starts_on=date(2026, 12, 7),
                ends_on=None, lead_minutes=120)
            ids.append(recurring.create(spec, actor="test:concurrency", now=datetime(2026, 12, 1, tzinfo=UTC)).id)
        db.session.commit()
        db.session.remove()
    yield ids
    with app.app_context():
        order_ids = sa.select(Order.id).where(Order.recurrence_id.in_(ids))
        # Released orders went to dispatch: their offers, timers and messages go too.
        offer_ids = sa.select(Offer.id).where(Offer.order_id.in_(order_ids))
        db.session.execute(sa.delete(StateEvent).where(StateEvent.entity_type == "offer",
                                                       StateEvent.entity_id.in_(offer_ids)))
        db.session.execute(sa.delete(Timer).where(sa.or_(
            sa.and_(Timer.kind.like("offer.%"), Timer.ref_id.in_(offer_ids)),
            sa.and_(Timer.kind.like("order.%"), Timer.ref_id.in_(order_ids)))))
        db.session.execute(sa.delete(Notification).where(Notification.purpose_type == "offer",
                                                         Notification.purpose_id.in_(offer_ids)))
        db.session.execute(sa.delete(Offer).where(Offer.order_id.in_(order_ids)))
        db.session.execute(sa.delete(StateEvent).where(StateEvent.entity_type == "order",
                                                       StateEvent.entity_id.in_(order_ids)))
        db.session.execute(sa.delete(StateEvent).where(StateEvent.entity_type == "recurrence",
                                                       StateEvent.entity_id.in_(ids)))
        db.session.execute(sa.delete(Order).where(Order.recurrence_id.in_(ids)))
        db.session.execute(sa.delete(RecurringOrder).where(RecurringOrder.id.in_(ids)))
        db.session.commit()
        db.session.remove()


def _race(app, work) -> list:
    """Run `work()` in THREADS threads released together, each in its own app context and transaction."""
    barrier, results, errors = threading.Barrier(THREADS), [], []

    def worker() -> None:
        with app.app_context():
            try:
                barrier.wait(timeout=10)
                results.append(work())
                db.session.commit()
            except Exception as exc:  # noqa: BLE001 - reported to the test below, with its type
                errors.append(exc)
                db.session.rollback()
            finally:
                db.session.remove()

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    return results


def _orders(app, ids) -> list[tuple[int, datetime]]:
    with app.app_context():
        rows = db.session.execute(sa.select(Order.recurrence_id, Order.scheduled_for)
                                  .where(Order.recurrence_id.in_(ids))).all()
        db.session.remove()
    return [tuple(row) for row in rows]


def test_racing_releases_of_one_recurrence_create_one_order(app, committed_recurrences):
    target = committed_recurrences[0]
    results = _race(app, lambda: recurring.release(target, now=NOW))
    assert sum(result is not None for result in results) == 1
    assert _orders(app, committed_recurrences) == [(target, datetime(2026, 12, 7, 3, 30, tzinfo=UTC))]


def test_racing_sweeps_release_every_due_occurrence_once(app, committed_recurrences):
    results = _race(app, lambda: recurring.release_due(now=NOW))
    assert sum(len(released) for released in results) == RECURRENCES
    orders = _orders(app, committed_recurrences)
    assert sorted(rid for rid, _ in orders) == sorted(committed_recurrences)
    # And again, later the same morning: nothing more is due until Tuesday's release.
    assert _race(app, lambda: recurring.release_due(now=NOW.replace(hour=3))) == [[]] * THREADS
    assert len(_orders(app, committed_recurrences)) == RECURRENCES
