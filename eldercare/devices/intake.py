"""The intake of device events, shared by every protocol path (HTTP, DC-09, watch, SMS).

A receiver resolves the device (`lookup`, cached), normalises the message into an `Inbound`, and hands it to
`store`, which resolves once the event is durably committed; only then does the receiver acknowledge the
device. Events are committed in batches (group commit): a thread gathers what arrives within a few
milliseconds, writes it in one transaction (events, device state, incidents) and resolves every waiter. One
commit per batch instead of per event is what lets one process take tens of thousands of heartbeats a
second, while an alarm waits at most one batch window.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask import Flask

from eldercare.devices.models import Device
from eldercare.extensions import db

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """What a receiver needs to know about a device (cached)."""

    id: int
    uid: str
    protocol: str
    household_id: int | None
    aes_key: bytes | None
    status: str
    heartbeat_interval_s: int = 300


@dataclass(frozen=True, slots=True)
class Inbound:
    """One normalised device event, whatever protocol carried it."""

    device_id: int
    protocol: str
    idempotency_key: str
    type: str
    received_at: datetime
    occurred_at: datetime | None = None
    qualifier: str | None = None
    zone: str | None = None
    code: str | None = None
    lat: float | None = None
    lng: float | None = None
    accuracy_m: int | None = None
    battery_pct: int | None = None
    detail: str | None = None
    raw: str | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    event_id: int | None
    duplicate: bool
    incident_id: int | None


class DeviceDirectory:
    """Device lookups by (protocol, uid), cached for `ttl` seconds: the hot path must not query per frame.

    A retired or rebound device is seen by every receiver within `ttl`; `forget` drops an entry at once
    in this process (the registry calls it).
    """

    def __init__(self, app: Flask, ttl: float = 30.0) -> None:
        self.app, self.ttl = app, ttl
        self._cache: dict[tuple[str, str], tuple[float, DeviceInfo | None]] = {}
        self._lock = threading.Lock()

    def lookup(self, protocol: str, uid: str) -> DeviceInfo | None:
        key = (protocol, uid)
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        info = self._load(protocol, uid)
        with self._lock:
            if len(self._cache) > 2_000_000:  # a flood of unknown ids must not exhaust memory
                self._cache.clear()
            self._cache[key] = (now + self.ttl, info)
        return info

    def authenticate(self, token: str) -> DeviceInfo | None:
        """The active HTTP device a bearer token belongs to (cached like lookups)."""
        from eldercare.devices import tokens

        parsed = tokens.parse(token)
        if parsed is None:
            return None
        device_id, secret = parsed
        key = ("token", token)
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        info = self._load_by_id(device_id, secret)
        with self._lock:
            self._cache[key] = (now + self.ttl, info)
        return info

    def forget(self, protocol: str, uid: str) -> None:
        with self._lock:
            self._cache.pop((protocol, uid), None)

    _COLUMNS = (Device.id, Device.uid, Device.protocol, Device.household_id, Device.aes_key, Device.status,
                Device.heartbeat_interval_s, Device.token_hash)

    def _load(self, protocol: str, uid: str) -> DeviceInfo | None:
        return self._info(self._row(Device.protocol == protocol, Device.uid == uid))

    def _load_by_id(self, device_id: int, secret: str) -> DeviceInfo | None:
        from eldercare.devices import tokens

        row = self._row(Device.id == device_id, Device.protocol == "http")
        return self._info(row) if row is not None and tokens.matches(secret, row.token_hash) else None

    def _row(self, *where: sa.ColumnElement[bool]) -> sa.Row | None:
        with self.app.app_context():
            try:
                return db.session.execute(sa.select(*self._COLUMNS).where(*where)).first()
            finally:
                db.session.remove()

    @staticmethod
    def _info(row: sa.Row | None) -> DeviceInfo | None:
        if row is None or row.status != "active":
            return None
        key = bytes.fromhex(row.aes_key) if row.aes_key else None
        return DeviceInfo(row.id, row.uid, row.protocol, row.household_id, key, row.status,
                          row.heartbeat_interval_s)


class IntakeBatcher:
    """Group commit: `submit` returns a Future resolved once the event's batch is committed."""

    def __init__(self, app: Flask, process: Callable[[list[Inbound]], list[Outcome]], *,
                 max_batch: int = 1000, max_wait_s: float = 0.002) -> None:
        self.app, self.process = app, process
        self.max_batch, self.max_wait_s = max_batch, max_wait_s
        self._queue: queue.SimpleQueue[tuple[Inbound, Future] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    def submit(self, inbound: Inbound) -> Future:
        self._ensure_started()
        future: Future = Future()
        self._queue.put((inbound, future))
        return future

    def stop(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(10)
            self._thread = None

    def _ensure_started(self) -> None:
        if self._thread is None:
            with self._start_lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="intake-batcher", daemon=True)
                    self._thread.start()

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            deadline = time.monotonic() + self.max_wait_s
            while len(batch) < self.max_batch:
                remaining = deadline - time.monotonic()
                try:
                    item = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)  # finish this batch, then stop
                    break
                batch.append(item)
            self._commit(batch)

    def _commit(self, batch: list[tuple[Inbound, Future]]) -> None:
        try:
            outcomes = self._in_transaction([inbound for inbound, _ in batch])
        except Exception:
            log.exception("intake batch of %d failed; retrying its events one by one", len(batch))
            for inbound, future in batch:
                try:
                    future.set_result(self._in_transaction([inbound])[0])
                except Exception as exc:
                    log.exception("intake of %s:%s failed", inbound.protocol, inbound.idempotency_key)
                    future.set_exception(exc)
            return
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            future.set_result(outcome)

    def _in_transaction(self, items: list[Inbound]) -> list[Outcome]:
        with self.app.app_context():
            try:
                outcomes = self.process(items)
                db.session.commit()
                return outcomes
            except BaseException:
                db.session.rollback()
                raise
            finally:
                db.session.remove()


class Intake:
    """What receivers are given: a cached device lookup and a durable, batched store."""

    def __init__(self, app: Flask, *, max_batch: int = 1000, max_wait_s: float = 0.002) -> None:
        from eldercare.devices.services import ingest_batch

        self.directory = DeviceDirectory(app)
        self.batcher = IntakeBatcher(app, ingest_batch, max_batch=max_batch, max_wait_s=max_wait_s)

    def lookup(self, protocol: str, uid: str) -> DeviceInfo | None:
        return self.directory.lookup(protocol, uid)

    def authenticate(self, token: str) -> DeviceInfo | None:
        return self.directory.authenticate(token)

    def store_sync(self, inbound: Inbound, timeout: float = 30.0) -> Outcome:
        return self.batcher.submit(inbound).result(timeout)

    async def store(self, inbound: Inbound) -> Outcome:
        return await asyncio.wrap_future(self.batcher.submit(inbound))

    def stop(self) -> None:
        self.batcher.stop()


def intake_for(app: Flask) -> Intake:
    """The process's one Intake (created on first use)."""
    app = getattr(app, "_get_current_object", lambda: app)()  # threads need the app, not the proxy
    intake = app.extensions.get("eldercare.intake")
    if intake is None:
        with _INTAKE_LOCK:
            intake = app.extensions.get("eldercare.intake")
            if intake is None:
                intake = app.extensions["eldercare.intake"] = Intake(app)
    return intake


_INTAKE_LOCK = threading.Lock()
