from __future__ import annotations

import marshmallow as ma

from eldercare.core.rest import PageArgsSchema
from eldercare.core.time import CITY_TZ, utcnow


def _age(resident: object) -> int:
    return utcnow().astimezone(CITY_TZ).year - resident.birth_year


class ResidentBriefSchema(ma.Schema):
    id = ma.fields.Integer()
    name = ma.fields.String()
    gender = ma.fields.String()
    birth_year = ma.fields.Integer()
    age = ma.fields.Function(_age)


class ResidentSchema(ResidentBriefSchema):
    household_id = ma.fields.Integer()
    phone = ma.fields.String(allow_none=True)
    language = ma.fields.String()
    dialect = ma.fields.String(allow_none=True)
    health_notes = ma.fields.String(allow_none=True)
    medication = ma.fields.String(allow_none=True)
    mobility = ma.fields.String(allow_none=True)
    lives_alone = ma.fields.Boolean()
    subsidy_level = ma.fields.String(allow_none=True)


class ContactSchema(ma.Schema):
    id = ma.fields.Integer()
    priority = ma.fields.Integer()
    name = ma.fields.String()
    relation = ma.fields.String()
    phone = ma.fields.String()
    language = ma.fields.String()
    has_key = ma.fields.Boolean()
    lives_nearby = ma.fields.Boolean()
    available_from = ma.fields.Time(format="%H:%M", allow_none=True)
    available_to = ma.fields.Time(format="%H:%M", allow_none=True)
    available_note = ma.fields.String(allow_none=True)


class HouseholdSummarySchema(ma.Schema):
    id = ma.fields.Integer()
    code = ma.fields.String()
    community_id = ma.fields.Integer()
    grid_cell_id = ma.fields.Integer(allow_none=True)
    address = ma.fields.String()
    lat = ma.fields.Float()
    lng = ma.fields.Float()
    residents = ma.fields.List(ma.fields.Nested(ResidentBriefSchema))


class GridLeaderSchema(ma.Schema):
    id = ma.fields.Integer()
    number = ma.fields.Integer()
    leader_name = ma.fields.String()
    leader_phone = ma.fields.String()


class DeviceBriefSchema(ma.Schema):
    id = ma.fields.Integer()
    uid = ma.fields.String()
    protocol = ma.fields.String()
    model = ma.fields.String(allow_none=True)
    status = ma.fields.String()
    online = ma.fields.Boolean()
    battery_pct = ma.fields.Integer(allow_none=True)
    last_seen_at = ma.fields.AwareDateTime(allow_none=True)


class HouseholdSchema(HouseholdSummarySchema):
    phone = ma.fields.String(allow_none=True)
    access_info = ma.fields.String(allow_none=True)
    key_safe_code = ma.fields.String(allow_none=True)
    notify_family_parallel = ma.fields.Boolean()
    no_activity_hours = ma.fields.Integer(allow_none=True)
    notes = ma.fields.String(allow_none=True)
    residents = ma.fields.List(ma.fields.Nested(ResidentSchema))
    contacts = ma.fields.List(ma.fields.Nested(ContactSchema))
    grid_cell = ma.fields.Nested(GridLeaderSchema, allow_none=True)
    devices = ma.fields.List(ma.fields.Nested(DeviceBriefSchema))


class HouseholdQuerySchema(PageArgsSchema):
    community_id = ma.fields.Integer(load_default=None)
    q = ma.fields.String(load_default=None, validate=ma.validate.Length(min=1, max=50))


class ResidentQuerySchema(PageArgsSchema):
    household_id = ma.fields.Integer(load_default=None)


