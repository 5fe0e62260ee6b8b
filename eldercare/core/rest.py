"""The REST toolkit every domain's `api.py` uses: blueprint, validation status, pagination, OpenAPI."""

from __future__ import annotations

import math
from typing import Any

import marshmallow as ma
import sqlalchemy as sa
from flask_smorest import Api, Blueprint
from webargs.flaskparser import FlaskParser

from eldercare.extensions import db


class _Parser(FlaskParser):
    # Bad input is the client's fault and the contract says 400 with field errors (webargs defaults to 422).
    DEFAULT_VALIDATION_STATUS = 400


class ApiBlueprint(Blueprint):
    ARGUMENTS_PARSER = _Parser()


class EldercareApi(Api):
    def _register_error_handlers(self) -> None:
        """Errors are answered by `eldercare.core.errors` in the platform's own format."""


class ErrorBodySchema(ma.Schema):
    code = ma.fields.String(required=True)
    message = ma.fields.String(required=True)
    fields = ma.fields.Dict()


class ErrorSchema(ma.Schema):
    error = ma.fields.Nested(ErrorBodySchema, required=True)


EldercareApi.ERROR_SCHEMA = ErrorSchema


class PageArgsSchema(ma.Schema):
    page = ma.fields.Integer(load_default=1, validate=ma.validate.Range(min=1, max=1_000_000))
    per_page = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=500))


def page_schema(item_schema: type[ma.Schema]) -> type[ma.Schema]:
    """`{"items", "total", "page", "per_page", "pages"}` around a list of `item_schema`."""
    name = item_schema.__name__.removesuffix("Schema") + "PageSchema"
    return ma.Schema.from_dict(
        {
            "items": ma.fields.List(ma.fields.Nested(item_schema), required=True),
            "total": ma.fields.Integer(required=True),
            "page": ma.fields.Integer(required=True),
            "per_page": ma.fields.Integer(required=True),
            "pages": ma.fields.Integer(required=True),
        },
        name=name,
    )


def paginate(query: sa.Select, args: dict[str, Any]) -> dict[str, Any]:
    """One page of `query` (which must be ordered) and the total count, in two statements."""
    page, per_page = args["page"], args["per_page"]
    total = db.session.scalar(sa.select(sa.func.count()).select_from(query.order_by(None).subquery()))
    items = db.session.scalars(query.limit(per_page).offset((page - 1) * per_page)).all()
    return {"items": items, "total": total, "page": page, "per_page": per_page,
            "pages": math.ceil(total / per_page) if total else 0}
