"""Schemas of the devices API."""

from __future__ import annotations

import marshmallow as ma

HTTP_EVENT_TYPES = ("sos", "fall", "no_activity", "smoke", "gas", "water", "low_battery", "power_loss",
                    "device_removed", "test", "heartbeat", "cancel", "activity", "service_request")


def _not_bool(value: object) -> None:
    if isinstance(value, bool):
        raise ma.ValidationError("Not a valid integer.")


class LocationSchema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    lat = ma.fields.Float(required=True, allow_nan=False, validate=ma.validate.Range(-90, 90))
    lng = ma.fields.Float(required=True, allow_nan=False, validate=ma.validate.Range(-180, 180))
    accuracy_m = ma.fields.Integer(load_default=None, allow_none=True, strict=True,
                                   validate=[_not_bool, ma.validate.Range(0, 100_000)])


class DeviceEventSchema(ma.Schema):
    """CONTRACT.md `POST /api/v1/device-events`. Unknown fields are ignored: a firmware update that adds a
    field must never stop alarms from getting through."""

    class Meta:
        unknown = ma.EXCLUDE

    event_id = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=128))
    type = ma.fields.String(required=True, validate=ma.validate.OneOf(HTTP_EVENT_TYPES))
    occurred_at = ma.fields.AwareDateTime(required=True, format="iso")
    battery_pct = ma.fields.Integer(load_default=None, allow_none=True, strict=True,
                                    validate=[_not_bool, ma.validate.Range(0, 100)])
    location = ma.fields.Nested(LocationSchema, load_default=None, allow_none=True)
    detail = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(max=500))


class DeviceEventAcceptedSchema(ma.Schema):
    event_id = ma.fields.String(required=True)
    duplicate = ma.fields.Boolean(required=True)
    incident_id = ma.fields.Integer(required=True, allow_none=True)
