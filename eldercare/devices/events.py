"""Socket.IO events of the devices domain (payload contracts)."""

from __future__ import annotations

import marshmallow as ma

from eldercare.core.events import EventPayloadSchema, SocketEvent


class DeviceStatusPayloadSchema(EventPayloadSchema):
    """`id` is the device's id; `status` is `offline` or `online`."""

    uid = ma.fields.String(required=True)
    household_id = ma.fields.Integer(allow_none=True)


DEVICE_OFFLINE = SocketEvent("device.offline", DeviceStatusPayloadSchema())
DEVICE_ONLINE = SocketEvent("device.online", DeviceStatusPayloadSchema())
