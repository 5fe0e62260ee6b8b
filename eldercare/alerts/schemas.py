from __future__ import annotations

import marshmallow as ma

from eldercare.core.schemas import Strict

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
