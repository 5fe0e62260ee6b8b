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


class IncidentPayloadSchema(EventPayloadSchema):
    """An incident as the operators' queue shows it."""

    household_id = ma.fields.Integer(allow_none=True)
    device_id = ma.fields.Integer(allow_none=True)
    type = ma.fields.String(required=True)
    priority = ma.fields.Integer(required=True)
    event_count = ma.fields.Integer(required=True)
    created_at = ma.fields.String(required=True)
    claimed_by = ma.fields.Integer(allow_none=True)
    household_code = ma.fields.String(allow_none=True)
    address = ma.fields.String(allow_none=True)
    community = ma.fields.String(allow_none=True)


INCIDENT_CREATED = SocketEvent("incident.created", IncidentPayloadSchema())
INCIDENT_UPDATED = SocketEvent("incident.updated", IncidentPayloadSchema())
