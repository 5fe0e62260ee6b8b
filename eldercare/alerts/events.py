"""Socket.IO events of the alerts domain (payload contracts)."""

from __future__ import annotations

import marshmallow as ma

from eldercare.core.events import EventPayloadSchema, SocketEvent


class NoticePayloadSchema(EventPayloadSchema):
    """A notice broadcast by the centre (e.g. "snowstorm: expect delays") to consoles."""

    audience = ma.fields.String(required=True)
    text = ma.fields.String(required=True)
    sent_at = ma.fields.String(required=True)
    sender = ma.fields.String(required=True)


NOTICE = SocketEvent("notice", NoticePayloadSchema())
