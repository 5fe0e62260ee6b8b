"""TCP receiver for the GPS-watch protocol (frames, meaning, bit table, keys: `eldercare.devices.watch`).

Per connection: bytes are cut into frames; each frame's watch is looked up, its events are handed to the
intake, and only once every one of them is durably committed is the reply (``LK`` / ``AL``) written. A
watch that gets no reply sends again; the store dedupes by idempotency key, so an alarm is acknowledged
again and processed once. Frames of one connection are stored concurrently (a batching store commits
them together) and answered as each one's store resolves — in order with a FIFO store.

Connection policy (every limit in `WatchLimits`):

- a frame, a pending partial frame or the junk since the last frame over ``max_frame`` bytes: the
  connection is cut (a watch frame is well under 1 KiB; voice ``TK`` is not taken here);
- nothing received for ``idle_timeout`` seconds: closed (watches send ``LK`` every 5–8 minutes when idle
  and reconnect on their own); a begun frame not complete within ``frame_timeout`` seconds: closed (a frame
  trickled byte by byte must not hold a connection for ever);
- a malformed frame or one with a wrong length: logged, not answered, reading goes on; ``max_bad`` of them
  in a row close the connection;
- a frame from an unknown or retired watch: a warning, no reply (nothing was stored); ``max_unknown`` of
  them in a row close the connection;
- the store failing, or resolving later than ``store_timeout`` seconds: no reply (the watch resends). A
  store is never cancelled: it may be committing, and the resend then finds the duplicate;
- more than ``max_in_flight`` frames of one connection waiting for the store: reading pauses until half
  are done; replies left unread beyond 64 KiB: closed; beyond ``max_connections``: a new one is closed.
- nothing raises out of the receiver: a failure inside one connection is logged with its traceback and
  that connection closed.

An `asyncio.Protocol`, not streams (`receivers.base` is stream-based): one task per stored frame and one
timer per connection (re-armed lazily at the latest deadline) instead of a reader wake-up, a waiter and
a timeout per frame — it halves the receiver's CPU per heartbeat (`bench/watch_bench.py`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
from typing import Protocol

from eldercare.core.time import utcnow
from eldercare.devices.intake import DeviceInfo, Inbound, Outcome
from eldercare.devices.watch import MAX_FRAME, FrameSplitter, WatchMessage, WatchProtocolError, decode, parse_frame

log = logging.getLogger(__name__)

PROTOCOL = "watch"
MAX_UNREAD_REPLIES = 65536  # bytes of replies a peer leaves unread before it is cut off


class WatchIntake(Protocol):
    def lookup(self, protocol: str, uid: str) -> DeviceInfo | None: ...

    async def store(self, inbound: Inbound) -> Outcome: ...


@dataclass(frozen=True, slots=True)
class WatchLimits:
    idle_timeout: float = 300.0
    frame_timeout: float = 30.0
    max_frame: int = MAX_FRAME
    store_timeout: float = 30.0
    max_bad: int = 16
    max_unknown: int = 3
    max_in_flight: int = 64
    max_connections: int = 50_000  # a watch keeps its connection open: one per watch


class WatchServer:
    """The receiver: `start` listens, `stop` closes the listener and every open connection."""

    def __init__(self, intake: WatchIntake, limits: WatchLimits | None = None, *,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.intake = intake
        self.limits = limits or WatchLimits()
        self.clock = clock
        self.server: asyncio.Server | None = None
        self.connections: set[WatchConnection] = set()
        self.stores: set[asyncio.Future] = set()

    async def start(self, host: str, port: int) -> asyncio.Server:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(lambda: WatchConnection(self), host, port)
        log.info("watch receiver listening on %s:%s", host, port)
        return self.server

    async def stop(self, grace: float = 2.0) -> None:
        """Close everything; stores in flight get `grace` seconds to settle (they are never cancelled)."""
        if self.server is not None:
            self.server.close()
        for conn in list(self.connections):
            conn.close(at_once=True)
        if self.stores:
            await asyncio.wait(set(self.stores), timeout=grace)
        if self.server is not None:
            await self.server.wait_closed()


class WatchConnection(asyncio.Protocol):
    def __init__(self, server: WatchServer) -> None:
        self.server, self.limits = server, server.limits
        self.loop = asyncio.get_running_loop()
        self.splitter = FrameSplitter(self.limits.max_frame)
        self.transport: asyncio.Transport | None = None
        self.peer = "?"
        self.bad = self.unknown = self.in_flight = 0
        self.read_since = self.partial_since = 0.0  # partial_since: a begun frame (0: none)
        self.paused, self.paused_since = False, 0.0
        self.draining = False  # closing once what is in flight is answered
        self.replies: list[bytes] = []
        self.watchdog: asyncio.TimerHandle | None = None

    # --- transport events ----------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) and len(peer) >= 2 else str(peer)
        if len(self.server.connections) >= self.limits.max_connections:
            log.warning("watch receiver: %d connections open, refusing %s", len(self.server.connections),
                        self.peer)
            transport.abort()
            return
        self.server.connections.add(self)
        self.read_since = self.loop.time()
        self.watchdog = self.loop.call_at(self._deadline(), self._watch)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.connections.discard(self)
        if self.watchdog is not None:
            self.watchdog.cancel()

    def data_received(self, data: bytes) -> None:
        try:
            self._received(data)
        except Exception:
            log.exception("watch connection %s failed; closing it", self.peer)
            self.close()

    def close(self, reason: str = "", *, at_once: bool = False) -> None:
        """Close — once the frames already read are answered, unless `at_once`."""
        if reason:
            log.info("watch connection %s %s; closing it", self.peer, reason)
        if self.transport is None or self.transport.is_closing():
            return
        if self.in_flight and not at_once:
            self.draining = True
            self.transport.pause_reading()
        else:
            self.transport.close()

    # --- frames --------------------------------------------------------------------------------------

    def _received(self, data: bytes) -> None:
        if self.draining:
            return
        now = self.loop.time()
        self.read_since = now
        received_at = self.server.clock()
        frames = self.splitter.feed(data)
        for raw in frames:
            if not self._on_frame(raw, received_at):
                self.close()
                return
        if self.splitter.overflow:
            log.warning("watch connection %s: frame or junk over %d bytes; closing it", self.peer,
                        self.limits.max_frame)
            self.close()
        elif not self.splitter.pending:
            self.partial_since = 0.0
        elif frames or not self.partial_since:  # the incomplete frame began in this chunk
            self.partial_since = now
            self._rearm()

    def _on_frame(self, raw: bytes, received_at: datetime) -> bool:
        """Handle one frame; False when the connection is to be closed."""
        try:
            frame = parse_frame(raw)
            device = self.server.intake.lookup(PROTOCOL, frame.watch_id)
            if device is None:
                self.unknown += 1
                log.warning("watch connection %s: unknown watch id %r (%s frame); not answered", self.peer,
                            frame.watch_id, frame.command or "unrecognised")
                return self.unknown < self.limits.max_unknown
            message = decode(frame, received_at)
        except WatchProtocolError as exc:
            self.bad += 1
            log.info("watch connection %s: bad frame (%s): %r", self.peer, exc, raw[:96])
            return self.bad < self.limits.max_bad
        self.bad = self.unknown = 0
        if message.events:
            self._store(device, message, received_at)
        return True

    def _store(self, device: DeviceInfo, message: WatchMessage, received_at: datetime) -> None:
        intake = self.server.intake
        stores = [intake.store(inbound) for inbound in to_inbound(device, message, received_at)]
        pending = asyncio.ensure_future(stores[0] if len(stores) == 1 else asyncio.gather(*stores))
        self.server.stores.add(pending)
        pending.add_done_callback(partial(self._stored, message, self.loop.time()))
        self.in_flight += 1
        if self.in_flight >= self.limits.max_in_flight and not self.paused:
            self.paused, self.paused_since = True, self.loop.time()
            self._transport().pause_reading()

    def _stored(self, message: WatchMessage, started: float, pending: asyncio.Future) -> None:
        """The store resolved (or failed): answer, unless it failed, took too long or the peer is gone."""
        self.server.stores.discard(pending)
        self.in_flight -= 1
        self._answer(message, started, pending)
        if self.draining and not self.in_flight and not self.replies:
            self._transport().close()
        elif self.paused and self.in_flight <= self.limits.max_in_flight // 2:
            self.paused = False
            self.read_since = self.loop.time()
            self._transport().resume_reading()

    def _answer(self, message: WatchMessage, started: float, pending: asyncio.Future) -> None:
        error = None if pending.cancelled() else pending.exception()
        late = self.loop.time() - started > self.limits.store_timeout
        if error is not None or pending.cancelled() or late:
            why = "took longer than the store timeout" if late and error is None else "failed"
            log.error("watch %s (%s): store %s; %s not answered", message.watch_id, self.peer, why,
                      message.command, exc_info=error)
            return
        if message.reply is None or self._transport().is_closing():
            return
        if not self.replies:  # replies resolved in one loop turn go out in one write
            self.loop.call_soon(self._flush)
        self.replies.append(message.reply)

    def _flush(self) -> None:
        transport = self._transport()
        replies, self.replies = self.replies, []
        if transport.is_closing():
            return
        transport.write(b"".join(replies))
        if transport.get_write_buffer_size() > MAX_UNREAD_REPLIES:
            self.close("does not read its replies", at_once=True)
        elif self.draining and not self.in_flight:
            transport.close()

    def _transport(self) -> asyncio.Transport:
        assert self.transport is not None
        return self.transport

    # --- timeouts ------------------------------------------------------------------------------------

    def _deadline(self) -> float:
        deadline = self.read_since + self.limits.idle_timeout
        if self.partial_since:
            deadline = min(deadline, self.partial_since + self.limits.frame_timeout)
        return deadline

    def _rearm(self) -> None:
        if self.watchdog is not None and self.watchdog.when() > self._deadline():
            self.watchdog.cancel()
            self.watchdog = self.loop.call_at(self._deadline(), self._watch)

    def _watch(self) -> None:
        """The connection's one timer: close it when a deadline has passed, else re-arm at the next one."""
        deadline = self._deadline()
        now = self.loop.time()
        if now < deadline:
            self.watchdog = self.loop.call_at(deadline, self._watch)
        elif self.paused and now - self.paused_since < self.limits.store_timeout:
            # not reading because the store is behind: not the peer's silence
            self.watchdog = self.loop.call_at(self.paused_since + self.limits.store_timeout, self._watch)
        elif self.paused:
            self.close(f"store stalled for {self.limits.store_timeout:g} s", at_once=True)
        elif self.read_since + self.limits.idle_timeout <= now:
            self.close(f"idle for {self.limits.idle_timeout:g} s", at_once=True)
        else:
            self.close(f"frame not complete within {self.limits.frame_timeout:g} s", at_once=True)


def to_inbound(device: DeviceInfo, message: WatchMessage, received_at: datetime) -> list[Inbound]:
    location = message.location
    return [
        Inbound(device_id=device.id, protocol=PROTOCOL, idempotency_key=event.idempotency_key, type=event.type,
                received_at=received_at, occurred_at=message.device_time, code=event.code,
                lat=location.lat if location else None, lng=location.lng if location else None,
                battery_pct=message.battery_pct, detail=event.detail, raw=message.raw)
        for event in message.events
    ]


async def serve_watch(intake: WatchIntake, host: str, port: int, *, idle_timeout: float = 300.0,
                      limits: WatchLimits | None = None) -> asyncio.Server:
    """Start a watch receiver; `WatchServer.stop` also closes open connections, `Server.close` does not."""
    limits = replace(limits or WatchLimits(), idle_timeout=idle_timeout)
    return await WatchServer(intake, limits).start(host, port)
