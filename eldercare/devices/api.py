"""`/api/v1/device-events` (devices, bearer device token) and the device registry (admins)."""

from __future__ import annotations

from flask import current_app, request

from eldercare.core.auth import bearer_token, public
from eldercare.core.errors import ApiError
from eldercare.core.rest import ApiBlueprint
from eldercare.core.time import utcnow
from eldercare.devices.intake import Inbound, intake_for
from eldercare.devices.schemas import DeviceEventAcceptedSchema, DeviceEventSchema
from eldercare.extensions import limiter

blp = ApiBlueprint("devices", __name__, description="Devices: event intake and registry")

MAX_EVENT_BYTES = 64 * 1024


def _device_key() -> str:
    """Rate-limit key: the device the token names (parsed, not verified: verification comes after)."""
    token = bearer_token() or ""
    return "device:" + token.partition(".")[0][:16]


@blp.before_request
def _limit_event_body() -> None:
    # Set before the body is read: werkzeug then answers 413 for a bigger body, chunked or not.
    if request.endpoint == "devices.post_device_event":
        request.max_content_length = MAX_EVENT_BYTES


@blp.route("/device-events", methods=["POST"])
@public  # devices authenticate with their own token below, not as staff
@limiter.limit("30 per 10 seconds", key_func=_device_key)
@blp.arguments(DeviceEventSchema)
@blp.response(202, DeviceEventAcceptedSchema)
@blp.alt_response(401, description="Missing or unknown device token")
@blp.alt_response(413, description="Body over 64 KB")
@blp.alt_response(429, description="Too many events from this device")
@blp.doc(security=[{"bearer": []}], description="Answered only after the event is durably stored. The same "
         "`event_id` again is answered with `duplicate: true` and the same `incident_id`.")
def post_device_event(event: dict) -> dict:
    token = bearer_token()
    intake = intake_for(current_app)
    device = intake.authenticate(token) if token else None
    if device is None:
        raise ApiError(401, "unauthenticated", "A valid device token is required.")
    location = event["location"] or {}
    outcome = intake.store_sync(Inbound(
        device_id=device.id, protocol="http", idempotency_key=event["event_id"], type=event["type"],
        received_at=utcnow(), occurred_at=event["occurred_at"], battery_pct=event["battery_pct"],
        lat=location.get("lat"), lng=location.get("lng"), accuracy_m=location.get("accuracy_m"),
        detail=event["detail"], raw=request.get_data(as_text=True)[:MAX_EVENT_BYTES],
    ))
    return {"event_id": event["event_id"], "duplicate": outcome.duplicate, "incident_id": outcome.incident_id}
