"""Schemas of the devices API."""

from __future__ import annotations

import re
from typing import ClassVar

import marshmallow as ma
import phonenumbers
from flask_babel import gettext, lazy_gettext

from eldercare.core.rest import PageArgsSchema
from eldercare.core.schemas import Strict
from eldercare.devices.models import DEVICE_STATUSES, PROTOCOLS

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


# --- registry ---------------------------------------------------------------------------------------
# Messages are translated in the caller's language (`?lang=`, then the account's language): the console shows
# them as they come. Field names and error codes are the stable part for integrators.

HEARTBEAT_RANGE_S = (30, 172_800)
UID_RULES = {
    "dc09": (re.compile(r"^[0-9A-F]{3,16}$"), lazy_gettext("A DC-09 account number: 3 to 16 hex digits.")),
    "watch": (re.compile(r"^[0-9]{6,20}$"), lazy_gettext("A watch id: 6 to 20 digits.")),
    "http": (re.compile(r"^[A-Za-z0-9_.:-]{1,64}$"),
             lazy_gettext("At most 64 letters, digits and the characters _ . : -")),
}
AES_KEY = re.compile(r"^(?:[0-9A-F]{32}|[0-9A-F]{48}|[0-9A-F]{64})$")
CSV_COLUMNS = ("uid", "protocol", "household_code", "model", "phone", "aes_key", "heartbeat_interval_s")

REQUIRED = lazy_gettext("Required.")
NOT_VALID = lazy_gettext("Not valid.")
WHOLE_SECONDS = lazy_gettext("A whole number of seconds.")
INTERVAL_RANGE = lazy_gettext("Between 30 and 172800 seconds.")
ONE_OF_PROTOCOLS = lazy_gettext("One of: http, dc09, watch, sms.")


def _messages(**extra: object) -> dict:
    return {"required": REQUIRED, "null": REQUIRED, "invalid": NOT_VALID, "validator_failed": NOT_VALID, **extra}


def _text(low: int, high: int, **kwargs: object) -> ma.fields.String:
    if low:
        message = lazy_gettext("%(low)s to %(high)s characters.", low=low, high=high)
    else:
        message = lazy_gettext("At most %(high)s characters.", high=high)
    return ma.fields.String(error_messages=_messages(), validate=ma.validate.Length(low, high, error=message),
                            **kwargs)


def _optional_text(**kwargs: object) -> ma.fields.String:
    return ma.fields.String(allow_none=True, error_messages=_messages(), **kwargs)


def _interval(*, typed: bool = False, **kwargs: object) -> ma.fields.Integer:
    """`typed`: a number as a person typed it (CSV cell, form field), not a JSON integer."""
    rules = [ma.validate.Range(*HEARTBEAT_RANGE_S, error=INTERVAL_RANGE)]
    return ma.fields.Integer(strict=not typed, error_messages=_messages(invalid=WHOLE_SECONDS),
                             validate=rules if typed else [_not_bool, *rules], **kwargs)


def _household_id(**kwargs: object) -> ma.fields.Integer:
    return ma.fields.Integer(strict=True, validate=_not_bool,
                             error_messages=_messages(invalid=lazy_gettext("A household id.")), **kwargs)


def normalise_phone(raw: str) -> str:
    """E.164, mainland China assumed for numbers written without a country code."""
    text = raw.strip()
    try:
        number = phonenumbers.parse(text, "CN") if 0 < len(text) <= 32 else None
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise ma.ValidationError(gettext("Not a valid phone number."))
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_uid(protocol: str, raw: str) -> str:
    """What the device reports about itself, in the one spelling the receivers look up."""
    if protocol == "sms":
        return normalise_phone(raw)  # the SIM's number is the device's identity
    uid = raw.strip().upper() if protocol == "dc09" else raw.strip()
    pattern, message = UID_RULES[protocol]
    if not pattern.match(uid):
        raise ma.ValidationError(str(message))
    return uid


def normalise_aes_key(protocol: str, raw: str | None) -> str | None:
    if raw is None or not raw.strip():
        return None
    if protocol != "dc09":
        raise ma.ValidationError(gettext("Only DC-09 devices have an AES key."))
    key = raw.strip().upper()
    if not AES_KEY.match(key):
        raise ma.ValidationError(gettext("32, 48 or 64 hex digits (AES-128, -192 or -256)."))
    return key


def device_field_errors(protocol: str, data: dict, uid: str | None = None) -> tuple[dict, dict]:
    """Apply the protocol's rules to whichever of uid, phone and aes_key `data` holds: (clean, errors).

    `uid` is the device's when `data` changes an existing one (an SMS device's phone must stay its uid)."""
    clean, errors = dict(data), {}
    rules = {"uid": lambda v: normalise_uid(protocol, v),
             "phone": lambda v: normalise_phone(v) if v and v.strip() else None,
             "aes_key": lambda v: normalise_aes_key(protocol, v)}
    for name, rule in rules.items():
        if name in data and data[name] is not None:
            try:
                clean[name] = rule(data[name])
            except ma.ValidationError as exc:
                errors[name] = [str(m) for m in exc.messages]
    expected = clean.get("uid", uid)
    if protocol == "sms" and "phone" in data and not errors and clean["phone"] not in (None, expected):
        errors["phone"] = [gettext("An SMS device's phone number is its uid.")]
    return clean, errors


class _Input(Strict):
    error_messages: ClassVar[dict] = {"unknown": lazy_gettext("Unknown field.")}


class _DeviceInput(_Input):
    """Fields of a new device shared by the JSON API, the console form and the CSV import."""

    uid = _text(1, 64, required=True)
    protocol = ma.fields.String(required=True, error_messages=_messages(),
                                validate=ma.validate.OneOf(PROTOCOLS, error=ONE_OF_PROTOCOLS))
    model = _text(0, 64, load_default=None, allow_none=True)
    phone = _optional_text(load_default=None)
    aes_key = _optional_text(load_default=None)
    heartbeat_interval_s = _interval(load_default=None, allow_none=True)

    @ma.validates_schema(skip_on_field_errors=False)
    def _protocol_rules(self, data: dict, **kwargs: object) -> None:
        # Runs even when another field failed, so that every problem is reported at once. It normalises `data`
        # in place (uid, phone, aes_key): that dict is what `post_load` gets, and each value is parsed once.
        if data.get("protocol") not in PROTOCOLS:
            return
        clean, errors = device_field_errors(data["protocol"], data)
        data.update(clean)
        if errors:
            raise ma.ValidationError(errors)

    @ma.post_load
    def _finish(self, data: dict, **kwargs: object) -> dict:
        if data["protocol"] == "sms":
            data["phone"] = data["uid"]
        data["model"] = (data.get("model") or "").strip() or None
        return data


class DeviceCreateSchema(_DeviceInput):
    """CONTRACT.md `POST /api/v1/devices`."""

    household_id = _household_id(required=True)


class DeviceRowSchema(_DeviceInput):
    """One line of the CSV import (and the console's form): the household by its code, every value a string."""

    household_code = _text(1, 24, required=True)
    heartbeat_interval_s = _interval(typed=True, load_default=None, allow_none=True)

    @ma.pre_load
    def _blank_is_missing(self, data: dict, **kwargs: object) -> dict:
        # A CSV cell or a form field left empty means "not given".
        return {key: value for key, value in data.items()
                if not (isinstance(value, str) and not value.strip())} if isinstance(data, dict) else data


class DeviceUpdateSchema(_Input):
    """`PATCH /api/v1/devices/<id>`: only the fields sent change; `null` clears model, phone or aes_key."""

    household_id = _household_id()
    model = _text(0, 64, allow_none=True)
    phone = _optional_text()
    aes_key = _optional_text()
    heartbeat_interval_s = _interval()


class DeviceEditFormSchema(_Input):
    """The console's edit form: the household by its code, the interval as typed."""

    household_code = _text(1, 24, required=True)
    model = _text(0, 64, allow_none=True)
    phone = _optional_text()
    aes_key = _optional_text()
    heartbeat_interval_s = _interval(typed=True)


class DeviceRetireSchema(_Input):
    reason = _text(0, 200, load_default=None, allow_none=True)


class DeviceCreatedSchema(ma.Schema):
    """CONTRACT.md: `token` only for HTTP devices, and only in this answer."""

    id = ma.fields.Integer(required=True)
    uid = ma.fields.String(required=True)
    protocol = ma.fields.String(required=True)
    token = ma.fields.String(metadata={"description": "HTTP devices only; shown once, stored hashed."})


class DeviceSchema(ma.Schema):
    """A device as staff see it: never the token's hash nor the AES key itself."""

    id = ma.fields.Integer()
    uid = ma.fields.String()
    protocol = ma.fields.String()
    household_id = ma.fields.Integer(allow_none=True)
    household_code = ma.fields.Function(lambda d: d.household.code if d.household is not None else None,
                                        allow_none=True)
    model = ma.fields.String(allow_none=True)
    phone = ma.fields.String(allow_none=True)
    has_aes_key = ma.fields.Function(lambda d: bool(d.aes_key))
    has_token = ma.fields.Function(lambda d: bool(d.token_hash))
    heartbeat_interval_s = ma.fields.Integer()
    status = ma.fields.String()
    online = ma.fields.Boolean()
    battery_pct = ma.fields.Integer(allow_none=True)
    last_seen_at = ma.fields.AwareDateTime(allow_none=True)
    last_activity_at = ma.fields.AwareDateTime(allow_none=True)
    next_heartbeat_due = ma.fields.AwareDateTime(allow_none=True)
    installed_on = ma.fields.AwareDateTime(allow_none=True)
    retired_at = ma.fields.AwareDateTime(allow_none=True)
    created_at = ma.fields.AwareDateTime()
    updated_at = ma.fields.AwareDateTime()


class DeviceQuerySchema(PageArgsSchema):
    protocol = ma.fields.String(load_default=None, validate=ma.validate.OneOf(PROTOCOLS))
    status = ma.fields.String(load_default=None, validate=ma.validate.OneOf(DEVICE_STATUSES))
    household_id = ma.fields.Integer(load_default=None)
    online = ma.fields.Boolean(load_default=None)
    q = ma.fields.String(load_default=None, validate=ma.validate.Length(min=1, max=64),
                         metadata={"description": "Part of the uid, phone, model or household code."})


class ImportedTokenSchema(ma.Schema):
    line = ma.fields.Integer(required=True, metadata={"description": "Line of the CSV file (the header is 1)."})
    id = ma.fields.Integer(required=True)
    uid = ma.fields.String(required=True)
    token = ma.fields.String(required=True)


class ImportResultSchema(ma.Schema):
    count = ma.fields.Integer(required=True)
    tokens = ma.fields.List(ma.fields.Nested(ImportedTokenSchema), required=True,
                            metadata={"description": "One per HTTP device, shown once."})


class DeviceModelSchema(ma.Schema):
    id = ma.fields.Integer(dump_only=True)
    code = ma.fields.String(required=True, error_messages=_messages(), validate=ma.validate.Regexp(
        r"^[A-Za-z0-9_.-]{1,64}$", error=lazy_gettext("1 to 64 letters, digits, '_', '.', '-'.")))
    name = _text(1, 100, required=True)
    protocol = ma.fields.String(required=True, error_messages=_messages(),
                                validate=ma.validate.OneOf(PROTOCOLS, error=ONE_OF_PROTOCOLS))
    heartbeat_interval_s = _interval(required=True)
    low_battery_pct = ma.fields.Integer(required=True, strict=True, error_messages=_messages(), validate=[
        _not_bool, ma.validate.Range(1, 99, error=lazy_gettext("Between 1 and 99."))])


class DeviceModelCreateSchema(DeviceModelSchema, _Input):
    """`POST /api/v1/device-models`."""


class DeviceModelUpdateSchema(_Input):
    name = _text(1, 100)
    heartbeat_interval_s = _interval()
    low_battery_pct = ma.fields.Integer(strict=True, error_messages=_messages(), validate=[
        _not_bool, ma.validate.Range(1, 99, error=lazy_gettext("Between 1 and 99."))])
    apply_to_devices = ma.fields.Boolean(load_default=False, metadata={
        "description": "Also give every active device of this model the new heartbeat interval."})


class DeviceModelQuerySchema(PageArgsSchema):
    protocol = ma.fields.String(load_default=None, validate=ma.validate.OneOf(PROTOCOLS))
