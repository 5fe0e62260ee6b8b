from __future__ import annotations

import marshmallow as ma

from eldercare.core.rest import PageArgsSchema


class DistrictSchema(ma.Schema):
    id = ma.fields.Integer()
    code = ma.fields.String()
    name_zh = ma.fields.String()
    name_en = ma.fields.String()
    lat = ma.fields.Float()
    lng = ma.fields.Float()
    community_count = ma.fields.Integer()


class CommunitySchema(ma.Schema):
    id = ma.fields.Integer()
    district_id = ma.fields.Integer()
    code = ma.fields.String()
    name_zh = ma.fields.String()
    name_en = ma.fields.String()
    lat = ma.fields.Float()
    lng = ma.fields.Float()
    station_phone = ma.fields.String(allow_none=True)
    household_count = ma.fields.Integer()


class CommunityQuerySchema(PageArgsSchema):
    district_id = ma.fields.Integer(load_default=None)
