"""End to end, each intake path in production mode: a frame or request → stored event → incident →
`incident.created` on a Socket.IO client of `/ops` (through Redis, from the receiver's own process).
Duplicates are processed once; a receiver SIGKILLed right after its ACK has lost nothing.

The DC-09 and watch frames are built here from the standards, independently of the receivers' code.
"""

from __future__ import annotations

import signal
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import requests
import socketio
import sqlalchemy as sa
from twilio.request_validator import RequestValidator

from tests.helpers import dc09_frame
from tests.live import BIN, LiveServer, free_port, process_env, start, start_worker, stop, wait_http

pytestmark = pytest.mark.e2e


def watch_frame(watch_id: str, content: str, maker: str = "3G") -> bytes:
    return f"[{maker}*{watch_id}*{len(content):04X}*{content}]".encode()


class Receivers:
    def __init__(self, proc, dc09_port: int, watch_port: int) -> None:
        self.proc, self.dc09_port, self.watch_port = proc, dc09_port, watch_port

    def dc09(self, frame: bytes, timeout: float = 10) -> bytes:
        with socket.create_connection(("127.0.0.1", self.dc09_port), timeout=timeout) as conn:
            conn.sendall(frame)
            return _read_until(conn, b"\r")

    def watch(self, frame: bytes, timeout: float = 10) -> bytes:
        with socket.create_connection(("127.0.0.1", self.watch_port), timeout=timeout) as conn:
            conn.sendall(frame)
            return _read_until(conn, b"]")


def _read_until(conn: socket.socket, end: bytes) -> bytes:
    data = b""
    while not data.endswith(end):
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def _wait_listening(port: int, proc, log, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(log.read_text()[-3000:])
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(log.read_text()[-3000:])


def _start_receivers(migrated_db: str, tmp_path, **extra: str) -> Receivers:
    dc09_port, watch_port = free_port(), free_port() + 1
    log = tmp_path / "receivers.log"
    env = process_env(migrated_db, tmp_path, ELDERCARE_DC09_PORT=str(dc09_port), ELDERCARE_WATCH_PORT=str(watch_port),
                      **extra)
    proc = start([str(BIN / "flask"), "--app", "eldercare", "receivers"], env, log)
    _wait_listening(dc09_port, proc, log)
    _wait_listening(watch_port, proc, log)
    return Receivers(proc, dc09_port, watch_port)


@pytest.fixture
def receivers(migrated_db, tmp_path) -> Iterator[Receivers]:
    running = _start_receivers(migrated_db, tmp_path)
    try:
        yield running
    finally:
        stop(running.proc)


@pytest.fixture(scope="module")
def committed(migrated_db):
    engine = sa.create_engine(migrated_db)
    yield engine
    engine.dispose()


def device_of(engine, protocol: str, offset: int = 0) -> dict:
    """A device of the demo city with no key (plain DC-09), whose household has no open life alarm."""
    with engine.connect() as conn:
        return dict(conn.execute(sa.text(
            "SELECT d.id, d.uid, d.household_id FROM devices d WHERE d.protocol = :p AND d.status = 'active'"
            " AND d.aes_key IS NULL AND NOT EXISTS (SELECT 1 FROM incidents i WHERE i.household_id = d.household_id"
            " AND i.status IN ('new', 'claimed', 'in_progress', 'on_hold', 'dispatched', 'escalated'))"
            " ORDER BY d.id OFFSET :o LIMIT 1"), {"p": protocol, "o": offset}).mappings().one())


def events_of(engine, device_id: int) -> list[dict]:
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.text(
            "SELECT e.id, e.type, e.incident_id, i.status, i.priority FROM device_events e"
            " LEFT JOIN incidents i ON i.id = e.incident_id WHERE e.device_id = :d ORDER BY e.id"),
            {"d": device_id}).mappings()]


@pytest.fixture
def ops_client(live_server: LiveServer) -> Iterator[socketio.SimpleClient]:
    client = socketio.SimpleClient()
    client.connect(live_server.url, namespace="/ops", auth={"token": live_server.token("operator1")},
                   transports=["websocket"])
    try:
        yield client
    finally:
        client.disconnect()


def created_for(client: socketio.SimpleClient, incident_id: int, timeout: float = 10) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        event, payload = client.receive(timeout=max(0.1, deadline - time.monotonic()))
        if event == "incident.created" and payload["id"] == incident_id:
            return payload
    raise AssertionError(f"no incident.created for {incident_id}")


def test_dc09_alarm_end_to_end_and_duplicate_once(receivers, committed, ops_client):
    device = device_of(committed, "dc09")
    frame = dc09_frame(device["uid"], 17, f"#{device['uid']}|1101 01 015")
    first = receivers.dc09(frame)
    assert b'"ACK"0017' in first
    again = receivers.dc09(frame)  # the panel did not see the ACK and repeats
    assert b'"ACK"0017' in again
    [event] = events_of(committed, device["id"])
    assert (event["type"], event["status"], event["priority"]) == ("sos", "new", 1)
    payload = created_for(ops_client, event["incident_id"])
    assert payload["household_id"] == device["household_id"]


def test_dc09_null_poll_and_unknown_account(receivers):
    assert b'"ACK"' in receivers.dc09(dc09_frame("", 1, "", token="NULL"))
    assert b'"NAK"' in receivers.dc09(dc09_frame("FFFFFE", 2, "#FFFFFE|1101 01 015"))


def test_watch_alarm_without_gps_fix_end_to_end(receivers, committed, ops_client):
    device = device_of(committed, "watch")
    now = datetime.now(UTC)
    status = f"{1 << 16:08X}"  # SOS
    content = (f"AL,{now:%d%m%y},{now:%H%M%S},V,0.000000,N,0.000000,E,0.00,0.0,0.0,0,100,85,0,0,{status},"
               "1,0,460,0,9520,3671,150")
    assert receivers.watch(watch_frame(device["uid"], content)) == f"[3G*{device['uid']}*0002*AL]".encode()
    [event] = events_of(committed, device["id"])
    assert event["type"] == "sos" and event["status"] == "new"
    created_for(ops_client, event["incident_id"])


def test_receiver_killed_right_after_ack_loses_nothing(migrated_db, committed, tmp_path):
    running = _start_receivers(migrated_db, tmp_path)
    worker = start_worker(migrated_db, tmp_path)  # a worker of its own: the session's must live on
    device = device_of(committed, "dc09", offset=3)
    try:
        reply = running.dc09(dc09_frame(device["uid"], 42, f"#{device['uid']}|1100 01 001"))
        running.proc.send_signal(signal.SIGKILL)
        worker.send_signal(signal.SIGKILL)  # the worker has no part in it either
    finally:
        stop(running.proc)
        stop(worker)
    assert b'"ACK"0042' in reply
    [event] = events_of(committed, device["id"])
    assert event["type"] == "sos" and event["status"] == "new"


def test_http_and_sms_paths_end_to_end(live_server, committed, ops_client, tmp_path):
    http = device_of(committed, "http")
    token = _issue_token(committed, http["id"])
    body = {"event_id": "e2e-1", "type": "fall", "occurred_at": datetime.now(UTC).isoformat()}
    response = requests.post(f"{live_server.url}/api/v1/device-events", json=body, timeout=10,
                             headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 202
    created_for(ops_client, response.json()["incident_id"])

    sms_device = device_of(committed, "sms")
    form = {"From": sms_device["uid"], "To": "+8647100000000", "Body": "SOS", "MessageSid": "SMe2e1"}
    url = "http://127.0.0.1:5000/twilio/sms"  # ELDERCARE_PUBLIC_URL's default: what Twilio signed
    signature = RequestValidator(SMS_TOKEN).compute_signature(url, form)
    assert requests.post(f"{live_server.url}/twilio/sms", data=form, timeout=10,
                         headers={"X-Twilio-Signature": signature}).status_code == 200
    [event] = events_of(committed, sms_device["id"])
    created_for(ops_client, event["incident_id"])


SMS_TOKEN = "e2e-twilio-token"  # set for the live server in tests/live.py


def _issue_token(engine, device_id: int) -> str:
    from eldercare.devices import tokens

    token, token_hash = tokens.new_token(device_id)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE devices SET token_hash = :h WHERE id = :d"), {"h": token_hash, "d": device_id})
    return token


def test_http_events_committed_by_the_receivers_process_and_by_the_web_when_it_is_gone(migrated_db, committed,
                                                                                       ops_client, tmp_path):
    """Web and receivers processes sharing `ELDERCARE_INTAKE_SOCKET`: the receivers process commits the web's
    HTTP events; SIGKILLed, the web process commits them itself, nothing refused."""
    link = str(tmp_path / "intake.sock")
    running = _start_receivers(migrated_db, tmp_path, ELDERCARE_INTAKE_SOCKET=link)
    port, web_log = free_port(), tmp_path / "web.log"
    web = start([str(BIN / "flask"), "--app", "eldercare", "serve", "--no-demo"],
                process_env(migrated_db, tmp_path / "web", ELDERCARE_HTTP_PORT=str(port),
                            ELDERCARE_INTAKE_SOCKET=link), web_log)
    device = device_of(committed, "http", offset=1)
    headers = {"Authorization": f"Bearer {_issue_token(committed, device['id'])}"}
    url = f"http://127.0.0.1:{port}/api/v1/device-events"

    def send(event_id: str) -> dict:
        body = {"event_id": event_id, "type": "sos", "occurred_at": datetime.now(UTC).isoformat()}
        response = requests.post(url, json=body, headers=headers, timeout=30)
        assert response.status_code == 202, response.text
        return response.json()

    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", web, web_log)
        first = send("link-e2e-1")
        created_for(ops_client, first["incident_id"])
        assert send("link-e2e-1") == {**first, "duplicate": True}  # a repeat, through the link: processed once
        assert FALLBACK not in web_log.read_text()  # both went through the link
        running.proc.send_signal(signal.SIGKILL)
        running.proc.wait(10)
        second = send("link-e2e-2")  # the web worker falls back to its own intake
        assert second["incident_id"] == first["incident_id"]  # merged into the home's open incident
    finally:
        stop(running.proc)
        stop(web)
    assert [(e["type"], e["incident_id"]) for e in events_of(committed, device["id"])] == [
        ("sos", first["incident_id"]), ("sos", first["incident_id"])]
    assert FALLBACK in web_log.read_text()


FALLBACK = "web workers store device events themselves"  # the web process's warning when the link is down
