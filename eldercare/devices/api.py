"""`/api/v1/device-events` (devices, bearer device token) and the device registry (admins)."""

from __future__ import annotations

import sqlalchemy as sa
from flask import current_app, g, request
from flask_babel import gettext

from eldercare.core.auth import ADMIN, OPS, bearer_token, public, roles
from eldercare.core.errors import ApiError
from eldercare.core.rest import ApiBlueprint, page_schema, paginate
from eldercare.core.time import utcnow
from eldercare.devices import gate, registry, tokens
from eldercare.devices.intake import Inbound, RateLimit, intake_for
from eldercare.devices.models import Device, DeviceModel
from eldercare.devices.schemas import (
    DeviceCreatedSchema,
    DeviceCreateSchema,
    DeviceEventAcceptedSchema,
    DeviceEventSchema,
    DeviceModelCreateSchema,
    DeviceModelQuerySchema,
    DeviceModelSchema,
    DeviceModelUpdateSchema,
    DeviceQuerySchema,
    DeviceRetireSchema,
    DeviceSchema,
    DeviceUpdateSchema,
    ImportResultSchema,
)
from eldercare.extensions import db

blp = ApiBlueprint("devices", __name__, description="Devices: event intake and registry")

MAX_EVENT_BYTES = 64 * 1024
EVENT_LIMIT = RateLimit(30, 10)  # per device


def _unauthenticated() -> ApiError:
    return ApiError(401, "unauthenticated", "A valid device token is required.")


@blp.before_request
def _limit_event_body() -> None:
    # Set before the body is read: werkzeug then answers 413 for a bigger body, chunked or not.
    if request.endpoint == "devices.post_device_event":
        request.max_content_length = MAX_EVENT_BYTES


@blp.before_request
def _allow_import_body() -> None:
    # The app's 1 MB limit, raised for CSV files (plus room for the multipart envelope).
    if request.endpoint == "devices.import_devices":
        request.max_content_length = registry.MAX_IMPORT_BYTES + 64 * 1024


@blp.route("/device-events", methods=["POST"])
@public  # devices authenticate with their own token (checked with the batch that stores the event)
# Schema instances, not classes: webargs and smorest would build a new schema for every request (a deep copy
# of every field), a fifth of the request thread's CPU on the alarm path.
@blp.arguments(DeviceEventSchema())
@blp.response(202, DeviceEventAcceptedSchema())
@blp.alt_response(401, description="Missing or unknown device token")
@blp.alt_response(413, description="Body over 64 KB")
@blp.alt_response(429, description="Too many events from this device")
@blp.doc(security=[{"bearer": []}], description="Answered only after the event is durably stored. The same "
         "`event_id` again is answered with `duplicate: true` and the same `incident_id`.")
def post_device_event(event: dict) -> dict:
    # The token names its device; whether the secret matches, and whether the device is within its rate
    # limit, is decided by the batch that stores the event (devices/gate.py): no query or Redis round trip
    # per request.
    parsed = tokens.parse(bearer_token() or "")
    if parsed is None:
        raise _unauthenticated()
    device_id, secret = parsed
    location = event["location"] or {}
    outcome = intake_for(current_app).store_sync(Inbound(
        device_id=device_id, protocol="http", idempotency_key=event["event_id"], type=event["type"],
        received_at=utcnow(), occurred_at=event["occurred_at"], battery_pct=event["battery_pct"],
        lat=location.get("lat"), lng=location.get("lng"), accuracy_m=location.get("accuracy_m"),
        detail=event["detail"], raw=request.get_data(as_text=True)[:MAX_EVENT_BYTES],
        token_secret=secret, rate_limit=EVENT_LIMIT,
    ))
    if outcome.refused == gate.UNAUTHENTICATED:
        raise _unauthenticated()
    if outcome.refused == gate.RATE_LIMITED:
        raise ApiError(429, "rate_limited", f"Too many events from this device: at most {EVENT_LIMIT.events} "
                       f"per {EVENT_LIMIT.seconds} seconds.", headers={"Retry-After": str(EVENT_LIMIT.seconds)})
    return {"event_id": event["event_id"], "duplicate": outcome.duplicate, "incident_id": outcome.incident_id}


# --- registry -------------------------------------------------------------------------------------------
# Messages follow the caller's language (`?lang=en|zh`, else the account's); field names and codes are stable.

ADMIN_ONLY = [{"bearer": []}]
CSV_BODY = {
    "required": True,
    "description": "CSV, UTF-8 (with or without BOM) or GBK, at most 5 MB and 50,000 rows. First line: "
                   "`uid,protocol,household_code,model,phone,aes_key,heartbeat_interval_s` (the last four "
                   "columns may be left out or empty).",
    "content": {
        "multipart/form-data": {"schema": {"type": "object", "required": ["file"],
                                           "properties": {"file": {"type": "string", "format": "binary"}}}},
        "text/csv": {"schema": {"type": "string"}},
    },
}


def _created(registered: registry.Registered) -> dict:
    device = registered.device
    body = {"id": device.id, "uid": device.uid, "protocol": device.protocol}
    if registered.token is not None:
        body["token"] = registered.token
    return body


@blp.route("/devices", methods=["POST"])
@roles(*ADMIN)
@blp.arguments(DeviceCreateSchema)
@blp.response(201, DeviceCreatedSchema)
@blp.alt_response(400, description="Field errors: uid for its protocol, unknown household, bad AES key, ...")
@blp.alt_response(409, description="This (protocol, uid) is already registered")
@blp.doc(security=ADMIN_ONLY, description=(
    "Register a device and bind it to a household. `uid`: DC-09 account (3–16 hex digits, stored upper-case), "
    "watch id (6–20 digits), the SIM's number for SMS devices (normalised to E.164, +86 assumed; it is also the "
    "device's `phone`), any `[A-Za-z0-9_.:-]{1,64}` for HTTP devices. `aes_key`: DC-09 only, 32/48/64 hex "
    "digits. `heartbeat_interval_s` (30–172800) defaults to the model's, else to the protocol's. `token` is "
    "returned for HTTP devices only, this once: only its hash is stored."))
def create_device(data: dict) -> dict:
    registered = registry.register(data, actor=g.user)
    db.session.commit()
    return _created(registered)


@blp.route("/devices", methods=["GET"])
@roles(*OPS)
@blp.arguments(DeviceQuerySchema, location="query")
@blp.response(200, page_schema(DeviceSchema))
@blp.doc(security=ADMIN_ONLY, description="Newest registration first. Never returns tokens or AES keys.")
def list_devices(args: dict) -> dict:
    return paginate(registry.device_query(args), args)


@blp.route("/devices/<int:device_id>", methods=["GET"])
@roles(*OPS)
@blp.response(200, DeviceSchema)
@blp.doc(security=ADMIN_ONLY)
def get_device(device_id: int) -> Device:
    return registry.get_device(device_id)


@blp.route("/devices/<int:device_id>", methods=["PATCH"])
@roles(*ADMIN)
@blp.arguments(DeviceUpdateSchema)
@blp.response(200, DeviceSchema)
@blp.alt_response(400, description="Field errors")
@blp.alt_response(404, description="No such device")
@blp.alt_response(409, description="The device is retired")
@blp.doc(security=ADMIN_ONLY, description=(
    "Bind the device to another household (`household_id`), or change `model`, `heartbeat_interval_s`, "
    "`phone`, `aes_key` (DC-09; `null` removes it). A new known model without an interval brings its model's "
    "interval. Receivers in other processes see the change within 30 s."))
def update_device(changes: dict, device_id: int) -> Device:
    device = registry.update(device_id, changes, actor=g.user)
    db.session.commit()
    return device


@blp.route("/devices/<int:device_id>/retire", methods=["POST"])
@roles(*ADMIN)
@blp.arguments(DeviceRetireSchema)
@blp.response(200, DeviceSchema)
@blp.alt_response(404, description="No such device")
@blp.doc(security=ADMIN_ONLY, description=(
    "Status `retired` for good; retiring again changes nothing. This process forgets the device and its "
    "cached tokens at once; receivers and web workers in other processes within their cache TTL (30 s)."))
def retire_device(data: dict, device_id: int) -> Device:
    device = registry.retire(device_id, reason=data["reason"], actor=g.user)
    db.session.commit()
    return device


@blp.route("/devices/<int:device_id>/token", methods=["POST"])
@roles(*ADMIN)
@blp.response(200, DeviceCreatedSchema)
@blp.alt_response(400, description="Not an HTTP device")
@blp.alt_response(404, description="No such device")
@blp.alt_response(409, description="The device is retired")
@blp.doc(security=ADMIN_ONLY, description=(
    "A new token for an HTTP device, returned this once; the old one stops working (within 30 s where it is "
    "cached)."))
def rotate_device_token(device_id: int) -> dict:
    registered = registry.rotate_token(device_id, actor=g.user)
    db.session.commit()
    return _created(registered)


@blp.route("/devices/import", methods=["POST"])
@roles(*ADMIN)
@blp.response(201, ImportResultSchema)
@blp.alt_response(400, description="`invalid_rows`: `fields.rows` maps each bad line (the header is line 1) to "
                  "its field errors, and nothing is imported; `invalid_csv` / `too_many_rows` for the file")
@blp.alt_response(409, description="Some devices were registered meanwhile; nothing imported")
@blp.alt_response(413, description="File over 5 MB")
@blp.doc(security=ADMIN_ONLY, requestBody=CSV_BODY, description=(
    "Every row is checked before anything is written; one bad row and nothing is imported. Otherwise all devices "
    "are registered in one transaction, and the tokens of the HTTP devices are returned this once."))
def import_devices() -> dict:
    raw, filename = _csv_upload()
    imported = registry.import_csv(raw, filename=filename, actor=g.user)
    db.session.commit()
    return {"count": imported.count, "tokens": imported.tokens}


def _csv_upload() -> tuple[bytes, str | None]:
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            raise registry.invalid({"file": [gettext("Choose a CSV file.")]})
        return upload.read(registry.MAX_IMPORT_BYTES + 1), upload.filename
    if request.mimetype in ("text/csv", "text/plain", "application/csv"):
        return request.get_data(cache=False), None
    raise registry.invalid({"file": [gettext("Send the CSV file as multipart field `file` or as a text/csv "
                                             "body.")]})


@blp.route("/device-models", methods=["GET"])
@roles(*OPS)
@blp.arguments(DeviceModelQuerySchema, location="query")
@blp.response(200, page_schema(DeviceModelSchema))
@blp.doc(security=ADMIN_ONLY, description="Per model: default heartbeat interval and low-battery threshold.")
def list_device_models(args: dict) -> dict:
    query = sa.select(DeviceModel).order_by(DeviceModel.code)
    if args["protocol"] is not None:
        query = query.where(DeviceModel.protocol == args["protocol"])
    return paginate(query, args)


@blp.route("/device-models", methods=["POST"])
@roles(*ADMIN)
@blp.arguments(DeviceModelCreateSchema)
@blp.response(201, DeviceModelSchema)
@blp.alt_response(409, description="The code is taken")
@blp.doc(security=ADMIN_ONLY)
def create_device_model(data: dict) -> DeviceModel:
    model = registry.create_model(data, actor=g.user)
    db.session.commit()
    return model


@blp.route("/device-models/<int:model_id>", methods=["PATCH"])
@roles(*ADMIN)
@blp.arguments(DeviceModelUpdateSchema)
@blp.response(200, DeviceModelSchema)
@blp.alt_response(404, description="No such model")
@blp.doc(security=ADMIN_ONLY, description=(
    "Change a model's name, default heartbeat interval or low-battery threshold. The interval applies to devices "
    "registered from now on, and with `apply_to_devices: true` to every active device of the model too."))
def update_device_model(changes: dict, model_id: int) -> DeviceModel:
    model = registry.update_model(model_id, changes, actor=g.user)
    db.session.commit()
    return model
