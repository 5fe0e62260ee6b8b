"""The base class of every Celery task, and the Celery app bound to a Flask app.

Contract of a task (STYLE.md): it takes ids, re-loads and re-checks state, is idempotent, runs in an app
context with one transaction (committed on success, rolled back on error), is acknowledged late, and is
retried only for the exceptions it names (`retry_for`), with backoff and a cap, then gives up loudly.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from celery import Celery, Task
from flask import Flask

from eldercare.extensions import db

log = logging.getLogger(__name__)

QUEUES = ("alarms", "dispatch", "notify", "default")


class TransientError(Exception):
    """Raised by task code for a failure worth retrying (a peer briefly down, a lock timeout)."""


class AppTask(Task):
    abstract = True
    acks_late = True
    reject_on_worker_lost = True
    # Subclasses/decorators name what to retry; nothing else is retried.
    retry_for: tuple[type[BaseException], ...] = (TransientError,)
    max_retries = 5
    retry_backoff_base_s = 1.0
    retry_backoff_max_s = 60.0
    # Declared where the task is defined (`@shared_task(..., declared_queue="alarms")`) and applied by
    # `route_declared_queue`: Celery 5.7 deprecates the `queue` task attribute (and drops it in 6.0).
    declared_queue = "default"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        flask_app: Flask = self.app.flask_app
        with flask_app.app_context():
            try:
                result = self.run(*args, **kwargs)
                db.session.commit()
                return result
            except self.retry_for as exc:
                db.session.rollback()
                retries = self.request.retries
                if retries >= self.max_retries:
                    log.error("task %s[%s] gave up after %d retries: %r", self.name, self.request.id,
                              retries, exc)
                    self.on_give_up(exc, args, kwargs)
                    db.session.commit()
                    raise
                delay = min(self.retry_backoff_max_s, self.retry_backoff_base_s * 2**retries)
                log.warning("task %s[%s] retry %d in %.1fs: %r", self.name, self.request.id, retries + 1,
                            delay, exc)
                raise self.retry(exc=exc, countdown=delay) from exc
            except BaseException:
                db.session.rollback()
                raise
            finally:
                db.session.remove()

    def on_give_up(self, exc: BaseException, args: tuple, kwargs: dict) -> None:
        """Hook for a task's defined give-up path (mark a notification failed, alert a supervisor)."""


def route_declared_queue(name: str, args: Any, kwargs: Any, options: dict, task: Task | None = None,
                         **kw: Any) -> dict:
    """Celery router: a task goes to the queue it declares; `apply_async(queue=...)` still wins."""
    return {"queue": getattr(task, "declared_queue", "default")}


def make_celery(app: Flask) -> Celery:
    celery = Celery(app.import_name, task_cls=AppTask, set_as_current=True)
    # `set_as_current` is per thread; shared tasks called from request threads (gunicorn gthread) or pool
    # threads would otherwise resolve to Celery's unconfigured fallback app and publish to amqp://localhost.
    celery.set_default()
    celery.flask_app = app
    celery.conf.update(
        broker_url=app.config["CELERY_BROKER_URL"],
        task_ignore_result=True,
        result_backend=None,
        task_default_queue="default",
        task_queues=None,
        task_routes=(route_declared_queue,),
        task_create_missing_queues=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        accept_content=["json"],
        timezone="UTC",
        enable_utc=True,
        broker_connection_retry_on_startup=True,
        # Redis redelivers unacknowledged tasks after this; countdowns stay far below it and every timer
        # that matters is also a row swept from the database (see eldercare.core.timers). kombu's
        # SQLAlchemy transport hands its options to create_engine, which refuses this one.
        broker_transport_options={} if app.config["ELDERCARE_EMBEDDED"] else {"visibility_timeout": 3600},
        beat_schedule=beat_schedule(app),
        beat_schedule_filename=str(app.instance_path) + "/celerybeat-schedule",
        imports=TASK_MODULES,
    )
    celery.conf.update(app.config.get("CELERY", {}))
    if app.config["ELDERCARE_EMBEDDED"]:
        # kombu's SQLAlchemy transport polls; 0.1 s keeps an embedded alarm task close to Redis's latency.
        from kombu.transport import sqlalchemy as kombu_sqla

        kombu_sqla.Transport.polling_interval = 0.1
    app.extensions["celery"] = celery
    return celery


TASK_MODULES = ("eldercare.core.timers", "eldercare.alerts.tasks", "eldercare.alerts.escalation",
                "eldercare.alerts.claims", "eldercare.alerts.cascade", "eldercare.devices.tasks",
                "eldercare.dispatch.tasks")


def beat_schedule(app: Flask) -> dict:
    sweep = app.config.get("ELDERCARE_TIMER_SWEEP_S", 2.0)
    supervision = app.config.get("ELDERCARE_SUPERVISION_SWEEP_S", 1.0)
    notifications = app.config.get("ELDERCARE_NOTIFY_SWEEP_S", 5.0)
    recurring = app.config.get("ELDERCARE_RECURRING_SWEEP_S", 30.0)
    return {
        "sweep-timers": {"task": "core.sweep_timers", "schedule": timedelta(seconds=sweep),
                         "options": {"queue": "alarms", "expires": sweep * 5}},
        # A missed heartbeat becomes `device.offline` within about a second of its deadline.
        "sweep-supervision": {"task": "devices.sweep_supervision", "schedule": timedelta(seconds=supervision),
                              "options": {"queue": "alarms", "expires": supervision * 5}},
        # Notification retries are driven by countdowns; the sweep catches a lost one or a dead worker.
        "sweep-notifications": {"task": "alerts.sweep_notifications", "schedule": timedelta(seconds=notifications),
                                "options": {"queue": "notify", "expires": notifications * 5}},
        # Lead times are minutes to hours: a standing order is released within this of its lead time.
        "release-recurring": {"task": "dispatch.release_recurring", "schedule": timedelta(seconds=recurring),
                              "options": {"queue": "dispatch", "expires": recurring * 5}},
    }
