"""Request and response schemas of the standing-orders API (dispatch/recurring_api.py)."""

from __future__ import annotations

import marshmallow as ma

from eldercare.core.rest import PageArgsSchema
from eldercare.core.schemas import Strict
from eldercare.dispatch.models import RECURRENCE_STATUSES

MAX_LEAD_MINUTES = 7 * 24 * 60  # a week ahead is as early as any service is planned


def _id(**kwargs: object) -> ma.fields.Integer:
    return ma.fields.Integer(strict=True, validate=ma.validate.Range(min=1), **kwargs)


class RecurrenceCreateSchema(Strict):
    household_id = _id(required=True)
    service_type = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=32),
                                    metadata={"description": "Service type code, as for one-off orders."})
    rrule = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=255), metadata={
        "description": "One RFC 5545 RRULE in the centre's local time (Asia/Shanghai), FREQ DAILY or coarser, "
                       "with BYHOUR; e.g. FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR;BYHOUR=11;BYMINUTE=30. No "
                       "DTSTART/UNTIL/COUNT (use starts_on/ends_on); never more often than hourly."})
    starts_on = ma.fields.Date(required=True)
    ends_on = ma.fields.Date(load_default=None, allow_none=True, metadata={"description": "Inclusive."})
    lead_minutes = ma.fields.Integer(load_default=120, strict=True,
                                     validate=ma.validate.Range(min=0, max=MAX_LEAD_MINUTES),
                                     metadata={"description": "The order is released this long before."})
    resident_id = _id(load_default=None, allow_none=True)
    preferred_provider_id = _id(load_default=None, allow_none=True)
    notes = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(max=2000))

    @ma.validates_schema
    def _dates(self, data: dict, **_: object) -> None:
        if data.get("ends_on") is not None and data["ends_on"] < data["starts_on"]:
            raise ma.ValidationError("Must not be before starts_on.", "ends_on")


class RecurrenceActionSchema(Strict):
    reason = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(max=200))


class RecurrenceQuerySchema(PageArgsSchema):
    household_id = ma.fields.Integer(load_default=None, validate=ma.validate.Range(min=1))  # a query string
    status = ma.fields.String(load_default=None, validate=ma.validate.OneOf(RECURRENCE_STATUSES))


class RecurrenceSchema(ma.Schema):
    id = ma.fields.Integer()
    household_id = ma.fields.Integer()
    resident_id = ma.fields.Integer(allow_none=True)
    service_type = ma.fields.String(attribute="service_type.code")
    rrule = ma.fields.String()
    starts_on = ma.fields.Date()
    ends_on = ma.fields.Date(allow_none=True)
    lead_minutes = ma.fields.Integer()
    status = ma.fields.String()
    next_occurrence_at = ma.fields.AwareDateTime(allow_none=True)
    next_release_at = ma.fields.AwareDateTime(allow_none=True)
    preferred_provider_id = ma.fields.Integer(allow_none=True)
    notes = ma.fields.String(allow_none=True)
    created_at = ma.fields.AwareDateTime()
    upcoming = ma.fields.List(ma.fields.AwareDateTime(), metadata={
        "description": "The next occurrences not yet released (single recurrence only)."})
