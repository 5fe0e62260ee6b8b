"""Schemas of the accounts API."""

from __future__ import annotations

import marshmallow as ma

from eldercare.core.models import ROLES


class Strict(ma.Schema):
    class Meta:
        unknown = ma.RAISE


class CredentialsSchema(Strict):
    username = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=64))
    password = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=256))


class TokenSchema(ma.Schema):
    access_token = ma.fields.String(required=True)
    token_type = ma.fields.String(dump_default="Bearer")
    role = ma.fields.String(required=True)
    expires_at = ma.fields.AwareDateTime(required=True)


class UserCreateSchema(Strict):
    username = ma.fields.String(required=True, validate=[
        ma.validate.Length(min=3, max=64),
        ma.validate.Regexp(r"^[A-Za-z0-9_.-]+$", error="Letters, digits, '_', '.', '-' only."),
    ])
    password = ma.fields.String(required=True, validate=ma.validate.Length(min=8, max=256))
    role = ma.fields.String(required=True, validate=ma.validate.OneOf(ROLES))
    provider_id = ma.fields.Integer(load_default=None, allow_none=True)
    team_id = ma.fields.Integer(load_default=None, allow_none=True)
    display_name = ma.fields.String(load_default=None, allow_none=True, validate=ma.validate.Length(max=100))
    language = ma.fields.String(load_default="zh", validate=ma.validate.OneOf(["zh", "en"]))

    @ma.validates_schema
    def _affiliation(self, data: dict, **kwargs: object) -> None:
        if data["role"] == "provider_staff" and data.get("provider_id") is None:
            raise ma.ValidationError("Required for provider staff.", "provider_id")
        if data["role"] == "team_member" and data.get("team_id") is None:
            raise ma.ValidationError("Required for team members.", "team_id")


class UserSchema(ma.Schema):
    id = ma.fields.Integer()
    username = ma.fields.String()
    role = ma.fields.String()
    display_name = ma.fields.String(allow_none=True)
    language = ma.fields.String()
    provider_id = ma.fields.Integer(allow_none=True)
    team_id = ma.fields.Integer(allow_none=True)
    active = ma.fields.Boolean()
