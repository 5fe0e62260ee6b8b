"""Request and response schemas of the supervisor view's API (operator load, unclaimed alarms, mass cancel,
review list)."""

from __future__ import annotations

import marshmallow as ma

from eldercare.alerts.mass_cancel import MAX_BATCH
from eldercare.alerts.oversight import REVIEW_STATES
from eldercare.alerts.schemas import IncidentSchema
from eldercare.core.rest import PageArgsSchema
from eldercare.core.schemas import Strict

PRIORITY = ma.validate.OneOf((1, 2, 3))


class OperatorLoadSchema(ma.Schema):
    id = ma.fields.Integer(attribute="user.id")
    username = ma.fields.String(attribute="user.username")
    display_name = ma.fields.String(attribute="user.display_name", allow_none=True)
    role = ma.fields.String(attribute="user.role")
    online = ma.fields.Boolean()
    connections = ma.fields.Integer(metadata={"description": "Open /ops Socket.IO connections."})
    held = ma.fields.Integer(metadata={"description": "Open incidents this user holds."})
    oldest_claim_at = ma.fields.AwareDateTime(allow_none=True)
    oldest_claim_age_s = ma.fields.Float(allow_none=True)


class OperatorLoadListSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(OperatorLoadSchema), required=True)


class UnclaimedFilterMixin:
    community_id = ma.fields.Integer(load_default=None, validate=ma.validate.Range(min=1))
    priorities = ma.fields.List(ma.fields.Integer(validate=PRIORITY), load_default=None,
                                validate=ma.validate.Length(min=1, max=3),
                                metadata={"description": "1 life-safety, 2 technical, 3 information."})
    created_from = ma.fields.AwareDateTime(load_default=None)
    created_to = ma.fields.AwareDateTime(load_default=None)

    @ma.validates_schema
    def _window(self, data: dict, **_: object) -> None:
        start, end = data.get("created_from"), data.get("created_to")
        if start is not None and end is not None and start >= end:
            raise ma.ValidationError("Must be after created_from.", "created_to")


class UnclaimedQuerySchema(UnclaimedFilterMixin, PageArgsSchema):
    pass


class UnclaimedIncidentSchema(IncidentSchema):
    community_id = ma.fields.Integer(attribute="household.community_id", allow_none=True, dump_default=None)


class MassCancelFilterSchema(UnclaimedFilterMixin, Strict):
    @ma.validates_schema
    def _narrowed(self, data: dict, **_: object) -> None:
        if data.get("community_id") is None and data.get("created_from") is None and data.get("created_to") is None:
            raise ma.ValidationError("Give a community or a time window.", "_schema")


class MassCancelSchema(Strict):
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=200))
    incident_ids = ma.fields.List(ma.fields.Integer(validate=ma.validate.Range(min=1)), load_default=None,
                                  validate=ma.validate.Length(min=1, max=MAX_BATCH))
    filter = ma.fields.Nested(MassCancelFilterSchema, load_default=None)

    @ma.pre_load
    def _strip(self, data: dict, **_: object) -> dict:
        if isinstance(data, dict) and isinstance(data.get("reason"), str):
            data = {**data, "reason": data["reason"].strip()}
        return data

    @ma.validates_schema
    def _one_selection(self, data: dict, **_: object) -> None:
        if (data.get("incident_ids") is None) == (data.get("filter") is None):
            raise ma.ValidationError("Give either incident_ids or filter.", "incident_ids")


class SkippedSchema(ma.Schema):
    id = ma.fields.Integer()
    status = ma.fields.String(allow_none=True, metadata={"description": "Its state now; null if no such incident."})
    claimed_by = ma.fields.Integer(allow_none=True)


class MassCancelResultSchema(ma.Schema):
    reason = ma.fields.String()
    cancelled = ma.fields.List(ma.fields.Integer())
    skipped = ma.fields.List(ma.fields.Nested(SkippedSchema))


class ReviewQuerySchema(PageArgsSchema):
    state = ma.fields.String(load_default="pending", validate=ma.validate.OneOf(REVIEW_STATES))


class ReviewItemSchema(IncidentSchema):
    outcome = ma.fields.String(allow_none=True)
    answered_at = ma.fields.AwareDateTime(allow_none=True)
    answer_s = ma.fields.Float(allow_none=True, metadata={"description": "Seconds from alarm to first claim."})
    reviewed = ma.fields.Function(lambda item: item.review is not None)
    reviewed_at = ma.fields.Function(lambda item: item.review.at.isoformat() if item.review else None)
    reviewed_by = ma.fields.Function(lambda item: item.review.actor_label if item.review else None)
    review_note = ma.fields.Function(lambda item: (item.review.data or {}).get("note") if item.review else None)


class ReviewCreateSchema(Strict):
    note = ma.fields.String(load_default=None, validate=ma.validate.Length(max=200))
