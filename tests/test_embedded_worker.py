"""The embedded mode (eldercare.core.embedded): a real Celery worker and beat as threads of this process,
kombu's SQLAlchemy transport on a SQLite file as the broker, SQLite as the database. Nothing is eager."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from celery import current_app as current_celery
from celery import shared_task
from celery.result import _set_task_join_will_block

from eldercare.core import audit, timers
from eldercare.core.models import AuditEvent, Timer, User
from eldercare.core.tasks import AppTask, TransientError
from eldercare.core.time import utcnow
from eldercare.extensions import db, socketio

pytestmark = [
    # kombu's SQLAlchemy transport maps its tables with lazy="noload", deprecated by SQLAlchemy 2.1 (not ours).
    pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy is deprecated:DeprecationWarning"),
]

PASSWORD = "embedded-pw"
RUNS: dict[str, list[tuple[float, int]]] = {}
_runs_lock = threading.Lock()


def record(key: str, retries: int = 0) -> None:
    with _runs_lock:
        RUNS.setdefault(key, []).append((time.monotonic(), retries))


def runs(key: str) -> list[tuple[float, int]]:
    with _runs_lock:
        return list(RUNS.get(key, []))


def wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def audit_actions(app, action: str) -> list[dict]:
    with app.app_context():
        return list(db.session.scalars(sa.select(AuditEvent.detail).where(AuditEvent.action == action)
                                       .order_by(AuditEvent.id)))


# --- tasks run by the embedded worker (registered on every app, so on the embedded one too) ----------

@shared_task(name="test.embedded.stamp", base=AppTask)
def stamp(key: str) -> None:
    record(key)


@shared_task(name="test.embedded.flaky", base=AppTask, bind=True, retry_backoff_base_s=0.2)
def flaky(self: AppTask, key: str, failures: int) -> None:
    record(key, self.request.retries)
    audit.record("test.flaky", actor_label="worker", key=key, attempt=self.request.retries + 1)
    if self.request.retries < failures:
        raise TransientError(f"attempt {self.request.retries + 1} of {key} fails")


class GiveUpRecorder(AppTask):
    def on_give_up(self, exc: BaseException, args: tuple, kwargs: dict) -> None:
        audit.record("test.gave_up", actor_label="worker", key=args[0], error=str(exc))


@shared_task(name="test.embedded.hopeless", base=GiveUpRecorder, bind=True, max_retries=2,
             retry_backoff_base_s=0.1)
def hopeless(self: AppTask, key: str) -> None:
    record(key, self.request.retries)
    raise TransientError("still down")


@shared_task(name="test.embedded.broken", base=AppTask)
def broken(key: str) -> None:
    record(key)
    audit.record("test.broken", actor_label="worker", key=key)
    raise ValueError("a bug, not a passing failure")


@timers.timer_handler("test.embedded.beat")
def _beat_timer(ref_id: int) -> None:
    record(f"timer:{ref_id}")
    audit.record("test.timer_fired", actor_label="worker", ref_id=ref_id)


# --- the embedded platform -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    from flask_migrate import upgrade

    from eldercare import create_app
    from eldercare.core.embedded import EmbeddedWorker

    tmp: Path = tmp_path_factory.mktemp("embedded")
    previous_celery, previous_server = current_celery._get_current_object(), socketio.server
    app = create_app({
        "TESTING": True,
        "REDIS_URL": None,
        "ELDERCARE_EMBEDDED": True,
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp / 'eldercare.db'}",
        "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"timeout": 30, "check_same_thread": False}},
        "CELERY_BROKER_URL": f"sqla+sqlite:///{tmp / 'broker.sqlite'}",
        "RATELIMIT_STORAGE_URI": "memory://",
        "ELDERCARE_TIMER_SWEEP_S": 0.5,
        "CELERY": {"beat_schedule_filename": str(tmp / "celerybeat-schedule")},
    })
    celery = app.extensions["celery"]
    assert not celery.conf.task_always_eager
    with app.app_context():
        upgrade()  # the migrations, on SQLite, as `make run` does
        for username, role in (("sup", "supervisor"), ("op", "operator")):
            account = User(username=username, role=role)
            account.set_password(PASSWORD)
            db.session.add(account)
        db.session.commit()
    worker = EmbeddedWorker(celery)
    worker.start()
    try:
        yield app
    finally:
        worker.stop()
        assert not worker.thread.is_alive(), "the worker thread outlived stop()"
        # As celery.contrib.testing.worker does: the worker told this process that joining a result
        # would block, which makes every later eager `.get()` in the test session raise.
        _set_task_join_will_block(False)
        previous_celery.set_current()
        previous_celery.set_default()
        socketio.server = previous_server
        with app.app_context():
            db.engine.dispose()


def task(app, name: str):
    return app.extensions["celery"].tasks[name]


def test_the_worker_serves_every_queue_from_the_sqlite_broker(embedded):
    celery = embedded.extensions["celery"]
    assert celery.conf.broker_url.startswith("sqla+sqlite:///")
    assert {"core.sweep_timers", "core.fire_timer", "alerts.deliver_in_app"} <= set(celery.tasks)


def test_countdown_is_honoured(embedded):
    sent = time.monotonic()
    task(embedded, "test.embedded.stamp").apply_async(("countdown",), countdown=2)
    assert wait_for(lambda: runs("countdown"), timeout=10), "the countdown task never ran"
    [(ran_at, _)] = runs("countdown")
    delay = ran_at - sent
    print(f"\nembedded countdown=2 s ran after {delay:.3f} s")
    assert 2.0 <= delay < 3.0


def test_immediate_task_runs_promptly(embedded):
    sent = time.monotonic()
    task(embedded, "test.embedded.stamp").delay("now")
    assert wait_for(lambda: runs("now"), timeout=5)
    latency = runs("now")[0][0] - sent
    print(f"\nembedded immediate task latency {latency * 1000:.0f} ms")
    assert latency < 1.5


def test_transient_errors_are_retried_with_backoff_then_commit(embedded):
    task(embedded, "test.embedded.flaky").delay("flaky", 2)
    assert wait_for(lambda: len(runs("flaky")) >= 3, timeout=15), runs("flaky")
    attempts = runs("flaky")
    assert [retries for _, retries in attempts] == [0, 1, 2]
    gaps = [later - earlier for (earlier, _), (later, _) in itertools.pairwise(attempts)]
    assert gaps[0] >= 0.2 and gaps[1] >= 0.4, f"backoff not honoured: {gaps}"
    assert wait_for(lambda: audit_actions(embedded, "test.flaky"), timeout=5)
    # The failed attempts' writes were rolled back; the successful one committed.
    assert audit_actions(embedded, "test.flaky") == [{"key": "flaky", "attempt": 3}]


def test_gives_up_after_max_retries_through_its_defined_path(embedded):
    task(embedded, "test.embedded.hopeless").delay("hopeless")
    assert wait_for(lambda: audit_actions(embedded, "test.gave_up"), timeout=15), runs("hopeless")
    assert [retries for _, retries in runs("hopeless")] == [0, 1, 2]
    assert audit_actions(embedded, "test.gave_up") == [{"key": "hopeless", "error": "still down"}]
    time.sleep(0.5)
    assert len(runs("hopeless")) == 3, "retried past max_retries"


def test_other_exceptions_are_not_retried(embedded):
    task(embedded, "test.embedded.broken").delay("broken")
    assert wait_for(lambda: runs("broken"), timeout=5)
    time.sleep(2)  # well past any backoff the retry path would use
    assert len(runs("broken")) == 1
    assert audit_actions(embedded, "test.broken") == [], "the failed task's writes were rolled back"


def test_beat_sweeps_an_armed_timer(embedded):
    with embedded.app_context():
        # A bare row, no countdown task: only beat's periodic `core.sweep_timers` can fire it.
        timer = Timer(kind="test.embedded.beat", ref_id=77, due_at=utcnow() - timedelta(milliseconds=1))
        db.session.add(timer)
        db.session.commit()
        timer_id = timer.id
    armed = time.monotonic()
    assert wait_for(lambda: runs("timer:77"), timeout=10), "beat never swept the timer"
    print(f"\nembedded beat sweep fired the timer after {runs('timer:77')[0][0] - armed:.2f} s")
    time.sleep(1.2)  # two more sweeps
    assert len(runs("timer:77")) == 1
    with embedded.app_context():
        assert db.session.get(Timer, timer_id).fired_at is not None
    assert audit_actions(embedded, "test.timer_fired") == [{"ref_id": 77}]


def test_arm_brings_the_timer_forward_with_a_countdown(embedded):
    with embedded.app_context():
        due = utcnow() + timedelta(seconds=1.5)
        timers.arm("test.embedded.beat", 78, due)
        db.session.commit()
    armed = time.monotonic()
    assert wait_for(lambda: runs("timer:78"), timeout=10)
    late = runs("timer:78")[0][0] - armed
    print(f"\nembedded armed timer (due in 1.5 s) fired after {late:.2f} s")
    assert late >= 1.4  # never early (a sweep or the countdown, whichever is first)


def test_notice_is_emitted_by_the_in_process_worker(embedded):
    """No message queue in embedded mode: the worker thread's emit reaches connected sockets directly."""
    http = embedded.test_client()

    def token(username: str) -> str:
        response = http.post("/api/v1/auth/token", json={"username": username, "password": PASSWORD})
        assert response.status_code == 200, response.get_json()
        return response.get_json()["access_token"]

    ops = socketio.test_client(embedded, namespace="/ops", auth={"token": token("op")})
    try:
        assert ops.is_connected("/ops")
        supervisor = {"Authorization": f"Bearer {token('sup')}"}
        sent = time.monotonic()
        response = http.post("/api/v1/notices", json={"audience": "ops", "text": "embedded notice"},
                             headers=supervisor)
        assert response.status_code == 202, response.get_json()

        def notices() -> list:
            return [e for e in ops.get_received("/ops") if e["name"] == "notice"]

        received: list = []
        assert wait_for(lambda: received.extend(notices()) or received, timeout=5), "notice never arrived"
        print(f"\nembedded notice latency {(time.monotonic() - sent) * 1000:.0f} ms")
        assert received[0]["args"][0]["text"] == "embedded notice"
        assert received[0]["args"][0]["sender"] == "sup"
    finally:
        ops.disconnect(namespace="/ops")
