"""Timers that matter, as rows: armed with a due time, fired by a periodic sweep, brought forward by an
optional countdown task. Firing is a conditional UPDATE, so a timer fires once however many sweeps and
countdowns race for it; a lost broker message or a restarted worker delays it by one sweep at most.

A domain registers what a kind of timer does with `@timer_handler("offer.expire")`; the handler gets the
`ref_id` and runs inside the firing transaction (savepoint): if it raises, the timer stays pending.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

import sqlalchemy as sa
from celery import shared_task

from eldercare.core.db import on_commit
from eldercare.core.models import Timer
from eldercare.core.sql import dialect_insert, insert_rows, queued, rows_parameters
from eldercare.core.time import utcnow
from eldercare.extensions import db

log = logging.getLogger(__name__)

_HANDLERS: dict[str, Callable[[int], None]] = {}
SWEEP_BATCH = 500
# Countdowns are accelerators only; further out than this the sweep alone is plenty (and Redis's
# visibility timeout would redeliver a long countdown several times).
MAX_COUNTDOWN = timedelta(minutes=30)


def timer_handler(kind: str) -> Callable[[Callable[[int], None]], Callable[[int], None]]:
    def register(fn: Callable[[int], None]) -> Callable[[int], None]:
        _HANDLERS[kind] = fn
        return fn

    return register


def arm(kind: str, ref_id: int, due_at: datetime) -> Timer:
    """Set (or move) the one timer of `kind` for `ref_id`; it fires at `due_at` or within a sweep after.

    One upsert, so two transactions arming the same timer at once both succeed (the later one wins)."""
    timer_id = db.session.scalar(
        dialect_insert(Timer).values(kind=kind, ref_id=ref_id, due_at=due_at)
        .on_conflict_do_update(index_elements=["kind", "ref_id"],
                               set_={"due_at": due_at, "fired_at": None, "attempts": 0})
        .returning(Timer.id)
    )
    timer = db.session.get(Timer, timer_id, populate_existing=True)
    if due_at - utcnow() <= MAX_COUNTDOWN:
        on_commit(db.session, lambda: fire_timer.apply_async((timer_id,), eta=due_at))
    return timer


def arm_many(due: dict[tuple[str, int], datetime]) -> None:
    """`arm` for many timers at once ({(kind, ref_id): due_at}): one upsert, and one countdown message.

    The intake opens dozens of incidents per batch, each with its escalation and cascade timers; a
    statement and a broker message per timer made every batch wait on round trips. The message carries
    the timers by kind, each group due at the latest of its due times (those of one batch lie within its
    window, so the earliest fire at most that much later, or at the next sweep as always); the task fires
    the first group and sends itself on to the next group's due time, from the worker.
    """
    if not due:
        return
    # Queued (core.sql): nothing here waits for the upsert, the message names the timers by key.
    db.session.connection().execute(_timers_upsert(db.engine.dialect.name), rows_parameters(
        TIMER_COLUMNS, [{"kind": kind, "ref_id": ref_id, "due_at": due_at, "attempts": 0}
                        for (kind, ref_id), due_at in sorted(due.items())],
    ))
    latest: dict[str, datetime] = {}
    refs: dict[str, list[int]] = {}
    for (kind, ref_id), due_at in sorted(due.items()):
        latest[kind] = max(due_at, latest.get(kind, due_at))
        refs.setdefault(kind, []).append(ref_id)
    horizon = utcnow() + MAX_COUNTDOWN
    chain = [{"eta": latest[kind].isoformat(), "kind": kind, "refs": refs[kind]}
             for kind in sorted(refs, key=latest.__getitem__) if latest[kind] <= horizon]
    if chain:
        on_commit(db.session, lambda: fire_timer.apply_async((chain,), eta=datetime.fromisoformat(chain[0]["eta"])))


TIMER_COLUMNS = ("kind", "ref_id", "due_at", "attempts")


@functools.cache
def _timers_upsert(dialect: str) -> sa.Insert:
    insert = insert_rows(Timer.__table__, TIMER_COLUMNS)
    return queued(insert.on_conflict_do_update(
        index_elements=["kind", "ref_id"], set_={"due_at": insert.excluded.due_at, "fired_at": None, "attempts": 0}))


def disarm(kind: str, ref_id: int) -> None:
    db.session.execute(sa.delete(Timer).where(Timer.kind == kind, Timer.ref_id == ref_id, Timer.fired_at.is_(None)))


def fire(timer_id: int, now: datetime | None = None) -> bool:
    """Fire one due timer if nobody has; returns whether this call fired it."""
    now = now or utcnow()
    try:
        with db.session.begin_nested():
            claimed = db.session.execute(
                sa.update(Timer)
                .where(Timer.id == timer_id, Timer.fired_at.is_(None), Timer.due_at <= now)
                .values(fired_at=now, attempts=Timer.attempts + 1)
                .returning(Timer.kind, Timer.ref_id)
            ).first()
            if claimed is None:
                return False
            handler = _HANDLERS.get(claimed.kind)
            if handler is None:
                log.error("no handler for timer kind %r (timer %d); marked fired", claimed.kind, timer_id)
                return True
            handler(claimed.ref_id)
            return True
    except Exception:
        # The savepoint is rolled back, so the timer is pending again and the next sweep retries it.
        log.exception("timer %d failed; it will be retried by the next sweep", timer_id)
        db.session.execute(sa.update(Timer).where(Timer.id == timer_id).values(attempts=Timer.attempts + 1))
        return False


def due_timer_ids(now: datetime, limit: int = SWEEP_BATCH) -> list[int]:
    query = (sa.select(Timer.id).where(Timer.fired_at.is_(None), Timer.due_at <= now)
             .order_by(Timer.due_at).limit(limit))
    if db.engine.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)  # two sweeping workers split the work
    return list(db.session.scalars(query))


@shared_task(name="core.sweep_timers", declared_queue="alarms", time_limit=60, ignore_result=True)
def sweep_timers() -> int:
    now = utcnow()
    return sum(fire(timer_id, now) for timer_id in due_timer_ids(now))


@shared_task(name="core.fire_timer", declared_queue="alarms", time_limit=30, ignore_result=True)
def fire_timer(timer_id: int | list[dict]) -> bool:
    if isinstance(timer_id, list):  # armed together by `arm_many`: [{"eta", "kind", "refs"}, ...] by due time
        first, rest = timer_id[0], timer_id[1:]
        now = utcnow()
        fired = sum(fire(one, now) for one in _group_ids(first)) > 0
        if rest:
            fire_timer.apply_async((rest,), eta=datetime.fromisoformat(rest[0]["eta"]))
        return fired
    return fire(timer_id)


def _group_ids(group: dict) -> list[int]:
    if "ids" in group:  # a message sent before timers were named by key
        return group["ids"]
    return list(db.session.scalars(sa.select(Timer.id).where(Timer.kind == group["kind"],
                                                             Timer.ref_id.in_(group["refs"]))))
