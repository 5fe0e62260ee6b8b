"""Twilio webhooks (`/twilio/sms`, `/twilio/voice`, `/twilio/status`), form-encoded as Twilio sends them.

Every request must carry a valid `X-Twilio-Signature` for `ELDERCARE_PUBLIC_URL` + path, computed with
`TWILIO_AUTH_TOKEN`; without a token configured every webhook is refused. Replies are TwiML.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, request
from twilio.request_validator import RequestValidator
from twilio.twiml.messaging_response import MessagingResponse
from twilio.twiml.voice_response import VoiceResponse

from eldercare.alerts import messages, notify
from eldercare.alerts.models import Notification
from eldercare.core.auth import public
from eldercare.core.errors import ApiError
from eldercare.core.time import utcnow
from eldercare.devices import sms
from eldercare.devices.intake import Inbound, intake_for
from eldercare.extensions import db

log = logging.getLogger(__name__)
bp = Blueprint("twilio", __name__, url_prefix="/twilio")

MAX_WEBHOOK_BYTES = 64 * 1024
# Twilio's delivery states, onto ours (anything else leaves the record as it is).
STATUS_MAP = {"sent": "sent", "delivered": "delivered", "undelivered": "failed", "failed": "failed",
              "completed": "answered", "busy": "failed", "no-answer": "failed", "canceled": "failed"}


@bp.before_request
def _verify_signature() -> None:
    request.max_content_length = MAX_WEBHOOK_BYTES
    token = current_app.config.get("TWILIO_AUTH_TOKEN")
    signature = request.headers.get("X-Twilio-Signature", "")
    url = current_app.config["ELDERCARE_PUBLIC_URL"] + request.full_path.rstrip("?")
    if not token or not signature or not RequestValidator(token).validate(url, request.form.to_dict(), signature):
        log.warning("refused Twilio webhook %s from %s", request.path, request.remote_addr)
        raise ApiError(403, "forbidden", "Missing or invalid Twilio signature.")


def _twiml(response: MessagingResponse | VoiceResponse) -> Response:
    return Response(str(response), mimetype="text/xml")


@bp.post("/sms")
@public  # authenticated by Twilio's signature above
def inbound_sms() -> Response:
    """An SOS from a device's SIM, or a person answering a notification ("1", "Y", "好", "收到")."""
    sender = sms.normalise_number(request.form.get("From", ""))
    message_sid = request.form.get("MessageSid", "")[:64]
    body = request.form.get("Body", "")[:1600]
    intake = intake_for(current_app)
    device = intake.lookup("sms", sender) if sender else None
    alarm = sms.parse_alarm(body) if device else None
    reply = MessagingResponse()
    if device is not None and alarm is not None and message_sid:
        outcome = intake.store_sync(Inbound(
            device_id=device.id, protocol="sms", idempotency_key=message_sid, type=alarm.type,
            received_at=utcnow(), lat=alarm.lat, lng=alarm.lng, battery_pct=alarm.battery_pct,
            detail=body[:500], raw=body,
        ))
        log.info("SMS %s from device %s: %s (incident %s)", message_sid, device.id, alarm.type, outcome.incident_id)
    elif device is None and sender and notify.is_acknowledgement(body):
        answered = notify.reply_target(sender)
        if answered is not None and notify.acknowledge(answered, via=f"sms {message_sid}"):
            language = db.session.scalar(sa.select(Notification.language).where(Notification.id == answered))
            reply.message(messages.render("ack_thanks", language).body)
        db.session.commit()
        log.info("SMS %s from %s acknowledges notification %s", message_sid, sender, answered)
    elif device is None:
        log.info("SMS %s from %s is neither a device alarm nor an answer", message_sid, sender)
    return _twiml(reply)


@bp.post("/voice")
@public  # authenticated by Twilio's signature above
def voice() -> Response:
    """The key pressed in a notification call's <Gather> (`?n=<notification id>`); 1 acknowledges."""
    response = VoiceResponse()
    notification_id = request.args.get("n", type=int)
    call_sid = request.form.get("CallSid", "")[:64]
    notification = db.session.get(Notification, notification_id) if notification_id else None
    if notification is None or notification.provider_sid != call_sid:
        return _twiml(response)  # not a call of ours (or not this one): hang up politely
    say_language = messages.SAY_LANGUAGE[notification.language if notification.language in messages.LANGUAGES
                                         else "zh"]
    if request.form.get("Digits") == "1":
        notify.acknowledge(notification.id, via=f"call {call_sid}")
        db.session.commit()
        response.say(messages.render("ack_thanks", notification.language).body, language=say_language)
    else:
        response.say(messages.render("no_digit", notification.language).body, language=say_language)
    return _twiml(response)


@bp.post("/status")
@public  # authenticated by Twilio's signature above
def status() -> Response:
    sid = (request.form.get("MessageSid") or request.form.get("CallSid") or "")[:64]
    state = STATUS_MAP.get(request.form.get("MessageStatus") or request.form.get("CallStatus") or "")
    duration = request.form.get("CallDuration", "")
    if sid:
        notify.record_status(sid, state, (request.form.get("ErrorCode") or None),
                             int(duration) if duration.isdigit() else None)
        db.session.commit()
    return Response(status=204)
