"""The embedded task worker: a real Celery worker and beat running as threads of the web process.

Same semantics as Celery on Redis (countdowns, ETAs, retries, acks_late), with kombu's SQLAlchemy
transport on a SQLite file under instance/ as the broker, so queued tasks survive a restart. Because the
worker lives in the web process, its Socket.IO emits reach the browsers directly (no message queue).
"""

from __future__ import annotations

import logging
import threading

from celery import Celery
from celery.beat import EmbeddedService

from eldercare.core.tasks import QUEUES

log = logging.getLogger(__name__)


class EmbeddedWorker:
    def __init__(self, celery: Celery, concurrency: int = 4, beat: bool = True) -> None:
        self.celery = celery
        self.concurrency = concurrency
        self.with_beat = beat
        self.controller = None
        self.thread: threading.Thread | None = None
        self.beat_service = None
        self.ready = threading.Event()

    def start(self, timeout: float = 30) -> None:
        self.controller = self.celery.WorkController(
            app=self.celery, concurrency=self.concurrency, pool_cls="threads", hostname="embedded@eldercare",
            queues=list(QUEUES), without_heartbeat=True, without_mingle=True, without_gossip=True,
            loglevel="INFO", ready_callback=self._on_ready,
        )
        self.thread = threading.Thread(target=self.controller.start, name="celery-worker", daemon=True)
        self.thread.start()
        # A worker that cannot start would leave the platform taking alarms that nobody processes.
        if not self.ready.wait(timeout):
            self.stop()
            raise RuntimeError(f"embedded Celery worker not ready after {timeout:.0f}s (see the log above)")
        if self.with_beat:
            self.beat_service = EmbeddedService(self.celery, thread=True)
            self.beat_service.start()
        log.info("embedded worker started (queues %s)", ", ".join(QUEUES))

    def _on_ready(self, consumer: object) -> None:
        self.ready.set()

    def stop(self) -> None:
        if self.beat_service is not None:
            self.beat_service.stop()
        if self.controller is not None:
            self.controller.stop(in_sighandler=False)
        if self.thread is not None:
            self.thread.join(10)
