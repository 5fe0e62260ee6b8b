from __future__ import annotations

import marshmallow as ma

from eldercare.core.rest import PageArgsSchema


class ServiceTypeSchema(ma.Schema):
    id = ma.fields.Integer()
    code = ma.fields.String()
    category = ma.fields.Function(lambda t: t.category.code)
    category_name_zh = ma.fields.Function(lambda t: t.category.name_zh)
    category_name_en = ma.fields.Function(lambda t: t.category.name_en)
    name_zh = ma.fields.String()
    name_en = ma.fields.String()
    unit = ma.fields.String()
    unit_price = ma.fields.Decimal(as_string=True)
    subsidy_eligible = ma.fields.Boolean()
    default_sla_minutes = ma.fields.Integer()
    offer_expiry_s = ma.fields.Integer()
    active = ma.fields.Boolean()


class ServiceTypeQuerySchema(PageArgsSchema):
    category = ma.fields.String(load_default=None)
    q = ma.fields.String(load_default=None, validate=ma.validate.Length(min=1, max=50), metadata={
        "description": "Chinese, pinyin (full or initials: `shangmen`, `smts`), English or code."})
