"""SMS alarms through the signed Twilio webhook, and the parser of device texts."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from twilio.request_validator import RequestValidator

from eldercare.alerts.models import Incident, Notification
from eldercare.devices import sms
from eldercare.devices.models import DeviceEvent
from tests.helpers import quiet_device

TOKEN = "test-twilio-token"


@pytest.fixture
def twilio(app, monkeypatch):
    monkeypatch.setitem(app.config, "TWILIO_AUTH_TOKEN", TOKEN)
    return app.config["ELDERCARE_PUBLIC_URL"]


@pytest.fixture
def sms_device(db_session):
    return quiet_device(db_session, "sms")


def signed_post(client, base, path, form, token=TOKEN):
    signature = RequestValidator(token).compute_signature(base + path, form)
    return client.post(path, data=form, headers={"X-Twilio-Signature": signature})


def sms_form(sender, body, sid="SM0001"):
    return {"From": sender, "To": "+8647100000000", "Body": body, "MessageSid": sid, "AccountSid": "AC1"}


def events_of(db_session, device):
    return db_session.scalars(sa.select(DeviceEvent).where(DeviceEvent.device_id == device.id)).all()


def test_sos_text_opens_an_incident_once(client, db_session, twilio, sms_device):
    form = sms_form(sms_device.uid, "SOS http://maps.google.com/maps?q=N40.8412,E111.7521", sid="SMsos1")
    first = signed_post(client, twilio, "/twilio/sms", form)
    again = signed_post(client, twilio, "/twilio/sms", form)  # Twilio retried the webhook
    assert first.status_code == again.status_code == 200
    assert first.mimetype == "text/xml" and b"<Response" in first.data
    [event] = events_of(db_session, sms_device)
    assert (event.type, event.idempotency_key, event.protocol) == ("sos", "SMsos1", "sms")
    assert (event.lat, event.lng) == (pytest.approx(40.8412), pytest.approx(111.7521))
    incident = db_session.get(Incident, event.incident_id)
    assert incident.status == "new" and incident.household_id == sms_device.household_id


def test_national_format_sender_is_normalised(client, db_session, twilio, sms_device):
    national = sms_device.uid.removeprefix("+86")
    signed_post(client, twilio, "/twilio/sms", sms_form(national, "sos", sid="SMnat"))
    assert [e.type for e in events_of(db_session, sms_device)] == ["sos"]


def test_unsigned_forged_or_unconfigured_is_403_and_changes_nothing(client, db_session, app, twilio, sms_device,
                                                                     monkeypatch):
    form = sms_form(sms_device.uid, "SOS", sid="SMbad")
    assert client.post("/twilio/sms", data=form).status_code == 403
    assert signed_post(client, twilio, "/twilio/sms", form, token="wrong-token").status_code == 403
    tampered = {**form, "Body": "SOS"}
    signature = RequestValidator(TOKEN).compute_signature(twilio + "/twilio/sms", {**form, "Body": "hello"})
    assert client.post("/twilio/sms", data=tampered, headers={"X-Twilio-Signature": signature}).status_code == 403
    for path in ("/twilio/voice", "/twilio/status"):
        assert client.post(path, data=form).status_code == 403
    monkeypatch.setitem(app.config, "TWILIO_AUTH_TOKEN", None)
    response = signed_post(client, twilio, "/twilio/sms", form)
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "forbidden"
    assert events_of(db_session, sms_device) == []


def test_text_from_unknown_number_or_not_an_alarm_stores_nothing(client, db_session, twilio, sms_device):
    assert signed_post(client, twilio, "/twilio/sms", sms_form("+8613000000001", "SOS", "SMx")).status_code == 200
    assert signed_post(client, twilio, "/twilio/sms", sms_form(sms_device.uid, "hello", "SMy")).status_code == 200
    assert signed_post(client, twilio, "/twilio/sms", sms_form("not a number", "SOS", "SMz")).status_code == 200
    assert events_of(db_session, sms_device) == []


def test_status_callback_updates_the_notification(client, db_session, twilio):
    notification = Notification(purpose_type="test", recipient_type="contact", to_address="+8613800000000",
                                channel="sms", template="t", body="b", state="sent", provider_sid="SMstatus1")
    db_session.add(notification)
    db_session.commit()
    response = signed_post(client, twilio, "/twilio/status", {"MessageSid": "SMstatus1", "MessageStatus": "delivered"})
    assert response.status_code == 204
    db_session.refresh(notification)
    assert notification.state == "delivered" and notification.delivered_at is not None


@pytest.mark.parametrize(("body", "expected"), [
    ("SOS", sms.SmsAlarm("sos", None, None, None)),
    ("sos! lat:40.8412,lng:111.7521 bat 35%", sms.SmsAlarm("sos", 40.8412, 111.7521, 35)),
    ("SOS http://maps.google.com/maps?q=S33.5,W70.25", sms.SmsAlarm("sos", -33.5, -70.25, None)),
    ("FALL detected", sms.SmsAlarm("fall", None, None, None)),
    ("LOW BATTERY 12%", sms.SmsAlarm("low_battery", None, None, 12)),
    ("SOS lat:99.1,lng:10.2", sms.SmsAlarm("sos", None, None, None)),
    ("hello SOS", None),
    ("", None),
    ("1", None),
])
def test_parse_alarm(body, expected):
    assert sms.parse_alarm(body) == expected


def test_normalise_number():
    assert sms.normalise_number("13812345678") == "+8613812345678"
    assert sms.normalise_number("+86 138 1234 5678") == "+8613812345678"
    assert sms.normalise_number("abc") is None
    assert sms.normalise_number("") is None
