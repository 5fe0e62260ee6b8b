"""Production mode with two web nodes: an event emitted by a Celery worker process reaches the consoles
connected to either node, through the Redis message queue."""

from __future__ import annotations

import pytest
import requests
import socketio

from tests.live import BIN, free_port, process_env, start, stop, wait_http

pytestmark = pytest.mark.e2e


@pytest.fixture
def second_node(migrated_db, live_server, tmp_path):
    port = free_port()
    log = tmp_path / "node2.log"
    env = process_env(migrated_db, tmp_path, ELDERCARE_HTTP_PORT=str(port))
    proc = start([str(BIN / "flask"), "--app", "eldercare", "serve", "--no-demo"], env, log)
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", proc, log)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc)


def test_worker_event_reaches_clients_on_every_node(live_server, second_node, celery_worker):
    token = live_server.token("operator1")
    supervisor = live_server.token("supervisor1")
    clients = []
    try:
        for base in (live_server.url, second_node):
            client = socketio.SimpleClient()
            client.connect(base, namespace="/ops", auth={"token": token}, transports=["websocket"])
            clients.append(client)
        response = requests.post(f"{second_node}/api/v1/notices", json={"audience": "ops", "text": "两个节点"},
                                 headers={"Authorization": f"Bearer {supervisor}"}, timeout=10)
        assert response.status_code == 202
        notice_id = response.json()["id"]
        for client in clients:
            event, payload = client.receive(timeout=15)
            while payload.get("id") != notice_id:  # notices of other tests may be in flight
                event, payload = client.receive(timeout=15)
            assert event == "notice"
            assert payload["text"] == "两个节点"
            assert payload["status"] == "sent"
    finally:
        for client in clients:
            client.disconnect()
