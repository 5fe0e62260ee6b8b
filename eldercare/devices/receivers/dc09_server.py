"""The SIA DC-09 receiver: asyncio, TCP and UDP on one port (`eldercare.devices.dc09` does the protocol).

For each frame (a TCP connection may carry many, answered in order; a UDP datagram carries one):

- cut, garbled, wrong length or CRC → no answer (the panel retries);
- unsupported id or unreadable data → ``DUH``; timestamp outside the window, missing when encrypted, or a
  message that does not decrypt → ``NAK``;
- unknown (or retired) account → ``NAK`` and a warning; a plain message from an account that has a key
  → ``NAK`` and a warning (a key is only worth something if plain messages are refused);
- ``NULL`` without an account → ``ACK`` (link supervision, nothing stored); with an account → a
  ``heartbeat`` for that device;
- otherwise the event goes to ``intake.store`` and the ``ACK`` (encrypted when the message was) is written
  only after the store resolved, i.e. after the event is durably committed. If the store fails there is no
  answer: the panel sends again.

Repeats. The idempotency key is ``<account>:<seq>:R<rcvr>:L<pref>:<when>:<digest>`` (`dc09.idempotency_key`)
and the store keeps one event per (device, key). A panel that resends an unacknowledged message unchanged
produces the same key. One that re-stamps its retries (or sends a message without timestamp) is caught by
`RecentMessages`: a message with the same account, receiver, prefix, sequence number and content
(digest) within `dedupe_window_s` reuses the key of the first copy — so a repeat is acknowledged again and
processed once. The digest keeps apart different messages under one sequence number (panels that restart at
0001 or never advance it), and the time keeps apart the same message sent again later (a second press hours
after the first with a wrapped-around sequence number is a new alarm, never a "duplicate").
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter, OrderedDict
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from eldercare.core.time import utcnow
from eldercare.devices import dc09
from eldercare.devices.intake import Inbound
from eldercare.devices.receivers.base import ConnectionGuard, Limits, peer_name, read_frames

if TYPE_CHECKING:
    from eldercare.devices.intake import DeviceInfo, Outcome

log = logging.getLogger(__name__)

PROTOCOL = "dc09"


class IntakePort(Protocol):
    def lookup(self, protocol: str, uid: str) -> DeviceInfo | None: ...

    async def store(self, inbound: Inbound) -> Outcome: ...


class RecentMessages:
    """The idempotency key each recently seen message was given, so that its repeats get the same key."""

    def __init__(self, window_s: float = 120.0, max_entries: int = 200_000) -> None:
        self.window_s, self.max_entries = window_s, max_entries
        self._seen: OrderedDict[tuple[str | None, ...], tuple[float, str]] = OrderedDict()

    def key_for(self, message: dc09.Message, received_at: datetime) -> str:
        moment = received_at.timestamp()
        seen = self._seen
        while seen and next(iter(seen.values()))[0] < moment:  # oldest first: expire from the front
            seen.popitem(last=False)
        identity = (message.account, message.receiver, message.prefix, message.seq, message.digest)
        hit = seen.get(identity)
        if hit is not None:
            return hit[1]
        while len(seen) >= self.max_entries:
            seen.popitem(last=False)
        key = dc09.idempotency_key(message, received_at)
        seen[identity] = (moment + self.window_s, key)
        return key


class Dc09Receiver:
    """Protocol handling without transport: `answer(frame bytes) -> reply bytes or None`."""

    def __init__(self, intake: IntakePort, *, window: tuple[float, float] = dc09.DEFAULT_WINDOW,
                 dedupe_window_s: float = 120.0, clock: Callable[[], datetime] = utcnow) -> None:
        self.intake, self.window, self.clock = intake, window, clock
        self.recent = RecentMessages(dedupe_window_s)
        self.stats: Counter[str] = Counter()

    async def answer(self, raw: bytes, peer: str = "-") -> bytes | None:
        try:
            return await self._answer(raw, peer)
        except Exception:
            # The receiver must outlive any input and any failure of the store: no answer, the panel retries.
            self.stats["error"] += 1
            log.exception("dc09: frame from %s not handled: %r", peer, raw[:200])
            return None

    async def _answer(self, raw: bytes, peer: str) -> bytes | None:
        now = self.clock()
        frame = dc09.read_frame(raw)
        if isinstance(frame, dc09.Rejection):
            return self._rejected(frame, now, peer)
        device = None
        if frame.encrypted:
            device = self._device(frame.account, frame.kind, peer)
            if device is None:
                return dc09.nak(now)
        message = dc09.decode(frame, device.aes_key if device else None, now=now, window=self.window)
        if isinstance(message, dc09.Rejection):
            return self._rejected(message, now, peer)
        if message.account is None and message.kind == "NULL":
            self.stats["ack"] += 1
            return dc09.ack(message)
        if device is None:
            device = self._device(message.account, message.kind, peer)
            if device is None:
                return dc09.nak(now)
            if device.aes_key is not None:
                self.stats["plain_for_keyed"] += 1
                log.warning("dc09: plain %s from %s for account %s, which has a key: NAK", message.kind, peer,
                            message.account)
                return dc09.nak(now)
        await self.intake.store(self._inbound(message, device, now))
        self.stats["ack"] += 1
        return dc09.ack(message, key=device.aes_key, now=self.clock())

    def _device(self, account: str | None, kind: str, peer: str) -> DeviceInfo | None:
        device = self.intake.lookup(PROTOCOL, account.upper()) if account else None  # hex: registered upper case
        if device is None or device.status != "active":
            self.stats["unknown_account"] += 1
            log.warning("dc09: %s from %s for unknown account %s: NAK", kind, peer, account)
            return None
        return device

    def _rejected(self, rejection: dc09.Rejection, now: datetime, peer: str) -> bytes | None:
        self.stats[rejection.reason] += 1
        level = logging.DEBUG if rejection.reply == "none" else logging.INFO
        log.log(level, "dc09: %s from %s (%s): %s", rejection.reason, peer, rejection.reply, rejection.detail)
        return dc09.answer_for(rejection, now)

    def _inbound(self, message: dc09.Message, device: DeviceInfo, now: datetime) -> Inbound:
        detail = f"{message.kind} [{message.data}]" + "".join(f"[{item}]" for item in message.xdata)
        # A heartbeat keeps no event row, so nothing to dedupe: it stays out of the cache of recent messages
        # (where a flood of polls would push out the alarms it is there for).
        key = (dc09.idempotency_key(message, now) if message.event_type == "heartbeat"
               else self.recent.key_for(message, now))
        return Inbound(
            device_id=device.id, protocol=PROTOCOL, idempotency_key=key,
            type=message.event_type, received_at=now, occurred_at=message.occurred_at,
            qualifier=message.qualifier, zone=message.zone, code=message.code, lat=message.lat, lng=message.lng,
            detail=detail[:500], raw=message.raw,
        )


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, receiver: Dc09Receiver, limits: Limits, max_in_flight: int) -> None:
        self.receiver, self.limits, self.max_in_flight = receiver, limits, max_in_flight
        self.transport: asyncio.DatagramTransport | None = None
        self.tasks: set[asyncio.Task] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(data) > self.limits.max_frame or len(self.tasks) >= self.max_in_flight:
            self.receiver.stats["udp_dropped"] += 1  # unanswered: the panel retries
            return
        task = asyncio.get_running_loop().create_task(self._answer(data, addr))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _answer(self, data: bytes, addr: tuple[str, int]) -> None:
        peer = f"udp:{addr[0]}:{addr[1]}"
        for frame in dc09.split_stream(bytearray(data)) or [data]:
            reply = await self.receiver.answer(frame, peer)
            if reply is not None and self.transport is not None and not self.transport.is_closing():
                self.transport.sendto(reply, addr)

    def error_received(self, exc: Exception) -> None:
        log.debug("dc09: udp error %s", exc)


class Dc09Server:
    """The receiver on TCP and UDP, same host and port. `start`, then `stop`."""

    def __init__(self, intake: IntakePort, *, window: tuple[float, float] = dc09.DEFAULT_WINDOW,
                 limits: Limits | None = None, dedupe_window_s: float = 120.0,
                 clock: Callable[[], datetime] = utcnow, max_udp_in_flight: int = 10_000) -> None:
        self.receiver = Dc09Receiver(intake, window=window, dedupe_window_s=dedupe_window_s, clock=clock)
        self.limits = limits or Limits()
        self.max_udp_in_flight = max_udp_in_flight
        self.guard = ConnectionGuard(self._connection, self.limits, "dc09")
        self.tcp: asyncio.Server | None = None
        self.udp: asyncio.DatagramTransport | None = None
        self._datagrams: _Datagrams | None = None

    @property
    def port(self) -> int:
        assert self.tcp is not None, "not started"
        return self.tcp.sockets[0].getsockname()[1]

    async def start(self, host: str, port: int) -> Dc09Server:
        self.tcp = await asyncio.start_server(self.guard, host, port, reuse_address=True)
        loop = asyncio.get_running_loop()
        try:
            self.udp, self._datagrams = await loop.create_datagram_endpoint(
                lambda: _Datagrams(self.receiver, self.limits, self.max_udp_in_flight), local_addr=(host, self.port))
        except OSError:
            await self.stop()  # all or nothing: no TCP listener left behind
            raise
        log.info("dc09 receiver on %s:%d (TCP and UDP)", host, self.port)
        return self

    async def stop(self) -> None:
        """Stop listening and close every connection. A frame in flight goes unanswered (the panel sends it
        again); nothing acknowledged is lost, since an ACK only ever follows the commit."""
        if self.udp is not None:
            self.udp.close()
        if self._datagrams is not None:
            for task in list(self._datagrams.tasks):
                task.cancel()
        if self.tcp is not None:
            self.tcp.close()
            await self.guard.close_all()
            await self.tcp.wait_closed()
        self.udp = self._datagrams = self.tcp = None

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = peer_name(writer)
        async for frame in read_frames(reader, dc09.split_stream, self.limits):
            reply = await self.receiver.answer(frame, peer)
            if reply is not None:
                writer.write(reply)
                async with asyncio.timeout(self.limits.idle_timeout_s):  # a peer that never reads
                    await writer.drain()


async def serve_dc09(intake: IntakePort, host: str, port: int, *,
                     window: tuple[float, float] = dc09.DEFAULT_WINDOW, limits: Limits | None = None) -> Dc09Server:
    """Start the DC-09 receiver; `await server.stop()` ends it."""
    return await Dc09Server(intake, window=window, limits=limits).start(host, port)
