from __future__ import annotations

import marshmallow as ma

from eldercare.alerts.cascade import CascadeStepSchema  # the rungs as `incident.cascade` carries them
from eldercare.alerts.claims import contact_available
from eldercare.alerts.models import INCIDENT_STATUSES, OUTCOMES
from eldercare.alerts.plans import STEP_KINDS, STEP_RESULTS
from eldercare.core.rest import PageArgsSchema
from eldercare.core.schemas import Strict
from eldercare.core.time import utcnow
from eldercare.households.schemas import ContactSchema, DeviceBriefSchema, ResidentSchema

AUDIENCE = r"^(ops|supervisors|provider:\d+|team:\d+)$"


class NoticeCreateSchema(Strict):
    audience = ma.fields.String(required=True, validate=ma.validate.Regexp(
        AUDIENCE, error="One of: ops, supervisors, provider:<id>, team:<id>."))
    text = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=500))
    deliver_in_s = ma.fields.Integer(load_default=0, validate=ma.validate.Range(min=0, max=1800))


class NotificationSchema(ma.Schema):
    id = ma.fields.Integer()
    channel = ma.fields.String()
    to_address = ma.fields.String()
    template = ma.fields.String()
    body = ma.fields.String()
    state = ma.fields.String()
    status = ma.fields.Function(lambda obj: obj.state)
    attempts = ma.fields.Integer()
    created_at = ma.fields.AwareDateTime()
    sent_at = ma.fields.AwareDateTime(allow_none=True)


# --- incidents ----------------------------------------------------------------------------------------

INCIDENT_STATUS_FILTERS = ("open", *INCIDENT_STATUSES)


class IncidentQuerySchema(PageArgsSchema):
    status = ma.fields.String(load_default="open", validate=ma.validate.OneOf(INCIDENT_STATUS_FILTERS))


class IncidentSchema(ma.Schema):
    """An incident as the queue and the API show it."""

    id = ma.fields.Integer()
    household_id = ma.fields.Integer(allow_none=True)
    device_id = ma.fields.Integer(allow_none=True)
    type = ma.fields.String()
    priority = ma.fields.Integer()
    status = ma.fields.String()
    event_count = ma.fields.Integer()
    created_at = ma.fields.AwareDateTime()
    claimed_by = ma.fields.Integer(attribute="claimed_by_id", allow_none=True)
    claimed_at = ma.fields.AwareDateTime(allow_none=True)
    hold_until = ma.fields.AwareDateTime(allow_none=True)
    escalation_level = ma.fields.Integer()
    household_code = ma.fields.String(attribute="household.code", allow_none=True, dump_default=None)
    address = ma.fields.String(attribute="household.address", allow_none=True, dump_default=None)
    community = ma.fields.String(attribute="household.community.name_zh", allow_none=True, dump_default=None)


class HistoryEntrySchema(ma.Schema):
    from_ = ma.fields.String(attribute="from_state", data_key="from", allow_none=True)
    to = ma.fields.String(attribute="to_state")
    at = ma.fields.AwareDateTime()
    actor_label = ma.fields.String()
    reason = ma.fields.String(allow_none=True)


class IncidentDeviceEventSchema(ma.Schema):
    id = ma.fields.Integer()
    device_id = ma.fields.Integer()
    type = ma.fields.String()
    received_at = ma.fields.AwareDateTime()
    occurred_at = ma.fields.AwareDateTime(allow_none=True)
    battery = ma.fields.Integer(attribute="battery_pct", allow_none=True)
    lat = ma.fields.Float(allow_none=True)
    lng = ma.fields.Float(allow_none=True)


class IncidentDetailSchema(IncidentSchema):
    lat = ma.fields.Float(allow_none=True)
    lng = ma.fields.Float(allow_none=True)
    outcome = ma.fields.String(allow_none=True)
    history = ma.fields.List(ma.fields.Nested(HistoryEntrySchema))
    device_events = ma.fields.List(ma.fields.Nested(IncidentDeviceEventSchema))


class HandoverSchema(Strict):
    to_user_id = ma.fields.Integer(required=True)


class HoldSchema(Strict):
    minutes = ma.fields.Integer(required=True, validate=ma.validate.Range(min=1, max=120))
    reason = ma.fields.String(load_default=None, validate=ma.validate.Length(max=200))


# --- screen-pop ---------------------------------------------------------------------------------------

class ScreenResidentSchema(ResidentSchema):
    photo = ma.fields.Constant(None)  # placeholder until photos are stored


class ScreenHouseholdSchema(ma.Schema):
    id = ma.fields.Integer()
    code = ma.fields.String()
    address = ma.fields.String()
    community = ma.fields.String(attribute="community.name_zh", allow_none=True, dump_default=None)
    lat = ma.fields.Float()
    lng = ma.fields.Float()
    phone = ma.fields.String(allow_none=True)
    access_info = ma.fields.String(allow_none=True)
    key_safe_code = ma.fields.String(allow_none=True)
    notes = ma.fields.String(allow_none=True)


class ScreenContactSchema(ContactSchema):
    available_now = ma.fields.Function(lambda contact: contact_available(contact, utcnow()))


class ScreenGridLeaderSchema(ma.Schema):
    grid_cell_id = ma.fields.Integer(attribute="id")
    number = ma.fields.Integer()
    name = ma.fields.String(attribute="leader_name")
    phone = ma.fields.String(attribute="leader_phone")
    language = ma.fields.String(attribute="leader_language")


class PreviousIncidentSchema(ma.Schema):
    id = ma.fields.Integer()
    type = ma.fields.String()
    priority = ma.fields.Integer()
    status = ma.fields.String()
    outcome = ma.fields.String(allow_none=True)
    created_at = ma.fields.AwareDateTime()
    resolved_at = ma.fields.AwareDateTime(allow_none=True)


class ScreenSchema(ma.Schema):
    incident = ma.fields.Nested(IncidentSchema)
    held_by_viewer = ma.fields.Boolean()
    household = ma.fields.Nested(ScreenHouseholdSchema, allow_none=True)
    residents = ma.fields.List(ma.fields.Nested(ScreenResidentSchema))
    devices = ma.fields.List(ma.fields.Nested(DeviceBriefSchema))
    contacts = ma.fields.List(ma.fields.Nested(ScreenContactSchema))
    grid_leader = ma.fields.Nested(ScreenGridLeaderSchema, allow_none=True)
    previous_incidents = ma.fields.List(ma.fields.Nested(PreviousIncidentSchema))


# --- action plan and outcome ----------------------------------------------------------------------------

class ActionStepSchema(ma.Schema):
    id = ma.fields.Integer()
    incident_id = ma.fields.Integer()
    kind = ma.fields.String()
    target_ref = ma.fields.String(allow_none=True)
    result = ma.fields.String(allow_none=True)
    notes = ma.fields.String(allow_none=True)
    actor_id = ma.fields.Integer(allow_none=True)
    started_at = ma.fields.AwareDateTime()
    finished_at = ma.fields.AwareDateTime(allow_none=True)


class PlanTargetSchema(ma.Schema):
    ref = ma.fields.String()
    label = ma.fields.String()


class PlanStepSchema(ma.Schema):
    seq = ma.fields.Integer()
    kind = ma.fields.String()
    label_zh = ma.fields.String()
    label_en = ma.fields.String()
    targets = ma.fields.List(ma.fields.Nested(PlanTargetSchema))
    done = ma.fields.Boolean()
    results = ma.fields.List(ma.fields.Nested(ActionStepSchema))


class PlanSchema(ma.Schema):
    incident_id = ma.fields.Integer(attribute="incident.id")
    type = ma.fields.String(attribute="incident.type")
    status = ma.fields.String(attribute="incident.status")
    category = ma.fields.String()
    first_action_at = ma.fields.AwareDateTime(attribute="incident.first_action_at", allow_none=True)
    steps = ma.fields.List(ma.fields.Nested(PlanStepSchema))
    other_steps = ma.fields.List(ma.fields.Nested(ActionStepSchema))


class StepCreateSchema(Strict):
    kind = ma.fields.String(required=True, validate=ma.validate.OneOf(STEP_KINDS))
    target_ref = ma.fields.String(load_default=None, validate=ma.validate.Length(min=1, max=64))
    result = ma.fields.String(required=True, validate=ma.validate.OneOf(STEP_RESULTS))
    notes = ma.fields.String(load_default=None, validate=ma.validate.Length(max=2000))


class IncidentOutcomeSchema(IncidentSchema):
    first_action_at = ma.fields.AwareDateTime(allow_none=True)
    resolved_at = ma.fields.AwareDateTime(allow_none=True)
    closed_at = ma.fields.AwareDateTime(allow_none=True)
    outcome = ma.fields.String(allow_none=True)
    outcome_notes = ma.fields.String(allow_none=True)
    follow_up = ma.fields.Boolean()


class StepRecordedSchema(ActionStepSchema):
    incident = ma.fields.Nested(IncidentOutcomeSchema)


class ResolutionSchema(IncidentOutcomeSchema):
    order_id = ma.fields.Integer(allow_none=True)


class ResolveSchema(Strict):
    outcome = ma.fields.String(required=True, validate=ma.validate.OneOf(OUTCOMES))
    notes = ma.fields.String(load_default=None, validate=ma.validate.Length(max=2000))
    follow_up = ma.fields.Boolean(load_default=False)
    service_type = ma.fields.String(load_default=None, validate=ma.validate.Length(min=1, max=32))

    @ma.validates_schema
    def _referral_needs_a_service(self, data: dict, **_: object) -> None:
        if data["outcome"] == "service_referral" and not data.get("service_type"):
            raise ma.ValidationError("Required for a service referral.", "service_type")
        if data["outcome"] != "service_referral" and data.get("service_type"):
            raise ma.ValidationError("Only for a service referral.", "service_type")


# --- notifications and the response cascade --------------------------------------------------------------

NOTIFICATION_STATE_FILTERS = ("queued", "sent", "delivered", "failed", "answered", "acknowledged", "expired")


class NotificationQuerySchema(PageArgsSchema):
    state = ma.fields.String(validate=ma.validate.OneOf(NOTIFICATION_STATE_FILTERS))
    channel = ma.fields.String(validate=ma.validate.OneOf(("sms", "voice", "in_app")))
    purpose_type = ma.fields.String(validate=ma.validate.Length(max=24))


class NotificationDetailSchema(NotificationSchema):
    purpose_type = ma.fields.String()
    purpose_id = ma.fields.Integer(allow_none=True)
    recipient_type = ma.fields.String()
    language = ma.fields.String()
    urgent = ma.fields.Boolean()
    provider_sid = ma.fields.String(allow_none=True)
    error_code = ma.fields.String(allow_none=True)
    next_attempt_at = ma.fields.AwareDateTime(allow_none=True)
    delivered_at = ma.fields.AwareDateTime(allow_none=True)
    acknowledged_at = ma.fields.AwareDateTime(allow_none=True)
    expires_at = ma.fields.AwareDateTime(allow_none=True)
    duration_s = ma.fields.Integer(allow_none=True)


class UsageQuerySchema(Strict):
    month = ma.fields.String(required=True, validate=ma.validate.Regexp(
        r"^20\d\d-(0[1-9]|1[0-2])$", error="A month as YYYY-MM."))


class UsageSchema(ma.Schema):
    month = ma.fields.String()
    sms = ma.fields.Integer(metadata={"description": "Messages sent in the month"})
    calls = ma.fields.Integer(metadata={"description": "Calls placed in the month"})
    call_minutes = ma.fields.Integer(metadata={"description": "Billed minutes (each call rounded up)"})
    outbox_only = ma.fields.Integer(metadata={"description": "Of these, recorded by the outbox (not sent)"})


class CascadeStartSchema(Strict):
    reason = ma.fields.String(load_default="started by the operator", validate=ma.validate.Length(max=200))


class CascadeViewSchema(ma.Schema):
    id = ma.fields.Integer(metadata={"description": "The incident"})
    status = ma.fields.String(metadata={"description": "The incident's status"})
    steps = ma.fields.List(ma.fields.Nested(CascadeStepSchema))
