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
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from flask import Flask
from sqlalchemy.orm import Session

from eldercare.core.message_queue import publishing_together
from eldercare.core.sql import pipelined
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
class RateLimit:
    """At most `events` per `seconds` from one device (a fixed window opened by its first event)."""

    events: int
    seconds: int


@dataclass(frozen=True, slots=True)
class Inbound:
    """One normalised device event, whatever protocol carried it.

    `token_secret` and `rate_limit` are for callers that leave those checks to the batch (the HTTP path):
    the event is stored only if the secret matches the device's token hash and the device is within its
    limit; otherwise its outcome says why it was refused and nothing is written.
    """

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
    token_secret: str | None = field(default=None, repr=False)
    rate_limit: RateLimit | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    event_id: int | None
    duplicate: bool
    incident_id: int | None
    refused: str | None = None  # "unauthenticated" or "rate_limited": nothing was stored


class DeviceDirectory:
    """Device lookups by (protocol, uid), cached for `ttl` seconds: the hot path must not query per frame.

    A retired or rebound device is seen by every receiver within `ttl`; `forget` drops an entry at once
    in this process (the registry calls it).
    """

    def __init__(self, app: Flask, ttl: float = 30.0) -> None:
        self.app, self.ttl = app, ttl
        self._cache: dict[tuple[str, str], tuple[float, DeviceInfo | None]] = {}
        self._token_keys: dict[int, set[tuple[str, str]]] = {}
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
                self._token_keys.clear()
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
            self._token_keys.setdefault(device_id, set()).add(key)
        return info

    def forget(self, protocol: str, uid: str, device_id: int | None = None) -> None:
        """Drop what this process cached about a device (its lookup and, given its id, its tokens)."""
        with self._lock:
            self._cache.pop((protocol, uid), None)
            for key in self._token_keys.pop(device_id, ()):
                self._cache.pop(key, None)

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


Result = Outcome | BaseException  # per event: its outcome, or why it could not be stored


class RetryBatch(Exception):
    """A batch met a race it settles by running again (its events one by one), e.g. an event another
    process stored first: the second run sees it as a repeat."""


class IntakeBatcher:
    """Group commit on threads of its own.

    Callers hand over lists of events (`submit_many`; `submit` for one) and get a Future of the per-event
    results, resolved once the batch holding them is committed. The thread joins whatever arrived within
    `max_wait_s` (up to `max_batch` events) into one transaction. If a batch fails as a whole, its events
    are retried one by one, so one bad event cannot take its neighbours down; nothing that happens here
    stops the thread.

    `committers` threads (default one) may take turns: while one waits on the database for its batch, the
    next batch is gathered and written by another. Concurrent batches are safe: they already run side by
    side in several processes, and write shared rows in a fixed order (by key). On the 2-core benchmark
    machine a second committer made no measurable difference (docs/BENCHMARKS.md), so it is off.
    """

    def __init__(self, app: Flask, process: Callable[[list[Inbound]], list[Outcome]], *,
                 max_batch: int = 1000, max_wait_s: float = 0.002, committers: int = 1) -> None:
        self.app, self.process = app, process
        self.max_batch, self.max_wait_s, self.committers = max_batch, max_wait_s, committers
        self._queue: queue.SimpleQueue[tuple[list[Inbound], Future] | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._start_lock = threading.Lock()
        self._local = threading.local()  # each committer thread's database connection
        self.backend_pids: set[int] = set()

    def submit_many(self, items: list[Inbound]) -> Future:
        self._ensure_started()
        future: Future = Future()
        self._queue.put((items, future))
        return future

    def submit(self, inbound: Inbound) -> Future:
        single: Future = Future()

        def unpack(many: Future) -> None:
            result = many.result()[0]
            if isinstance(result, BaseException):
                single.set_exception(result)
            else:
                single.set_result(result)

        self.submit_many([inbound]).add_done_callback(unpack)
        return single

    def stop(self) -> None:
        threads, self._threads = self._threads, []
        for _ in threads:
            self._queue.put(None)  # one each
        for thread in threads:
            thread.join(10)

    def _ensure_started(self) -> None:
        if not self._threads:
            with self._start_lock:
                if not self._threads:
                    threads = [threading.Thread(target=self._run, name=f"intake-batcher-{n}", daemon=True)
                               for n in range(self.committers)]
                    for thread in threads:
                        thread.start()
                    self._threads = threads

    def _run(self) -> None:
        try:
            self._serve()
        finally:
            self._drop_connection()

    def _serve(self) -> None:
        while True:
            entries = self._gather()
            if entries is None:
                return
            try:
                results = self._commit([item for items, _ in entries for item in items])
            except Exception as exc:
                log.exception("intake batch failed")
                results = [exc] * sum(len(items) for items, _ in entries)
            offset = 0
            for items, future in entries:
                if not future.done():  # a caller that gave up (cancelled) is simply not answered
                    future.set_result(results[offset:offset + len(items)])
                offset += len(items)

    def _gather(self) -> list[tuple[list[Inbound], Future]] | None:
        first = self._queue.get()
        if first is None:
            return None
        entries, count = [first], len(first[0])
        deadline = time.monotonic() + self.max_wait_s
        while count < self.max_batch:
            remaining = deadline - time.monotonic()
            try:
                entry = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if entry is None:
                self._queue.put(None)  # finish this batch, then stop
                break
            entries.append(entry)
            count += len(entry[0])
        return entries

    def _commit(self, items: list[Inbound]) -> list[Result]:
        try:
            return list(self._in_transaction(items))
        except Exception as exc:
            # A lone event is retried only after an operational failure (the kept connection had died in a
            # database restart, say) or a race (RetryBatch): then it goes through; anything else would fail
            # again.
            if len(items) == 1 and not isinstance(exc, sa.exc.OperationalError | RetryBatch):
                raise
            log.exception("intake batch of %d failed; retrying its events one by one", len(items))
        results: list[Result] = []
        for item in items:
            try:
                results.append(self._in_transaction([item])[0])
            except Exception as exc:
                log.exception("intake of %s:%s failed", item.protocol, item.idempotency_key)
                results.append(exc)
        return results

    def _in_transaction(self, items: list[Inbound]) -> list[Outcome]:
        with self.app.app_context():
            # The services use `db.session`; here it is a session on this thread's own connection.
            connection = self._connection()
            if connection is not None:
                db.session.registry.set(Session(bind=connection))
            try:
                # The batch's writes that nobody reads don't wait for the server (core.sql.queued).
                with pipelined(db.session.connection()):
                    outcomes = self.process(items)
                    with publishing_together():  # the batch's events, announced after the commit, in one go
                        db.session.commit()
                return outcomes
            except BaseException:
                try:
                    db.session.rollback()
                except Exception:  # the connection is gone: nothing to roll back
                    log.warning("rollback of a failed intake batch failed", exc_info=True)
                self._drop_connection()  # it may be the connection that failed: the next attempt gets another
                raise
            finally:
                db.session.remove()

    def _connection(self) -> sa.Connection | None:
        """This committer thread's connection, kept from batch to batch.

        A pooled connection is pinged at every checkout (`pool_pre_ping`): one more round trip per batch, on
        the thread whose round trips cap the intake. Kept, it is checked once; if it has died (database
        restart), the batch fails, the connection is dropped, and the batch's events are retried one by one
        on a fresh, pinged one (`_commit`): nothing acknowledged depends on it.
        """
        bind = db.engine
        if isinstance(bind, sa.Connection):
            return None  # the tests run everything on one connection (tests/conftest.py): the session's
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = bind.connect()
            if bind.dialect.name == "postgresql":  # which server process is ours (diagnostics, tests)
                self.backend_pids.add(connection.connection.driver_connection.info.backend_pid)
        return connection

    def _drop_connection(self) -> None:
        connection, self._local.connection = getattr(self._local, "connection", None), None
        if connection is not None:
            try:
                connection.invalidate()  # never back to the pool: its state is unknown
            except Exception:
                log.exception("closing an intake connection failed")


class _LoopGather:
    """Events stored from one asyncio loop during one turn of it travel to the commit thread together:
    one cross-thread hop per batch instead of one per event (the receivers' hot path)."""

    def __init__(self, batcher: IntakeBatcher, loop: asyncio.AbstractEventLoop) -> None:
        self.batcher, self.loop = batcher, loop
        self.pending: list[tuple[Inbound, asyncio.Future]] = []

    def store(self, inbound: Inbound) -> asyncio.Future:
        future = self.loop.create_future()
        if not self.pending:
            self.loop.call_soon(self._flush)
        self.pending.append((inbound, future))
        return future

    def _flush(self) -> None:
        pending, self.pending = self.pending, []
        done = asyncio.wrap_future(self.batcher.submit_many([inbound for inbound, _ in pending]), loop=self.loop)
        done.add_done_callback(lambda finished: self._resolve(pending, finished))

    @staticmethod
    def _resolve(pending: list[tuple[Inbound, asyncio.Future]], finished: asyncio.Future) -> None:
        results = finished.result()
        for (_, future), result in zip(pending, results, strict=True):
            if future.done():
                continue  # the receiver stopped waiting (connection closed, shutdown)
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)


class Intake:
    """What receivers are given: a cached device lookup and a durable, batched store."""

    def __init__(self, app: Flask, *, max_batch: int = 1000, max_wait_s: float = 0.002) -> None:
        from eldercare.devices.intake_link import IntakeLink
        from eldercare.devices.services import ingest_batch

        self.directory = DeviceDirectory(app)
        self.batcher = IntakeBatcher(app, ingest_batch, max_batch=max_batch, max_wait_s=max_wait_s)
        self._gathers: dict[asyncio.AbstractEventLoop, _LoopGather] = {}
        path = app.config.get("ELDERCARE_INTAKE_SOCKET")
        self.link = IntakeLink(path) if path else None  # the receivers process commits for us (intake_link.py)

    def lookup(self, protocol: str, uid: str) -> DeviceInfo | None:
        return self.directory.lookup(protocol, uid)

    def authenticate(self, token: str) -> DeviceInfo | None:
        return self.directory.authenticate(token)

    def store_sync(self, inbound: Inbound, timeout: float = 30.0) -> Outcome:
        """From a request thread (HTTP, SMS webhook): blocks until the event is committed, by the receivers
        process where there is one (`ELDERCARE_INTAKE_SOCKET`), else (or if it cannot) by this one."""
        if self.link is not None:
            outcome = self.link.store(inbound)
            if outcome is not None:
                return outcome
            # Logged by the link. If the event did commit there, the idempotency key makes this a repeat.
        return self.batcher.submit(inbound).result(timeout)

    def store(self, inbound: Inbound) -> asyncio.Future:
        """From an asyncio receiver: awaitable, resolved once the event is committed."""
        loop = asyncio.get_running_loop()
        gather = self._gathers.get(loop)
        if gather is None:
            gather = self._gathers[loop] = _LoopGather(self.batcher, loop)
        return gather.store(inbound)

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
