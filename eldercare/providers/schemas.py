from __future__ import annotations

import marshmallow as ma

from eldercare.core.rest import PageArgsSchema


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
