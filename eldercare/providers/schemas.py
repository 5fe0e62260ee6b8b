from __future__ import annotations

import marshmallow as ma

from eldercare.core.rest import PageArgsSchema
from eldercare.core.schemas import Strict
from eldercare.providers.models import CHANGE_REQUEST_STATUSES


class HoursSchema(ma.Schema):
    weekday = ma.fields.Integer()
    opens_at = ma.fields.Time(format="%H:%M")
    closes_at = ma.fields.Time(format="%H:%M")


class ProviderSchema(ma.Schema):
    id = ma.fields.Integer()
    code = ma.fields.String()
    name_zh = ma.fields.String()
    name_en = ma.fields.String()
    phone = ma.fields.String()
    district_id = ma.fields.Integer()
    base_lat = ma.fields.Float()
    base_lng = ma.fields.Float()
    daily_capacity = ma.fields.Integer()
    concurrent_capacity = ma.fields.Integer()
    status = ma.fields.String()
    rating = ma.fields.Float(allow_none=True)
    service_types = ma.fields.Function(lambda p: [t.code for t in p.service_types])
    community_ids = ma.fields.Function(lambda p: [c.id for c in p.communities])
    hours = ma.fields.List(ma.fields.Nested(HoursSchema))


class ProviderDetailSchema(ProviderSchema):
    """One company, with the names of what it covers and offers (its console's profile)."""

    communities = ma.fields.Function(lambda p: [{"id": c.id, "name_zh": c.name_zh, "name_en": c.name_en}
                                                for c in p.communities])
    service_type_names = ma.fields.Function(
        lambda p: [{"code": t.code, "name_zh": t.name_zh, "name_en": t.name_en} for t in p.service_types])


class ProviderQuerySchema(PageArgsSchema):
    status = ma.fields.String(load_default=None)
    service_type = ma.fields.String(load_default=None)
    community_id = ma.fields.Integer(load_default=None)


class TeamMemberSchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    role = ma.fields.String()
    on_duty = ma.fields.Boolean()


class TeamSchema(ma.Schema):
    id = ma.fields.Integer()
    code = ma.fields.String()
    name_zh = ma.fields.String()
    name_en = ma.fields.String()
    district_id = ma.fields.Integer()
    base_lat = ma.fields.Float()
    base_lng = ma.fields.Float()
    phone = ma.fields.String()
    state = ma.fields.String()
    status = ma.fields.Function(lambda obj: obj.state)
    members = ma.fields.List(ma.fields.Nested(TeamMemberSchema))


# --- profile change requests (eldercare.providers.changes) ------------------------------------------

_HHMM = ma.validate.Regexp(r"^([01]\d|2[0-3]):[0-5]\d$", error="Use HH:MM (00:00–23:59).")


class HoursInputSchema(Strict):
    weekday = ma.fields.Integer(required=True, validate=ma.validate.Range(min=0, max=6))
    opens_at = ma.fields.String(required=True, validate=_HHMM)
    closes_at = ma.fields.String(required=True, validate=_HHMM)

    @ma.validates_schema
    def _opens_first(self, data: dict, **kwargs: object) -> None:
        if data["opens_at"] >= data["closes_at"]:
            raise ma.ValidationError("Must be after the opening time.", "closes_at")


def _unique(values: list) -> None:
    if len(values) != len(set(values)):
        raise ma.ValidationError("Each value once only.")


class ChangeRequestCreateSchema(Strict):
    """The fields to change (at least one); the ones left out stay as they are."""

    community_ids = ma.fields.List(ma.fields.Integer(validate=ma.validate.Range(min=1, max=2**31 - 1)),
                                   validate=[ma.validate.Length(min=1, max=400), _unique])
    service_types = ma.fields.List(ma.fields.String(validate=ma.validate.Length(min=1, max=32)),
                                   validate=[ma.validate.Length(min=1, max=200), _unique])
    hours = ma.fields.List(ma.fields.Nested(HoursInputSchema), validate=ma.validate.Length(max=7),
                           metadata={"description": "One entry per open weekday (0 = Monday); a weekday left "
                                                    "out is closed."})
    daily_capacity = ma.fields.Integer(validate=ma.validate.Range(min=1, max=1000))
    concurrent_capacity = ma.fields.Integer(validate=ma.validate.Range(min=1, max=200))
    note = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(max=500))

    @ma.validates("hours")
    def _one_per_day(self, value: list, **kwargs: object) -> None:
        _unique([h["weekday"] for h in value if "weekday" in h])


class ReviewSchema(Strict):
    note = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(max=500))


class ChangeRequestQuerySchema(PageArgsSchema):
    status = ma.fields.String(load_default=None, validate=ma.validate.OneOf(CHANGE_REQUEST_STATUSES))


class ChangeRequestSchema(ma.Schema):
    id = ma.fields.Integer()
    provider_id = ma.fields.Integer()
    provider_name_zh = ma.fields.Function(lambda c: c.provider.name_zh)
    status = ma.fields.String()
    payload = ma.fields.Dict()
    note = ma.fields.String(allow_none=True)
    submitted_by = ma.fields.Function(lambda c: c.submitted_by.username if c.submitted_by else None)
    submitted_at = ma.fields.AwareDateTime()
    reviewed_by = ma.fields.Function(lambda c: c.reviewed_by.username if c.reviewed_by else None)
    reviewed_at = ma.fields.AwareDateTime(allow_none=True)
    review_note = ma.fields.String(allow_none=True)
    previous = ma.fields.Dict(allow_none=True)


class ProviderWorkerSchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    phone = ma.fields.String()
    skills = ma.fields.String(allow_none=True)
    active = ma.fields.Boolean()
