"""The watch receiver over real TCP on 127.0.0.1, with an in-memory intake standing in for the database."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eldercare.devices.intake import DeviceInfo, Inbound, Outcome
from eldercare.devices.receivers.watch_server import WatchLimits, WatchServer, serve_watch
from eldercare.devices.watch import FrameSplitter, WatchProtocolError, build_frame, decode, parse_frame

WATCH = "8800000015"
OTHER = "1234567890"
LK = build_frame("SG", WATCH, "LK,0,0,85")
LK_REPLY = b"[SG*8800000015*0002*LK]"
AL_REPLY = b"[SG*8800000015*0002*AL]"
NOW = datetime(2024, 5, 6, 7, 9, tzinfo=UTC)


def report(command: str, status: str, when: str = "060524,070800") -> str:
    return f"{command},{when},A,40.842150,N,111.749810,E,0.00,0.0,0.0,7,100,64,1200,0,{status},1,1,460,0,9336,3981,141"


AL_FALL_SOS = build_frame("SG", WATCH, report("AL", "00210000"))


class FakeIntake:
    """Dedupes by (device, key) like the real store; `gate` holds every store until it is set."""

    def __init__(self) -> None:
        self.devices = {WATCH: DeviceInfo(1, WATCH, "watch", 10, None, "active"),
                        OTHER: DeviceInfo(2, OTHER, "watch", 11, None, "active")}
        self.events: dict[tuple[int, str], Inbound] = {}
        self.calls: list[Inbound] = []
        self.outcomes: list[Outcome] = []
        self.gate: asyncio.Event | None = None
        self.fail = False

    def lookup(self, protocol: str, uid: str) -> DeviceInfo | None:
        return self.devices.get(uid) if protocol == "watch" else None

    async def store(self, inbound: Inbound) -> Outcome:
        self.calls.append(inbound)
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise RuntimeError("database unavailable")
        key = (inbound.device_id, inbound.idempotency_key)
        duplicate = key in self.events
        self.events.setdefault(key, inbound)
        outcome = Outcome(len(self.events), duplicate, None)
        self.outcomes.append(outcome)
        return outcome

    def stored(self, type_: str | None = None) -> list[Inbound]:
        return [event for event in self.events.values() if type_ is None or event.type == type_]


def run(coro) -> None:
    asyncio.run(asyncio.wait_for(coro, 30))


@contextlib.asynccontextmanager
async def receiver(intake: FakeIntake, **limits) -> AsyncIterator[int]:
    """A receiver on a free port below 32768 (clear of the ephemeral range other tests' clients use)."""
    server = WatchServer(intake, WatchLimits(**limits))
    rng = random.Random()
    for _ in range(50):
        port = rng.randrange(20000, 32768)
        try:
            await server.start("127.0.0.1", port)
        except OSError:
            continue
        break
    else:
        pytest.fail("no free port")
    try:
        yield port
    finally:
        await server.stop()


async def reply(reader: asyncio.StreamReader, timeout: float = 2.0) -> bytes:
    return await asyncio.wait_for(reader.readuntil(b"]"), timeout)


async def silent(reader: asyncio.StreamReader, timeout: float = 0.3) -> bool:
    """Nothing arrives within `timeout` (the connection stays open)."""
    try:
        data = await asyncio.wait_for(reader.read(100), timeout)
    except TimeoutError:
        return True
    raise AssertionError(f"unexpected {data!r}")


async def nothing_back(reader: asyncio.StreamReader, timeout: float = 0.001) -> bool:
    """No reply: silence, or the connection closed."""
    try:
        data = await asyncio.wait_for(reader.read(100), timeout)
    except (TimeoutError, ConnectionResetError):
        return True
    assert data == b"", data
    return True


async def closed(reader: asyncio.StreamReader, timeout: float = 2.0) -> bool:
    try:
        return await asyncio.wait_for(reader.read(100), timeout) == b""
    except ConnectionError:
        return True


async def session(port: int, *frames: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for frame in frames:
        writer.write(frame)
    await writer.drain()
    return reader, writer


@pytest.fixture(autouse=True)
def no_errors_logged(caplog):
    caplog.set_level(logging.INFO)
    yield
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR and "store" not in r.getMessage()]
    assert not errors, [r.getMessage() for r in errors]


def test_lk_is_answered_after_its_heartbeat_is_recorded():
    intake = FakeIntake()

    async def scenario():
        async with receiver(intake) as port:
            reader, writer = await session(port, LK)
            assert await reply(reader) == LK_REPLY
            [heartbeat] = intake.stored()
            assert (heartbeat.type, heartbeat.battery_pct, heartbeat.protocol, heartbeat.device_id) == \
                ("heartbeat", 85, "watch", 1)
            assert heartbeat.received_at.tzinfo is not None and heartbeat.raw == LK.decode()
            writer.close()

    run(scenario())


def test_al_is_answered_only_once_every_event_is_stored():
    intake = FakeIntake()

    async def scenario():
        intake.gate = asyncio.Event()
        async with receiver(intake) as port:
            reader, writer = await session(port, AL_FALL_SOS)
            assert await silent(reader, 0.4)
            assert sorted(call.type for call in intake.calls) == ["fall", "sos"] and not intake.events
            intake.gate.set()
            assert await reply(reader) == AL_REPLY
            sos, fall = intake.stored("sos")[0], intake.stored("fall")[0]
            assert (sos.lat, sos.lng, sos.battery_pct, sos.code) == (40.84215, 111.74981, 64, "00210000")
            assert sos.occurred_at is not None and sos.occurred_at.isoformat() == "2024-05-06T07:08:00+00:00"
            assert fall.idempotency_key != sos.idempotency_key
            writer.close()

    run(scenario())


def test_ud_is_stored_but_not_answered():
    intake = FakeIntake()

    async def scenario():
        async with receiver(intake) as port:
            reader, writer = await session(port, build_frame("SG", WATCH, report("UD", "00000000")), LK)
            assert await reply(reader) == LK_REPLY  # the first bytes back answer the LK: UD got nothing
            assert await silent(reader, 0.2)
            [position] = [event for event in intake.stored() if event.lat is not None]
            assert position.type == "heartbeat" and position.lng == 111.74981
            writer.close()

    run(scenario())


def test_a_resent_alarm_is_answered_again_and_stored_once():
    intake = FakeIntake()

    async def scenario():
        async with receiver(intake) as port:
            reader, writer = await session(port, AL_FALL_SOS)
            assert await reply(reader) == AL_REPLY
            writer.write(AL_FALL_SOS)
            assert await reply(reader) == AL_REPLY
            writer.close()
            reader, writer = await session(port, AL_FALL_SOS)  # after a reconnect too
            assert await reply(reader) == AL_REPLY
            writer.close()
        assert len(intake.stored("sos")) == 1 and len(intake.stored("fall")) == 1
        assert [outcome.duplicate for outcome in intake.outcomes].count(False) == 2
        assert len(intake.outcomes) == 6

    run(scenario())


def test_an_alarm_without_a_fix_is_stored_and_answered():
    intake = FakeIntake()
    frame = build_frame("3G", OTHER, report("AL", "00010000").replace(",A,40.842150,N,111.749810,E,",
                                                                       ",V,0.000000,N,0.000000,E,"))

    async def scenario():
        async with receiver(intake) as port:
            reader, writer = await session(port, frame)
            assert await reply(reader) == b"[3G*1234567890*0002*AL]"
            writer.close()
        [sos] = intake.stored("sos")
        assert sos.device_id == 2 and sos.lat is None and sos.lng is None

    run(scenario())


def test_an_oversized_frame_is_cut_and_the_connection_closed():
    intake = FakeIntake()

    async def scenario():
        async with receiver(intake, max_frame=1024) as port:
            reader, writer = await session(port, LK, b"[SG*8800000015*1000*LK," + b"9" * 2000)
            assert await reply(reader) == LK_REPLY
            assert await closed(reader)
            writer.close()
            content = "LK," + "1" * 1100
            reader, writer = await session(port, build_frame("SG", WATCH, content))
            assert await closed(reader)
            writer.close()
        assert len(intake.calls) == 1

    run(scenario())


def test_never_ending_junk_is_cut():
    intake = FakeIntake()

    async def scenario():
        async with receiver(intake, max_frame=1024) as port:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            with contextlib.suppress(ConnectionError):
                for _ in range(100):
                    writer.write(b"\x00junk without a bracket " * 8)
                    await writer.drain()
                    await asyncio.sleep(0)
            assert await closed(reader)
            writer.close()
        assert intake.calls == []

    run(scenario())


def test_idle_connections_time_out():
    intake = FakeIntake()

    async def scenario():
        async with receiver(intake, idle_timeout=0.3) as port:
            reader, writer = await session(port, LK)
            assert await reply(reader) == LK_REPLY
            started = asyncio.get_running_loop().time()
            assert await closed(reader, 3)
            assert 0.2 < asyncio.get_running_loop().time() - started < 2.5
            writer.close()

    run(scenario())


def test_a_frame_trickled_byte_by_byte_is_cut_after_the_frame_timeout(caplog):
    intake = FakeIntake()

    async def scenario():
        async with receiver(intake, idle_timeout=5, frame_timeout=0.4) as port:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            started = asyncio.get_running_loop().time()
            with contextlib.suppress(ConnectionError):
                for byte in LK:
                    writer.write(bytes([byte]))
                    await writer.drain()
                    await asyncio.sleep(0.1)
            assert await closed(reader)
            assert asyncio.get_running_loop().time() - started < 3
            writer.close()
        assert intake.calls == []

    run(scenario())
    assert any("frame not complete within 0.4 s" in r.getMessage() for r in caplog.records)


def test_a_busy_stream_cut_mid_frame_each_time_is_not_taken_for_a_slow_frame():
    intake = FakeIntake()

    async def scenario():
        async with receiver(intake, idle_timeout=5, frame_timeout=0.3) as port:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(LK[:10])
            for _ in range(12):  # 1.2 s: every chunk ends one frame and begins the next
                await asyncio.sleep(0.1)
                writer.write(LK[10:] + LK[:10])
            writer.write(LK[10:])
            assert [await reply(reader) for _ in range(13)] == [LK_REPLY] * 13
            writer.close()

    run(scenario())


def test_stop_closes_open_connections():
    intake = FakeIntake()

    async def scenario():
        async with receiver(intake) as port:
            reader, writer = await session(port, LK)
            assert await reply(reader) == LK_REPLY
        assert await closed(reader)
        writer.close()

    run(scenario())


def test_unknown_watch_gets_no_reply_a_log_line_and_is_closed_after_three_frames(caplog):
    intake = FakeIntake()
    stranger = build_frame("SG", "9999999999", "LK,0,0,50")

    async def scenario():
        async with receiver(intake) as port:
            reader, writer = await session(port, stranger)
            assert await silent(reader)
            writer.write(stranger + stranger)
            assert await closed(reader)
            writer.close()
            reader, writer = await session(port, stranger, LK)  # a known watch resets the count
            assert await reply(reader) == LK_REPLY
            writer.close()
        assert intake.calls[0].device_id == 1 and len(intake.calls) == 1

    run(scenario())
    assert any("unknown watch id '9999999999'" in r.getMessage() for r in caplog.records)


def test_bad_frames_are_not_answered_and_the_connection_goes_on():
    intake = FakeIntake()
    bad = [b"[SG*8800000015*0003*LK]", b"[SG*8800000015*00zz*LK]", b"garbage", b"[]", b"[SG*8800000015*0002*LK",
           build_frame("SG", WATCH, "UD,1,2,3"), build_frame("SG", WATCH, "TK,voice")]

    async def scenario():
        async with receiver(intake) as port:
            reader, writer = await session(port, *bad)
            assert await silent(reader)
            writer.write(b"]" + LK)  # a stray "]" is junk; the good LK after it is answered
            assert await reply(reader) == LK_REPLY
            writer.close()
        assert len(intake.calls) == 1

    run(scenario())


def test_many_bad_frames_in_a_row_close_the_connection():
    intake = FakeIntake()

    async def scenario():
        async with receiver(intake, max_bad=5) as port:
            reader, writer = await session(port, b"[x]" * 5)
            assert await closed(reader)
            writer.close()

    run(scenario())


def test_a_failed_or_stuck_store_is_not_answered(caplog):
    intake = FakeIntake()

    async def scenario():
        async with receiver(intake, store_timeout=0.3) as port:
            intake.fail = True
            reader, writer = await session(port, AL_FALL_SOS)
            assert await silent(reader, 0.5)
            intake.fail, intake.gate = False, asyncio.Event()
            writer.write(LK)
            assert await silent(reader, 0.6)  # held past store_timeout: not answered
            intake.gate.set()
            writer.write(AL_FALL_SOS)
            assert await reply(reader) == AL_REPLY  # the watch resent: now stored and answered
            writer.close()
        assert {event.type for event in intake.stored()} == {"heartbeat", "sos", "fall"}

    run(scenario())
    assert any("store failed" in r.getMessage() for r in caplog.records)
    assert any("took longer than the store timeout" in r.getMessage() for r in caplog.records)


def test_split_and_joined_frames_over_tcp():
    intake = FakeIntake()
    ud = build_frame("SG", WATCH, report("UD", "00000000"))

    async def scenario():
        async with receiver(intake) as port:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            stream = LK + ud + AL_FALL_SOS + LK
            for byte in range(0, len(stream), 7):
                writer.write(stream[byte:byte + 7])
                await writer.drain()
                await asyncio.sleep(0.001)
            assert [await reply(reader) for _ in range(3)] == [LK_REPLY, AL_REPLY, LK_REPLY]
            writer.close()

    run(scenario())


def test_serve_watch_starts_a_server():
    intake = FakeIntake()

    async def scenario():
        for _ in range(50):
            port = random.randrange(20000, 32768)
            with contextlib.suppress(OSError):
                server = await serve_watch(intake, "127.0.0.1", port, idle_timeout=5)
                break
        reader, writer = await session(port, LK)
        assert await reply(reader) == LK_REPLY
        writer.close()
        server.close()
        await server.wait_closed()

    run(scenario())


MUTATED = st.tuples(st.sampled_from([LK, AL_FALL_SOS]), st.integers(21, 200), st.binary(min_size=1, max_size=3),
                    st.booleans())


def mutate(frame: bytes, at: int, junk: bytes, insert: bool) -> bytes:
    """Insert or delete bytes inside the content: the length field no longer matches."""
    at = min(at, len(frame) - 1)
    return frame[:at] + junk + frame[at:] if insert else frame[:at] + frame[at + len(junk):]


def events_in(blob: bytes) -> int:
    """Events a blob really carries: random bytes can spell a valid frame (hypothesis finds them)."""
    count = 0
    for raw in FrameSplitter(1024).feed(blob):
        try:
            frame = parse_frame(raw)
            count += len(decode(frame, NOW).events) if frame.watch_id in (WATCH, OTHER) else 0
        except WatchProtocolError:
            continue
    return count


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=300), MUTATED.map(lambda args: mutate(*args))), min_size=1,
                max_size=60))
def test_random_and_mutated_input_never_breaks_the_receiver_nor_creates_an_event(blobs):
    intake = FakeIntake()
    invalid = [blob for blob in blobs if not events_in(blob)]

    async def scenario():
        async with receiver(intake, max_frame=1024) as port:
            for batch in range(0, len(invalid), 20):
                connections = [await session(port, blob) for blob in invalid[batch:batch + 20]]
                await asyncio.sleep(0.05)
                for reader, writer in connections:
                    assert await nothing_back(reader)
                    writer.close()
            reader, writer = await session(port, LK)
            assert await reply(reader) == LK_REPLY
            writer.close()
        assert len(intake.calls) == 1

    run(scenario())
