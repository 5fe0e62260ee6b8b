"""The intake link: web workers hand HTTP device events to the receivers process over a Unix socket, and fall
back to committing them themselves when it is not there. In-process here (real socket, real intake, real
database); `test_receivers_e2e.py` runs it between a web process and a receivers process."""

from __future__ import annotations

import asyncio
import os
import socket
import struct
import threading
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from eldercare.devices import intake_link, tokens
from eldercare.devices.intake import Inbound, Outcome, RateLimit, intake_for
from eldercare.devices.intake_link import IntakeLink, IntakeLinkServer
from eldercare.devices.models import DeviceEvent
from tests.helpers import quiet_device

NOW = datetime.now(UTC)


class LoopThread:
    """An asyncio loop on a thread of its own, as the receivers process runs one."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: object, timeout: float = 10) -> object:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def link_server(app, db_session, tmp_path) -> Iterator[IntakeLinkServer]:
    """The receivers' side of the link, serving this app's intake; the web side (the same app) uses it."""
    loop = LoopThread()
    server = loop.run(IntakeLinkServer(intake_for(app), str(tmp_path / "intake.sock")).start())
    intake = intake_for(app)
    intake.link, before = IntakeLink(server.path, timeout=10), intake.link
    try:
        yield server
    finally:
        intake.link.close()
        intake.link = before
        loop.run(server.stop())
        loop.close()


@pytest.fixture
def http_device(db_session):
    device = quiet_device(db_session, "http")
    token, token_hash = tokens.new_token(device.id)
    device.token_hash = token_hash
    db_session.commit()
    return device, {"Authorization": f"Bearer {token}"}


def post(client, headers, event_id: str):
    return client.post("/api/v1/device-events", headers=headers,
                       json={"event_id": event_id, "type": "sos", "occurred_at": NOW.isoformat()})


def stored(db_session, device_id: int) -> list[DeviceEvent]:
    return db_session.scalars(sa.select(DeviceEvent).where(DeviceEvent.device_id == device_id)).all()


def test_an_event_and_its_outcome_cross_the_link_unchanged():
    item = Inbound(device_id=7, protocol="http", idempotency_key="k-1", type="sos", received_at=NOW,
                   occurred_at=NOW, qualifier="q", zone="z", code="c", lat=40.8, lng=111.7, accuracy_m=12,
                   battery_pct=55, detail="详情", raw='{"a": 1}', token_secret="s3cret", rate_limit=RateLimit(30, 10))
    assert intake_link.decode(intake_link.encode([item])[4:]) == [item]
    results = [Outcome(1, False, 9), Outcome(None, False, None, "rate_limited"), RuntimeError("db down")]
    back = intake_link.decode_results(intake_link.encode_results(results)[4:])
    assert back[:2] == results[:2]
    assert isinstance(back[2], intake_link.LinkError) and "db down" in str(back[2])


def test_a_web_request_is_committed_through_the_link(client, db_session, http_device, link_server):
    device, headers = http_device
    response = post(client, headers, "link-1")
    assert response.status_code == 202
    assert link_server.served == 1  # it went through the socket, not this process's own batcher
    [event] = stored(db_session, device.id)
    assert event.incident_id == response.get_json()["incident_id"] is not None

    again = post(client, headers, "link-1")  # a repeat: acknowledged again, processed once
    assert again.get_json() == {**response.get_json(), "duplicate": True}
    assert link_server.served == 2 and len(stored(db_session, device.id)) == 1


def test_a_bad_token_through_the_link_is_refused_and_stores_nothing(client, db_session, http_device, link_server):
    device, _ = http_device
    response = post(client, {"Authorization": f"Bearer d{device.id}.{'x' * 43}"}, "forged-1")
    assert response.status_code == 401 and link_server.served == 1
    assert stored(db_session, device.id) == []


def test_without_the_receivers_process_the_web_worker_commits_the_event_itself(client, db_session, http_device,
                                                                              app, tmp_path, caplog):
    device, headers = http_device
    intake = intake_for(app)
    intake.link, before = IntakeLink(str(tmp_path / "nobody-listens.sock"), timeout=5), intake.link
    try:
        response = post(client, headers, "fallback-1")
    finally:
        intake.link.close()
        intake.link = before
    assert response.status_code == 202
    [event] = stored(db_session, device.id)
    assert event.idempotency_key == "fallback-1" and event.incident_id == response.get_json()["incident_id"]
    assert "web workers store device events themselves" in caplog.text


@pytest.mark.parametrize("frame", [
    struct.pack(">I", intake_link.MAX_FRAME + 1),  # announces more than a frame may hold
    struct.pack(">I", 9) + b"not json!",
    struct.pack(">I", 7) + b"[[1,2]]",  # JSON, but not events
])
def test_a_bad_frame_closes_its_connection_and_the_link_keeps_serving(frame, client, db_session, http_device,
                                                                     link_server):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as bad:
        bad.settimeout(5)
        bad.connect(link_server.path)
        bad.sendall(frame)
        assert bad.recv(100) == b""  # closed, no reply
    device, headers = http_device
    assert post(client, headers, "after-bad-frame").status_code == 202
    assert [e.idempotency_key for e in stored(db_session, device.id)] == ["after-bad-frame"]


def test_the_socket_is_owner_only(link_server):
    import stat

    assert stat.S_IMODE(os.stat(link_server.path).st_mode) & 0o077 == 0


def test_a_stopping_server_leaves_the_socket_of_its_successor(app, db_session, tmp_path):
    """A restart overlaps: the new receivers process binds the path while the old one is still stopping."""
    loop, path = LoopThread(), str(tmp_path / "intake.sock")
    try:
        old = loop.run(IntakeLinkServer(intake_for(app), path).start())
        new = loop.run(IntakeLinkServer(intake_for(app), path).start())  # replaces the old one's file
        loop.run(old.stop())
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            probe.settimeout(5)
            probe.connect(path)  # still there, and served by the new one
            probe.sendall(intake_link.encode([]))
            assert probe.recv(100) == intake_link.encode_results([])
        loop.run(asyncio.sleep(0.1))  # the new one sees the probe go
        assert (old.served, new._connections) == (0, set())
        loop.run(new.stop())
        assert not os.path.exists(path)
    finally:
        loop.close()
