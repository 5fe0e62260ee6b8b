"""Supervision with the real worker and beat (Redis): a missed deadline becomes `device.offline` on the
operators' socket within seconds, and the device's next message brings it back."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
import requests
import socketio
import sqlalchemy as sa

from eldercare.devices import tokens

pytestmark = pytest.mark.e2e


def test_missed_heartbeat_goes_offline_then_back(live_server, celery_worker, migrated_db):
    engine = sa.create_engine(migrated_db)
    token = None
    try:
        with engine.begin() as conn:
            device_id = conn.execute(sa.text(
                "SELECT id FROM devices WHERE protocol = 'http' AND status = 'active' AND online ORDER BY id DESC"
                " LIMIT 1")).scalar_one()
            token, token_hash = tokens.new_token(device_id)
            due = datetime.now(UTC) + timedelta(seconds=1)
            conn.execute(sa.text("UPDATE devices SET token_hash = :h, next_heartbeat_due = :due WHERE id = :d"),
                         {"h": token_hash, "due": due, "d": device_id})
        client = socketio.SimpleClient()
        client.connect(live_server.url, namespace="/ops", auth={"token": live_server.token("operator1")},
                       transports=["websocket"])
        try:
            deadline = time.monotonic() + 15
            payload = None
            while time.monotonic() < deadline:
                event, data = client.receive(timeout=deadline - time.monotonic())
                if event == "device.offline" and data["id"] == device_id:
                    payload = data
                    break
            delay = (datetime.now(UTC) - due).total_seconds()
            assert payload is not None and payload["status"] == "offline"
            assert delay < 5, f"device.offline {delay:.1f}s after the deadline"
            print(f"device.offline {delay:.2f}s after its deadline")
            response = requests.post(f"{live_server.url}/api/v1/device-events", timeout=10,
                                     headers={"Authorization": f"Bearer {token}"},
                                     json={"event_id": f"hb-{time.time()}", "type": "heartbeat",
                                           "occurred_at": datetime.now(UTC).isoformat()})
            assert response.status_code == 202
            event, data = client.receive(timeout=10)
            while not (event == "device.online" and data["id"] == device_id):
                event, data = client.receive(timeout=10)
        finally:
            client.disconnect()
        with engine.connect() as conn:
            online, incident_status = conn.execute(sa.text(
                "SELECT d.online, i.status FROM devices d JOIN incidents i ON i.dedupe_key = :key"
                " WHERE d.id = :d ORDER BY i.id DESC LIMIT 1"), {"d": device_id, "key": f"tech:d{device_id}:offline"}
            ).one()
        assert online is True
        assert incident_status == "resolved"
    finally:
        engine.dispose()
