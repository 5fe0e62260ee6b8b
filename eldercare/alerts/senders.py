"""Who actually sends an SMS or places a call: Twilio through its official SDK, or the outbox.

`sender_for(app)` picks one: Twilio when its three settings are given, else the outbox (the embedded
default), which sends nothing and lets an administrator answer notifications by hand (`/admin/outbox`).

A sender answers with the provider's id of the message or call, or raises `SendFailed`, which says whether
trying again may help: Twilio's 5xx, 429 and network timeouts may; a 4xx (an invalid number, a blocked
recipient) never does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import requests
from flask import Flask
from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client
from twilio.twiml.voice_response import Gather, VoiceResponse

from eldercare.alerts import messages

TWILIO_API = "https://api.twilio.com"
TWILIO_TIMEOUT_S = 10.0
GATHER_TIMEOUT_S = 10


class SendFailed(Exception):
    def __init__(self, code: str, detail: str, *, retryable: bool) -> None:
        super().__init__(f"{code}: {detail}")
        self.code, self.detail, self.retryable = code, detail, retryable


@dataclass(frozen=True)
class Outgoing:
    """One attempt: what to send, to whom, and where Twilio reports back."""

    notification_id: int
    channel: str  # sms | voice
    to: str  # E.164
    body: str
    language: str


class Sender(Protocol):
    name: str

    def send(self, outgoing: Outgoing) -> str: ...


class OutboxSender:
    """No Twilio account: the notification is only recorded; the outbox page shows it and can answer it."""

    name = "outbox"

    def send(self, outgoing: Outgoing) -> str:
        return f"OB{outgoing.notification_id:032d}"


class RedirectedHttpClient(TwilioHttpClient):
    """The SDK's own HTTP client, sending to a stand-in for api.twilio.com (ELDERCARE_TWILIO_API_BASE)."""

    def __init__(self, base: str, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.base = base

    def request(self, method: str, url: str, *args: object, **kwargs: object):  # noqa: ANN201 - SDK's type
        if url.startswith(TWILIO_API):
            url = self.base + url.removeprefix(TWILIO_API)
        return super().request(method, url, *args, **kwargs)


def voice_twiml(body: str, language: str, action_url: str, thanks_after_gather: str) -> VoiceResponse:
    """The call's script: the message read twice inside a one-key <Gather>; the key goes to `action_url`."""
    say_language = messages.SAY_LANGUAGE[language]
    response = VoiceResponse()
    gather = Gather(num_digits=1, action=action_url, method="POST", timeout=GATHER_TIMEOUT_S)
    gather.say(body, language=say_language)
    gather.pause(length=1)
    gather.say(body, language=say_language)
    response.append(gather)
    response.say(thanks_after_gather, language=say_language)  # reached only when no key was pressed
    return response


class TwilioSender:
    name = "twilio"

    def __init__(self, account_sid: str, auth_token: str, from_number: str, public_url: str,
                 http_client: object | None = None) -> None:
        self.client = Client(account_sid, auth_token, http_client=http_client or TwilioHttpClient(
            timeout=TWILIO_TIMEOUT_S))
        self.from_number, self.public_url = from_number, public_url

    def send(self, outgoing: Outgoing) -> str:
        callback = f"{self.public_url}/twilio/status"
        try:
            if outgoing.channel == "sms":
                return self.client.messages.create(to=outgoing.to, from_=self.from_number, body=outgoing.body,
                                                   status_callback=callback).sid
            twiml = voice_twiml(outgoing.body, outgoing.language,
                                f"{self.public_url}/twilio/voice?n={outgoing.notification_id}",
                                messages.render("no_digit", outgoing.language).body)
            return self.client.calls.create(to=outgoing.to, from_=self.from_number, twiml=str(twiml),
                                            status_callback=callback,
                                            status_callback_event=["completed"]).sid
        except TwilioRestException as exc:
            retryable = exc.status >= 500 or exc.status == 429
            raise SendFailed(str(exc.code or exc.status), exc.msg or "", retryable=retryable) from exc
        except (requests.Timeout, requests.ConnectionError) as exc:
            raise SendFailed("timeout", str(exc)[:200], retryable=True) from exc


def sender_for(app: Flask) -> Sender:
    """The app's sender, made once. Tests put their own SDK transport in `app.extensions`."""
    sender = app.extensions.get("eldercare_sender")
    if sender is not None:
        return sender
    config = app.config
    if config.get("TWILIO_ACCOUNT_SID") and config.get("TWILIO_AUTH_TOKEN") and config.get("TWILIO_FROM_NUMBER"):
        http_client = app.extensions.get("twilio_http_client")
        if http_client is None and config.get("ELDERCARE_TWILIO_API_BASE"):
            http_client = RedirectedHttpClient(config["ELDERCARE_TWILIO_API_BASE"], timeout=TWILIO_TIMEOUT_S)
        sender = TwilioSender(config["TWILIO_ACCOUNT_SID"], config["TWILIO_AUTH_TOKEN"],
                              config["TWILIO_FROM_NUMBER"], config["ELDERCARE_PUBLIC_URL"], http_client)
    else:
        sender = OutboxSender()
    app.extensions["eldercare_sender"] = sender
    return sender
