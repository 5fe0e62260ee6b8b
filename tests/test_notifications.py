"""Notifications through the real Twilio SDK with its HTTP transport replaced (the border of the machine):
the exact requests, retries without double sends, give-up, 4xx, quiet hours and rate limits, the signed
webhooks (status, SMS reply, key pressed) and the outbox's simulated reply."""

from __future__ import annotations

import json
import logging
import uuid
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest
import requests
import sqlalchemy as sa
from twilio.http import HttpClient
from twilio.http.response import Response
from twilio.request_validator import RequestValidator

from eldercare.alerts import notify, tasks
from eldercare.alerts.models import Notification
from tests.helpers import login_session

ACCOUNT = "AC" + "0123456789abcdef" * 2
TOKEN = "test-twilio-token"
FROM = "+8647100000000"


class FakeTwilioHttp(HttpClient):
    """Stands in for api.twilio.com: records each request the SDK makes, answers from a script."""

    def __init__(self) -> None:
        super().__init__(logging.getLogger("fake-twilio"), False)
        self.requests: list[dict] = []
        self.sids: list[str] = []
        self.script: list[object] = []  # per request: an HTTP status with Twilio's error body, or an exception

    def request(self, method, url, params=None, data=None, headers=None, auth=None, timeout=None,
                allow_redirects=False):
        self.requests.append({"method": method, "url": url, "data": dict(data or {}), "auth": auth})
        step = self.script.pop(0) if self.script else 201
        if isinstance(step, Exception):
            raise step
        if step >= 400:
            return Response(step, json.dumps({"code": 21211 if step == 400 else 20500 + step % 100,
                                              "message": f"scripted {step}", "status": step}))
        # SIDs unique across runs: end-to-end tests commit theirs to the same database.
        sid = ("SM" if url.endswith("/Messages.json") else "CA") + uuid.uuid4().hex
        self.sids.append(sid)
        return Response(201, json.dumps({"sid": sid, "status": "queued"}))





@pytest.fixture
def scheduled(monkeypatch, emitted) -> list[tuple[int, float]]:
    """Sends the code asks the worker for (the tests run them with `send`)."""
    asked: list[tuple[int, float]] = []
    monkeypatch.setattr(notify, "schedule", lambda nid, countdown=0: asked.append((nid, countdown)))
    return asked


@pytest.fixture
def twilio(app, monkeypatch, scheduled) -> FakeTwilioHttp:
    fake = FakeTwilioHttp()
    for key, value in (("TWILIO_ACCOUNT_SID", ACCOUNT), ("TWILIO_AUTH_TOKEN", TOKEN), ("TWILIO_FROM_NUMBER", FROM)):
        monkeypatch.setitem(app.config, key, value)
    monkeypatch.setitem(app.extensions, "twilio_http_client", fake)
    monkeypatch.setitem(app.extensions, "eldercare_sender", None)  # made anew with the fake transport
    return fake


def send(notification_id: int) -> str:
    return tasks.send_notification(notification_id)


def make(channel: str = "sms", phone: str = "13812345678", *, urgent: bool = True, **extra) -> Notification:
    return notify.create(purpose_type="test", purpose_id=7, channel=channel,
                         template="cascade_alarm" if channel == "sms" else "cascade_alarm_voice",
                         recipient=notify.Recipient("contact", None, phone, extra.pop("language", "zh")),
                         context={"resident": "王秀英", "address": "新城区1号", "alarm": "fall", "centre": "12349"},
                         urgent=urgent, **extra)


def due_now(session, notification_id: int) -> None:
    """Time passes: the next attempt of this notification is due."""
    session.execute(sa.update(Notification).where(Notification.id == notification_id)
                    .values(next_attempt_at=datetime.now(UTC) - timedelta(seconds=1)))


def reload(session, notification_id: int) -> Notification:
    return session.get(Notification, notification_id, populate_existing=True)


# --- the requests -----------------------------------------------------------------------------------------

def test_sms_is_the_exact_twilio_request(app, db_session, twilio, scheduled):
    notification = make()
    assert scheduled == [(notification.id, 0)]
    assert notification.body.startswith("【居家养老紧急呼叫】王秀英（新城区1号）触发跌倒报警")
    assert send(notification.id) == "sent"
    [request] = twilio.requests
    assert request["method"] == "POST"
    assert request["url"] == f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
    assert request["auth"] == (ACCOUNT, TOKEN)
    assert request["data"] == {"To": "+8613812345678", "From": FROM, "Body": notification.body,
                               "StatusCallback": app.config["ELDERCARE_PUBLIC_URL"] + "/twilio/status"}
    sent = reload(db_session, notification.id)
    assert (sent.state, sent.attempts, sent.provider_sid) == ("sent", 1, twilio.sids[0])
    assert send(notification.id) == "skipped" and len(twilio.requests) == 1  # a redelivered task sends nothing


def test_voice_call_reads_the_message_and_gathers_one_key(app, db_session, twilio):
    notification = make("voice", language="en")
    assert send(notification.id) == "sent"
    [request] = twilio.requests
    public = app.config["ELDERCARE_PUBLIC_URL"]
    assert request["url"] == f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Calls.json"
    data = request["data"]
    assert (data["To"], data["From"], data["StatusCallback"], data["StatusCallbackEvent"]) == (
        "+8613812345678", FROM, public + "/twilio/status", ["completed"])
    assert "Url" not in data
    twiml = ET.fromstring(data["Twiml"])  # noqa: S314 - TwiML our own code built
    gather = twiml.find("Gather")
    assert gather.get("numDigits") == "1" and gather.get("method") == "POST"
    assert gather.get("action") == f"{public}/twilio/voice?n={notification.id}"
    says = gather.findall("Say")
    assert says and all(say.get("language") == "en-US" and say.text == notification.body for say in says)
    assert "press 1" in notification.body
    assert reload(db_session, notification.id).provider_sid == twilio.sids[0]
    assert twilio.sids[0].startswith("CA")


def test_chinese_call_is_read_in_mandarin(db_session, twilio):
    notification = make("voice")
    send(notification.id)
    gather = ET.fromstring(twilio.requests[0]["data"]["Twiml"]).find("Gather")  # noqa: S314 - TwiML our own code built
    assert gather.find("Say").get("language") == "cmn-CN" and "请按1" in gather.find("Say").text


# --- retries ----------------------------------------------------------------------------------------------

def test_a_503_then_a_success_sends_exactly_one_message(db_session, twilio, scheduled):
    twilio.script = [503]
    notification = make()
    assert send(notification.id) == "retry"
    assert scheduled[-1] == (notification.id, 2.0)
    waiting = reload(db_session, notification.id)
    assert (waiting.state, waiting.attempts, waiting.provider_sid) == ("queued", 1, None)
    assert send(notification.id) == "skipped"  # an early redelivery: the backoff is not over
    due_now(db_session, notification.id)
    assert send(notification.id) == "sent"
    assert send(notification.id) == "skipped"
    assert len(twilio.requests) == 2
    sent = reload(db_session, notification.id)
    assert (sent.state, sent.attempts, sent.provider_sid, sent.error_code) == ("sent", 2, twilio.sids[0], None)


def test_429_and_timeouts_are_retried_too(db_session, twilio):
    twilio.script = [429, requests.ConnectTimeout("connect timed out")]
    notification = make()
    assert send(notification.id) == "retry"
    due_now(db_session, notification.id)
    assert send(notification.id) == "retry"
    assert reload(db_session, notification.id).error_code == "timeout"
    due_now(db_session, notification.id)
    assert send(notification.id) == "sent"
    assert len(twilio.requests) == 3


def test_gives_up_after_the_last_retry(db_session, twilio, scheduled):
    twilio.script = [503] * notify.MAX_ATTEMPTS
    notification = make()
    outcomes = []
    for _ in range(notify.MAX_ATTEMPTS):
        outcomes.append(send(notification.id))
        due_now(db_session, notification.id)
    assert outcomes == ["retry"] * (notify.MAX_ATTEMPTS - 1) + ["failed"]
    assert [countdown for _, countdown in scheduled[1:]] == [2.0, 10.0, 30.0]
    failed = reload(db_session, notification.id)
    assert (failed.state, failed.attempts, failed.error_code) == ("failed", notify.MAX_ATTEMPTS, "gave_up:20503")
    assert send(notification.id) == "skipped"
    assert len(twilio.requests) == notify.MAX_ATTEMPTS


def test_a_4xx_is_never_retried(db_session, twilio, scheduled):
    twilio.script = [400]
    notification = make()
    assert send(notification.id) == "failed"
    failed = reload(db_session, notification.id)
    assert (failed.state, failed.error_code, failed.attempts) == ("failed", "21211", 1)
    assert scheduled == [(notification.id, 0)]  # no retry asked for
    due_now(db_session, notification.id)
    assert send(notification.id) == "skipped" and len(twilio.requests) == 1


def test_the_sweep_finds_a_retry_whose_countdown_was_lost(db_session, twilio, scheduled):
    twilio.script = [503]
    notification = make()
    send(notification.id)
    assert notification.id not in notify.due_ids()
    due_now(db_session, notification.id)
    assert notification.id in notify.due_ids()


def test_a_message_whose_time_ran_out_lapses_instead_of_going_late(db_session, twilio, scheduled):
    notification = make(expires_at=datetime.now(UTC) + timedelta(minutes=5))
    db_session.execute(sa.update(Notification).where(Notification.id == notification.id)
                       .values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    assert send(notification.id) == "skipped" and twilio.requests == []
    assert notification.id not in notify.due_ids()
    assert reload(db_session, notification.id).state == "expired"


# --- what may be sent -------------------------------------------------------------------------------------

def test_an_invalid_number_fails_without_a_request(db_session, twilio, scheduled):
    notification = make(phone="not a number")
    assert (notification.state, notification.error_code) == ("failed", "invalid_number")
    assert scheduled == [] and twilio.requests == []


def test_numbers_are_normalised_to_e164(db_session, twilio):
    assert make(phone="138 1234 5678").to_address == "+8613812345678"
    assert make(phone="+1 415 555 0100").to_address == "+14155550100"


@pytest.mark.parametrize(("local", "released"), [
    ("2026-11-30 21:59", "2026-11-30 21:59"),  # before quiet hours: now
    ("2026-11-30 22:00", "2026-12-01 07:00"),
    ("2026-12-01 03:30", "2026-12-01 07:00"),
    ("2026-12-01 07:00", "2026-12-01 07:00"),
])
def test_quiet_hours_hold_non_urgent_messages_until_seven(local, released):
    def at(text: str) -> datetime:
        return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=notify.CENTRE_TZ).astimezone(UTC)

    assert notify.quiet_hours_end(at(local)) == at(released)


def test_alarms_ignore_quiet_hours_and_the_rate_limit(db_session, twilio, scheduled, app, monkeypatch):
    monkeypatch.setitem(app.config, "ELDERCARE_NOTIFY_RATE_PER_HOUR", 2)
    monkeypatch.setattr(notify, "quiet_hours_end", lambda now: now + timedelta(hours=3))  # it is night
    routine = [make(urgent=False, phone="13900000001") for _ in range(3)]
    assert [n.state for n in routine] == ["queued", "queued", "failed"]
    assert routine[2].error_code == "rate_limited"
    assert all(n.next_attempt_at > datetime.now(UTC) + timedelta(hours=2) for n in routine[:2])
    assert scheduled == []  # the night's messages wait for the sweep at seven
    alarms = [make(urgent=True, phone="13900000001") for _ in range(3)]
    assert [n.state for n in alarms] == ["queued"] * 3
    assert [nid for nid, _ in scheduled] == [n.id for n in alarms]


# --- webhooks ---------------------------------------------------------------------------------------------

def signed(client, app, path: str, form: dict, token: str = TOKEN):
    url = app.config["ELDERCARE_PUBLIC_URL"] + path
    return client.post(path, data=form, headers={"X-Twilio-Signature":
                                                  RequestValidator(token).compute_signature(url, form)})


def test_status_callbacks_track_delivery_and_call_minutes(app, client, db_session, twilio):
    text, call = make(), make("voice")
    send(text.id)
    send(call.id)
    text_sid, call_sid = reload(db_session, text.id).provider_sid, reload(db_session, call.id).provider_sid
    assert signed(client, app, "/twilio/status", {"MessageSid": text_sid, "MessageStatus": "delivered"}
                  ).status_code == 204
    assert signed(client, app, "/twilio/status", {"CallSid": call_sid, "CallStatus": "completed",
                                                   "CallDuration": "75"}).status_code == 204
    assert reload(db_session, text.id).state == "delivered"
    answered = reload(db_session, call.id)
    assert (answered.state, answered.duration_s) == ("answered", 75)
    month = answered.sent_at.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    usage = notify.usage(month)
    assert usage["calls"] >= 1 and usage["call_minutes"] >= 2 and usage["sms"] >= 1


def test_unsigned_or_forged_webhooks_change_nothing(app, client, db_session, twilio):
    text = make()
    send(text.id)
    sid = reload(db_session, text.id).provider_sid
    form = {"MessageSid": sid, "MessageStatus": "delivered"}
    assert client.post("/twilio/status", data=form).status_code == 403
    assert signed(client, app, "/twilio/status", form, token="not-the-token").status_code == 403
    assert reload(db_session, text.id).state == "sent"


def test_key_pressed_acknowledges_only_the_call_it_belongs_to(app, client, db_session, twilio):
    call = make("voice")
    send(call.id)
    sid = reload(db_session, call.id).provider_sid
    other = signed(client, app, f"/twilio/voice?n={call.id}", {"CallSid": "CA-someone-else", "Digits": "1"})
    assert other.status_code == 200 and reload(db_session, call.id).state == "sent"
    wrong_key = signed(client, app, f"/twilio/voice?n={call.id}", {"CallSid": sid, "Digits": "2"})
    assert "没有收到按键" in wrong_key.get_data(as_text=True)
    assert reload(db_session, call.id).state == "sent"
    pressed = signed(client, app, f"/twilio/voice?n={call.id}", {"CallSid": sid, "Digits": "1"})
    assert pressed.mimetype == "text/xml" and "已收到" in pressed.get_data(as_text=True)
    assert reload(db_session, call.id).state == "acknowledged"


@pytest.mark.parametrize("body", ["1", "Y", "好", "收到", " ok "])
def test_a_reply_acknowledges_the_latest_message_to_that_number(app, client, db_session, twilio, monkeypatch,
                                                                  body):
    seen = []
    monkeypatch.setitem(notify._ON_ACK, "test", lambda purpose_id, n: seen.append(n.id))
    older, latest = make(phone="13700000009"), make(phone="13700000009")
    elsewhere = make(phone="13700000008")
    for n in (older, latest, elsewhere):
        send(n.id)
    response = signed(client, app, "/twilio/sms", {"From": "+8613700000009", "Body": body, "MessageSid": "SMr1"})
    assert response.status_code == 200 and "已收到" in response.get_data(as_text=True)
    assert [reload(db_session, n.id).state for n in (older, latest, elsewhere)] == ["sent", "acknowledged", "sent"]
    assert seen == [latest.id]


def test_other_texts_acknowledge_nothing(app, client, db_session, twilio):
    n = make(phone="13700000007")
    send(n.id)
    signed(client, app, "/twilio/sms", {"From": "+8613700000007", "Body": "谁啊？", "MessageSid": "SMr2"})
    assert reload(db_session, n.id).state == "sent"


# --- the outbox ---------------------------------------------------------------------------------------------

def test_outbox_records_and_a_simulated_reply_acknowledges(client, db_session, scheduled, ops):
    n = make()
    assert send(n.id) == "sent"
    assert reload(db_session, n.id).provider_sid.startswith("OB")
    listed = client.get("/api/v1/notifications?state=sent", headers=ops("supervisor1")).get_json()
    assert n.id in [item["id"] for item in listed["items"]]
    response = client.post(f"/api/v1/notifications/{n.id}/simulate-reply", headers=ops("supervisor1"))
    assert response.status_code == 200 and response.get_json()["state"] == "acknowledged"
    again = client.post(f"/api/v1/notifications/{n.id}/simulate-reply", headers=ops("supervisor1"))
    assert again.status_code == 409


def test_simulated_replies_are_refused_when_twilio_sends_for_real(client, db_session, twilio, ops):
    n = make()
    send(n.id)
    response = client.post(f"/api/v1/notifications/{n.id}/simulate-reply", headers=ops("admin"))
    assert response.status_code == 409 and reload(db_session, n.id).state == "sent"


def test_outbox_page_answers_through_a_form(client, db_session, scheduled):
    n = make()
    send(n.id)
    csrf = login_session(client, "supervisor1")
    page = client.get("/admin/outbox/")
    assert page.status_code == 200 and f'data-notification-id="{n.id}"' in page.get_data(as_text=True)
    assert client.post(f"/admin/outbox/{n.id}/reply").status_code == 400  # no CSRF token
    assert reload(db_session, n.id).state == "sent"
    assert client.post(f"/admin/outbox/{n.id}/reply", data={"csrf_token": csrf}).status_code == 302
    assert reload(db_session, n.id).state == "acknowledged"


def test_usage_needs_a_month(client, ops):
    response = client.get("/api/v1/notifications/usage?month=2026-13", headers=ops("admin"))
    assert response.status_code == 400 and "month" in response.get_json()["error"]["fields"]
    assert set(client.get("/api/v1/notifications/usage?month=2026-11", headers=ops("admin")).get_json()) == {
        "month", "sms", "calls", "call_minutes", "outbox_only"}

