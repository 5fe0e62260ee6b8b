"""`/api/v1/auth/token`, `/api/v1/users`, `/api/v1/me`, `/api/v1/operators`."""

from __future__ import annotations

import marshmallow as ma
import sqlalchemy as sa
from flask import current_app, g

from eldercare.core import services
from eldercare.core.auth import ADMIN, OPS, STAFF, issue_token, public, roles
from eldercare.core.errors import ApiError
from eldercare.core.models import User
from eldercare.core.rest import ApiBlueprint, PageArgsSchema, page_schema, paginate
from eldercare.core.schemas import CredentialsSchema, TokenSchema, UserCreateSchema, UserSchema
from eldercare.extensions import db, limiter

blp = ApiBlueprint("accounts", __name__, description="Authentication and accounts")


def login_rate_limit() -> str:
    return current_app.config["ELDERCARE_LOGIN_RATE_LIMIT"]


def failed_login(response: object) -> bool:
    return getattr(response, "status_code", 0) == 401


# One budget of failed logins per address, shared by the API and the console's login form.
login_limit = limiter.shared_limit(login_rate_limit, scope="login", deduct_when=failed_login)


@blp.route("/auth/token", methods=["POST"])
@public
@login_limit
@blp.arguments(CredentialsSchema)
@blp.response(200, TokenSchema)
@blp.alt_response(401, description="Bad credentials")
@blp.alt_response(429, description="Too many failed logins from this address")
def create_token(credentials: dict) -> dict:
    user = services.authenticate(credentials["username"], credentials["password"])
    db.session.commit()  # the audit event stands whatever the outcome
    if user is None:
        raise ApiError(401, "bad_credentials", "Wrong username or password.")
    token, expires_at = issue_token(user)
    return {"access_token": token, "role": user.role, "expires_at": expires_at}


@blp.route("/me", methods=["GET"])
@roles(*STAFF)
@blp.response(200, UserSchema)
@blp.doc(security=[{"bearer": []}])
def me() -> User:
    return g.user


@blp.route("/users", methods=["POST"])
@roles(*ADMIN)
@blp.arguments(UserCreateSchema)
@blp.response(201, UserSchema)
@blp.doc(security=[{"bearer": []}])
def create_user(data: dict) -> User:
    user = services.create_user(data, actor=g.user)
    db.session.commit()
    return user


@blp.route("/users", methods=["GET"])
@roles(*ADMIN)
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, page_schema(UserSchema))
@blp.doc(security=[{"bearer": []}])
def list_users(args: dict) -> dict:
    return paginate(sa.select(User).order_by(User.id), args)


class OperatorSchema(ma.Schema):
    id = ma.fields.Integer()
    username = ma.fields.String()
    role = ma.fields.String()
    display_name = ma.fields.String(allow_none=True)


@blp.route("/operators", methods=["GET"])
@roles(*OPS)
@blp.arguments(PageArgsSchema, location="query")
@blp.response(200, page_schema(OperatorSchema))
@blp.doc(security=[{"bearer": []}])
def list_operators(args: dict) -> dict:
    """The active call-centre users: whom an incident can be handed over to."""
    return paginate(sa.select(User).where(User.active.is_(True), User.role.in_(OPS)).order_by(User.username), args)
