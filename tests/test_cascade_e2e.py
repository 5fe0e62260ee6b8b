"""The cascade end to end, with the real server, the real Celery worker (and beat), the real Twilio SDK
sending to a stand-in of api.twilio.com, and signed webhooks: a device alarm → the cascade → an SMS to
the first contact through Twilio → unanswered in time: a call → the key pressed on the call acknowledges
→ the cascade stops, seen live by an operator's Socket.IO client."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from xml.etree import ElementTree

import pytest
import requests
import socketio
import sqlalchemy as sa
from twilio.request_validator import RequestValidator

from tests.helpers import http_home_with_one_contact
from tests.live import TWILIO_ACCOUNT, TWILIO_FROM, TWILIO_TOKEN, fake_twilio_server

pytestmark = pytest.mark.e2e
CONTACT = "+8613611112222"
PUBLIC_URL = "http://127.0.0.1:5000"  # ELDERCARE_PUBLIC_URL of the e2e processes (its default)


@pytest.fixture
def alarm_home(migrated_db):
    engine = sa.create_engine(migrated_db)
    token, _ = http_home_with_one_contact(engine, offset=11, phone=CONTACT, name="王小明")
    yield engine, token
    engine.dispose()

def signed_post(base: str, path: str, form: dict) -> requests.Response:
    """As Twilio posts: signed for the public URL, delivered to the server."""
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(PUBLIC_URL + path, form)
    return requests.post(base + path, data=form, headers={"X-Twilio-Signature": signature}, timeout=10)


def test_cascade_texts_then_calls_and_a_key_press_stops_it(live_server, celery_worker, alarm_home):
    engine, device_token = alarm_home
    twilio = fake_twilio_server()
    client = socketio.SimpleClient()
    client.connect(live_server.url, namespace="/ops", auth={"token": live_server.token("supervisor1")},
                   transports=["websocket"])
    try:
        posted = requests.post(f"{live_server.url}/api/v1/device-events", timeout=10,
                               headers={"Authorization": f"Bearer {device_token}"},
                               json={"event_id": uuid.uuid4().hex, "type": "fall",
                                     "occurred_at": datetime.now(UTC).isoformat()})
        assert posted.status_code == 202, posted.text
        incident_id = posted.json()["incident_id"]
        # Nobody answers the alarm: the start timer is brought forward to now instead of waiting 60 s.
        with engine.begin() as conn:
            moved = conn.execute(sa.text("UPDATE timers SET due_at = now() WHERE kind = 'cascade.start'"
                                         " AND ref_id = :i AND fired_at IS NULL"), {"i": incident_id}).rowcount
        assert moved == 1
        [sms] = twilio.wait_for(CONTACT, 1, timeout=15)
        assert sms["path"] == f"/2010-04-01/Accounts/{TWILIO_ACCOUNT}/Messages.json"
        assert sms["form"]["From"] == TWILIO_FROM
        assert sms["form"]["StatusCallback"].endswith("/twilio/status")
        assert "触发跌倒报警" in sms["form"]["Body"] and "回复1" in sms["form"]["Body"]
        # The text is not answered in time: the worker calls instead.
        with engine.begin() as conn:
            conn.execute(sa.text(
                "UPDATE timers SET due_at = now() WHERE kind = 'cascade.step' AND fired_at IS NULL AND ref_id IN"
                " (SELECT id FROM cascade_steps WHERE incident_id = :i)"), {"i": incident_id})
        calls = [r for r in twilio.wait_for(CONTACT, 2, timeout=15) if r["path"].endswith("/Calls.json")]
        assert len(calls) == 1, twilio.sent_to(CONTACT)
        gather = ElementTree.fromstring(calls[0]["form"]["Twiml"]).find("Gather")  # noqa: S314 - our TwiML
        action = gather.get("action")
        assert action.startswith(f"{PUBLIC_URL}/twilio/voice?n=")
        call_sid = _sid_of(engine, int(action.rsplit("=", 1)[1]))
        pressed = signed_post(live_server.url, action.removeprefix(PUBLIC_URL), {"CallSid": call_sid, "Digits": "1"})
        assert pressed.status_code == 200 and "已收到" in pressed.text
        acknowledged = None
        deadline = time.monotonic() + 10
        while acknowledged is None and time.monotonic() < deadline:
            event, data = client.receive(timeout=deadline - time.monotonic())
            if event == "incident.cascade" and data["id"] == incident_id and any(
                    step["state"] == "acknowledged" for step in data["steps"]):
                acknowledged = data
        assert acknowledged is not None
        assert [s["state"] for s in acknowledged["steps"]] == ["acknowledged", "cancelled", "cancelled"]
        assert acknowledged["steps"][0]["name"] == "王小明"
        time.sleep(1)  # nothing more goes to the contact after the acknowledgement
        assert len(twilio.sent_to(CONTACT)) == 2
    finally:
        client.disconnect()




def _sid_of(engine, notification_id: int) -> str:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with engine.connect() as conn:
            sid = conn.execute(sa.text("SELECT provider_sid FROM notifications WHERE id = :n"),
                               {"n": notification_id}).scalar()
        if sid:
            return sid
        time.sleep(0.05)
    raise AssertionError(f"notification {notification_id} has no Twilio SID")

