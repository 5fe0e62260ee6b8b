"""The DC-09 receiver over real TCP and UDP sockets on 127.0.0.1, with an in-memory intake."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eldercare.devices import dc09
from eldercare.devices.intake import DeviceInfo, Inbound, Outcome
from eldercare.devices.receivers.base import Limits
from eldercare.devices.receivers.dc09_server import Dc09Receiver, Dc09Server, RecentMessages

KEY = b"0123456789ABCDEF0123456789ABCDEF"
PLAIN = DeviceInfo(1, "1234", "dc09", 10, None, "active")
KEYED = DeviceInfo(2, "5678", "dc09", 11, KEY, "active")
RETIRED = DeviceInfo(3, "4321", "dc09", 12, None, "retired")


class FakeIntake:
    """Dedupes by (device, idempotency key) like the real store; `gate` holds every store until set."""

    def __init__(self, delay: float = 0.0) -> None:
        self.devices = {device.uid: device for device in (PLAIN, KEYED, RETIRED)}
        self.delay = delay
        self.gate: asyncio.Event | None = None
        self.calls: list[Inbound] = []
        self.events: dict[tuple[int, str], Inbound] = {}
        self.heartbeats: list[Inbound] = []
        self.resolved_at: list[float] = []
        self.fail = False

    def lookup(self, protocol: str, uid: str) -> DeviceInfo | None:
        return self.devices.get(uid) if protocol == "dc09" else None

    async def store(self, inbound: Inbound) -> Outcome:
        self.calls.append(inbound)
        if self.gate is not None:
            await self.gate.wait()
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail:
            raise RuntimeError("database unavailable")
        if inbound.type == "heartbeat":
            self.heartbeats.append(inbound)
            return Outcome(None, False, None)
        key = (inbound.device_id, inbound.idempotency_key)
        duplicate = key in self.events
        self.events.setdefault(key, inbound)
        self.resolved_at.append(asyncio.get_running_loop().time())
        return Outcome(len(self.events), duplicate, None)


async def start(intake: FakeIntake, **options: object) -> Dc09Server:
    """The server on a free port below 32768 (TCP and UDP both free)."""
    for _ in range(100):
        server = Dc09Server(intake, **options)  # type: ignore[arg-type]
        try:
            return await server.start("127.0.0.1", random.randint(20_000, 32_000))
        except OSError:
            await server.stop()
    raise RuntimeError("no free port")


def run(scenario: Callable[..., Awaitable[None]], **options: object) -> FakeIntake:
    intake = FakeIntake()

    async def main() -> None:
        server = await start(intake, **options)
        try:
            await scenario(server, intake)
        finally:
            await server.stop()

    asyncio.run(main())
    return intake


class Tcp:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, server: Dc09Server) -> Tcp:
        return cls(*await asyncio.open_connection("127.0.0.1", server.port))

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def reply(self, timeout: float = 2.0) -> bytes | None:
        try:
            async with asyncio.timeout(timeout):
                return await self.reader.readuntil(b"\r")
        except TimeoutError:
            return None

    async def ask(self, frame: bytes, timeout: float = 2.0) -> bytes | None:
        await self.send(frame)
        return await self.reply(timeout)

    async def closed_by_server(self, timeout: float = 3.0) -> bool:
        try:
            async with asyncio.timeout(timeout):
                while await self.reader.read(4096):
                    pass
        except ConnectionError:
            return True
        except TimeoutError:
            return False
        return True

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


class Udp(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.replies: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.replies.put_nowait(data)

    @classmethod
    async def ask(cls, server: Dc09Server, frame: bytes, timeout: float = 2.0) -> bytes | None:
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_datagram_endpoint(cls, remote_addr=("127.0.0.1", server.port))
        try:
            transport.sendto(frame)
            async with asyncio.timeout(timeout):
                return await protocol.replies.get()
        except TimeoutError:
            return None
        finally:
            transport.close()


def sos(seq: int = 1, account: str = "1234", **options: object) -> bytes:
    options.setdefault("timestamp", datetime.now(UTC))
    return dc09.build("ADM-CID", seq, f"#{account}|1100 01 015", account=account, receiver="1", **options)  # type: ignore[arg-type]


def ack_for(frame: bytes) -> bytes:
    message = dc09.parse(frame, lambda _account: None, window=(1e6, 1e6))
    assert isinstance(message, dc09.Message)
    return dc09.ack(message)


def is_nak(reply: bytes | None) -> bool:
    return reply is not None and b'"NAK"0000R0L0A0[]_' in reply and dc09.crc16(reply[9:-1]) == int(reply[1:5], 16)


# ------------------------------------------------------------------------------------------- the good path


def test_tcp_ack_only_after_the_store_resolved():
    async def scenario(server: Dc09Server, intake: FakeIntake) -> None:
        intake.gate = asyncio.Event()
        client = await Tcp.open(server)
        frame = sos()
        assert await client.ask(frame, timeout=0.5) is None  # the store has not resolved: no ACK yet
        assert len(intake.calls) == 1 and not intake.events
        intake.gate.set()
        assert await client.reply() == ack_for(frame)
        assert len(intake.events) == 1
        await client.close()
        sent.append(frame)

    sent: list[bytes] = []
    intake = run(scenario)
    inbound = next(iter(intake.events.values()))
    assert (inbound.device_id, inbound.protocol, inbound.type, inbound.code, inbound.zone, inbound.qualifier) == (
        1, "dc09", "sos", "100", "015", "new")
    assert inbound.occurred_at is not None and inbound.raw == sent[0][1:-1].decode()
    assert inbound.detail == "ADM-CID [#1234|1100 01 015]"
    assert inbound.idempotency_key.startswith("1234:0001:R1:L0:")


def test_slow_store_ack_arrives_after_commit_over_tcp_and_udp():
    async def scenario(server: Dc09Server, intake: FakeIntake) -> None:
        intake.delay = 0.2
        loop = asyncio.get_running_loop()
        client = await Tcp.open(server)
        sent = loop.time()
        assert await client.ask(sos(1)) == ack_for(sos(1))
        assert intake.resolved_at[-1] <= loop.time() and intake.resolved_at[-1] - sent >= 0.2
        await client.close()
        frame = sos(2)
        assert await Udp.ask(server, frame) == ack_for(frame)
        assert len(intake.resolved_at) == 2

    assert len(run(scenario).events) == 2


def test_several_frames_in_one_tcp_write_are_answered_in_order():
    async def scenario(server: Dc09Server, intake: FakeIntake) -> None:
        frames = [sos(n) for n in range(1, 6)]
        client = await Tcp.open(server)
        await client.send(b"".join(frames))
        assert [await client.reply() for _ in frames] == [ack_for(frame) for frame in frames]
        await client.close()

    assert len(run(scenario).events) == 5


def test_encrypted_message_gets_an_encrypted_ack():
    async def scenario(server: Dc09Server, intake: FakeIntake) -> None:
        frame = dc09.build("SIA-DCS", 9, "#5678|Nri1/FA3", account="5678", key=KEY)
        for reply in (await (await Tcp.open(server)).ask(frame), await Udp.ask(server, frame)):
            answer = dc09.read_frame(reply or b"")
            assert isinstance(answer, dc09.Rejection) and answer.frame is not None
            assert (answer.frame.kind, answer.frame.encrypted, answer.frame.seq) == ("ACK", True, "0009")
            plain = dc09.decrypt(answer.frame.body, KEY)
            assert plain is not None and plain.startswith("]_")

    intake = run(scenario)
    assert [event.type for event in intake.events.values()] == ["smoke"]  # the UDP copy was a duplicate


def test_null_polls():
    async def scenario(server: Dc09Server, intake: FakeIntake) -> None:
        anonymous = dc09.build("NULL", 0)
        assert await Udp.ask(server, anonymous) == ack_for(anonymous)
        known = dc09.build("NULL", 1, account="1234")
        assert await (await Tcp.open(server)).ask(known) == ack_for(known)
        assert is_nak(await Udp.ask(server, dc09.build("NULL", 2, account="9999")))

    intake = run(scenario)
    assert [(h.device_id, h.type) for h in intake.heartbeats] == [(1, "heartbeat")]
    assert not intake.events


# -------------------------------------------------------------------------------------------- repeats


def test_repeated_sequence_number_is_acknowledged_again_and_processed_once():
    async def scenario(server: Dc09Server, intake: FakeIntake) -> None:
        stamp = datetime.now(UTC)
        frame = sos(7, timestamp=stamp)
        client = await Tcp.open(server)
        assert await client.ask(frame) == ack_for(frame)
        assert await client.ask(frame) == ack_for(frame)
        assert await Udp.ask(server, frame) == ack_for(frame)
        restamped = sos(7, timestamp=stamp + timedelta(seconds=5))  # a retry the panel stamped anew
        assert await client.ask(restamped) == ack_for(restamped)
        other = dc09.build("ADM-CID", 7, "#1234|1406 01 015", account="1234", receiver="1", timestamp=stamp)
        assert await client.ask(other) == ack_for(other)  # same number, other content: a new message
        await client.close()

    intake = run(scenario)
    assert len(intake.calls) == 5
    assert sorted(event.type for event in intake.events.values()) == ["cancel", "sos"]


def test_same_message_long_after_the_dedupe_window_is_a_new_event():
    now = [datetime.now(UTC)]

    async def scenario(server: Dc09Server, intake: FakeIntake) -> None:
        frame = dc09.build("ADM-CID", 1, "#1234|1100 01 015", account="1234")  # no timestamp
        client = await Tcp.open(server)
        assert await client.ask(frame) == ack_for(frame)
        now[0] += timedelta(seconds=60)
        assert await client.ask(frame) == ack_for(frame)  # within the window: the same event
        now[0] += timedelta(seconds=600)
        assert await client.ask(frame) == ack_for(frame)  # a press ten minutes later: a new alarm
        await client.close()

    assert len(run(scenario, clock=lambda: now[0]).events) == 2


def test_recent_messages_expire_and_are_bounded():
    recent = RecentMessages(window_s=120, max_entries=3)
    now = datetime.now(UTC)
    messages = [dc09.parse(sos(n, timestamp=now), window=(1e6, 1e6)) for n in range(1, 6)]
    keys = [recent.key_for(message, now) for message in messages[:3]]
    restamped = dc09.parse(sos(1, timestamp=now + timedelta(seconds=9)), window=(1e6, 1e6))
    assert recent.key_for(restamped, now + timedelta(seconds=10)) == keys[0]
    assert recent.key_for(restamped, now + timedelta(seconds=130)) != keys[0]  # expired: a new message
    for message in messages[3:]:
        recent.key_for(message, now + timedelta(seconds=131))
    assert len(recent._seen) <= 3


def test_heartbeats_stay_out_of_the_recent_messages():
    async def scenario(server: Dc09Server, intake: FakeIntake) -> None:
        for seq in range(1, 20):
            assert await Udp.ask(server, dc09.build("NULL", seq, account="1234")) is not None
        assert len(server.receiver.recent._seen) == 0
        assert await Udp.ask(server, sos(1)) is not None
        assert len(server.receiver.recent._seen) == 1

    assert len(run(scenario).heartbeats) == 19


def test_start_is_all_or_nothing():
    """With the UDP port taken, start fails and leaves no TCP listener behind."""
    async def main() -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
            for _ in range(100):
                try:
                    taken.bind(("127.0.0.1", random.randint(20_000, 32_000)))
                    break
                except OSError:
                    continue
            port = taken.getsockname()[1]
            with pytest.raises(OSError):
                await Dc09Server(FakeIntake()).start("127.0.0.1", port)
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                probe.bind(("127.0.0.1", port))  # free again

    asyncio.run(main())


# --------------------------------------------------------------------------------------------- refusals


def test_bad_crc_gets_no_reply_and_the_link_stays_usable():
    async def scenario(server: Dc09Server, intake: FakeIntake) -> None:
        broken = bytearray(sos())
        broken[-5] ^= 1
        client = await Tcp.open(server)
        assert await client.ask(bytes(broken), timeout=0.5) is None
        assert await Udp.ask(server, bytes(broken), timeout=0.5) is None
        null = dc09.build("NULL", 3)
        assert await client.ask(null) == ack_for(null)
        await client.close()

    intake = run(scenario)
    assert not intake.calls


def test_stale_and_future_timestamps_get_nak():
    async def scenario(server: Dc09Server, intake: FakeIntake) -> None:
        client = await Tcp.open(server)
        now = datetime.now(UTC)
        reply = await client.ask(sos(timestamp=now - timedelta(seconds=45)))
        assert is_nak(reply)
        answered = dc09.parse_timestamp(reply.decode().split("[]")[1][:-1])
        assert answered is not None and abs((answered - now).total_seconds()) < 5  # the receiver's clock
        assert is_nak(await Udp.ask(server, sos(timestamp=now + timedelta(seconds=25))))
        await client.close()

    assert not run(scenario).calls


def test_configured_window():
    async def scenario(server: Dc09Server, intake: FakeIntake) -> None:
        frame = sos(timestamp=datetime.now(UTC) - timedelta(seconds=100))
        assert await Udp.ask(server, frame) == ack_for(frame)

    assert len(run(scenario, window=(120, 20)).events) == 1


def test_unknown_and_retired_accounts_get_nak_and_a_log_line(caplog):
    async def scenario(server: Dc09Server, intake: FakeIntake) -> None:
        client = await Tcp.open(server)
        assert is_nak(await client.ask(sos(account="9999")))
        assert is_nak(await client.ask(sos(account="4321")))
        encrypted_unknown = dc09.build("SIA-DCS", 1, "#ABCD|Nri1/MA1", account="ABCD", key=KEY)
        assert is_nak(await client.ask(encrypted_unknown))
        await client.close()

    with caplog.at_level(logging.WARNING, logger="eldercare.devices.receivers.dc09_server"):
        intake = run(scenario)
    assert not intake.calls
    messages = [record.getMessage() for record in caplog.records]
    assert any("unknown account 9999" in text for text in messages)
    assert any("unknown account 4321" in text for text in messages)


def test_keyed_account_refuses_plain_and_wrongly_keyed_messages(caplog):
    async def scenario(server: Dc09Server, intake: FakeIntake) -> None:
        client = await Tcp.open(server)
        assert is_nak(await client.ask(dc09.build("SIA-DCS", 1, "#5678|Nri1/MA1", account="5678")))
        wrong = dc09.build("SIA-DCS", 2, "#5678|Nri1/MA1", account="5678", key=b"X" * 32)
        assert is_nak(await client.ask(wrong))
        await client.close()

    with caplog.at_level(logging.WARNING):
        assert not run(scenario).calls
    assert any("has a key" in record.getMessage() for record in caplog.records)


def test_unsupported_id_and_unreadable_data_get_duh():
    async def scenario(server: Dc09Server, intake: FakeIntake) -> None:
        client = await Tcp.open(server)
        assert await client.ask(dc09.build("ACR-SF", 4, "#1234|x", account="1234")) == dc09.wrap(
            '"DUH"0004L0#1234[]')
        assert await client.ask(dc09.build("ADM-CID", 5, "#1234|hello", account="1234")) == dc09.wrap(
            '"DUH"0005L0#1234[]')
        await client.close()

    assert not run(scenario).calls


def test_failed_store_gets_no_ack_and_the_receiver_goes_on(caplog):
    async def scenario(server: Dc09Server, intake: FakeIntake) -> None:
        client = await Tcp.open(server)
        intake.fail = True
        assert await client.ask(sos(1), timeout=0.5) is None
        intake.fail = False
        assert await client.ask(sos(1)) == ack_for(sos(1))
        await client.close()

    with caplog.at_level(logging.ERROR):
        assert len(run(scenario).events) == 1
    assert any("not handled" in record.getMessage() for record in caplog.records)


# ------------------------------------------------------------------------------------------- the limits


def test_oversized_frame_closes_the_connection():
    async def scenario(server: Dc09Server, intake: FakeIntake) -> None:
        client = await Tcp.open(server)
        await client.send(b"\n" + b"A" * 2000)
        assert await client.closed_by_server()

    assert not run(scenario).calls


def test_never_ending_input_closes_the_connection():
    async def scenario(server: Dc09Server, intake: FakeIntake) -> None:
        client = await Tcp.open(server)
        try:
            for _ in range(50):
                await client.send(b"x" * 100)
                await asyncio.sleep(0.01)
        except ConnectionError:
            pass
        assert await client.closed_by_server()

    assert not run(scenario).calls


def test_idle_connection_times_out():
    async def scenario(server: Dc09Server, intake: FakeIntake) -> None:
        client = await Tcp.open(server)
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await client.closed_by_server(timeout=3.0)
        assert 0.2 <= loop.time() - started < 3.0

    run(scenario, limits=Limits(idle_timeout_s=0.3))


def test_frame_trickled_byte_by_byte_closes_the_connection():
    async def scenario(server: Dc09Server, intake: FakeIntake) -> None:
        client = await Tcp.open(server)
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            for byte in sos()[:-1]:
                await client.send(bytes([byte]))
                await asyncio.sleep(0.05)
        except ConnectionError:
            pass
        assert await client.closed_by_server()
        assert loop.time() - started < 2.5  # the frame would have taken 3.5 s: cut after 0.5 s

    assert not run(scenario, limits=Limits(idle_timeout_s=5, frame_timeout_s=0.5)).calls


def test_connections_beyond_the_limit_are_refused():
    async def scenario(server: Dc09Server, intake: FakeIntake) -> None:
        first, second = await Tcp.open(server), await Tcp.open(server)
        null = dc09.build("NULL", 1)
        assert await first.ask(null) == ack_for(null)
        assert await second.ask(null) == ack_for(null)
        third = await Tcp.open(server)
        assert await third.closed_by_server()
        await first.close()
        await asyncio.sleep(0.1)
        fourth = await Tcp.open(server)
        assert await fourth.ask(null) == ack_for(null)
        await second.close()
        await fourth.close()

    run(scenario, limits=Limits(max_connections=2))


def test_after_all_bad_input_a_null_poll_still_gets_ack():
    async def scenario(server: Dc09Server, intake: FakeIntake) -> None:
        rng = random.Random(3)
        for _ in range(30):
            client = await Tcp.open(server)
            try:
                await client.send(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 3000))))
                await client.ask(sos(account="9999"), timeout=0.1)
            except ConnectionError:
                pass
            await client.close()
            await Udp.ask(server, bytes(rng.randrange(256) for _ in range(rng.randrange(1, 3000))), timeout=0.01)
        await Udp.ask(server, b"", timeout=0.05)
        null = dc09.build("NULL", 1)
        assert await (await Tcp.open(server)).ask(null) == ack_for(null)
        assert await Udp.ask(server, null) == ack_for(null)

    assert not run(scenario).calls


# --------------------------------------------------------------------- hostile input, without sockets

SEEDS = [sos(1), dc09.build("SIA-DCS", 2, "#5678|Nri1/MA1", account="5678", key=KEY),
         dc09.build("NULL", 3, account="1234", binary_crc=True),
         dc09.build("SIA-DCS", 4, "#1234|Nri1/FA1", account="1234", xdata=("X1.0", "Y2.0"))]


@st.composite
def hostile(draw: st.DrawFn) -> bytes:
    if draw(st.booleans()):
        return draw(st.binary(max_size=400))
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(data)))
        data[at: at + draw(st.integers(0, 3))] = draw(st.binary(min_size=1, max_size=4))
    return bytes(data)


def test_hostile_frames_never_raise_and_never_store():
    intake = FakeIntake()
    receiver = Dc09Receiver(intake)
    loop = asyncio.new_event_loop()
    originals = set(SEEDS)

    @settings(max_examples=1500, deadline=None, database=None)
    @given(hostile())
    def check(raw: bytes) -> None:
        if raw in originals:
            return
        reply = loop.run_until_complete(receiver.answer(raw))
        assert reply is None or reply.startswith(b"\n")

    try:
        check()
    finally:
        loop.close()
    assert not intake.calls
    assert receiver.stats["error"] == 0
