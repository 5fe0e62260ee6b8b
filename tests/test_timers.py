"""Timers as rows (eldercare.core.timers): arm, move, disarm, fire exactly once, sweep what is due."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa

from eldercare.core import timers
from eldercare.core.db import on_commit
from eldercare.core.models import Timer
from eldercare.core.time import utcnow
from eldercare.extensions import db

FIRED: list[tuple[str, int]] = []
ANNOUNCED: list[int] = []
_lock = threading.Lock()


@timers.timer_handler("test.ok")
def _ok(ref_id: int) -> None:
    with _lock:
        FIRED.append(("test.ok", ref_id))
    on_commit(db.session, lambda: ANNOUNCED.append(ref_id))


@timers.timer_handler("test.failing")
def _failing(ref_id: int) -> None:
    on_commit(db.session, lambda: ANNOUNCED.append(ref_id))  # must never run: the firing is rolled back
    raise RuntimeError("handler broke")


@timers.timer_handler("test.slow")
def _slow(ref_id: int) -> None:
    with _lock:
        FIRED.append(("test.slow", ref_id))
    time.sleep(0.3)  # holds the claimed row while the other caller tries


@pytest.fixture(autouse=True)
def _reset(app) -> None:
    FIRED.clear()
    ANNOUNCED.clear()
    # Celery's current app is process-wide and every create_app() takes it: other tests build apps too.
    # Tasks sent here (the eager accelerator, the sweep) must reach this app's Celery.
    app.extensions["celery"].set_current()
    app.extensions["celery"].set_default()


def pending(session, timer_id: int) -> Timer:
    session.expire_all()
    return session.get(Timer, timer_id)


def arm_quietly(kind: str, ref_id: int, due_in: timedelta) -> Timer:
    """Arm without committing: the countdown accelerator (an after-commit hook) stays out of these tests."""
    return timers.arm(kind, ref_id, utcnow() + due_in)


def test_fires_once_however_often_fire_is_called(db_session):
    timer = arm_quietly("test.ok", 101, timedelta(seconds=-1))
    assert timers.fire(timer.id) is True
    assert timers.fire(timer.id) is False
    assert FIRED == [("test.ok", 101)]
    row = pending(db_session, timer.id)
    assert row.fired_at is not None and row.attempts == 1


def test_not_before_it_is_due(db_session):
    timer = arm_quietly("test.ok", 102, timedelta(seconds=60))
    assert timers.fire(timer.id) is False
    assert timers.fire(timer.id, now=utcnow() + timedelta(seconds=59)) is False
    assert FIRED == []
    assert pending(db_session, timer.id).fired_at is None
    assert timers.fire(timer.id, now=utcnow() + timedelta(seconds=61)) is True
    assert FIRED == [("test.ok", 102)]


def test_rearming_moves_the_one_timer(db_session):
    first = arm_quietly("test.ok", 103, timedelta(minutes=5))
    moved = arm_quietly("test.ok", 103, timedelta(seconds=-1))
    assert moved.id == first.id
    assert db_session.scalar(sa.select(sa.func.count()).select_from(Timer)
                             .where(Timer.kind == "test.ok", Timer.ref_id == 103)) == 1
    assert timers.fire(first.id) is True

    rearmed = arm_quietly("test.ok", 103, timedelta(minutes=5))  # a fired timer can be set again
    row = pending(db_session, rearmed.id)
    assert rearmed.id == first.id and row.fired_at is None and row.attempts == 0
    assert timers.fire(rearmed.id) is False  # and waits for its new due time


def test_disarm_removes_a_pending_timer_but_keeps_a_fired_one(db_session):
    waiting = arm_quietly("test.ok", 104, timedelta(minutes=5))
    timers.disarm("test.ok", 104)
    assert pending(db_session, waiting.id) is None

    fired = arm_quietly("test.ok", 105, timedelta(seconds=-1))
    timers.fire(fired.id)
    timers.disarm("test.ok", 105)
    assert pending(db_session, fired.id).fired_at is not None  # the record of when it fired stays


def test_failing_handler_leaves_it_pending_and_counts_attempts(db_session, caplog):
    timer = arm_quietly("test.failing", 106, timedelta(seconds=-1))
    assert timers.fire(timer.id) is False
    row = pending(db_session, timer.id)
    assert row.fired_at is None and row.attempts == 1
    assert timers.fire(timer.id) is False
    assert pending(db_session, timer.id).attempts == 2
    assert timer.id in timers.due_timer_ids(utcnow())  # the next sweep retries it
    assert "will be retried" in caplog.text
    db_session.commit()
    assert ANNOUNCED == [], "what a failed handler announced must not leave"


def test_successful_handler_announces_after_the_commit(db_session):
    timer = arm_quietly("test.ok", 107, timedelta(seconds=-1))
    timers.fire(timer.id)  # the handler ran in a savepoint, now released
    assert ANNOUNCED == []
    db_session.commit()
    assert ANNOUNCED == [107]


def test_timer_without_handler_is_marked_fired(db_session, caplog):
    timer = arm_quietly("test.nobody", 108, timedelta(seconds=-1))
    assert timers.fire(timer.id) is True
    assert pending(db_session, timer.id).fired_at is not None
    assert "no handler" in caplog.text


def test_sweep_fires_what_is_due_and_nothing_else(db_session):
    due = [arm_quietly("test.ok", ref, timedelta(seconds=-s)).id for ref, s in ((111, 30), (112, 1))]
    later = arm_quietly("test.ok", 113, timedelta(seconds=30)).id
    fired = arm_quietly("test.ok", 114, timedelta(seconds=-5)).id
    timers.fire(fired)
    FIRED.clear()

    picked = timers.due_timer_ids(utcnow())
    assert set(due) <= set(picked)
    assert later not in picked and fired not in picked
    assert picked.index(due[0]) < picked.index(due[1]), "oldest first"

    result = timers.sweep_timers.apply()  # the real task: own app context, own transaction, commit
    assert result.successful(), result.traceback
    assert sorted(ref for kind, ref in FIRED if kind == "test.ok") == [111, 112]
    assert pending(db_session, later).fired_at is None
    assert all(pending(db_session, timer_id).fired_at is not None for timer_id in due)


def test_arming_on_commit_schedules_the_accelerator_which_respects_due(db_session):
    """Celery is eager here, so the countdown task runs at once on commit: it must not fire early."""
    soon = timers.arm("test.ok", 115, utcnow() + timedelta(minutes=5))
    overdue = timers.arm("test.ok", 116, utcnow() - timedelta(seconds=1))
    db_session.commit()
    assert FIRED == [("test.ok", 116)]
    assert pending(db_session, soon.id).fired_at is None
    assert pending(db_session, overdue.id).fired_at is not None


# --- two connections racing on committed rows -------------------------------------------------------

@pytest.fixture
def committed_timer(app) -> Iterator[int]:
    with app.app_context():
        # A plain row, no countdown task: the race is between the two callers below only.
        timer = Timer(kind="test.slow", ref_id=900, due_at=utcnow() - timedelta(seconds=1))
        db.session.add(timer)
        db.session.commit()
        timer_id = timer.id
    yield timer_id
    with app.app_context():
        db.session.execute(sa.delete(Timer).where(Timer.id == timer_id))
        db.session.commit()


def test_two_connections_firing_the_same_timer_fire_it_once(app, committed_timer):
    start = threading.Barrier(2)
    results: list[bool] = []

    def fire() -> None:
        with app.app_context():
            start.wait(5)
            results.append(timers.fire(committed_timer))
            db.session.commit()

    threads = [threading.Thread(target=fire) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert sorted(results) == [False, True]
    assert FIRED == [("test.slow", 900)]
    with app.app_context():
        row = db.session.get(Timer, committed_timer)
        assert row.fired_at is not None and row.attempts == 1


def wait_for_lock_waiter(timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with db.engine.connect() as conn:
            if conn.scalar(sa.text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                   "AND wait_event_type = 'Lock' AND pid != pg_backend_pid()")):
                return
        time.sleep(0.02)
    raise AssertionError("the second arm never waited for the first")


def test_two_connections_arming_the_same_new_timer_both_succeed(app):
    first_due, second_due = utcnow() + timedelta(minutes=10), utcnow() + timedelta(minutes=20)
    outcome: list[object] = []

    def arm_second() -> None:
        with app.app_context():
            try:
                timers.arm("test.slow", 901, second_due)
                db.session.commit()
                outcome.append("armed")
            except Exception as exc:  # noqa: BLE001 - the outcome is what the test inspects
                db.session.rollback()
                outcome.append(exc)

    try:
        with app.app_context():
            timers.arm("test.slow", 901, first_due)  # inserted, not committed: invisible to the other
            racer = threading.Thread(target=arm_second)
            racer.start()
            wait_for_lock_waiter()
            db.session.commit()
        racer.join(10)

        assert outcome == ["armed"]
        with app.app_context():
            rows = db.session.scalars(sa.select(Timer).where(Timer.kind == "test.slow", Timer.ref_id == 901)).all()
            assert [(row.due_at, row.fired_at) for row in rows] == [(second_due, None)]
    finally:
        with app.app_context():
            db.session.execute(sa.delete(Timer).where(Timer.kind == "test.slow", Timer.ref_id == 901))
            db.session.commit()
