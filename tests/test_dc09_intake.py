"""DC-09 end to end on PostgreSQL: frame → receiver → real intake (batched commit) → event and incident →
ACK → `incident.created` on /ops."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from eldercare.alerts.models import Incident
from eldercare.core.events import OPS_NAMESPACE
from eldercare.devices import dc09
from eldercare.devices.intake import Intake
from eldercare.devices.models import Device, DeviceEvent
from eldercare.devices.receivers.dc09_server import Dc09Server
from eldercare.extensions import socketio
from tests.conftest import token_for


def _device(db_session, keyed: bool) -> Device:
    has_key = Device.aes_key.is_not(None) if keyed else Device.aes_key.is_(None)
    open_households = sa.select(Incident.household_id).where(Incident.status.not_in(("resolved", "closed",
                                                                                      "cancelled")))
    return db_session.scalars(
        sa.select(Device).where(Device.protocol == "dc09", Device.status == "active", has_key,
                                Device.household_id.is_not(None), Device.household_id.not_in(open_households))
        .order_by(Device.id)).first()


@pytest.fixture
def plain_device(db_session) -> Device:
    return _device(db_session, keyed=False)


@pytest.fixture
def keyed_device(db_session) -> Device:
    return _device(db_session, keyed=True)


def exchange(app, frames: list[bytes]) -> list[bytes | None]:
    """Send each frame on one TCP connection to a receiver backed by the real intake; the answers."""
    intake = Intake(app)

    async def main() -> list[bytes | None]:
        for _ in range(100):
            server = Dc09Server(intake)
            try:
                await server.start("127.0.0.1", random.randint(20_000, 32_000))
                break
            except OSError:
                await server.stop()
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            answers = []
            for frame in frames:
                writer.write(frame)
                try:
                    async with asyncio.timeout(15):
                        answers.append(await reader.readuntil(b"\r"))
                except TimeoutError:
                    answers.append(None)
            writer.close()
            return answers
        finally:
            await server.stop()

    try:
        return asyncio.run(main())
    finally:
        intake.stop()


def events_of(db_session, device_id: int) -> list[DeviceEvent]:
    return db_session.scalars(sa.select(DeviceEvent).where(DeviceEvent.device_id == device_id)
                              .order_by(DeviceEvent.id)).all()


def test_contact_id_alarm_is_stored_then_acknowledged_and_reaches_ops(app, client, db_session, plain_device):
    device = plain_device
    frame = dc09.build("ADM-CID", 31, f"#{device.uid}|1100 01 015", account=device.uid, receiver="1",
                       timestamp=datetime.now(UTC))
    ops = socketio.test_client(app, namespace=OPS_NAMESPACE, auth={"token": token_for(client, "operator1")})
    try:
        answers = exchange(app, [frame, frame])  # the second copy is a retransmission
        received = [m for m in ops.get_received(OPS_NAMESPACE) if m["name"] == "incident.created"]
    finally:
        ops.disconnect(OPS_NAMESPACE)
    message = dc09.parse(frame)
    assert isinstance(message, dc09.Message)
    assert answers == [dc09.ack(message)] * 2
    [event] = events_of(db_session, device.id)
    assert (event.protocol, event.type, event.code, event.qualifier, event.zone) == ("dc09", "sos", "100", "new",
                                                                                    "015")
    assert event.idempotency_key.startswith(f"{device.uid}:0031:R1:L0:") and event.raw == frame[1:-1].decode()
    incident = db_session.get(Incident, event.incident_id)
    assert (incident.type, incident.household_id, incident.event_count) == ("sos", device.household_id, 1)
    assert [m["args"][0]["id"] for m in received] == [incident.id]


def test_encrypted_alarm_gets_an_encrypted_ack(app, db_session, keyed_device):
    device = keyed_device
    key = bytes.fromhex(device.aes_key)
    frame = dc09.build("SIA-DCS", 32, f"#{device.uid}|Nri1/FA3", account=device.uid, key=key)
    [answer] = exchange(app, [frame])
    reply = dc09.read_frame(answer or b"")
    assert isinstance(reply, dc09.Rejection) and reply.frame is not None
    assert (reply.frame.kind, reply.frame.encrypted, reply.frame.seq) == ("ACK", True, "0032")
    assert (dc09.decrypt(reply.frame.body, key) or "").startswith("]_")
    [event] = events_of(db_session, device.id)
    assert (event.type, event.code, event.zone) == ("smoke", "FA", "3")


def test_refused_frames_store_nothing(app, db_session, plain_device, keyed_device):
    plain = plain_device
    stale = dc09.build("ADM-CID", 1, f"#{plain.uid}|1100 01 001", account=plain.uid,
                       timestamp=datetime.now(UTC) - timedelta(minutes=5))
    unencrypted = dc09.build("ADM-CID", 2, f"#{keyed_device.uid}|1100 01 001", account=keyed_device.uid)
    unknown = dc09.build("ADM-CID", 3, "#FFFFFFFFFFFF|1100 01 001", account="FFFFFFFFFFFF")
    broken = bytearray(dc09.build("ADM-CID", 4, f"#{plain.uid}|1100 01 001", account=plain.uid))
    broken[-4] ^= 1
    null = dc09.build("NULL", 5)
    answers = exchange(app, [stale, unencrypted, unknown, bytes(broken), null])
    assert [a is not None and b'"NAK"' in a for a in answers[:3]] == [True] * 3
    assert answers[3:] == [None, dc09.wrap('"ACK"0005L0[]')]
    assert not events_of(db_session, plain.id) and not events_of(db_session, keyed_device.id)


def test_null_poll_with_account_is_a_heartbeat(app, db_session, plain_device):
    device = plain_device
    before = device.last_seen_at
    answers = exchange(app, [dc09.build("NULL", 6, account=device.uid)])
    assert answers == [dc09.wrap(f'"ACK"0006L0#{device.uid}[]')]
    db_session.refresh(device)
    assert device.last_seen_at is not None and device.last_seen_at != before
    assert not events_of(db_session, device.id)
